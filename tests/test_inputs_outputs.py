"""Inputs and outputs at the edges (issue 31): RGB-coded video, extreme frame rates and
sizes, raw streams, file names that look like URLs, playlists, long output names, two runs
writing one output, running out of memory or disk. Inputs are made by the bundled ffmpeg."""

import os
import resource
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import count_frames, file_hash, make_clip, vidanon_lines
from media import header, round_trip, run_ffmpeg, video_times

from vidanon import cli
from vidanon.errors import InputError, OutputError
from vidanon.media import paths
from vidanon.media import probe as probe_module
from vidanon.media.probe import MAX_PIXELS, check_frame_size, probe
from vidanon.pipeline import anonymize

TESTSRC = ("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25")


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------------- 4: RGB-coded video
@pytest.mark.parametrize("name, codec", [("png.mov", ("-c:v", "png")), ("bgr0.mkv", ("-c:v", "ffv1", "-pix_fmt", "bgr0")),
                                         ("x264rgb.mkv", ("-c:v", "libx264rgb")), ("png.mkv", ("-c:v", "png"))])  # fmt: skip
def test_rgb_coded_inputs_are_written_as_bt709_yuv(tmp_path, name, codec):
    src = tmp_path / name
    run_ffmpeg(*TESTSRC, "-frames:v", 5, *codec, src)
    assert probe(src).color_space == "gbr" or probe(src).pix_fmt.startswith(("rgb", "bgr", "gbr"))
    out = tmp_path / "out.mp4"
    round_trip(src, out)  # failed: "-colorspace gbr", which libx264 refuses
    video = header(out).video
    assert (video.color_space, video.color_range) == ("bt709", "tv")
    assert count_frames(out) == 5
    before, after = np.stack([f.copy() for f in _frames(src)]), np.stack([f.copy() for f in _frames(out)])
    assert np.abs(before.astype(int) - after.astype(int)).mean() < 6  # the same picture (x264's loss only)


def _frames(path):
    from vidanon.media.reader import FrameReader

    return FrameReader(probe(path))


# ---------------------------------------------------------------------------- 6: very low frame rates
def test_one_frame_an_hour_keeps_its_exact_rate(tmp_path):
    src = tmp_path / "slow.mkv"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=1/3600", "-frames:v", 10, "-c:v", "libx264", src)
    info = probe(src)  # ffmpeg prints "0.0003 fps": was rounded to 0 (ZeroDivisionError)
    assert info.fps == Fraction(1, 3600) and info.n_frames == 10
    out = tmp_path / "out.mkv"
    round_trip(src, out)
    times, _ = video_times(out)
    assert len(times) == 10 and np.allclose(np.diff(times), 3600)


