"""Media-fidelity defects found by a QA pass where the output differed from the input without
a word: a container's crop, raw streams' rates, what cannot be kept and must be said."""

from __future__ import annotations

import re
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import ffmpeg
from media import clip, header, run_ffmpeg


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def add_to_sample_entry(src: Path, dst: Path, extra: bytes) -> Path:
    """``src`` (an MP4 of one H.264 track) with ``extra`` boxes appended to its avc1 sample entry."""
    data = bytearray(src.read_bytes())
    headers = {b"stsd": 16, b"avc1": 8 + 78}

    def find(start, end, path):
        i = start
        while i < end:
            size, kind = struct.unpack(">I4s", data[i:i + 8])
            if kind == path[0]:
                if len(path) == 1:
                    return [(i, size)]
                inner = find(i + headers.get(kind, 8), i + size, path[1:])
                if inner:
                    return [(i, size)] + inner
            i += size
        return None

    chain = find(0, len(data), [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1"])
    assert chain, "no avc1 sample entry"
    end = chain[-1][0] + chain[-1][1]
    data[end:end] = extra
    for offset, size in chain:
        struct.pack_into(">I", data, offset, size + len(extra))
    dst.write_bytes(bytes(data))
    return dst


def decoded_size(path: Path) -> tuple[int, int]:
    text = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path), "-frames:v", "1", "-vf", "showinfo", "-f", "null",
                           "-"], capture_output=True, text=True).stderr  # fmt: skip
    found = re.search(r" s:(\d+)x(\d+)", text)
    return int(found.group(1)), int(found.group(2))


def psnr(a: Path, b: Path) -> float:
    text = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(a), "-i", str(b), "-lavfi", "[0:v][1:v]psnr", "-f", "null",
                           "-"], capture_output=True, text=True).stderr  # fmt: skip
    found = re.search(r"average:(\S+)", text)
    assert found, text[-500:]
    return float("inf") if found.group(1) == "inf" else float(found.group(1))


@pytest.mark.parametrize("how", ["clap", "clap_odd", "clap_off_centre", "pixelcrop_mkv", "sps"])
def test_a_cropped_picture_is_written_at_its_own_size_unscaled(tmp_path, run, how):
    """MP4's clean aperture (clap), Matroska's PixelCrop: ffmpeg decodes the cropped picture,
    which was scaled back into the coded size and letterboxed (found by a QA pass)."""
    src = clip(tmp_path / "src.mp4", size="320x240", rate="30", frames=8, audio=False, extra=("-crf", "10"))
    if how == "sps":  # cropped in the H.264 stream itself: the header says so already
        cropped = tmp_path / "in.mp4"
        run_ffmpeg("-i", src, "-c", "copy", "-bsf:v", "h264_metadata=crop_left=10:crop_right=10:crop_top=20:"
                   "crop_bottom=20", cropped)  # fmt: skip
    else:
        width, height, dx, dy = {"clap_odd": (301, 201, 0, 0), "clap_off_centre": (300, 200, -6, 4)}.get(how, (300, 200, 0, 0))
        clap = _box(b"clap", struct.pack(">8i", width, 1, height, 1, dx, 1, dy, 1))
        cropped = add_to_sample_entry(src, tmp_path / "in.mp4", clap)
        if how == "pixelcrop_mkv":
            run_ffmpeg("-i", tmp_path / "in.mp4", "-c", "copy", tmp_path / "in.mkv")
            cropped = tmp_path / "in.mkv"
    size = decoded_size(cropped)
    assert size == (300, 200) and header(cropped).video.size == ((300, 200) if how == "sps" else (320, 240))
    out = tmp_path / f"out{cropped.suffix}"
    code, err = run(cropped, out, "--crf", "0")
    assert code == 0, err
    assert header(out).video.size == size and decoded_size(out) == size
    assert psnr(out, cropped) > 40


@pytest.mark.parametrize("name, vcodec, rate", [("raw.h264", "libx264", "30"), ("raw.h264", "libx264", "30000/1001"),
                                                ("raw.hevc", "libx265", "30"), ("raw.m2v", "mpeg2video", "30")])
def test_a_raw_stream_keeps_its_own_frame_rate(tmp_path, run, name, vcodec, rate):
    """ffmpeg prints every raw elementary stream's rate as 25 fps (its default): a 30 fps .h264
    came out 20% slow (found by a QA pass). Its frames are where ffmpeg's own remux puts them."""
    from media import video_times

    src = clip(tmp_path / name, size="96x64", rate=rate, frames=12, audio=False, vcodec=vcodec,
               extra=("-f", {"libx264": "h264", "libx265": "hevc", "mpeg2video": "mpeg2video"}[vcodec]))  # fmt: skip
    remuxed = tmp_path / "remuxed.mp4"
    run_ffmpeg("-i", src, "-c", "copy", remuxed)
    out = tmp_path / "out.mp4"
    code, err = run(src, out)
    assert code == 0, err
    mine, theirs = video_times(out)[0], video_times(remuxed)[0]  # (ffmpeg's remux loses a B-frame stream's last frames)
    assert len(mine) == 12 and len(theirs) >= 6
    assert abs(mine - np.arange(12) / float(Fraction(rate))).max() < 1e-3, mine
    assert abs(mine[: len(theirs)] - theirs).max() < 1e-3, (mine, theirs)
