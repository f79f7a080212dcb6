"""The command line's standard streams: closed (``<&- >&- 2>&-``), full or broken, or a file
instead of a terminal; names with control characters in its one-line messages; and an
exception in any stage of the pipeline ending the run at once (never a hang). The CLI runs
as a subprocess with its streams as a shell would leave them."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SAMPLE, read_frames

pytestmark = pytest.mark.skipif(not Path("/dev/null").exists() or os.name != "posix", reason="POSIX shell")

PYTHON = shlex.quote(sys.executable)


def shell(command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``command`` in sh, ``$VIDANON`` being the command line of this checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), VIDANON=f"{PYTHON} -m vidanon")
    return subprocess.run(["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("in")
    (folder / "w.mp4").write_bytes(SAMPLE.read_bytes())
    return folder / "w.mp4"


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory) -> list[np.ndarray]:
    """The frames of a run with every stream open."""
    out = tmp_path_factory.mktemp("ref") / "ref.mp4"
    proc = shell(f"$VIDANON {clip} {out} -q", out.parent)
    assert proc.returncode == 0, proc.stderr
    return read_frames(out)


def same_frames(path: Path, reference: list[np.ndarray]) -> bool:
    frames = read_frames(path)
    return len(frames) == len(reference) and all(
        np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() < 1.0 for a, b in zip(frames, reference))  # fmt: skip


def test_reader_with_stdin_and_stdout_closed(clip, tmp_path):
    """A process started with descriptors 0 and 1 closed gets them from ``os.pipe()``: the
    frame times' pipe must not be handed to ffmpeg as its own stdout (the frames' pipe)."""
    script = ("import sys, hashlib\nfrom vidanon.media.probe import probe\nfrom vidanon.media.reader import FrameReader\n"
              "h = hashlib.sha256()\nn = 0\nfor f in FrameReader(probe(sys.argv[1])):\n"
              "    h.update(f.tobytes()); h.update(str(f.pts).encode()); n += 1\n"
              "open(sys.argv[2], 'w').write(f'{n} {h.hexdigest()}')\n")  # fmt: skip
    (tmp_path / "read.py").write_text(script)
    open_ = shell(f"{PYTHON} read.py {clip} open.txt", tmp_path)
    closed = shell(f"{PYTHON} read.py {clip} closed.txt <&- >&-", tmp_path)
    assert open_.returncode == 0 and closed.returncode == 0, (open_.stderr, closed.stderr)
    assert (tmp_path / "open.txt").read_text().startswith("35 ")
    assert (tmp_path / "closed.txt").read_text() == (tmp_path / "open.txt").read_text()


@pytest.mark.parametrize("flag, redirect", [("", "<&- >&-"), ("", "2>&-"), ("-q", "2>&-"), ("", "<&- >&- 2>&-")])
def test_closed_standard_streams_give_the_same_video(clip, reference, tmp_path, flag, redirect):
    """Closed streams are the null device: the video is the same as with them open (not
    ffmpeg's frame times mixed into its frames, no failed progress bar, no hang)."""
    proc = shell(f"$VIDANON {clip} o.mp4 {flag} {redirect}", tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert same_frames(tmp_path / "o.mp4", reference)
