"""Stage 2: SORT tracking with anonymizer semantics.

SORT (Bewley, Ge, Ott, Ramos, Upcroft: "Simple Online and Realtime Tracking", 2016),
written from the paper: each face is a constant-velocity Kalman filter over its box
centre ``(u, v)``, area ``s`` and aspect ratio ``r`` (``r`` held constant); each frame
the tracks' predicted boxes are matched to the detections by the Hungarian algorithm
on an IoU cost, matches under ``iou_threshold`` are refused, unmatched detections start
tracks and tracks unmatched for more than ``max_age`` frames end. As in ByteTrack, a
second pass lets detections under the track-start threshold (but above a low floor)
extend tracks that the first pass left unmatched; they never start a track.

Three score levels: at or above ``threshold`` a detection is always masked; at or above
``start_threshold`` (lower) it may start a track, masked only once the track is confirmed
by ``min_hits`` detections; at or above ``low_threshold`` it may only extend a track.
Boxes that no longer overlap their track's prediction (small or fast faces: IoU is
zero once a face moves more than its own width) get a third chance, matched by the
distance between centres measured in box sizes (:mod:`vidanon.track.match`).

A tracker benchmark reports a track only once confirmed (``min_hits``) and only where
it was matched. An anonymizer must hide more, so :class:`SortTracker` emits, for
every frame:

* every detection at or above ``threshold``, tracked or not;
* the weaker detections that belong to a confirmed track;
* for every confirmed track that the detector missed in this frame, its predicted box,
  grown with the filter's uncertainty, for ``max_age`` frames; and for as long as
  ``max_gap`` frames while that box lies partly under another face (a face passing
  behind another reappears half-hidden, when the detector is weakest), then only the
  predicted box, a little larger (it is hidden there, not where it was last seen); but not where
  the image shows that the face has left that place (neither it nor any half of it
  looks there as it did when last detected: it vanished, went wholly behind something,
  or the track drifted onto the background);
* through a look-ahead buffer of frames (the video is processed offline): boxes
  interpolated across the gaps inside a track (a track lost for up to ``max_gap``
  frames can still be found again; not where it jumped to something else, see
  :mod:`vidanon.track.gaps`),
  and boxes before a track's first detection, along the line fitted to its first
  detections and where its look is found (faces that enter or turn are detected late;
  see :mod:`vidanon.track.backfill`).

A tentative track's boxes are held in the buffer and kept only if the track is
confirmed before the frame leaves it, so one false detection does not leave a trail.
Mask boxes follow the filter's smoothed box but are never smaller than the detection.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from ..detections import (
    BACKFILLED,
    DETECTED,
    FACE,
    FOLLOWED,
    INTERPOLATED,
    PREDICTED,
    Detections,
    covered_share,
    scale_box,
    union_box,
)
from .appearance import Appearance
from .backfill import backfill_box, followed_back, grown_back
from .gaps import jumped
from .kalman import Track, box_to_z
from .match import associate, associate_by_distance

FOLLOW_MIN_HITS = 5  # detections a track needs before it is followed by appearance
FOLLOW_MIN_SCORE = 0.6  # ... one of them at least this sure (a shoulder scored 0.40 on the sample clip)


# A coasting track whose face, and each half of it, looks less like itself than this at the
# predicted place (normalized cross-correlation, see Appearance.compare) has left it: the
# coasting stops. On the evaluation's composited clips no face-frame lost its mask up to
# 0.4 (one did at 0.5, a face coming out from behind another); on the real clips the boxes
# it ends were on the back of a head, a head leaving the frame and a car's headlights.
GONE = 0.4
OCCLUDED = 0.25  # share of a lost face's box under other faces for it to stay masked past max_age


# Past max_age, a face kept masked because it is behind another one is masked at its
# predicted box this much larger only: not also where it was last detected nor grown by the
# filter's uncertainty (as it is for max_age frames), which spread its mask, for up to
# max_gap frames, over the background around the face in front. Replayed from saved
# detections: on the composited bottles clip the pixels under the mask away from every face
# went from 3.5% to 2.3% (the evaluation's count of changed pixels there: 1.62% to 0.58%),
# no face-frame of the four composited clips lost its mask, and on the real clips only
# opera_crowd_1080p changed (slivers of collar beside faces still masked).
HIDDEN_GROWTH = 1.1


# ``carry``: the detector's full pass, which finds the smallest faces, may run on every K-th frame
# only (the scan plan: a half-size pass in between, blind to faces under about 40 px of the full
# pass). A face it finds clearly (at the threshold, hidden at once) in its last full pass before a
# shot ends, or once only, would then show in the K - 1 frames after it until its track is
# confirmed, which those frames cannot do: its predicted box is shown there (carry = K - 1) as
# its detection was, whatever becomes of the track. On a slideshow of 4 frames a photo (500 x 500,
# a full pass every 4th frame) 4 faces of 12 showed in 3 frames of every 4.
# A face first detected clearly (EARLY_CLEAR, a face network's score: ``early`` trackers only)
# early in its shot (within EARLY_REACH back-fills of the shot's start) was most likely there
# from the start, undetected (far, turned, blurred), rather than just arrived: it is
# back-filled EARLY_REACH times as far, up to the shot's start.
# On the marathon a 16 px face first detected at frame 14 (0.74) was visible in frames 0-3;
# measured on the labelled real clips and the composited faces (docs/precision.md, round fourteen).
EARLY_CLEAR = 0.6
EARLY_REACH = 2
# A shot this short (frames) leaves no time to confirm a track (a flash cut, a 2-frame insert): a
# tentative track's detections (from the start level, 0.2) are shown there, as clear ones are
# anywhere. QA's 67 px face at 0.195 and 0.273 in a 2-frame shot was visible in both frames.
SHORT_SHOT = 2

@dataclass
class _Candidate:
    box: np.ndarray
    score: float
    source: int
    track: Track
    always: bool = False  # kept whatever becomes of its track (a detection above the threshold)
    confirmed_box: np.ndarray | None = None  # used instead of box once the track is confirmed


@dataclass
class _Pending:
    index: int
    payload: Any
    image: np.ndarray | None = None  # its pixels, for following faces back by their look (back-fill)
    candidates: list[_Candidate] = field(default_factory=list)
    interpolated: set[int] = field(default_factory=set)  # ids of the tracks whose predicted box is replaced


class SortTracker:
    """SORT + ByteTrack's second pass, with look-ahead, producing mask boxes per frame.

    Feed frames in order with :meth:`push` (any payload, e.g. the frame itself, and the
    frame's raw detections); it yields ``(index, payload, Detections)`` once a frame has
    left the look-ahead window, and :meth:`flush` yields the rest at the end. The window
    holds ``lookahead`` frames: enough to close a gap of ``max_gap`` frames and to
    back-fill ``backfill`` frames once a track is confirmed.
    """

    def __init__(
        self,
        threshold: float,
        low_threshold: float | None = None,
        start_threshold: float | None = None,
        max_age: int = 4,
        max_gap: int = 24,
        min_hits: int = 2,
        iou_threshold: float = 0.2,
        low_iou_threshold: float = 0.4,
        max_distance: float = 1.0,
        backfill: int = 10,
        class_id: int = FACE,
        follow: bool = True,
        follow_back: bool = True,
        early: bool = False,
        carry: int = 0,
    ) -> None:
        if max_age < 0 or min_hits < 1 or backfill < 0 or max_gap < 0:
            raise ValueError("max_age, max_gap and backfill must be >= 0, min_hits >= 1")
        self.threshold = threshold
        self.start_threshold = threshold if start_threshold is None else min(start_threshold, threshold)
        self.low_threshold = self.start_threshold if low_threshold is None else min(low_threshold, self.start_threshold)
        self.max_age = max_age
        self.max_gap = max(max_gap, max_age)
        self.min_hits = min_hits
        self.iou_threshold = iou_threshold
        self.low_iou_threshold = low_iou_threshold
        self.max_distance = max_distance
        self.backfill = backfill
        self.class_id = class_id  # what the tracked boxes are (one tracker per class)
        self.follow = follow  # a lost track may be followed by its appearance (see _followable)
        self.follow_back = follow_back  # back-fill also follows the face back by its look (see backfill)
        self.early = early  # a clear track early in its shot is back-filled further (see EARLY_CLEAR)
        self.carry = max(int(carry), 0)  # a tentative track's clear detection shown this many frames on (see below)
        self.lookahead = max(self.max_gap + 1, min_hits + (EARLY_REACH if early else 1) * backfill)
        self.tracks: list[Track] = []
        self._young: list[Track] = []  # tracks whose first frame is still in the buffer
        self._next_id = 1
        self._buffer: deque[_Pending] = deque()
        self._frame = -1
        self._scene_start = 0

    # -- SORT step -------------------------------------------------------------------
    def _confirmed(self, track: Track) -> bool:
        return track.hits >= self.min_hits

    def _followable(self, track: Track) -> bool:
        """Sure enough to be followed by appearance: seen often, once at least clearly
        (a false alarm on a sign or a pattern rarely is; if it were, it would stay put and
        look the same, so following it would keep it masked)."""
        if not self.follow:
            return False
        return track.hits >= FOLLOW_MIN_HITS and track.best_score >= max(FOLLOW_MIN_SCORE, self.threshold)

    def _step(self, dets: Detections, pending: _Pending, image: np.ndarray | None = None) -> None:
        frame = pending.index
        predicted = Track.predict_all(self.tracks)
        high = np.flatnonzero(dets.scores >= self.start_threshold)
        low = np.flatnonzero((dets.scores < self.start_threshold) & (dets.scores >= self.low_threshold))

        # 1. confident boxes by IoU; 2. weak boxes by IoU with what is left (ByteTrack);
        # 3. what is still left, by centre distance (small or fast faces).
        matches, free, free_high = associate(predicted, dets.boxes[high], self.iou_threshold)
        pairs = [(self.tracks[t], high[d]) for t, d in matches]
        m2, left, free_low = associate(predicted[free], dets.boxes[low], self.low_iou_threshold)
        pairs += [(self.tracks[free[t]], low[d]) for t, d in m2]
        free = [free[t] for t in left]
        rest = np.concatenate([high[free_high], low[free_low]]).astype(np.int64)
        # found once, clearly, then missed by half-size passes only (carry): a small face, moved all that time
        left = [self.tracks[t] for t in free]
        blind = [t.hits == 1 and t.last_score >= self.threshold and t.time_since_update <= self.carry + 1 for t in left]
        clear = dets.scores[rest] >= self.threshold
        everyone = (predicted, free, dets.boxes, rest)  # every other face near either end (see BLIND_REACH)
        m3, _, unmatched = associate_by_distance(left, dets.boxes[rest], self.max_distance, blind, clear, everyone)
        pairs += [(self.tracks[free[t]], rest[d]) for t, d in m3]

        boxes = [dets.boxes[det_index].astype(np.float64) for _, det_index in pairs]
        priors = [track.box() for track, _ in pairs]  # where the filter expected each face
        gaps = [k for k, (track, _) in enumerate(pairs) if track.time_since_update > 1]
        for k, jump in zip(gaps, jumped([pairs[k][0] for k in gaps], [boxes[k] for k in gaps], frame)):
            if not jump:  # frames were missed before this one: filled, unless the track jumped (see gaps)
                self._interpolate(pairs[k][0], boxes[k], frame)
        Track.update_all([track for track, _ in pairs], boxes, frame)
        for (track, det_index), box, prior in zip(pairs, boxes, priors):
            score = float(dets.scores[det_index])
            track.best_score = max(track.best_score, score)
            track.last_score = score
            if image is not None and score >= self.start_threshold:
                track.remember_look(image, box)
            # Every confident detection is hidden whatever becomes of its track; once the
            # track is confirmed the mask follows the smoothed box, never smaller than it.
            # A weak detection (a face seen at the edge of the detector's reach: half-size
            # pass, blur, dim light) often sits on part of the face only: its mask also
            # keeps the box the filter expected.
            shown = union_box(track.box(), box)
            if score < self.threshold:
                shown = union_box(shown, prior)
            pending.candidates.append(
                _Candidate(box, score, DETECTED, track, always=score >= self.threshold, confirmed_box=shown)
            )
        for d in rest[unmatched]:
            score = float(dets.scores[d])
            if score < self.start_threshold:
                continue  # a weak box only extends a track
            box = dets.boxes[d].astype(np.float64)
            track = Track(self._next_id, box, frame, self._scene_start)
            track.best_score = track.first_score = track.last_score = score
            if image is not None:
                track.remember_look(image, box)
            self._next_id += 1
            self.tracks.append(track)
            self._young.append(track)
            pending.candidates.append(_Candidate(box, score, DETECTED, track, always=score >= self.threshold))

        seen = np.array([t.box() for t in self.tracks if t.time_since_update == 0]).reshape(-1, 4)
        alive, lost = [], []
        for track in self.tracks:
            missed = track.time_since_update
            if missed == 0:
                alive.append(track)
                continue
            # A tentative track ends after max_age frames; a confirmed one may be found
            # again for max_gap frames (the gap is then interpolated).
            # (a tentative one waits at least for the next full pass, ``carry`` frames on)
            if missed > (self.max_gap if self._confirmed(track) else max(self.max_age, self.carry)):
                continue
            alive.append(track)
            carried = missed <= self.carry and track.last_score >= self.threshold  # (see carry)
            coasting = missed <= self.max_age or carried or covered_share(track.box(), seen) >= OCCLUDED
            lost.append((track, carried, coasting, self._followable(track)))
        self.tracks = alive
        if image is not None:  # the looks of the lost faces that need one, computed together
            Track.recall_looks([track for track, _, coasting, followable in lost if coasting or followable])
        lost = [(track, carried, coasting, followable,
                 track.appearance if image is not None and (coasting or followable) else None)
                for track, carried, coasting, followable in lost]  # fmt: skip
        # the lost faces that can be compared with the frame, all at once (grey levels, see compare_many)
        compared = [(track, look) for track, _, _, _, look in lost if look is not None]
        results = iter(())
        if compared:
            looks, around = [look for _, look in compared], np.array([track.box() for track, _ in compared])
            results = iter(Appearance.compare_many(image, looks, around))
        for track, carried, coasting, followable, look in lost:
            likeness, score, found = next(results) if look is not None else (-1.0, -1.0, None)
            # The predicted box is shown unless the image says the face has left that place
            # (it vanished, went wholly behind something, the track drifted onto the
            # background): neither it nor any half of it looks there as it did when last
            # detected, while the patch can be compared (not flat, not out of the image). The
            # track is kept (found again, its gap is interpolated), only not shown.
            if coasting and not -1.0 < likeness < GONE:
                near = track.time_since_update <= self.max_age or carried
                box = track.uncertain_box() if near else scale_box(track.box(), HIDDEN_GROWTH)
                pending.candidates.append(_Candidate(box, 0.0, PREDICTED, track, always=carried))
            # The detector blinks on a face that is still there (a pose, glasses, the light):
            # as long as the image at the predicted place still looks like the face did when
            # last detected, the face is followed there, up to max_gap frames.
            if followable and found is not None and score >= Appearance.MATCH:
                track.kf.update(box_to_z(found))
                pending.candidates.append(_Candidate(scale_box(found, 1.1), 0.0, FOLLOWED, track))

    def _in_buffer(self, frame: int) -> _Pending | None:
        if not self._buffer:
            return None
        offset = frame - self._buffer[0].index
        if 0 <= offset < len(self._buffer):
            return self._buffer[offset]
        return None

    def _image(self, frame: int, emitted: _Pending) -> np.ndarray | None:
        """The pixels of ``frame``: the one being emitted or one still in the buffer."""
        pending = emitted if frame == emitted.index else self._in_buffer(frame)
        return None if pending is None else pending.image

    def _interpolate(self, track: Track, box: np.ndarray, frame: int) -> None:
        """Boxes on the straight line between the last detection and this one, a little
        larger towards the middle of a long gap, where the path is least certain."""
        start, a = track.last_frame, track.last_box
        for f in range(start + 1, frame):
            pending = self._in_buffer(f)
            if pending is None:
                continue
            t = (f - start) / (frame - start)
            grow = 1.0 + min(0.02 * min(f - start, frame - f), 0.3)
            # Known from both sides now: the interpolated box replaces the coasting guess
            # (grown with the filter's uncertainty) made for that frame (left out in _emit).
            pending.interpolated.add(track.id)
            pending.candidates.append(_Candidate(scale_box(a + (box - a) * t, grow), 0.0, INTERPOLATED, track))

    def _early(self, track: Track) -> bool:
        """Started by a clear detection early in its shot (see EARLY_CLEAR)."""
        return (self.early and track.first_score >= EARLY_CLEAR
                and track.first_frame - track.scene_start <= EARLY_REACH * self.backfill)

    def _end_shot(self, last: int) -> None:
        """The shot ends at frame ``last``: a tentative track found clearly within ``carry`` frames
        of it (no later full pass could confirm it) is also shown, at its first box, in the ``carry``
        frames before it, which the back-fill of a confirmed track covers (half-size passes); in a
        shot of SHORT_SHOT frames or fewer, a tentative track is shown however weak: its detections, and
        its first box back to the shot's start."""
        for track in self.tracks:
            short = not self._confirmed(track) and last - track.scene_start < SHORT_SHOT
            for f in range(track.scene_start, last + 1) if short else ():
                pending = self._in_buffer(f)
                for c in pending.candidates if pending is not None else ():
                    c.always = c.always or (c.track is track and c.source == DETECTED)
            if not short and (self._confirmed(track) or track.first_score < self.threshold
                              or last - track.last_frame > self.carry):  # fmt: skip
                continue
            first = track.first_frame
            for f in range(max(first - self.carry, track.scene_start), first):
                pending = self._in_buffer(f)
                if pending is not None:
                    box = grown_back(track.detected[first], track, f)
                    pending.candidates.append(_Candidate(box, 0.0, BACKFILLED, track, always=True))

    # -- buffering -------------------------------------------------------------------
    def push(self, payload: Any, detections: Detections, cut: bool = False,
             frame: np.ndarray | None = None) -> Iterator[tuple[int, Any, Detections]]:  # fmt: skip
        """Add the next frame; ``cut``: it starts a new shot (see :class:`ShotCuts`);
        ``frame``: its pixels (by default the payload, if it is an image), which let a lost
        face be followed by its appearance (see :class:`Appearance`), and a new one back
        before its first detection (see :mod:`vidanon.track.backfill`)."""
        if frame is None and isinstance(payload, np.ndarray) and payload.ndim == 3:
            frame = payload
        if frame is not None:
            # a plain view: every array derived from an ndarray subclass (the reader's Frame)
            # is one too, made several times slower (the looks of lost faces: 200,000 a clip)
            frame = np.asarray(frame)
        self._frame += 1
        if cut:
            self._end_shot(self._frame - 1)
            self.tracks = []
            self._scene_start = self._frame
        pending = _Pending(self._frame, payload, frame if self.follow_back else None)
        self._buffer.append(pending)
        self._step(detections, pending, frame)
        while len(self._buffer) > self.lookahead:
            yield self._emit(self._buffer.popleft())

    def flush(self) -> Iterator[tuple[int, Any, Detections]]:
        self._end_shot(self._frame)
        self.tracks = []
        while self._buffer:
            yield self._emit(self._buffer.popleft())

    def _emit(self, pending: _Pending) -> tuple[int, Any, Detections]:
        self._young = [t for t in self._young if t.first_frame > pending.index]
        filled = [track for track in self._young if track.scene_start <= pending.index and self._confirmed(track)
                  and track.first_frame - pending.index <= self.backfill * (EARLY_REACH if self._early(track) else 1)]
        new = [track for track in filled if track.followed_back is None]
        if new:  # once a track, from the oldest frame it reaches (all its frames still at hand)
            looked = followed_back(new, lambda f: self._image(f, pending), pending.index) if self.follow_back else None
            for track, found in zip(new, looked or [{} for _ in new]):
                track.followed_back = found
        for track in filled:
            box = backfill_box(track, pending.index, track.followed_back)
            if box is not None:
                pending.candidates.append(_Candidate(box, 0.0, BACKFILLED, track))
        kept, boxes = [], []
        for c in pending.candidates:
            if c.source == PREDICTED and c.track.id in pending.interpolated:
                continue
            confirmed = self._confirmed(c.track)
            if c.always or confirmed:
                kept.append(c)
                boxes.append(c.confirmed_box if confirmed and c.confirmed_box is not None else c.box)
        if not kept:
            return pending.index, pending.payload, Detections.empty()
        boxes = np.clip(np.array(boxes), 0.0, 1.0)
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        dets = Detections(
            boxes,
            [c.score for c in kept],
            np.full(len(kept), self.class_id),
            track_ids=[c.track.id for c in kept],
            sources=[c.source for c in kept],
        )
        return pending.index, pending.payload, dets[np.flatnonzero(ok)] if not ok.all() else dets
