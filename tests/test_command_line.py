"""What the command line says while it works and when it is done: the starting line on a
terminal, the progress bar's clock, -q / -qq, and the one-line refusals and warnings of
batch mode (an output folder named like a video, --segments on a short clip, --ray
without Ray)."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT, assert_one_line_error, make_clip, run_cli


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "short.mp4", 96, 64, frames=12, audio=False)


# A child that notes on stderr when the heavy libraries (seconds to load) start to load,
# then runs the command line.
CHILD = """
import sys
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in ("tensorflow", "moviepy"):
            sys.stderr.write("heavy imports start\\n")
            sys.meta_path.remove(self)
        return None
sys.meta_path.insert(0, Watch())
from vidanon.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _child(args, stderr):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", CHILD, *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=stderr)  # fmt: skip


def test_a_line_at_once_on_a_terminal_and_none_for_scripts(tmp_path, short_clip):
    import pty

    main_fd, child_fd = pty.openpty()
    proc = _child([short_clip, tmp_path / "tty.mp4"], child_fd)
    os.close(child_fd)
    err = b""
    while True:
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        err += chunk
    os.close(main_fd)
    assert proc.wait(timeout=300) == 0, err
    lines = [line.strip() for line in err.decode(errors="replace").replace("\r", "\n").splitlines() if line.strip()]
    assert lines[0] == "vidanon: loading the face detector...", lines
    assert "heavy imports start" in lines[1:]  # the line came before them

    piped = _child([short_clip, tmp_path / "pipe.mp4"], subprocess.PIPE)
    _, err = piped.communicate(timeout=300)
    assert piped.returncode == 0 and b"loading" not in err, err


@pytest.mark.parametrize("batch", [False, True], ids=["one file", "batch"])
def test_the_bar_clock_starts_with_the_first_frame(tmp_path, short_clip, monkeypatch, batch):
    """The first detector call (or a worker loading its models) takes long: its time is
    not in the bar's rate, nor in its estimate of the time left."""
    import tqdm.std

    from vidanon import pipeline

    clock = [1000.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: clock[0])
    build = pipeline.build_stages

    def slow_first_batch(*args, **kwargs):
        stages = build(*args, **kwargs)
        prepare = stages.prepare  # run_stages calls the detectors through it (see Stages.prepare)

        def warm_up_then_detect(frames):
            detect = prepare(frames)

            def run():
                if clock[0] == 1000.0:
                    clock[0] += 500.0  # the warm-up
                return detect()

            return run

        stages.prepare = warm_up_then_detect
        return stages

    monkeypatch.setattr(pipeline, "build_stages", slow_first_batch)
    bars = []
    close = tqdm.std.tqdm.close
    monkeypatch.setattr(tqdm.std.tqdm, "close", lambda bar: (bars.append((bar.n, getattr(bar, "start_t", None))), close(bar)))
    if batch:
        from vidanon.batch import Job, run_batch

        run_batch([Job(short_clip, tmp_path / "b.mp4")], {}, progress=True)
    else:
        pipeline.anonymize(short_clip, tmp_path / "a.mp4", progress=True)
    assert (12, 1500.0) in bars, bars


def test_quiet_keeps_the_summary_and_quieter_prints_nothing(tmp_path, short_clip, run_inprocess):
    code, out, err = run_inprocess(short_clip, tmp_path / "q.mp4", "-q")
    assert code == 0 and out.startswith(f"{tmp_path / 'q.mp4'}: 12 frames 96x64") and len(out.splitlines()) == 1
    assert "frame/s" not in err and "%|" not in err  # no bar
    code, out, err = run_inprocess(short_clip, tmp_path / "qq.mp4", "-qq")
    assert (code, out, err) == (0, "", "")

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(short_clip.read_bytes())
    code, out, err = run_inprocess(folder, tmp_path / "out", "-q")  # the closing line, not each file's
    assert code == 0 and out.startswith("vidanon: 1 file: 1 done, 0 failed") and len(out.splitlines()) == 1, out
    code, out, err = run_inprocess(folder, tmp_path / "out2", "-qq")
    assert (code, out, err) == (0, "", "")


def test_an_output_folder_named_like_a_video_is_refused(tmp_path, short_clip):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(short_clip.read_bytes())
    proc = run_cli(folder, tmp_path / "o.mp4")
    assert proc.returncode == 3
    assert_one_line_error(proc, "o.mp4 is named like a video", "folder")
    assert not (tmp_path / "o.mp4").exists()
    proc = run_cli(short_clip, folder / "a.mp4", "-o", tmp_path / "o.MKV")  # several files with -o too
    assert_one_line_error(proc, "o.MKV is named like a video")
    (tmp_path / "made.mp4").mkdir()  # a folder that exists is the user's choice
    assert run_cli(folder, tmp_path / "made.mp4", "-q").returncode == 0
    assert (tmp_path / "made.mp4" / "a.mp4").is_file()


def test_segments_on_a_clip_too_short_to_cut_say_so(tmp_path, short_clip, run_inprocess):
    code, out, err = run_inprocess(short_clip, tmp_path / "s.mp4", "--segments", "4", "-q")
    assert code == 0, err
    (line,) = err.splitlines()
    assert line == ("vidanon: warning: short.mp4 is too short for 4 parts (12 frames; a part needs at least 60): "
                    "run as 1 part")  # fmt: skip
    assert "s.mp4: 12 frames" in out
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(short_clip.read_bytes())
    code, out, err = run_inprocess(folder, tmp_path / "out", "--segments", "2", "-q")  # in a batch: the file's warning line
    assert code == 0 and "warning " in err and "a.mp4 is too short for 2 parts" in err, err  # (stderr, as a single run's)


def test_ray_missing_fails_before_the_files_are_read(tmp_path, run_inprocess, monkeypatch):
    from vidanon.media import probe

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    monkeypatch.setattr(probe, "probe", lambda *a, **k: pytest.fail("probed"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"junk")
    for args in ([tmp_path / "missing.mp4", tmp_path / "o.mp4"], [broken, tmp_path / "o.mp4"], [tmp_path, "-o",
                                                                                              tmp_path / "out"]):
        code, out, err = run_inprocess(*args, "--ray")
        assert code == 2 and err == "vidanon: error: --ray needs Ray: pip install 'vidanon[ray]'\n", err


def test_segments_keep_the_exit_codes_of_a_single_pass(tmp_path, short_clip, run_inprocess):
    """A file run in parts fails with the code the same file gives in one pass (2: the input,
    3: the output), not a batch's 1."""
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    for args, code, needle in (([junk, tmp_path / "o.mp4"], 2, "not a readable video"),
                               ([short_clip, tmp_path / "o.txt"], 3, "unknown container extension")):  # fmt: skip
        for extra in ([], ["--segments", "2"]):
            got, out, err = run_inprocess(*args, *extra, "-q")
            assert got == code and needle in err and err.count("vidanon: error") == 1, (extra, got, err)
