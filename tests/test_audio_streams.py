"""The audio of every container into every other: copied bit for bit where the output takes
the codec, otherwise re-encoded (losslessly where it can be) and said. Inputs are generated
here with the bundled ffmpeg, tiny; most cases go through the video layer only
(:func:`media.round_trip`)."""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from conftest import ffmpeg
from media import decoded_times, header, round_trip, run_ffmpeg, stream_md5


def av_clip(path, acodec, seconds=0.4, rate=44100, layout="stereo", extra=()):
    """A test pattern with a tone encoded as ``acodec``."""
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i",
               f"sine=frequency=440:sample_rate={rate}:duration={seconds},aformat=channel_layouts={layout}",
               "-frames:v", str(round(seconds * 25)), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", acodec,
               *extra, path)  # fmt: skip
    return path


def samples(path, k=0) -> np.ndarray:
    """The decoded samples of audio stream ``k`` as 64-bit floats (exact for every PCM depth)."""
    raw = subprocess.run([ffmpeg(), "-v", "error", "-i", str(path), "-map", f"0:a:{k}", "-f", "f64le", "-"],
                         capture_output=True, check=True).stdout  # fmt: skip
    return np.frombuffer(raw, np.float64)


def test_quicktime_only_audio_into_matroska_is_converted_not_a_failure(tmp_path):
    """Matroska takes any codec with a Matroska or a WAV tag, not QuickTime's own (IMA4 ADPCM,
    big-endian float PCM, signed 8-bit PCM): ffmpeg failed once every frame was encoded.
    PCM becomes the little-endian PCM of the same samples, the rest AAC."""
    for acodec, written in (("pcm_f32be", "pcm_f32le"), ("pcm_s8", "pcm_u8"), ("adpcm_ima_qt", "aac")):
        src = av_clip(tmp_path / f"{acodec}.mov", acodec)
        out = tmp_path / f"{acodec}.mkv"
        round_trip(src, out)
        (audio,) = header(out).of_kind("audio")
        assert audio.codec == written
        if written.startswith("pcm"):
            assert np.array_equal(samples(out), samples(src))


def test_quicktime_pcm_stays_as_it_is_in_mov(tmp_path):
    """QuickTime's PCM (big-endian 'twos' and 'in24', float 'fl32', 8-bit, A-law) and IMA4 were
    re-encoded to AAC in a MOV, which holds them all."""
    for acodec in ("pcm_s16be", "pcm_s24be", "pcm_f32le", "pcm_u8", "pcm_alaw", "adpcm_ima_qt"):
        src = av_clip(tmp_path / f"{acodec}.mov", acodec)
        out = tmp_path / f"{acodec}_out.mov"
        round_trip(src, out)
        assert header(out).of_kind("audio")[0].codec == acodec
        assert stream_md5(out, "a:0") == stream_md5(src, "a:0")
    # a phone's 3GP call recording: AMR-NB was re-encoded to AAC, with a warning that MOV cannot hold it
    src = av_clip(tmp_path / "call.3gp", "libopencore_amrnb", rate=8000, layout="mono")
    _, writer = round_trip(src, tmp_path / "call.mov")
    assert header(tmp_path / "call.mov").of_kind("audio")[0].codec == "amr_nb" and writer.plan.warning(".mov") is None
    assert stream_md5(tmp_path / "call.mov", "a:0") == stream_md5(src, "a:0")


def test_avi_keeps_its_own_audio_as_it_is(tmp_path):
    """AVI's PCM (8-bit: old digital cameras; 24-bit; float; A-law), its ADPCM and MPEG layer II
    were re-encoded to MP3 (lossy, and 23 ms late: MP3's encoder delay) in an AVI, which holds them."""
    for acodec in ("pcm_u8", "pcm_s24le", "pcm_f32le", "pcm_alaw", "adpcm_ima_wav", "adpcm_ms", "mp2"):
        src = av_clip(tmp_path / f"{acodec}.avi", acodec, rate=22050, layout="mono", extra=("-bf", "0"))
        out = tmp_path / f"{acodec}_out.avi"
        round_trip(src, out)
        assert header(out).of_kind("audio")[0].codec == acodec
        assert stream_md5(out, "a:0") == stream_md5(src, "a:0")
    src = av_clip(tmp_path / "be.mov", "pcm_s24be", rate=22050)  # a byte order AVI does not take: the same samples
    round_trip(src, tmp_path / "be.avi")
    assert header(tmp_path / "be.avi").of_kind("audio")[0].codec == "pcm_s24le"
    assert np.array_equal(samples(tmp_path / "be.avi"), samples(src))