# ---------------------------------------------------------------------------- 7: size and memory
def test_huge_frames_are_refused_before_decoding(tmp_path, run):
    from vidanon.media.matroska import NS, mkv_frame_head, mkv_header

    src = tmp_path / "huge.mkv"  # 200 bytes that claim 16000x16000 frames (768 MB each as RGB)
    src.write_bytes(mkv_header(16000, 16000, False, NS // 25) + mkv_frame_head(0, 3) + b"\0\0\0")
    with pytest.raises(InputError, match="16000x16000"):
        probe(src)
    code, err = run(src, tmp_path / "out.mp4")
    err = vidanon_lines(err)
    assert code == 2 and len(err) == 1 and "megapixels" in err[0], err
    assert not (tmp_path / "out.mp4").exists()


def test_8k_is_taken(tmp_path):
    for size in ((7680, 4320), (8192, 4320), (4320, 7680), (16384, 2048)):
        check_frame_size(Path("x"), *size)
    for size in ((8192, 8192), (16385, 64), (16000, 16000)):
        with pytest.raises(InputError):
            check_frame_size(Path("x"), *size)
    assert 7680 * 4320 <= MAX_PIXELS
    src = tmp_path / "8k.mkv"
    run_ffmpeg("-f", "lavfi", "-i", "color=c=gray:size=7680x4320:rate=25", "-frames:v", 1, "-c:v", "libx264",
               "-preset", "ultrafast", src)  # fmt: skip
    assert (probe(src).width, probe(src).height) == (7680, 4320)


@pytest.mark.parametrize("error", ["memory", "tensorflow", "litert", "interrupt"])
def test_out_of_memory_and_interrupts_leave_nothing(tmp_path, run, monkeypatch, error):
    from vidanon.media.sink import FileSink

    def fail(self, frame, source=None):
        if error == "memory":
            raise MemoryError("Unable to allocate 768 MiB for an array")
        if error == "interrupt":
            raise cli.Interrupted(2)
        import tensorflow as tf

        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[8,3,4320,7680]")

    src = make_clip(tmp_path / "in.mp4", frames=3, audio=False)
    digest = file_hash(src)
    if error == "litert":  # LiteRT without memory: a RuntimeError with no message ("internal error", exit 70)
        from vidanon.detect.lite import LiteNet

        class Starved:
            def set_tensor(self, index, x):
                pass

            def invoke(self):
                raise RuntimeError("")

        monkeypatch.setattr(LiteNet, "_take", lambda self, shape: (Starved(), 0, []))
        monkeypatch.setattr(LiteNet, "_give", lambda self, shape, entry: None)  # none of its kind kept
    else:
        monkeypatch.setattr(FileSink, "write", fail)
    out = tmp_path / "out.mp4"
    code, err = run(src, out)
    err = vidanon_lines(err)
    if error == "interrupt":
        assert code == 130
    else:  # was "internal error: MemoryError" / 17 lines from TensorFlow, exit 70
        assert code == 5 and len(err) == 1 and "out of memory" in err[0], err
    assert not out.exists() and leftovers(tmp_path) == [] and file_hash(src) == digest


# ---------------------------------------------------------------------------- 8: two runs, one output
def test_a_second_run_on_the_same_output_is_refused(tmp_path, monkeypatch):
    """Run B starts while run A is writing (both passed the "exists" check): B is refused."""
    from vidanon.media.sink import FileSink

    src = make_clip(tmp_path / "in.mp4", frames=4, audio=False)
    out = tmp_path / "out.mp4"
    second: list = []
    write = FileSink.write

    def write_and_start_another(self, frame, source=None):
        if not second:
            second.append(None)  # once (B's own frames are written as usual)
            try:
                second[0] = anonymize(src, out)
            except OutputError as exc:
                second[0] = exc
        write(self, frame, source)

    monkeypatch.setattr(FileSink, "write", write_and_start_another)
    first = anonymize(src, out)
    assert isinstance(second[0], OutputError), second
    assert "already exists (an empty file: another run may be writing it" in str(second[0]), second
    assert first.frames == 4 and count_frames(out) == 4 and leftovers(tmp_path) == []


def test_the_claim_is_dropped_when_the_run_fails(tmp_path):
    out = tmp_path / "out.mp4"
    claim = paths.OutputClaim(out)
    with pytest.raises(OutputError):
        paths.OutputClaim(out)
    claim.release()
    assert not out.exists()
    out.write_bytes(b"finished")  # replaced by the output meanwhile: kept
    paths.OutputClaim(tmp_path / "other.mp4").release()
    assert out.read_bytes() == b"finished"


# ---------------------------------------------------------------------------- 9: long output names
def test_a_234_byte_output_name_works(tmp_path, run):
    src = make_clip(tmp_path / "in.mp4", frames=3, audio=False)
    out = tmp_path / ("é" * 115 + ".mp4")  # 234 bytes: the temporary name added 28 (> 255)
    assert len(out.name.encode()) == 234
    code, err = run(src, out)
    assert code == 0, err
    assert count_frames(out) == 3 and leftovers(tmp_path) == []
    for name in ("a" * 251 + ".mkv", "é" * 125 + ".mp4", "x.mp4"):
        tmp = paths.temp_path_for(tmp_path / name)
        assert len(tmp.name.encode()) <= 255 and tmp.name.startswith(".") and ".partial" in tmp.name
        tmp.name.encode().decode()  # cut on a whole character


@pytest.mark.parametrize("suffix, first", [(".mkv", "32:18,select=lt(n\\,3)"), (".mp4", "32:18,select=lt(n\\,3)"),
                                           (".mkv", "200:150,select=eq(n\\,0)")])  # fmt: skip
def test_the_video_stream_is_anonymized_not_a_preview_or_a_picture_before_it(tmp_path, run, suffix, first):
    """A 3-frame 32x18 preview before the video was anonymized and the 96x64 video dropped;
    a still picture stored as a one-frame video track is larger than the video but no video."""
    src = tmp_path / f"two{suffix}"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=0.48", "-map", "0:v", "-map", "0:v",
               "-filter:v:0", f"scale={first}", "-fps_mode:v:0", "passthrough", "-c:v", "libx264", src)  # fmt: skip
    info = probe(src)
    assert (info.width, info.height, info.n_frames, info.video_map) == (96, 64, 12, "0:1")
    out = tmp_path / f"out{suffix}"
    code, err = run(src, out)
    assert code == 0, err
    assert (probe(out).width, probe(out).height) == (96, 64) and count_frames(out) == 12
    other = first.split(",")[0].replace(":", "x")
    assert (f"warning: one video stream was anonymized (h264 96x64); the input's other video stream (h264 {other}) "
            "is left out") in err and "cannot hold" not in err  # fmt: skip


def test_a_video_stream_whose_frames_cannot_be_counted_is_still_a_candidate(tmp_path, monkeypatch):
    """The frames of each video stream are counted to tell a video from a still picture; a
    count that fails (a slow share, a timeout) made the main video count as none."""
    src = tmp_path / "two.mkv"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=0.48", "-map", "0:v", "-map", "0:v",
               "-filter:v:0", "scale=32:18,select=lt(n\\,3)", "-fps_mode:v:0", "passthrough", "-c:v", "libx264", src)  # fmt: skip
    real = probe_module.packet_times
    monkeypatch.setattr(probe_module, "packet_times", lambda ff, path, timeout=600, stream=None:
                        None if stream == 1 else real(ff, path, timeout, stream))  # fmt: skip
    assert probe(src).video_map == "0:1"


