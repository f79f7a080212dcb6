"""Issue 17: a faithful copy of every real-world clip.

Most cases go through the video layer only (decode every frame with FrameReader, encode
it unchanged with VideoWriter), which is what the pipeline does around the detector;
three go end to end through the command line. Every input is generated here, tiny.
For each case: frame count, per-frame timestamps (within one tick), display size,
colour tags, and the audio (bit for bit, same start).
"""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from conftest import read_frames
from media import (
    assert_same_times,
    clip,
    decoded_times,
    ffmpeg,
    header,
    native_planes,
    plane_y10,
    round_trip,
    run_ffmpeg,
    stream_md5,
    stream_packets,
    tick_of,  # fmt: skip
    video_times,
)

import vidanon
from vidanon.detect.view import detector_view, square_pixels
from vidanon.media.probe import probe
from vidanon.media.reader import Frame, FrameReader
from vidanon.media.writer import VideoWriter


def same_timing(src, out):
    """Same frames at the same times (within one tick of either time base)."""
    t_in, tb_in = video_times(src)
    t_out, tb_out = video_times(out)
    assert_same_times(decoded_times(src), t_out, tick_of(tb_in, tb_out))
    return t_in, t_out


def audio_starts(path):
    return [s.start or 0.0 for s in header(path).of_kind("audio")]


def test_late_video_start_keeps_lip_sync_and_audio_is_copied_bit_for_bit(tmp_path):
    """The video starts 0.852 s after the audio (ffmpeg -itsoffset): it still does."""
    base = clip(tmp_path / "base.mp4", rate="30000/1001", frames=30)
    src = tmp_path / "late.mp4"
    run_ffmpeg("-itsoffset", "0.852", "-i", base, "-i", base, "-map", "0:v", "-map", "1:a", "-c", "copy", src)
    assert abs(header(src).video.start - 0.852) < 1e-3
    out = tmp_path / "out.mp4"
    round_trip(src, out)
    t_in, t_out = same_timing(src, out)
    assert abs(t_out[0] - 0.852) < 1 / 30000 + 1e-9
    assert abs(header(out).video.start - 0.852) < 1e-3
    assert stream_md5(out, "a:0") == stream_md5(src, "a:0")
    assert stream_packets(out, "a:0") == stream_packets(src, "a:0")
    assert audio_starts(out) == pytest.approx(audio_starts(src), abs=1e-3)
    assert probe(out).audio_codec == "aac"


def test_edit_list_frames_are_the_ones_shown(tmp_path):
    """An MP4 cut with -ss and -c copy keeps hidden frames before its edit list's start."""
    base = clip(tmp_path / "base.mp4", frames=50, extra=("-g", "25"))
    src = tmp_path / "edit.mp4"
    run_ffmpeg("-ss", "0.5", "-i", base, "-c", "copy", src)
    shown = decoded_times(src)
    assert probe(src).n_frames == len(shown) < 50  # the packets the edit list hides are not counted
    out = tmp_path / "out.mp4"
    round_trip(src, out)
    same_timing(src, out)
    # the audio's own edit list too: same packets at the same times, the same ones hidden
    assert stream_packets(out, "a:0") == stream_packets(src, "a:0")


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm"])
def test_variable_frame_rate_keeps_every_frame_at_its_time(tmp_path, suffix):
    src = clip(tmp_path / f"vfr{suffix}", rate="30", frames=45, vcodec="libvpx-vp9" if suffix == ".webm" else "libx264",
               vf="setpts='if(lt(N,20),N,20+(N-20)*2)/(30*TB)'", extra=("-fps_mode", "vfr"))  # fmt: skip
    info = probe(src)
    assert info.variable_rate and info.n_frames == 45
    out = tmp_path / f"out{suffix}"
    round_trip(src, out)
    t_in, t_out = same_timing(src, out)
    gaps = np.diff(t_out)
    assert gaps[:19] == pytest.approx(1 / 30, abs=1e-3) and gaps[20:] == pytest.approx(2 / 30, abs=1e-3)
    assert probe(out).has_audio


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".gif"])
def test_the_last_frame_lasts_as_long_as_in_the_input(tmp_path, suffix):
    """A variable-rate video's last frame lasts what it lasts in the input, not one period of
    the average rate (a screen recording's video ran on 0.9 s past its audio): here 1 ms, at
    1.5 frames a second on average; and a frame's duration in the middle is up to the next."""
    src = tmp_path / "in.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=1000", "-frames:v", "6", "-vf",
               "setpts='if(lt(N,3),N*0.1,if(lt(N,5),2+(N-3)*0.05,4))/TB'", "-fps_mode", "passthrough",
               "-c:v", "libx264", "-bf", "0", "-pix_fmt", "yuv420p", src)  # fmt: skip
    info = probe(src)
    assert info.variable_rate and info.packets.times == pytest.approx([0, 0.1, 0.2, 2, 2.05, 4], abs=1e-6)
    assert info.packets.end == pytest.approx(4.001, abs=1e-6)
    out = tmp_path / f"out{suffix}"
    round_trip(src, out)
    made = probe(out).packets
    if suffix == ".gif":  # in hundredths of a second
        assert made.times == pytest.approx([0, 0.1, 0.2, 2, 2.05, 4], abs=0.011)
        assert 4.0 < made.end <= 4.1  # a GIF's delay of under 2 hundredths is shown as a tenth anyway
    else:
        assert made.times == pytest.approx(info.packets.times, abs=1e-3)
        assert made.end == pytest.approx(4.001, abs=1e-3)  # before: 4.667


@pytest.mark.parametrize("suffix, times", [(".mp4", "N/12+0.03*sin(N*1.7)"), (".mkv", "N/12+0.03*sin(N*1.7)"),
                                           (".mp4", "floor(N/3)*0.25+mod(N,3)*0.02")])  # three frames in a tick
