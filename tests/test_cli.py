import json

import pytest
from conftest import SAMPLE, assert_one_line_error, count_frames, file_hash, make_clip, run_cli

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


def test_cli_a_url_is_named_a_url(tmp_path):
    # "input http:/example.com/a.mp4 does not exist": the path had folded the URL's "//"
    proc = run_cli("https://example.com/a.mp4", tmp_path / "out.mp4")
    assert_one_line_error(proc, "input https://example.com/a.mp4 is a URL", "download the video first")
    assert proc.returncode == 2
    proc = run_cli(SAMPLE, "https://example.com/o.mp4")
    assert_one_line_error(proc, "output https://example.com/o.mp4 is a URL")
    assert proc.returncode == 3


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


def test_parser_is_built_from_the_option_table():
    import argparse

    from vidanon.cli import build_parser
    from vidanon.options import CLI, OPTIONS, help_text

    actions = {a.option_strings[-1]: a for a in build_parser()._actions if a.option_strings}
    for o in OPTIONS:
        for flag, value, words in o.switches or [(f, None, None) for f in o.flags[-1:]]:
            action = actions[flag]
            assert action.dest == o.name and action.default == o.default, flag
            assert set(o.flags) <= set(action.option_strings) and action.help == help_text(o, CLI, words)
            if value is not None:
                assert isinstance(action, argparse._StoreConstAction) and action.const == value
    assert {"--scan-every", "--quiet", "--jobs", "--ray"} <= set(actions)  # the command line's own stay


def test_the_help_states_the_range_of_every_number():
    """--help gave the range of --crf and --max-face-size only: --strength 100 or -s 0 were a
    surprise (the error said 'between 1 and 64'). Every number's help now says what check() takes."""
    import re

    from vidanon.cli import build_parser
    from vidanon.options import RANGES, _fmt

    actions = {a.dest: a for a in build_parser()._actions if a.option_strings}
    for name, spec in RANGES.items():
        if name in actions:
            numbers = re.findall(r"\d+(?:\.\d+)?", actions[name].help)
            assert {_fmt(spec.lo), _fmt(spec.hi)} <= set(numbers), (name, actions[name].help)
    assert {"strength", "mask_scale", "threshold", "jobs", "segments"} <= set(actions) & set(RANGES)


def test_the_help_of_the_encoder_options_names_the_encoders_that_take_them():
    """--help said "x264 preset" and "default libx264": a 10-bit HEVC input is written with libx265
    (the preset applies), a 10-bit AV1 one with libsvtav1 (no --crf, no preset)."""
    from types import SimpleNamespace

    from vidanon.cli import build_parser
    from vidanon.media.plan import default_codec

    helps = {a.dest: " ".join(a.help.split()) for a in build_parser()._actions if a.option_strings}
    hevc = SimpleNamespace(deep=True, video_codec="hevc")  # what default_codec reads of a VideoInfo
    assert default_codec("mp4", hevc) == "libx265" and "10-bit HEVC" in helps["codec"]
    assert "x265" in helps["preset"] and "libx264, libx265 and VP9" in helps["crf"]


def test_the_command_line_names_flags_and_the_api_keywords(tmp_path, capsys, monkeypatch):
    import pytest

    import vidanon
    from vidanon.cli import main

    monkeypatch.delenv("VIDANON_PLATES_MODEL", raising=False)
    assert main([str(SAMPLE), str(tmp_path / "o.mp4"), "--target", "plates"]) == 2
    err = capsys.readouterr().err
    assert "pass --plates-model PATH.onnx" in err and "plates_model=" not in err
    with pytest.raises(vidanon.OptionError) as api:
        vidanon.anonymize(SAMPLE, tmp_path / "o.mp4", target="plates")
    assert "pass plates_model='PATH.onnx'" in str(api.value)  # the same message, in each caller's spelling
    assert err.strip() == f"vidanon: error: {api.value}".replace("plates_model='PATH.onnx'", "--plates-model PATH.onnx")


def test_cli_input_alone_writes_anonymized_copy_beside_it(tmp_path):
    src = make_clip(tmp_path / "clip.mov", 64, 48, frames=5, audio=False)
    proc = run_cli(src, "-q")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "clip_anonymized.mov"
    assert count_frames(out) == 5
    # a second run refuses to replace it, as for a named output
    before = file_hash(out)
    proc = run_cli(src)
    assert_one_line_error(proc, "clip_anonymized.mov already exists", "--overwrite")
    assert file_hash(out) == before
    assert run_cli(src, "-y", "-q").returncode == 0


