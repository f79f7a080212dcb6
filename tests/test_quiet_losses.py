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


def warnings_of(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("vidanon: warning:")]


def test_a_vp9_webms_alpha_is_said_to_be_lost(tmp_path, run):
    """VP9 keeps its alpha beside the picture (alpha_mode 1), which ffmpeg's own decoder
    reads as yuv420p: it was dropped without a word (found by a QA pass)."""
    src = tmp_path / "alpha.webm"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25,format=yuva420p,geq=lum='p(X,Y)':a='if(lt(X,48),255,60)'"
               ":cb='p(X,Y)':cr='p(X,Y)'", "-frames:v", 6, "-c:v", "libvpx-vp9", "-deadline", "realtime", src)  # fmt: skip
    assert header(src).video.metadata.get("alpha_mode") == "1"
    code, err = run(src, tmp_path / "out.webm")
    assert code == 0, err
    assert warnings_of(err) == ["vidanon: warning: the input is yuv420p with an alpha channel: the output has no alpha "
                                "channel (what players play)"], err  # fmt: skip


def with_captions(raw: Path, dst: Path) -> Path:
    """An H.264 stream (Annex B, no B-frames) with an ATSC A/53 caption SEI (CEA-608 padding)
    before each picture, as broadcast recordings carry them."""
    data = raw.read_bytes()
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", data)] + [len(data)]
    payload = b"\xb5\x00\x31GA94\x03\x41\xff\xfc\x80\x80\xff"
    sei = b"\x00\x00\x00\x01\x06\x04" + bytes([len(payload)]) + payload + b"\x80"
    out = bytearray()
    for start, end in zip(starts, starts[1:]):
        nal = data[start + 3:end]
        if nal[0] & 0x1F in (1, 5):
            out += sei
        out += b"\x00\x00\x01" + nal
    dst.write_bytes(bytes(out))
    return dst


@pytest.mark.parametrize("container", ["ts", "mp4"])
def test_closed_captions_inside_the_video_are_said_to_be_lost(tmp_path, run, container):
    """CEA-608/708 captions ride in the video stream's SEI: re-encoded, they are gone, which was
    not said (found by a QA pass)."""
    raw = clip(tmp_path / "raw.h264", size="96x64", rate="30", frames=10, audio=False, extra=("-bf", "0", "-f", "h264"))
    cc = with_captions(raw, tmp_path / "cc.h264")
    src = tmp_path / f"cc.{container}"
    run_ffmpeg("-r", 30, "-i", cc, "-c", "copy", src)
    shown = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(src), "-frames:v", "1", "-vf", "showinfo", "-f", "null",
                            "-"], capture_output=True, text=True).stderr  # fmt: skip
    assert "Closed Captions" in shown
    code, err = run(src, tmp_path / "out.mkv")
    assert code == 0, err
    assert warnings_of(err) == ["vidanon: warning: the input's closed captions (CEA-608/708, carried inside its video "
                                "stream) are not kept: the output has no captions"], err  # fmt: skip
    code, err = run(raw, tmp_path / "plain.mkv")
    assert code == 0 and not warnings_of(err), err


def test_hdr10_plus_dynamic_metadata_is_said_to_be_lost(tmp_path, run):
    scene = ('{"BezierCurveData":{"Anchors":[102,205,307,410,512,614,717,819,922],"KneePointX":0,"KneePointY":0},'
             '"LuminanceParameters":{"AverageRGB":500,"LuminanceDistributions":{"DistributionIndex":[1,5,10,25,50,75,'
             '90,95,99],"DistributionValues":[100,200,300,400,500,600,700,800,900]},"MaxScl":[1000,1000,1000]},'
             '"NumberOfWindows":1,"TargetedSystemDisplayMaximumLuminance":400,"SceneFrameIndex":%d,"SceneId":0,'
             '"SequenceFrameIndex":%d}')  # fmt: skip
    (tmp_path / "hdr10p.json").write_text(
        '{"JSONInfo":{"HDR10plusProfile":"A","Version":"1.0"},"SceneInfo":[' + ",".join(scene % (i, i) for i in range(6))
        + '],"SceneInfoSummary":{"SceneFirstFrameIndex":[0],"SceneFrameNumbers":[6]},"ToolInfo":{"Tool":"x","Version":"1"}}')
    src = tmp_path / "hdr10p.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30", "-frames:v", 6, "-pix_fmt", "yuv420p10le", "-c:v",
               "libx265", "-x265-params", "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:"
               f"hdr10=1:max-cll=1000,400:dhdr10-info={tmp_path / 'hdr10p.json'}", src)  # fmt: skip
    code, err = run(src, tmp_path / "out.mp4")
    assert code == 0, err
    assert ("vidanon: warning: the input's HDR10+ dynamic metadata is not kept: players show the output as plain HDR10"
            in warnings_of(err)), err  # fmt: skip


