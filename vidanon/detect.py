"""Stage 1: a batched face detector in TensorFlow (CenterFace, translated from ONNX).

``FaceDetector(frames)`` takes a batch ``(B, H, W, 3)`` of uint8 RGB frames and returns
one :class:`~vidanon.detections.Detections` per frame. The network runs once per
batch, on the GPU when TensorFlow sees one; resizing, padding to a multiple of 32 and
the heatmap threshold run inside the same ``tf.function``. Only the few heatmap cells
above the lowest threshold come back to NumPy, where they are decoded into boxes and
thinned by non-maximum suppression.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from dataclasses import dataclass

import numpy as np

from .detections import FACE, PERSON, Detections
from .errors import ModelError
from .models import model_path
from .video import worker_threads

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_THRESHOLD = 0.4
MAX_UPSCALE = 2.0
STRIDE = 4  # CenterFace's output stride


_configured = False


def cpu_threads() -> int:
    """CPU threads this process may use: its share under ``--jobs``, else every core."""
    return worker_threads() or os.cpu_count() or 1


def configure_tensorflow() -> str:
    """Import TensorFlow once, let GPU memory grow on demand; return the device in words."""
    global _configured
    with _quiet_native_stderr():  # a CUDA build on a machine without GPU logs its probing
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    if not _configured:
        if worker_threads() is not None:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(cpu_threads())
                tf.config.threading.set_inter_op_parallelism_threads(min(2, cpu_threads()))
            except RuntimeError:  # TensorFlow already started in this process
                pass
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised
                pass
        _configured = True
    if gpus:
        try:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        except Exception:  # pragma: no cover - depends on the driver
            name = "GPU"
        return f"GPU ({name})"
    return f"CPU ({os.cpu_count()} cores)"


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns the kept indices, best first."""
    order = np.argsort(-scores, kind="stable")
    boxes = boxes.astype(np.float64)
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        lo = np.maximum(boxes[i, :2], boxes[rest, :2])
        hi = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode_centerface(
    cells: np.ndarray,
    values: np.ndarray,
    scale_hw: tuple[float, float],
    iou_threshold: float = 0.3,
) -> Detections:
    """Turn the above-threshold heatmap cells of one frame into face boxes.

    ``cells`` is ``(K, 2)`` (row, column) in the heatmap grid; ``values`` is ``(K, 5)``:
    score, log-height, log-width, y-offset, x-offset. ``scale_hw`` is the size, in
    network-input pixels, that the original frame was resized to (before padding);
    boxes come back normalized to the frame.
    """
    if len(cells) == 0:
        return Detections.empty()
    score = values[:, 0]
    h = np.exp(values[:, 1]) * STRIDE
    w = np.exp(values[:, 2]) * STRIDE
    cy = (cells[:, 0] + values[:, 3] + 0.5) * STRIDE
    cx = (cells[:, 1] + values[:, 4] + 0.5) * STRIDE
    sh, sw = scale_hw
    boxes = np.stack([(cy - h / 2) / sh, (cx - w / 2) / sw, (cy + h / 2) / sh, (cx + w / 2) / sw], axis=1)
    boxes = np.clip(boxes, 0.0, 1.0)
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, score = boxes[valid], score[valid]
    # NMS in pixel units so that the IoU is not distorted by the frame's aspect ratio.
    keep = nms(boxes * np.array([sh, sw, sh, sw]), score, iou_threshold)
    return Detections(boxes[keep], score[keep], np.full(len(keep), FACE))


@dataclass(frozen=True)
class DetectGeometry:
    """How a frame of ``height`` x ``width`` is fed to the network."""

    height: int
    width: int
    resized_h: int
    resized_w: int
    padded_h: int
    padded_w: int

    @classmethod
    def for_frame(cls, height: int, width: int, detect_size: int | None) -> "DetectGeometry":
        scale = 1.0
        if detect_size:
            # Large frames are reduced to detect_size; small ones enlarged towards it (at
            # most MAX_UPSCALE times), since CenterFace misses faces under ~30 px.
            scale = min(detect_size / max(height, width), MAX_UPSCALE)
        rh = max(1, round(height * scale))
        rw = max(1, round(width * scale))
        return cls(height, width, rh, rw, 32 * math.ceil(rh / 32), 32 * math.ceil(rw / 32))