def test_a_phones_jittery_frame_times_are_not_called_decoding_errors(tmp_path, suffix, times):
    """Frames a little off a 12 fps grid (a phone's variable rate): two of them fell on one
    tick of the decoder pipe's time base (1/fps), whose muxer printed an error ("non
    monotonically increasing dts") that the run reported as "the input has decoding errors"."""
    src = clip(tmp_path / f"jitter{suffix}", rate="12", frames=35, audio=False,
               vf=f"setpts='({times})/TB',settb=1/90000",
               extra=("-fps_mode", "vfr", "-enc_time_base", "1/90000", "-video_track_timescale", "90000"))  # fmt: skip
    info = probe(src)
    reader = FrameReader(info)
    times = [float(f.pts) for f in reader]
    assert reader.decode_warning is None and len(times) == 35
    if suffix == ".mp4":  # (Matroska's whole milliseconds give two of these frames one time)
        assert_same_times(times, np.asarray(info.packets.times) + info.file_start, 1e-4)


def test_avi_has_one_rate_and_says_so(tmp_path):
    src = clip(tmp_path / "vfr.mp4", rate="30", frames=30, vf="setpts='if(lt(N,10),N,10+(N-10)*2)/(30*TB)'",
               extra=("-fps_mode", "vfr"))  # fmt: skip
    out = tmp_path / "out.avi"
    _, writer = round_trip(src, out)
    assert any("AVI cannot store a variable frame rate" in note for note in writer.notes)
    assert probe(out).n_frames == 30 and len(decoded_times(out)) == 30
    cfr = tmp_path / "cfr.avi"
    _, writer = round_trip(clip(tmp_path / "cfr.mp4", rate="30000/1001", frames=10), cfr)
    assert not writer.notes and probe(cfr).fps == Fraction(30000, 1001)


def test_avi_frames_are_shown_at_their_times_by_a_plain_decoder(tmp_path):
    """AVI stores no presentation times: B-frames made ffmpeg (and the players built on it)
    show every frame two frames late against the audio."""
    src = clip(tmp_path / "in.mp4", size="160x120", rate="12", frames=24)
    out = tmp_path / "out.avi"
    round_trip(src, out)
    shown = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(out), "-map", "0:v", "-vf", "showinfo", "-f", "null",
                            "-"], capture_output=True, text=True).stderr  # fmt: skip
    times = [float(t) for t in re.findall(r"pts_time:(-?[\d.]+)", shown)]
    assert len(times) == 24 and times[:3] == pytest.approx([0, 1 / 12, 2 / 12], abs=1e-3)


def field_orders(path) -> set[str]:
    """How a plain decoder sees the frames: "T" / "B" interlaced top / bottom field first, "P" progressive."""
    shown = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path), "-map", "0:v", "-vf", "showinfo", "-f", "null",
                            "-"], capture_output=True, text=True).stderr  # fmt: skip
    return set(re.findall(r" i:([TBP])", shown))


@pytest.mark.parametrize("order,suffix", [("tff", ".ts"), ("bff", ".mkv")])
def test_interlaced_video_stays_interlaced_in_its_field_order(tmp_path, order, suffix):
    """Broadcast and camcorder video (1080i) keeps its fields: written progressive, players
    no longer deinterlace it (combing on every movement)."""
    src = clip(tmp_path / f"in{suffix}", size="160x120", frames=12,
               extra=("-flags", "+ildct+ilme", "-vf", f"setfield={order}"))  # fmt: skip
    assert field_orders(src) == {order[0].upper()}
    assert probe(src).field_order is not None
    out = tmp_path / "out.mp4"
    _, writer = round_trip(src, out)
    assert field_orders(out) == {order[0].upper()} and not writer.notes
    assert probe(out).field_order == {"tff": "tt", "bff": "bb"}[order]  # the header says so too
    vp9 = tmp_path / "out.webm"
    _, writer = round_trip(src, vp9)
    assert field_orders(vp9) == {"P"} and any("interlaced" in note for note in writer.notes)
    assert probe(clip(tmp_path / "progressive.mp4", frames=4)).field_order is None
    turned = tmp_path / "turned_in.mp4"  # on its side, the fields are columns: progressive, said
    run_ffmpeg("-display_rotation", "90", "-i", src, "-c", "copy", turned)
    _, writer = round_trip(turned, tmp_path / "turned.mp4")
    assert field_orders(tmp_path / "turned.mp4") == {"P"} and any("turned on its side" in n for n in writer.notes)


def test_what_the_pixel_format_loses_is_said(tmp_path):
    """Studio formats (ProRes, DNxHR: 4:2:2 and 4:4:4, alpha, 12 bits) are written as 4:2:0 at
    8 or 10 bits: a note says what the output does not keep, nothing is dropped silently."""
    src = clip(tmp_path / "studio.mkv", frames=4, pix_fmt="yuv422p10le")
    _, writer = round_trip(src, tmp_path / "out.mp4")
    assert header(tmp_path / "out.mp4").video.pix_fmt == "yuv420p10le"
    assert writer.notes == ["the input is yuv422p10le: the output has 4:2:0 chroma instead of 4:2:2 (what players play)"]
    src = clip(tmp_path / "alpha.mov", frames=4, vcodec="png", pix_fmt="rgba", audio=False)
    _, writer = round_trip(src, tmp_path / "alpha.mp4")
    assert writer.notes == ["the input is rgba: the output has no alpha channel (what players play)"]
    _, writer = round_trip(clip(tmp_path / "plain.mp4", frames=4), tmp_path / "plain_out.mp4")
    assert not writer.notes
    # NTSC DV's 4:1:1 has every chroma row, which 4:2:0 halves (it went without a word)
    dv = clip(tmp_path / "dv.mkv", frames=2, vcodec="ffv1", pix_fmt="yuv411p")
    _, writer = round_trip(dv, tmp_path / "dv.mp4")
    assert writer.notes == ["the input is yuv411p: the output has 4:2:0 chroma instead of 4:1:1 (what players play)"]


