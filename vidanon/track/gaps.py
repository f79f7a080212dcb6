"""Whether a track found again after a gap jumped from one thing to another (then its gap is
not interpolated: :class:`vidanon.track.SortTracker`)."""

from __future__ import annotations

from itertools import islice

import numpy as np

from .kalman import Track

# A track found again across a gap more than JUMP of its box sizes away (centre to centre)
# from where it was lost, and more than OFF_COURSE box sizes away from where its own velocity
# over its last COURSE_FIT detections would have taken it, has most likely jumped from one
# thing to another (in a crowd: from a runner's head to a chest, where the filter, still
# carrying an old motion, expected the face): the straight line between the two crosses
# whatever lies between them. Such a gap is not interpolated; the coasting guesses made along
# the track's course stay (max_age frames, as for a face lost). Replayed from saved detections
# (docs/precision.md): 20 of the 10,981 gaps closed on the 16 real clips, none on the four
# composited ones (their output unchanged); on the labelled frames false regions went from 60
# to 55 on marathon_street and 6 to 5 on bikes_street, and no labelled head lost its mask. At
# JUMP 2.0-2.25 heads of opera_crowd_1080p and mot20_08_square lost theirs.
# A track detected once has no course yet: the match that found it again (BLIND_REACH in
# vidanon.track.match: a small face 3 boxes on after the 2 frames between full passes) is its
# first measure of its speed, and its gap is interpolated.
JUMP = 3.0
OFF_COURSE = 1.0
COURSE_FIT = 6


def course_miss(tracks: list[Track], boxes: list[np.ndarray], frame: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``tracks``, last detected before a gap and found again at its box in ``frame``: how
    far the two ends lie apart, and how far the box lies from where the track's velocity over its
    last COURSE_FIT detections would have taken it (centre to centre, in the last box's sizes)."""
    recent = [list(islice(reversed(t.detected), COURSE_FIT)) for t in tracks]  # frames, newest first
    last = np.array([t.last_box for t in tracks]).reshape(-1, 4)
    newest, oldest = (np.array([t.detected[r[k]] for t, r in zip(tracks, recent)]).reshape(-1, 4) for k in (0, -1))
    size = np.maximum(np.stack([last[:, 2] - last[:, 0], last[:, 3] - last[:, 1]], axis=1), 1e-9)

    def centre(b: np.ndarray) -> np.ndarray:
        return np.stack([b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1) / 2 / size

    velocity = (centre(newest) - centre(oldest)) / np.array([max(r[0] - r[-1], 1) for r in recent])[:, None]
    expected = centre(last) + velocity * np.array([frame - t.last_frame for t in tracks])[:, None]
    found = centre(np.array(boxes, np.float64).reshape(-1, 4))
    return lengths(found - centre(last)), lengths(found - expected)


def lengths(v: np.ndarray) -> np.ndarray:
    """``np.linalg.norm`` of each row of ``v`` (N, 2), the very numbers it gives for one."""
    return np.sqrt(np.matmul(v[:, None, :], v[:, :, None])[:, 0, 0])


def jumped(tracks: list[Track], boxes: list[np.ndarray], frame: int) -> np.ndarray:
    """Whether each of ``tracks`` jumped across its gap to its box (see JUMP; never one detected once)."""
    if not tracks:
        return np.zeros(0, bool)
    distance, miss = course_miss(tracks, boxes, frame)
    return (distance > JUMP) & (miss > OFF_COURSE) & (np.array([t.hits for t in tracks]) > 1)
