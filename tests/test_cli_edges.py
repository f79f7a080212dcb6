"""The command line where users' paths and habits are unusual: device files, the current
folder given as the input, inputs that write the same output, a batch's photos and short
videos with the videos' options, names with line breaks."""

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE, assert_one_line_error, make_clip, run_cli


def test_save_tracks_never_replaces_a_device_or_a_pipe(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    link = tmp_path / "null.json"
    link.symlink_to("/dev/null")
    for target in (fifo, link):
        proc = run_cli(SAMPLE, tmp_path / "o.mp4", "--save-tracks", target, "-y")
        assert_one_line_error(proc, "is a device, pipe or socket, not a file")
        assert proc.returncode == 3
    assert fifo.is_fifo() and link.is_symlink() and os.readlink(link) == "/dev/null"
    out = tmp_path / "out.mp4"
    os.mkfifo(out)
    proc = run_cli(SAMPLE, out, "-y")
    assert_one_line_error(proc, "is a device, pipe or socket, not a file")
    assert out.is_fifo()


def test_a_second_video_as_output_points_to_o_dir(tmp_path):
    first, second = tmp_path / "day1.mp4", tmp_path / "day2.mp4"
    shutil.copy(SAMPLE, first)
    shutil.copy(SAMPLE, second)
    proc = run_cli(first, second)
    assert_one_line_error(proc, "day2.mp4 already exists", "to anonymize both videos, give a folder: vidanon ")
    proc = run_cli(first)  # a second run of one input: no such hint
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(first)
    err = assert_one_line_error(proc, "day1_anonymized.mp4 already exists")
    assert "-o DIR" not in err


def _in(folder: Path, *args):
    return subprocess.run([sys.executable, "-m", "vidanon", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip


def test_the_current_folder_as_the_input(tmp_path):
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    shutil.copy(SAMPLE, top / "clip.mp4")
    proc = _in(top, ".", "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "top_anonymized" / "clip.mp4").is_file()
    proc = _in(top / "sub", "..", "-q", "-y")
    assert proc.returncode == 0, proc.stderr
    assert not list((top / "sub").iterdir())  # not a hidden ".._anonymized" inside the input
    assert_one_line_error(_in(tmp_path, "/"), "has no name")


def test_a_deleted_working_folder_is_one_line(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    code = ("import os, sys; os.chdir(sys.argv[1]); os.rmdir(sys.argv[1]); from vidanon.cli import main; "
            "sys.exit(main([sys.argv[2], 'out.mp4', '-q']))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code, str(gone), str(SAMPLE)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert_one_line_error(proc, "the current folder no longer exists")
    assert proc.returncode == 2


def test_an_output_folder_holding_the_input_folder(tmp_path):
    trip = tmp_path / "Videos" / "trip"
    trip.mkdir(parents=True)
    shutil.copy(SAMPLE, trip / "beach.mp4")
    proc = run_cli(trip, tmp_path / "Videos", "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "Videos" / "beach.mp4").is_file()


def test_two_inputs_for_one_output_fail_alone(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "clip.mp4", frames=5, audio=False)
    make_clip(src / "clip.flv", frames=5, audio=False)
    make_clip(src / "other.mp4", frames=5, audio=False)
    proc = run_cli(src, tmp_path / "out", "-q")
    assert proc.returncode == 1, proc.stderr
    assert (tmp_path / "out" / "other.mp4").is_file()
    assert not (tmp_path / "out" / "clip.mp4").exists()
    assert "clip.flv and" in proc.stderr and "would both be written to" in proc.stderr, proc.stderr


def test_a_batch_with_a_short_video_and_a_photo_given_end(tmp_path):
    from PIL import Image

    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "short.mp4", frames=10, audio=False)  # 0.4 s
    shutil.copy(SAMPLE, src / "long.mp4")
    Image.new("RGB", (64, 48), (90, 120, 60)).save(src / "photo.jpg")
    proc = run_cli(src, tmp_path / "out", "--end", "2", "--max-face-size", "0.5")
    assert proc.returncode == 0, proc.stderr
    for name in ("short.mp4", "long.mp4", "photo.jpg"):
        assert (tmp_path / "out" / name).is_file(), proc.stderr
    assert "--end 2 s is past the end of short.mp4 (0.40 s): faces hidden to the end" in proc.stderr
    assert "--end, --max-face-size apply to videos: not used for the photo photo.jpg" in proc.stderr
    assert "warning" not in proc.stdout  # (warnings on stderr, as a single run's)


def test_an_output_name_with_a_line_break_in_parts(tmp_path):
    src = tmp_path / "in.mp4"
    make_clip(src, width=96, height=64, frames=150, audio=True)  # two parts of 60 frames at least
    out = tmp_path / "two\nparts.mp4"
    proc = run_cli(src, out, "--segments", "2", "-q", timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "two\nparts.mp4"]


def test_the_bar_escapes_the_name(monkeypatch):
    from vidanon import progress
    from vidanon.media.probe import probe
    from vidanon.pipeline import _progress

    seen = {}
    monkeypatch.setattr(progress, "FrameBar", lambda **kwargs: seen.update(kwargs))
    _progress(dataclasses.replace(probe(SAMPLE), path=Path("\x1b[31mred\r.mp4")), enabled=True)
    assert seen["desc"] == "\\x1b[31mred\\r.mp4"


@pytest.mark.parametrize("args, needle", [
    (["--fill-color", "rgb(300,0,0)", "-e", "fill"], "--fill-color must be a colour name"),
    (["--preset", ""], "--preset needs a name"),
    (["--codec", ""], "--codec needs a name"),
    (["--max-face-size", "2"], "--max-face-size must be between 0.01 and 1, not 2"),
])  # fmt: skip
def test_option_values_refused_in_the_flags_words(tmp_path, args, needle):
    proc = run_cli(SAMPLE, tmp_path / "o.mp4", *args)
    assert_one_line_error(proc, needle)
    assert proc.returncode == 2


def test_whole_numbers_written_as_floats():
    from vidanon.options import Options

    opts = Options(crf=20.0, detect_size=0.0, batch_size=8.0)
    opts.validate()
    assert (opts.crf, opts.detect_size, opts.batch_size) == (20, 0, 8)
    assert all(type(v) is int for v in (opts.crf, opts.detect_size, opts.batch_size))


def test_keep_given_twice_keeps_both():
    from vidanon.cli import build_parser, parse

    args = parse(build_parser(), ["in.mp4", "out.mp4", "--keep", "1", "--keep", "2,5"])
    assert args.keep == "1,2,5"
    assert parse(build_parser(), ["in.mp4", "out.mp4"]).keep is None


def test_an_end_past_the_video_hides_to_its_end(tmp_path):
    import json

    tracks = tmp_path / "t.json"
    proc = run_cli(SAMPLE, tmp_path / "o.mp4", "--end", "3.5", "--save-tracks", tracks, "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ("vidanon: warning: --end 3.5 s is past the end of walking_to_camera.mp4 (2.92 s): "
                                   "faces hidden to the end")  # fmt: skip
    frames = json.loads(tracks.read_text())["frames"]
    assert len(frames) == 35 and all(len(f) == 2 for f in frames[-5:])  # both faces to the last frame


def test_a_batch_never_writes_over_another_input(tmp_path):
    (tmp_path / "clips" / "clips").mkdir(parents=True)
    make_clip(tmp_path / "clips" / "x.mp4", frames=5, audio=False)
    make_clip(tmp_path / "clips" / "clips" / "x.mp4", width=96, height=64, frames=5, audio=False)
    before = (tmp_path / "clips" / "x.mp4").read_bytes()
    proc = _in(tmp_path, "clips", "-o", ".", "-r", "--overwrite", "-q")
    assert proc.returncode == 1, proc.stderr
    assert "would be written over the input clips/x.mp4" in proc.stderr, proc.stderr
    assert (tmp_path / "clips" / "x.mp4").read_bytes() == before
    assert (tmp_path / "x.mp4").is_file()  # the other one written


def test_odd_size_for_an_encoder_that_ignores_it(tmp_path):
    proc = run_cli(SAMPLE, tmp_path / "o.webm", "--odd-size", "444")
    assert_one_line_error(proc, "--odd-size 444 has no effect: it is for libx264 and libx265, and .webm is written "
                                "with libvpx-vp9")  # fmt: skip
    assert proc.returncode == 2 and not (tmp_path / "o.webm").exists()
