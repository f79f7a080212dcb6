"""Back-fill: where a face was in the frames before its track's first detection.

Faces that enter, turn or come out of blur are detected some frames after they first show.
Once a track is confirmed, the frames before its first detection (still in the tracker's
look-ahead buffer) get a box:

* the **joined box**: the first detected box joined with the box on the straight line fitted
  to the first detections, 5% larger a frame further back (``BACK_GROWTH``), as long as that
  line stays in the frame. Its breadth hides a face whose way was not quite straight (on the
  marathon a bearded face 20 frames before its first detection);
* the face **followed back by its look** (:class:`~vidanon.track.appearance.Appearance`, as
  a lost face is followed forwards): from the first detection, frame by frame backwards,
  around where it was one frame later moved by the early line's motion, while it matches
  (``Appearance.MATCH``); then carried on along the way it was followed. Where it was
  followed, its box (grown as the joined one) is joined to the joined box: a face that turned
  is covered where it was. Where the joined box is more than ``SPREAD`` times the followed
  one, the followed box is shown alone: the joined box of a fast mover spreads over
  everything its way crosses (a road sign's false alarm crossing the frame, detected once at
  0.50, was back-filled as up to 12% of the frame; docs/precision.md, round twenty-one).
  Faces only (``SortTracker(follow_back=...)``, measured on faces): people and plates, and
  frames pushed without their pixels, get the joined box.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..detections import box_areas, scale_box, union_box
from .appearance import Appearance
from .kalman import Track

BACK_GROWTH = 0.05  # a back-filled box grows this much a frame further back
FOLLOWED_FIT = 3  # followed frames whose motion carries the back-fill on where the look is lost
SPREAD = 4.0  # the joined box is kept unless it is more than this many times the followed one's area


def backfill_box(track: Track, frame: int, followed: dict[int, np.ndarray]) -> np.ndarray | None:
    """The box shown in ``frame`` before the track's first detection (see the module): where
    the face was ``followed`` back to (or carried on from there), joined with the box around
    the early line's way, unless that box is more than SPREAD times its area (a fast mover:
    it would spread over the scene); the joined box alone where the face was not followed;
    None where neither reaches."""
    joined = joined_box(track, frame)
    way = followed_box(track, frame, followed)
    if way is None or joined is None:
        return joined if way is None else way
    return way if _area(joined) > SPREAD * _area(way) else union_box(joined, way)


def joined_box(track: Track, frame: int) -> np.ndarray | None:
    """The first detected box joined with the box extrapolated to ``frame`` along the straight
    line fitted to the first detections, BACK_GROWTH larger a frame back; None once that face
    lies (almost) wholly outside the frame."""
    guess = track.early_box(frame)
    if not _in_frame(guess):
        return None
    return union_box(track.detected[track.first_frame], grown_back(guess, track, frame))


def followed_box(track: Track, frame: int, followed: dict[int, np.ndarray]) -> np.ndarray | None:
    """Where the face's look was ``followed`` to in ``frame``, BACK_GROWTH larger a frame back;
    in the frames before the earliest one followed, that box joined with its extrapolation
    along the way it was followed (over the FOLLOWED_FIT earliest frames it was followed to)
    if it was followed so long; else None."""
    where = followed.get(frame)
    if where is not None:
        return grown_back(where, track, frame)
    if len(followed) < FOLLOWED_FIT or frame > min(followed):
        return None
    earliest = min(followed)
    anchor = followed[earliest]
    step = (_centre(anchor) - _centre(followed[earliest + FOLLOWED_FIT - 1])) / (FOLLOWED_FIT - 1)
    shift = step * (earliest - frame)
    guess = anchor + np.concatenate([shift, shift])
    if not _in_frame(guess):
        return None
    return union_box(grown_back(anchor, track, earliest), grown_back(guess, track, frame))


def followed_back(tracks: list[Track], image_at: Callable[[int], np.ndarray | None],
                  last: int) -> list[dict[int, np.ndarray]]:  # fmt: skip
    """Each face of ``tracks`` followed back by its look from the frame before its first
    detection down to frame ``last``, each frame's pixels given by ``image_at`` (None: not at
    hand): ``{frame: box}`` up to the first frame where it does not match. The faces first
    detected in the same frame step back through the same frames: compared together."""
    out: list[dict[int, np.ndarray]] = [{} for _ in tracks]
    by_first: dict[int, list[int]] = {}
    for k, track in enumerate(tracks):
        by_first.setdefault(track.first_frame, []).append(k)
    for first, members in by_first.items():
        image = image_at(first)
        if image is None:
            continue
        looks = Appearance.of_many(image, np.array([tracks[k].detected[first] for k in members]))
        # (track index, its look, where it was one frame later)
        alive = [(k, look, tracks[k].detected[first]) for k, look in zip(members, looks) if look is not None]
        for frame in range(first - 1, last - 1, -1):
            image = image_at(frame)
            if image is None or not alive:
                break
            # the early line's motion from this frame to the next, applied to where the face was next
            around = np.array([box + _step(tracks[k], frame) for k, _, box in alive])
            found = Appearance.compare_many(image, [look for _, look, _ in alive], around, halves=False)
            alive = [(k, look, where) for (k, look, _), (_, score, where) in zip(alive, found)
                     if where is not None and score >= Appearance.MATCH]  # fmt: skip
            for k, _, where in alive:
                out[k][frame] = where
    return out


def _step(track: Track, frame: int) -> np.ndarray:
    """The early line's move of the box from ``frame + 1`` back to ``frame`` (a box's 4 numbers)."""
    move = _centre(track.early_box(frame)) - _centre(track.early_box(frame + 1))
    return np.concatenate([move, move])


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def grown_back(box: np.ndarray, track: Track, frame: int) -> np.ndarray:
    """``box`` shown in ``frame`` before ``track``'s first detection: BACK_GROWTH larger a frame back."""
    return scale_box(box, 1.0 + BACK_GROWTH * (track.first_frame - frame))


def _area(box: np.ndarray) -> float:
    return float(box_areas(box)[0])


def _in_frame(box: np.ndarray) -> bool:
    """Not (almost) wholly outside the frame: a tenth of it at least inside."""
    return _area(np.clip(box, 0.0, 1.0)) >= 0.1 * max(_area(box), 1e-12)
