import json

from conftest import SAMPLE, assert_one_line_error, count_frames, file_hash, run_cli

from vidanon.media.probe import probe


def test_cli_end_to_end_on_sample_clip(tmp_path):
    out = tmp_path / "anon.mp4"
    tracks = tmp_path / "tracks.json"
    before = file_hash(SAMPLE)
    proc = run_cli(SAMPLE, out, "--save-tracks", tracks)
    assert proc.returncode == 0, proc.stderr
    assert "35 frames" in proc.stdout and "face boxes masked" in proc.stdout
    assert file_hash(SAMPLE) == before
    assert count_frames(out) == 35
    info = probe(out)
    assert (info.width, info.height) == (480, 270)
    data = json.loads(tracks.read_text())
    assert len(data["frames"]) == 35
    # two people walk towards the camera: faces are hidden in (nearly) every frame
    assert sum(1 for f in data["frames"] if len(f) >= 2) >= 30
    assert {o["source"] for f in data["frames"] for o in f} >= {"detected"}

    # re-render from the saved tracks with another effect, without detecting again
    out2 = tmp_path / "anon_pixelate.mp4"
    proc = run_cli(SAMPLE, out2, "--tracks", tracks, "--effect", "pixelate", "-q")
    assert proc.returncode == 0, proc.stderr
    assert count_frames(out2) == 35


def test_cli_refuses_existing_output(tmp_path):
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"precious")
    proc = run_cli(SAMPLE, out)
    assert_one_line_error(proc, "already exists", "--overwrite")
    assert out.read_bytes() == b"precious"


def test_cli_missing_input(tmp_path):
    proc = run_cli(tmp_path / "nope.mp4", tmp_path / "out.mp4")
    assert_one_line_error(proc, "does not exist")
    assert not (tmp_path / "out.mp4").exists()


def test_cli_bad_options_are_argparse_errors(tmp_path):
    for args in (["--effect", "sparkle"], ["--threshold", "1.5"], ["--batch-size", "0"], ["--crf", "99"],
                 ["--threshold", "abc"]):
        proc = run_cli(SAMPLE, tmp_path / "o.mp4", *args)
        assert proc.returncode == 2, args
        assert "Traceback" not in proc.stderr
        assert not (tmp_path / "o.mp4").exists()


def test_sigterm_and_sigint_leave_no_output(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT, make_clip

    src = make_clip(tmp_path / "long.mp4", 320, 240, frames=600, audio=True)
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        out = tmp_path / f"out_{code}.mp4"
        proc = subprocess.Popen([sys.executable, "-m", "vidanon", str(src), str(out), "-q"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while time.time() < deadline and not list(tmp_path.glob(f".out_{code}*partial*")):
            time.sleep(0.05)
        assert list(tmp_path.glob(f".out_{code}*partial*")), "encoding never started"
        time.sleep(0.5)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err
        assert "Traceback" not in err
        assert not out.exists()
        assert not list(tmp_path.glob(f".out_{code}*"))


def test_cli_says_at_once_what_it_loads_on_a_terminal(tmp_path):
    """On a terminal the first line comes before the detector's load (the start's longest
    wait); -q and a stderr that is not a terminal (a log, a pipe) get no such line."""
    import os
    import pty
    import subprocess
    import sys

    from conftest import ROOT, make_clip

    clip = make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    for quiet in ([], ["-q"]):
        leader, follower = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "vidanon", str(clip), str(tmp_path / "out.mp4"), "-y", *quiet],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=follower)  # fmt: skip
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            seen += chunk
        os.close(leader)
        assert proc.wait(timeout=300) == 0, seen
        first = seen.decode(errors="replace").lstrip().split("\n")[0]
        assert first.startswith("vidanon: loading the face detector...") != bool(quiet), seen
    piped = run_cli(clip, tmp_path / "out.mp4", "-y")
    assert piped.returncode == 0 and "loading" not in piped.stderr, piped.stderr