def test_lossless_h264_says_few_players_play_it(tmp_path):
    src = clip(tmp_path / "in.mp4", frames=4)
    _, writer = round_trip(src, tmp_path / "out.mp4", crf=0)
    assert "High 4:4:4 Predictive" in header(tmp_path / "out.mp4").video.line
    assert any("lossless H.264" in note for note in writer.notes)
    _, writer = round_trip(src, tmp_path / "out1.mp4", crf=1)
    assert not writer.notes


@pytest.mark.parametrize("deep", [False, True])
def test_crf_0_is_lossless_with_libx265_too(tmp_path, deep):
    """--crf 0 is documented as lossless: libx265's CRF 0 is not (8-bit samples changed by up to
    2 levels, 10-bit by 3; 5 and 13 on a QA sweep's clips); x265's lossless mode is asked for.
    Colours in the RGB gamut (a gradient) come back as they were, as with libx264."""
    pattern = "gradients=s=160x120:r=12:seed=3:c0=0x503828:c1=0xa0b0c8:c2=0x306040:c3=0xc09070:nb_colors=4"
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    coded = ("-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error") if deep else \
        ("-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p")
    run_ffmpeg("-f", "lavfi", "-i", pattern, "-frames:v", "4", *coded, src)
    round_trip(src, out, codec="libx265", crf=0)
    if deep:
        a, b = (plane_y10(p, 160, 120).astype(int) for p in (src, out))
    else:
        a, b = (np.frombuffer(native_planes(p, 1), np.uint8).astype(int) for p in (src, out))
    assert probe(out).pix_fmt == ("yuv420p10le" if deep else "yuv420p")
    assert np.abs(a - b).max() <= (0 if deep else 1) and np.abs(a - b).mean() < 0.005, np.abs(a - b).max()


def test_the_last_frame_is_shown_at_large_sizes(tmp_path):
    """Frames over ffmpeg's probe size (720p RGB): the last one keeps its duration, so that
    MP4's edit list does not end where it starts (it was hidden: 3 frames shown of 4)."""
    src = clip(tmp_path / "hd.mp4", size="1280x720", frames=4, audio=False, extra=("-preset", "ultrafast"))
    out = tmp_path / "out.mp4"
    round_trip(src, out, preset="ultrafast")
    assert decoded_times(out) == pytest.approx(decoded_times(src)) and len(decoded_times(out)) == 4


def test_ntsc_60_rate_and_frame_count_from_packets(tmp_path):
    src = clip(tmp_path / "ntsc.mp4", rate="60000/1001", frames=90)
    info = probe(src)
    assert info.n_frames == 90 and info.fps == pytest.approx(60000 / 1001)
    out = tmp_path / "out.mov"
    round_trip(src, out)
    same_timing(src, out)
    assert probe(out).fps == info.fps and probe(out).n_frames == 90


HDR = "setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc:range=tv"


@pytest.mark.parametrize(
    "name, vcodec, family",
    [("hdr.mp4", "libx265", "hevc"), ("hdr.webm", "libvpx-vp9", "vp9"), ("hdr.mkv", "libsvtav1", "av1")],
)
def test_10bit_hdr_stays_10bit_with_its_colour_tags(tmp_path, name, vcodec, family):
    src = clip(tmp_path / name, size="64x48", frames=8, vcodec=vcodec, pix_fmt="yuv420p10le", vf=HDR)
    info = probe(src)
    assert info.deep and info.hdr
    out = tmp_path / ("out" + src.suffix)
    round_trip(src, out)
    v = header(out).video
    assert v.codec == family and v.pix_fmt == "yuv420p10le"
    assert (v.color_primaries, v.color_trc, v.color_space, v.color_range) == ("bt2020", "smpte2084", "bt2020nc", "tv")
    same_timing(src, out)
    if family == "hevc":  # tagged as Apple's players require
        import subprocess

        from vidanon.media.ffmpeg import ffmpeg_exe

        told = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
        assert "(hvc1 /" in told


MASTERING = ("Mastering display metadata: has_primaries:1 has_luminance:1 r(0.6800,0.3200) g(0.2650,0.6900) "
             "b(0.1500 0.0600) wp(0.3127, 0.3290) min_luminance=0.000100, max_luminance=1000.000000")
LIGHT = "Content light level metadata: MaxCLL=1000, MaxFALL=400"


@pytest.mark.parametrize("suffix, tags", [(".mkv", HDR), (".mp4", HDR), (".mp4", None)])
def test_hdr10_mastering_display_and_light_levels_are_kept(tmp_path, suffix, tags):
    """An HDR10 video's static metadata (in its HEVC stream's SEI and, in Matroska, its
    container) tells a display how bright the grading was: the frames reach the encoder
    through a pipe without it, and it was lost without a word (also from a stream that
    carries the SEI without its colour tags)."""
    src = clip(tmp_path / f"hdr10{suffix}", frames=3, audio=False, vcodec="libx265", pix_fmt="yuv420p10le", vf=tags,
               extra=("-x265-params", "log-level=error:master-display=G(13250,34500)B(7500,3000)R(34000,16000)"
                      "WP(15635,16450)L(10000000,1):max-cll=1000,400"))  # fmt: skip
    assert set(probe(src).light) == {MASTERING, LIGHT}
    out = tmp_path / f"out{suffix}"
    round_trip(src, out)
    shown = subprocess.run([ffmpeg(), "-hide_banner", "-i", out, "-frames:v", "1", "-vf", "showinfo", "-f", "null", "-"],
                           capture_output=True, text=True).stderr  # fmt: skip
    assert f"side data - {MASTERING}" in shown and f"side data - {LIGHT}" in shown


def test_hdr_to_an_8bit_codec_is_tone_mapped_and_says_so(tmp_path):
    src = clip(tmp_path / "hdr.mp4", frames=4, vcodec="libx265", pix_fmt="yuv420p10le", vf=HDR + ",setsar=32/27")
    out = tmp_path / "sdr.mkv"
    _, writer = round_trip(src, out, codec="mpeg4")
    assert any("tone-mapped to SDR BT.709" in note for note in writer.notes)
    v = header(out).video
    assert v.pix_fmt == "yuv420p" and (v.color_primaries, v.color_trc, v.color_space) == ("bt709",) * 3
    assert v.sar == Fraction(32, 27)
    same_timing(src, out)


