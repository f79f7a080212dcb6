"""The moviepy effect (vidanon.Anonymize / vidanon.anonymize_clip) against the command line."""

import json
import subprocess

import numpy as np
import pytest
from conftest import SAMPLE, ffmpeg, read_frames, run_cli

moviepy = pytest.importorskip("moviepy")
from moviepy import (  # noqa: E402
    AudioClip,
    ColorClip,
    CompositeVideoClip,
    ImageClip,
    ImageSequenceClip,
    VideoClip,
    VideoFileClip,
    concatenate_videoclips,
)

import vidanon  # noqa: E402
from vidanon.options import OptionError  # noqa: E402


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """The command line on the sample clip: its output and its tracks file."""
    tmp = tmp_path_factory.mktemp("cli")
    out, tracks = tmp / "anon.mp4", tmp / "tracks.json"
    proc = run_cli(SAMPLE, out, "--save-tracks", tracks, "-q")
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(tracks.read_text())


@pytest.fixture(scope="module")
def anon_clip(tmp_path_factory):
    tracks = tmp_path_factory.mktemp("clip") / "tracks.json"
    clip = VideoFileClip(str(SAMPLE))
    anon = clip.with_effects([vidanon.Anonymize(progress=False, save_tracks=str(tracks))])
    yield clip, anon, json.loads(tracks.read_text())
    clip.close()


def _frames(clip, fps):
    return [np.asarray(f) for f in clip.iter_frames(fps=fps, dtype="uint8")]


def _boxes_mask(objects, shape, scale=1.45):
    h, w = shape[:2]
    m = np.zeros((h, w), bool)
    for o in objects:
        y0, x0, y1, x1 = o["box"]
        cy, cx, hh, hw = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) * scale / 2, (x1 - x0) * scale / 2
        m[max(0, int((cy - hh) * h)) : int(np.ceil((cy + hh) * h)), max(0, int((cx - hw) * w)) : int(np.ceil((cx + hw) * w))] = True
    return m


def test_effect_finds_what_the_cli_finds_and_renders_the_same_pixels(cli_run, anon_clip, tmp_path):
    cli_out, cli_tracks = cli_run
    clip, anon, clip_tracks = anon_clip
    # same frames in, same detector and tracker: the same boxes in every frame
    assert len(clip_tracks["frames"]) == len(cli_tracks["frames"]) == 35
    assert clip_tracks["frames"] == cli_tracks["frames"]
    assert len(anon.vidanon_tracks) == 35
    assert sum(len(f) for f in cli_tracks["frames"]) > 50  # two people, (nearly) every frame

    ours = _frames(anon, clip.fps)
    source = _frames(clip, clip.fps)
    theirs = read_frames(cli_out)  # decoded after x264 at crf 18
    assert len(ours) == len(theirs) == 35
    checked = 0
    for i, (a, b, s) in enumerate(zip(ours, theirs, source)):
        assert a.shape == b.shape == (270, 480, 3)
        region = _boxes_mask(cli_tracks["frames"][i], a.shape)
        if not region.any():
            continue
        noise = np.abs(a.astype(int) - b)[region].mean()  # effect vs CLI: encoder noise only
        unhidden = np.abs(s.astype(int) - b)[region].mean()  # the source vs CLI: the faces differ
        assert noise < 3.0 and noise < 0.5 * unhidden, (i, noise, unhidden)
        checked += 1
    assert checked >= 30

    # through the CLI's own encoder, the effect's frames give the CLI's file, frame for frame, but
    # for the conversion from YUV: moviepy's frames are swscale's default one (about a level
    # darker), the CLI writes the exact one (vidanon.media.reader.EXACT_FLAGS)
    from fractions import Fraction

    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader
    from vidanon.media.writer import VideoWriter

    again = tmp_path / "again.mp4"
    writer = VideoWriter(again, 480, 270, Fraction(12), "mp4", crf=18, preset="veryfast")
    for frame in ours:
        writer.write(frame)
    writer.close()
    def exact(path):
        return [f.picture.copy() for f in FrameReader(probe(path))]

    for a, b, s, e, objects in zip(exact(again), exact(cli_out), source, exact(SAMPLE), cli_tracks["frames"]):
        outside = ~_boxes_mask(objects, a.shape, scale=2.0)
        shift, conversion = (b.astype(int) - a)[outside].mean(), (e.astype(int) - s)[outside].mean()
        assert 0.3 < conversion < 2 and abs(shift - conversion) < 0.25, (shift, conversion)  # x264 noise


def test_replaying_the_cli_tracks_gives_the_same_clip(cli_run, anon_clip, tmp_path):
    _, cli_tracks = cli_run
    clip, anon, _ = anon_clip
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"frames": cli_tracks["frames"]}))
    replay = vidanon.anonymize_clip(clip, tracks=str(path), progress=False)
    for t in (0.0, 10 / clip.fps, 34 / clip.fps):
        # boxes are stored to 6 decimals: a feathered edge pixel may move by one level
        diff = np.abs(replay.get_frame(t).astype(int) - anon.get_frame(t))
        assert diff.max() <= 2 and diff.mean() < 0.01


