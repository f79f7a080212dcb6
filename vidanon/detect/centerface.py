"""Faces: a batched CenterFace detector in TensorFlow (translated from ONNX).

``FaceDetector(frames)`` takes a batch ``(B, H, W, 3)`` of uint8 RGB frames and returns
one :class:`~vidanon.detections.Detections` per frame. The network runs once per
batch, on the GPU when TensorFlow sees one, resizing, padding to a multiple of 32 and the
heatmap threshold inside the same ``tf.function``; on a CPU it runs through TensorFlow
Lite (:mod:`.lite`), the resizing and padding in NumPy (:mod:`vidanon.resample`, which
computes what TensorFlow's resize computes), and without TensorFlow once the conversion
is cached. Only the few heatmap cells above the lowest threshold come back to NumPy,
where they are decoded into boxes and thinned by non-maximum suppression (:mod:`.decode`)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..detections import Detections
from ..errors import ModelError
from ..resample import area_taps, crops_and_resize, resample
from ..targets import FACES
from .decode import decode_centerface
from .lite import LiteNet
from .look import (
    CROP_SIDE,
    PERSON_CONTEXT_SCORE,
    Looks,
    apply_looks,
    cap_off_people,
    plan_looks,
    unexplained,
)
from .models import model_path
from .people_lite import shared_person_lite
from .tf_setup import compute_device, configure_tensorflow, cpu_device
from .view import as_batch

DEFAULT_THRESHOLD = FACES.threshold  # the default --threshold, set in vidanon.targets


MAX_UPSCALE = 2.0


# With the default size, frames whose longer side is under this are enlarged towards it
# (at most MAX_UPSCALE times) for the full pass: CenterFace misses faces under ~20 px.
SMALL_FRAME = 960


# A half-size pass between full passes is only worth it from this network input size on.
MIN_SPLIT = 960


# On a frame enlarged for the full pass (under SMALL_FRAME), the pass between full passes sees
# it at about its own size and the enlarged pass costs about four times as much: it runs on
# every ENLARGED_EVERY-th frame it would run on otherwise (every 4th with the CPU's --scan-every
# 2). Measured on the labelled real clips and the composited ones (docs/speed.md, round six): no
# labelled head lost (store_aisle 16 -> 19 covered, hikers 67 -> 69), false regions a frame
# 1.01 -> 0.99, composited recall the same (4232/4290); 480x360 and 640x480 15-25% faster.
ENLARGED_EVERY = 2


# The graph (the GPU path) meets few input shapes: a batch's crops for the second look are
# run GRAPH_MAX_CROPS at most at a time (see graph_chunks), padded up to a power of two (at least
# GRAPH_MIN_CROPS), and a short batch of frames up to the largest batch of its geometry so
# far. With cuDNN's autotuning on (TF_CUDNN_USE_AUTOTUNE=1; vidanon.detect.tf_setup turns it
# off), each new shape costs a search of every convolution's algorithms: 2.4-3.1 s on an H200.
GRAPH_MIN_CROPS = 4


GRAPH_MAX_CROPS = 256  # crops a call at most (about the pixels of three 1080p frames)


# Frames a call of the second looks is given at most: the graph holds them as float32 on the
# GPU (8 frames of 1080p: 200 MB), while up to four decode threads call it at once.
GRAPH_MAX_FRAMES = 8


def graph_chunks(owners: np.ndarray) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges of crops (their frames ``owners``, sorted) for the graph's calls: at
    most GRAPH_MAX_CROPS crops and GRAPH_MAX_FRAMES frames (first to last) each."""
    chunks, lo = [], 0
    for k in range(1, len(owners) + 1):
        if k == len(owners) or k - lo >= GRAPH_MAX_CROPS or owners[k] - owners[lo] >= GRAPH_MAX_FRAMES:
            chunks.append((lo, k))
            lo = k
    return chunks


