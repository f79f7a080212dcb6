"""The GPU path's graph: the ONNX file translated into TensorFlow ops, what it computes
against the ONNX reference and the CPU's networks, and the few input shapes it meets."""

import json
import os

import numpy as np
import pytest
from conftest import real_frames, small_faces_frame

from vidanon.detect.centerface import FaceDetector
from vidanon.detect.decode import decode_centerface
from vidanon.detections import iou_matrix


def test_onnx_translation_matches_onnx_reference(monkeypatch, face_image):
    """The TensorFlow graph computes what the ONNX file says (reference evaluator).

    The tolerance would hold even with a GPU's TF32 convolutions (about 2e-3 off on the
    heatmap; vidanon turns TF32 off), and a wrong translation still fails it: besides the element-wise bound
    the error must be small relative to each output as a whole, and the heatmap's peak (a
    real face, from a real frame) must be found in the same cell and decode to the same box.
    """
    import onnx
    import tensorflow as tf
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.ops import op_batch_normalization as bn

    from vidanon.detect.models import model_path
    from vidanon.detect.onnx_tf import load_onnx_as_tf

    # onnx's reference runs opset-9 BatchNormalization in training mode when a momentum
    # is given; inference (what every runtime does) uses the running statistics.
    def inference_bn(self, x, scale, b, mean, var, epsilon=None, momentum=None):
        return (bn._batchnorm_test_mode(x, scale, b, mean, var, epsilon=epsilon),)

    monkeypatch.setattr(bn.BatchNormalization_9, "_run", inference_bn)

    path = model_path("centerface")
    # a real frame with faces near the camera (so the heatmap has peaks) and random noise
    frame = tf.image.resize(face_image[None].astype(np.float32), (128, 224), method="area").numpy()[0]
    noise = np.random.RandomState(0).uniform(0, 255, frame.shape).astype(np.float32)
    x = np.stack([frame, noise]).transpose(0, 3, 1, 2).copy()
    ref = ReferenceEvaluator(onnx.load(str(path))).run(None, {"input.1": x})
    got = [g.numpy().transpose(0, 3, 1, 2) for g in load_onnx_as_tf(path)(tf.constant(x.transpose(0, 2, 3, 1)))]
    for r, g in zip(ref, got):
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r, atol=5e-3 * max(1, np.abs(r).max()))
        assert np.linalg.norm(g - r) <= 1e-2 * np.linalg.norm(r)
    heat_ref, heat_got = ref[0][0, 0], got[0][0, 0]
    peak = np.unravel_index(np.argmax(heat_ref), heat_ref.shape)
    assert heat_ref[peak] > 0.3  # a face: the comparison below means something
    assert np.unravel_index(np.argmax(heat_got), heat_got.shape) == peak

    def peak_box(out):
        values = np.array([[o[0, c, peak[0], peak[1]] for o in out[:3] for c in range(o.shape[1])]], np.float32)
        return decode_centerface(np.array([peak]), values, (128, 224)).boxes

    assert iou_matrix(peak_box(got), peak_box(ref))[0, 0] > 0.98


