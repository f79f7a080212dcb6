"""The side files (issue 31): ``--save-tracks`` and ``--review`` are checked before the run
as the output is, and a ``--tracks`` file is checked when it is read."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, file_hash, make_clip
from test_robustness import check_failed

from vidanon import anonymize
from vidanon.errors import InputError, OutputError
from vidanon.track.replay import MAX_BOXES_PER_FRAME


@pytest.fixture
def src(tmp_path):
    return make_clip(tmp_path / "in.mp4", frames=4, audio=False)


def test_save_tracks_never_replaces_the_input_the_output_or_an_existing_file(src, tmp_path, run):
    digest = file_hash(src)
    out = tmp_path / "out.mp4"
    kept = tmp_path / "kept.json"
    kept.write_text("precious")
    (tmp_path / "kept.png").write_text("precious")
    for args, needle in [
        (["--save-tracks", src], "would replace the input"),
        (["--save-tracks", tmp_path / "." / "in.mp4"], "would replace the input"),
        (["--save-tracks", out], "would replace the output"),
        (["--save-tracks", kept], "already exists; pass --overwrite"),
        (["--save-tracks", tmp_path / "s.png", "--review", tmp_path / "s.png"], "would replace the tracks file"),
        (["--review", tmp_path / "kept.png"], "already exists; pass --overwrite"),
    ]:
        code, err = run(src, out, *args)
        assert code == 3, (args, err)
        check_failed(code, err, src, digest, out, needle)
    assert kept.read_text() == "precious"
    # a replayed tracks file, edited by hand, is not replaced by the boxes saved from it (--keep drops some)
    code, err = run(src, tmp_path / "first.mp4", "--save-tracks", kept, "--overwrite")
    assert code == 0, err
    saved = kept.read_text()
    code, err = run(src, out, "--tracks", kept, "--save-tracks", tmp_path / "." / "kept.json", "--overwrite", "--keep", "1")
    check_failed(code, err, src, digest, out, "would replace the tracks file replayed")
    assert kept.read_text() == saved
    with pytest.raises(OutputError, match="would replace the input"):  # the API too
        anonymize(src, out, save_tracks=str(src), progress=False)
    assert file_hash(src) == digest and not out.exists()


def test_a_folder_that_is_a_file_is_named_so(src, tmp_path, run):
    """An output or side file under a path that is a file said "cannot create the output folder
    in.mp4: File exists" or "the folder in.mp4 does not exist"."""
    digest = file_hash(src)
    for args, needle in (([src / "o.mp4"], f"the output folder {src} is a file, not a folder"),
                         ([tmp_path / "o.mp4", "--save-tracks", src / "t.json"], f"the folder {src} is a file")):
        code, err = run(src, *args)
        assert code == 3 and needle in err, (args, err)
    assert file_hash(src) == digest and not (tmp_path / "o.mp4").exists()


def test_no_file_written_replaces_the_image_of_the_image_effect(src, tmp_path, run):
    """--image is read by the run like the input: with --overwrite, a --review, --save-tracks or a
    photo's output of its name replaced it (the user's image gone, a review sheet in its place)."""
    from PIL import Image

    image = tmp_path / "cover.png"
    Image.new("RGBA", (8, 8), (255, 0, 0, 255)).save(image)
    digest = file_hash(image)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (128, 128, 128)).save(photo)
    out = tmp_path / "out.mp4"
    for source, target, args in ((src, out, ["--review", image]), (src, out, ["--save-tracks", image]),
                                 (photo, image, [])):  # fmt: skip
        code, err = run(source, target, "-e", "image", "--image", image, "-y", *args)
        assert code == 3 and "would replace the image of the image effect" in err, (args, err)
        assert file_hash(image) == digest
    assert not out.exists()


