"""Where overlapping tiles of one size start along a side: the grid that the plate and person
detectors cut a large frame into (SAHI's slicing), so that small objects reach the network
at their own size."""

from __future__ import annotations

import math


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
