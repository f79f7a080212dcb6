import json

from conftest import SAMPLE, assert_one_line_error, count_frames, file_hash, run_cli
from vidanon.video import probe


def test_cli_end_to_end_on_sample_clip(tmp_path):
    out = tmp_path / "anon.mp4"
    tracks = tmp_path / "tracks.json"
    before = file_hash(SAMPLE)
    proc = run_cli(SAMPLE, out, "--save-tracks", tracks)
    assert proc.returncode == 0, proc.stderr
    assert "35 frames" in proc.stdout and "face boxes hidden" in proc.stdout
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
