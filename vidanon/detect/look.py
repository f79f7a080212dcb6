"""The face detector's second look at its weak boxes, apart from the network that runs it.

A small weak box is cut out of its frame with some context around it, enlarged, and scored
again by the network (:func:`plan_looks` says which boxes and which windows;
:func:`apply_looks` turns the network's cells on those crops into new scores). A weak box
too large for that is kept only where skin or a person is there (:func:`unexplained`, then
:func:`vidanon.detect.context.on_person`). Which device runs the crops, one frame at a time
(the CPU) or a whole batch in one call (the GPU), is the detector's business
(:class:`~vidanon.detect.centerface.FaceDetector`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..detections import Detections
from .context import on_person, skin_share
from .decode import best_score_on

# Second look at weak boxes: a small box scoring under the threshold is looked at again on a
# crop of VERIFY_CONTEXT times its size, enlarged so that the box is VERIFY_PX high. A small
# real face scores higher there (on the evaluation's clips, 54% of the faces detected at
# 0.2-0.4 score 0.4 or more, 15% under 0.2), a pattern on a sign, a wheel or a shirt lower
# (all those seen on the labelled real frames under 0.2).
VERIFY_PX = 48


VERIFY_CONTEXT = 3.0


VERIFY_MAX = 32  # weak boxes verified per frame, best first


# Only boxes that could start a track (the tracker's 0.2) get the second look: weaker ones
# only extend tracks whatever it says, and promoting them changed no leak on the
# evaluation's clips while it doubled the detector's time on a 640x360 crowd.
VERIFY_FROM = 0.2


# The second look confirms a box that scores at least VERIFY_MIN there (the detector's
# threshold: the box then takes the better of its two scores and is hidden); a box it does
# not confirm keeps at most UNVERIFIED_SCORE: it can still extend a track that confirmed
# boxes started, never start one (the tracker starts tracks from 0.2). At 0.3 instead of
# 0.4, a traffic light and a bicycle saddle (0.30-0.39 there) stayed masked on bikes_street;
# recall on the evaluation's clips is the same at both.
VERIFY_MIN = 0.4


UNVERIFIED_SCORE = 0.15


# A weak box too large for the second look (VERIFY_PX and more: a real face seen that large
# but weakly, turned or from behind, scores no better on a crop) may start a track only where
# something besides the face network says a head can be (vidanon.detect.context): skin in the
# middle of the box (SKIN_SHARE of its pixels or more), or a person around it (the people
# detector, run on that frame only then, PERSON_CONTEXT_SCORE). Otherwise it keeps at most
# UNVERIFIED_SCORE, as a box the second look does not confirm. On the evaluation's clips it
# removed the road signs of highway_no_people and false masks of the opera and the hikers,
# and uncovered no labelled head and no composited face (docs/precision.md, round six).
SKIN_SHARE = 0.5


PERSON_CONTEXT_SCORE = 0.3


CROP_SIDE = 32 * math.ceil(VERIFY_PX * VERIFY_CONTEXT / 32)  # the network's input for a crop: 160 x 160


def _weak(dets: Detections, threshold: float) -> np.ndarray:
    return (dets.scores >= VERIFY_FROM) & (dets.scores < threshold)


def unexplained(frame: np.ndarray, dets: Detections, threshold: float) -> list[int]:
    """The weak boxes of ``dets`` too large for the second look with no skin in their
    middle: those that need a person around them to keep their scores."""
    px = (dets.boxes[:, 2] - dets.boxes[:, 0]) * frame.shape[0]
    large = np.flatnonzero(_weak(dets, threshold) & (px >= VERIFY_PX))
    return [int(i) for i in large if skin_share(frame, dets.boxes[i]) < SKIN_SHARE]


def cap_off_people(dets: Detections, boxes: list[int], people: np.ndarray) -> Detections:
    """``dets`` with those of ``boxes`` (indices) whose centre is on none of ``people``
    capped at UNVERIFIED_SCORE."""
    scores = dets.scores.copy()
    for i in boxes:
        if not on_person(dets.boxes[i], people):
            scores[i] = min(scores[i], UNVERIFIED_SCORE)
    return replace(dets, scores=scores)


@dataclass(frozen=True)
class Looks:
    """One frame's weak small boxes to look at again, best first: their indices in the
    frame's detections, their boxes, and the centres and half-sizes (y, x) of the windows
    cut around them (normalized, possibly beyond the frame, whose outside is black)."""

    weak: np.ndarray
    boxes: np.ndarray
    centres: np.ndarray
    halves: np.ndarray

    def __len__(self) -> int:
        return len(self.weak)

    @property
    def windows(self) -> np.ndarray:
        """The windows as ``[ymin, xmin, ymax, xmax]`` (K x 4)."""
        return np.concatenate([self.centres - self.halves, self.centres + self.halves], axis=1)


def plan_looks(dets: Detections, height: int, width: int, threshold: float) -> Looks | None:
    """The second looks of a ``height`` x ``width`` frame's ``dets``: its boxes from
    VERIFY_FROM to ``threshold`` under VERIFY_PX high, at most VERIFY_MAX, each with a square
    window VERIFY_CONTEXT times its larger side; None when there is none."""
    px = (dets.boxes[:, 2] - dets.boxes[:, 0]) * height
    weak = np.flatnonzero(_weak(dets, threshold) & (px < VERIFY_PX))
    if not len(weak):
        return None
    weak = weak[np.argsort(-dets.scores[weak], kind="stable")][:VERIFY_MAX]
    boxes = dets.boxes[weak].astype(np.float64)
    side = np.maximum((boxes[:, 2] - boxes[:, 0]) * height, (boxes[:, 3] - boxes[:, 1]) * width) * VERIFY_CONTEXT
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    halves = np.stack([side / 2 / height, side / 2 / width], axis=1)
    return Looks(weak, boxes, centres, halves)


def apply_looks(dets: Detections, looks: Looks, cells: np.ndarray, values: np.ndarray, nms_iou: float) -> Detections:
    """``dets`` with the scores of ``looks``' boxes replaced by what the network found on their
    crops (``cells``: crop, row, column, the crops numbered as ``looks``, each CROP_SIDE
    square; ``values`` theirs): a box takes the best score found there on it (IoU >= 0.2)
    when that is VERIFY_MIN or more (and higher than its own score); otherwise it keeps at
    most UNVERIFIED_SCORE: it can still extend a track, never start one."""
    scores = dets.scores.copy()
    top_left, spans = looks.centres - looks.halves, 2 * looks.halves
    for k, i in enumerate(looks.weak):
        sel = cells[:, 0] == k
        # the box in its crop's coordinates
        expected = ((looks.boxes[k].reshape(2, 2) - top_left[k]) / spans[k]).reshape(1, 4)
        best = best_score_on(cells[sel, 1:], values[sel], (CROP_SIDE, CROP_SIDE), nms_iou, expected, 0.2)
        own = float(scores[i])
        scores[i] = max(best, own) if best >= VERIFY_MIN else min(own, UNVERIFIED_SCORE)
    return replace(dets, scores=scores)