class FaceDetector:
    """CenterFace in TensorFlow, batched.

    ``threshold`` is the score above which a face counts as detected; ``low_threshold``
    is the floor below which cells are dropped entirely (the tracker uses the boxes in
    between to extend existing tracks). ``detect_size`` caps the longer side of the
    network input (None: native resolution). ``backend``: "tf" runs the network as a
    TensorFlow graph (batched; the GPU path), "tflite" through TensorFlow Lite's XNNPACK
    kernels (about twice as fast on a CPU), "auto" picks "tflite" when TensorFlow sees
    no GPU.
    """

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        low_threshold: float | None = None,
        detect_size: int | None = None,
        nms_iou: float = 0.3,
        backend: str = "auto",
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError("threshold must be between 0 and 1")
        self.threshold = float(threshold)
        self.low_threshold = float(low_threshold if low_threshold is not None else threshold)
        self.low_threshold = min(self.low_threshold, self.threshold)
        self.detect_size = detect_size
        self.nms_iou = nms_iou
        self.device = configure_tensorflow()
        if backend not in ("auto", "tf", "tflite"):
            raise ValueError("backend must be 'auto', 'tf' or 'tflite'")
        self._auto = backend == "auto"
        if backend == "auto":  # a TensorFlow without tf.lite falls back to "tf" in _build
            backend = "tf" if self.device.startswith("GPU") else "tflite"
        self.backend = backend
        self._fn = self._build()

    def _build(self):
        import tensorflow as tf

        from .onnx_tf import load_onnx_as_tf

        net = load_onnx_as_tf(model_path("centerface"))
        # frames (B, H, W, 3) uint8, their resized size, their padded size
        frame_specs = [tf.TensorSpec([None, None, None, 3], tf.uint8), tf.TensorSpec([2], tf.int32),
                       tf.TensorSpec([2], tf.int32)]  # fmt: skip

        # autograph=False: plain TF ops only, no source transformation (1.7 s of start-up)
        @tf.function(autograph=False, input_signature=frame_specs, reduce_retracing=True)
        def prepare(frames, resized, padded):
            x = tf.cast(frames, tf.float32)
            in_hw = tf.shape(x)[1:3]
            x = tf.cond(
                tf.reduce_all(tf.equal(in_hw, resized)),
                lambda: x,
                lambda: tf.image.resize(x, resized, method="area"),
            )
            return tf.pad(x, [[0, 0], [0, padded[0] - resized[0]], [0, padded[1] - resized[1]], [0, 0]])

        @tf.function(autograph=False, input_signature=[*frame_specs, tf.TensorSpec([], tf.float32)],
                     reduce_retracing=True)  # fmt: skip
        def run(frames, resized, padded, floor):
            heat, scale, offset, _landmarks = net(prepare(frames, resized, padded))
            cells = tf.where(heat[..., 0] > floor)  # (K, 3): batch, row, col
            values = tf.concat(
                [tf.gather_nd(heat, cells), tf.gather_nd(scale, cells), tf.gather_nd(offset, cells)], axis=1
            )
            return cells, values

        self._prepare = prepare
        if self.backend == "tflite":
            try:
                self._lite = _LiteNet(net)
            except ModelError:
                if not self._auto:
                    raise
                self.backend = "tf"  # the graph computes the same function, only slower
        return run

    def __call__(self, frames: np.ndarray) -> list[Detections]:
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        n, height, width = frames.shape[:3]
        geo = DetectGeometry.for_frame(height, width, self.detect_size)
        resized = np.array([geo.resized_h, geo.resized_w], np.int32)
        padded = np.array([geo.padded_h, geo.padded_w], np.int32)
        if self.backend == "tflite":
            cells, values = self._lite.cells(self._prepare(frames, resized, padded).numpy(), self.low_threshold)
        else:
            cells, values = self._fn(frames, resized, padded, np.float32(self.low_threshold))
            cells = cells.numpy()
            values = values.numpy()
        out = []
        for i in range(n):
            sel = cells[:, 0] == i
            out.append(decode_centerface(cells[sel, 1:], values[sel], (geo.resized_h, geo.resized_w), self.nms_iou))
        return out


