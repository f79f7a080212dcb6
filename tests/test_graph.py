"""The GPU path's graph: the ONNX file translated into TensorFlow ops, what it computes
against the ONNX reference and the CPU's networks, and the few input shapes it meets."""

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


def test_cpu_backend_computes_what_the_graph_computes(detector, face_image):
    """TFLite/XNNPACK (the CPU path) with its NumPy resizing and crops, and the TensorFlow
    graph (the GPU path) find the same boxes with the same scores: on real frames with
    people (each frame's full pass and half-size pass, the second look included), on
    synthetic small faces in a 1080p frame, at sizes the frames are enlarged, kept and
    reduced to (area averaging at 1.5x, 2x, 1x, 0.5x, 0.78x)."""
    from conftest import SHARED

    graph = FaceDetector(threshold=0.4, low_threshold=0.1, detect_size=640, backend="tf")
    lite = FaceDetector(threshold=0.4, low_threshold=0.1, detect_size=640, backend="tflite")
    assert (graph.backend, lite.backend) == ("tf", "tflite")
    frames = [np.stack([face_image, face_image[:, ::-1].copy()])]
    frames += [np.stack([f, f]) for f in real_frames(SHARED)]
    frames.append(np.stack([small_faces_frame(face_image, detector)[0]] * 2))
    compared = 0
    for settings in ({"detect_size": 640}, {"every": 2}, {"detect_size": 1500, "every": 2}):
        graph = FaceDetector(threshold=0.4, low_threshold=0.1, backend="tf", **settings)
        lite = FaceDetector(threshold=0.4, low_threshold=0.1, backend="tflite", **settings)
        for batch in frames:
            for a, b in zip(graph(batch), lite(batch)):  # every=2: frame 0 the full pass, 1 the half
                assert len(a) == len(b)
                if len(a):  # boxes of equal scores may come in either order
                    order = iou_matrix(a.boxes, b.boxes).argmax(axis=1)
                    assert sorted(order) == list(range(len(b)))
                    np.testing.assert_allclose(a.boxes, b.boxes[order], atol=1e-4)
                    np.testing.assert_allclose(a.scores, b.scores[order], atol=1e-4)
                compared += len(a)
    assert compared > (100 if SHARED.is_dir() else 40)  # fewer without the real frames of ../shared (70 here)
    with pytest.raises(ValueError, match="backend"):
        FaceDetector(backend="onnx")


def test_the_graph_meets_few_input_shapes_and_its_padding_changes_nothing(face_image, monkeypatch):
    """The GPU path's graph pads a short batch of frames up to the largest batch it has run
    and a batch's crops for the second look up to a power of two (with cuDNN's autotuning,
    each new shape costs seconds on a GPU), all the frames' crops in one call; the padding
    and the batching change no detection: the same as each frame's crops alone, and as the
    CPU's float network on them."""
    from vidanon.detect import centerface
    from vidanon.detect.centerface import graph_count

    det = FaceDetector(threshold=0.4, low_threshold=0.1, detect_size=0, backend="tf")
    net, run, look = det._build()
    batches, looks = [], []

    def run_seen(x, *args):
        batches.append(len(x))
        return run(x, *args)

    def look_seen(frames, boxes, owners, floor):
        looks.append((len(frames), len(boxes), sorted(set(owners.tolist()))))
        return look(frames, boxes, owners, floor)

    det._graph = (net, run_seen, look_seen)
    small = face_image[::3, ::3].copy()  # faces of 11-13 px, scoring under the threshold
    frames = np.stack([small, small[:, ::-1].copy(), small])
    together = det(frames)
    alone = det(frames[1:2])[0]
    fresh = FaceDetector(threshold=0.4, low_threshold=0.1, detect_size=0, backend="tf")(frames[1:2])[0]
    assert batches == [3, 3] and len(looks) == 2
    assert looks[0][0] == 3 and looks[0][2] == [0, 1, 2]  # one call for the batch's three frames
    assert all(count == graph_count(count) for _, count, _ in looks)
    assert [graph_count(n) for n in (0, 1, 4, 5, 17, 64, 65)] == [4, 4, 4, 8, 32, 64, 128]
    assert len(alone) == len(fresh) > 0 and (alone.scores >= 0.4).any()  # confirmed there
    for a, b in ((alone, fresh), (together[1], fresh)):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-5)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    raw = FaceDetector(threshold=0.4, low_threshold=0.1, detect_size=0, backend="tf", verify=False)(frames)
    cpu = FaceDetector(threshold=0.4, low_threshold=0.1, detect_size=0, backend="tflite")
    batched = det.second_looks(frames, raw)
    for graph_look, frame, dets in zip(batched, frames, raw):
        np.testing.assert_allclose(graph_look.scores, cpu.second_look(frame, dets).scores, atol=1e-4)
    for name, cap in (("GRAPH_MAX_CROPS", 2), ("GRAPH_MAX_FRAMES", 1)):  # several calls: the same scores
        monkeypatch.setattr(centerface, name, cap)
        for a, b in zip(det.second_looks(frames, raw), batched):
            np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_the_graphs_second_looks_are_cut_by_crops_and_frames(monkeypatch):
    """A batch's crops go to the graph in calls of GRAPH_MAX_CROPS crops and GRAPH_MAX_FRAMES
    frames at most, in order, every crop once."""
    from vidanon.detect import centerface

    monkeypatch.setattr(centerface, "GRAPH_MAX_CROPS", 4)
    monkeypatch.setattr(centerface, "GRAPH_MAX_FRAMES", 3)
    owners = np.array([0, 0, 0, 0, 0, 1, 2, 3, 3, 5, 9])
    chunks = centerface.graph_chunks(owners)
    assert chunks == [(0, 4), (4, 7), (7, 10), (10, 11)]
    assert centerface.graph_chunks(np.array([], int)) == []