def graph_count(n: int) -> int:
    """How many inputs the graph gets for ``n``: the next power of two from GRAPH_MIN_CROPS."""
    return max(GRAPH_MIN_CROPS, 1 << (max(n, 1) - 1).bit_length())


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
            # most MAX_UPSCALE times), since CenterFace misses faces under ~20 px.
            scale = min(detect_size / max(height, width), MAX_UPSCALE)
        return cls.scaled(height, width, scale)

    @classmethod
    def scaled(cls, height: int, width: int, scale: float) -> "DetectGeometry":
        rh = max(1, round(height * scale))
        rw = max(1, round(width * scale))
        return cls(height, width, rh, rw, 32 * math.ceil(rh / 32), 32 * math.ceil(rw / 32))

    @property
    def scale(self) -> float:
        return self.resized_h / self.height


@dataclass(frozen=True)
class ScanPlan:
    """Which network input each frame of a video gets.

    The *full* pass sees the frame at ``detect_size`` (default: native resolution, small
    frames enlarged towards SMALL_FRAME), where the smallest faces are found. With
    ``every`` = K > 1, only every K-th frame gets it; the frames in between get a pass at
    half that scale (a quarter of the cost), which finds every face larger than about
    40 px of the full pass, while the tracker carries the small faces found by the full
    passes across the one or two frames between them (their boxes are predicted, then
    interpolated once the next full pass sees them again). A frame enlarged for the full pass
    gets it ENLARGED_EVERY times less often.
    """

    full: DetectGeometry
    half: DetectGeometry | None
    every: int

    @classmethod
    def for_frame(cls, height: int, width: int, detect_size: int | None = None, every: int = 1) -> "ScanPlan":
        """``detect_size``: None for the default, 0 for the native resolution, else the longer
        side of the full pass's input."""
        if detect_size is None:
            full = DetectGeometry.scaled(height, width, min(max(1.0, SMALL_FRAME / max(height, width)), MAX_UPSCALE))
        else:
            full = DetectGeometry.for_frame(height, width, detect_size or None)
        half = None
        if every > 1 and max(full.resized_h, full.resized_w) >= MIN_SPLIT:
            half = DetectGeometry.scaled(height, width, full.scale / 2)
            if full.scale > 1.0:
                every *= ENLARGED_EVERY
        return cls(full, half, every if half is not None else 1)

    def geometry(self, index: int) -> DetectGeometry:
        """The input of frame ``index`` (counted from the video's first frame)."""
        if self.half is None or index % self.every == 0:
            return self.full
        return self.half


def network_input(frames: np.ndarray, geo: DetectGeometry) -> np.ndarray:
    """``frames`` (B, H, W, 3) uint8 as the network takes them: float32, resized to the
    geometry's size by area averaging (as ``tf.image.resize(..., "area")``), padded with
    zeros to its multiple of 32."""
    out = np.zeros((len(frames), geo.padded_h, geo.padded_w, 3), np.float32)
    same = (geo.resized_h, geo.resized_w) == frames.shape[1:3]
    rows, cols = (None, None) if same else (area_taps(geo.height, geo.resized_h), area_taps(geo.width, geo.resized_w))
    for i, frame in enumerate(frames):
        out[i, : geo.resized_h, : geo.resized_w] = frame if same else resample(frame, rows, cols)
    return out


