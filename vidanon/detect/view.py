"""What the detectors see of a decoded frame: square pixels, and PQ HDR at SDR brightness.
Boxes are normalized, so they fit the frames as stored too."""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np

from ..media.probe import VideoInfo


@functools.lru_cache(maxsize=1)
def _pq_to_sdr() -> np.ndarray:
    """A 256-entry table from PQ-coded (SMPTE 2084) 8-bit samples to SDR-looking ones:
    PQ to light (nits), 100 nits as reference white, extended Reinhard to 1000 nits,
    BT.709-like gamma 1/2.2. Per channel (the gamut stays BT.2020: the detector does not mind)."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    e = np.arange(256, dtype=np.float64) / 255.0
    p = e ** (1 / m2)
    nits = 10000.0 * (np.maximum(p - c1, 0.0) / (c2 - c3 * p)) ** (1 / m1)
    x = nits / 100.0
    white = 10.0
    y = np.clip(x * (1 + x / white**2) / (1 + x), 0.0, 1.0)
    return np.round(255.0 * y ** (1 / 2.2)).astype(np.uint8)


def detector_view(frames: np.ndarray, info: VideoInfo) -> np.ndarray:
    """What the detector should see of ``(N, H, W, 3)`` frames: square pixels (see
    :func:`square_pixels`) and, for PQ HDR video, SDR-looking brightness (the frames
    themselves, which the effects work on, keep their PQ coding)."""
    frames = square_pixels(frames, info.sar)
    if info.color_trc == "smpte2084":
        frames = _pq_to_sdr()[frames]
    return frames


def square_pixels(frames: np.ndarray, sar: Fraction | None) -> np.ndarray:
    """``(N, H, W, 3)`` frames resampled (nearest neighbour) so that their pixels are
    square, as they are displayed; boxes normalized to the frame are the same in both."""
    if not sar or sar == 1:
        return frames
    n, h, w = frames.shape[:3]
    if sar > 1:  # wide pixels: more columns
        cols = np.minimum((np.arange(round(w * sar)) + 0.5) / float(sar), w - 1).astype(np.intp)
        return frames[:, :, cols]
    rows = np.minimum((np.arange(round(h / sar)) + 0.5) * float(sar), h - 1).astype(np.intp)
    return frames[:, rows]


def as_batch(frames) -> np.ndarray:
    """``frames`` as a batch ``(B, H, W, 3)``: one frame ``(H, W, 3)`` becomes a batch of one."""
    frames = np.asarray(frames)
    return frames[None] if frames.ndim == 3 else frames