def test_re_encoded_audio_is_said(tmp_path, run):
    """Audio the output cannot hold as it is was re-encoded without a word (24-bit PCM into
    .mp4 came out as AAC); the warning names each re-encoded stream, and a copy says nothing."""
    src = av_clip(tmp_path / "two.mkv", "pcm_s24le", extra=("-map", "0:v", "-map", "1:a", "-map", "1:a", "-map", "1:a",
                                                          "-c:a:1", "aac", "-c:a:2", "aac"))  # fmt: skip
    code, err = run(src, tmp_path / "out.mp4")
    assert code == 0 and err == "vidanon: warning: .mp4 cannot hold everything of the input as it is; " \
                                "re-encoded: 1 audio stream (pcm_s24le to AAC)", err  # fmt: skip
    assert [a.codec for a in header(tmp_path / "out.mp4").of_kind("audio")] == ["aac", "aac", "aac"]
    code, err = run(src, tmp_path / "out.mkv")
    assert code == 0 and err == "", err
    code, err = run(src, tmp_path / "out.webm")
    assert code == 0 and err.endswith("re-encoded: 3 audio streams (pcm_s24le, aac to Opus)"), err


def test_mp4_track_titles_are_kept_as_titles(tmp_path):
    """An MP4 track's title (read by ffmpeg as 'name', written from 'title') was lost in an MP4
    or MOV and became a NAME tag in Matroska, which players do not show in their track menus."""
    src = av_clip(tmp_path / "titled.mp4", "aac", extra=(
        "-map", "0:v", "-map", "1:a", "-map", "1:a", "-metadata:s:a:0", "title=Original",
        "-metadata:s:a:1", "title=Director's commentary", "-metadata:s:a:1", "language=fra"))  # fmt: skip
    assert [a.metadata.get("name") for a in header(src).of_kind("audio")] == ["Original", "Director's commentary"]
    for suffix in (".mkv", ".mp4", ".mov"):
        out = tmp_path / f"out{suffix}"
        round_trip(src, out)
        audio = header(out).of_kind("audio")
        key = "title" if suffix == ".mkv" else "name"
        assert [a.metadata.get(key) for a in audio] == ["Original", "Director's commentary"]
        assert audio[1].language == "fra"
        assert not any("NAME" in a.metadata for a in audio)


def test_languages_are_kept_in_mov(tmp_path):
    """MOV stores a language as a Macintosh language code, which ffmpeg finds by one spelling
    of each language: German, French and Chinese audio tagged 'deu', 'fre', 'zho' (the other
    ISO 639-2 spellings, common in Matroska) came out of a .mov with no language."""
    src = av_clip(tmp_path / "langs.mkv", "aac", extra=(
        "-map", "0:v", "-map", "1:a", "-map", "1:a", "-map", "1:a", "-metadata:s:a:0", "language=deu",
        "-metadata:s:a:1", "language=fre", "-metadata:s:a:2", "language=zho"))  # fmt: skip
    out = tmp_path / "out.mov"
    round_trip(src, out)
    assert [a.language for a in header(out).of_kind("audio")] == ["ger", "fra", "chi"]
    round_trip(src, tmp_path / "out.mp4")  # MP4 stores the code as it is
    assert [a.language for a in header(tmp_path / "out.mp4").of_kind("audio")] == ["deu", "fre", "zho"]


