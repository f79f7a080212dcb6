import subprocess
from fractions import Fraction

import numpy as np
import pytest
from conftest import count_frames, ffmpeg, make_clip, read_frames

from vidanon.errors import InputError, OutputError
from vidanon.media.probe import probe, rational_fps
from vidanon.pipeline import anonymize


def test_rational_fps():
    assert rational_fps(29.97) == Fraction(30000, 1001)
    assert rational_fps(23.98) == Fraction(24000, 1001)
    assert rational_fps(25.0) == 25
    assert rational_fps(12.5) == Fraction(25, 2)


def test_round_trip_keeps_frames_size_fps_and_audio(tmp_path):
    src = make_clip(tmp_path / "in.mp4", 64, 48, fps="30000/1001", frames=24, audio=True)
    before = src.read_bytes()
    out = tmp_path / "out.mp4"
    summary = anonymize(src, out, progress=False)
    assert src.read_bytes() == before
    info_in, info_out = probe(src), probe(out)
    assert summary.frames == 24 == count_frames(out) == count_frames(src)
    assert (info_out.width, info_out.height) == (64, 48)
    assert info_out.fps == Fraction(30000, 1001)
    assert info_in.has_audio and info_out.has_audio
    assert abs(info_out.duration - info_in.duration) < 0.1
    # no face: frames pass through the encoder unchanged (up to compression)
    a, b = read_frames(src), read_frames(out)
    assert max(np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a, b)) < 4
    assert not list(tmp_path.glob(".*partial*"))


def test_odd_size_plays_everywhere_by_default(tmp_path):
    """H.264 cannot store an odd size in 4:2:0: by default the last row and column are
    repeated (4:2:0 plays everywhere) and a warning says so; --odd-size 444 keeps the exact
    size as 4:4:4; VP9 stores the odd size in 4:2:0 as it is."""
    src = make_clip(tmp_path / "odd.mp4", 321, 241, fps="25", frames=6, audio=False)
    frames_in = read_frames(src)
    out = tmp_path / "odd_out.mkv"
    summary = anonymize(src, out, progress=False)
    info = probe(out)
    assert (info.width, info.height) == (322, 242) and info.pix_fmt == "yuv420p"
    assert any("321x241 is odd" in w and "322x242" in w for w in summary.warnings), summary.warnings
    frames_out = read_frames(out)
    assert len(frames_out) == 6
    # the picture is the input's, plus one repeated column and row
    a, b = frames_in[3].astype(int), frames_out[3].astype(int)
    assert np.abs(b[:241, :321] - a).mean() < 8  # 4:4:4 test pattern to 4:2:0: chroma edges soften
    assert np.abs(b[:241, 321] - b[:241, 320]).mean() < 3 and np.abs(b[241, :321] - b[240, :321]).mean() < 3

    exact = tmp_path / "odd_444.mkv"
    summary = anonymize(src, exact, progress=False, odd_size="444")
    info = probe(exact)
    assert (info.width, info.height) == (321, 241) and info.pix_fmt == "yuv444p"
    assert any("4:4:4" in w for w in summary.warnings)

    vp9 = tmp_path / "odd.webm"
    summary = anonymize(src, vp9, progress=False)
    info = probe(vp9)
    assert (info.width, info.height) == (321, 241) and info.pix_fmt == "yuv420p"
    # the odd size is kept; the input's 4:4:4 chroma (x264 stores odd sizes only so) is not
    assert summary.warnings == ["the input is yuv444p: the output has 4:2:0 chroma instead of 4:4:4 (what players play)"]
    assert count_frames(vp9) == 6


def test_no_audio_flag_and_other_containers(tmp_path):
    src = make_clip(tmp_path / "in.mov", 96, 64, fps="24", frames=5, audio=True)
    out = tmp_path / "out.webm"
    anonymize(src, out, progress=False, audio=True)
    assert probe(out).has_audio and count_frames(out) == 5
    out2 = tmp_path / "out2.mp4"
    anonymize(src, out2, progress=False, audio=False)
    assert not probe(out2).has_audio


def test_rotation_metadata_is_honoured(tmp_path):
    src = make_clip(tmp_path / "rot.mp4", 64, 32, frames=4, audio=False)
    rotated = tmp_path / "rotated.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-display_rotation", "90", "-i", str(src), "-c", "copy",
                    str(rotated)], check=True)
    info = probe(rotated)
    assert (info.width, info.height) == (32, 64)
    out = tmp_path / "rot_out.mp4"
    anonymize(rotated, out, progress=False)
    assert (probe(out).width, probe(out).height) == (32, 64)
    assert read_frames(out)[0].shape == (64, 32, 3)


def test_existing_output_needs_overwrite_and_input_is_protected(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=3, audio=False)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="--overwrite"):
        anonymize(src, out, progress=False)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(OutputError, match="same file"):
        anonymize(src, src, progress=False, overwrite=True)
    with pytest.raises(OutputError, match="extension"):
        anonymize(src, tmp_path / "out.xyz", progress=False)
    anonymize(src, out, progress=False, overwrite=True)
    assert count_frames(out) == 3


def test_bad_inputs_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="directory"):
        probe(tmp_path)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        probe(empty)
    text = tmp_path / "text.mp4"
    text.write_text("this is not a video\n" * 20)
    with pytest.raises(InputError):
        probe(text)


def test_rotation_is_read_from_every_ffmpeg_header_form():
    """One parser reads a video's rotation, whichever way ffmpeg prints it: the side data of
    ffmpeg 7 ("Display Matrix"), of ffmpeg up to 6 ("displaymatrix", with a "rotate" tag
    beside it), or the tag alone; a 90 or 270 degree turn swaps the displayed size."""
    from vidanon.media.streams import parse_header

    head = ("Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':\n"
            "  Duration: 00:00:01.00, start: 0.000000, bitrate: 100 kb/s\n"
            "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), "
            "64x32 [SAR 1:1 DAR 2:1], 21 kb/s, 10 fps, 10 tbr, 10240 tbn (default)\n"
            "    Metadata:\n      handler_name    : VideoHandler\n")  # fmt: skip
    new = head + "    Side data:\n      Display Matrix: rotation of 90.00 degrees\n"
    old = head.replace("    Metadata:\n", "    Metadata:\n      rotate          : 90\n") + (
        "    Side data:\n      displaymatrix: rotation of -90.00 degrees\n")
    tag_only = head.replace("    Metadata:\n", "    Metadata:\n      rotate          : 180\n")
    assert parse_header(new).video.rotation == 90
    assert parse_header(old).video.rotation == 270
    assert parse_header(tag_only).video.rotation == 180
    assert parse_header(head).video.rotation == 0