def test_a_broadcast_recording_with_two_programs_is_read(tmp_path, run):
    """An MPEG-TS of two channels lists its streams under each program, the shared audio
    twice: moviepy's parser failed on it ("not a readable video")."""
    src = tmp_path / "dvb.ts"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=0.4", "-f", "lavfi", "-i", "sine=duration=0.4",
               "-f", "lavfi", "-i", "testsrc2=size=48x32:rate=25:duration=0.4", "-map", "0:v", "-map", "1:a",
               "-map", "2:v", "-c:v", "libx264", "-c:a", "aac", "-program", "title=One:st=0:st=1",
               "-program", "title=Two:st=2:st=1", src)  # fmt: skip
    info = probe(src)
    assert [s.index for s in info.header.streams] == [0, 1, 2] and (info.width, info.n_frames) == (96, 10)
    out = tmp_path / "out.mkv"
    code, err = run(src, out)
    assert code == 0, err
    assert count_frames(out) == 10 and probe(out).has_audio and "other video stream (h264 48x32)" in err


def test_a_read_only_file_system_is_named_so(tmp_path, monkeypatch):
    """A camera's card or an ISO mounted read-only was reported as a permissions problem."""
    import types

    monkeypatch.setattr(paths.os, "access", lambda *a: False)
    monkeypatch.setattr(paths.os, "statvfs", lambda p: types.SimpleNamespace(f_flag=os.ST_RDONLY))
    with pytest.raises(OutputError, match=r"cannot write to the output folder .* \(it is on a read-only file system\)"):
        paths.prepare_folder(tmp_path)
    monkeypatch.setattr(paths.os, "statvfs", lambda p: types.SimpleNamespace(f_flag=0))
    with pytest.raises(OutputError, match=r"\(check its permissions\)"):
        paths.prepare_folder(tmp_path)


