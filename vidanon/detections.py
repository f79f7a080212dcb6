"""The record that flows between the stages: what was found in one frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .targets import CLASS_NAMES, FACE, PERSON, PLATE  # noqa: F401 - the class ids of Detections.classes

# Where a box came from (Detections.sources), most trusted first.
DETECTED = 0  # the detector found it in this frame
PREDICTED = 1  # a coasting track's Kalman prediction (detector blinked)
INTERPOLATED = 2  # between two detections of the same track (a gap filled afterwards)
BACKFILLED = 3  # before a track was confirmed, extrapolated back from its first detections
FOLLOWED = 4  # a lost track's face found again in the image by its appearance (detector blinked longer)
SOURCE_NAMES = {DETECTED: "detected", PREDICTED: "predicted", INTERPOLATED: "interpolated", BACKFILLED: "backfilled",
                FOLLOWED: "followed"}  # fmt: skip


def _col(values, dtype, n):
    arr = np.asarray(values if values is not None else np.zeros(n), dtype=dtype)
    return arr.reshape(n)


@dataclass
class Detections:
    """Objects in one frame, in the TF Object Detection conventions.

    ``boxes`` are normalized ``[ymin, xmin, ymax, xmax]`` in [0, 1] relative to the
    frame; ``masks`` (optional) is one low-resolution soft mask per box, covering the
    box, values in [0, 1] (``detection_masks``). ``track_ids`` is -1 for boxes no
    track owns; ``sources`` says whether a box was detected, predicted, interpolated
    or back-filled.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    masks: np.ndarray | None = None
    track_ids: np.ndarray = field(default=None)  # type: ignore[assignment]
    sources: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        n = len(self.boxes)
        self.scores = _col(self.scores, np.float32, n)
        self.classes = _col(self.classes, np.int32, n)
        self.track_ids = _col(self.track_ids if self.track_ids is not None else np.full(n, -1), np.int64, n)
        self.sources = _col(self.sources, np.uint8, n)
        if self.masks is not None:
            self.masks = np.asarray(self.masks, dtype=np.float32)
            if len(self.masks) != n:
                raise ValueError("one mask per box is needed")

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0))

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index) -> "Detections":
        index = np.atleast_1d(np.arange(len(self))[index])
        return Detections(
            self.boxes[index],
            self.scores[index],
            self.classes[index],
            None if self.masks is None else self.masks[index],
            self.track_ids[index],
            self.sources[index],
        )

    @classmethod
    def merge(cls, parts: list["Detections"]) -> "Detections":
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        with_masks = all(p.masks is not None for p in parts) and len({p.masks.shape[1:] for p in parts}) == 1
        return cls(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.classes for p in parts]),
            np.concatenate([p.masks for p in parts]) if with_masks else None,
            np.concatenate([p.track_ids for p in parts]),
            np.concatenate([p.sources for p in parts]),
        )

    def pixel_boxes(self, height: int, width: int) -> np.ndarray:
        """Boxes as float pixel coordinates ``[x1, y1, x2, y2]``."""
        b = self.boxes
        return np.stack([b[:, 1] * width, b[:, 0] * height, b[:, 3] * width, b[:, 2] * height], axis=1)


# From this many boxes on, :func:`nms` computes the IoU of the overlapping pairs at once
# instead of one box against the rest at a time (same result).
NMS_PAIRS_FROM = 64


def intersection_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection area between every box of ``a`` (N,4) and ``b`` (M,4), any consistent corner order."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(hi - lo, 0, None), axis=2)


