"""Issue 20: real-world files: subtitles, fonts, chapters, metadata, frame counts, paths,
and a quiet stderr. Inputs are generated here; the command line runs in this process
(the detector loads once)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import count_frames, file_hash, make_clip
from media import clip, decoded_times, ffmpeg, header, run_ffmpeg, stream_md5, video_times

from vidanon.media.probe import probe

SRT = "1\n00:00:00,000 --> 00:00:00,400\nhello\n\n2\n00:00:00,500 --> 00:00:00,900\nworld\n"
CHAPTERS = (";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\ntitle=first\n"
            "[CHAPTER]\nTIMEBASE=1/1000\nSTART=500\nEND=1000\ntitle=second\n")  # fmt: skip
TAGS = ("-metadata", "location=+48.8577+002.2950/", "-metadata", "make=Apple", "-metadata", "model=iPhone 15",
        "-metadata", "creation_time=2024-05-01T10:00:00Z", "-metadata", "title=Holiday")  # fmt: skip


def quiet(err: str) -> list[str]:
    """stderr holds only vidanon's own lines (TensorFlow's native start-up lines aside)."""
    lines = [line for line in re.split(r"[\r\n]", err) if line.strip()]
    lines = [line for line in lines if not re.search(r": +\d+%\|", line)]  # vidanon's progress bar
    lines = [line for line in lines if not line.startswith(("WARNING: All log messages", "I0000", "W0000", "E0000"))]
    for line in lines:
        assert line.startswith(("vidanon:", "FAILED")), f"not vidanon's: {line!r}"
    return lines


@pytest.fixture(scope="module")
def rich_mkv(tmp_path_factory):
    """A Matroska file with French audio, SubRip subtitles, a font, two chapters and tags."""
    folder = tmp_path_factory.mktemp("rich")
    (folder / "subs.srt").write_text(SRT)
    (folder / "chapters.txt").write_text(CHAPTERS)
    (folder / "font.ttf").write_bytes(b"not really a font, but carried as one")
    path = folder / "rich.mkv"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=duration=1",
               "-i", folder / "subs.srt", "-i", folder / "chapters.txt", "-map", "0:v", "-map", "1:a", "-map", "2",
               "-map_chapters", "3", "-frames:v", "25", "-c:v", "libx264", "-c:a", "aac", "-c:s", "srt",
               "-attach", folder / "font.ttf", "-metadata:s:t", "mimetype=application/x-truetype-font",
               "-metadata:s:a:0", "language=fra", "-metadata:s:s:0", "language=eng", *TAGS, path)  # fmt: skip
    return path


def test_subtitles_fonts_and_chapters_are_carried_or_reported(tmp_path, run_inprocess, rich_mkv):
    digest = file_hash(rich_mkv)
    out = tmp_path / "out.mkv"
    code, stdout, err = run_inprocess(rich_mkv, out)
    assert code == 0, err
    assert not quiet(err)  # Matroska takes everything: no warning at all
    h = header(out)
    assert [(s.kind, s.codec, s.language) for s in h.streams] == [
        ("video", "h264", None), ("audio", "aac", "fra"), ("subtitle", "subrip", "eng"), ("attachment", "ttf", None)]
    assert h.chapters == 2
    assert stream_md5(out, "s:0") == stream_md5(rich_mkv, "s:0")
    assert stream_md5(out, "a:0") == stream_md5(rich_mkv, "a:0")
    assert file_hash(rich_mkv) == digest

    mp4 = tmp_path / "out.mp4"
    code, stdout, err = run_inprocess(rich_mkv, mp4, "-q")
    assert code == 0, err
    h = header(mp4)
    assert [s.codec for s in h.of_kind("subtitle")] == ["mov_text"] and h.chapters == 2
    (warning,) = quiet(err)
    assert warning.startswith("vidanon: warning: .mp4 cannot hold") and "1 attachment (font.ttf)" in warning

    avi = tmp_path / "out.avi"
    code, stdout, err = run_inprocess(rich_mkv, avi, "-q")
    assert code == 0, err
    (warning,) = quiet(err)
    assert "1 subtitle stream (subrip)" in warning and "2 chapters" in warning and "attachment" in warning
    assert not header(avi).of_kind("subtitle")


@pytest.mark.parametrize("suffix", [".mov", ".mkv"])
def test_a_timecode_track_is_read_and_its_timecode_kept(tmp_path, run_inprocess, suffix):
    """Cameras and editors write a timecode track into MOV and MP4 files; ffmpeg 7.1 lists it
    under a "Stream group" line that moviepy's parser took for a stream: the file was refused
    as not a readable video."""
    base = clip(tmp_path / "base.mp4", frames=10)
    src = tmp_path / "camera.mov"
    run_ffmpeg("-i", base, "-c", "copy", "-timecode", "01:02:03:04", src)
    assert "Stream group" in subprocess.run([ffmpeg(), "-hide_banner", "-i", str(src)], capture_output=True,
                                            text=True).stderr  # fmt: skip
    out = tmp_path / f"out{suffix}"
    code, stdout, err = run_inprocess(src, out)
    assert code == 0, err
    assert not quiet(err)  # the timecode is kept: nothing to report
    assert count_frames(out) == 10
    tags = {k.lower(): v for k, v in header(out).video.metadata.items()}
    assert tags.get("timecode") == "01:02:03:04"
    code, stdout, err = run_inprocess(src, tmp_path / f"stripped{suffix}", "--strip-metadata", "-q")
    assert code == 0 and not quiet(err), err
    assert "timecode" not in {k.lower() for k in header(tmp_path / f"stripped{suffix}").video.metadata}
    code, stdout, err = run_inprocess(src, tmp_path / "out.avi", "-q")  # AVI has no timecode: said
    assert code == 0 and "1 data stream (timecode)" in err, err


def test_side_surround_audio_is_remixed_for_opus_in_webm(tmp_path, run_inprocess):
    """5.1(side), the usual layout of AC-3, E-AC-3 and FLAC, is not one Opus takes: WebM's
    audio is remixed to 5.1, each channel kept apart (ffmpeg failed, nothing written)."""
    tones = ";".join(f"sine=frequency={200 + 100 * k}:duration=1[a{k}]" for k in range(6))
    src = tmp_path / "surround.mkv"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-filter_complex",
               f"{tones};{''.join(f'[a{k}]' for k in range(6))}join=inputs=6:channel_layout=5.1(side)[a]",
               "-map", "0:v", "-map", "[a]", "-frames:v", "25", "-c:v", "libx264", "-c:a", "flac", src)  # fmt: skip
    assert "5.1(side)" in header(src).of_kind("audio")[0].line
    out = tmp_path / "out.webm"
    code, stdout, err = run_inprocess(src, out, "-q")
    assert code == 0, err
    (audio,) = header(out).of_kind("audio")
    assert audio.codec == "opus" and ", 5.1," in audio.line
    pcm = subprocess.run([ffmpeg(), "-v", "error", "-i", str(out), "-map", "0:a", "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout  # fmt: skip
    samples = np.frombuffer(pcm, np.float32).reshape(-1, 6)[2400:26400]
    peaks = [int(np.argmax(np.abs(np.fft.rfft(samples[:, c])))) * 48000 // len(samples) for c in range(6)]
    assert sorted(peaks) == [200, 300, 400, 500, 600, 700]  # six channels, six tones: none lost or merged
    code, stdout, err = run_inprocess(src, tmp_path / "out.avi", "-q")  # MP3: two channels at most
    assert code == 0, err
    (warning,) = quiet(err)
    assert "the surround channels of 5.1(side) audio (MP3 holds two: downmixed to stereo)" in warning


def test_a_creation_time_a_mov_holds_twice_is_kept(tmp_path, run_inprocess):
    """A MOV written with ffmpeg's use_metadata_tags holds its tags twice (user data and QuickTime
    keys): ffmpeg reads "2024-05-01T10:00:00.000000Z;2024-05-01T10:00:00Z", which no muxer takes
    as a date: every output lost its creation time, unsaid."""
    src = tmp_path / "twice.mov"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", 5, "-c:v", "libx264",
               "-metadata", "creation_time=2024-05-01T10:00:00Z", "-metadata", "title=Holiday",
               "-movflags", "use_metadata_tags", src)  # fmt: skip
    assert ";" in header(src).metadata["creation_time"]
    for name in ("out.mov", "out.mkv", "out.mp4"):
        code, _, err = run_inprocess(src, tmp_path / name, "-q")
        assert code == 0, err
        tags = header(tmp_path / name).metadata
        assert tags["creation_time"].startswith("2024-05-01T10:00:00") and ";" not in tags["creation_time"], name
        assert tags["title"] == "Holiday", name
    from vidanon.media.streams import one_value

    assert one_value("title", "Ha;Ha") == "Ha;Ha" and one_value("creation_time", ";") == ";"  # other tags as read


def test_identifying_metadata_is_removed_by_default_and_said(tmp_path, run_inprocess):
    """location, make and model go; title, creation time, language and chapters stay."""
    (tmp_path / "chapters.txt").write_text(CHAPTERS)
    src = tmp_path / "phone.mov"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=duration=1",
               "-i", tmp_path / "chapters.txt", "-map", "0:v", "-map", "1:a", "-map_chapters", "2", "-frames:v", "25",
               "-c:v", "libx264", "-c:a", "aac", "-metadata:s:a:0", "language=fra", *TAGS, src)  # fmt: skip
    tags = header(src).metadata
    assert {"location", "make", "model", "title", "creation_time"} <= set(tags)

    out = tmp_path / "out.mov"
    code, stdout, err = run_inprocess(src, out)
    assert code == 0, err
    assert not quiet(err)
    assert "metadata removed: location, make, model" in stdout
    h = header(out)
    assert h.metadata["title"] == "Holiday" and h.metadata["creation_time"].startswith("2024-05-01T10:00:00")
    assert not {"location", "make", "model"} & set(h.metadata)
    assert h.chapters == 2 and h.of_kind("audio")[0].language == "fra"

    kept = tmp_path / "kept.mkv"
    code, stdout, err = run_inprocess(src, kept, "--keep-metadata", "-q")
    assert code == 0, err
    tags = {k.lower(): v for k, v in header(kept).metadata.items()}
    assert tags["make"] == "Apple" and tags["model"] == "iPhone 15" and tags["location"].startswith("+48.8577")

    stripped = tmp_path / "stripped.mkv"
    code, stdout, err = run_inprocess(src, stripped, "--strip-metadata")
    assert code == 0, err
    h = header(stripped)
    assert not {k.lower() for k in h.metadata} - {"encoder"}  # only what the muxer writes
    assert h.chapters == 0 and h.of_kind("audio")[0].language is None
    assert "metadata removed:" in stdout and "title" in stdout


def test_a_broadcast_cameras_mxf_tags_naming_it_are_removed(tmp_path, run_inprocess):
    """MXF names the camera that wrote it (company, product, its version and ids, the material's
    UMIDs): kept under the default policy, in an .mkv, without a word (found by a QA sweep)."""
    src = tmp_path / "cam.mxf"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-frames:v", 5, "-c:v", "mpeg2video",
               "-pix_fmt", "yuv422p", "-b:v", "8M", src)  # fmt: skip
    utf16 = lambda text: text.encode("utf-16-be")  # noqa: E731
    src.write_bytes(src.read_bytes().replace(utf16("FFmpeg"), utf16("Canon ")).replace(utf16("OP1a Muxer"),
                                                                                       utf16("XF305 SN42")))
    naming = {"company_name", "product_name", "product_version_num", "product_uid", "toolkit_version_num", "uid",
              "generation_uid", "material_package_umid"}
    assert header(src).metadata["company_name"] == "Canon" and naming <= set(header(src).metadata)
    for suffix in (".mkv", ".mp4"):
        out = tmp_path / f"out{suffix}"
        code, stdout, err = run_inprocess(src, out)
        assert code == 0, err
        assert all(key in stdout for key in naming), stdout
        assert not naming & {k.lower() for k in header(out).metadata}


@pytest.mark.parametrize("suffix", [".mov", ".mp4", ".mkv"])
def test_an_iphones_quicktime_keys_keep_title_date_and_description(tmp_path, run_inprocess, suffix):
    """An iPhone writes its tags as QuickTime keys (com.apple.quicktime.*): the kept ones were
    handed to the MOV/MP4 muxer, which drops such keys unless told to write QuickTime
    metadata, and were lost without a word; the identifying ones go, and are said."""
    src = tmp_path / "iphone.mov"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", 5, "-c:v", "libx264",
               "-movflags", "use_metadata_tags", *[x for key, value in (
                   ("creationdate", "2024-06-01T12:34:56+0200"), ("title", "Holiday"), ("description", "Beach day"),
                   ("location.ISO6709", "+48.8584+002.2945+035.000/"), ("model", "iPhone 15"))
                   for x in ("-metadata", f"com.apple.quicktime.{key}={value}")], src)  # fmt: skip
    out = tmp_path / f"out{suffix}"
    code, stdout, err = run_inprocess(src, out)
    assert code == 0, err
    assert "metadata removed: com.apple.quicktime.location.ISO6709, com.apple.quicktime.model" in stdout
    tags = {k.lower(): v for k, v in header(out).metadata.items()}
    assert tags["com.apple.quicktime.title"] == "Holiday" and tags["com.apple.quicktime.description"] == "Beach day"
    assert tags["com.apple.quicktime.creationdate"] == "2024-06-01T12:34:56+0200"
    assert not any("location" in k or "model" in k for k in tags)


def test_an_android_phones_capture_rate_key_is_kept(tmp_path, run_inprocess):
    """Android writes its slow-motion rate as a QuickTime key (com.android.capture.fps): kept
    as the iPhone's are, its version (identifying) removed."""
    src = tmp_path / "android.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", 5, "-c:v", "libx264", "-movflags",
               "use_metadata_tags", "-metadata", "com.android.capture.fps=240.000000", "-metadata",
               "com.android.version=14", src)  # fmt: skip
    code, stdout, err = run_inprocess(src, tmp_path / "out.mp4")
    assert code == 0, err
    assert "metadata removed: com.android.version" in stdout
    assert header(tmp_path / "out.mp4").metadata.get("com.android.capture.fps") == "240.000000"


