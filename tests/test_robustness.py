"""Bad inputs, bad outputs, damaged files: a clear one-line error or a faithful output.

Every case checks the same promises: the input's bytes are unchanged, nothing appears at
the output path unless vidanon succeeded (and then it decodes), no temporary file is
left behind, and errors are one line on stderr without a traceback.
"""

import os
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import count_frames, ffmpeg, file_hash, make_clip, vidanon_lines

from vidanon.media.probe import probe


def check_failed(code, err, src, digest, out, *needles):
    assert code != 0, err
    err = "\n".join(vidanon_lines(err))
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    assert file_hash(src) == digest
    assert not out.exists()
    assert not list(out.parent.glob(".*partial*")) if out.parent.exists() else True


def check_ok(code, err, src, digest, out, frames=None):
    assert code == 0, err
    assert "Traceback" not in err
    assert file_hash(src) == digest
    assert out.exists() and count_frames(out) == (frames if frames is not None else count_frames(src))
    assert not list(out.parent.glob(".*partial*"))


# ---------------------------------------------------------------------------- inputs
def test_image_and_audio_only_files_named_mp4(tmp_path, run):
    png = tmp_path / "photo.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1",
                    "-f", "image2", "-c:v", "png", str(png)], check=True)  # fmt: skip
    audio = tmp_path / "song.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", str(audio)],
                   check=True)  # fmt: skip
    for src, needle in ((png, "still image"), (audio, "audio-only")):
        digest = file_hash(src)
        out = tmp_path / "out.mp4"
        code, err = run(src, out)
        check_failed(code, err, src, digest, out, needle)
        assert code == 2


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """30 frames with audio, moov atom first so that a cut file still starts right."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    return make_clip(path, 96, 64, frames=30, audio=True, extra=("-g", "5", "-movflags", "+faststart"))


def test_truncated_input_keeps_what_decodes_and_warns(tmp_path, run, clip):
    data = clip.read_bytes()
    src = tmp_path / "cut.mp4"
    src.write_bytes(data[: len(data) // 2])
    digest = file_hash(src)
    out = tmp_path / "out.mp4"
    code, err = run(src, out)
    decodable = count_frames(src)
    assert 0 < decodable < 30
    check_ok(code, err, src, digest, out, frames=decodable)
    assert "warning" in err and "decod" in err


def test_truncated_without_index_is_a_clear_error(tmp_path, run):
    plain = make_clip(tmp_path / "plain.mp4", 64, 48, frames=20, audio=False)  # index (moov) at the end
    src = tmp_path / "cut.mp4"
    src.write_bytes(plain.read_bytes()[: plain.stat().st_size // 2])
    digest = file_hash(src)
    out = tmp_path / "out.mp4"
    code, err = run(src, out)
    check_failed(code, err, src, digest, out, "not a readable video")


def test_bytes_corrupted_in_the_middle(tmp_path, run, clip):
    data = bytearray(clip.read_bytes())
    rng = np.random.default_rng(3)
    middle = len(data) // 2
    data[middle : middle + 400] = rng.integers(0, 256, 400, dtype=np.uint8).tobytes()
    src = tmp_path / "damaged.mp4"
    src.write_bytes(bytes(data))
    digest = file_hash(src)
    out = tmp_path / "out.mp4"
    code, err = run(src, out)
    # ffmpeg conceals the damage; every frame it produces is kept
    check_ok(code, err, src, digest, out, frames=count_frames(src))


def test_zero_decodable_frames(tmp_path, run):
    src = make_clip(tmp_path / "nothing.mkv", 64, 48, frames=10, audio=False)
    data = bytearray(src.read_bytes())
    header = data.find(b"\x1f\x43\xb6\x75")  # the first Matroska cluster: every frame after it
    assert header > 0
    data[header + 8 :] = bytes(len(data) - header - 8)
    src.write_bytes(bytes(data))
    digest = file_hash(src)
    out = tmp_path / "out.mp4"
    code, err = run(src, out)
    check_failed(code, err, src, digest, out, "no decodable video frame")


def test_variable_frame_rate_keeps_every_frame_and_the_duration(tmp_path, run):
    src = tmp_path / "vfr.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440", "-t", "2",
                    "-vf", "setpts='if(lt(N,30),N,30+(N-30)*2)/(30*TB)'", "-fps_mode", "vfr",
                    "-c:v", "libx264", "-c:a", "aac", "-shortest", str(src)], check=True)  # fmt: skip
    info = probe(src)
    assert info.variable_rate
    digest = file_hash(src)
    out = tmp_path / "out.mp4"
    code, err = run(src, out)
    check_ok(code, err, src, digest, out)
    out_info = probe(out)
    assert abs(out_info.duration - info.duration) <= 2 / float(info.fps)
    assert out_info.has_audio and out_info.variable_rate  # each frame at its own time (tests/test_fidelity.py)
    assert max(abs(a - b) for a, b in zip(info.packets.times, out_info.packets.times)) < 1e-3


@pytest.mark.parametrize(
    "name, size, pix_fmt",
    [
        ("tiny.mp4", (17, 9), "yuv444p"),
        ("deep.mkv", (64, 48), "yuv420p10le"),
        ("full.mov", (64, 48), "yuv444p"),
    ],
)
def test_odd_sizes_and_pixel_formats(tmp_path, run, name, size, pix_fmt):
    src = make_clip(tmp_path / name, *size, frames=6, audio=True, extra=("-pix_fmt", pix_fmt))
    assert pix_fmt in subprocess.run([ffmpeg(), "-hide_banner", "-i", str(src)], capture_output=True,
                                     text=True).stderr  # fmt: skip
    digest = file_hash(src)
    out = tmp_path / ("out" + os.path.splitext(name)[1])
    code, err = run(src, out)
    check_ok(code, err, src, digest, out, frames=6)
    info = probe(out)
    if size[0] % 2 or size[1] % 2:  # H.264 4:2:0 needs even sizes: the last row/column is repeated
        assert (info.width, info.height) == (size[0] + size[0] % 2, size[1] + size[1] % 2) and "is odd" in err
    else:
        assert (info.width, info.height) == size
    assert info.has_audio


def test_avi_and_webm_inputs(tmp_path, run):
    avi = tmp_path / "in.avi"
    subprocess.run([ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi",
                    "-i", "sine", "-t", "0.4", "-c:v", "mpeg4", "-c:a", "libmp3lame", str(avi)], check=True)  # fmt: skip
    webm = make_clip(tmp_path / "in.webm", 64, 48, frames=8, audio=False, extra=("-c:v", "libvpx-vp9"))
    for src in (avi, webm):
        digest = file_hash(src)
        out = tmp_path / f"{src.suffix[1:]}_out.mp4"
        code, err = run(src, out)
        check_ok(code, err, src, digest, out)


def test_one_pixel_video_fails_clearly(tmp_path, run):
    src = make_clip(tmp_path / "dot.mkv", 1, 1, frames=3, audio=False, extra=("-c:v", "ffv1"))
    digest = file_hash(src)
    out = tmp_path / "out.mp4"
    code, err = run(src, out)
    check_failed(code, err, src, digest, out, "1x1", "at least 2x2")


# --------------------------------------------------------------------------- outputs
def test_missing_output_folder_is_an_error_unless_mkdir(tmp_path, run):
    src = make_clip(tmp_path / "in.mp4", frames=4, audio=False)
    digest = file_hash(src)
    out = tmp_path / "new" / "deeper" / "out.mp4"
    code, err = run(src, out)
    check_failed(code, err, src, digest, out, "does not exist", "--mkdir")
    assert code == 3 and not (tmp_path / "new").exists()
    code, err = run(src, out, "--mkdir")
    check_ok(code, err, src, digest, out)
    # a run refused after --mkdir made the folders takes them away again (the empty ones only)
    gif = tmp_path / "new" / "gifs" / "deep" / "out.gif"
    ten = make_clip(tmp_path / "ten.mkv", frames=2, audio=False, extra=("-c:v", "libx265", "-pix_fmt", "yuv420p10le",
                                                                         "-x265-params", "log-level=error"))  # fmt: skip
    for split in ((), ("--segments", "2")):  # one process, or the coordinator of parts
        code, err = run(ten, gif, "--mkdir", *split)
        assert code == 3 and "a GIF holds 8-bit colours" in err
        assert not (tmp_path / "new" / "gifs").exists() and out.exists()


def test_unwritable_output_locations(tmp_path, run):
    src = make_clip(tmp_path / "in.mp4", frames=4, audio=False)
    digest = file_hash(src)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = blocker / "out.mp4"  # its folder would have to be a file
    code, err = run(src, out)
    assert code == 3
    check_failed(code, err, src, digest, out, f"the output folder {blocker} is a file, not a folder")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            code, err = run(src, locked / "out.mp4")
            check_failed(code, err, src, digest, locked / "out.mp4", "cannot write")
        finally:
            locked.chmod(0o700)


def _limited(max_bytes):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return apply


def test_output_that_outgrows_the_disk(tmp_path):
    """A file size limit (like a full disk, the write fails midway): clear error, no output."""
    src = make_clip(tmp_path / "in.mp4", 320, 240, frames=60, audio=False, extra=("-crf", "0"))
    digest = file_hash(src)
    out = tmp_path / "out.mp4"
    proc = subprocess.run([sys.executable, "-m", "vidanon", str(src), str(out), "-q", "--crf", "0"],
                          capture_output=True, text=True, timeout=300, preexec_fn=_limited(20_000))  # fmt: skip
    check_failed(proc.returncode, proc.stderr.strip(), src, digest, out, "file size limit")


def test_output_on_a_full_filesystem(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:  # fmt: skip
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        src = make_clip(tmp_path / "in.mp4", 320, 240, frames=60, audio=False, extra=("-crf", "0"))
        digest = file_hash(src)
        out = mount / "out.mp4"
        proc = subprocess.run([sys.executable, "-m", "vidanon", str(src), str(out), "-q", "--crf", "0"],
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        check_failed(proc.returncode, proc.stderr.strip(), src, digest, out, "no space left")
        assert not os.listdir(mount)
    finally:
        subprocess.run(["umount", str(mount)])


# ---------------------------------------------------------------------------- fuzzing
def test_fuzzed_videos_never_hang_crash_or_leave_bad_output(tmp_path, run):
    """50 seeded byte-level mutations of a small clip, each under a time limit."""
    base = make_clip(tmp_path / "base.mp4", 64, 48, frames=10, audio=True, extra=("-g", "3"))
    data = base.read_bytes()
    rng = np.random.default_rng(20261122)
    outcomes = {"ok": 0, "error": 0}

    def on_alarm(signum, frame):
        raise TimeoutError("fuzz case hung")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        for case in range(50):
            mutated = bytearray(data)
            kind = case % 5
            if kind == 0:  # flip random bytes anywhere
                for pos in rng.integers(0, len(mutated), 20):
                    mutated[pos] ^= int(rng.integers(1, 256))
            elif kind == 1:  # overwrite a block with noise
                pos = int(rng.integers(0, len(mutated) - 64))
                mutated[pos : pos + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
            elif kind == 2:  # truncate
                mutated = mutated[: int(rng.integers(1, len(mutated)))]
            elif kind == 3:  # zero a block
                pos = int(rng.integers(0, len(mutated) - 256))
                mutated[pos : pos + 256] = bytes(256)
            else:  # duplicate a chunk into another place
                a, b = sorted(rng.integers(0, len(mutated), 2))
                pos = int(rng.integers(0, len(mutated)))
                mutated[pos:pos] = mutated[a : min(b, a + 512)]
            src = tmp_path / f"fuzz{case:02d}.mp4"
            src.write_bytes(bytes(mutated))
            digest = file_hash(src)
            out = tmp_path / f"fuzz{case:02d}_out.mp4"
            signal.alarm(60)
            try:
                code, err = run(src, out)
            finally:
                signal.alarm(0)
            assert "Traceback" not in err and "internal error" not in err, (case, err)
            assert file_hash(src) == digest
            assert not list(tmp_path.glob(".*partial*")), case
            if code == 0:
                assert count_frames(out) > 0, case
                outcomes["ok"] += 1
            else:
                assert len(err.splitlines()) == 1 and err.startswith("vidanon: error:"), (case, err)
                assert not out.exists(), case
                outcomes["error"] += 1
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert outcomes["ok"] + outcomes["error"] == 50
    assert outcomes["ok"] > 0 and outcomes["error"] > 0, outcomes  # both paths were exercised


def test_an_ffmpeg_failure_is_told_by_its_cause_not_by_its_last_line():
    """ffmpeg ends every failure with the same lines ("Nothing was written into output
    file", "Conversion failed!"); the one-line error names the encoder's or muxer's own."""
    import io

    from vidanon.media.ffmpeg import StderrTail

    lines = [
        "[libvpx-vp9 @ 0x1] v1.17.0",
        "[aost#0:1/libopus @ 0x2] [enc:libopus @ 0x3] Invalid channel layout 5.1(side) for specified mapping family -1.",
        "[aost#0:1/libopus @ 0x2] [enc:libopus @ 0x3] Error while opening encoder - maybe incorrect parameters",
        "[af#0:1 @ 0x4] Error sending frames to consumers: Invalid argument",
        "[af#0:1 @ 0x4] Task finished with error code: -22 (Invalid argument)",
        "[out#0/webm @ 0x5] Nothing was written into output file, because at least one of its streams received no packets.",
        "frame=    0 fps=0.0 q=32.0 Lsize=       0KiB time=00:00:01.16 bitrate=   0.0kbits/s speed=  11x",
        "Conversion failed!",
    ]
    tail = StderrTail(io.BytesIO("\n".join(lines).encode()))
    tail.join()
    assert tail.summary() == ("[aost#0:1/libopus] [enc:libopus] Invalid channel layout 5.1(side) for specified "
                              "mapping family -1.")  # the line of the cause, without ffmpeg's memory addresses
    tail = StderrTail(io.BytesIO(b"[mp4 @ 0x1] some note\nConversion failed!\n"))
    tail.join()
    assert tail.summary() == "[mp4] some note"  # no cause named: the last line that is not the aftermath


def test_an_output_folder_removed_during_the_run_is_said(tmp_path):
    # the error named ffmpeg's temporary file and a memory address ("[mp4 @ 0x55f0...] Unable to
    # re-open file:gone/.o.vidanon-19680.partial.mp4 output file for shifting data")
    import shutil
    from fractions import Fraction

    from vidanon.errors import OutputError
    from vidanon.media.writer import VideoWriter

    folder = tmp_path / "gone"
    folder.mkdir()
    writer = VideoWriter(folder / ".o.partial.mp4", 64, 48, Fraction(10), "mp4", name="gone/o.mp4")
    for _ in range(5):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    shutil.rmtree(folder)
    with pytest.raises(OutputError) as info:  # an output location: exit 3
        writer.close()
    assert str(info.value) == f"the output folder {folder} was removed while gone/o.mp4 was being written"
