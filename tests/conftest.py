import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "eval"
SAMPLE = ROOT / "sample_videos" / "walking_to_camera.mp4"


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(path: Path, width=64, height=48, fps="25", frames=20, audio=True, extra=()) -> Path:
    """A synthetic clip made by ffmpeg (moving test pattern, optional 440 Hz tone)."""
    seconds = frames / float(Fraction(fps))
    source = "testsrc" if width % 2 or height % 2 else "testsrc2"  # testsrc2 rounds sizes to even
    cmd = [ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}=size={width}x{height}:rate={fps}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", f"{seconds:.4f}", "-c:a", "aac"]
    pix = "yuv444p" if width % 2 or height % 2 else "yuv420p"
    cmd += ["-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", pix, *extra, str(path)]
    subprocess.run(cmd, check=True)
    return path


def count_frames(path: Path) -> int:
    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader

    return sum(1 for _ in FrameReader(probe(path)))


def read_frames(path: Path) -> list:
    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader

    return [f.copy() for f in FrameReader(probe(path))]


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "vidanon", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="session")
def shared():
    if not SHARED.is_dir():
        pytest.skip("../shared/eval is not beside the project")
    return SHARED


@pytest.fixture(scope="session")
def detector():
    from vidanon.detect.centerface import FaceDetector

    return FaceDetector(threshold=0.4, low_threshold=0.1)


@pytest.fixture(scope="session")
def face_image():
    """A real photo with three labelled faces, from the sample clip's last frame."""
    frames = read_frames(SAMPLE)
    return frames[-1]


def file_hash(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def assert_one_line_error(proc, *needles):
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


np.set_printoptions(precision=3, suppress=True)


@pytest.fixture
def run_inprocess(capsys):
    """The CLI in this process (the detector is loaded once); returns (exit code, stdout, stderr).
    The signal handlers the CLI installs are put back afterwards."""
    import signal

    from vidanon import cli

    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    def call(*args):
        try:
            code = cli.main([str(a) for a in args])
        finally:
            signal.signal(signal.SIGINT, saved[0])
            signal.signal(signal.SIGTERM, saved[1])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


@pytest.fixture
def run(run_inprocess):
    """:func:`run_inprocess` with ``-q``; returns (exit code, stderr)."""

    def call(*args):
        code, _, err = run_inprocess(*args, "-q")
        return code, err.strip()

    return call


def vidanon_lines(err):
    """stderr without TensorFlow's C++ start-up logs (the CUDA build prints them on a machine
    without a GPU before any Python code can silence them)."""
    return [line for line in err.splitlines() if not line.startswith(("WARNING: All log messages", "I0000", "W0000", "E0000"))]
