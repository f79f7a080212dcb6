"""A run on a video without colour says that faces are found less well there (the face network
finds fewer faces in grey: docs/precision.md, round seventeen)."""

from __future__ import annotations

import subprocess

import numpy as np
from conftest import SAMPLE, ffmpeg

from vidanon import anonymize
from vidanon.detect.colour import GREY_HINT, GREY_WARNING, ColourWatch, colourless


def test_a_picture_without_colour_is_told_from_a_grey_scene_in_colour():
    """Grey frames, grey ones with a cast (a constant tint) or a level of chroma noise are
    colourless; a grey frame with a face's skin on 5% of it, or the sample clip, are not."""
    rng = np.random.default_rng(3)
    grey = np.repeat(rng.integers(10, 246, (360, 640, 1), dtype=np.uint8), 3, axis=2).astype(np.int16)
    assert colourless(grey.astype(np.uint8))
    assert colourless((grey + [-4, 6, -4]).astype(np.uint8))  # an infrared camera's green cast
    assert colourless((grey + rng.integers(-1, 2, grey.shape)).astype(np.uint8))
    skin = grey.astype(np.uint8).copy()
    skin[100:220, 200:300] = (224, 172, 140)
    assert not colourless(skin)
    watch = ColourWatch(hint=True)
    watch([np.zeros((90, 160, 3), np.uint8)])  # a black frame (a fade) tells nothing
    assert watch.warnings() == []
    watch([grey.astype(np.uint8)])
    assert watch.warnings() == [GREY_WARNING + GREY_HINT]
    watch([skin])  # one frame in colour: the video has colour
    assert watch.warnings() == []


def test_a_grey_video_is_said_to_be_grey(tmp_path):
    grey = tmp_path / "grey.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-i", str(SAMPLE), "-vf", "hue=s=0", "-frames:v", "8", str(grey)],
                   check=True)
    said = anonymize(grey, tmp_path / "out.mp4", progress=False).warnings
    assert said == [GREY_WARNING + GREY_HINT]
    said = anonymize(grey, tmp_path / "out3.mp4", progress=False, threshold=0.3).warnings
    assert said == [GREY_WARNING]  # no hint: the threshold is already that low
    assert anonymize(SAMPLE, tmp_path / "colour.mp4", progress=False, end=0.7).warnings == []


def test_a_splash_of_a_grey_video_says_it_changes_nothing():
    # the splash (people in colour, the rest grey) of a grey video changed nothing, without a word (QA)
    from vidanon.detect.colour import SPLASH_GREY
    from vidanon.pipeline import Options, build_stages

    stages = build_stages(Options(effect="splash", device="cpu"), 120, 160)
    assert stages.colour is not None and stages.colour.said == SPLASH_GREY and not stages.colour.hint
    grey = np.repeat(np.linspace(60, 200, 160, dtype=np.uint8)[None, :, None], 120, 0).repeat(3, 2)
    stages.colour([grey])
    assert stages.colour.warnings() == [SPLASH_GREY]
    watch = build_stages(Options(effect="splash", device="cpu"), 120, 160).colour
    coloured = grey.copy()
    coloured[:, :80, 0], coloured[:, 80:, 2] = 230, 230  # red on the left, blue on the right
    watch([coloured])  # colour: nothing said
    assert watch.warnings() == []