def test_a_cameras_telemetry_is_named_as_itself(tmp_path, run_inprocess):
    """A GoPro's telemetry track (GPMF, 'gpmd': its GPS among others) is left out, as every data
    stream is: said as itself, not as "bin_data", nor as something .mp4 could not hold (it can)."""
    (tmp_path / "t.srt").write_text("1\n00:00:00,000 --> 00:00:00,400\nGPS\n")
    sub = tmp_path / "sub.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-i", tmp_path / "t.srt", "-frames:v", 10,
               "-map", "0:v", "-map", "1:s", "-c:v", "libx264", "-c:s", "mov_text", sub)  # fmt: skip
    src = tmp_path / "gopro.mp4"  # its text track made a GPMF one, as a GoPro's reads
    src.write_bytes(sub.read_bytes().replace(b"sbtl", b"meta").replace(b"tx3g", b"gpmd"))
    assert header(src).streams[1].line.startswith("bin_data (gpmd")
    code, stdout, err = run_inprocess(src, tmp_path / "out.mp4", "-q")
    assert code == 0, err
    assert err.strip() == ("vidanon: warning: the data stream of the input (gpmd) is left out (vidanon copies no "
                           "data streams: a camera's telemetry may hold where it was)")


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_tags_the_muxer_has_no_box_for_are_said_or_kept(tmp_path, run_inprocess, suffix):
    """A kept tag that MP4 and MOV have no box of their own for (an editor's "note"; in a MOV
    "description" too) was dropped without a word, where an .mkv kept it (found by a QA sweep):
    it is said, and --keep-metadata writes it as QuickTime metadata (which would hide the title
    from players that read its own box: not done by default)."""
    src = tmp_path / "tags.mkv"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", 5, "-c:v", "libx264",
               "-metadata", "title=Holiday", "-metadata", "description=Beach day", "-metadata", "note=keep me", src)
    code, stdout, err = run_inprocess(src, tmp_path / f"out{suffix}")
    assert code == 0, err
    dropped = "1 tag (NOTE" if suffix == ".mp4" else "2 tags (NOTE, DESCRIPTION"  # (Matroska's tags: upper case)
    assert (f"left out: {dropped}: {suffix[1:]} keeps them only as QuickTime metadata, which --keep-metadata "
            "writes)") in err, err
    tags = {k.lower(): v for k, v in header(tmp_path / f"out{suffix}").metadata.items()}
    assert tags["title"] == "Holiday" and "note" not in tags
    code, stdout, err = run_inprocess(src, tmp_path / f"kept{suffix}", "--keep-metadata")
    tags = {k.lower(): v for k, v in header(tmp_path / f"kept{suffix}").metadata.items()}
    assert tags["title"] == "Holiday" and tags["description"] == "Beach day" and tags["note"] == "keep me"