def box_areas(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of ``a`` (N,4) and ``b`` (M,4), any consistent corner order."""
    inter = intersection_matrix(a, b)
    union = box_areas(a)[:, None] + box_areas(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def scale_boxes(boxes: np.ndarray, factor: float, dy: float = 0.0, dx: float = 0.0) -> np.ndarray:
    """Boxes ``[ymin, xmin, ymax, xmax]`` (N,4) grown by ``factor`` about their centres, then by
    ``dy`` / ``dx`` more on each side (the tracker's uncertainty margin)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cy = (boxes[:, 0] + boxes[:, 2]) / 2
    cx = (boxes[:, 1] + boxes[:, 3]) / 2
    hh = (boxes[:, 2] - boxes[:, 0]) * factor / 2 + dy
    hw = (boxes[:, 3] - boxes[:, 1]) * factor / 2 + dx
    return np.stack([cy - hh, cx - hw, cy + hh, cx + hw], axis=1)


def scale_box(box: np.ndarray, factor: float, dy: float = 0.0, dx: float = 0.0) -> np.ndarray:
    """:func:`scale_boxes` of one box (4,), in Python floats: the same operations in the same
    order, so the same numbers, without an array per step (the tracker scales hundreds of
    single boxes a frame in a crowd)."""
    y0, x0, y1, x1 = np.asarray(box, np.float64).tolist()
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    hh = (y1 - y0) * factor / 2 + dy
    hw = (x1 - x0) * factor / 2 + dx
    return np.array([cy - hh, cx - hw, cy + hh, cx + hw])


def union_box(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest box holding both boxes ``a`` and ``b`` (4,)."""
    (ay0, ax0, ay1, ax1), (by0, bx0, by1, bx1) = np.asarray(a, np.float64).tolist(), np.asarray(b, np.float64).tolist()
    return np.array([min(ay0, by0), min(ax0, bx0), max(ay1, by1), max(ax1, bx1)])


def covered_share(box: np.ndarray, others: np.ndarray) -> float:
    """Share of ``box``'s area under the boxes ``others`` (overlaps between them counted once
    only approximately: the sum is capped at 1)."""
    if len(others) == 0:
        return 0.0
    inter = intersection_matrix(box, others).sum()
    return float(min(inter / max(box_areas(box)[0], 1e-12), 1.0))


# The head around a CenterFace box. Its boxes run from the forehead to the chin and from
# cheek to cheek (on the labelled stills of ../shared/eval: their top 0.16 label-heights
# above a face label's, their width 0.9 of it); the head reaches further up (hair) and
# sideways (ears), hardly below the chin. The head box is HEAD_WIDTH box-widths wide and
# reaches HEAD_UP box-heights above the box: grown by the default mask scale, its opaque
# ellipse covers the face label widened 1.3x and raised by half its height (the ears and
# the hair) except the rectangle's corners, and 0.1 box-heights below the chin.
HEAD_WIDTH = 1.25
HEAD_UP = 0.3


def head_boxes(boxes: np.ndarray) -> np.ndarray:
    """The head boxes ``[ymin, xmin, ymax, xmax]`` around face boxes (N, 4)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    h = boxes[:, 2] - boxes[:, 0]
    cx = (boxes[:, 1] + boxes[:, 3]) / 2
    hw = (boxes[:, 3] - boxes[:, 1]) * HEAD_WIDTH / 2
    return np.stack([boxes[:, 0] - HEAD_UP * h, cx - hw, boxes[:, 2], cx + hw], axis=1)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns the kept indices, best first: each box in
    turn, best score first, is kept unless a kept box overlaps it by more than
    ``iou_threshold``."""
    order = np.argsort(-scores, kind="stable")
    if len(order) < NMS_PAIRS_FROM:
        keep = []
        while order.size:
            i, rest = order[0], order[1:]
            keep.append(i)
            order = rest[iou_matrix(boxes[i], boxes[rest])[0] <= iou_threshold]
        return np.asarray(keep, dtype=np.int64)
    # Many boxes (a crowd's heatmap cells): the pairs that overlap along one axis are found
    # by sorting, their IoU computed at once (as iou_matrix does), then the same greedy pass.
    b = np.asarray(boxes, dtype=np.float64)[order]
    by_x = np.argsort(b[:, 1], kind="stable")
    starts = b[by_x, 1]
    ends = np.searchsorted(starts, b[by_x, 3], side="left")  # boxes starting before this one ends
    counts = np.maximum(ends - np.arange(len(b)) - 1, 0)
    first = np.repeat(np.arange(len(b)), counts)
    second = first + 1 + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    u, v = by_x[first], by_x[second]
    lo = np.maximum(b[u, :2], b[v, :2])
    hi = np.minimum(b[u, 2:], b[v, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = box_areas(b)
    union = area[u] + area[v] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    clash = iou > iou_threshold
    better, worse = np.minimum(u, v)[clash], np.maximum(u, v)[clash]
    by_better = np.argsort(better, kind="stable")
    better, worse = better[by_better], worse[by_better]
    bounds = np.searchsorted(better, np.arange(len(b) + 1))
    suppressed = np.zeros(len(b), bool)
    keep = []
    for i in range(len(b)):
        if not suppressed[i]:
            keep.append(i)
            suppressed[worse[bounds[i] : bounds[i + 1]]] = True
    return order[np.asarray(keep, dtype=np.int64)]


PASSES_IOU = 0.3  # the same object found in two passes (sizes, tiles): one box kept, the best-scoring


def add_pass(found: Detections, more: Detections) -> Detections:
    """``found`` with the boxes of another pass, ``more``: a box of ``more`` that overlaps one of
    ``found`` of its class by PASSES_IOU or more is the same object seen at another size (the
    better-scoring box kept); boxes of one pass never remove each other (two people side by
    side overlap as much, and each detector has its own suppression for them)."""
    if not len(more) or not len(found):
        return Detections.merge([found, more])
    iou = iou_matrix(more.boxes, found.boxes) * (more.classes[:, None] == found.classes[None, :])
    best = iou.argmax(axis=1)
    same = iou[np.arange(len(more)), best] >= PASSES_IOU
    better = same & (more.scores > found.scores[best])  # the better of the two boxes stays
    keep_found = np.ones(len(found), bool)
    keep_found[best[better]] = False
    return Detections.merge([found[np.flatnonzero(keep_found)], more[np.flatnonzero(~same | better)]])