def test_10bit_samples_survive_and_the_detector_gets_8bit_rgb(tmp_path):
    """A 10-bit ramp (160 levels, a quarter of them multiples of 4) comes back with its own
    levels, not the 8-bit ones (every level a multiple of 4) an 8-bit path would leave."""
    src = tmp_path / "ramp.mkv"
    run_ffmpeg("-f", "lavfi", "-i", "color=gray:size=160x48:rate=25", "-frames:v", "3",
               "-vf", "format=yuv420p10le,geq=lum='64+X*5':cb=512:cr=512", "-c:v", "libx264", "-crf", "0",
               "-pix_fmt", "yuv420p10le", src)  # fmt: skip
    frames = read_frames(src)
    assert frames[0].dtype == np.uint8 and frames[0].shape == (48, 160, 3)
    out = tmp_path / "out.mkv"
    round_trip(src, out, crf=0)
    y_in, y_out = plane_y10(src, 160, 48), plane_y10(out, 160, 48)
    assert np.abs(y_in.astype(int) - y_out).mean() < 1.5
    assert np.mean(y_out % 4 == 0) < 0.5


def test_deep_frames_change_only_where_the_effect_did():
    deep = np.random.default_rng(1).integers(0, 65536, (4, 6, 3), dtype=np.uint16)
    src = ((deep.astype(np.uint32) * 255 + 32895) >> 16).astype(np.uint8).view(Frame)
    src.deep = deep
    rendered = np.array(src)
    rendered[1:3, 2:4] = 0  # a filled "face"
    out = VideoWriter._deep(rendered, src)
    assert np.array_equal(out[0], deep[0]) and np.array_equal(out[:, :2], deep[:, :2])
    assert not out[1:3, 2:4].any()
    assert VideoWriter._deep(src, src) is deep


@pytest.mark.parametrize("sar", [Fraction(32, 27), Fraction(118, 81), Fraction(128, 117)])
def test_sample_aspect_ratio_is_kept_and_the_detector_sees_square_pixels(tmp_path, sar):
    """The ratio as it is: NTSC 16:9 (118:81) and QCIF (128:117) came out as 67:46 and 93:85
    (ffmpeg's setsar reduced them to terms of 100 at most)."""
    src = clip(tmp_path / "ntsc_dv.mp4", size="72x48", frames=6, vf=f"setsar={sar}:max=1000")
    info = probe(src)
    assert info.sar == sar
    for suffix in (".mp4", ".mkv"):
        out = tmp_path / f"out{suffix}"
        round_trip(src, out)
        assert header(out).video.sar == info.sar
        assert (probe(out).width, probe(out).height) == (72, 48)
    if sar != Fraction(32, 27):
        return
    frames = np.stack(read_frames(src)[:2])
    square = square_pixels(frames, info.sar)
    assert square.shape == (2, 48, 85, 3)  # 72 * 32/27 columns, as displayed
    assert square_pixels(frames, None) is frames


@pytest.mark.parametrize("name", ["copy.mkv", "copy.mp4", "vp9.webm"])
def test_an_aspect_ratio_only_the_container_holds_is_kept(tmp_path, name):
    """Matroska's display size, MP4's pasp box and VP9 in WebM (whose stream has no aspect
    field) hold a frame's aspect outside the coded stream: players and ffmpeg show it, and it
    was read from the stream alone (the output came out with square pixels, 16:9 as 4:3)."""
    src = tmp_path / name
    if name.startswith("copy"):
        run_ffmpeg("-i", clip(tmp_path / "square.mp4", size="72x48", frames=6), "-c", "copy", "-aspect", "4:3", src)
        want = Fraction(8, 9)  # 72x48 shown as 4:3
    else:
        clip(src, size="72x48", frames=6, audio=False, vcodec="libvpx-vp9", vf="setsar=64/45")
        want = Fraction(17, 12)  # 64/45 as Matroska stores it: a display width of 102 (72 * 64/45 = 102.4)
    assert probe(src).sar == want
    for suffix in (".mp4", ".mkv", ".webm"):
        out = tmp_path / f"out{suffix}"
        round_trip(src, out)
        assert header(out).video.sar == want, suffix


def test_the_detector_sees_pq_hdr_at_sdr_brightness(tmp_path):
    """PQ codes 100 nits (SDR white) at about half scale: the detector's view lifts it, the
    frames the effects work on keep their coding; SDR frames pass as they are."""
    sdr = probe(clip(tmp_path / "sdr.mp4", frames=2, audio=False))
    hdr = probe(clip(tmp_path / "hdr.mkv", frames=2, audio=False, vcodec="libx265", pix_fmt="yuv420p10le", vf=HDR))
    frames = np.stack(read_frames(hdr.path))
    assert detector_view(frames, sdr) is frames
    view = detector_view(frames, hdr)
    assert view.shape == frames.shape and view is not frames
    white = np.full((1, 1, 1, 3), 130, np.uint8)  # PQ code of about 100 nits
    assert detector_view(white, hdr)[0, 0, 0, 0] > 180
    ramp = detector_view(np.arange(256, dtype=np.uint8).reshape(1, 1, 256, 1).repeat(3, -1), hdr)[0, 0, :, 0]
    assert np.all(np.diff(ramp.astype(int)) >= 0) and ramp[0] == 0 and ramp[-1] == 255


