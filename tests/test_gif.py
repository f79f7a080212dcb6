"""GIF output: an animated GIF (or a video) written as a GIF, faces hidden, each frame at its
time (to the GIF's hundredth of a second), what a GIF cannot hold said. Inputs made by the
bundled ffmpeg from the sample clip."""

import json
from pathlib import Path

import numpy as np
from conftest import assert_one_line_error, read_frames, run_cli
from media import round_trip, run_ffmpeg, video_times

SAMPLE = Path(__file__).resolve().parent.parent / "sample_videos" / "walking_to_camera.mp4"


def _sample(path: Path, *extra) -> Path:
    """The sample's first 2 s at 240 px wide (two faces), with a tone."""
    run_ffmpeg("-i", SAMPLE, "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-t", 2, "-map", "0:v",
               "-map", "1:a", "-vf", "scale=240:-2", "-c:v", "libx264", "-c:a", "aac", *extra, path)  # fmt: skip
    return path


def test_a_video_is_written_as_a_gif_with_its_faces_hidden_and_its_times(tmp_path, run_inprocess):
    src = _sample(tmp_path / "in.mp4")
    out, tracks = tmp_path / "out.gif", tmp_path / "t.json"
    code, _, err = run_inprocess(src, out, "--save-tracks", tracks)
    assert code == 0, err
    assert "left out: 1 audio stream (aac)" in err  # a GIF holds pictures only: said
    before, after = read_frames(src), read_frames(out)
    assert len(before) == len(after) == 24 and after[0].shape == before[0].shape
    times, _ = video_times(out)
    assert np.abs(times - video_times(src)[0]).max() <= 0.01  # its hundredths of a second
    saved = json.loads(tracks.read_text())
    hidden = outside = 0.0
    for frame, (a, b) in enumerate(zip(before, after)):
        masked = np.zeros(a.shape[:2], bool)
        for entry in saved["frames"][frame]:
            y0, x0, y1, x1 = (np.array(entry["box"]) * (a.shape[:2] * 2)).round().astype(int)
            masked[y0:y1, x0:x1] = True
        assert masked.any(), frame  # both faces are found in every frame
        diff = np.abs(a.astype(int) - b.astype(int)).mean(axis=2)
        hidden += diff[masked].mean() / len(before)
        outside += diff[~masked].mean() / len(before)
    assert hidden > 6 and outside < 3 and hidden > 4 * outside, (hidden, outside)  # the rest: 256 colours a frame


def test_a_gif_stays_a_gif_at_its_odd_size_in_one_part(tmp_path, run_inprocess):
    src = tmp_path / "in.gif"
    run_ffmpeg("-i", SAMPLE, "-t", 1, "-vf", "scale=161:91", src)
    out = tmp_path / "out.gif"
    code, _, err = run_inprocess(src, out, "--segments", 2)
    assert code == 0, err
    assert "a GIF is written in one part" in err
    before, after = read_frames(src), read_frames(out)
    assert len(after) == len(before) == 12 and after[0].shape[:2] == (91, 161)  # no padding: a GIF stores any size
    assert np.array_equal(video_times(out)[0], video_times(src)[0])


def test_a_10_bit_video_is_not_written_as_a_gif(tmp_path):
    src = tmp_path / "deep.mkv"
    run_ffmpeg("-i", SAMPLE, "-frames:v", 3, "-c:v", "ffv1", "-pix_fmt", "yuv420p10le", src)
    proc = run_cli(src, tmp_path / "out.gif")
    assert_one_line_error(proc, "a GIF holds 8-bit colours", "yuv420p10le", ".mp4")
    assert proc.returncode == 3 and list(tmp_path.iterdir()) == [src]  # refused before the run: nothing written


def test_a_gif_repeats_as_its_input_did(tmp_path, run_inprocess):
    """A GIF plays as many times as the input GIF (its NETSCAPE2.0 count: twice, for ever, or
    once where it has none); a video becomes a GIF that plays for ever."""
    from PIL import Image

    from vidanon.media.probe import probe
    from vidanon.media.writer import gif_loop

    frames = [Image.new("RGB", (48, 32), (40 * k, 90, 160)) for k in range(4)]
    for name, loop in (("twice", {"loop": 2}), ("always", {"loop": 0}), ("once", {})):
        src = tmp_path / f"{name}.gif"
        frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, **loop)
        out = tmp_path / f"out_{name}.gif"
        code, _, err = run_inprocess(src, out, "-q")
        assert code == 0, err
        assert gif_loop(probe(out)) == gif_loop(probe(src)) == {"twice": 2, "always": 0, "once": -1}[name]
    out = tmp_path / "video.gif"
    assert run_inprocess(_sample(tmp_path / "in.mp4"), out, "-q")[0] == 0
    assert gif_loop(probe(out)) == 0