@pytest.mark.parametrize("model, cpu_backend", [("int8", "int8"), ("float", "tflite")])
def test_cpu_backend_computes_what_the_graph_computes(detector, face_image, model, cpu_backend):
    """LiteRT/XNNPACK (the CPU path) and the TensorFlow graph (the GPU path), both given
    NumPy's resizing and crops, find the same boxes with the same scores, for each network:
    on real frames with people (each frame's full pass and half-size pass, the second look
    included), on synthetic small faces in a 1080p frame, at sizes the frames are enlarged,
    kept and reduced to (area averaging at 1.5x, 2x, 1x, 0.5x, 0.78x). The int8 network:
    exactly the same detections (its integer arithmetic is reproduced exactly, see below);
    the float network: within 1e-4 (float sums in another order)."""
    from conftest import SHARED

    compared = 0
    frames = [np.stack([face_image, face_image[:, ::-1].copy()])]
    frames += [np.stack([f, f]) for f in real_frames(SHARED)]
    frames.append(np.stack([small_faces_frame(face_image, detector)[0]] * 2))
    tolerance = 0.0 if model == "int8" else 1e-4
    for settings in ({"detect_size": 640}, {"every": 2}, {"detect_size": 1500, "every": 2}):
        graph = FaceDetector(threshold=0.4, low_threshold=0.1, backend="tf", model=model, **settings)
        lite = FaceDetector(threshold=0.4, low_threshold=0.1, backend=cpu_backend, **settings)
        assert (graph.backend, graph.model, lite.backend, lite.model) == ("tf", model, cpu_backend, model)
        for batch in frames:
            for a, b in zip(graph(batch), lite(batch)):  # every=2: frame 0 the full pass, 1 the half
                assert len(a) == len(b)
                if len(a):  # boxes of equal scores may come in either order
                    order = iou_matrix(a.boxes, b.boxes).argmax(axis=1)
                    assert sorted(order) == list(range(len(b)))
                    np.testing.assert_allclose(a.boxes, b.boxes[order], atol=tolerance, rtol=0)
                    np.testing.assert_allclose(a.scores, b.scores[order], atol=tolerance, rtol=0)
                compared += len(a)
    assert compared > (100 if SHARED.is_dir() else 30)  # fewer without the real frames of ../shared
    with pytest.raises(ValueError, match="backend"):
        FaceDetector(backend="onnx")


def test_int8_graph_computes_the_int8_interpreters_codes_exactly():
    """The int8 network translated into float32 TensorFlow ops (the GPU path) gives, on the
    same input, exactly the outputs of LiteRT's interpreter (XNNPACK's requantization in
    the convolutions and additions, TFLite's fixed point in the transposed convolutions):
    real frames at their size and at half size (where a quarter of the inputs sit on a
    rounding tie), noise, and inputs at the ends of the range."""
    import tensorflow as tf
    from conftest import SHARED

    from vidanon.detect.int8_tf import load_int8_as_tf
    from vidanon.detect.lite import LiteNet
    from vidanon.detect.models import model_path

    lite = LiteNet(model_path("centerface_int8").read_bytes())
    net = tf.function(load_int8_as_tf(model_path("centerface_int8")), autograph=False)
    rng = np.random.default_rng(3)
    inputs = [rng.uniform(0, 255, (1, 96, 160, 3)).astype(np.float32), np.full((1, 64, 64, 3), 255, np.float32),
              np.zeros((1, 64, 64, 3), np.float32)]  # fmt: skip
    for frame in real_frames(SHARED)[:4]:
        h, w = (frame.shape[0] // 64) * 32, (frame.shape[1] // 64) * 32
        half = tf.image.resize(frame[None, : 2 * h, : 2 * w].astype(np.float32), (h, w), method="area").numpy()
        inputs += [frame[None, : 2 * h, : 2 * w].astype(np.float32), half]
    cells = 0
    for x in inputs:
        expected = lite.outputs(x)
        got = [t.numpy() for t in net(tf.constant(x))]
        assert len(got) == 3
        for e, g in zip(expected, got):
            np.testing.assert_array_equal(g, e)
        cells += int((expected[0] > 0.2).sum())
    assert cells > (50 if SHARED.is_dir() else 0)  # faces in the real frames: the comparison means something


def test_the_graph_meets_few_input_shapes_and_its_padding_changes_nothing(face_image, monkeypatch):
    """The GPU path's graph pads a short batch of frames up to the largest batch it has run
    and a batch's crops for the second look up to a power of two (with cuDNN's autotuning,
    each new shape costs seconds on a GPU), all the frames' crops in one call; the padding
    and the batching change no detection: the same as each frame's crops alone, and as the
    CPU's float network on them, in one call or in several. (The float network: the scenes
    below were chosen for its scores; the padding is the same for both networks.)"""
    from vidanon.detect import centerface
    from vidanon.detect.centerface import graph_count

    det = FaceDetector(threshold=0.4, low_threshold=0.1, detect_size=0, backend="tf", model="float")
    net, run, look = det._build()
    batches, looks = [], []

    def run_seen(x, *args):
        batches.append(len(x))
        return run(x, *args)

    def look_seen(crops, floor):
        looks.append(len(crops))
        return look(crops, floor)

    det._graph = (net, run_seen, look_seen)
    small = face_image[::3, ::3].copy()  # faces of 11-13 px, scoring under the threshold
    frames = np.stack([small, small[:, ::-1].copy(), small])
    together = det(frames)
    alone = det(frames[1:2])[0]
    fresh = FaceDetector(threshold=0.4, low_threshold=0.1, detect_size=0, backend="tf", model="float")(frames[1:2])[0]
    assert batches == [3, 3] and len(looks) == 2  # one call of the crops for the batch's three frames
    assert all(count == graph_count(count) for count in looks)
    assert [graph_count(n) for n in (0, 1, 4, 5, 17, 64, 65)] == [4, 4, 4, 8, 32, 64, 128]
    assert len(alone) == len(fresh) > 0 and (alone.scores >= 0.4).any()  # confirmed there
    for a, b in ((alone, fresh), (together[1], fresh)):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-5)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    raw = FaceDetector(threshold=0.4, low_threshold=0.1, detect_size=0, backend="tf", model="float",
                       verify=False)(frames)  # fmt: skip
    cpu = FaceDetector(threshold=0.4, low_threshold=0.1, detect_size=0, backend="tflite")
    batched = det.second_looks(frames, raw)
    assert sum(len(d) for d in batched) > 3
    for graph_look, frame, dets in zip(batched, frames, raw):
        np.testing.assert_allclose(graph_look.scores, cpu.second_look(frame, dets).scores, atol=1e-4)
    looks.clear()
    monkeypatch.setattr(centerface, "GRAPH_MAX_CROPS", 2)  # several calls, of two crops each: the same
    for a, b in zip(det.second_looks(frames, raw), batched):
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    assert len(looks) > 2 and set(looks) == {4}