def beep_at(path, k=0) -> float:
    """When a file's beep starts, in seconds after its first video frame (decoded as players do,
    the audio placed at its own start time)."""
    raw = subprocess.run([ffmpeg(), "-v", "error", "-copyts", "-i", str(path), "-map", f"0:a:{k}", "-af",
                          "aresample=48000:first_pts=0,pan=mono|c0=c0", "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout  # fmt: skip
    loud = np.flatnonzero(np.abs(np.frombuffer(raw, np.float32)) > 0.1)
    assert len(loud), f"no beep in {path}"
    onset = loud[0] / 48000
    video = subprocess.run([ffmpeg(), "-v", "error", "-copyts", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f",
                            "framecrc", "-"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    tb = Fraction([line for line in video.splitlines() if line.startswith("#tb")][0].split(":", 1)[1].strip())
    first = min(int(line.split(",")[2]) for line in video.splitlines() if line and not line.startswith("#"))
    return onset - float(first * tb)


def test_avi_keeps_audio_in_sync_with_a_video_starting_late_or_early(tmp_path):
    """AVI stores no start times and starts every stream together: a video starting 0.5 s after
    its audio came out with its first frame at once and the rest late; audio starting 0.5 s
    after the video came out 0.5 s early. The audio is now trimmed or padded to start with the
    first frame (its 16-bit PCM stays 16-bit PCM), and what was trimmed is said."""
    beep = "aevalsrc=if(between(t\\,0.8\\,0.9)\\,0.8*sin(2*PI*1000*t)\\,0):s=48000:d=1.6"
    base = tmp_path / "base.mov"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i", beep, "-frames:v", "40",
               "-c:v", "libx264", "-bf", "0", "-c:a", "pcm_s16le", base)  # fmt: skip
    for name, late in (("video_late", 0), ("audio_late", 1)):
        src = tmp_path / f"{name}.mov"
        run_ffmpeg(*(("-itsoffset", "0.5") if not late else ()), "-i", base,
                   *(("-itsoffset", "0.5") if late else ()), "-i", base, "-map", "0:v", "-map", "1:a", "-c", "copy", src)
        out = tmp_path / f"{name}.avi"
        _, writer = round_trip(src, out)
        assert abs(beep_at(out) - beep_at(src)) < 0.002, (name, beep_at(out), beep_at(src))
        assert header(out).of_kind("audio")[0].codec == "pcm_s16le"
        trimmed = [said for said in writer.plan.left_out if "before the first frame" in said]
        assert bool(trimmed) == (not late), writer.plan.left_out
        assert decoded_times(out) == decoded_times(base)  # every frame in its slot from the first


def test_blu_ray_and_dvd_pcm_keep_their_samples(tmp_path):
    """The LPCM of Blu-ray and AVCHD camcorders (.m2ts) and of DVDs (.vob) has no tag in
    Matroska, MOV or AVI: a .mkv output failed (exit 5, 'No wav codec tag'), the others got
    AAC or MP3. They are written as the container's PCM of the same depth, the same samples."""
    for name, acodec, fmt in (("camcorder.m2ts", "pcm_bluray", "mpegts"), ("disc.vob", "pcm_dvd", "vob")):
        src = tmp_path / name
        run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i",
                   "sine=frequency=440:sample_rate=48000:duration=0.4", "-frames:v", "10", "-c:v", "mpeg2video",
                   "-ac", "2", "-c:a", acodec, "-sample_fmt", "s32", "-f", fmt, src)  # fmt: skip
        for suffix in (".mkv", ".mov", ".avi"):
            out = tmp_path / f"{name}{suffix}"
            round_trip(src, out)
            assert header(out).of_kind("audio")[0].codec == "pcm_s24le", (name, suffix)
            assert np.array_equal(samples(out), samples(src)), (name, suffix)


def test_flash_video_audio_into_matroska_is_re_encoded_not_a_failure(tmp_path):
    """An old .flv's Nellymoser or Flash ADPCM audio has no Matroska or WAV tag: a .mkv output
    failed (exit 5)."""
    for acodec in ("nellymoser", "adpcm_swf"):
        src = tmp_path / f"{acodec}.flv"
        run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i",
                   "sine=frequency=440:sample_rate=22050:duration=0.4", "-frames:v", "10", "-c:v", "flv1", "-ac", "1",
                   "-c:a", acodec, src)  # fmt: skip
        round_trip(src, tmp_path / f"{acodec}.mkv")
        assert header(tmp_path / f"{acodec}.mkv").of_kind("audio")[0].codec == "aac"


def test_layouts_the_encoder_does_not_take_are_remixed_not_a_failure(tmp_path):
    """AAC takes no height channels (5.1.2, 7.1.4) and neither AAC nor Opus more than 8
    channels (22.2): PCM of such layouts written to .mp4 or .webm failed (exit 5, 'Unsupported
    channel layout'). A layout of up to 8 channels is remixed to the encoder's of its count,
    more are downmixed to 7.1 and said."""
    for layout, channels in (("5.1.2", 8), ("22.2", 8)):
        src = av_clip(tmp_path / f"{layout}.mov", "pcm_s16le", layout=layout, seconds=0.2)  # MOV keeps the layout
        for suffix in (".mp4", ".webm"):
            if layout == "5.1.2" and suffix == ".webm":
                continue  # remixed for Opus before
            out = tmp_path / f"{layout}{suffix}"
            _, writer = round_trip(src, out)
            (audio,) = header(out).of_kind("audio")
            assert audio.codec == ("aac" if suffix == ".mp4" else "opus") and ", 7.1," in audio.line, audio.line
            downmixed = [said for said in writer.plan.left_out if "downmixed to 7.1" in said]
            assert bool(downmixed) == (layout == "22.2"), writer.plan.left_out


def test_audio_ffmpeg_cannot_decode_is_copied_or_left_out_not_a_failure(tmp_path):
    """iPhones record spatial audio as an APAC track beside the AAC one; ffmpeg knows the codec
    but has no decoder. Every output failed (exit 5, 'Error opening output files: Invalid
    argument'): only MOV takes the track as it is, and nothing can re-encode it. It is now
    copied where the container takes it and otherwise left out and named; the AAC track stays."""
    made = av_clip(tmp_path / "made.mov", "aac", extra=("-map", "0:v", "-map", "1:a", "-map", "1:a", "-c:a:1", "pcm_s16le"))
    data = made.read_bytes()
    at = data.index(b"sowt")  # the PCM track's sample entry: made an APAC one
    src = tmp_path / "iphone.mov"
    src.write_bytes(data[:at] + b"apac" + data[at + 4 :])
    assert [a.codec for a in header(src).of_kind("audio")] == ["aac", "apple_apac"]
    _, writer = round_trip(src, tmp_path / "out.mov")
    assert [a.codec for a in header(tmp_path / "out.mov").of_kind("audio")] == ["aac", "apple_apac"]
    assert stream_md5(tmp_path / "out.mov", "a:1") == stream_md5(src, "a:1") and not writer.plan.left_out
    for suffix in (".mp4", ".mkv"):
        out = tmp_path / f"out{suffix}"
        _, writer = round_trip(src, out)
        assert [a.codec for a in header(out).of_kind("audio")] == ["aac"]
        assert stream_md5(out, "a:0") == stream_md5(src, "a:0")
        assert writer.plan.warning(suffix).endswith("left out: 1 audio stream (apple_apac, which ffmpeg cannot decode)")


def test_avi_frames_stay_at_their_times_beside_mp3_audio(tmp_path):
    """MP3's encoder delay gives its first packet a negative time; ffmpeg's AVI muxer then moved
    every stream later by it, and in AVI, which stores a frame's slot and no time, every frame
    but the first came out one or two slots late (at 25 fps: 80 ms against the audio)."""
    src = av_clip(tmp_path / "in.mp4", "aac", seconds=0.4, rate=48000)  # AAC: MP3 in AVI
    out = tmp_path / "out.avi"
    round_trip(src, out)
    assert header(out).of_kind("audio")[0].codec == "mp3"
    # the times a plain decoder (and the players built on it) shows the frames at
    shown = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(out), "-map", "0:v", "-vf", "showinfo", "-f", "null",
                            "-"], capture_output=True, text=True).stderr  # fmt: skip
    times = [float(t) for t in re.findall(r"pts_time:(-?[\d.]+)", shown)]
    assert times == pytest.approx([k / 25 for k in range(10)], abs=1e-3)