def test_random_access_equals_sequential(anon_clip):
    clip, anon, _ = anon_clip
    sequential = _frames(anon, clip.fps)
    order = np.random.default_rng(1).permutation(len(sequential))
    for i in order[:12]:
        np.testing.assert_array_equal(anon.get_frame(i / clip.fps), sequential[i], err_msg=f"frame {i}")
    # between two frames, the boxes of both neighbours are hidden
    tracks = anon.vidanon_tracks
    i = 20
    between = tracks.at((i + 0.5) / clip.fps)
    assert len(between) == len(tracks.frames[i]) + len(tracks.frames[i + 1]) > 0
    assert len(tracks.at(i / clip.fps + 1e-9)) == len(tracks.frames[i])
    assert len(tracks.at(clip.duration)) == len(tracks.frames[-1])


def test_keeps_size_duration_fps_and_mask(anon_clip):
    clip, anon, _ = anon_clip
    assert (tuple(anon.size), anon.duration, anon.fps) == (tuple(clip.size), clip.duration, clip.fps)
    masked = clip.with_mask()
    out = vidanon.anonymize_clip(masked, tracks=None, progress=False)
    assert out.mask is not None
    np.testing.assert_array_equal(out.mask.get_frame(1.0), masked.mask.get_frame(1.0))


def _with_sine(tmp_path):
    path = tmp_path / "with_audio.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-i", str(SAMPLE), "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=44100", "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                    "-c:a", "aac", "-shortest", str(path)], check=True)  # fmt: skip
    return path


def test_cut_anonymize_concatenate_write_keeps_audio(tmp_path, anon_clip):
    from vidanon.media.probe import probe

    _, reference, _ = anon_clip
    src = VideoFileClip(str(_with_sine(tmp_path)))
    assert src.audio is not None
    a = src.subclipped(0.5, 1.5).with_effects([vidanon.Anonymize(progress=False)])
    b = vidanon.anonymize_clip(src.subclipped(2.0, 2.9), progress=False)
    final = concatenate_videoclips([a, b])
    out = tmp_path / "cut.mp4"
    # moviepy's sound file goes beside the output (by default the working folder: two suites at once took each other's)
    final.write_videofile(str(out), codec="libx264", audio_codec="aac", logger=None, temp_audiofile_path=str(tmp_path))
    info = probe(out)
    assert info.has_audio and (info.width, info.height) == (480, 270)
    assert info.duration == pytest.approx(1.9, abs=0.15)
    # the file's audio is the sine (amplitude 1/8), not silence
    from moviepy import AudioFileClip

    written = AudioFileClip(str(out))
    assert np.abs(written.to_soundarray()).max() > 0.05
    written.close()

    # a composition pulls the anonymized frames: frame 3 of part b is frame 27 of the whole clip
    comp = CompositeVideoClip([ColorClip((520, 300), (0, 0, 0), duration=0.9), b.with_position((20, 15))])
    inner = comp.get_frame(3 / 12)[15:285, 20:500]
    assert np.abs(inner.astype(int) - reference.get_frame(27 / 12)).mean() < 1.0
    src.close()


def test_clip_without_fps_needs_one():
    plain = ColorClip((64, 48), (90, 120, 150), duration=0.5)
    with pytest.raises(OptionError, match="no fps"):
        vidanon.anonymize_clip(plain, progress=False)
    out = vidanon.anonymize_clip(plain, fps=8, progress=False)
    assert len(out.vidanon_tracks) == 4 and all(len(d) == 0 for d in out.vidanon_tracks.frames)
    np.testing.assert_array_equal(out.get_frame(0.3), plain.get_frame(0.3))


def test_every_photo_of_a_slideshow_of_its_own_durations_is_looked_at(anon_clip):
    """ImageSequenceClip(photos, durations=...) has moviepy's fps of photos over length (4 in 3.5 s:
    1.14): the pass at that rate never looked at the photos between two of its frames, whose
    faces were written visible (a QA sweep). Each photo now has a frame of the pass; a rate the
    user gives that is too low for a part is said."""
    clip, anon, _ = anon_clip
    photos = [clip.get_frame(t) for t in (0.5, 1.0, 2.0, 2.5)]
    durations = [1.2, 0.5, 1.0, 0.8]
    show = ImageSequenceClip(photos, durations=durations)
    assert show.fps < 1.2
    out = vidanon.anonymize_clip(show, progress=False)
    tracks, starts = out.vidanon_tracks, np.cumsum([0] + durations)
    for start, end in zip(starts, starts[1:]):  # a frame of the pass inside each photo, with its faces
        inside = [k for k in range(len(tracks)) if start <= k / tracks.fps < end]
        assert inside and all(len(tracks.frames[k]) for k in inside), (start, tracks.fps)
        middle = (start + end) / 2
        assert not np.array_equal(out.get_frame(middle), show.get_frame(middle))
    parts = concatenate_videoclips([ImageClip(p).with_duration(d) for p, d in zip(photos, durations)])
    with pytest.warns(UserWarning, match="a part of the clip is shown for 0.5 s, less than 2 frames at fps=1: its "
                                         "faces may not be looked for; give fps=4 or more"):  # fmt: skip
        vidanon.anonymize_clip(parts, fps=1, progress=False)