def test_save_tracks_into_a_missing_folder_is_refused_before_the_run(src, tmp_path, run):
    digest = file_hash(src)
    out = tmp_path / "out.mp4"
    code, err = run(src, out, "--save-tracks", tmp_path / "no" / "t.json")
    assert code == 3
    check_failed(code, err, src, digest, out, "tracks file", "does not exist")


def test_side_files_into_a_read_only_folder(tmp_path):
    """Run as an unprivileged user where the tests run as root (root writes anywhere)."""
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop privileges")
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        # an interpreter under root's private home (pyenv in /root, mode 0700) does not start as
        # that user: its libpython cannot be read (ld.so: exit 127), whatever vidanon does
        probe = subprocess.run([*as_user, sys.executable, "-c", "import vidanon"], capture_output=True, text=True,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd="/", timeout=120)  # fmt: skip
        if probe.returncode != 0:
            pytest.skip(f"this Python does not run as an unprivileged user: {probe.stderr.strip()[-200:]}")
    folder = Path(tempfile.mkdtemp())  # not under pytest's private tmp_path: the user must reach it
    try:
        folder.chmod(0o755)
        clip = make_clip(folder / "in.mp4", frames=4, audio=False)
        clip.chmod(0o644)
        (folder / "out").mkdir(mode=0o777)
        (folder / "out").chmod(0o777)
        locked = folder / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(folder))
        for option, what in (("--save-tracks", "tracks file"), ("--review", "review sheet")):
            out = folder / "out" / "o.mp4"
            proc = subprocess.run([*as_user, sys.executable, "-m", "vidanon", clip, out, option,
                                   locked / "side.png", "-q"], capture_output=True, text=True, env=env, cwd=ROOT,
                                  timeout=300)  # fmt: skip
            lines = proc.stderr.strip().splitlines()
            assert proc.returncode == 3, proc.stderr
            assert len(lines) == 1 and what in lines[0] and "not writable" in lines[0], proc.stderr
            assert not out.exists() and not list((folder / "out").iterdir())
    finally:
        (folder / "locked").chmod(0o755)
        shutil.rmtree(folder)


def write_tracks(path: Path, frames) -> Path:
    path.write_text(json.dumps({"frames": frames}))
    return path


BOX = {"box": [0.1, 0.1, 0.5, 0.5], "id": 1, "score": 0.9}


@pytest.mark.parametrize("bad, needle", [
    ({"box": [float("nan"), 0.1, 0.5, 0.5], "id": 1}, "is not finite"),
    ({"box": [0.1, 0.1, float("inf"), 0.5], "id": 1}, "is not finite"),
    ({"box": [0.1, 0.1, 0.5, 0.5], "id": 1e30}, "is not a track number"),
    ({"box": [0.5, 0.5, 0.1, 0.1], "id": 1}, "has no area"),  # inverted: would hide nothing
    ({"box": [0.2, 0.1, 0.2, 0.5], "id": 1}, "has no area"),  # zero height
    ({"box": [1.2, 1.2, 1.5, 1.5], "id": 1}, "lies outside the picture"),  # was counted as a face hidden
    ({"box": [0.2, -0.6, 0.5, 0.0], "id": 1}, "lies outside the picture"),
    ({"box": [0.1, 0.1, 0.5], "id": 1}, "must be 4 numbers"),
    ({"box": [0.1, 0.1, 0.5, 0.5], "score": "high"}, "score"),
    # past 32-bit floats (1e39): infinite once read, the render failed (found by a QA sweep)
    ({"box": [0.2, 0.2, 0.5, 1e39], "id": 1}, "reaches more than 1000 frames past the picture"),
    ({"box": [-1e300, 0.2, 0.5, 0.6], "id": 1}, "reaches more than 1000 frames past the picture"),
    ({"box": [0.1, 0.1, 0.5, 0.5], "score": 1e39}, "the score 1e+39 is not a score"),
    ({"box": [0.1, 0.1, 0.5, 10**400], "id": 1}, "reaches more than 1000 frames past"),  # (an int no float holds)
    ({"box": [0.1, 0.1, 0.5, 0.5], "score": 10**400}, "is not a score"),
    ({"box": [0.1, 0.1, 0.5, 0.5], "class": "alien"}, 'the class "alien" is not one of face, person, plate'),
    ({"box": [0.1, 0.1, 0.5, 0.5], "source": "bogus"}, 'the source "bogus" is not one of detected, predicted'),
])  # fmt: skip
def test_tracks_file_boxes_are_checked_when_read(src, tmp_path, run, bad, needle):
    digest = file_hash(src)
    out = tmp_path / "out.mp4"
    tracks = write_tracks(tmp_path / "t.json", [[BOX], [BOX, bad], [], []])
    code, err = run(src, out, "--tracks", tracks)
    assert code == 2
    check_failed(code, err, src, digest, out, "frame 1, box 1", needle)


