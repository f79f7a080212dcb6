"""A large photo's passes run on overlapping tiles (memory: an 8000x6000 photo's full pass
took 6.2 GB whole, 2.8 GB in tiles), and a face lying across a tile's edge is still hidden."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE, read_frames
from PIL import Image

from vidanon import photo
from vidanon.detect.centerface import FaceDetector


@pytest.mark.parametrize("height, width", [(6000, 8000), (3000, 6000), (4096, 4097), (9000, 12000), (500, 20000)])
def test_tiles_cover_the_picture_overlapping(height, width):
    tiles = photo.tile_windows(height, width)
    seen = np.zeros((height // 8 + 1, width // 8 + 1), bool)
    for y0, x0, y1, x1 in tiles:
        assert 0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width
        assert y1 - y0 <= photo.TILE_SIDE and x1 - x0 <= photo.TILE_SIDE
        seen[y0 // 8 : -(-y1 // 8), x0 // 8 : -(-x1 // 8)] = True
    assert seen[: height // 8, : width // 8].all()
    xs = sorted({(x0, x1) for _, x0, _, x1 in tiles})
    assert all(0 <= a1 - b0 - photo.TILE_OVERLAP <= len(xs) for (_, a1), (b0, _) in zip(xs, xs[1:]))


def test_faces_across_the_tiles_edges_are_hidden(tmp_path, run_inprocess, monkeypatch):
    """Three faces of about 100 px: across the start of the second tile, across the end of
    the first, and inside one tile (tiles of 971 x 728 px here, overlapping by 256)."""
    monkeypatch.setattr(photo, "TILE_ABOVE", 1024 * 1024)
    monkeypatch.setattr(photo, "TILE_SIDE", 1024)
    monkeypatch.setattr(photo, "TILE_OVERLAP", 256)
    frame = read_frames(SAMPLE)[-1]
    h, w = frame.shape[:2]
    dets = FaceDetector(threshold=0.4)(frame[None])[0]
    y0, x0, y1, x1 = dets.boxes[int(np.argmax(dets.scores))] * [h, w, h, w]
    pad = 0.4 * (y1 - y0)
    face = Image.fromarray(frame).crop((int(x0 - pad), int(y0 - pad), int(x1 + pad), int(y1 + pad)))
    face = face.resize((round(face.width * 130 / face.height), 130), Image.Resampling.LANCZOS)
    canvas = np.zeros((1200, 2400, 3), np.uint8)
    canvas[...] = np.linspace(70, 190, 2400, dtype=np.uint8)[None, :, None]
    assert [(a, b) for _, a, _, b in photo.tile_windows(1200, 2400)][:3] == [(0, 971), (715, 1686), (1429, 2400)]
    centres = [(600, 740), (600, 960), (300, 1300)]
    for cy, cx in centres:
        top, left = cy - face.height // 2, cx - face.width // 2
        canvas[top : top + face.height, left : left + face.width] = np.asarray(face)
    src = tmp_path / "wide.png"
    Image.fromarray(canvas).save(src)
    tiled, windows = [], photo.tile_windows
    monkeypatch.setattr(photo, "tile_windows", lambda h, w: tiled.append((h, w)) or windows(h, w))
    code, _, err = run_inprocess(src, tmp_path / "out.png", "--effect", "fill", "--fill-color", "white")
    assert code == 0, err
    assert tiled == [(1200, 2400)]  # the full pass in tiles; the halved copy (600 x 1200) whole
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB")).astype(int)
    for cy, cx in centres:  # the middle of each face is white
        assert (out[cy - 20 : cy + 20, cx - 20 : cx + 20] >= 250).all(), (cy, cx)
    assert (out[:, :500] == canvas[:, :500]).all()  # nothing else