def test_full_range_stays_full_range_exactly(tmp_path):
    """yuvj420p (full range, 0-255) comes out full range, tagged so, with the same samples
    (up to the RGB round trip's rounding), not squeezed into 16-235."""
    src = clip(tmp_path / "full.mp4", size="320x240", frames=5, pix_fmt="yuvj420p")
    assert probe(src).color_range == "pc"
    out = tmp_path / "out.mp4"
    round_trip(src, out, crf=0)
    assert header(out).video.color_range == "pc"
    a = np.frombuffer(native_planes(src, 2), np.uint8)[: 320 * 240].astype(int)  # luma
    b = np.frombuffer(native_planes(out, 2), np.uint8)[: 320 * 240].astype(int)
    # as exact as the limited-range path (RGB clipping at saturated edges aside: mean error ~1)
    assert np.abs(a - b).mean() < 1.5 and abs((b - a).mean()) < 0.5
    slope = np.polyfit(a, b, 1)[0]
    assert 0.97 < slope < 1.03, slope  # limited range squeezed into full would give 219/255 = 0.86
    assert a.min() < 16 and b.min() < 16 and a.max() > 220 and b.max() > 220


@pytest.mark.parametrize("interlaced", [False, True])
def test_full_range_chroma_comes_back_unshifted(tmp_path, interlaced):
    """swscale rounds a full-range RGB to YUV conversion's chroma down: every U and V sample
    came out about half a level low. Colours in the RGB gamut (a noisy gradient) come back
    as they were."""
    pattern = ("gradients=s=320x240:r=25:seed=3:c0=0x503828:c1=0xa0b0c8:c2=0x306040:c3=0xc09070:nb_colors=4:speed=0.02,"
               "format=rgb24,noise=alls=6:allf=t+u:all_seed=7,"
               "scale=out_color_matrix=bt601:out_range=pc:flags=accurate_rnd+full_chroma_int,format=yuvj420p")
    fields = ("-flags", "+ildct+ilme", "-x264-params", "tff=1") if interlaced else ()
    src = tmp_path / "full.mp4"
    run_ffmpeg("-f", "lavfi", "-i", pattern, "-frames:v", "4", "-c:v", "libx264", "-crf", "0", *fields, src)
    assert probe(src).color_range == "pc" and (probe(src).upright_field_order is not None) == interlaced
    out = tmp_path / "out.mp4"
    round_trip(src, out, crf=0)
    a = np.frombuffer(native_planes(src, 1), np.uint8).astype(int)
    b = np.frombuffer(native_planes(out, 1), np.uint8).astype(int)
    n = 320 * 240
    for plane in (slice(0, n), slice(n, n * 5 // 4), slice(n * 5 // 4, n * 3 // 2)):  # Y, U, V
        d = b[plane] - a[plane]
        near = 0.3 if interlaced else 0.1  # chroma by fields: a little less exact (0.12 here)
        assert abs(d.mean()) < 0.05 and np.abs(d).mean() < near, (plane, d.mean(), np.abs(d).mean())


@pytest.mark.parametrize("space", [None, "bt709", "bt470bg", "smpte170m", "smpte240m", "fcc", "bt2020nc"])
def test_full_range_output_keeps_each_colour_matrix_and_no_other(tmp_path, space):
    """Full-range 8-bit output goes through zscale, which knows the matrices by its own names
    (a wrong one failed the run: "240m") and tags the frames with the one it used (an untagged
    input came out tagged BT.601)."""
    from vidanon.media.plan import SCALE_MATRIX

    matrix = SCALE_MATRIX.get(space or "", "bt601")
    pattern = ("gradients=s=96x64:r=25:seed=3:c0=0x503828:c1=0xa0b0c8:c2=0x306040:c3=0xc09070:nb_colors=4,format=rgb24,"
               f"scale=out_color_matrix={matrix}:out_range=pc:flags=accurate_rnd+full_chroma_int,format=yuvj420p,"
               f"setparams=colorspace={space or 'unknown'}")
    src = tmp_path / "in.mp4"
    run_ffmpeg("-f", "lavfi", "-i", pattern, "-frames:v", "3", "-c:v", "libx264", "-crf", "0",
               *(("-colorspace", space) if space else ()), src)  # fmt: skip
    out = tmp_path / "out.mp4"
    round_trip(src, out, crf=0)
    assert probe(out).color_range == "pc" and probe(out).color_space == probe(src).color_space == space
    a, b = (np.frombuffer(native_planes(p, 1), np.uint8).astype(int) for p in (src, out))
    assert np.abs(b - a).mean() < 0.1


def rgb_by_zimg(path, frame=0):
    """One frame in RGB as zimg converts it (by the matrix the file names), as ints."""
    raw = subprocess.run([ffmpeg(), "-v", "error", "-i", str(path), "-vf", f"select=eq(n\\,{frame}),zscale=dither=none,"
                          "format=gbrp,format=rgb24", "-frames:v", "1", "-f", "rawvideo", "-"],
                         capture_output=True, check=True).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).astype(int)


@pytest.mark.parametrize("space, code, written", [("ycgco", 8, "bt709"), ("bt2020c", 10, "bt2020nc")])
def test_a_colour_matrix_swscale_cannot_convert_is_read_by_zimg(tmp_path, space, code, written):
    """YCgCo (lossless screen captures) and BT.2020 constant luminance: swscale cannot convert
    them, and such a file had no decodable frame. zimg reads them; the output is written in the
    matrix beside it, the same colours, and the warning says so."""
    prim = "bt2020" if space == "bt2020c" else "bt709"
    pattern = ("gradients=s=160x120:r=12:seed=3:c0=0x503828:c1=0xa0b0c8:c2=0x306040:c3=0xc09070:nb_colors=4,"
               f"format=gbrp,setparams=color_primaries={prim}:color_trc=bt709:colorspace=gbr,"
               f"zscale=m={space}:r=limited:dither=none,format=yuv444p")  # fmt: skip
    made, src = tmp_path / "made.mp4", tmp_path / "in.mp4"
    run_ffmpeg("-f", "lavfi", "-i", pattern, "-frames:v", "3", "-c:v", "libx264", "-qp", "0", made)
    run_ffmpeg("-i", made, "-c", "copy", "-bsf:v", f"h264_metadata=matrix_coefficients={code}", src)
    assert probe(src).color_space == space
    out = tmp_path / "out.mkv"
    _, writer = round_trip(src, out, crf=0)
    assert probe(out).color_space == written and probe(out).color_primaries == prim
    assert f"the input's colour matrix {space} is not one ffmpeg's converter writes: written as {written}" in \
        " ".join(writer.notes)
    a, b = rgb_by_zimg(src, 1), rgb_by_zimg(out, 1)
    assert a.size == b.size == 160 * 120 * 3 and np.abs(a - b).mean() < 1.0, np.abs(a - b).mean()


@pytest.mark.parametrize("code", [10, 12, 14])  # BT.2020c, chroma-derived, ICtCp
def test_a_matrix_zimg_reads_is_read_also_where_the_file_names_no_primaries_or_transfer(tmp_path, code):
    """zimg needs the primaries and transfer of these matrices, which many files leave unsaid:
    such a file had no decodable frame ("invalid colorspace definition"; a review found it)."""
    base, src = tmp_path / "base.mp4", tmp_path / "in.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=12", "-frames:v", "3", "-c:v", "libx264", "-pix_fmt",
               "yuv420p", base)  # fmt: skip
    run_ffmpeg("-i", base, "-c", "copy", "-bsf:v", f"h264_metadata=matrix_coefficients={code}", src)
    info = probe(src)
    assert info.color_primaries is None and info.color_trc is None
    frames = list(FrameReader(info))
    assert len(frames) == 3 and frames[0].shape == (64, 96, 3)


