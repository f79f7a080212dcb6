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


# Frames shared by the detector's tests (tests/test_detect.py, tests/test_graph.py).
def real_frames(shared_dir) -> list[np.ndarray]:
    """Frames of people from the sample clip (in the repository) and, where ../shared/eval is
    beside the project, of its crowd, hikers and square clips (reduced to keep the test short)."""
    frames = read_frames(SAMPLE)[::17]
    if shared_dir.is_dir():
        from vidanon.media.probe import probe
        from vidanon.media.reader import FrameReader

        for name in ("marathon_street.mkv", "hikers_trail.mp4", "opera_crowd_1080p.mp4"):
            for k, frame in enumerate(FrameReader(probe(shared_dir / "videos" / name))):
                if k in (0, 1):
                    frames.append(frame.copy())
                if k >= 1:
                    break
    return frames


def small_faces_frame(face_image, detector, height=1080, width=1920, face_px=22):
    """A large frame holding the sample photo's faces shrunk to ``face_px`` high, one of
    them cut by the right edge, on a textured background; returns the frame and the boxes."""
    import tensorflow as tf

    found = detector(face_image[None])[0]
    found = found[np.flatnonzero(found.scores >= 0.4)]
    rng = np.random.default_rng(3)
    frame = rng.integers(90, 150, (height, width, 3)).astype(np.uint8)
    boxes = []
    spots = [(0.3, 0.2), (0.5, 0.55), (0.7, 0.8), (0.45, 1.0)]
    for k, (fy, fx) in enumerate(spots):
        y0, x0, y1, x1 = found.pixel_boxes(*face_image.shape[:2])[k % len(found)][[1, 0, 3, 2]]
        pad = 0.25 * (y1 - y0)
        crop = face_image[int(max(0, y0 - pad)) : int(y1 + pad), int(max(0, x0 - pad)) : int(x1 + pad)]
        scale = face_px / (y1 - y0)
        h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
        small = tf.image.resize(crop.astype(np.float32), (h, w), antialias=True).numpy().round().astype(np.uint8)
        cy, cx = int(fy * height), min(int(fx * width), width - (w - w // 2))
        frame[cy - h // 2 : cy - h // 2 + h, cx - w // 2 : cx - w // 2 + w] = small
        boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return frame, np.array(boxes)