SHOWS = [[0.7] * 3, [0.1] * 4, [0.3] * 8, [1.1] * 6, [3.3] * 3, [2.2] * 10, [0.4, 0.3, 0.9, 0.8, 0.2]]


@pytest.mark.parametrize("durations", SHOWS, ids=lambda d: "x".join(map(str, sorted(set(d)))) + f"-{len(d)}")
def test_each_photo_of_a_slideshow_is_looked_at_inside_it_and_shown_with_its_own_boxes(durations):
    """moviepy starts the photos of ImageSequenceClip(photos, durations=...) at running float sums:
    a photo lasting one frame of the pass began a rounding step after its frame, which showed the
    photo before (3 x 0.7 s at 1.43 fps: photo 2 never looked at, its faces written visible at
    24 fps, photo 1's boxes drawn on it: a QA sweep). The pass now has two frames in each photo,
    one inside it by more than rounding, and every frame written (24, 25, 30 fps) gets the boxes of the picture it
    shows (its fingerprint), not a neighbour's."""
    from vidanon.clip import ClipTracks, shown_frames
    from vidanon.detections import Detections
    from vidanon.media.source import fingerprint

    show = ImageSequenceClip([np.full((8, 8, 3), 10 * i, np.uint8) for i in range(len(durations))],
                             durations=durations)  # fmt: skip
    fps = vidanon.Anonymize(progress=False)._fps(show)
    times = [i / fps for i in range(shown_frames(show, fps))]
    starts = np.cumsum([0] + durations)
    inside = {k for k, (a, b) in enumerate(zip(starts, starts[1:])) for t in times if a + 0.1 / fps < t < b - 0.1 / fps}
    assert inside == set(range(len(durations))), fps
    seen = [show.get_frame(t) for t in times]  # a box per photo, saying which photo it was found in
    tracks = ClipTracks(fps, [Detections([[0.1, 0.1, 0.2, 0.2 + f[0, 0, 0] / 500]], [0.9], [0]) for f in seen],
                        prints=[fingerprint(f) for f in seen], duration=show.duration)  # fmt: skip
    for rate in (24, 25, 30):
        for k in range(int(show.duration * rate)):
            frame = show.get_frame(k / rate)
            assert tracks.at(k / rate, frame).boxes[:, 3].tolist() == pytest.approx([0.2 + frame[0, 0, 0] / 500]), k


def test_three_photos_of_0_7_s_written_at_24_fps_have_every_face_hidden(anon_clip):
    """The QA sweep's slideshow, with the faces found: every frame written at 24 fps hides the
    boxes found in the photo it shows (none of photo 2 were found at 1.43 fps)."""
    from vidanon.media.source import fingerprint

    clip, _, _ = anon_clip
    photos = [clip.get_frame(0.5), clip.get_frame(2.0)[:, ::-1], clip.get_frame(1.0)]
    show = ImageSequenceClip(photos, durations=[0.7] * 3)
    out = vidanon.anonymize_clip(show, effect="fill", progress=False)
    tracks = out.vidanon_tracks
    assert len(set(tracks.prints)) == 3 and all(len(d) for d in tracks.frames)
    for k in range(int(show.duration * 24)):
        frame = show.get_frame(k / 24)
        found = [d.boxes for d, p in zip(tracks.frames, tracks.prints) if p == fingerprint(frame)]  # in this photo
        assert any(np.array_equal(tracks.at(k / 24, frame).boxes, boxes) for boxes in found), k
    assert not np.array_equal(out.get_frame(40 / 24), show.get_frame(40 / 24))