@pytest.mark.parametrize("suffix", [".mkv", ".webm"])
def test_vfr_in_matroska_keeps_sync_and_the_count_comes_from_packets(tmp_path, run_inprocess, suffix):
    """The issue's clip: 67 frames of a variable rate over 3 s of audio."""
    src = clip(tmp_path / f"vfr{suffix}", rate="30", frames=67, vcodec="libvpx-vp9" if suffix == ".webm" else "libx264",
               vf="setpts='if(lt(N,30),N,30+(N-30)*2)/(30*TB)'", extra=("-fps_mode", "vfr"))  # fmt: skip
    info = probe(src)
    assert info.n_frames == 67 == len(decoded_times(src))  # what the progress bar counts to
    out = tmp_path / f"out{suffix}"
    code, stdout, err = run_inprocess(src, out, "-q")
    assert code == 0, err
    assert not quiet(err)
    t_in, _ = video_times(src)
    t_out, _ = video_times(out)
    assert len(t_out) == 67 and max(abs(t_in - t_out)) <= 0.001
    a_in, a_out = header(src).of_kind("audio")[0], header(out).of_kind("audio")[0]
    assert a_out.codec == a_in.codec and stream_md5(out, "a:0") == stream_md5(src, "a:0")


def test_progress_total_is_exact_at_59_94(tmp_path):
    for suffix in (".mp4", ".mkv"):
        src = clip(tmp_path / f"ntsc{suffix}", rate="60000/1001", frames=90, audio=False)
        assert probe(src).n_frames == 90 == count_frames(src)