def spherical_boxes(stereo: int = 0) -> bytes:
    """Spherical Video V2: st3d (0: mono, 1: top and bottom) and sv3d (equirectangular)."""
    def full(kind, payload):
        return _box(kind, b"\x00\x00\x00\x00" + payload)

    proj = _box(b"proj", full(b"prhd", struct.pack(">iii", 0, 0, 0)) + full(b"equi", struct.pack(">IIII", 0, 0, 0, 0)))
    return full(b"st3d", bytes([stereo])) + _box(b"sv3d", full(b"svhd", b"t\x00") + proj)


@pytest.mark.parametrize("suffix", ["mp4", "mov", "mkv", "webm"])
def test_a_360_degree_video_stays_one(tmp_path, run, suffix):
    """Its projection (MP4's sv3d box, Matroska's Projection) was dropped without a word, and
    players showed the output flat (found by a QA pass)."""
    src = add_to_sample_entry(clip(tmp_path / "src.mp4", size="128x64", frames=6, audio=False), tmp_path / "pano.mp4",
                              spherical_boxes())  # fmt: skip
    assert header(src).video.spherical == "equirectangular"
    out = tmp_path / f"out.{suffix}"
    code, err = run(src, out)
    assert code == 0 and not warnings_of(err), err
    assert header(out).video.spherical == "equirectangular"


def test_a_360_degree_video_says_what_it_loses_where_it_is_not_kept(tmp_path, run):
    src = add_to_sample_entry(clip(tmp_path / "src.mp4", size="128x64", frames=6, audio=False), tmp_path / "pano.mp4",
                              spherical_boxes(stereo=1))  # fmt: skip
    assert header(src).video.stereo == "top and bottom"
    code, err = run(src, tmp_path / "out.mp4")
    assert code == 0, err
    assert warnings_of(err) == [
        "vidanon: warning: the input's 360-degree projection (equirectangular) is not kept: players will show the output "
        "flat (.mp4, .mov, .mkv and .webm keep a plain equirectangular one)",
        "vidanon: warning: the input's stereo 3D layout (top and bottom) is not kept: players will show both views in "
        "one flat picture"], err  # fmt: skip
    assert header(tmp_path / "out.mp4").video.spherical is None
    plain = add_to_sample_entry(clip(tmp_path / "src.mp4", size="128x64", frames=6, audio=False), tmp_path / "pano.mp4",
                                spherical_boxes())  # fmt: skip
    code, err = run(plain, tmp_path / "out.avi")
    assert code == 0 and warnings_of(err)[0].startswith("vidanon: warning: the input's 360-degree projection"), err


DJI_MAVIC = ("F/2.8, SS 1000, ISO 100, EV 0, GPS (8.5432, 47.3769, 15), D 10.2m, H 30.1m",
             "F/2.8, SS 1000, ISO 100, EV 0, GPS (8.5433, 47.3770, 15), D 10.4m, H 30.2m")  # fmt: skip
DJI_MINI = ("FrameCnt: 1, DiffTime: 33ms\n2024-05-01 10:00:00.000\n[iso: 100] [shutter: 1/1000.0] [fnum: 1.7] "
            "[ev: 0] [latitude: 47.376900] [longitude: 8.543200] [rel_alt: 30.100 abs_alt: 450.000]",
            "FrameCnt: 2, DiffTime: 33ms\n2024-05-01 10:00:00.033\n[iso: 100] [shutter: 1/1000.0] [fnum: 1.7] "
            "[ev: 0] [latitude: 47.376901] [longitude: 8.543201] [rel_alt: 30.100 abs_alt: 450.000]")  # fmt: skip
WORDS = ("Meet me at the station at 8.30.", "Latitude is what we need, said the captain.")


def with_subtitles(tmp_path: Path, suffix: str, events: tuple[str, ...]) -> Path:
    srt = tmp_path / "events.srt"
    srt.write_text("".join(f"{i + 1}\n00:00:0{i},000 --> 00:00:0{i + 1},000\n{text}\n\n" for i, text in enumerate(events)))
    src = tmp_path / f"DJI_0001.{suffix}"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-i", srt, "-frames:v", 50, "-c:v", "libx264",
               "-c:s", "mov_text" if suffix == "mp4" else "srt", "-metadata", "location=+47.3769+008.5432/", src)  # fmt: skip
    return src


