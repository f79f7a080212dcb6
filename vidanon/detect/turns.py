"""Faces turned sideways or upside down (``--turned-faces``): the face detector run on the
frames turned by quarter turns too, its boxes brought back to the frame as it is.

CenterFace finds faces tilted up to about 45 degrees; past that it finds fewer (on the
labelled stills of ``../shared/eval``, 43 of 43 faces hidden upright, 41 at 45 degrees, 33 and
34 turned a quarter either way, 26 at 135 degrees, 31 upside down; with the turned passes 42
or 43 at every angle). A face lying on its side is upright in the frame turned a quarter
the other way, so the three turned passes cover every angle within 45 degrees of one of them.

A box found on a turned frame is the face as it stands there; its head (hair above the
forehead, :func:`~vidanon.detections.head_boxes`) lies to its side in the frame as it is. The
box given back is the upright face box whose head box is that head turned back
(:func:`upright_twin`), so that everything after the detector (the tracker, the masks, a
tracks file) takes it as it takes any face box, and the mask lies over the whole head.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..detections import HEAD_UP, HEAD_WIDTH, Detections, head_boxes, iou_matrix, nms
from .look import UNVERIFIED_SCORE
from .view import ManyViews

TURNS = (1, 2, 3)  # quarter turns counterclockwise (np.rot90's k) looked at besides the frame itself


def turn_frames(frames: np.ndarray, k: int) -> np.ndarray:
    """A batch (B, H, W, C) turned ``k`` quarter turns counterclockwise (contiguous)."""
    return np.ascontiguousarray(np.rot90(frames, k, axes=(1, 2)))


def boxes_back(boxes: np.ndarray, k: int) -> np.ndarray:
    """Normalized ``[ymin, xmin, ymax, xmax]`` boxes found on a frame turned ``k`` quarter
    turns counterclockwise, in the frame as it is."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    y0, x0, y1, x1 = b.T
    k %= 4
    if k == 1:  # the turned frame's row y is the frame's column 1 - y, its column x the row x
        out = (x0, 1 - y1, x1, 1 - y0)
    elif k == 2:
        out = (1 - y1, 1 - x1, 1 - y0, 1 - x0)
    elif k == 3:
        out = (1 - x1, y0, 1 - x0, y1)
    else:
        out = (y0, x0, y1, x1)
    return np.stack(out, axis=1)


def upright_twin(heads: np.ndarray) -> np.ndarray:
    """The face boxes whose head boxes (:func:`head_boxes`) are ``heads`` exactly."""
    heads = np.asarray(heads, dtype=np.float64).reshape(-1, 4)
    h = (heads[:, 2] - heads[:, 0]) / (1 + HEAD_UP)
    half = (heads[:, 3] - heads[:, 1]) / HEAD_WIDTH / 2
    cx = (heads[:, 1] + heads[:, 3]) / 2
    return np.stack([heads[:, 2] - h, cx - half, heads[:, 2], cx + half], axis=1)


def turned_back(dets: Detections, k: int) -> Detections:
    """Face detections of a frame turned ``k`` quarter turns, as upright twins in the frame as it is."""
    if not len(dets) or k % 4 == 0:
        return dets
    twins = upright_twin(boxes_back(head_boxes(dets.boxes), k))
    return Detections(twins, dets.scores, dets.classes, None, dets.track_ids, dets.sources)


# What a turned pass adds, where the frame as it is shows no clear face there: its clear boxes,
# scoring TURNED_MIN or more, as they are; its others as boxes the second look did not confirm
# (UNVERIFIED_SCORE at most), which extend a track (a lying face whose score dips) and start
# none: those from the detector's threshold up always, the weaker ones only in a frame where the
# same turn shows a face of TURNED_MIN (people lying that way are in the picture). On the
# upright marathon crowd the turned passes' boxes under the threshold (0.10-0.20: the second
# look refuses the others) are bodies and shirts seen sideways, 66 a frame: given to the
# tracker as they were, false regions 4.75 -> 11.42 a frame; capped, 8.67; under this rule,
# 5.17. Of the boxes only a turned pass found on the 148 labelled real frames, 18 scored 0.4 or
# more on no head (3 on heads), 4 scored 0.5 or more, none 0.6; faces turned a quarter score
# 0.8-0.9 on the stills, and on a composited 1080p crowd of 18-48 px faces lying on their side
# 90 of 105 turned boxes on faces scored 0.4 or more (docs/accuracy-and-speed.md).
TURNED_MIN = 0.6


def merge_turns(found: list[Detections], iou: float, clear: float, floor: float = TURNED_MIN) -> Detections:
    """One frame's detections: ``found[0]`` those of the frame as it is, kept as they are,
    and those of the turns (already brought back, :func:`turned_back`) whose head meets no
    head of an upright box scoring ``clear`` or more by IoU ``iou`` (heads compared: a twin's
    head is the face's head, its face box is not the face): those scoring ``floor`` or more
    as they are, the others capped at UNVERIFIED_SCORE, from ``clear`` up only unless the
    same turn shows a face of ``floor`` in the frame; where turns found the same face, the best."""
    upright = found[0]
    sure = head_boxes(upright.boxes[upright.scores >= clear])
    parts = []
    for dets in found[1:]:
        if len(dets) and len(sure):
            dets = dets[np.flatnonzero(iou_matrix(head_boxes(dets.boxes), sure).max(axis=1) <= iou)]
        if not (dets.scores >= floor).any():  # no face lying this way here: its weak boxes are bodies
            dets = dets[np.flatnonzero(dets.scores >= clear)]
        parts.append(dets)
    turned = Detections.merge(parts)
    if not len(turned):
        return upright
    turned = turned[nms(head_boxes(turned.boxes), turned.scores, iou)]
    turned.scores = np.where(turned.scores >= floor, turned.scores, np.minimum(turned.scores, UNVERIFIED_SCORE))
    return Detections.merge([upright, turned])


class TurnedFaces(ManyViews):
    """A face detector that also looks at the frames turned by each of ``turns`` (quarter
    turns), the boxes merged (:func:`merge_turns`). It runs the network once per turn more,
    so it takes about ``1 + len(turns)`` times as long."""

    def __init__(self, inner, turns: Sequence[int] = TURNS) -> None:
        super().__init__(inner)
        self.turns = tuple(int(k) % 4 for k in turns if int(k) % 4)

    def views(self, frames: np.ndarray) -> list[np.ndarray]:
        return [frames] + [turn_frames(frames, k) for k in self.turns]

    def merge(self, found: list[Detections], size: tuple[int, int]) -> Detections:
        found = [turned_back(d, k) for d, k in zip(found, (0, *self.turns))]
        return merge_turns(found, self.inner.nms_iou, self.inner.threshold)
