"""An animated WebP or PNG (APNG) is anonymized as a video: each picture at its time, written as
a video or a GIF (it was refused: "make it a video first")."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE, read_frames
from PIL import Image

from vidanon.media.probe import probe
from vidanon.media.reader import FrameReader


def animation(path, alpha: int | None = None, pictures: int = 6):
    """The sample clip's faces, a picture every 100 ms (with an alpha channel of ``alpha``)."""
    frames = read_frames(SAMPLE)[::5][:pictures]
    if alpha is not None:
        frames = [np.dstack([f, np.full(f.shape[:2], alpha, np.uint8)]) for f in frames]
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


@pytest.mark.parametrize("name, out, alpha", [("anim.webp", "out.mp4", None), ("anim.png", "out.mp4", None),
                                              ("anim.webp", "out.gif", None), ("anim.png", "out.mp4", 255)])
def test_an_animated_image_is_anonymized_as_a_video(tmp_path, run_inprocess, name, out, alpha):
    src = animation(tmp_path / name, alpha)
    code, said, err = run_inprocess(src, tmp_path / out, "--effect", "fill", "--fill-color", "white")
    assert code == 0, err
    assert "6 frames 480x270 @ 10.000 fps" in said  # its pictures' rate, not its time base's (1000 fps: QA)
    assert "alpha" not in err  # opaque: ffmpeg decodes every WebP to argb, an RGBA APNG to rgba all the same
    made = probe(tmp_path / out)
    assert made.n_frames == 6 and (made.width, made.height) == (480, 270)
    assert made.packets.times == pytest.approx([0.1 * k for k in range(6)], abs=0.011)
    first = next(iter(FrameReader(made)))
    assert (np.asarray(first.picture) >= 245).all(axis=2).sum() > 300  # the faces are filled


def test_an_animated_image_goes_to_a_video_name(tmp_path, run_inprocess):
    src = animation(tmp_path / "anim.webp", alpha=128, pictures=3)
    code, _, err = run_inprocess(src, tmp_path / "o.webp")  # a photo's name: refused in one line, nothing written
    assert code != 0 and "an animated image is written as a video or a GIF; name it" in err
    assert err.count("\n") == 1 and not (tmp_path / "o.webp").exists()
    code, _, err = run_inprocess(src)  # no output named: beside it, as .mp4
    assert code == 0, err
    assert (tmp_path / "anim_anonymized.mp4").exists()
    assert "the output has no alpha channel" in err  # this one is transparent
    folder = tmp_path / "in"
    folder.mkdir()
    animation(folder / "a.webp", pictures=2)
    Image.fromarray(read_frames(SAMPLE)[5]).save(folder / "still.webp")
    code, _, err = run_inprocess(folder, tmp_path / "out")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mp4", "still.webp"]