def test_the_pass_rate_for_short_parts_is_never_lowered_and_counts_a_speed_up():
    """The rule above (a review): a 120 fps clip with a 5 ms part keeps 120; parts of one frame
    each at cumulative sums (0.9999999 of a frame: one can start a rounding step after its frame)
    get two frames each, frames at the clip's fps (ImageSequenceClip(frames, fps=24)) one; a
    slideshow sped up 4x has photos 4x shorter; a negative duration is ignored; a replay of
    plates needs no plate model."""
    from moviepy import vfx

    from vidanon.clip import ClipTracks
    from vidanon.detections import Detections

    effect, black = vidanon.Anonymize(progress=False), np.zeros((16, 16, 3), np.uint8)
    flash = concatenate_videoclips([ColorClip((16, 16), (0, 0, 0), duration=1), ColorClip((16, 16), (9, 9, 9),
                                    duration=0.005), ColorClip((16, 16), (0, 0, 0), duration=1)]).with_fps(120)
    assert effect._fps(flash) == 120
    frames = concatenate_videoclips([ImageClip(black, duration=1 / 24) for _ in range(30)]).with_fps(24)
    assert effect._fps(frames) == 48 and effect._fps(ImageSequenceClip([black] * 30, fps=24)) == 24
    show = ImageSequenceClip([black] * 4, durations=[1, 1, 0.5, 1])
    assert effect._fps(show) == 4 and effect._fps(show.with_effects([vfx.MultiplySpeed(4)])) == 16
    assert effect._fps(ImageSequenceClip([black] * 3, durations=[1, -0.5, 1])) > 0
    vidanon.Anonymize(target="plates", tracks=ClipTracks(10.0, [Detections.empty()], looked_for="plates"))


def test_grey_frames_of_one_or_two_channels_and_a_zoom_are_anonymized(anon_clip):
    """moviepy writes frames of one channel, and of two (a grey PNG with alpha), and clips whose
    size changes over time (a zoom): the first pass crashed on each (IndexError, then numpy's
    'all input arrays must have the same shape'). Their faces are found as in the clip itself."""
    clip, anon, _ = anon_clip
    short = clip.subclipped(0, 1.0)
    found = sum(len(d) for d in anon.vidanon_tracks.frames[:12])
    for channels in (1, 2):
        def grey(t, channels=channels):
            g = short.get_frame(t).mean(axis=2, keepdims=True).astype(np.uint8)
            return np.concatenate([g] * channels, axis=2) if channels == 2 else g

        out = vidanon.anonymize_clip(VideoClip(grey, duration=1.0).with_fps(12), progress=False)
        assert out.get_frame(0.5).shape == (270, 480, 3)
        assert sum(len(d) for d in out.vidanon_tracks.frames) >= found * 0.8, channels
    zoom = short.resized(lambda t: 1 + 0.4 * t)  # 480x270 growing to 672x378
    out = vidanon.anonymize_clip(zoom, progress=False)
    assert out.get_frame(0.9).shape == zoom.get_frame(0.9).shape != (270, 480, 3)
    assert sum(len(d) for d in out.vidanon_tracks.frames) >= found * 0.8


def test_a_zoom_in_is_looked_at_at_its_largest_size(anon_clip):
    """A zoom from a quarter of the size (120x67 to 480x270) was looked at at its first size:
    no face found in the first frames, one of the two later (a QA sweep). Its frames are now
    looked at at the largest size it takes, so both people are found where they are large."""
    clip, _, _ = anon_clip
    zoom = clip.subclipped(0, 1.0).resized(lambda t: 0.25 + 0.8 * t)
    assert tuple(zoom.size) == (120, 67)
    boxes = [len(d) for d in vidanon.anonymize_clip(zoom, progress=False).vidanon_tracks.frames]
    assert min(boxes[4:]) >= 2, boxes


def test_an_anonymized_clip_made_longer_is_refused_after_its_end():
    """with_duration past the clip's length showed the source's later frames with the last
    frame's boxes (faces visible: a QA sweep): a time more than a frame after the end is refused."""
    anon = vidanon.anonymize_clip(ColorClip((32, 24), (9, 9, 9), duration=0.5), fps=10, progress=False)
    longer = anon.with_duration(1.0)
    assert longer.get_frame(0.5).shape == (24, 32, 3)  # its end, and a frame after its last (0.4 s)
    with pytest.raises(vidanon.VidanonError, match=r"frame at 0.7 s, after its end \(0.5 s, 5 frames at 10 fps\).*"
                                                   r"make the clip longer \(with_duration\) before anonymizing it"):
        longer.get_frame(0.7)


def test_the_warnings_point_at_the_scripts_line():
    """The weak-setting warning from anonymize_clip pointed at vidanon/clip.py (a QA sweep): it,
    and the too-low fps one, now point at the line that called anonymize_clip or with_effects."""
    black = np.zeros((16, 16, 3), np.uint8)
    parts = concatenate_videoclips([ImageClip(black, duration=0.5), ImageClip(black, duration=1)])
    with pytest.warns(UserWarning) as caught:
        vidanon.anonymize_clip(parts, fps=1, strength=20, progress=False)
        parts.with_effects([vidanon.Anonymize(fps=1, strength=20, progress=False)])
    said = [(w.filename, "strength" in str(w.message) or "fps=1" in str(w.message)) for w in caught]
    assert said == [(__file__, True)] * 4