class FaceDetector:
    """CenterFace in TensorFlow, batched.

    ``threshold`` is the score above which a face counts as detected; ``low_threshold``
    is the floor below which cells are dropped entirely (the tracker uses the boxes in
    between to extend existing tracks). ``detect_size`` and ``every`` set the
    :class:`ScanPlan` (None: native resolution, small frames enlarged; 0: native
    resolution; N: the longer side of the full pass's input; ``every`` K: the full pass
    on every K-th frame, a half-size pass in between). ``verify``: small boxes scoring under
    ``threshold`` are scored again on an enlarged crop (:meth:`second_look`). ``backend``: "tf" runs the network as a
    TensorFlow graph (batched; the GPU path), "tflite" the same float network through
    TensorFlow Lite's XNNPACK kernels (about twice as fast on a CPU), "int8" the shipped
    int8 network (``scripts/quantize_centerface.py``) through them (about twice as fast
    again, scores within a few hundredths); "cpu" picks ``cpu_model`` ("int8", or "float"
    for "tflite"); "auto" picks "tf" when TensorFlow may see a GPU, else "cpu".
    """

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        low_threshold: float | None = None,
        detect_size: int | None = None,
        nms_iou: float = 0.3,
        backend: str = "auto",
        every: int = 1,
        verify: bool = True,
        cpu_model: str = "int8",
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError("threshold must be between 0 and 1")
        if every < 1:
            raise ValueError("every must be at least 1")
        self.every = int(every)
        self.verify = bool(verify)
        self.threshold = float(threshold)
        self.low_threshold = float(low_threshold if low_threshold is not None else threshold)
        self.low_threshold = min(self.low_threshold, self.threshold)
        self.detect_size = detect_size
        self.nms_iou = nms_iou
        if backend not in ("auto", "cpu", "tf", "tflite", "int8") or cpu_model not in ("int8", "float"):
            raise ValueError("backend must be 'auto', 'cpu', 'tf', 'tflite' or 'int8', cpu_model 'int8' or 'float'")
        self.device = {"auto": compute_device, "tf": configure_tensorflow}.get(backend, cpu_device)()
        if backend == "auto":
            backend = "tf" if self.device.startswith("GPU") else "cpu"
        self._auto = backend == "cpu"  # a TensorFlow without tf.lite falls back to "tf" below
        if backend == "cpu":
            backend = {"int8": "int8", "float": "tflite"}[cpu_model]
        self.backend = backend
        self._graph = None
        self._graph_batch: dict[DetectGeometry, int] = {}  # the largest batch of each geometry so far
        if backend == "int8":  # no TensorFlow at all
            self._lite = LiteNet(model_path("centerface_int8").read_bytes())
        elif backend == "tflite":
            self._lite = LiteNet.cached()  # no TensorFlow when the conversion is cached
            if self._lite is None:
                try:
                    self._lite = LiteNet.convert(self._build()[0])
                except ModelError:
                    if not self._auto:
                        raise
                    self.backend = "tf"  # the graph computes the same function, only slower
        if self.backend == "tf":
            self._build()

    def _build(self):
        """The network as a TensorFlow graph, and the functions that run it batched (the GPU
        path; on a CPU only to convert it)."""
        if self._graph is not None:
            return self._graph
        configure_tensorflow()
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

        def cells_of(x, floor):
            heat, scale, offset, _landmarks = net(x)
            cells = tf.where(heat[..., 0] > floor)  # (K, 3): batch, row, col
            values = tf.concat(
                [tf.gather_nd(heat, cells), tf.gather_nd(scale, cells), tf.gather_nd(offset, cells)], axis=1
            )
            return cells, values

        @tf.function(autograph=False, input_signature=[*frame_specs, tf.TensorSpec([], tf.float32)],
                     reduce_retracing=True)  # fmt: skip
        def run(frames, resized, padded, floor):
            return cells_of(prepare(frames, resized, padded), floor)

        # The second looks of a batch: the crops of every frame (``owners``: the frame of each
        # box), cut on the device from the frames and run in one call.
        @tf.function(autograph=False, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8),
                                                       tf.TensorSpec([None, 4], tf.float32),
                                                       tf.TensorSpec([None], tf.int32),
                                                       tf.TensorSpec([], tf.float32)])  # fmt: skip
        def look(frames, boxes, owners, floor):
            x = tf.image.crop_and_resize(tf.cast(frames, tf.float32), boxes, owners, (CROP_SIDE, CROP_SIDE),
                                         extrapolation_value=0.0)  # fmt: skip
            return cells_of(x, floor)

        self._graph = (net, run, look)
        return self._graph

    def plan(self, height: int, width: int) -> ScanPlan:
        return ScanPlan.for_frame(height, width, self.detect_size, self.every)

    def __call__(self, frames: np.ndarray, first_index: int = 0) -> list[Detections]:
        """Detections for each frame of ``frames``; ``first_index`` is the number of the
        first one in its video (it decides which frames get the full pass)."""
        return self.prepare(frames, first_index)()()

    def prepare(self, frames: np.ndarray, first_index: int = 0) -> Callable[[], Callable[[], list[Detections]]]:
        """:meth:`__call__` in three steps, which the pipeline runs in three threads: the
        network's inputs are made now (on a CPU, the resizing takes about a quarter of the
        detector's time on a small frame); the network runs when the function returned is
        called, holding the GIL little; its cells are decoded into boxes, and the weak ones
        looked at again (Python, a few network calls on small crops), when the function that
        returns is called."""
        frames = as_batch(frames)
        n, height, width = frames.shape[:3]
        plan = self.plan(height, width)
        groups: dict[DetectGeometry, list[int]] = {}
        for i in range(n):
            groups.setdefault(plan.geometry(first_index + i), []).append(i)
        inputs = [(geo, members, self._input(frames[members] if len(members) < n else frames, geo))
                  for geo, members in groups.items()]  # fmt: skip
        return functools.partial(self._run_network, frames, inputs)

    def _run_network(self, frames: np.ndarray, inputs: list[tuple[DetectGeometry, list[int], np.ndarray]]
                     ) -> Callable[[], list[Detections]]:  # fmt: skip
        found = [(geo, members, self._cells(x, geo)) for geo, members, x in inputs]
        return functools.partial(self._decode, frames, found)

    def _decode(self, frames: np.ndarray, found: list[tuple[DetectGeometry, list[int], tuple[np.ndarray, np.ndarray]]]
                ) -> list[Detections]:  # fmt: skip
        out: list[Detections] = [Detections.empty()] * len(frames)
        for geo, members, (cells, values) in found:
            for i, dets in zip(members, self._boxes(cells, values, len(members), geo)):
                out[i] = dets
        return self.second_looks(frames, out) if self.verify else out

    def second_look(self, frame: np.ndarray, dets: Detections) -> Detections:
        """:meth:`second_looks` of one frame."""
        return self.second_looks(frame[None], [dets])[0]

    def second_looks(self, frames: np.ndarray, dets: list[Detections]) -> list[Detections]:
        """``dets`` (one per frame of ``frames``) with their weak boxes looked at again
        (:mod:`.look`): a small one scored again on an enlarged crop around it, a large one
        capped unless skin or a person is there. On a CPU the crops of each frame are cut and
        run in turn, on the GPU those of all the frames in one call."""
        dets = self._context_looks(frames, dets)
        height, width = frames.shape[1:3]
        looks = [plan_looks(d, height, width, self.threshold) for d in dets]
        found = self._crop_cells(frames, looks)
        return [d if k is None else apply_looks(d, k, *c, self.nms_iou) for d, k, c in zip(dets, looks, found)]

    def _context_looks(self, frames: np.ndarray, dets: list[Detections]) -> list[Detections]:
        """``dets`` with the weak boxes too large for a crop capped where neither skin nor a
        person is there (the person detector runs only on the frames that have such boxes)."""
        boxes = [unexplained(frame, d, self.threshold) for frame, d in zip(frames, dets)]
        need = [i for i, b in enumerate(boxes) if b]
        if not need:
            return dets
        people = self._people(frames[need])
        if people is None:  # no person detector: the boxes keep their scores, as before
            return dets
        out = list(dets)
        for i, found in zip(need, people):
            out[i] = cap_off_people(dets[i], boxes[i], found)
        return out

    def _people(self, frames: np.ndarray) -> list[np.ndarray] | None:
        """The person boxes of each of ``frames``; None when the person detector cannot be
        loaded. On the GPU path too, the CPU's network: the person graph on an H200 took
        1.5 s a call of a batch's frames, its box selection running on the CPU (docs/gpu.md)."""
        people = shared_person_lite()
        return None if people is None else [people(frame, PERSON_CONTEXT_SCORE).boxes for frame in frames]

    def _crop_cells(self, frames: np.ndarray, looks: list[Looks | None]) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """The network's cells (crop, row, column) and values on each frame's crops
        (:func:`~.look.apply_looks` takes them); None for a frame with no look."""
        if self.backend != "tf":
            return [None if k is None else self._lite.cells(crops_and_resize(
                frame, k.windows.astype(np.float32), CROP_SIDE, CROP_SIDE), self.low_threshold)
                for frame, k in zip(frames, looks)]  # fmt: skip
        which = [i for i, k in enumerate(looks) if k is not None]
        out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(looks)
        if not which:
            return out
        counts = [len(looks[i]) for i in which]
        windows = np.concatenate([looks[i].windows for i in which]).astype(np.float32)
        cells, values = self._graph_looks(frames, windows, np.repeat(np.asarray(which), counts))
        start = 0
        for i, n in zip(which, counts):
            sel = (cells[:, 0] >= start) & (cells[:, 0] < start + n)
            mine = cells[sel]
            mine[:, 0] -= start
            out[i] = (mine, values[sel])
            start += n
        return out

    def _graph_looks(self, frames: np.ndarray, windows: np.ndarray, owners: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The graph's cells and values on the crops ``windows`` (N x 4, ``owners`` sorted) of
        ``frames[owners]``, the crops numbered 0 to N-1: GRAPH_MAX_CROPS at most a call, from
        GRAPH_MAX_FRAMES consecutive frames at most (each call is given only those), each call
        padded to few shapes with crops outside the frame."""
        cells, values = [], []
        for lo, hi in graph_chunks(owners):
            part, mine = windows[lo:hi], owners[lo:hi]
            boxes = np.full((graph_count(len(part)), 4), 2.0, np.float32)  # the padding: black crops
            boxes[: len(part)] = part
            index = np.zeros(len(boxes), np.int32)
            index[: len(part)] = mine - mine[0]
            c, v = (t.numpy() for t in self._graph[2](frames[mine[0] : mine[-1] + 1], boxes, index,
                                                       np.float32(self.low_threshold)))  # fmt: skip
            keep = c[:, 0] < len(part)
            c = c[keep]
            c[:, 0] += lo
            cells.append(c)
            values.append(v[keep])
        return np.concatenate(cells), np.concatenate(values)

    def _input(self, frames: np.ndarray, geo: DetectGeometry) -> np.ndarray:
        """What :meth:`_cells` takes for ``frames``: the network's input on a CPU; the
        frames themselves for the graph, which resizes them itself."""
        return frames if self.backend == "tf" else network_input(frames, geo)

    def _cells(self, x: np.ndarray, geo: DetectGeometry) -> tuple[np.ndarray, np.ndarray]:
        """The network on ``x`` (made by :meth:`_input`): its cells above the low threshold
        (batch, row, column) and their values."""
        if self.backend != "tf":
            return self._lite.cells(x, self.low_threshold)
        resized = np.array([geo.resized_h, geo.resized_w], np.int32)
        padded = np.array([geo.padded_h, geo.padded_w], np.int32)
        size = self._graph_batch[geo] = max(len(x), self._graph_batch.get(geo, 0))
        if len(x) < size:  # the cells of the padding's frames (numbered from len(x)) are never read
            x = np.concatenate([x, np.zeros((size - len(x), *x.shape[1:]), x.dtype)])
        cells, values = self._graph[1](x, resized, padded, np.float32(self.low_threshold))
        return cells.numpy(), values.numpy()

    def _boxes(self, cells: np.ndarray, values: np.ndarray, n: int, geo: DetectGeometry) -> list[Detections]:
        """The detections of each of ``n`` frames, from :meth:`_cells`."""
        out = []
        for i in range(n):
            sel = cells[:, 0] == i
            out.append(decode_centerface(cells[sel, 1:], values[sel], (geo.resized_h, geo.resized_w), self.nms_iou))
        return out