def test_existing_folder_as_output_takes_the_input_name(tmp_path, run_inprocess):
    src = make_clip(tmp_path / "one.mp4", frames=3, audio=False)
    folder = tmp_path / "existing"
    folder.mkdir()
    code, stdout, err = run_inprocess(src, folder, "-q")
    assert code == 0, err
    assert count_frames(folder / "one.mp4") == 3
    # a name ending in / is a folder too: it must exist (or --mkdir)
    code, stdout, err = run_inprocess(src, f"{tmp_path / 'new'}/", "-q")
    assert code == 3 and "--mkdir" in err and not (tmp_path / "new").exists()
    code, stdout, err = run_inprocess(src, f"{tmp_path / 'new'}/", "-q", "--mkdir")
    assert code == 0 and count_frames(tmp_path / "new" / "one.mp4") == 3


def test_a_missing_input_among_several_is_reported_and_the_others_done(tmp_path, run_inprocess):
    a = make_clip(tmp_path / "a.mp4", frames=3, audio=False)
    b = shutil.copy(a, tmp_path / "b.mp4")
    out = tmp_path / "out"  # a folder named with -o is created: that is batch mode
    code, stdout, err = run_inprocess(a, tmp_path / "missing.mp4", b, "-o", out)
    assert code == 1
    assert count_frames(out / "a.mp4") == 3 and count_frames(out / "b.mp4") == 3
    assert "missing.mp4" in err and "does not exist" in err
    assert "3 files: 2 done, 1 failed" in stdout
    code, stdout, err = run_inprocess(tmp_path / "missing.mp4", tmp_path / "gone.mp4", "-o", out)
    assert code == 2 and "none of the inputs exist" in err
