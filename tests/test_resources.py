"""Resources and scale: what a run does when the machine takes something away from it
(a decoder killed for lack of memory), and with very large or oddly shaped frames."""

import os
import signal

import pytest
from conftest import make_clip

from vidanon import anonymize
from vidanon.errors import EncodeError
from vidanon.media.probe import probe
from vidanon.media.reader import FrameReader


def _kill_after(frames: int):
    """FrameReader.__iter__ whose ffmpeg is killed (SIGKILL, as the out-of-memory killer does)
    once ``frames`` frames were read."""
    original = FrameReader.__iter__

    def iterate(self):
        for k, frame in enumerate(original(self)):
            if k == frames:
                os.kill(self._proc.pid, signal.SIGKILL)
            yield frame

    return iterate


def test_a_decoder_killed_mid_run_is_an_error_not_a_short_output(tmp_path, monkeypatch):
    # a decoder killed by the system was taken for decoding errors in the input: the frames
    # read until then were written, exit 0, with a warning (a 210-frame clip: 104 frames out)
    src = make_clip(tmp_path / "in.mp4", frames=40, audio=False)
    reader = FrameReader(probe(src))
    monkeypatch.setattr(FrameReader, "__iter__", _kill_after(3))
    with pytest.raises(EncodeError, match=r"ffmpeg was killed by signal 9 \(by the system, most likely for lack "
                                          r"of memory\) while decoding .*in\.mp4"):  # fmt: skip
        for _ in reader:
            pass
    out = tmp_path / "out.mp4"
    with pytest.raises(EncodeError, match="killed by signal 9"):
        anonymize(src, out, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]  # no output, no placeholder, no .partial


def test_segments_say_the_decoding_errors_of_a_later_part(tmp_path, capsys):
    # a file truncated in its second half, in 2 parts: only the first part's warnings were
    # said, so the decoding errors went unmentioned (a single pass warns)
    from vidanon.cli import main

    src = make_clip(tmp_path / "full.mp4", frames=240, audio=False, extra=("-movflags", "+faststart"))
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 9 // 10])
    out = tmp_path / "out" / "o.mp4"
    assert main([str(cut), str(out), "--segments", "2", "--jobs", "1", "-q", "--mkdir"]) == 0
    err = capsys.readouterr().err
    assert "vidanon: warning: part 2 of 2: the input has decoding errors" in err, err
    assert sorted(p.name for p in out.parent.iterdir()) == ["o.mp4"]


def test_a_part_past_the_file_size_limit_in_a_segmented_run_names_the_output(tmp_path):
    # a part that filled the disk, or reached the file size limit (tested here: ulimit -f), was
    # named by its hidden file: "no space left on the device while writing
    # out/.o.vidanon-13983.part1.mp4" (a single pass names out/o.mp4); the same renaming serves both
    import resource
    import subprocess
    import sys

    src = make_clip(tmp_path / "in.mp4", 160, 120, frames=130, audio=False, extra=("-crf", "0"))

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "out" / "o.mp4"
    out.parent.mkdir()
    proc = subprocess.run([sys.executable, "-m", "vidanon", str(src), str(out), "-q", "--crf", "0", "--segments", "2",
                           "--jobs", "1"], capture_output=True, text=True, timeout=120, preexec_fn=limit)  # fmt: skip
    err = [line for line in proc.stderr.splitlines() if line.startswith("vidanon")]
    assert proc.returncode == 5 and len(err) == 1, proc.stderr
    assert err[0] == f"vidanon: error: {out} grew past the file size limit of this system or shell (ulimit -f)", err
    assert list(out.parent.iterdir()) == []


def test_frames_hours_apart_in_a_90khz_mov(tmp_path):
    # a camera's MOV (90 kHz time base) with two hours between frames: x264's B-frames put a
    # frame's display time more than 2^31 ticks after its decoding time, which MP4/MOV cannot
    # store (ffmpeg: "Not yet implemented in FFmpeg, patches welcome", exit 5)
    import subprocess

    from conftest import ffmpeg

    src = tmp_path / "in.mov"
    subprocess.run([ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", "6",
                    "-vf", "setpts=N*7200*25", "-fps_mode", "vfr", "-c:v", "libx264", "-bf", "0",
                    "-video_track_timescale", "90000", str(src)], check=True)  # fmt: skip
    out = tmp_path / "out.mov"
    anonymize(src, out, progress=False)
    times = probe(out).packets.times
    assert list(times) == [k * 7200.0 for k in range(6)] == list(probe(src).packets.times)


def test_an_mpeg_ts_whose_clock_wraps_keeps_every_frame_time(tmp_path):
    # MPEG-TS times are 33 bits of a 90 kHz clock: they wrap after 26.5 hours (a long broadcast
    # or camcorder recording). ffmpeg then starts the file before 0 (-1.84 s here): the frames
    # before the wrap were squeezed into 0.5 ms at the start (4 s of video came out as 2.2 s)
    import subprocess

    from conftest import ffmpeg

    src = tmp_path / "wrap.ts"
    subprocess.run([ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i",
                    "sine=frequency=440", "-t", "3", "-c:v", "libx264", "-c:a", "aac", "-output_ts_offset", "95441.5",
                    str(src)], check=True)  # fmt: skip
    info = probe(src)
    assert info.file_start < -0.5 and info.packets.count == 75
    out = tmp_path / "out.mp4"
    anonymize(src, out, progress=False)
    got = probe(out)
    assert got.packets.count == 75 and abs(got.duration - info.duration) < 0.05
    assert max(abs(a - b) for a, b in zip(got.packets.times, info.packets.times)) < 1e-3