def test_avi_parts_join_without_a_gap(tmp_path):
    """--segments into .avi: each part's first frame took slot 0 of its file and the others
    their slots in the whole video, so the second part's frames came after a gap as long as the
    first part (a 6 s video came out 9 s long, its second half 3 s behind the audio)."""
    from vidanon.media.join import join_parts
    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader
    from vidanon.media.writer import VideoWriter

    info = probe(av_clip(tmp_path / "in.mp4", "aac", seconds=1.2))
    parts = [tmp_path / "part0.avi", tmp_path / "part1.avi"]
    for part, skip in zip(parts, (0, 15)):  # as a segmented run writes them: no audio, no extras
        writer = VideoWriter(part, info.width, info.height, info.fps, "avi", source=info, extras=False)
        for frame in FrameReader(info, skip=skip, limit=15):
            writer.write(frame)
        writer.close()
    out = tmp_path / "joined.avi"
    join_parts(parts, out, "avi", info, source=info)
    shown = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(out), "-map", "0:v", "-vf", "showinfo", "-f", "null",
                            "-"], capture_output=True, text=True).stderr  # fmt: skip
    times = [float(t) for t in re.findall(r"pts_time:(-?[\d.]+)", shown)]
    assert times == pytest.approx([k / 25 for k in range(30)], abs=1e-3)