def test_a_gpu_run_writes_the_cpu_runs_video(tmp_path, face_image, detector):
    """End to end, a run on the GPU path (simulated on the CPU, ``scripts/simulated_gpu``,
    where there is no GPU) writes the very bytes a run on the CPU path writes, tracks file included: the same
    network, the same input, the same scan plan. The clip: the sample photo's faces shrunk to
    10-13 px on an 800x450 frame, enlarged 1.2x for the full passes (a resizing with uneven
    weights) and scoring under the threshold, so that their crops get second looks. Before
    the graph took NumPy's input, TensorFlow's resizing and crops moved some boxes
    (docs/precision.md, round ten)."""
    import subprocess
    import sys

    import imageio.v3 as iio
    from conftest import ROOT, ffmpeg

    still = tmp_path / "still.png"
    iio.imwrite(still, small_faces_frame(face_image, detector, height=450, width=800, face_px=11)[0])
    clip = tmp_path / "in.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-loop", "1", "-i", str(still), "-frames:v", "8", "-r", "10",
                    "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv444p", str(clip)], check=True)  # fmt: skip
    import tensorflow as tf

    # on a machine with a GPU, the GPU itself; the path a user's set-up needs is kept
    paths = [] if tf.config.list_physical_devices("GPU") else [str(ROOT / "scripts" / "simulated_gpu")]
    paths += [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    runs = {}
    for device in ("gpu", "cpu"):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "VIDANON_CACHE_DIR": str(tmp_path / "cache")}
        out, tracks = tmp_path / f"{device}.mp4", tmp_path / f"{device}.json"
        run = subprocess.run([sys.executable, "-m", "vidanon", str(clip), str(out), "-y", "--device", device,
                              "--save-tracks", str(tracks)], env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=300)  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        runs[device] = (run.stderr + run.stdout, out.read_bytes(), tracks.read_text())
    assert "on GPU" in runs["gpu"][0] and "on CPU" in runs["cpu"][0]
    # faces hidden that the full pass alone scores under the threshold: the second looks ran
    raw = FaceDetector(threshold=0.4, low_threshold=0.1, backend="int8", verify=False)
    first = raw(iio.imread(clip, index=0)[None])[0]
    assert len(first) >= 2 and first.scores.max() < 0.4
    assert max(box["score"] for frame in json.loads(runs["cpu"][2])["frames"] for box in frame) >= 0.4
    assert runs["gpu"][1:] == runs["cpu"][1:]
