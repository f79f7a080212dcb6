"""The command line's standard streams: closed (``<&- >&- 2>&-``), full or broken, or a file
instead of a terminal; names with control characters in its one-line messages; and an
exception in any stage of the pipeline ending the run at once (never a hang). The CLI runs
as a subprocess with its streams as a shell would leave them."""

import os
import shlex
import signal
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
    proc = subprocess.Popen(["sh", "-c", command], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the shell's children too: none is left hanging
        proc.communicate()
        raise
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


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


# A child that makes one stage of the pipeline raise, then runs the command line: the run
# must end at once, with one line and exit 70, whatever thread the stage runs in.
FAULT = """
import sys, threading, time
import numpy as np
from vidanon import pipeline
from vidanon.detect import lite
from vidanon.render.compositor import Compositor
from vidanon.track.sort import SortTracker

where, nth = sys.argv[1], int(sys.argv[2])
calls = {"n": 0}
lock = threading.Lock()

def fault(name, original, when=lambda *a: True, pause=0.0):
    def patched(*args, **kwargs):
        if when(*args):
            with lock:
                calls["n"] += 1
                hit = calls["n"] == nth
            if hit:
                time.sleep(pause)  # the other threads reach their next call meanwhile
                raise RuntimeError(f"injected in {threading.current_thread().name}")
        return original(*args, **kwargs)
    return patched

def large(net, shape, *rest):
    return np.prod(shape[1:3]) >= lite.SMALL_INPUT_PIXELS

if where == "tracker":
    SortTracker.push = fault(where, SortTracker.push)
elif where == "renderer":
    Compositor.draw = fault(where, Compositor.draw)
elif where == "network":
    lite.LiteNet.outputs = fault(where, lite.LiteNet.outputs, lambda net, x: large(net, x.shape))
elif where == "interpreter":  # making a frame pass's interpreter (in a network lane)
    lite.LiteNet._new_interpreter = fault(where, lite.LiteNet._new_interpreter, large, pause=1.0)
elif where == "decode":
    pipeline._finish_all = fault(where, pipeline._finish_all)
from vidanon.__main__ import main
sys.argv = ["vidanon", *sys.argv[3:]]
sys.exit(main())
"""


@pytest.mark.parametrize("where, nth", [("tracker", 5), ("renderer", 5), ("network", 3), ("interpreter", 1),
                                        ("decode", 2)])  # fmt: skip
def test_an_exception_in_any_stage_ends_the_run(clip, tmp_path, where, nth):
    (tmp_path / "fault.py").write_text(FAULT)
    out = tmp_path / "out"
    out.mkdir()
    # two cores' share: the networks run in two lanes (vidanon.runner.network_lanes)
    command = f"VIDANON_THREADS=2 {PYTHON} fault.py {where} {nth} {clip} out/o.mp4 -q --batch-size 2"
    try:
        proc = shell(command, tmp_path, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run hung after an exception in the {where}")
    assert proc.returncode == 70, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "internal error: RuntimeError: injected in" in proc.stderr, proc.stderr
    assert proc.stdout == "" and sorted(os.listdir(out)) == []


@pytest.mark.parametrize("stdout", ["full", "broken"])
def test_a_summary_that_cannot_be_printed_does_not_fail_the_run(clip, reference, tmp_path, stdout):
    """The video is done when the summary line is printed: a stdout that cannot take it
    (a full disk, a reader gone) changes nothing (exit 0, no message)."""
    if stdout == "full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    run = f"$VIDANON {clip} o.mp4 -q 2>err.txt"
    command = f"{run} >/dev/full; echo $? >rc.txt" if stdout == "full" else f"({run}; echo $? >rc.txt) | true"
    proc = shell(command, tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "rc.txt").read_text().strip() == "0", (tmp_path / "err.txt").read_text()
    assert (tmp_path / "err.txt").read_text() == ""
    assert same_frames(tmp_path / "o.mp4", reference)


def test_control_characters_in_names_are_escaped_in_the_messages(clip, tmp_path):
    """A newline in a name is written as the two characters \\n: every message is one line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "vidanon", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    missing = run("no\nsuch.mp4", "o.mp4")
    assert missing.returncode == 2 and missing.stderr == "vidanon: error: input no\\nsuch.mp4 does not exist\n"
    unknown = run(str(clip), "o.mp4", "--bogus\nflag", "x\ry")
    assert unknown.returncode == 2 and len(unknown.stderr.splitlines()) == 1, unknown.stderr
    assert "--bogus\\nflag x\\ry" in unknown.stderr and "\r" not in unknown.stderr
    done = run(str(clip), "o\nne\x1b[31m.mp4", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("o\\nne\\x1b[31m.mp4: 35 frames") and len(done.stdout.splitlines()) == 1


def test_no_progress_bar_in_a_file(clip, tmp_path):
    """stderr to a file (not a terminal): no bar frames ('\\r') in it, each message on a line
    of its own; the summary still on stdout."""
    (tmp_path / "dangling.mp4").symlink_to(tmp_path / "nowhere")
    proc = shell(f"$VIDANON {clip} dangling.mp4 2>e.txt", tmp_path, timeout=120)
    err = (tmp_path / "e.txt").read_bytes()
    assert proc.returncode == 3 and b"\r" not in err, err
    assert err.startswith(b"vidanon: error: output dangling.mp4 already exists") and err.count(b"\n") == 1, err
    proc = shell(f"$VIDANON {clip} o.mp4 2>e.txt", tmp_path, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("o.mp4: 35 frames"), proc.stderr
    assert (tmp_path / "e.txt").read_bytes() == b""


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses names that are not UTF-8")
def test_an_output_name_that_is_not_utf8(clip, tmp_path):
    """A file name's bytes need not be UTF-8 on Linux: the run writes it (it failed making
    its temporary name, exit 70) and the summary shows the byte escaped."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "vidanon", os.fsencode(clip), b"o\xff.mp4", b"-q"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("o\\xff.mp4: 35 frames") and proc.stderr == ""
    assert os.listdir(os.fsencode(tmp_path)) == [b"o\xff.mp4"]


def test_all_three_standard_streams_closed_are_reopened_as_they_should_be(tmp_path):
    # reopening one by one let sys.stdin's file take descriptor 1 (read-only, close-on-exec),
    # and a child process then had no stdout
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import fcntl, os, sys\n"
        "from vidanon.console import standard_streams\n"
        "standard_streams()\n"
        "modes = [fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE for fd in (0, 1, 2)]\n"
        "inherit = [os.get_inheritable(fd) for fd in (0, 1, 2)]\n"
        "ours = [getattr(sys, n).fileno() for n in ('stdin', 'stdout', 'stderr')]\n"
        f"open({str(tmp_path / 'result.txt')!r}, 'w').write(repr((modes, inherit, ours)))\n"
    )
    shell(f"{PYTHON} {probe} <&- >&- 2>&-", tmp_path, timeout=300)
    modes, inherit, ours = eval((tmp_path / "result.txt").read_text())
    assert modes == [os.O_RDONLY, os.O_WRONLY, os.O_WRONLY] and inherit == [True] * 3 and ours == [0, 1, 2]


