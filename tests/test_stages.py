"""The pipeline's parts, without a model: option table, shared box helpers, trackers, runner."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from vidanon.detections import Detections, iou_matrix, scale_boxes
from vidanon.errors import InputError, VidanonError
from vidanon.options import OptionError, Options, check, parse_number


def test_option_table_messages_and_normalization():
    assert check("threshold", 0.5) == 0.5 and check("detect_size", 0) == 0 and check("detect_size", 64) == 64
    assert isinstance(check("mask_scale", 2), float) and check("crf", np.int64(20)) == 20
    cases = {
        ("threshold", 0): "--threshold must be between 0.01 and 0.99, not 0",
        ("threshold", 0.995): "--threshold must be between 0.01 and 0.99, not 0.995",
        ("detect_size", 10): "--detect-size must be 0 (native resolution) or between 64 and 8192, not 10",
        ("batch_size", 2.5): "--batch-size must be a whole number, not 2.5",
        ("batch_size", True): "--batch-size must be a whole number, not True",
        ("mask_scale", "big"): "--mask-scale must be a number, not 'big'",
        ("mask_scale", float("nan")): "--mask-scale must be a number, not nan",
        ("crf", 20.5): "--crf must be a whole number, not 20.5",
        ("effect", "sparkle"): "unknown effect 'sparkle'; choose from blur, pixelate, fill, image, splash",
    }
    for (name, value), message in cases.items():
        with pytest.raises(OptionError) as info:
            check(name, value)
        assert str(info.value) == message
        assert isinstance(info.value, ValueError) and info.value.exit_code == 2
    # the command line hands over numbers parsed the same way
    assert parse_number("12") == 12 and parse_number("0.5") == 0.5 and parse_number("abc") == "abc"
    with pytest.raises(OptionError, match="unknown option 'thresh'"):
        Options.from_kwargs(thresh=0.3)
    with pytest.raises(OptionError, match="frame range"):
        Options.from_kwargs(frame_range=(5, 5))


def test_box_maths_covered_share_union_and_nms():
    from vidanon.detections import covered_share, nms, union_box

    rng = np.random.default_rng(0)
    lo = rng.uniform(0, 0.6, (20, 2))
    boxes = np.concatenate([lo, lo + rng.uniform(0.01, 0.4, (20, 2))], axis=1)
    for box in boxes[:5]:
        # covered share against a pixel count on a fine grid
        ys, xs = np.meshgrid(np.linspace(box[0], box[2], 200), np.linspace(box[1], box[3], 200), indexing="ij")
        under = np.zeros(ys.shape, int)
        for o in boxes[1:4]:
            under += (ys >= o[0]) & (ys <= o[2]) & (xs >= o[1]) & (xs <= o[3])
        assert covered_share(box, boxes[1:4]) == pytest.approx(min(under.sum() / under.size, 1.0), abs=0.02)
        u = union_box(box, boxes[7])
        np.testing.assert_allclose(u, [*np.minimum(box[:2], boxes[7][:2]), *np.maximum(box[2:], boxes[7][2:])])
    assert covered_share(boxes[0], np.zeros((0, 4))) == 0.0
    np.testing.assert_allclose(scale_boxes([0.2, 0.2, 0.4, 0.6], 1.5, 0.01, 0.02), [[0.14, 0.08, 0.46, 0.72]])
    iou = iou_matrix(boxes, boxes)
    np.testing.assert_allclose(np.diag(iou), 1.0)
    assert iou_matrix([[0, 0, 1, 1]], [[0, 0.5, 1, 1.5]])[0, 0] == pytest.approx(1 / 3)
    # nms keeps the best of each overlapping group, best first
    dup = np.array([[0, 0, 1, 1], [0, 0.05, 1, 1.05], [2, 2, 3, 3]], float)
    assert nms(dup, np.array([0.5, 0.9, 0.7]), 0.5).tolist() == [1, 2]


def _dets(*boxes, score=0.9):
    return Detections(np.array(boxes, float).reshape(-1, 4), np.full(len(boxes), score), np.zeros(len(boxes)))


def test_replay_tracker_replays_and_checks_the_frame_count(tmp_path):
    from vidanon.track.replay import ReplayTracker, TracksRecorder

    recorder = TracksRecorder()
    saved = [_dets([0.1, 0.1, 0.3, 0.3]), Detections.empty(), _dets([0.5, 0.5, 0.6, 0.7], [0, 0, 0.1, 0.1])]
    for i, d in enumerate(saved):
        recorder.add(i, d)
    path = tmp_path / "t.json"
    recorder.save(path, "v.mp4", 64, 48, 25.0)
    assert json.loads(path.read_text())["fps"] == 25.0
    replay = ReplayTracker(path)
    out = [item for i in range(3) for item in replay.push(f"payload{i}", Detections.empty())]
    assert [(i, p) for i, p, _ in out] == [(0, "payload0"), (1, "payload1"), (2, "payload2")]
    for (_, _, got), want in zip(out, saved):
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-6)
    assert list(replay.flush()) == []
    short = ReplayTracker(path)
    list(short.push(None, Detections.empty()))
    with pytest.raises(InputError, match="has 3 frames but the video has 1"):
        short.flush()
    path.write_text("{not json")
    with pytest.raises(InputError, match="cannot read tracks file"):
        ReplayTracker(path)


def test_a_replay_draws_the_boxes_exactly_as_saved_and_reads_a_byte_order_mark(tmp_path):
    # boxes rounded to 6 decimals moved people's outlines by a level or more on replay (QA: 331
    # pixels of 23 frames at --crf 0); a file saved by Windows' Notepad (a BOM) was "not JSON";
    # a file of another frame rate was taken without a word
    from vidanon.track.replay import ReplayTracker, TracksRecorder

    boxes = np.random.default_rng(5).random((20, 4)).astype(np.float32) * 0.5
    boxes[:, 2:] += 0.5
    recorder = TracksRecorder()
    recorder.add(0, Detections(boxes, np.full(20, 0.9), np.zeros(20)))
    path = tmp_path / "t.json"
    recorder.save(path, "v.mp4", 64, 48, 25.0)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    replay = ReplayTracker(path, 64, 48, "v.mp4", 25.0)
    assert replay.warnings == []
    (_, _, got), = replay.push(None, Detections.empty())
    assert (got.boxes == boxes).all()
    assert "saved for a 25 fps video, but v.mp4 is 12 fps" in ReplayTracker(path, 64, 48, "v.mp4", 12.0).warnings[0]


def _stages(detect, tracker):
    from vidanon.pipeline import Stages
    from vidanon.track.stage import TrackStage

    return Stages(detect, TrackStage(tracker), render=None, batch_size=3, device="test", people=False)


def test_run_stages_hands_every_frame_over_in_order():
    from vidanon.pipeline import run_stages
    from vidanon.track.stage import NoTracker

    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(10)]
    calls = []

    def detect(batch):
        calls.append(len(batch))
        return [_dets([0.1, 0.1, 0.2, 0.2], score=0.9 if b[0, 0, 0] % 2 else 0.1) for b in batch]

    got = []
    run_stages(iter(frames), _stages(detect, NoTracker(0.5)), lambda i, f, d: got.append((i, int(f[0, 0, 0]), len(d))))
    assert calls == [3, 3, 3, 1]  # batched
    assert got == [(i, i, i % 2) for i in range(10)]
    kept = []
    run_stages(iter(frames), _stages(detect, NoTracker(0.5)), lambda i, f, d: kept.append(f), keep_frames=False)
    assert kept == [None] * 10


def test_run_stages_stops_everything_on_a_failure():
    from vidanon.pipeline import run_stages
    from vidanon.track.stage import NoTracker

    class Source:
        closed = False

        def __iter__(self):
            for i in range(10_000):
                yield np.zeros((4, 4, 3), np.uint8)

        def close(self):
            self.closed = True

    def consume(index, frame, dets):
        if index == 5:
            raise RuntimeError("disk full")

    source = Source()
    with pytest.raises(RuntimeError, match="disk full"):
        run_stages(source, _stages(lambda b: [Detections.empty() for _ in b], NoTracker(0.5)), consume)
    assert source.closed


def test_a_failing_render_is_the_error_raised_not_the_replays_frame_count(tmp_path):
    """A replay's tracker checks at the end that the video had as many frames as its file: a
    render that failed mid-way (a box the renderer could not draw) stopped the frames, and the
    user was told "the video has 4 frames" of a 35-frame video (found by a QA sweep)."""
    from vidanon.pipeline import run_stages
    from vidanon.track.replay import ReplayTracker, TracksRecorder

    recorder = TracksRecorder()
    for i in range(3000):  # many more frames than the queues hold: the failure stops the reading
        recorder.add(i, _dets([0.1, 0.1, 0.3, 0.3]))
    recorder.save(tmp_path / "t.json", "v.mp4", 4, 4, 25.0)

    def consume(index, frame, dets):
        raise ValueError("cannot convert float NaN to integer")

    def detect(batch):  # slower than the render's failure: the tracker waits for the next batch when it comes
        time.sleep(0.3)
        return [Detections.empty() for _ in batch]

    frames = (np.zeros((4, 4, 3), np.uint8) for _ in range(3000))
    with pytest.raises(ValueError, match="NaN"):
        run_stages(frames, _stages(detect, ReplayTracker(tmp_path / "t.json")), consume)


def test_run_stages_prepares_ahead_and_detects_in_a_thread_of_its_own():
    """The reading thread prepares each batch (at most PREPARED alive at once), a detect
    thread runs the networks on them in order, decode threads decode them (and look again
    at weak boxes), the calling thread tracks in order."""
    import threading

    from vidanon import pipeline, runner
    from vidanon.track.stage import NoTracker

    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(20)]
    where, alive, most = [], [0], [0]
    lock = threading.Lock()

    def prepare(batch):
        where.append(("prepare", threading.current_thread().name, int(batch[0][0, 0, 0])))
        with lock:
            alive[0] += 1
            most[0] = max(most[0], alive[0])

        def run():
            where.append(("detect", threading.current_thread().name, int(batch[0][0, 0, 0])))
            with lock:
                alive[0] -= 1

            def finish():
                where.append(("finish", threading.current_thread().name, int(batch[0][0, 0, 0])))
                return [_dets([0.1, 0.1, 0.2, 0.2], score=0.9 if b[0, 0, 0] % 2 else 0.1) for b in batch]

            return finish

        return run

    stages = _stages(None, NoTracker(0.5))
    stages.prepare = prepare
    got = []
    pipeline.run_stages(iter(frames), stages, lambda i, f, d: got.append((i, int(f[0, 0, 0]), len(d))))
    assert got == [(i, i, i % 2) for i in range(20)]
    for step, thread in (("prepare", "vidanon-read"), ("detect", "vidanon-detect"), ("finish", "vidanon-decode")):
        assert sorted(w[2] for w in where if w[0] == step) == list(range(0, 20, 3))
        assert {w[1].split("_")[0] for w in where if w[0] == step} == {thread}
    assert [w[2] for w in where if w[0] == "detect"] == list(range(0, 20, 3))  # the networks: in order
    assert most[0] <= runner.PREPARED


def test_run_stages_with_two_lanes_runs_two_batches_networks_at_once_and_keeps_the_order():
    """With ``lanes`` 2 (two cores, vidanon.runner.network_lanes) the networks of two
    batches run at once in two threads; a batch whose networks finish first still reaches
    the tracker after the one before it, and at most PREPARED batches are prepared at once."""
    import threading
    import time

    from vidanon import pipeline, runner
    from vidanon.track.stage import NoTracker

    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(24)]
    running, most_running, prepared, most_prepared, threads = [0], [0], [0], [0], set()
    lock = threading.Lock()

    def prepare(batch):
        first = int(batch[0][0, 0, 0])
        with lock:
            prepared[0] += 1
            most_prepared[0] = max(most_prepared[0], prepared[0])

        def run():
            with lock:
                running[0] += 1
                most_running[0] = max(most_running[0], running[0])
                threads.add(threading.current_thread().name.split("_")[0])
            time.sleep(0.05 if first % 2 == 0 else 0.01)  # the even batches' networks take longer
            with lock:
                running[0] -= 1
                prepared[0] -= 1
            return lambda: [_dets([0.1, 0.1, 0.2, 0.2], score=0.9 if b[0, 0, 0] % 2 else 0.1) for b in batch]

        return run

    stages = _stages(None, NoTracker(0.5))
    stages.prepare, stages.lanes = prepare, 2
    got = []
    pipeline.run_stages(iter(frames), stages, lambda i, f, d: got.append((i, int(f[0, 0, 0]), len(d))))
    assert got == [(i, i, i % 2) for i in range(24)]
    assert most_running[0] == 2 and threads == {"vidanon-net"}
    assert most_prepared[0] <= runner.PREPARED


@pytest.mark.parametrize("lanes", [1, 2])
def test_run_stages_raises_a_network_failure_and_stops(lanes):
    from vidanon.pipeline import run_stages
    from vidanon.track.stage import NoTracker

    def prepare(batch):
        def run():
            if batch[0][0, 0, 0] >= 9:
                raise MemoryError("out of memory in the network")
            return lambda: [Detections.empty() for _ in batch]

        return run

    stages = _stages(None, NoTracker(0.5))
    stages.prepare, stages.lanes = prepare, lanes
    source, written = EndlessSource(), []
    with pytest.raises(MemoryError, match="network"):
        run_stages(source, stages, lambda i, f, d: written.append(i))
    assert source.closed and written == list(range(len(written))) and len(written) <= 9


def test_two_network_lanes_on_two_cores_only_for_the_face_detectors_cpu_path(monkeypatch):
    """Two batches' networks at once where each network runs on one thread (2 cores); one
    where its threads span the cores, or there is one core; and only for detectors that
    take an interpreter a call (the face detector's CPU path), not people's graph."""
    from vidanon import pipeline, runner
    from vidanon.detect import tf_setup

    for cores, lanes in ((1, 1), (4, 1), (16, 1), (2, 2)):  # 2 cores last, for the stages below
        monkeypatch.setattr(runner, "cpu_threads", lambda cores=cores: cores)
        monkeypatch.setattr(tf_setup, "cpu_threads", lambda cores=cores: cores)
        assert runner.network_lanes() == lanes, cores
    assert pipeline.build_stages(pipeline.Options(device="cpu"), 360, 480).lanes == 2
    assert pipeline.build_stages(pipeline.Options(device="cpu", target="people"), 360, 480).lanes == 1


class EndlessSource:
    """Frames numbered by their first sample, far more than a test reads; remembers being closed."""

    closed = False

    def __iter__(self):
        for i in range(10_000):
            yield np.full((4, 4, 3), i % 256, np.uint8)

    def close(self):
        self.closed = True


def test_run_stages_raises_a_decoding_failure_and_stops():
    """A failure in a decode thread (the second looks) is raised by run_stages; the frames
    written before it are in order, and the source is closed."""
    from vidanon.pipeline import run_stages
    from vidanon.track.stage import NoTracker

    def prepare(batch):
        def finish():
            if batch[0][0, 0, 0] >= 9:
                raise ValueError("decoding failed")
            return [Detections.empty() for _ in batch]

        return lambda: finish

    stages = _stages(None, NoTracker(0.5))
    stages.prepare = prepare
    source, written = EndlessSource(), []
    with pytest.raises(ValueError, match="decoding"):
        run_stages(source, stages, lambda i, f, d: written.append(i))
    assert source.closed and written == list(range(len(written))) and len(written) <= 9


def test_run_stages_raises_a_detector_failure_and_stops():
    from vidanon.pipeline import run_stages
    from vidanon.track.stage import NoTracker

    def detect(batch):
        if batch[0][0, 0, 0] >= 9:
            raise MemoryError("out of memory in the network")
        return [Detections.empty() for _ in batch]

    source, written = EndlessSource(), []
    with pytest.raises(MemoryError, match="network"):
        run_stages(source, _stages(detect, NoTracker(0.5)), lambda i, f, d: written.append(i))
    assert source.closed and written == list(range(len(written))) and len(written) <= 9


def test_run_stages_raises_the_sources_failure():
    """A source that fails (a video with no decodable frame) is what run_stages raises,
    not the silence of the stages after it."""
    from vidanon.pipeline import run_stages
    from vidanon.track.stage import NoTracker

    def source():
        raise ValueError("no decodable video frame")
        yield

    for _ in range(5):  # the stages stop in whichever order
        with pytest.raises(ValueError, match="no decodable"):
            run_stages(source(), _stages(lambda b: [Detections.empty() for _ in b], NoTracker(0.5)), print)


def test_clip_tracks_pick_the_frame_or_both_neighbours():
    from vidanon.clip import ClipTracks

    frames = [_dets([0.1 * i, 0.1, 0.1 * i + 0.05, 0.2]) for i in range(5)]
    tracks = ClipTracks(10.0, frames)
    assert tracks.at(0.2) is frames[2] and tracks.at(3 / 10) is frames[3]  # 3 / 10 * 10 = 2.9999...
    between = tracks.at(0.25)
    np.testing.assert_allclose(between.boxes, np.concatenate([frames[2].boxes, frames[3].boxes]))
    assert tracks.at(-1.0) is frames[0] and tracks.at(0.5) is frames[4]  # a frame after the last: the last's boxes
    with pytest.raises(VidanonError, match=r"asked for its frame at 0.51 s, after its end \(0.5 s"):
        tracks.at(0.51)  # more than a frame after: refused


def test_tensorflow_is_imported_without_keras_which_stays_importable():
    """vidanon's TensorFlow import skips the Keras that TensorFlow loads on the way (a
    quarter of its import time); a script can still import Keras afterwards."""
    import subprocess
    import sys

    code = ("import sys; from vidanon.detect.tf_setup import configure_tensorflow; configure_tensorflow(); "
            "assert 'tensorflow' in sys.modules and 'keras.src.optimizers' not in sys.modules, 'keras loaded'; "
            "import keras, tensorflow as tf; assert keras.__version__; print('ok')")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_cpu_run_with_a_cached_model_imports_no_tensorflow(tmp_path):
    """A CPU run of the default face target (the shipped int8 network) imports neither
    TensorFlow (3.8 s on 2 cores) nor scipy.stats (filterpy's, 1.2 s), from the first run on;
    with the float network the first run converts it with TensorFlow, the next ones load
    the cached conversion without it."""
    import os
    import subprocess
    import sys

    from conftest import ROOT, SAMPLE, ffmpeg

    clip = tmp_path / "three.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-i", str(SAMPLE), "-frames:v", "3", "-c:v", "libx264", str(clip)],
                   check=True)  # fmt: skip
    env = {**os.environ, "VIDANON_CACHE_DIR": str(tmp_path / "cache"), "CUDA_VISIBLE_DEVICES": ""}
    code = ("import sys, vidanon; s = vidanon.anonymize(sys.argv[1], sys.argv[2], model=sys.argv[3]); "
            "print(s.frames, s.faces, 'tensorflow' in sys.modules, 'scipy.stats' in sys.modules)")  # fmt: skip
    runs = [subprocess.run([sys.executable, "-c", code, str(clip), str(tmp_path / f"out{k}.mp4"), model], env=env,
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
            for k, model in enumerate(("int8", "int8", "float", "float"))]  # fmt: skip
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    first, second, converting, cached = (run.stdout.split() for run in runs)
    assert int(first[1]) > 0 and first == second == [first[0], first[1], "False", "False"]
    assert converting[2] == "True" and cached[2:] == ["False", "False"]  # the float conversion, then its cache
    assert int(converting[1]) > 0 and cached == [converting[0], converting[1], "False", "False"]


def _video(frames: int, width: int, height: int):
    """The sample clip's VideoInfo with another length and size."""
    from dataclasses import replace

    from conftest import SAMPLE

    from vidanon.media.probe import probe

    return replace(probe(SAMPLE), width=width, height=height, duration=frames / 30, n_frames=frames)


def _gpu_machine(monkeypatch, gpu: str = "GPU (a test's)") -> list[str]:
    """A machine whose TensorFlow sees ``gpu`` (as vidanon.pipeline asks it); the list gets
    the names of the calls that would import TensorFlow or hide the GPU."""
    from vidanon import pipeline

    calls: list[str] = []
    monkeypatch.setattr(pipeline, "compute_device", lambda: calls.append("tensorflow") or gpu)
    monkeypatch.setattr(pipeline, "configure_tensorflow", lambda: calls.append("tensorflow") or gpu)
    monkeypatch.setattr(pipeline, "hide_gpu", lambda: calls.append("hide"))
    return calls


def test_device_auto_takes_the_gpu_except_for_a_short_video_of_faces(monkeypatch):
    """--device auto: the GPU where TensorFlow sees one, except for a video of faces shorter
    than SHORT_VIDEO_FRAMES_A_THREAD frames of 1080p a CPU thread (90 on 2 cores, 720 on 16),
    which the CPU path finishes before the GPU path; people need TensorFlow anyway and keep
    the GPU."""
    from vidanon import pipeline
    from vidanon.pipeline import SHORT_VIDEO_FRAMES_A_THREAD, run_device

    calls = _gpu_machine(monkeypatch)
    auto = Options.from_kwargs()
    assert SHORT_VIDEO_FRAMES_A_THREAD == 45

    def video(frames: int, width: int = 1920, height: int = 1080) -> int:
        return frames * width * height  # its pixels in all

    monkeypatch.setattr(pipeline, "cpu_threads", lambda: 16)
    assert run_device(auto, video(719), people=False).startswith("CPU")
    assert run_device(auto, video(720), people=False) == "GPU (a test's)"
    monkeypatch.setattr(pipeline, "cpu_threads", lambda: 2)
    calls.clear()
    assert run_device(auto, video(1), people=False).startswith("CPU") and not calls  # TensorFlow never imported
    assert run_device(auto, video(89), people=False).startswith("CPU")
    assert run_device(auto, video(22, 3840, 2160), people=False).startswith("CPU")
    assert run_device(auto, video(90), people=False) == "GPU (a test's)"
    assert run_device(auto, video(1000, 640, 360), people=False) == "GPU (a test's)"
    assert run_device(auto, video(1), people=True) == "GPU (a test's)"
    assert run_device(auto, None, people=False) == "GPU (a test's)"  # a length not known
    assert run_device(Options.from_kwargs(device="gpu"), video(1), people=False) == "GPU (a test's)"
    calls.clear()
    assert run_device(Options.from_kwargs(device="cpu"), video(1000), people=False).startswith("CPU")
    assert calls == []  # faces alone: the CPU networks, no TensorFlow to keep off the GPU
    assert run_device(Options.from_kwargs(device="cpu"), video(1000), people=True).startswith("CPU")
    assert calls == ["hide"]


def test_device_gpu_without_one_is_a_one_line_error(monkeypatch, tmp_path):
    from conftest import ROOT, SAMPLE

    from vidanon.pipeline import run_device

    _gpu_machine(monkeypatch, gpu="CPU (2 cores)")
    with pytest.raises(OptionError, match="--device gpu: TensorFlow sees no GPU"):
        run_device(Options.from_kwargs(device="gpu"), None, people=False)
    from vidanon.options import PYTHON, spoken

    with spoken(PYTHON), pytest.raises(OptionError, match="^device='gpu': TensorFlow sees no GPU"):  # as Python says it
        run_device(Options.from_kwargs(device="gpu"), None, people=False)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-m", "vidanon", str(SAMPLE), str(tmp_path / "o.mp4"), "--device", "gpu"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 2 and not (tmp_path / "o.mp4").exists()
    assert out.stderr.strip().splitlines() == [
        "vidanon: error: --device gpu: TensorFlow sees no GPU on this machine (it runs on the CPU "
        f"({os.cpu_count()} cores)); see docs/gpu.md"]


def test_a_short_video_on_a_gpu_machine_runs_the_cpu_networks(monkeypatch):
    """The stages of a short video on a machine with a GPU: the face detector is the CPU's
    int8 network and the batches are the CPU's; a long one gets the graph on the GPU, the
    same int8 network and scan plan."""
    from vidanon import detect
    from vidanon.pipeline import auto_batch_size, build_stages

    made = []
    monkeypatch.setattr(detect, "cached_detector", lambda kind, threshold, *args: made.append((kind, args)))
    calls = _gpu_machine(monkeypatch)
    for frames in (30, 3000):
        stages = build_stages(Options.from_kwargs(), 360, 640, info=_video(frames, 640, 360))
        gpu = stages.device.startswith("GPU")
        assert stages.batch_size == auto_batch_size(360, 640, gpu)
    assert made == [("faces", (0.1, None, 2, "cpu", "int8")), ("faces", (0.1, None, 2, "tf", "int8"))]
    assert calls == ["tensorflow"]  # for the long one only


def test_a_hand_written_file_of_faces_replayed_for_people_says_so(tmp_path):
    # a file without 'looked_for' (allowed: written by hand) holding faces only, replayed with
    # --target people, hid the faces and no body without a word
    from vidanon.targets import selected
    from vidanon.track.replay import replay_for

    path = tmp_path / "t.json"
    path.write_text(json.dumps({"frames": [[{"box": [0.1, 0.1, 0.3, 0.3], "class": "face"}]]}))
    replay = replay_for(str(path), selected("people", "blur"), "blur")
    assert len(replay.warnings) == 1 and "holds no people: only its boxes are hidden" in replay.warnings[0]
    assert replay_for(str(path), selected("faces", "blur"), "blur").warnings == []