def _box_diffs(out, boxes_per_frame):
    """Per frame: the mean absolute difference between ``out`` and the input inside the frame's boxes."""
    import numpy as np
    from conftest import read_frames

    diffs = []
    for a, b, boxes in zip(read_frames(SAMPLE), read_frames(out), boxes_per_frame):
        h, w = a.shape[:2]
        d = [np.abs(a[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)].astype(int)
                    - b[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)]).mean()
             for y0, x0, y1, x1 in boxes]  # fmt: skip
        diffs.append(round(float(max(d, default=0.0)), 1))
    return diffs


def test_cli_start_end_hides_faces_only_in_the_span(tmp_path):
    full_tracks, span_tracks = tmp_path / "full.json", tmp_path / "span.json"
    assert run_cli(SAMPLE, tmp_path / "full.mp4", "--save-tracks", full_tracks, "-q").returncode == 0
    out = tmp_path / "span.mp4"
    proc = run_cli(SAMPLE, out, "--start", "1", "--end", "00:00:02.000", "--save-tracks", span_tracks, "-q")
    assert proc.returncode == 0, proc.stderr
    full = json.loads(full_tracks.read_text())["frames"]
    span = json.loads(span_tracks.read_text())["frames"]
    assert len(span) == 35 == count_frames(out)
    inside = range(12, 24)  # 12 fps: frames at 1.0 s up to (not including) 2.0 s
    assert all(span[i] == [] for i in range(35) if i not in inside)
    assert all(span[i] == full[i] and len(full[i]) >= 2 for i in inside)  # the same boxes as a whole run
    boxes = [[o["box"] for o in f] for f in full]
    diffs = _box_diffs(out, boxes)
    assert all(diffs[i] < 6 for i in range(35) if i not in inside), diffs  # faces as they were (re-encoded)
    assert all(diffs[i] > 10 for i in inside), str([diffs[i] for i in inside])  # hidden (11.8-14.1)
    assert "no frame starts" not in proc.stderr
    # a span inside one frame's time on screen holds no frame's start: nothing hidden, and said
    proc = run_cli(SAMPLE, tmp_path / "none.mp4", "--start", "1.01", "--end", "1.05", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ("vidanon: warning: no frame starts between --start and --end: no face was hidden "
                                   "(a frame counts when its time is in the span)")


def test_cli_start_end_checked(tmp_path):
    for args, needle in ((["--start", "5"], "--start 5 s is past the end"),
                         (["--start", "2", "--end", "1"], "the span is empty"), (["--start", "1:75"], "--start must be"),
                         (["--end", "0"], "the span is empty")):
        proc = run_cli(SAMPLE, tmp_path / "o.mp4", *args)
        assert_one_line_error(proc, needle)
        assert proc.returncode == 2
        assert not (tmp_path / "o.mp4").exists()


def test_cli_keep_leaves_chosen_tracks_unmasked(tmp_path):
    first, kept = tmp_path / "first.json", tmp_path / "kept.json"
    assert run_cli(SAMPLE, tmp_path / "a.mp4", "--save-tracks", first, "-q").returncode == 0
    frames = json.loads(first.read_text())["frames"]
    ids = sorted({o["id"] for f in frames for o in f})
    assert len(ids) >= 2
    keep = ids[0]
    # a fresh run: the ids are the same for the same input and options, so --keep names the same face
    out = tmp_path / "b.mp4"
    proc = run_cli(SAMPLE, out, "--keep", keep, "--save-tracks", kept, "-q")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(kept.read_text())["frames"] == [[o for o in f if o["id"] != keep] for f in frames]
    shown = [[o["box"] for o in f if o["id"] == keep] for f in frames]
    assert max(_box_diffs(out, shown)) < 6  # that face is left as it was (re-encoded)
    # a replay of the first run's tracks, keeping the same face and one that does not exist
    out = tmp_path / "c.mp4"
    proc = run_cli(SAMPLE, out, "--tracks", first, "--keep", f"{keep},999", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "vidanon: warning: no track 999 to keep in walking_to_camera.mp4"
    assert max(_box_diffs(out, shown)) < 6
    others = [[o["box"] for o in f if o["id"] != keep] for f in frames]
    # the other faces are hidden as in the first run
    assert all(abs(c - a) < 2 for c, a in zip(_box_diffs(out, others), _box_diffs(tmp_path / "a.mp4", others)))
    for bad in ("x", "-1", "1.5"):
        assert_one_line_error(run_cli(SAMPLE, tmp_path / "d.mp4", "--keep", bad), "--keep takes track ids")
    assert_one_line_error(run_cli(SAMPLE, tmp_path / "d.mp4", "--keep", "1", "--segments", "2"), "--keep needs")


def test_cli_weaker_strength_warns_in_one_line(tmp_path):
    src = make_clip(tmp_path / "c.mp4", 64, 48, frames=3, audio=False)
    proc = run_cli(src, tmp_path / "o.mp4", "--effect", "pixelate", "--strength", "12", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ("vidanon: warning: --strength 12 is weaker than the default (8 cells across a face "
                                   "for pixelate): faces may stay recognisable")
    assert_one_line_error(run_cli(src, tmp_path / "p.mp4", "--effect", "image"), "--effect image needs --image PATH")
    # a smaller mask leaves the chin and mouth first (the head's ellipse is raised over the hair)
    proc = run_cli(src, tmp_path / "s.mp4", "--mask-scale", "0.8", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ("vidanon: warning: --mask-scale 0.8 makes the masks smaller than the default (1.45): "
                                   "the chin and mouth may stay visible (under 1, most of the face)")


def test_cli_image_effect_files(tmp_path):
    """--image: a truncated JPEG or a decompression bomb is a one-line error (exit 2), not an
    internal error; a transparent image is used over the blurred faces, with a one-line warning."""
    import struct
    import zlib

    import numpy as np
    from PIL import Image

    src = make_clip(tmp_path / "c.mp4", 64, 48, frames=3, audio=False)
    noise = np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "full.jpg", quality=90)  # noise: well over 3000 bytes
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "full.jpg").read_bytes()[:3000])
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    png = bytearray((tmp_path / "clear.png").read_bytes())  # its header made to claim 100000 x 100000
    png[16:24] = struct.pack(">II", 100000, 100000)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    (tmp_path / "bomb.png").write_bytes(bytes(png))
    for name, needle in (("cut.jpg", "image file is truncated"), ("bomb.png", "decompression bomb")):
        proc = run_cli(src, tmp_path / "o.mp4", "--effect", "image", "--image", tmp_path / name)
        assert proc.returncode == 2
        assert_one_line_error(proc, f"cannot read the image {tmp_path / name}: ", needle)
    proc = run_cli(src, tmp_path / "o.mp4", "--effect", "image", "--image", tmp_path / "clear.png", "-qq")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == (f"vidanon: warning: --image {tmp_path / 'clear.png'} is transparent over 100% of "
                                   "the middle of the image, where the face lies: the faces are blurred under it")


def test_an_encoder_the_output_cannot_take_is_refused_before_the_run(tmp_path):
    """libx264 into WebM, an encoder ffmpeg does not have, an unknown preset, a preset for an
    encoder without presets: refused in one line, exit 2, before any frame (they failed with
    exit 5 once every frame was processed)."""
    for args, out, needle in ((["--codec", "libx264"], "o.webm", "--codec libx264 cannot write .webm: [webm] Only VP8 or VP9"),
                              (["--codec", "nosuchcodec"], "o.mp4", "Encoder not found"),
                              (["--preset", "bogus"], "o.mp4", "--preset bogus cannot write .mp4"),
                              # VP9 has no presets: ffmpeg would ignore it, and the user get a file not asked for
                              (["--preset", "slow"], "o.webm", "--preset slow has no effect: vidanon passes a preset to libx264 and libx265 only, and .webm is written with libvpx-vp9")):  # fmt: skip
        proc = run_cli(SAMPLE, tmp_path / out, *args)
        assert_one_line_error(proc, needle)
        assert proc.returncode == 2 and not (tmp_path / out).exists()
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(SAMPLE.read_bytes())
    proc = run_cli(folder, tmp_path / "out", "--codec", "libx264", "--mkdir")
    assert proc.returncode == 0  # the batch's outputs are .mp4: libx264 fits
    proc = run_cli(folder / "a.mp4", tmp_path / "webm" / "a.webm", "--codec", "libx264", "--mkdir")
    assert_one_line_error(proc, "cannot write .webm")


def test_a_crf_the_encoder_is_not_given_is_refused(tmp_path, run_inprocess):
    """--crf reaches libx264, libx265 and VP9 only: with --codec mpeg4 (or libsvtav1, the codec of a
    10-bit AV1 input) it was taken and the encoder wrote at its own default quality (mpeg4: 200 kb/s)."""
    clip = make_clip(tmp_path / "clip.mp4", frames=3, audio=False)
    code, _, err = run_inprocess(clip, tmp_path / "o.avi", "--codec", "mpeg4", "--crf", "5")
    assert code == 2 and err.count("\n") == 1 and "--crf 5 has no effect" in err and "written with mpeg4" in err, err
    assert not (tmp_path / "o.avi").exists()
    code, _, err = run_inprocess(clip, tmp_path / "o.webm", "--crf", "30", "-q")  # VP9 takes it
    assert code == 0, err


def test_a_plates_model_without_the_plates_target_is_refused(tmp_path, capsys):
    import pytest

    import vidanon
    from vidanon.cli import main

    # the user meant plates hidden: running faces only would leave them visible without a word
    model = tmp_path / "plates.onnx"
    model.write_bytes(b"not read")
    assert main([str(SAMPLE), str(tmp_path / "o.mp4"), "--plates-model", str(model)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--plates-model hides plates only with --target plates" in err
    with pytest.raises(vidanon.OptionError, match="plates_model hides plates only with target='plates'"):
        vidanon.anonymize(SAMPLE, tmp_path / "o.mp4", plates_model=model, target="people")
    # so did --plates-threshold, which was taken and changed nothing
    assert main([str(SAMPLE), str(tmp_path / "o.mp4"), "--plates-threshold", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--plates-threshold hides plates only with --target plates" in err
    assert not (tmp_path / "o.mp4").exists()


def test_names_over_255_bytes_are_one_line_errors(tmp_path, capsys):
    import pytest

    import vidanon
    from vidanon.cli import main

    # they were "internal error: OSError: [Errno 36] File name too long" (exit 70)
    long = "a" * 252 + ".mp4"  # 256 bytes
    near = tmp_path / ("b" * 246 + ".mp4")  # fits; its default output (+ "_anonymized") does not
    near.write_bytes(SAMPLE.read_bytes())
    deep = str(tmp_path) + ("/" + "d" * 200) * 21
    for args, code, needle in (([SAMPLE, tmp_path / long], 3, "output"), ([tmp_path / long, tmp_path / "o.mp4"], 2, "input"),
                               ([tmp_path / long, "-o", tmp_path / "out"], 2, "input"), ([near], 3, "output"),
                               ([SAMPLE, tmp_path / "o.mp4", "--save-tracks", tmp_path / (long + ".json")], 3, "tracks file"),
                               ([f"{deep}/in.mp4", tmp_path / "o.mp4"], 2, "the path is"),  # over PATH_MAX
                               ([SAMPLE, f"{deep}/o.mp4"], 3, "the path is")):  # fmt: skip
        assert main([str(a) for a in args]) == code, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err and "bytes long, over the " in err, err
    with pytest.raises(vidanon.VidanonError, match="bytes long"):
        vidanon.anonymize(SAMPLE, tmp_path / long)
    assert sorted(p.name for p in tmp_path.iterdir()) == [near.name]


def test_options_may_come_between_the_paths_and_are_named_in_full(tmp_path, capsys):
    from vidanon.cli import build_parser, main, parse

    args = parse(build_parser(), [str(SAMPLE), "-e", "pixelate", str(tmp_path / "o.mp4"), "-y"])
    assert args.paths == [str(SAMPLE), str(tmp_path / "o.mp4")] and args.effect == "pixelate" and args.overwrite
    for argv, paths in ((["--", "-a.mp4", "b.mp4"], ["-a.mp4", "b.mp4"]),  # after --, names starting with -
                        (["-e", "fill", "--", "-a.mp4", "-o"], ["-a.mp4", "-o"]),
                        (["a.mp4", "--", "-b.mp4"], ["a.mp4", "-b.mp4"])):  # fmt: skip
        assert parse(build_parser(), argv).paths == paths, argv
    # an abbreviation was taken for the option it starts: deface's --thresh (another scale) ran as --threshold
    for argv, needle in (([str(SAMPLE), str(tmp_path / "o.mp4"), "--thresh", "0.3"], "unrecognized arguments: --thresh"),
                         (["--frobnicate"], "unrecognized arguments: --frobnicate"),  # was: "required: PATH"
                         ([], "the following arguments are required: PATH"),
                         # --ray takes an optional address: between the paths it took the output for one
                         ([str(SAMPLE), "--ray", str(tmp_path / "o.mp4")], "--ray takes a Ray cluster's address")):  # fmt: skip
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err
    assert not (tmp_path / "o.mp4").exists()


def test_the_encoder_check_needs_no_temporary_folder(monkeypatch):
    # with /tmp and /var/tmp read-only, --preset or --codec made an internal error (exit 70),
    # while the run itself needs no temporary folder
    import tempfile

    from vidanon.media.encoders import check_encoder

    def none(*args, **kwargs):
        raise FileNotFoundError("No usable temporary directory found")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", none)
    check_encoder.cache_clear()
    check_encoder("mp4", "libx264", "medium", 18)  # unchecked, as the defaults are
    check_encoder.cache_clear()


def test_empty_paths_are_refused_not_taken_as_the_current_folder(tmp_path, run_inprocess, monkeypatch):
    """An empty argument (an unset shell variable: vidanon "$IN" "$OUT") was the current folder:
    an empty INPUT took every video in it as a batch, an empty OUTPUT wrote INPUT's name into it,
    an empty --save-tracks was no tracks file at all (the run said nothing)."""
    (tmp_path / "in").mkdir()
    clip = make_clip(tmp_path / "in" / "clip.mp4", frames=3, audio=False)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    for args, code, needle in ((["", "out"], 2, "input path is empty"), ([clip, ""], 3, "output path is empty"),
                               ([clip, "-o", ""], 3, "output path is empty"),
                               ([clip, "o.mp4", "--save-tracks", ""], 2, "--save-tracks needs a path"),
                               ([clip, "o.mp4", "--review", ""], 2, "--review needs a path"),
                               ([clip, "o.mp4", "--tracks", ""], 2, "--tracks needs a path"),
                               ([clip, "o.mp4", "-e", "image", "--image", ""], 2, "--image needs a path")):  # fmt: skip
        got, out, err = run_inprocess(*args)
        assert (got, err.count("\n")) == (code, 1) and needle in err, (args, got, err)
    assert list((tmp_path / "cwd").iterdir()) == []


def test_options_of_the_detectors_are_refused_with_a_replay(tmp_path, run_inprocess):
    """--tracks replays the file's boxes and runs no detector: --threshold 0.9 (or --model,
    --detect-size, --scan-every, --no-track, --plates-threshold) was taken and changed nothing."""
    import vidanon

    clip = make_clip(tmp_path / "clip.mp4", frames=3, audio=False)
    tracks = tmp_path / "t.json"
    face = {"id": 1, "box": [0.2, 0.2, 0.6, 0.6], "score": 0.9, "class": "face", "source": "detected"}
    tracks.write_text(json.dumps({"video": "clip.mp4", "width": 64, "height": 48, "fps": 25.0, "frames": [[face]] * 3}))
    for args, flag in ((["-t", "0.9"], "--threshold 0.9"), (["--model", "float"], "--model float"),
                       (["--detect-size", "0"], "--detect-size 0"), (["--scan-every", "3"], "--scan-every 3"),
                       (["--no-track"], "--no-track"), (["--turned-faces"], "--turned-faces"),
                       (["--target", "faces,plates", "--plates-threshold", "0.5"], "--plates-threshold 0.5")):
        code, _, err = run_inprocess(clip, tmp_path / "o.mp4", "--tracks", tracks, *args)
        assert code == 2 and err.count("\n") == 1 and f"{flag} has no effect with --tracks" in err, err
    with pytest.raises(vidanon.OptionError, match="threshold=0.9 has no effect with tracks"):
        vidanon.anonymize(clip, tmp_path / "o.mp4", tracks=tracks, threshold=0.9)
    assert not (tmp_path / "o.mp4").exists()
    # what a replay does use: the render's options, the device and the batch size
    code, _, err = run_inprocess(clip, tmp_path / "o.mp4", "--tracks", tracks, "-e", "pixelate", "-s", "2",
                                 "--device", "cpu", "-b", "2", "-q")  # fmt: skip
    assert code == 0, err
