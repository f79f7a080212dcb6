"""Tiles: where overlapping tiles of one size start along a side (the grid that the plate and
person detectors cut a large frame into, SAHI's slicing, so that small objects reach the
network at their own size), and a tile's boxes put back in the frame (people, large photos)."""

from __future__ import annotations

import math

import numpy as np


def tile_count(length: int, tile: int, overlap: float) -> int:
    """How many tiles of ``tile`` px, each overlapping the next by at least ``overlap`` of a
    tile, cover ``length`` px from edge to edge (one when the side is no longer than a tile)."""
    if length <= tile:
        return 1
    return math.ceil((length - tile) / (tile * (1.0 - overlap))) + 1


def tile_starts(length: int, tile: int, overlap: float) -> list[int]:
    """The starts of those tiles, spread evenly: the first at 0, the last ending at ``length``."""
    n = tile_count(length, tile, overlap)
    if n == 1:
        return [0]
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def to_frame(boxes: np.ndarray, window: tuple[int, int, int, int], height: int, width: int) -> np.ndarray:
    """Normalized ``[ymin, xmin, ymax, xmax]`` boxes of the ``window`` ``(y0, x0, y1, x1)`` of a
    ``height`` x ``width`` frame as normalized boxes of the frame (float64)."""
    y0, x0, y1, x1 = window
    scale = np.array([y1 - y0, x1 - x0, y1 - y0, x1 - x0], np.float64)
    return (np.asarray(boxes, np.float64).reshape(-1, 4) * scale + [y0, x0, y0, x0]) / [height, width, height, width]