@contextlib.contextmanager
def _quiet_native_stderr():
    """Hide what C++ code prints on file descriptor 2 (TFLite's INFO lines), unless the
    user asked for TensorFlow's logs (TF_CPP_MIN_LOG_LEVEL below 2, as ``--debug`` sets)."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") < "2":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # pragma: no cover - no file descriptors left
        yield
        return
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _LiteNet:
    """The same network converted to TensorFlow Lite and run by its XNNPACK CPU kernels.

    On a CPU, TensorFlow's own kernels run this MobileNet-style network about half as
    fast as XNNPACK; the conversion (about 2 s) happens once per process from the
    graph built above, so both back-ends compute the same function (checked by
    ``tests/test_detect.py``). One frame per ``invoke``; the interpreter is resized
    when the frame geometry changes.
    """

    def __init__(self, net) -> None:
        import warnings

        import tensorflow as tf

        fn = tf.function(
            lambda x: net(x)[:3], autograph=False, input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)]
        )
        try:
            with _quiet_native_stderr(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
                blob = converter.convert()
                self._it = tf.lite.Interpreter(model_content=blob, num_threads=cpu_threads())
        except Exception as exc:
            raise ModelError(f"cannot convert the face detector for the CPU: {exc}") from None
        self._input = self._it.get_input_details()[0]["index"]
        # The converter names the outputs Identity, Identity_1, ... in the function's order
        # (heat, scale, offset); checked below against the graph on a random input.
        outputs = sorted(self._it.get_output_details(), key=lambda d: (len(d["name"]), d["name"]))
        self._outputs = [d["index"] for d in outputs]
        self._shape: tuple[int, ...] | None = None
        probe = np.random.default_rng(0).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)
        expected = [t.numpy() for t in fn(tf.constant(probe))]
        with _quiet_native_stderr():  # XNNPACK announces itself on the first run
            got = self._run(probe)
        if any(g.shape != e.shape or not np.allclose(g, e, atol=1e-3, rtol=1e-3) for g, e in zip(got, expected)):
            raise ModelError("the TensorFlow Lite face detector disagrees with the graph; use backend='tf'")

    def _run(self, x: np.ndarray) -> list[np.ndarray]:
        shape = tuple(x.shape)
        if shape != self._shape:
            self._it.resize_tensor_input(self._input, list(shape))
            self._it.allocate_tensors()
            self._shape = shape
        self._it.set_tensor(self._input, x)
        self._it.invoke()
        return [self._it.get_tensor(k) for k in self._outputs]

    def cells(self, x: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
        """Above-``floor`` heatmap cells and their values for a batch ``x`` (N, H, W, 3) float32."""
        all_cells, all_values = [], []
        for i in range(len(x)):
            heat, a, b = (o[0] for o in self._run(np.ascontiguousarray(x[i : i + 1])))
            rows, cols = np.nonzero(heat[..., 0] > floor)
            all_cells.append(np.stack([np.full(len(rows), i), rows, cols], axis=1))
            all_values.append(np.concatenate([heat[rows, cols], a[rows, cols], b[rows, cols]], axis=1))
        return np.concatenate(all_cells).astype(np.int64), np.concatenate(all_values).astype(np.float32)


PERSON_THRESHOLD = 0.5
PERSON_INPUT = 300  # the SSD graph's own input size; frames are reduced to it once, batched


class PersonDetector:
    """People, from the TF Object Detection API's SSDLite/MobileNetV2 frozen graph.

    The graph is loaded with ``tf.compat.v1.wrap_function`` and pruned to
    ``image_tensor:0`` -> ``detection_boxes/scores/classes``; it takes a batch of uint8
    frames and returns normalized ``[ymin, xmin, ymax, xmax]`` boxes. Frames are reduced
    to 300x300 (what the graph resizes to anyway) before they enter it.
    """

    def __init__(self, threshold: float = PERSON_THRESHOLD, low_threshold: float | None = None) -> None:
        import tensorflow as tf

        self.threshold = float(threshold)
        self.low_threshold = min(float(low_threshold if low_threshold is not None else threshold), self.threshold)
        self.device = configure_tensorflow()
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(model_path("ssdlite_person").read_bytes())
        except Exception as exc:  # a damaged file that passed no check cannot get here
            raise ModelError(f"cannot load the person detector: {exc}") from None

        def imports():
            tf.compat.v1.import_graph_def(graph_def, name="")

        wrapped = tf.compat.v1.wrap_function(imports, [])
        graph = wrapped.graph
        pruned = wrapped.prune(
            feeds=graph.get_tensor_by_name("image_tensor:0"),
            fetches=[graph.get_tensor_by_name(f"detection_{n}:0") for n in ("boxes", "scores", "classes")],
        )

        @tf.function(autograph=False, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
        def run(frames):
            small = tf.image.resize(frames, (PERSON_INPUT, PERSON_INPUT), method="area")
            return pruned(tf.cast(tf.round(small), tf.uint8))

        self._fn = run

    def __call__(self, frames: np.ndarray) -> list[Detections]:
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        boxes, scores, classes = (t.numpy() for t in self._fn(frames))
        out = []
        for b, s, c in zip(boxes, scores, classes):
            keep = (s >= self.low_threshold) & (c == 1)  # COCO class 1: person
            out.append(Detections(np.clip(b[keep], 0.0, 1.0), s[keep], np.full(int(keep.sum()), PERSON)))
        return out