def a_finished_pid() -> int:
    """The pid of a process that has exited (no longer running)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_runs_temporary_files_are_listed_and_no_one_elses(tmp_path, monkeypatch):
    dead, worker, old = a_finished_pid(), a_finished_pid(), os.path.getmtime(tmp_path) - 3600

    def named_by(pid, make):  # a file name as the process ``pid`` makes it, through the real functions
        with monkeypatch.context() as m:
            m.setattr(os, "getpid", lambda: pid)
            return make()

    for name in ("out.mp4", "a" * 251 + ".mkv", "é" * 125 + ".mp4"):
        target = tmp_path / name
        stale = [named_by(dead, lambda: paths.AtomicOutput(target).tmp), named_by(dead, lambda: paths.part_path_for(target, 1))]
        if name == "out.mp4":  # (a long name has no room for both pids of these)
            stale += [
                # the join's list, named after the joined file's temporary file (vidanon.media.join)
                named_by(dead, lambda: paths.temp_path_for(paths.temp_path_for(target), "parts", ".txt")),
                # a part's own partial file, written by a worker process
                named_by(worker, lambda: paths.AtomicOutput(named_by(dead, lambda: paths.part_path_for(target, 0))).tmp),
            ]  # fmt: skip
        kept = [paths.temp_path_for(target),  # this process's
                named_by(os.getppid(), lambda: paths.temp_path_for(target)),  # a running one's
                named_by(dead, lambda: paths.temp_path_for(tmp_path / f"x{name}")),  # another output's
                named_by(dead, lambda: paths.temp_path_for(target.with_suffix(".json"))),  # its --save-tracks
                named_by(dead, lambda: paths.temp_path_for(target.with_suffix(".webm")))]  # fmt: skip
        for path in stale + kept:
            path.write_bytes(b"x" * 1000)
            os.utime(path, (old, old))
        fresh = named_by(dead, lambda: paths.part_path_for(target, 2))  # written a moment ago: maybe another machine's
        fresh.write_bytes(b"x")
        assert paths.stale_temp_files(target) == sorted(stale)
        said = paths.clear_stale_temp_files(target)
        assert said.startswith(f"removed {len(stale)} temporary files of an earlier run on {name} ") and "0.0 MB" in said
        assert not any(p.exists() for p in stale) and all(p.exists() for p in [*kept, fresh])
        assert paths.clear_stale_temp_files(target) is None
        for path in [*kept, fresh]:
            path.unlink()


def test_the_next_run_removes_the_partial_file_of_a_killed_run(tmp_path, run):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, 96, 64, frames=6, audio=False)
    dead = a_finished_pid()
    left = paths._temp_name(out, dead, "partial", ".mp4")  # what a run killed with SIGKILL leaves
    left.write_bytes(b"\0" * 2_000_000)
    os.utime(left, (os.path.getmtime(left) - 600,) * 2)
    code, err = run(src, out)
    assert code == 0, err
    assert f"removed a temporary file of an earlier run on out.mp4 that was killed before it finished ({left.name}; 2.0 MB)" in err
    assert not left.exists() and count_frames(out) == 6 and leftovers(tmp_path) == []


# ---------------------------------------------------------------------------- 10: raw streams
def test_raw_h264_stream(tmp_path):
    src = tmp_path / "raw.h264"
    run_ffmpeg(*TESTSRC, "-frames:v", 7, "-c:v", "libx264", src)
    info = probe(src)  # was "not a readable video (At least one output file must be specified)"
    assert (info.n_frames, info.fps) == (7, 25) and info.duration == pytest.approx(0.28)
    out = tmp_path / "out.mp4"
    round_trip(src, out)
    times, _ = video_times(out)
    assert np.allclose(times, np.arange(7) / 25)


def test_the_evaluation_h264_stream(shared):
    info = probe(shared / "videos" / "mot20_08_square.h264")
    assert (info.n_frames, info.fps, info.width, info.height) == (127, 25, 960, 366)
    assert count_frames(info.path) == 127


# ---------------------------------------------------------------------------- 15: names are not URLs
def test_file_names_that_read_as_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "pipe:0.mp4", frames=3, audio=False)
    os.link(tmp_path / "pipe:0.mp4", tmp_path / "-")
    assert probe(Path("-")).n_frames == 3
    round_trip(Path("pipe:0.mp4"), Path("pipe:1.mp4"))  # was: stdin in, stdout out
    assert count_frames(tmp_path / "pipe:1.mp4") == 3


def test_playlists_are_refused(tmp_path, monkeypatch):
    secret = make_clip(tmp_path / "secret.ts", frames=3, audio=False)
    playlists = {
        "list.m3u8": f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1,\n{secret.name}\n#EXT-X-ENDLIST\n",
        "list.mp4": f"ffconcat version 1.0\nfile {secret.name}\n",
    }
    for name, text in playlists.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError, match="names other files"):
            probe(tmp_path / name)
    # a playlist that the check by content misses: ffmpeg itself is not allowed the demuxer
    monkeypatch.setattr(probe_module, "_refuse_playlist", lambda path: None)
    for name in playlists:
        with pytest.raises(InputError, match="not a readable video"):
            probe(tmp_path / name)


# ---------------------------------------------------------------------------- 16: full disk
def test_a_full_disk_names_the_output(tmp_path):
    src = make_clip(tmp_path / "in.mp4", 320, 240, frames=30, audio=False, extra=("-crf", "0"))

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "out.mp4"
    proc = subprocess.run([sys.executable, "-m", "vidanon", str(src), str(out), "-q", "--crf", "0"],
                          capture_output=True, text=True, timeout=300, preexec_fn=limit)  # fmt: skip
    err = [line for line in proc.stderr.splitlines() if line.startswith("vidanon")]
    assert proc.returncode == 5 and len(err) == 1, proc.stderr
    assert f"{out} grew past the file size limit" in err[0] and "partial" not in err[0], err
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_a_photo_past_the_file_size_limit_is_not_put_in_place(tmp_path, suffix):
    # Pillow's JPEG encoder wrote to the file itself and lost the short write: the truncated
    # photo was renamed into place and the run said it was done (exit 0)
    from PIL import Image

    src = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(src)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / f"out{suffix}"
    proc = subprocess.run([sys.executable, "-m", "vidanon", str(src), str(out), "-q"], capture_output=True,
                          text=True, timeout=300, preexec_fn=limit)  # fmt: skip
    err = [line for line in proc.stderr.splitlines() if line.startswith("vidanon")]
    assert proc.returncode == 5 and len(err) == 1, proc.stderr
    assert f"{out} grew past the file size limit" in err[0], err
    assert not out.exists() and leftovers(tmp_path) == []


def test_names_not_in_utf8_are_read_and_written(tmp_path):
    # a Latin-1 name (a file copied from an old camera or a Windows share) made the temporary
    # name's shortening fail: "internal error: UnicodeEncodeError" (exit 70)
    from conftest import ROOT, SAMPLE

    src = os.fsencode(tmp_path) + b"/caf\xe9.mp4"
    with open(src, "wb") as f:
        f.write(SAMPLE.read_bytes())
    for args, made in (([src], b"caf\xe9_anonymized.mp4"), ([src, os.fsencode(tmp_path) + b"/o\xff.mp4"], b"o\xff.mp4")):
        proc = subprocess.run([sys.executable, "-m", "vidanon", *args, "-q"], capture_output=True, timeout=300, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        assert count_frames(os.fsdecode(os.fsencode(tmp_path) + b"/" + made)) == 35
    assert leftovers(tmp_path) == []


def test_a_pipe_as_input_is_named_a_pipe(tmp_path):
    # a FIFO was called "empty" (its size is 0); it cannot be read twice (probe, then frames)
    from vidanon.errors import InputError
    from vidanon.media.probe import check_input

    fifo = tmp_path / "f.mp4"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is not a regular file"):
        check_input(fifo)


# ---------------------------------------------------------------------------- 11: a cut Matroska file
def test_a_matroska_cut_by_copying_keeps_its_frame_times(tmp_path):
    """An open-GOP H.264 cut with ``-ss 1.3 -c copy`` into Matroska starts with a leading
    picture that cannot be decoded, 40 ms before the video's start: the times were "put
    back" by that as if the file were an MPEG-TS, and every frame came out one frame late
    (a --segments run of the same file was right)."""
    import re

    from conftest import SAMPLE, ffmpeg

    src, cut, out = tmp_path / "open.mp4", tmp_path / "cut.mkv", tmp_path / "out.mkv"
    run_ffmpeg("-i", SAMPLE, "-f", "lavfi", "-i", "sine=r=44100", "-vf", "fps=25,scale=160:90", "-t", "2.9",
               "-c:v", "libx264", "-bf", 3, "-g", 30, "-x264-params", "open-gop=1", "-c:a", "aac", src)  # fmt: skip
    run_ffmpeg("-ss", "1.3", "-i", src, "-c", "copy", cut)

    def shown(path):  # the frames' times as ffmpeg decodes them
        text = subprocess.run([ffmpeg(), "-i", str(path), "-map", "0:v", "-vf", "showinfo", "-fps_mode", "passthrough",
                               "-f", "null", "-"], capture_output=True, text=True).stderr  # fmt: skip
        return [float(t) for t in re.findall(r"pts_time:\s*([-\d.]+)", text)]

    assert probe(cut).lag == 0.0
    anonymize(cut, out)
    before, after = shown(cut), shown(out)
    assert len(before) == len(after) and max(abs(a - b) for a, b in zip(before, after)) < 0.002, (before[:3], after[:3])


def test_a_gif_is_said_to_lose_its_alpha_only_where_it_has_some(tmp_path):
    """ffmpeg decodes every GIF to bgra: the note on a lost alpha channel is for a GIF whose first
    frame names a transparent colour (Pillow's, a sticker's), not for an opaque one, nor for one
    whose later frames use transparency to show the frame before (ffmpeg's own encoder)."""
    from PIL import Image

    frames = []
    for _ in range(3):
        im = Image.new("P", (64, 64), 0)
        im.putpalette([0, 0, 0, 200, 40, 40] + [0] * 762)
        im.paste(1, (32, 0, 64, 64))
        frames.append(im)
    frames[0].save(tmp_path / "sticker.gif", save_all=True, append_images=frames[1:], transparency=0, duration=200)
    frames[0].save(tmp_path / "opaque.gif", save_all=True, append_images=frames[1:], duration=200)
    run_ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x64:r=5", "-frames:v", "3", tmp_path / "ffmpeg.gif")
    notes = {}
    for name in ("sticker", "opaque", "ffmpeg"):
        info, writer = round_trip(tmp_path / f"{name}.gif", tmp_path / f"{name}.mp4")
        assert info.pix_fmt == "bgra", name  # what ffmpeg says of every GIF
        notes[name] = writer.notes
    assert notes == {"sticker": ["the input is bgra: the output has no alpha channel (what players play)"],
                     "opaque": [], "ffmpeg": []}  # fmt: skip
