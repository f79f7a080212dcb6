"""Helpers shared by the evaluation script and the tests: labelled stills and matching."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .detections import iou_matrix


@dataclass
class LabelledImage:
    path: Path
    boxes: np.ndarray  # (N, 4) pixel [x1, y1, x2, y2]


def load_stills(xml_path: str | Path) -> list[LabelledImage]:
    """Read a dlib/PASCAL-style ``<image file=...><box top left width height/>`` file."""
    xml_path = Path(xml_path)
    images = []
    for image in ET.parse(xml_path).getroot().iter("image"):
        boxes = [
            [float(b.get("left")), float(b.get("top")),
             float(b.get("left")) + float(b.get("width")), float(b.get("top")) + float(b.get("height"))]
            for b in image.iter("box")
        ]
        images.append(LabelledImage(xml_path.parent / image.get("file"), np.array(boxes, np.float64).reshape(-1, 4)))
    return images


def match(pred: np.ndarray, truth: np.ndarray, iou_threshold: float = 0.4) -> tuple[int, int]:
    """Greedy one-to-one matching; returns (true positives, predictions)."""
    if len(pred) == 0 or len(truth) == 0:
        return 0, len(pred)
    iou = iou_matrix(truth, pred)
    matched = 0
    used = set()
    for t in np.argsort(-iou.max(axis=1)):
        for p in np.argsort(-iou[t]):
            if iou[t, p] < iou_threshold:
                break
            if p not in used:
                used.add(p)
                matched += 1
                break
    return matched, len(pred)
