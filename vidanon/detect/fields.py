"""Interlaced video (broadcasts, camcorders: 1080i, DV): the face detector run on one field of
each frame and on the frame as it is, their boxes joined.

An interlaced frame holds two fields, its even and its odd lines, 1/50 or 1/60 s apart. A face
moving between them is combed, every other line from the other instant, and the face network
misses combed faces; in one field alone (:func:`~.view.one_field`, the other field's lines
interpolated) it finds them. But a field has half the lines, too few for the smallest faces,
which the frame as it is still shows where they barely move. So the detector looks at both: every
box of the field, and the frame's boxes under FRAME_UNDER_PX high that no better box of the
field holds (non-maximum suppression over both). Measured (docs/accuracy-and-speed.md,
"Interlaced video"): the composited clips interlaced, 88.8% of face-fields hidden on the frame
alone, 98.4% with the field (98.4% both ways); the labelled real clips interlaced, the
marathon's far runners (9-16 px) covered again and the hikers' far faces, where the field alone
lost them. It runs the network twice, so it takes about twice the detector's time.
"""

from __future__ import annotations

import numpy as np

from ..detections import Detections, nms
from ..media.probe import VideoInfo
from .view import ManyViews, field_axis, one_field

# The frame as it is adds its boxes under this height (in px of the upright frame): the combed frame's larger
# boxes add false masks (on the labelled real clips interlaced, all of them: the opera crowd
# 4.30 -> 6.80 false regions a frame, the marathon 3.33 -> 4.25) and no face the field misses.
FRAME_UNDER_PX = 24


def joined(field: Detections, frame: Detections, height: int, iou: float) -> Detections:
    """One frame's detections: ``field``'s, and ``frame``'s under FRAME_UNDER_PX high (of a
    frame of ``height`` lines), overlapping boxes (IoU over ``iou``) reduced to the best."""
    small = frame[np.flatnonzero((frame.boxes[:, 2] - frame.boxes[:, 0]) * height < FRAME_UNDER_PX)]
    both = Detections.merge([field, small])
    return both[np.sort(nms(both.boxes, both.scores, iou))] if len(small) else field


class FieldAndFrame(ManyViews):
    """A face detector that looks at each interlaced frame twice: its first line's field
    (the lines along ``axis``: 1, rows; 2, columns for a video turned upright from its side)
    and the frame as it is, the boxes joined (:func:`joined`)."""

    def __init__(self, inner, axis: int = 1) -> None:
        super().__init__(inner)
        self.axis = axis

    def views(self, frames: np.ndarray) -> list[np.ndarray]:
        return [frames, one_field(frames, self.axis)]

    def merge(self, found: list[Detections], size: tuple[int, int]) -> Detections:
        frame, field = found
        return joined(field, frame, size[0], self.inner.nms_iou)


def for_fields(detector, info: VideoInfo):
    """``detector`` (the face detector) for the video ``info``: wrapped in
    :class:`FieldAndFrame` when the video is interlaced."""
    axis = field_axis(info)
    return detector if axis is None else FieldAndFrame(detector, axis)