def subtitle_text(path: Path) -> str:
    return subprocess.run([ffmpeg(), "-v", "error", "-i", str(path), "-map", "0:s:0", "-f", "srt", "-"],
                          capture_output=True, text=True).stdout  # fmt: skip


@pytest.mark.parametrize("suffix, events", [("mp4", DJI_MAVIC), ("mkv", DJI_MINI)])
def test_a_drones_gps_subtitles_are_left_out_with_the_place_tags(tmp_path, run, suffix, events):
    """DJI drones write their flight log, positions included, as a subtitle track: it was
    copied while the location tag was removed (found by a QA pass)."""
    src = with_subtitles(tmp_path, suffix, events)
    out = tmp_path / f"out.{suffix}"
    code, err = run(src, out)
    assert code == 0, err
    assert warnings_of(err) == ["vidanon: warning: the subtitle stream of the input (" + ("mov_text" if suffix == "mp4"
                                else "subrip") + ") is GPS telemetry (where it was shot): left out, as the place tags "
                                "are (--keep-metadata keeps it)"], err  # fmt: skip
    assert not header(out).of_kind("subtitle")
    code, err = run(src, out, "--keep-metadata", "-y")
    assert code == 0, err
    assert "47.37" in subtitle_text(out)


def test_ordinary_subtitles_are_still_copied(tmp_path, run):
    src = with_subtitles(tmp_path, "mp4", WORDS)
    out = tmp_path / "out.mp4"
    code, err = run(src, out)
    assert code == 0 and not warnings_of(err), err
    assert "Latitude is what we need" in subtitle_text(out)


def shown_times(path: Path, count: int = 4) -> list[float]:
    text = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path), "-map", "0:v", "-vf", "showinfo", "-f", "null", "-"],
                          capture_output=True, text=True).stderr  # fmt: skip
    return [float(t) for t in re.findall(r"pts_time:([0-9.]+)", text)[:count]]


def test_an_mpeg4_avi_with_b_frames_keeps_its_first_frames_time(tmp_path, run):
    """An XviD/DivX AVI's B-frames come without a time of their own, the first frame too: it
    was put at 0, not at 0.04 where ffmpeg shows it, and lasted two frames (found by a QA pass)."""
    src = tmp_path / "divx.avi"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-f", "lavfi", "-i", "sine=duration=0.5", "-frames:v",
               12, "-c:v", "mpeg4", "-bf", 2, "-vtag", "XVID", "-c:a", "libmp3lame", src)  # fmt: skip
    assert shown_times(src) == [0.04, 0.08, 0.12, 0.16]
    out = tmp_path / "out.mp4"
    code, err = run(src, out)
    assert code == 0, err
    assert shown_times(out) == [0.04, 0.08, 0.12, 0.16]
    # AVI to AVI (one fixed rate, every stream from the same start): the first frame from the start
    # with the audio, lasting two slots, the others at their own (they were all a slot early)
    code, err = run(src, tmp_path / "out.avi")
    assert code == 0, err
    assert shown_times(tmp_path / "out.avi", 4) == [0.0, 0.08, 0.12, 0.16]


@pytest.mark.parametrize("suffix", ["mp4", "mkv"])
def test_a_360_degree_video_in_parts_stays_one(tmp_path, run, suffix):
    """The join of a segmented run's parts dropped MP4's projection (its muxer writes it only with
    ``-strict unofficial``, which the writer passed and the join did not: a review found it)."""
    src = add_to_sample_entry(clip(tmp_path / "src.mp4", size="128x64", frames=130, audio=False),
                              tmp_path / "pano.mp4", spherical_boxes())  # fmt: skip
    out = tmp_path / f"out.{suffix}"
    code, err = run(src, out, "--segments", "2")
    assert code == 0 and not warnings_of(err), err
    assert header(out).video.spherical == "equirectangular"


def test_what_names_a_position_in_a_subtitle():
    from vidanon.media.telemetry import names_position

    for line in DJI_MAVIC[:1] + ("[ev: 0] [latitude: 47.376900] [longitude: 8.543200]", "N47.3769 E8.5432"):
        assert names_position(line), line
    for line in ("Meet me at home 12.5000", "Lat. 40.000 is the parallel", "N 12.345 - E 1.234", "GPS 3.1415 only"):
        assert not names_position(line), line  # (a film's lines: a review found the first three taken)