@pytest.mark.parametrize(
    "args, kwargs",
    [
        (["--threshold", "0"], {"threshold": 0}),
        (["--threshold", "1.5"], {"threshold": 1.5}),
        (["--detect-size", "10"], {"detect_size": 10}),
        (["--batch-size", "0"], {"batch_size": 0}),
        (["--mask-scale", "9"], {"mask_scale": 9}),
        (["--effect", "sparkle"], {"effect": "sparkle"}),
        (["--target", "cats"], {"target": "cats"}),
        (["--threshold", "abc"], {"threshold": "abc"}),
        (["--scan-every", "0"], {"scan_every": 0}),
    ],
)
def test_bad_option_same_error_from_cli_and_api(tmp_path, capsys, args, kwargs):
    from vidanon.cli import main

    code = main([str(SAMPLE), str(tmp_path / "o.mp4"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    with pytest.raises(OptionError) as api:
        vidanon.anonymize(SAMPLE, tmp_path / "o.mp4", **kwargs)
    with pytest.raises(ValueError) as effect:  # OptionError is a ValueError too
        vidanon.Anonymize(**kwargs)
    # the same words, each naming the option as its reader spells it (--mask-scale, mask_scale)
    flag, name = args[0], args[0][2:].replace("-", "_")
    said = str(api.value).replace(f"{name} must", f"{flag} must", 1)
    assert err == f"vidanon: error: {said}" and str(api.value) == str(effect.value)
    assert api.value.exit_code == 2
    assert not (tmp_path / "o.mp4").exists()


def test_unknown_option_is_an_option_error_and_a_type_error():
    with pytest.raises(OptionError, match="crf"):
        vidanon.anonymize_clip(ColorClip((8, 8), (0, 0, 0), duration=0.1), crf=3)
    with pytest.raises(OptionError, match="unknown option 'colour'"):
        vidanon.anonymize(SAMPLE, "x.mp4", colour="red")
    # a misspelt keyword is the TypeError Python raises for any function too (docs/moviepy.md)
    with pytest.raises(TypeError, match="unknown option 'progess' for a clip"):
        vidanon.anonymize_clip(ColorClip((8, 8), (0, 0, 0), duration=0.1), progess=False)
    with pytest.raises(TypeError, match="unknown option 'threshhold'"):
        vidanon.anonymize(SAMPLE, "x.mp4", threshhold=0.3)
    with pytest.raises(TypeError):
        vidanon.Anonymize(progess=False)


def test_arguments_of_the_wrong_kind_say_what_is_wanted():
    with pytest.raises(TypeError, match=r"anonymize_clip takes a moviepy video clip, not str; for a file use "
                                        r"vidanon\.anonymize"):  # fmt: skip
        vidanon.anonymize_clip(str(SAMPLE))
    sound = AudioClip(lambda t: np.array([0 * t, 0 * t]).T, duration=1.0, fps=44100)  # "fps must be .. not 44100"
    with pytest.raises(TypeError, match="anonymize_clip takes a moviepy video clip, not AudioClip"):
        vidanon.anonymize_clip(sound)
    with pytest.raises(TypeError, match="Anonymize hides faces in video clips; AudioClip is not one"):
        sound.with_effects([vidanon.Anonymize(progress=False)])
    mask = ColorClip((16, 16), (9, 9, 9), duration=0.2).with_fps(5).to_mask()  # it came out as 0/1 RGB, a "mask"
    for anonymize in (vidanon.anonymize_clip, lambda m: m.with_effects([vidanon.Anonymize()])):
        with pytest.raises(TypeError, match=r"not in a mask \(is_mask=True\): anonymize the clip it masks"):
            anonymize(mask)
    with pytest.raises(TypeError, match=r"anonymize: input is a path \(str or os\.PathLike\), not NoneType"):
        vidanon.anonymize(None, "x.mp4")
    with pytest.raises(TypeError, match="output is a path"):
        vidanon.anonymize(SAMPLE, 3)


def test_effect_takes_every_clip_option_of_the_table():
    import dataclasses
    import inspect

    from vidanon.options import CLIP_OPTIONS

    names = [o.name for o in CLIP_OPTIONS]
    assert [f.name for f in dataclasses.fields(vidanon.Anonymize)] == names and "scan_every" in names
    params = inspect.signature(vidanon.anonymize_clip).parameters
    assert list(params) == ["clip", *names] and all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in names)
    assert [params[o.name].default for o in CLIP_OPTIONS] == [o.default for o in CLIP_OPTIONS]
    for o in CLIP_OPTIONS:
        assert f"{o.name} : " in vidanon.Anonymize.__doc__ and f"{o.name} : " in vidanon.anonymize_clip.__doc__
    assert vidanon.Anonymize(scan_every=3, progress=False).options().scan_every == 3


@pytest.mark.parametrize("kwargs, needle", [
    ({"progress": "no"}, "progress must be True or False, not 'no'"),
    ({"track": "yes"}, "track must be True or False"),
    ({"tracks": 5}, "tracks must be a path"),
    ({"scan_every": 0}, "scan_every must be between 1 and 8, not 0"),
])  # fmt: skip
def test_effect_checks_types_when_made(kwargs, needle):
    with pytest.raises(OptionError, match=needle):
        vidanon.Anonymize(**kwargs)
    with pytest.raises(OptionError, match=needle):
        vidanon.anonymize_clip(ColorClip((8, 8), (0, 0, 0), duration=0.1), **kwargs)


def test_numpy_values_are_taken_as_python_ones():
    """numpy's numbers were taken for the number options but np.bool_ was refused for track and
    turned_faces, numpy's ints inside a fill_color (a QA sweep); a numpy bool is still no colour."""
    opts = vidanon.Anonymize(track=np.bool_(False), turned_faces=np.bool_(True), effect="fill",
                             fill_color=tuple(np.array([255, 0, 0]))).options()  # fmt: skip
    assert (opts.track, opts.turned_faces, opts.fill_color) == (False, True, (255, 0, 0))
    assert type(opts.track) is bool and all(type(v) is int for v in opts.fill_color)
    uint8 = vidanon.Anonymize(effect="fill", fill_color=np.array([0, 9, 255], np.uint8))
    assert uint8.options().fill_color == (0, 9, 255)
    assert vidanon.options.Options.from_kwargs(keep=[np.int64(3), 1]).keep == (1, 3)
    with pytest.raises(OptionError, match="fill_color must be a colour"):
        vidanon.Anonymize(effect="fill", fill_color=(np.bool_(True), 0, 0))


def test_effect_replays_the_tracks_of_a_clip_in_memory(anon_clip):
    clip, anon, _ = anon_clip
    again = clip.with_effects([vidanon.Anonymize(tracks=anon.vidanon_tracks, progress=False)])
    assert again.vidanon_tracks is anon.vidanon_tracks  # no second pass
    filled = vidanon.anonymize_clip(clip, tracks=anon.vidanon_tracks, effect="fill", progress=False)
    for t in (0.0, 10 / clip.fps, 34 / clip.fps):
        np.testing.assert_array_equal(again.get_frame(t), anon.get_frame(t))
        assert np.abs(filled.get_frame(t).astype(int) - anon.get_frame(t)).mean() > 0.5  # the same boxes, filled


def test_readme_moviepy_example(tmp_path, anon_clip):
    """The README's moviepy script runs as written and keeps its sound track."""
    import re
    import sys

    from conftest import ROOT

    from vidanon.media.probe import probe

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"test_readme_moviepy_example runs this script -->\n```python\n(.*?)```", readme, re.S)
    assert block, "the marked example is missing from README.md"
    (tmp_path / "sample_videos").mkdir()
    (tmp_path / "sample_videos" / SAMPLE.name).symlink_to(SAMPLE)
    (tmp_path / "example.py").write_text(block.group(1))
    proc = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "walking_cut_anon.mp4"
    info = probe(out)
    assert info.has_audio and (info.width, info.height) == (480, 270)
    assert info.duration == pytest.approx(2.1, abs=0.15)
    from moviepy import AudioFileClip

    sound = AudioFileClip(str(out))
    assert np.abs(sound.to_soundarray()).max() > 0.1  # the 0.2 sine, not silence
    sound.close()
    # the faces are hidden (frame 6 of the output is frame 6 of the sample), the rest is not
    _, _, tracks = anon_clip
    region = _boxes_mask(tracks["frames"][6], (270, 480), scale=1.0)
    diff = np.abs(read_frames(out)[6].astype(int) - read_frames(SAMPLE)[6]).mean(axis=2)
    assert region.any() and diff[region].mean() > 6 and diff[~region].mean() < 3


def test_a_clip_and_its_file_choose_the_device_alike(monkeypatch):
    """--device auto judges a moviepy clip by its length as it judges the file (the pixels of
    all its frames), and a photo as one frame: on a machine with a GPU, the effect finds what
    the command line finds."""
    from vidanon import pipeline

    seen = []
    choose = pipeline.run_device
    monkeypatch.setattr(pipeline, "run_device", lambda opts, pixels, people: seen.append(pixels) or choose(
        opts, pixels, people))  # fmt: skip
    clip = VideoFileClip(str(SAMPLE))
    try:
        vidanon.anonymize_clip(clip, progress=False).vidanon_tracks
    finally:
        clip.close()
    from vidanon.media.probe import probe
    from vidanon.options import Options
    from vidanon.photo import photo_stages

    photo_stages(Options.from_kwargs(), 270, 480)
    info = probe(SAMPLE)
    assert seen == [info.n_frames * info.width * info.height, 270 * 480]


def test_tracks_of_another_clip_are_refused(anon_clip):
    """The boxes of a clip (``anon.vidanon_tracks``) replay only on a clip of its size and
    length: on a cut of it they would hide the faces of other times, on a crop other places."""
    clip, anon, _ = anon_clip
    tracks = anon.vidanon_tracks
    for other, what in [(clip.subclipped(1.0, 2.0), "12 frames"), (clip.cropped(x2=240), "240x270")]:
        with pytest.raises(OptionError, match=f"tracks=.* 480x270 clip of 35 frames at 12 fps.*{what}"):
            vidanon.anonymize_clip(other, tracks=tracks, progress=False)
    with pytest.raises(OptionError, match="another clip"):
        vidanon.anonymize_clip(ColorClip((64, 48), (0, 0, 0), duration=2.0), fps=12, tracks=tracks, progress=False)
    # the same clip at another fps (rendered between the frames) and a copy are fine
    assert vidanon.anonymize_clip(clip.with_fps(24), tracks=tracks).vidanon_tracks is tracks
    assert vidanon.anonymize_clip(clip.copy(), tracks=tracks).vidanon_tracks is tracks


def test_tracks_of_the_clip_mirrored_or_reversed_are_refused(anon_clip):
    """The boxes of a clip replayed on a copy mirrored or reversed in time (same size and length)
    were drawn where no face is (a QA sweep; moviepy copies vidanon_tracks onto clips made from
    the anonymized one, a mirror of it too): refused, from the prints of three frames; a copy of
    the clip graded (other pixels, the same places) is let through."""
    from moviepy import vfx

    clip, anon, _ = anon_clip
    for fx, said in [(vfx.MirrorX(), "mirrored left to right"), (vfx.MirrorY(), "upside down"),
                     (vfx.TimeMirror(), "reversed in time")]:  # fmt: skip
        with pytest.raises(OptionError, match=f"tracks= were found in this clip's frames {said}: they would be"):
            vidanon.anonymize_clip(clip.with_effects([fx]), tracks=anon.vidanon_tracks, progress=False)
    flipped = anon.with_effects([vfx.MirrorX()])
    assert flipped.vidanon_tracks is anon.vidanon_tracks  # moviepy's copy: the boxes of the clip before the mirror
    with pytest.raises(OptionError, match="mirrored"):
        vidanon.anonymize_clip(clip.with_effects([vfx.MirrorX()]), tracks=flipped.vidanon_tracks, progress=False)
    graded = clip.with_effects([vfx.GammaCorrection(1.6)])
    assert vidanon.anonymize_clip(graded, tracks=anon.vidanon_tracks).vidanon_tracks is anon.vidanon_tracks


def test_the_boxes_of_a_splash_pass_do_not_stand_for_every_face(anon_clip, tmp_path):
    """A splash pass looks for people only: its boxes replayed to hide people (and so every face)
    would leave the faces of people the person detector missed visible; refused, as the
    command line refuses its file. The boxes of a faces pass say what they looked for too."""
    clip, anon, saved = anon_clip
    assert saved["looked_for"] == ["faces"] and anon.vidanon_tracks.looked_for == "faces"
    short = clip.subclipped(0, 0.5)
    splash = vidanon.anonymize_clip(short, effect="splash", progress=False, save_tracks=str(tmp_path / "s.json"))
    assert splash.vidanon_tracks.looked_for == "people"
    assert json.loads((tmp_path / "s.json").read_text())["looked_for"] == ["people"]
    for target in ("people", "faces"):
        with pytest.raises(OptionError, match="the boxes given as tracks= were saved by a run that looked for people "
                                              r"\(effect='splash' looks for people only\): they have no faces"):
            vidanon.anonymize_clip(short, tracks=splash.vidanon_tracks, target=target, progress=False)
    again = vidanon.anonymize_clip(short, tracks=splash.vidanon_tracks, effect="splash", progress=False)
    assert again.vidanon_tracks is splash.vidanon_tracks


def test_a_bad_tracks_file_is_refused_when_the_effect_is_made(tmp_path):
    """A tracks file that cannot be replayed is a bad option value: an OptionError (a
    ValueError) where the effect is written, as for a missing image, with the command line's
    message."""
    broken = tmp_path / "broken.json"
    broken.write_text('{"frames": [[{"box": [0.5, 0.5, 0.1, 0.1]}]]}')
    for path, needle in [(tmp_path / "missing.json", "cannot read tracks file .*missing.json"),
                         (broken, "frame 0, box 0: the box .* has no area")]:  # fmt: skip
        with pytest.raises(OptionError, match=needle):
            vidanon.Anonymize(tracks=str(path))
        with pytest.raises(ValueError, match=needle):
            vidanon.anonymize_clip(ColorClip((8, 8), (0, 0, 0), duration=0.1), fps=10, tracks=path)


def test_a_plate_model_that_cannot_be_used_is_refused_when_the_effect_is_made(tmp_path):
    """As a missing image or tracks file: an OptionError where the effect is written (it was a
    PlateModelError, not a ValueError, once applied: a QA sweep), with the command line's message."""
    pytest.importorskip("onnxruntime")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model")
    for path, needle in [(tmp_path / "missing.onnx", "plate model .*missing.onnx does not exist"),
                         (corrupt, "cannot load plate model .*corrupt.onnx: not an ONNX model")]:  # fmt: skip
        with pytest.raises(OptionError, match=needle):
            vidanon.Anonymize(target="plates", plates_model=str(path))


def test_a_time_near_a_frame_hides_the_frame_the_source_shows_there(tmp_path):
    """A 29.97 fps clip written at 30 fps: at t = 1/30 (0.999 of a frame) moviepy's reader
    shows frame 0, so frame 0's boxes must be hidden there, not frame 1's alone."""
    from fractions import Fraction

    from conftest import make_clip

    from vidanon.clip import ClipTracks
    from vidanon.detections import Detections
    from vidanon.media.source import frame_count

    clip = VideoFileClip(str(make_clip(tmp_path / "ntsc.mp4", 64, 48, fps="30000/1001", frames=8, audio=False)))
    try:
        assert clip.fps == pytest.approx(float(Fraction(30000, 1001)))
        np.testing.assert_array_equal(clip.get_frame(1 / 30), clip.get_frame(0))  # frame 0 is shown at 1/30
        box = [0.2, 0.2, 0.8, 0.6]  # in frame 0 only
        frames = [Detections([box], [0.9], [0], track_ids=[1])]
        frames += [Detections.empty() for _ in range(frame_count(clip.duration, clip.fps) - 1)]
        anon = vidanon.anonymize_clip(clip, tracks=ClipTracks(clip.fps, frames))
        hidden = anon.vidanon_tracks.at(1 / 30).boxes
        assert len(hidden) == 1 and np.allclose(hidden, [box])
        assert np.abs(anon.get_frame(1 / 30).astype(int) - clip.get_frame(0)).max() > 20  # hidden
        np.testing.assert_array_equal(anon.get_frame(1 / clip.fps), clip.get_frame(1 / clip.fps))  # frame 1: nothing
    finally:
        clip.close()


def test_save_tracks_with_the_tracks_of_a_clip_writes_them(anon_clip, tmp_path):
    """save_tracks= is not dropped when the boxes come from tracks= (no first pass): the file
    is the one the first pass wrote, and it replays."""
    clip, anon, first = anon_clip
    path = tmp_path / "again.json"
    again = vidanon.anonymize_clip(clip, tracks=anon.vidanon_tracks, effect="fill", save_tracks=str(path))
    assert json.loads(path.read_text()) == first
    replay = vidanon.anonymize_clip(clip, tracks=str(path), effect="fill", progress=False)
    diff = np.abs(replay.get_frame(1.0).astype(int) - again.get_frame(1.0))  # boxes stored to 6 decimals
    assert diff.max() <= 2 and diff.mean() < 0.01
    # the file replayed is not replaced by the boxes saved from it (the command line refuses it too)
    with pytest.raises(vidanon.VidanonError, match="would replace the tracks file replayed"):
        vidanon.anonymize_clip(clip, tracks=str(path), save_tracks=str(path), progress=False)
    assert json.loads(path.read_text()) == first
    # the effect-option warnings the command line prints, as Python warnings
    with pytest.warns(UserWarning, match="mask_scale=1 makes the masks smaller than the default"):
        vidanon.anonymize_clip(clip, tracks=anon.vidanon_tracks, mask_scale=1.0, progress=False)


def test_the_first_pass_looks_at_every_frame_the_clip_shows(anon_clip):
    """A clip cut inside a frame (1.05 s at 12 fps) shows a 13th frame at 1.0 s when it is
    concatenated, which moviepy's count (int(duration * fps)) leaves out: the first pass looks
    at it too, so its own boxes are hidden there, not those of the frame before."""
    clip, _, _ = anon_clip
    cut = vidanon.anonymize_clip(clip.subclipped(0, 1.05), progress=False)
    whole = vidanon.anonymize_clip(clip.subclipped(0, 13 / 12), progress=False)  # the same 13 frames, cut on one
    assert len(cut.vidanon_tracks) == len(whole.vidanon_tracks) == 13
    assert np.array_equal(cut.vidanon_tracks.at(1.0).boxes, whole.vidanon_tracks.frames[12].boxes)
    both = concatenate_videoclips([cut, vidanon.anonymize_clip(clip.subclipped(2.0, 2.5), progress=False)])
    np.testing.assert_array_equal(both.get_frame(1.0), whole.get_frame(1.0))
    # a file whose duration is rounded up (the sample: 2.92 s, 35.04 frames) shows its last frame
    # again after it, a still clip the same pixels: no frame more
    assert len(cut.vidanon_tracks.frames) == 13 and clip.duration * clip.fps > 35
    still = vidanon.anonymize_clip(ColorClip((32, 24), (9, 9, 9), duration=0.25), fps=10, progress=False)
    assert len(still.vidanon_tracks) == 2  # t = 0.2 shows frame 1's pixels again
