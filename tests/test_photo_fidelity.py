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
    assert code == 0 and " masked, " in out, (out, err)
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


def test_pictures_embedded_in_exif_are_never_copied(tmp_path, run_inprocess):
    # Photoshop's resources (a JPEG thumbnail of the photo as it was) and an XMP packet held in
    # IFD0 were copied by default, past the rebuilt EXIF's name rule
    import io

    thumb = io.BytesIO()
    Image.fromarray(np.full((24, 32, 3), 200, np.uint8)).save(thumb, "JPEG")
    exif = Image.Exif()
    exif[0x8649] = b"8BIM\x04\x0c" + thumb.getvalue()  # ImageResources
    exif[0x02BC] = b"<x:xmpmeta><xmpGImg:image>AAAA</xmpGImg:image></x:xmpmeta>"  # XMLPacket
    exif[0x0132] = "2024:05:01 10:00:00"  # DateTime: kept
    src = tmp_path / "p.jpg"
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(src, exif=exif.tobytes())
    for policy in ([], ["--keep-metadata"]):
        out = tmp_path / f"o{len(policy)}.jpg"
        code, stdout, err = run_inprocess(src, out, *policy)
        assert code == 0 and "ImageResources" in stdout and "XMLPacket" in stdout, (stdout, err)
        data = out.read_bytes()
        assert data.count(b"\xff\xd8") == 1 and b"xmpGImg" not in data  # one picture: the photo
        assert Image.open(out).getexif().get(0x0132) == "2024:05:01 10:00:00"


def test_a_damaged_exif_block_is_left_out_not_a_crash(tmp_path, run_inprocess):
    # bytes of the EXIF block changed (a broken camera, a bad copy) made Pillow's parser raise
    # TypeError or struct.error: "internal error" (exit 70); the photo is anonymized without it
    import random

    from PIL import ImageOps

    good = Image.Exif()
    good[0x0112] = 1  # Orientation
    good[0x010F] = "Camera"
    good[0x0132] = "2024:05:01 10:00:00"
    raw = bytearray(good.tobytes())
    rng = random.Random(7)
    picture = Image.fromarray(np.full((60, 80, 3), 128, np.uint8))
    for _ in range(2000):  # the first mutation Pillow's parser chokes on
        bad = bytearray(raw)
        for _ in range(3):
            bad[rng.randrange(8, len(bad))] = rng.randrange(256)
        src = tmp_path / "damaged.jpg"
        picture.save(src, exif=bytes(bad))
        try:
            with Image.open(src) as im:
                ImageOps.exif_transpose(im).getexif().tobytes()
        except Exception:
            break
    else:
        pytest.fail("no damaged EXIF found to test with")
    code, out, err = run_inprocess(src, tmp_path / "out.jpg")
    assert code == 0 and "EXIF (damaged)" in out, (out, err)
    # one that Pillow reads as no tag at all, with a warning (its first directory points past the end)
    picture.save(src, exif=b"Exif\0\0II*\0\xff\xff\xff\x7f garbage")
    code, out, err = run_inprocess(src, tmp_path / "out2.jpg")
    assert code == 0 and "EXIF (damaged)" in out, (out, err)


@pytest.mark.parametrize("cut, suffix", [("end marker", ".jpg"), ("a third", ".jpg"), ("a third", ".png")])
def test_a_photo_that_ends_early_is_anonymized_as_far_as_it_decodes(tmp_path, run_inprocess, cut, suffix):
    """A JPEG without its end marker (viewers show it whole) or a photo cut short (a download
    broken off: viewers show the top, grey below) was refused: its faces are hidden, with a
    warning. (A PNG so cut first crashed: "internal error", exit 70.)"""
    whole = tmp_path / f"whole{suffix}"
    photo().save(whole, quality=95)
    data = whole.read_bytes()
    assert data.endswith(b"\xff\xd9" if suffix == ".jpg" else b"IEND\xaeB`\x82")
    src = tmp_path / f"cut{suffix}"
    src.write_bytes(data[:-2] if cut == "end marker" else data[: len(data) * 2 // 3])
    code, out, err = run_inprocess(src, tmp_path / f"out{suffix}", "--effect", "fill", "--fill-color", "white")
    assert code == 0, err
    assert f"cut{suffix} ends early (image file is truncated" in err
    got = np.asarray(Image.open(tmp_path / f"out{suffix}").convert("RGB")).astype(int)
    white = (got >= 245).all(axis=2)
    assert white.sum() > 200  # the face the sample frame holds (near its top) is filled
    if cut == "end marker":  # every row decoded: the bottom is the photo's, not grey
        assert np.abs(got[-4:] - np.asarray(photo())[-4:]).mean() < 6