def test_the_detector_sees_what_ffmpeg_converts_also_when_the_size_changes(tmp_path):
    """The detector's copy is swscale's default conversion, byte for byte, as every rule was
    measured on it; a stream whose size changes midway (two recordings joined) is brought to
    the first size in one step, its shape kept (fitted inside, black around: stretched, a
    portrait part of a landscape video had its faces squeezed past finding), and the copy that
    is written is that picture too."""
    for name, size in (("a", "64x48"), ("b", "80x48")):
        part = clip(tmp_path / f"{name}.mp4", size=size, frames=3, audio=False)
        run_ffmpeg("-i", part, "-c:v", "libx264", "-f", "mpegts", tmp_path / f"{name}.ts")
    joined = tmp_path / "joined.ts"
    joined.write_bytes((tmp_path / "a.ts").read_bytes() + (tmp_path / "b.ts").read_bytes())
    for src in (clip(tmp_path / "plain.mp4", size="320x240", frames=3, audio=False), joined):
        w, h = probe(src).width, probe(src).height
        fitted = f"scale={w}:{h}:force_original_aspect_ratio=decrease,format=rgb24,pad={w}:{h}:-1:-1"
        plain = subprocess.run([ffmpeg(), "-v", "error", "-i", str(src), "-fps_mode", "passthrough", "-vf", fitted,
                                "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                               capture_output=True, check=True).stdout  # fmt: skip
        frames = list(FrameReader(probe(src)))
        assert b"".join(f.tobytes() for f in frames) == plain
        for f in frames:  # the written copy: the same picture (the stacked halves never mix)
            assert np.abs(f.picture.astype(int) - f).mean() < 4
    assert (frames[-1][:4] == 0).all() and (frames[-1][-4:] == 0).all() and frames[-1][24].any()  # 64x38 inside


def test_a_video_turning_from_landscape_to_portrait_has_every_face_hidden(tmp_path, run_inprocess):
    """The sample clip's second half cut to portrait (270x480) after its landscape first half
    (480x270), as one stream: the portrait frames were squeezed to 480x270 and none of their
    faces hidden, without a word (found by a QA sweep); they are fitted inside, faces found."""
    from conftest import SAMPLE

    run_ffmpeg("-t", "1.5", "-i", SAMPLE, "-c:v", "libx264", "-bf", "0", "-an", tmp_path / "a.ts")
    run_ffmpeg("-ss", "1.5", "-i", SAMPLE, "-vf", "crop=152:270,scale=270:480", "-c:v", "libx264", "-bf", "0", "-an",
               "-output_ts_offset", "1.6", tmp_path / "b.ts")  # fmt: skip
    src = tmp_path / "turned.ts"
    src.write_bytes((tmp_path / "a.ts").read_bytes() + (tmp_path / "b.ts").read_bytes())
    code, out, err = run_inprocess(src, tmp_path / "out.mp4", "--effect", "fill", "--fill-color", "white")
    assert code == 0, err
    frames = list(FrameReader(probe(tmp_path / "out.mp4")))
    assert len(frames) == 35
    for f in frames[18:]:  # portrait: black at the sides, a face filled in the middle
        picture = np.asarray(f.picture)
        assert (picture[:, :100] < 20).all() and ((picture[:, 160:320] >= 245).all(axis=2)).sum() > 200


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_comes_out_upright_at_the_display_size(tmp_path, rotation):
    base = clip(tmp_path / "base.mp4", size="64x32", frames=4, audio=False)
    src = tmp_path / "rotated.mp4"
    run_ffmpeg("-display_rotation", rotation, "-i", base, "-c", "copy", src)
    info = probe(src)
    size = (32, 64) if rotation in (90, 270) else (64, 32)
    assert (info.width, info.height) == size
    out = tmp_path / "out.mp4"
    round_trip(src, out)
    out_info = probe(out)
    assert (out_info.width, out_info.height) == size and out_info.rotation == 0
    a, b = read_frames(src), read_frames(out)
    assert len(a) == len(b) == 4 and np.abs(a[1].astype(int) - b[1]).mean() < 4


def test_two_audio_streams_are_both_copied_with_their_languages(tmp_path):
    src = tmp_path / "two.mkv"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
               "-f", "lavfi", "-i", "sine=frequency=880", "-map", "0", "-map", "1", "-map", "2", "-t", "0.8",
               "-c:v", "libx264", "-c:a:0", "aac", "-c:a:1", "libopus", "-metadata:s:a:0", "language=eng",
               "-metadata:s:a:1", "language=fra", src)  # fmt: skip
    for suffix in (".mkv", ".mp4"):
        out = tmp_path / f"out{suffix}"
        round_trip(src, out)
        audio = header(out).of_kind("audio")
        assert [a.codec for a in audio] == ["aac", "opus"] and [a.language for a in audio] == ["eng", "fra"]
        assert stream_md5(out, "a:0") == stream_md5(src, "a:0")
        assert stream_md5(out, "a:1") == stream_md5(src, "a:1")
        same_timing(src, out)


def test_audio_less_and_odd_sized_clip(tmp_path):
    src = clip(tmp_path / "odd.mkv", size="33x17", frames=7, audio=False, pix_fmt="yuv444p")
    out = tmp_path / "out.webm"  # VP9 stores odd sizes in 4:2:0 as they are
    round_trip(src, out)
    info = probe(out)
    assert (info.width, info.height) == (33, 17) and not info.has_audio and info.n_frames == 7
    same_timing(src, out)


def test_cli_keeps_offset_audio_bits_and_hdr(tmp_path):
    """End to end: the command line on a late-starting, 10-bit HDR HEVC clip with audio."""
    from vidanon.cli import main

    base = clip(tmp_path / "base.mp4", size="96x64", rate="30000/1001", frames=12, vcodec="libx265",
                pix_fmt="yuv420p10le", vf=HDR)  # fmt: skip
    src = tmp_path / "late_hdr.mp4"
    run_ffmpeg("-itsoffset", "0.5", "-i", base, "-i", base, "-map", "0:v", "-map", "1:a", "-c", "copy", src)
    out = tmp_path / "out.mp4"
    assert main([str(src), str(out), "-q"]) == 0
    v = header(out).video
    assert v.codec == "hevc" and v.pix_fmt == "yuv420p10le" and v.color_trc == "smpte2084"
    same_timing(src, out)
    assert abs(v.start - 0.5) < 1e-3
    assert stream_md5(out, "a:0") == stream_md5(src, "a:0")


def test_times_without_per_frame_statistics_come_from_the_packets(tmp_path, monkeypatch):
    """An ffmpeg before 6.1 (no -stats_enc_pre): the packets' times, in order."""
    import vidanon.media.reader

    src = clip(tmp_path / "vfr.mkv", rate="30", frames=30, vf="setpts='if(lt(N,10),N,10+(N-10)*2)/(30*TB)'",
               extra=("-fps_mode", "vfr"))  # fmt: skip
    with_stats = decoded_times(src)
    monkeypatch.setattr(vidanon.media.reader, "frame_stats_supported", lambda: False)
    assert decoded_times(src) == pytest.approx(with_stats) and len(with_stats) == 30


@pytest.mark.parametrize("name, vcodec, acodec", [("vp9.mp4", "libvpx-vp9", "libopus"), ("av1.mp4", "libsvtav1", "aac"),
                                                  ("vp9.webm", "libvpx-vp9", "libopus")])
def test_vp9_and_av1_inputs_with_opus_or_aac(tmp_path, name, vcodec, acodec):
    src = tmp_path / name
    extra = ["-cpu-used", "8", "-deadline", "realtime"] if vcodec == "libvpx-vp9" else ["-preset", "12"]
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30", "-f", "lavfi", "-i", "sine=duration=0.5",
               "-frames:v", "15", "-c:v", vcodec, *extra, "-c:a", acodec, src)  # fmt: skip
    out = tmp_path / ("out" + src.suffix)
    round_trip(src, out)
    same_timing(src, out)
    assert stream_md5(out, "a:0") == stream_md5(src, "a:0")  # Opus and AAC go into MP4 and Opus into WebM as they are