def test_tracks_file_boxes_per_frame_are_capped(src, tmp_path):
    many = [dict(BOX, id=i) for i in range(MAX_BOXES_PER_FRAME + 1)]
    tracks = write_tracks(tmp_path / "t.json", [[BOX], [], many, []])
    with pytest.raises(InputError, match=f"frame 2: {MAX_BOXES_PER_FRAME + 1} boxes; .* at most {MAX_BOXES_PER_FRAME}"):
        anonymize(src, tmp_path / "out.mp4", tracks=str(tracks), progress=False)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("text, needle", [
    ('{"video": "in.mp4", "width": 64}', "has no 'frames' list"),
    ('{"frames": {"0": []}}', "'frames' must be a list of frames (one list of boxes per frame), not an object"),
    ("[[], [], [], []]", "must be a JSON object with a 'frames' list, not a list"),
    ('{"frames": [[]', "it is not JSON (line 1"),
    ('{"width": 64.5, "height": 48, "frames": [[], [], [], []]}', "'width' must be the video's width in pixels"),
])  # fmt: skip
def test_a_tracks_file_that_is_not_one_is_refused_in_words(src, tmp_path, run, text, needle):
    digest, out, tracks = file_hash(src), tmp_path / "out.mp4", tmp_path / "t.json"
    tracks.write_text(text)
    code, err = run(src, out, "--tracks", tracks)
    assert code == 2
    check_failed(code, err, src, digest, out, f"tracks file {tracks}", needle)


def test_a_tracks_file_of_another_frame_size_is_refused(src, tmp_path, run):
    digest, out = file_hash(src), tmp_path / "out.mp4"
    tracks = tmp_path / "t.json"
    tracks.write_text(json.dumps({"video": str(src), "width": 480, "height": 270, "frames": [[BOX], [], [], []]}))
    code, err = run(src, out, "--tracks", tracks)
    assert code == 2
    check_failed(code, err, src, digest, out, "saved for a 480x270 video, but in.mp4 is 64x48")


def test_a_tracks_file_of_another_file_name_is_replayed_with_a_warning(src, tmp_path, run):
    frames = [[{"box": [0.1, 0.1, 0.5, 0.5]}], [], [], []]  # written by hand: no score, id, class or source
    tracks = tmp_path / "t.json"
    tracks.write_text(json.dumps({"video": "/elsewhere/in.mp4", "width": 64, "height": 48, "frames": frames}))
    code, err = run(src, tmp_path / "same.mp4", "--tracks", tracks)  # the same name in another folder
    assert (code, err) == (0, "")
    tracks.write_text(json.dumps({"video": "C:\\clips\\other.mp4", "width": 64, "height": 48, "frames": frames}))
    code, err = run(src, tmp_path / "renamed.mp4", "--tracks", tracks)
    assert code == 0 and err.splitlines() == [
        f"vidanon: warning: tracks file {tracks} was saved for other.mp4, not in.mp4: its boxes are another "
        "video's unless this is a renamed copy"]  # fmt: skip
    assert (tmp_path / "renamed.mp4").exists()


