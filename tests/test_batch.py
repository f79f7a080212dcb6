"""Batch mode, worker processes, segments and Ray (vidanon.batch)."""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import SAMPLE, count_frames, ffmpeg, read_frames, run_cli

from vidanon.batch import MIN_PART, Job, plan_jobs, split_frames
from vidanon.errors import VidanonError
from vidanon.media import paths


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_plan_keeps_relative_paths_and_picks_only_videos(tmp_path):
    src = tmp_path / "in"
    touch(src / "a.mp4")
    touch(src / "b.MOV")
    touch(src / "c.flv")  # readable, but not a container vidanon writes: becomes .mp4
    touch(src / "notes.txt")
    touch(src / ".hidden.mp4")
    touch(src / "day2" / "d.mkv")
    flat = plan_jobs([str(src)], str(tmp_path / "out"))
    assert [j.output.relative_to(tmp_path / "out").as_posix() for j in flat] == ["a.mp4", "b.MOV", "c.mp4"]
    deep = plan_jobs([str(src)], str(tmp_path / "out"), recursive=True)
    assert (tmp_path / "out" / "day2" / "d.mkv") in [j.output for j in deep]
    assert all(j.input.parent == src or j.input.parent == src / "day2" for j in deep)


def test_plan_refuses_clashes_and_empty_folders_and_skips_its_own_output(tmp_path):
    touch(tmp_path / "x" / "clip.mp4")
    touch(tmp_path / "y" / "clip.mp4")
    with pytest.raises(VidanonError, match="both be written"):
        plan_jobs([str(tmp_path / "x" / "clip.mp4"), str(tmp_path / "y" / "clip.mp4")], str(tmp_path / "out"))
    # the same file named twice, or with its own folder, is done once (it refused the whole batch)
    x = tmp_path / "x" / "clip.mp4"
    for names in ([x, x, f"{tmp_path}/x/../x/clip.mp4"], [x, tmp_path / "x"]):
        assert plan_jobs([str(n) for n in names], str(tmp_path / "out")) == [Job(x, tmp_path / "out" / "clip.mp4")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(VidanonError, match="no video or photo files"):
        plan_jobs([str(tmp_path / "empty")], str(tmp_path / "out"))
    with pytest.raises(VidanonError, match="does not exist"):
        plan_jobs([str(tmp_path / "nope.mp4")], str(tmp_path / "out"))
    # an output folder inside the input folder is not read back as input on a second run
    touch(tmp_path / "x" / "anon" / "clip.mp4")
    jobs = plan_jobs([str(tmp_path / "x")], str(tmp_path / "x" / "anon"), recursive=True)
    assert [j.input.name for j in jobs] == ["clip.mp4"] and len(jobs) == 1


def test_hidden_folders_and_the_input_folder_as_output(tmp_path):
    """A hidden folder's files (".cache", ".thumbnails") are left out like hidden files; the
    input folder as the output folder, or a file written over itself, is refused in words
    (it said "no video or photo files found", or skipped the file as "output exists")."""
    src = tmp_path / "in"
    for name in ("a.mp4", "sub/b.mp4", ".hid/c.mp4", "sub/.d.mp4"):
        touch(src / name)
    jobs = plan_jobs([src], tmp_path / "out", recursive=True)
    assert sorted(str(j.input.relative_to(src)) for j in jobs) == ["a.mp4", "sub/b.mp4"]
    with pytest.raises(VidanonError, match="is the input folder"):
        plan_jobs([src], src, recursive=True)
    with pytest.raises(VidanonError, match="would be written over itself"):
        plan_jobs([src / "a.mp4"], src)


def test_a_batch_whose_output_folder_cannot_be_made_fails_once(tmp_path):
    """Every output in a folder that cannot be created: one line, exit 3, as for one file
    (it was a failure line per file, twice, and exit 1)."""
    src = tmp_path / "in"
    for name in ("a.mp4", "b.mp4"):
        touch(src / name, SAMPLE.read_bytes())
    touch(tmp_path / "afile")
    proc = run_cli(src, tmp_path / "afile" / "out")
    assert proc.returncode == 3 and "cannot create the output folder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_split_frames_covers_every_frame_once():
    for n, k in [(1394, 2), (1394, 7), (100, 4), (61, 3), (10, 2)]:
        ranges = split_frames(n, k)
        assert ranges[0][0] == 0 and ranges[-1][1] is None
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        lengths = [b - a for a, b in ranges[:-1]] + [n - ranges[-1][0]]
        assert sum(lengths) == n and len(ranges) <= k
        assert len(ranges) == 1 or min(lengths) >= MIN_PART


def test_batch_folder_goes_on_after_a_bad_file_and_skips_existing_outputs(tmp_path):
    from vidanon.cli import main

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(SAMPLE, src / "one.mp4")
    shutil.copy(SAMPLE, src / "sub" / "two.mp4")
    touch(src / "broken.mp4", b"not a video at all")
    out = tmp_path / "out"
    touch(out / "one.mp4", b"already there")
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}

    code = main([str(src), str(out), "--recursive", "--quiet"])
    assert code == 1  # one file failed
    assert (out / "one.mp4").read_bytes() == b"already there"  # skipped, not redone
    assert count_frames(out / "sub" / "two.mp4") == 35
    assert not (out / "broken.mp4").exists()
    assert not [p for p in out.rglob(".*")]  # no temporary file left behind
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before

    (src / "broken.mp4").unlink()
    assert main([str(src), str(out), "-r", "-q", "--overwrite"]) == 0
    assert count_frames(out / "one.mp4") == 35


