"""Interlaced video (broadcasts, camcorders: 1080i, DV): the face detector run on each field of
every frame alone and on the frame as it is, their boxes joined.

An interlaced frame holds two fields, its even and its odd lines, 1/50 or 1/60 s apart. A face
moving between them is combed, every other line from the other instant, and the face network
misses combed faces; in one field alone (:func:`~.view.one_field`, the other field's lines
interpolated) it finds them. Each field shows the face at its own instant, and a player shows
the fields one after the other, so the mask must hold the face in both: the box found in one
field and the box found in the other on the same face become one box holding both. A field has
half the lines, too few for the smallest faces, which the frame as it is still shows where they
barely move: its boxes under FRAME_UNDER_PX high join the fields' (:func:`joined`).
Measured (docs/accuracy-and-speed.md, "Interlaced video"): composited clips woven into
interlaced frames, 88.8% of face-fields hidden on the frame alone, 98.4% with the first field
added, 98.7% with both; with faces moving three times as far between the fields, 64.4%, 90.2%
and 97.8%. It runs the network three times, so the detector takes about three times as long.
"""

from __future__ import annotations

import numpy as np

from ..detections import Detections, iou_matrix
from ..media.probe import VideoInfo
from .view import ManyViews, field_axis, one_field

# The frame as it is adds its boxes under this height (in px of the upright frame). Its larger
# boxes, on combed bodies and crowds, add false masks and no face the fields miss (measured with
# the first field alone, on the labelled real clips interlaced: all the frame's boxes took the
# opera crowd from 4.30 to 6.80 false regions a frame, the marathon from 3.33 to 4.25).
FRAME_UNDER_PX = 24


def joined(fields: Detections, frame: Detections, height: int, iou: float) -> Detections:
    """One frame's detections: the fields' (:func:`paired`), and the frame's under
    FRAME_UNDER_PX high (of a frame of ``height`` lines). A small box of the frame on a box
    of the fields (IoU over ``iou``) lends it its score where that is higher, the box keeping
    its place in both fields; the frame's other small boxes are added."""
    small = frame[np.flatnonzero((frame.boxes[:, 2] - frame.boxes[:, 0]) * height < FRAME_UNDER_PX)]
    if not len(small) or not len(fields):
        return Detections.merge([fields, small])
    overlap = iou_matrix(small.boxes, fields.boxes)
    on = overlap.max(axis=1) > iou
    scores = fields.scores.copy()
    np.maximum.at(scores, overlap.argmax(axis=1)[on], small.scores[on])
    lent = Detections(fields.boxes, scores, fields.classes, fields.masks, fields.track_ids, fields.sources)
    return Detections.merge([lent, small[np.flatnonzero(~on)]])


def paired(first: Detections, second: Detections, iou: float) -> Detections:
    """One frame's boxes of its two fields: a box of each on the same face (IoU at least
    ``iou``, the most overlapping pairs first) become one box holding both, at the better
    score; the other boxes stay as they are."""
    iou = max(iou, 1e-6)  # boxes that do not touch are never one face
    if not len(first) or not len(second):
        return Detections.merge([first, second])
    overlap = iou_matrix(first.boxes, second.boxes)
    pairs, left_a, left_b = [], set(range(len(first))), set(range(len(second)))
    for k in np.argsort(-overlap, axis=None, kind="stable"):
        a, b = (int(i) for i in np.unravel_index(k, overlap.shape))
        if overlap[a, b] < iou:
            break
        if a in left_a and b in left_b:
            pairs.append((a, b))
            left_a.discard(a)
            left_b.discard(b)
    held = first[[a for a, _ in pairs]]
    other = second[[b for _, b in pairs]]
    held.boxes = np.concatenate([np.minimum(held.boxes[:, :2], other.boxes[:, :2]),
                                 np.maximum(held.boxes[:, 2:], other.boxes[:, 2:])], axis=1)  # fmt: skip
    held.scores = np.maximum(held.scores, other.scores)
    return Detections.merge([held, first[sorted(left_a)], second[sorted(left_b)]])


class FieldAndFrame(ManyViews):
    """A face detector that looks at each interlaced frame three times: each of its two
    fields alone (the lines along ``axis``: 1, rows; 2, columns for a video turned upright
    from its side) and the frame as it is; the two fields' boxes of one face united
    (:func:`paired`), the frame's small boxes joined (:func:`joined`)."""

    def __init__(self, inner, axis: int = 1) -> None:
        super().__init__(inner)
        self.axis = axis

    def views(self, frames: np.ndarray) -> list[np.ndarray]:
        return [frames, one_field(frames, self.axis, 0), one_field(frames, self.axis, 1)]

    def merge(self, found: list[Detections], size: tuple[int, int]) -> Detections:
        frame, first, second = found
        return joined(paired(first, second, self.inner.nms_iou), frame, size[0], self.inner.nms_iou)


def for_fields(detector, info: VideoInfo):
    """``detector`` (the face detector) for the video ``info``: wrapped in
    :class:`FieldAndFrame` when the video is interlaced."""
    axis = field_axis(info)
    return detector if axis is None else FieldAndFrame(detector, axis)