def test_a_stream_that_is_not_utf8_still_gets_the_line(tmp_path):
    # an encoding error was taken for a dead stream: the summary line was dropped (exit 0, silent)
    env = dict(os.environ, PYTHONIOENCODING="ascii")
    proc = subprocess.run([sys.executable, "-m", "vidanon", str(SAMPLE), str(tmp_path / "café.mp4"), "-q"],
                          capture_output=True, env=env, timeout=300, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0 and proc.stderr == b""
    assert proc.stdout.decode("ascii").startswith(f"{tmp_path}/caf\\xe9.mp4: 35 frames"), proc.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
@pytest.mark.parametrize("rows, columns", [(24, 100), (0, 0), (0, 100)])
def test_the_bar_is_drawn_on_a_terminal_that_gives_no_size(rows, columns):
    """A terminal that reports 0 rows or columns (a `script` session, a container's): tqdm, asking
    its size at every refresh, drew no bar at all; now one of a fixed size."""
    import fcntl
    import pty
    import struct
    import termios

    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    script = ("import time; from vidanon.progress import FrameBar\n"
              "bar = FrameBar(total=20, unit='frame', dynamic_ncols=True, leave=False, mininterval=0)\n"
              "for _ in range(20): time.sleep(0.01); bar.update()\n"
              "bar.close()\n")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script], stderr=side, stdout=side, cwd=ROOT, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))  # fmt: skip
    os.close(side)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal's other end closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert proc.returncode == 0
    assert b"20/20" in shown, shown[-300:]


def test_a_line_said_while_a_network_hides_native_logs_reaches_stderr():
    """A network thread points file descriptor 2 at the null device while TFLite loads (its
    INFO lines): an error the main thread said meanwhile was lost (exit 70, stderr empty, seen
    once under load). The line now waits for descriptor 2 to come back."""
    script = ("import os, sys, threading, time\n"
              "os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'\n"
              "from vidanon.console import say\n"
              "from vidanon.detect.tf_setup import quiet_native_stderr\n"
              "inside = threading.Event()\n"
              "def hide():\n"
              "    with quiet_native_stderr():\n"
              "        inside.set(); time.sleep(0.5)\n"
              "t = threading.Thread(target=hide); t.start(); inside.wait()\n"
              "say('vidanon: internal error: said while hidden', sys.stderr)\n"
              "t.join()\n")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "vidanon: internal error: said while hidden"