@pytest.mark.parametrize("container", ["ts", "m2ts"])
def test_video_starting_after_the_audio_in_mpeg_ts_stays_behind_it(tmp_path, container):
    """MPEG-TS (and a camcorder's .m2ts) whose video starts 0.5 s after the audio: ffmpeg,
    left to itself, counts such a video's times from its own first frame, not from the
    file's start, which put the output's video 0.5 s early against the audio."""
    base = clip(tmp_path / "base.mp4", frames=25, audio=False)
    src = tmp_path / f"late.{container}"
    run_ffmpeg("-i", base, "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=2", "-map", "0:v", "-map", "1:a",
               "-vf", "setpts=PTS+0.5/TB", "-c:v", "libx264", "-c:a", "aac", src)  # fmt: skip
    lead_in = header(src).video.start - min(audio_starts(src))
    assert lead_in > 0.45
    t_in, _ = video_times(src)
    assert t_in[0] == pytest.approx(header(src).video.start - header(src).start, abs=1e-3)
    out = tmp_path / "out.mkv"
    round_trip(src, out)
    assert header(out).video.start - min(audio_starts(out)) == pytest.approx(lead_in, abs=2e-3)
    t_out, _ = video_times(out)
    assert_same_times(t_in, t_out, 1 / 1000)