def test_re_encoded_audio_keeps_its_own_time_base(tmp_path):
    """The video's time base was given to every encoder (-enc_time_base without :v): audio
    re-encoded from an AVI, whose time base is its frame period, was stamped in whole frames.
    From a 5 fps AVI with PCM audio, a .webm held 21 ms of audio, an .mp4 its audio late."""
    beep = "aevalsrc=if(between(t\\,1\\,1.1)\\,0.8*sin(2*PI*1000*t)\\,0):s=44100:d=2"
    src = tmp_path / "slow.avi"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5", "-f", "lavfi", "-i", beep, "-frames:v", "10",
               "-c:v", "libx264", "-bf", "0", "-c:a", "pcm_s16le", src)  # fmt: skip
    for suffix in (".mp4", ".webm"):
        out = tmp_path / f"out{suffix}"
        round_trip(src, out)
        assert abs(beep_at(out) - beep_at(src)) < 0.002, suffix
        assert abs(len(samples(out)) / (44100 if suffix == ".mp4" else 48000) - 2) < 0.03, suffix


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_an_audio_stream_without_a_packet_is_left_out(tmp_path, suffix):
    """A dashcam's MPEG-TS with its microphone off declares an AAC stream and never fills it
    (ffmpeg: "aac, 0 channels"): every muxer refused it ("sample rate not set", exit 5, no
    output); it is left out with a warning."""
    full = tmp_path / "va.ts"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=15", "-f", "lavfi", "-i", "sine=sample_rate=48000",
               "-t", "1", "-c:v", "libx264", "-c:a", "aac", "-shortest", full)  # fmt: skip
    data = full.read_bytes()
    packets = [data[i : i + 188] for i in range(0, len(data), 188)]
    audio_pid = 0x101  # ffmpeg's second elementary stream
    src = tmp_path / "muted.ts"
    src.write_bytes(b"".join(p for p in packets if ((p[1] & 0x1F) << 8 | p[2]) != audio_pid))
    assert "0 channels" in header(src).of_kind("audio")[0].line
    out = tmp_path / f"out{suffix}"
    _, writer = round_trip(src, out)
    assert writer.plan.warning(suffix) == "an audio stream of the input (aac) holds no sound (0 channels): left out"
    assert not header(out).of_kind("audio") and len(decoded_times(out)) == 15


def test_a_broadcast_recordings_other_channels_are_left_out(tmp_path):
    """An MPEG-TS of two programmes (a DVB recording of two channels): the video anonymized is
    the first programme's, and the second's audio was copied beside it as if it were the same
    channel's; it is left out, and said."""
    src = tmp_path / "dvb.ts"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
               "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=frequency=880",
               "-map", "0:v", "-map", "1:a", "-map", "2:v", "-map", "3:a", "-t", "1", "-c:v", "libx264", "-c:a", "aac",
               "-program", "title=One:st=0:st=1", "-program", "title=Two:st=2:st=3", src)  # fmt: skip
    assert [s.programs for s in header(src).streams] == [(1,), (1,), (2,), (2,)]
    out = tmp_path / "out.mkv"
    _, writer = round_trip(src, out)
    assert len(header(out).of_kind("audio")) == 1
    assert np.array_equal(samples(out), samples(src, 0)) and not np.array_equal(samples(out), samples(src, 1))
    assert "the input's other programmes (broadcast channels) are left out: audio (aac)" in writer.plan.warning(".mkv")