def test_a_fast_video_keeps_the_frames_a_gif_can_show(tmp_path, run_inprocess):
    """A GIF counts delays in hundredths of a second and browsers slow one under two down to a
    tenth: 60 fps came out as delays of 2, 1, 2, 2, 1... (a third of the frames stalled). A
    frame under 2 hundredths after the one kept before it is left out; no frame is repeated."""
    src = tmp_path / "fast.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=60", "-frames:v", 60, "-c:v", "libx264", src)
    code, _, err = run_inprocess(src, tmp_path / "out.gif")
    assert code == 0, err
    assert ("a GIF shows a frame for 2 hundredths of a second at least (browsers slow shorter ones down): 20 of the "
            "video's 60 frames, closer than that to the one kept before them, are left out") in err
    times, _ = video_times(tmp_path / "out.gif")
    assert len(times) == 40 and set(np.round(np.diff(times), 2)) == {0.02, 0.03}  # 2, 3, 2, 3... hundredths
    # the review sheet shows each frame as the GIF shows it at that time (not the GIF's frame of that number)
    from vidanon.review import read_picked

    written = read_frames(tmp_path / "out.gif")
    got = read_picked(tmp_path / "out.gif", [0, 30, 59], 96, 64, times=[k / 60 for k in range(60)])
    assert [np.array_equal(got[k], written[j]) for k, j in ((0, 0), (30, 20), (59, 39))] == [True] * 3


def test_the_summary_of_a_gif_counts_the_frames_written(tmp_path):
    """A 59.94 fps clip written as a GIF keeps 2 frames of 3: its summary said 60 frames, 90 with
    faces, the faces of all 90, at 59.94 fps (a QA sweep). Its counts and rate are now all those
    of the frames written, and so is the command line's summary line."""
    import vidanon
    from vidanon.cli import _summary_line

    src = tmp_path / "fast.mp4"
    run_ffmpeg("-i", SAMPLE, "-t", 0.5, "-vf", "fps=60000/1001,scale=240:-2", "-an", "-c:v", "libx264", src)
    s = vidanon.anonymize(src, tmp_path / "out.gif", progress=False)
    assert (s.frames, s.frames_with_faces, round(s.fps, 2)) == (20, 20, 39.96) and 40 <= s.faces <= 60, s
    assert f"20 frames 240x136 @ 39.960 fps, {s.faces} face boxes masked in 20 frames" in _summary_line(s.to_dict())


def test_a_variable_rate_video_with_two_close_frames_loses_one_frame(tmp_path):
    """One pair of frames 0.01 s apart in a 12 fps video made the whole GIF be resampled at 50 fps:
    246 frames of 60, four times the file (found by a review). Only the second of the pair goes."""
    src = tmp_path / "vfr.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=1000", "-frames:v", 30, "-vf",
               "setpts='(N/12+if(eq(N,10),-0.0733,0))/TB'", "-fps_mode", "passthrough", "-c:v", "libx264",
               "-bf", "0", src)  # fmt: skip
    times_in, _ = video_times(src)
    assert np.round(np.diff(times_in), 3).min() == 0.01
    _, writer = round_trip(src, tmp_path / "out.gif")
    times, _ = video_times(tmp_path / "out.gif")
    assert len(times) == 29 and writer.left_out == 1


def test_the_gif_encoder_writes_gifs_only(tmp_path, run_inprocess):
    src = tmp_path / "in.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", 3, "-c:v", "libx264", src)
    pairs = (("o.mkv", "gif", "gif writes .gif only"), ("o.gif", "libx264", "a .gif is written with gif"))
    for out, codec, said in pairs:
        code, _, err = run_inprocess(src, tmp_path / out, "--codec", codec)
        assert code == 2 and said in err and not (tmp_path / out).exists(), err