def test_a_tracks_file_of_other_kinds_than_the_target_is_refused(src, tmp_path, run):
    digest, out, tracks = file_hash(src), tmp_path / "out.mp4", tmp_path / "t.json"
    write_tracks(tracks, [[dict(BOX, **{"class": "plate"})], [], [], []])
    code, err = run(src, out, "--tracks", tracks, "--target", "people")
    check_failed(code, err, src, digest, out, "holds boxes of plates, but this run hides faces,people: replay it "
                 "with --target plates")  # fmt: skip
    assert code == 2
    write_tracks(tracks, [[BOX], [], [], []])  # faces (the class left out)
    code, err = run(src, out, "--tracks", tracks, "--effect", "splash")
    check_failed(code, err, src, digest, out, "--effect splash shows people", "--target faces and another --effect")
    write_tracks(tracks, [[dict(BOX, **{"class": "person"})], [], [], []])
    code, err = run(src, out, "--tracks", tracks)
    check_failed(code, err, src, digest, out, "holds boxes of people, but this run hides faces: replay it with "
                 "--target people")  # fmt: skip


def test_a_splash_runs_tracks_file_is_not_replayed_as_if_it_held_every_face(src, tmp_path, run):
    """A splash run looks for people only: replayed with --target people (which hides every
    face too, also where no person was found), its file hid the people and left the faces of
    those the person detector missed visible (found by a QA sweep: 686 of 2193 face boxes of
    a marathon clip). The file says what its run looked for; such a replay is refused."""
    digest, tracks = file_hash(src), tmp_path / "t.json"
    code, err = run(src, tmp_path / "splash.mp4", "--effect", "splash", "--save-tracks", tracks)
    assert code == 0 and json.loads(tracks.read_text())["looked_for"] == ["people"]
    out = tmp_path / "out.mp4"
    for extra in (("--target", "people"), ()):
        code, err = run(src, out, "--tracks", tracks, *extra)
        check_failed(code, err, src, digest, out, f"tracks file {tracks} was saved by a run that looked for people "
                     "(--effect splash looks for people only): it has no faces, which this run hides")  # fmt: skip
        assert code == 2
    code, err = run(src, tmp_path / "again.mp4", "--tracks", tracks, "--effect", "splash")  # as it was made
    assert code == 0
    code, err = run(src, tmp_path / "people.mp4", "--target", "people", "--save-tracks", tmp_path / "p.json")
    assert code == 0 and json.loads((tmp_path / "p.json").read_text())["looked_for"] == ["faces", "people"]
    code, err = run(src, tmp_path / "replayed.mp4", "--tracks", tmp_path / "p.json", "--target", "people",
                    "--save-tracks", tmp_path / "q.json")  # fmt: skip
    assert code == 0 and json.loads((tmp_path / "q.json").read_text())["looked_for"] == ["faces", "people"]


def test_a_tracks_file_of_faces_replays_with_people_hidden_too(src, tmp_path, run):
    # hiding people hides faces too: a file of faces fits a run with --target people; one that does
    # not say what its run looked for (written by hand) is replayed with a warning: it has no people
    write_tracks(tmp_path / "t.json", [[BOX], [], [], []])
    code, err = run(src, tmp_path / "out.mp4", "--tracks", tmp_path / "t.json", "--target", "people")
    assert code == 0 and (tmp_path / "out.mp4").exists()
    assert "does not say what its run looked for" in err and "holds no people" in err and len(err.splitlines()) == 1


def test_the_summary_of_a_replay_names_the_kinds_of_its_file(src, tmp_path):
    tracks = write_tracks(tmp_path / "t.json", [[BOX], [], [], []])
    summary = anonymize(src, tmp_path / "out.mp4", tracks=str(tracks), target="faces,plates", progress=False)
    assert summary.target == "faces" and summary.faces == 1  # not "face and plate boxes": the file holds no plate
