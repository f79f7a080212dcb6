"""CenterFace's output decoded: the heatmap cells above the threshold into face boxes,
thinned by non-maximum suppression (:func:`decode_centerface`), or, for a second look, only
the best box near the face looked at (:func:`best_score_on`)."""

from __future__ import annotations

import numpy as np

from ..detections import FACE, Detections, iou_matrix, nms

STRIDE = 4  # CenterFace's output stride


def decode_centerface(
    cells: np.ndarray,
    values: np.ndarray,
    scale_hw: tuple[float, float],
    iou_threshold: float = 0.3,
) -> Detections:
    """Turn the above-threshold heatmap cells of one frame into face boxes.

    ``cells`` is ``(K, 2)`` (row, column) in the heatmap grid; ``values`` is ``(K, 5)``:
    score, log-height, log-width, y-offset, x-offset. ``scale_hw`` is the size, in
    network-input pixels, that the original frame was resized to (before padding);
    boxes come back normalized to the frame.
    """
    if len(cells) == 0:
        return Detections.empty()
    boxes, score = _cell_boxes(cells, values, scale_hw)
    # NMS in pixel units so that the IoU is not distorted by the frame's aspect ratio.
    sh, sw = scale_hw
    keep = nms(boxes * np.array([sh, sw, sh, sw]), score, iou_threshold)
    return Detections(boxes[keep], score[keep], np.full(len(keep), FACE))


def _cell_boxes(cells: np.ndarray, values: np.ndarray, scale_hw: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The box and score of each cell (see :func:`decode_centerface`), clipped to the frame,
    those with no area left out."""
    score = values[:, 0]
    h = np.exp(values[:, 1]) * STRIDE
    w = np.exp(values[:, 2]) * STRIDE
    cy = (cells[:, 0] + values[:, 3] + 0.5) * STRIDE
    cx = (cells[:, 1] + values[:, 4] + 0.5) * STRIDE
    sh, sw = scale_hw
    boxes = np.stack([(cy - h / 2) / sh, (cx - w / 2) / sw, (cy + h / 2) / sh, (cx + w / 2) / sw], axis=1)
    boxes = np.clip(boxes, 0.0, 1.0)
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[valid], score[valid]


def best_score_on(
    cells: np.ndarray,
    values: np.ndarray,
    scale_hw: tuple[float, float],
    iou_threshold: float,
    expected: np.ndarray,
    min_iou: float,
) -> float:
    """The best score among the boxes :func:`decode_centerface` would return that overlap
    ``expected`` (1 x 4, normalized) by ``min_iou`` or more; 0 if none.

    The same number as decoding then filtering, found by running the greedy suppression only
    as far as the first such box it keeps (best first, so its score is the best): a second
    look needs one box near its face, not the dozens the crop's cells decode to."""
    if len(cells) == 0:
        return 0.0
    boxes, score = _cell_boxes(cells, values, scale_hw)
    near = iou_matrix(expected, boxes)[0] >= min_iou
    if not near.any():
        return 0.0
    sh, sw = scale_hw
    px = boxes * np.array([sh, sw, sh, sw])
    suppressed = np.zeros(len(px), bool)
    for i in np.argsort(-score, kind="stable"):  # nms's order
        if suppressed[i]:
            continue  # by a better box kept before it
        if near[i]:
            return float(score[i])
        suppressed |= iou_matrix(px[i], px)[0] > iou_threshold  # (IoU is symmetric, to the bit)
    return 0.0
