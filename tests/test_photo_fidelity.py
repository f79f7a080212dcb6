"""Photos keep what they are (vidanon.photo): only the faces change; the format's coding
(lossless WebP), the bit depth, the colour chunks and the progressive coding stay."""

import numpy as np
import pytest
from conftest import SAMPLE, read_frames
from PIL import Image


def photo(alpha: bool = False) -> Image.Image:
    """A frame of the sample clip (a face the detector finds), with an alpha gradient (transparent on the left: the colours under it kept too)."""
    frame = read_frames(SAMPLE)[20]
    if not alpha:
        return Image.fromarray(frame)
    a = np.broadcast_to(np.linspace(0, 255, frame.shape[1], dtype=np.uint8)[None], frame.shape[:2]).copy()
    a[:, :40] = 0
    return Image.fromarray(np.dstack([frame, a]))


@pytest.mark.parametrize("alpha", [False, True])
def test_lossless_webp_stays_lossless(tmp_path, run_inprocess, alpha):
    """A lossless WebP was written lossy (quality 95): outside the faces 30% of the pixels kept."""
    picture = photo(alpha)
    picture.save(tmp_path / "in.webp", lossless=True)
    code, out, err = run_inprocess(tmp_path / "in.webp", tmp_path / "out.webp")
    assert code == 0 and "face boxes masked" in out, (out, err)
    assert (tmp_path / "out.webp").read_bytes()[12:16] in (b"VP8L", b"VP8X")
    with Image.open(tmp_path / "out.webp") as im:
        result = np.asarray(im)
        assert im.mode == picture.mode
    changed = (result != np.asarray(picture)).any(axis=-1)
    assert 500 < changed.sum() < 0.2 * changed.size  # the faces only, every other pixel exactly kept


def test_lossy_webp_stays_lossy(tmp_path, run_inprocess):
    photo(True).save(tmp_path / "in.webp", quality=90)
    code, out, err = run_inprocess(tmp_path / "in.webp", tmp_path / "out.webp")
    assert code == 0, err
    data = (tmp_path / "out.webp").read_bytes()
    assert b"VP8 " in data and b"VP8L" not in data


@pytest.mark.parametrize("policy", ["--keep-metadata", "--strip-metadata", None])
def test_png_colour_chunks_are_kept(tmp_path, run_inprocess, policy):
    """A PNG's gAMA, cHRM and sRGB chunks were dropped: a gamma-1.0 photo was then shown darker.
    Colour, not tags: kept under every policy, as the ICC profile is."""
    import struct

    from PIL.PngImagePlugin import PngInfo

    chroma = (0.3127, 0.329, 0.64, 0.33, 0.3, 0.6, 0.15, 0.06)
    info = PngInfo()
    info.add(b"gAMA", struct.pack(">I", 100000))
    info.add(b"cHRM", struct.pack(">8I", *(round(v * 100000) for v in chroma)))
    info.add(b"sRGB", bytes([0]))  # perceptual: intent 0
    photo().save(tmp_path / "in.png", pnginfo=info)
    code, out, err = run_inprocess(tmp_path / "in.png", tmp_path / "out.png", *([policy] if policy else []))
    assert code == 0, err
    with Image.open(tmp_path / "out.png") as im:
        assert im.info.get("gamma") == 1.0 and im.info.get("srgb") == 0
        assert im.info.get("chromaticity") == pytest.approx(chroma)


@pytest.mark.parametrize("progressive", [True, False])
def test_a_progressive_jpeg_stays_progressive(tmp_path, run_inprocess, progressive):
    """A progressive JPEG was written baseline."""
    photo().save(tmp_path / "in.jpg", quality=95, progressive=progressive)
    code, out, err = run_inprocess(tmp_path / "in.jpg", tmp_path / "out.jpg")
    assert code == 0, err
    with Image.open(tmp_path / "out.jpg") as im:
        assert bool(im.info.get("progressive")) == progressive