def test_batch_does_not_take_an_empty_placeholder_or_a_folder_for_a_finished_output(tmp_path, capsys):
    """A run killed outright leaves its empty placeholder at the output (a single run then
    asks for --overwrite): a batch skipped it as done and said "0 failed"; a folder too."""
    from vidanon.cli import main

    src = tmp_path / "in"
    src.mkdir()
    for name in ("one", "two", "three"):
        shutil.copy(SAMPLE, src / f"{name}.mp4")
    out = tmp_path / "out"
    touch(out / "one.mp4", b"")  # a killed run's placeholder
    (out / "two.mp4").mkdir()
    assert main([str(src), str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert " already exists (an empty file: another run may be writing it, or one was killed); pass --overwrite" in err
    assert f"output {out / 'two.mp4'} is a directory" in err
    assert count_frames(out / "three.mp4") == 35 and (out / "one.mp4").stat().st_size == 0
    assert main([str(src), str(out), "-q", "--overwrite"]) == 1  # the folder stays refused
    assert count_frames(out / "one.mp4") == 35


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """The sample clip four times over (140 frames), with a tone as audio."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-stream_loop", "3", "-i", str(SAMPLE),
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-map", "0:v", "-map", "1:a",
                    "-t", f"{140 / 12:.4f}", "-c:v", "copy", "-c:a", "aac", str(path)], check=True)  # fmt: skip
    assert count_frames(path) == 140
    return path


def test_segments_give_the_same_frames_and_audio_as_one_pass(tmp_path, long_clip):
    """Two parts in two worker processes, joined: same frame count, audio, and pictures
    as a single pass, and each part's tracker warm at the seam."""
    from vidanon.media.probe import probe

    whole, split = tmp_path / "whole.mp4", tmp_path / "split.mp4"
    assert run_cli(long_clip, whole, "-q").returncode == 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    part = paths._temp_name(split, gone.pid, "part0", ".mp4")  # what a run killed with SIGKILL leaves:
    for left in (part, paths._temp_name(part, gone.pid, "partial", ".mp4"),  # a part, a part being written,
                 paths._temp_name(paths._temp_name(split, gone.pid, "partial", ".mp4"), gone.pid, "parts", ".txt")):
        left.write_bytes(b"x")  # and the join's list (vidanon.media.join names it after the joined file's)
        os.utime(left, (time.time() - 600,) * 2)
    done = run_cli(long_clip, split, "--segments", "2")
    assert done.returncode == 0, done.stderr
    assert "removed 3 temporary files of an earlier run on split.mp4" in done.stderr
    assert "2 parts" in done.stdout
    a, b = read_frames(whole), read_frames(split)
    assert len(a) == len(b) == 140
    info, src = probe(split), probe(long_clip)
    assert info.has_audio and abs(info.duration - src.duration) < 0.1
    # the pictures agree up to the encoder's noise: the faces are hidden in the same places
    diffs = [np.abs(x.astype(np.int16) - y).mean() for x, y in zip(a, b)]
    assert max(diffs) < 3.0, f"largest frame difference {max(diffs):.2f} at frame {int(np.argmax(diffs))}"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_segments_say_once_when_no_frame_starts_in_the_span(tmp_path, long_clip):
    """--start/--end with --segments: a span without a frame start is said once, as a single
    run says it; a span inside one part's share is not a warning of the other part."""
    warning = ("vidanon: warning: no frame starts between --start and --end: no face was hidden (a frame counts "
               "when its time is in the span)")
    done = run_cli(long_clip, tmp_path / "none.mp4", "--segments", "2", "--start", "1.01", "--end", "1.05", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == warning
    done = run_cli(long_clip, tmp_path / "first.mp4", "--segments", "2", "--start", "1", "--end", "2", "-q")
    assert done.returncode == 0, done.stderr
    assert "no frame starts" not in done.stderr


@pytest.mark.parametrize("container", ["ts", "mkv"])
def test_segments_of_a_file_that_does_not_start_at_zero(tmp_path, long_clip, container):
    """An MPEG-TS starting at 1.4 s whose video starts 0.5 s after its audio, a Matroska file
    starting at 10 s: the joined parts were moved back by the file's start, so that the
    first 11 and 120 of the 140 frames fell before 0 and were hidden by the edit list."""
    from media import header

    src = tmp_path / f"late.{container}"
    offset = ("-itsoffset", "0.5") if container == "ts" else ()
    subprocess.run([ffmpeg(), "-v", "error", "-y", *offset, "-i", str(long_clip), "-i", str(long_clip), "-map", "0:v",
                    "-map", "1:a", "-c", "copy", *(("-output_ts_offset", "10") if container == "mkv" else ()),
                    str(src)], check=True)  # fmt: skip
    def lead(h):  # the video's start after the audio's (ffmpeg prints no start of 0 for some containers)
        return (h.video.start or 0.0) - (h.of_kind("audio")[0].start or 0.0)

    before = lead(header(src))
    out = tmp_path / "out.mp4"
    done = run_cli(src, out, "--segments", "2", "-q")
    assert done.returncode == 0, done.stderr
    assert len(read_frames(out)) == 140
    assert lead(header(out)) == pytest.approx(before, abs=0.002)


@pytest.mark.parametrize("container", ["mkv", "mov"])
def test_segments_keep_every_frame_time_of_a_video_starting_after_its_audio(tmp_path, long_clip, container):
    """An MP4 whose video starts 0.5 s after its audio, cut in 2 parts into Matroska: the
    second part was 0.5 s late (a gap at the seam, the last frames past the audio), as the
    concat demuxer took a part's length from its end time, not from its first frame."""
    from media import assert_same_times, stream_md5, video_times

    src = tmp_path / "late.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-itsoffset", "0.5", "-i", str(long_clip), "-i", str(long_clip),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", str(src)], check=True)  # fmt: skip
    out = tmp_path / f"out.{container}"
    done = run_cli(src, out, "--segments", "2", "-q")
    assert done.returncode == 0, done.stderr
    (a, tb_a), (b, tb_b) = video_times(src), video_times(out)
    assert_same_times(a, b, float(max(tb_a, tb_b)))
    assert stream_md5(out, "a:0") == stream_md5(src, "a:0")


def test_long_names_in_one_folder_get_their_own_part_files(tmp_path):
    """Two videos whose long names (79 CJK characters, 237 bytes) differ only at the end:
    their part files had the same name (the stem cut to fit 255 bytes), so with --jobs 2
    a part of one could replace the other's before the join. The temporary names differ."""
    from vidanon.media.paths import part_path_for, temp_path_for

    names = ["視" * 78 + tail + ".mp4" for tail in "一二"]
    for k in range(2):
        a, b = (part_path_for(tmp_path / name, k) for name in names)
        assert a != b and len(a.name.encode()) <= 255 and len(b.name.encode()) <= 255
    assert temp_path_for(tmp_path / names[0]) != temp_path_for(tmp_path / names[1])
    assert temp_path_for(tmp_path / "short.mp4").name.startswith(".short.vidanon-")


def test_jobs_run_files_in_worker_processes(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mov"):
        shutil.copy(SAMPLE, src / name)
    done = run_cli("--jobs", "2", "-o", tmp_path / "out", src / "a.mp4", src / "b.mp4", src / "c.mov")
    assert done.returncode == 0, done.stderr
    assert "3 files: 3 done, 0 failed" in done.stdout
    assert [count_frames(tmp_path / "out" / n) for n in ("a.mp4", "b.mp4", "c.mov")] == [35, 35, 35]


def test_batch_arguments_are_checked(tmp_path):
    assert run_cli().returncode == 2  # no input (an input alone writes INPUT_anonymized beside it: test_cli)
    bad = run_cli(SAMPLE, SAMPLE, tmp_path / "x.mp4")
    assert bad.returncode == 2 and "-o DIR" in bad.stderr
    tracks = run_cli(SAMPLE, "-o", tmp_path, "--save-tracks", tmp_path / "t.json")
    assert tracks.returncode == 2 and "one video" in tracks.stderr


def test_tracks_with_segments_are_refused_before_the_run(tmp_path):
    from vidanon.batch import Job, run_batch
    from vidanon.options import OptionError

    out, tracks = tmp_path / "out.mp4", tmp_path / "t.json"
    tracks.write_text('{"frames": []}')
    proc = run_cli(SAMPLE, out, "--segments", "2", "--tracks", tracks)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "--tracks replays a tracks file over the whole video: drop --segments" in proc.stderr
    assert not out.exists()
    for name, value in (("tracks", str(tracks)), ("save_tracks", str(tmp_path / "s.json")),
                        ("review", str(tmp_path / "r.png"))):  # the last two were silently not written
        with pytest.raises(OptionError, match="covers the whole video in one pass: it cannot be used with segments"):
            run_batch([Job(SAMPLE, out)], {name: value}, segments=2, progress=False)
    assert not out.exists()


def test_ray_runs_the_same_tasks(tmp_path):
    pytest.importorskip("ray")
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(SAMPLE, src / "a.mp4")
    touch(src / "broken.mp4", b"junk")
    done = run_cli(src, tmp_path / "out", "--ray", timeout=600)
    assert done.returncode == 1, done.stderr  # the broken file fails, the other is done
    assert "2 files: 1 done, 1 failed" in done.stdout
    assert count_frames(tmp_path / "out" / "a.mp4") == 35



def test_a_failed_part_gives_the_exit_code_of_its_error(tmp_path, long_clip, monkeypatch, capsys):
    # a part's error was re-raised as a plain VidanonError: exit 1 where one pass gives 5
    from vidanon import pipeline
    from vidanon.cli import main
    from vidanon.errors import ResourceError

    real = pipeline.anonymize

    def second_part_fails(*args, **kwargs):
        if (kwargs.get("frame_range") or (0,))[0] > 0:
            raise ResourceError("out of memory in the second part")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "anonymize", second_part_fails)
    assert main([str(long_clip), str(tmp_path / "o.mp4"), "--segments", "2", "--jobs", "1", "-q"]) == 5
    assert capsys.readouterr().err == "vidanon: error: out of memory in the second part\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_photo_is_logged_as_one_frame():
    # "1 frames" in the batch's line for a photo
    from pathlib import Path

    from vidanon.batch import BatchSummary, _record
    from vidanon.workers import Result, Task

    lines = []
    summary = {"frames": 1, "faces": 2, "seconds": 0.5, "target": "faces"}
    task = Task(0, "a.jpg", "out/a.jpg", {})
    _record(BatchSummary(), Job(Path("a.jpg"), Path("out/a.jpg")), Result(task, summary=summary), lines.append)
    assert lines == ["done    a.jpg -> out/a.jpg: 1 frame, 2 face boxes, 0.5 s"]


def test_a_folders_photos_it_does_not_read_are_named(tmp_path):
    # a folder's .tif, .bmp and .heic (without pillow-heif) were left out without a word (exit 0,
    # "1 file: 1 done"); a camcorder's .MOD and a studio's .mxf were left out as unknown
    from vidanon.batch import unread_note

    for name in ("a.jpg", "b.tif", "c.BMP", "d.avif", "f.mxf", "notes.txt", "go.mod"):
        touch(tmp_path / "in" / name)
    touch(tmp_path / "in" / "e.MOD", b"\x00\x00\x01\xba" + bytes(60))  # an MPEG program stream, not go.mod
    touch(tmp_path / "in" / "g.TOD", (b"G" + bytes(187)) * 2)  # JVC's HD .TOD: a transport stream
    touch(tmp_path / "in" / "h.mod", b"Galaxy Tune" + bytes(300))  # a tracker's music
    left: list = []
    jobs = plan_jobs([str(tmp_path / "in")], str(tmp_path / "out"), left_out=left)
    assert sorted(j.input.name for j in jobs) == ["a.jpg", "e.MOD", "f.mxf", "g.TOD"]
    assert sorted(p.name for p in left) == ["b.tif", "c.BMP", "d.avif"]
    note = unread_note(left)
    assert note.startswith("3 photos left out (") and ".png" in note and note.endswith("not .avif, .bmp, .tif")
    for p in tmp_path.joinpath("in").glob("[aeg]*"):
        p.unlink()
    (tmp_path / "in" / "f.mxf").unlink()
    with pytest.raises(VidanonError, match="no file vidanon reads in .*: 3 photos left out"):
        plan_jobs([str(tmp_path / "in")], str(tmp_path / "out"), left_out=[])


def test_inputs_that_all_clash_are_each_reported(tmp_path):
    # only clashing inputs refused the whole run (exit 3) where batch.md says each is reported (exit 1)
    touch(tmp_path / "in" / "clip.mp4")
    touch(tmp_path / "in" / "clip.flv")
    clashes: list = []
    assert plan_jobs([str(tmp_path / "in")], str(tmp_path / "out"), clashes=clashes) == []
    assert sorted(job.input.name for job, _ in clashes) == ["clip.flv", "clip.mp4"]
