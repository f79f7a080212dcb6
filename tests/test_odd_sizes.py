"""Frames whose size is not a whole number of chroma samples (321x241 in 4:2:0): each pixel
is converted with its own chroma sample, as at even sizes."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from media import ffmpeg, run_ffmpeg

from vidanon.media.probe import probe
from vidanon.media.reader import FrameReader, chroma_layout


def nearest_chroma_rgb(path, width: int, height: int, planar: str, steps: tuple[int, int]) -> np.ndarray:
    """The first frame in RGB as the exact conversion makes it (BT.601, limited range: what
    ffmpeg assumes of an untagged file): every pixel with the chroma sample it lies in."""
    raw = subprocess.run([ffmpeg(), "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
                          planar, "-"], capture_output=True, check=True).stdout  # fmt: skip
    cw, ch = -(-width // steps[0]), -(-height // steps[1])
    n, m = width * height, cw * ch
    y = np.frombuffer(raw, np.uint8, n).reshape(height, width).astype(float)
    u, v = (np.frombuffer(raw, np.uint8, m, n + k * m).reshape(ch, cw).astype(float) - 128 for k in (0, 1))
    rows, cols = np.mgrid[0:height, 0:width]
    u, v = u[rows // steps[1], cols // steps[0]], v[rows // steps[1], cols // steps[0]]
    luma, k = (y - 16) * 255 / 219, 255 / 224
    r, b = luma + 1.402 * k * v, luma + 1.772 * k * u
    g = (luma - 0.299 * r - 0.114 * b) / 0.587
    return np.clip(np.round(np.stack([r, g, b], -1)), 0, 255)


@pytest.mark.parametrize("size, pix_fmt, suffix", [("321x241", "yuv420p", ".mkv"), ("320x241", "yuv420p", ".mkv"),
                                                   ("321x241", "yuv422p", ".mkv"), ("321x241", "yuv411p", ".mkv"),
                                                   ("321x241", "nv12", ".nut"), ("320x240", "yuv420p", ".mkv")])
def test_each_pixel_keeps_its_own_colour_at_odd_sizes(tmp_path, size, pix_fmt, suffix):
    """swscale spread 161 chroma samples over 321 pixels instead of giving each 2: colours
    moved across the whole frame (at a colour's edge by up to 255 levels, 8% of the pixels
    by more than 2), and were written so."""
    src = tmp_path / f"in{suffix}"
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate=10", "-frames:v", "1",
               "-c:v", "ffv1" if suffix == ".mkv" else "rawvideo", "-pix_fmt", pix_fmt, src)  # fmt: skip
    info = probe(src)
    assert info.pix_fmt == pix_fmt
    steps = chroma_layout(pix_fmt)[1:]
    planar = {(2, 2): "yuv420p", (2, 1): "yuv422p", (4, 1): "yuv411p"}[steps]
    want = nearest_chroma_rgb(src, info.width, info.height, planar, steps)
    frame = next(iter(FrameReader(info)))
    assert frame.exact.shape == want.shape
    assert np.abs(frame.exact.astype(float) - want).max() <= 1