def test_an_mpeg_ts_starting_mid_way_through_a_group_of_pictures_stays_in_sync(tmp_path):
    """A capture or a cut download starts with pictures that cannot be decoded (before the first
    key frame): the video came out early against the audio by their length (1.8 s; found by a
    QA sweep). ffmpeg's own copy is the reference."""
    full = tmp_path / "full.ts"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=12", "-f", "lavfi", "-i", "sine=duration=3",
               "-t", "3", "-c:v", "libx264", "-g", "24", "-c:a", "aac", full)  # fmt: skip
    data = full.read_bytes()
    src = tmp_path / "cut.ts"
    src.write_bytes(data[188 * (len(data) // 188 // 4) :])  # a quarter in, at a packet's start
    assert len(decoded_times(src)) < 36 - 6  # the first group of pictures, cut, is not decoded
    ref, out = tmp_path / "copy.mp4", tmp_path / "out.mp4"
    run_ffmpeg("-i", src, "-c", "copy", ref)
    round_trip(src, out)
    (got, _), (want, _) = video_times(out), video_times(ref)
    assert audio_starts(out) == audio_starts(ref) and abs(got[0] - want[0]) < 0.01, (got[0], want[0])


@pytest.mark.parametrize("suffix", [".mkv", ".webm"])
def test_two_mpeg_ts_files_joined_end_to_end_keep_their_frames_in_order(tmp_path, suffix):
    """cat a.ts b.ts: the clock restarts in the middle. ffmpeg repairs it when it counts the
    times itself; read as the file has them (-copyts) the times ran backwards, the clip was
    taken for variable-rate and the output's muxer complained. Its audio, copied (.mkv) or
    re-encoded (.webm: Opus), stopped at the restart (found by a QA sweep: 1.0 s of 2.9 s)."""
    part = clip(tmp_path / "part.mp4", frames=25)
    run_ffmpeg("-i", part, "-c:v", "libx264", "-c:a", "aac", "-f", "mpegts", tmp_path / "a.ts")
    joined = tmp_path / "joined.ts"
    joined.write_bytes((tmp_path / "a.ts").read_bytes() * 2)
    info = probe(joined)
    times, _ = video_times(joined)
    assert info.packets.count == 50 and not info.variable_rate and (np.diff(times) > 0).all()
    out = tmp_path / f"out{suffix}"
    round_trip(joined, out)
    t_out = decoded_times(out)
    assert len(t_out) == 50 and (np.diff(t_out) > 0).all() and info.clock_restarts
    # the whole audio, each packet after the one before it, as long as ffmpeg's own remux's
    ref = tmp_path / "remuxed.mkv"
    run_ffmpeg("-i", joined, "-c", "copy", ref)
    got, want = (stream_packets(p, "a") for p in (out, ref))
    times = [int(line.split(",")[2]) for line in got]
    assert (np.diff(times) > 0).all(), times
    if suffix == ".mkv":  # copied: every packet, its data as it was
        assert [line.split(",")[-1] for line in got] == [line.split(",")[-1] for line in want]
    span = lambda lines: int(lines[-1].split(",")[2]) - int(lines[0].split(",")[2])  # noqa: E731
    # (ms in .mkv and .webm; Opus: 20 ms packets and its own delay, against 23 ms of AAC; cut: 1000 ms short)
    assert abs(span(got) - span(want)) <= 60, (span(got), span(want))
    whole = tmp_path / "whole.ts"  # one stream cut in two and joined again: its clock goes on
    run_ffmpeg("-i", tmp_path / "a.ts", "-c", "copy", "-f", "segment", "-segment_time", "0.5",
               tmp_path / "seg%d.ts")  # fmt: skip
    whole.write_bytes(b"".join(p.read_bytes() for p in sorted(tmp_path.glob("seg*.ts"))))
    assert not probe(whole).clock_restarts and not probe(tmp_path / "a.ts").clock_restarts


@pytest.mark.parametrize("container", ["ts", "mkv"])
def test_file_starting_late_keeps_its_first_frame(tmp_path, container):
    """MPEG-TS files start at 1.4 s, many .mkv at 0.033 s: every frame comes out, the first
    one first, at the same times from the file's start."""
    base = clip(tmp_path / "base.mp4", frames=25)
    src = tmp_path / f"late.{container}"
    run_ffmpeg("-i", base, "-c:v", "libx264", "-c:a", "aac", "-output_ts_offset", "0.5", src)
    assert header(src).start > 0.4
    out = tmp_path / "out.mp4"
    round_trip(src, out)
    a, b = read_frames(src), read_frames(out)
    assert len(a) == len(b) == 25
    shifted = [np.abs(np.asarray(x, int) - np.asarray(y)).mean() for x, y in zip(a[1:], b)]
    same = [np.abs(np.asarray(x, int) - np.asarray(y)).mean() for x, y in zip(a, b)]
    assert max(same) < 3.0 < max(shifted)  # frame k is frame k, not k + 1
    start_in, start_out = header(src).start, header(out).start or 0.0
    t_in = [t - start_in for t in decoded_times(src)]
    t_out = [t - start_out for t in decoded_times(out)]
    assert_same_times(t_in, t_out, 1 / 1000)


@pytest.mark.parametrize("kind", ["plain", "rotated", "interlaced", "skip"])
def test_8bit_video_keeps_its_brightness_outside_the_masks(tmp_path, kind):
    """swscale's default YUV to RGB conversion (what the detector sees) comes out a mean luma
    level darker; what is written is the exactly rounded conversion, by the writer and by a
    whole run (no face in the pattern: nothing masked), also when ffmpeg turns the picture
    upright (it converted before turning, once for both), converts it field by field or
    starts at a later frame (a --segments part)."""
    extra = ("-crf", "0", "-flags", "+ildct+ilme", "-x264-params", "tff=1") if kind == "interlaced" else ("-crf", "0")
    src = clip(tmp_path / "in.mp4", size="320x240", frames=4, vcodec="libx264", extra=extra)
    if kind == "rotated":
        run_ffmpeg("-display_rotation", "90", "-i", src, "-c", "copy", tmp_path / "rot.mp4")
        src = tmp_path / "rot.mp4"
    info = probe(src)
    assert (info.upright_field_order is not None) == (kind == "interlaced")
    skip = 2 if kind == "skip" else 0
    frames = list(FrameReader(info, skip=skip))
    assert len(frames) == 4 - skip
    for frame in frames:
        assert frame.exact is not None and frame.picture is frame.exact and frame.copy().exact is None
        # the detector's copy is the same picture, a level darker on average
        assert 0.5 < (frame.exact.astype(int) - frame).mean() < 2 and np.abs(frame.astype(int) - frame.exact).max() <= 6
    out, run = tmp_path / "out.mp4", tmp_path / "run.mp4"
    round_trip(src, out, crf=0)
    vidanon.anonymize(src, run, crf=0)
    a = np.frombuffer(native_planes(src, 1), np.uint8)[: 320 * 240].astype(int)  # luma (of the upright picture)
    for path in (out, run):
        d = np.frombuffer(native_planes(path, 1), np.uint8)[: 320 * 240].astype(int) - a
        near = 0.3 if kind == "interlaced" else 0.2  # chroma by fields: a little less exact
        assert abs(d.mean()) < 0.1 and np.abs(d).mean() < near, (path.name, d.mean(), np.abs(d).mean())
