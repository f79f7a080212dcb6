"""Faces: a batched CenterFace detector, the same on a CPU and on a GPU.

``FaceDetector(frames)`` takes a batch ``(B, H, W, 3)`` of uint8 RGB frames and returns
one :class:`~vidanon.detections.Detections` per frame. By default the network is the
shipped int8 CenterFace: on a CPU through LiteRT (:mod:`.lite`, without TensorFlow), on a
GPU as a batched TensorFlow graph that reproduces its integer arithmetic exactly
(:mod:`.int8_tf`); ``model="float"``: the ONNX model (:mod:`.onnx_tf`). Both paths feed
the network what NumPy makes (:mod:`vidanon.resample`: resizing, padding to a multiple of
32, the second look's crops), so both find the same boxes with the same scores. Only the
few heatmap cells above the lowest threshold come back to NumPy, where they are decoded
into boxes and thinned by non-maximum suppression (:mod:`.decode`)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..detections import Detections, add_pass
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
from .tf_setup import compute_device, configure_tensorflow, cpu_device, cpu_threads
from .view import as_batch

DEFAULT_THRESHOLD = FACES.threshold  # the default --threshold, set in vidanon.targets


MAX_UPSCALE = 2.0


# With the default size, frames whose longer side is under this are enlarged towards it
# (at most MAX_UPSCALE times) for the full pass: CenterFace misses faces under ~20 px.
SMALL_FRAME = 960


# A half-size pass between full passes is only worth it from this network input size on.
MIN_SPLIT = 960


# The network finds faces up to about 750 px high in its input (a selfie's face found at 750 px,
# missed at 1000; an 800 px face at 1080p scored 0.25-0.44 on a part of it). A face is at most
# about as high as the frame's shorter side, so a pass whose input's shorter side is at most
# FACE_REACH sees every face whole. Where no such pass runs on a frame or beside it (the full pass
# of 1080p and up on a shot's first frame, the video's last, every frame with --scan-every 1; at
# 4K, whose half-size pass is still 1080 px high, every frame), the frame also gets the *large*
# pass, at half the full pass's scale or less, down to FACE_REACH, the passes' boxes merged (found
# by QA sweeps: a close-up face at 1440x1920 or 4K was left visible with --scan-every 1 and in 1-2
# frame clips; a 1600 px face in a 4K portrait video, a phone's selfie, half visible in every frame).
FACE_REACH = 720


# On a frame enlarged for the full pass (under SMALL_FRAME), the pass between full passes sees
# it at about its own size and the enlarged pass costs about four times as much: it runs on
# every ENLARGED_EVERY-th frame it would run on otherwise (every 4th with the CPU's --scan-every
# 2). Measured on the labelled real clips and the composited ones (docs/speed.md, round six): no
# labelled head lost (store_aisle 16 -> 19 covered, hikers 67 -> 69), false regions a frame
# 1.01 -> 0.99, composited recall the same (4232/4290); 480x360 and 640x480 15-25% faster.
ENLARGED_EVERY = 2


# The graph (the GPU path) meets few input shapes: a batch's crops for the second look are
# run GRAPH_MAX_CROPS at most at a time, padded up to a power of two (at least
# GRAPH_MIN_CROPS), and a short batch of frames up to the largest batch of its geometry so
# far. With cuDNN's autotuning on (TF_CUDNN_USE_AUTOTUNE=1; vidanon.detect.tf_setup turns it
# off), each new shape costs a search of every convolution's algorithms: 2.4-3.1 s on an H200.
GRAPH_MIN_CROPS = 4


GRAPH_MAX_CROPS = 256  # crops a call at most (about the pixels of three 1080p frames; 79 MB as float32)


def crops_of(frame: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """The second look's input: the ``windows`` (K x 4, normalized) of ``frame`` cut and
    resized to CROP_SIDE squares by NumPy, on the CPU path and the GPU path alike."""
    return crops_and_resize(frame, np.asarray(windows, np.float32), CROP_SIDE, CROP_SIDE)


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
    gets it ENLARGED_EVERY times less often. The first frame of a shot gets the full pass too
    (nothing before it in its shot to carry its small faces from, and a shot may be a few frames
    long: a slideshow of photos).
    """

    full: DetectGeometry
    half: DetectGeometry | None
    every: int
    large: DetectGeometry | None = None  # the pass that sees faces past the others' reach (FACE_REACH)
    always_large: bool = False  # every frame gets it: no other pass within FACE_REACH

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
        shorter = min(full.resized_h, full.resized_w)
        if shorter <= FACE_REACH:
            return cls(full, half, every if half is not None else 1)
        large = DetectGeometry.scaled(height, width, full.scale * min(0.5, FACE_REACH / shorter))
        always = half is None or min(half.resized_h, half.resized_w) > FACE_REACH
        return cls(full, half, every if half is not None else 1, large, always)

    def geometry(self, index: int) -> DetectGeometry:
        """The input of frame ``index`` (counted from the video's first frame)."""
        if self.half is None or index % self.every == 0:
            return self.full
        return self.half

    def geometries(self, index: int, start: bool) -> list[DetectGeometry]:
        """The inputs of frame ``index`` of a video, ``start``: a frame that gets the full pass
        whatever the plan (a shot's first, the video's last): its pass (:meth:`geometry`) and,
        where a face may be past the network's reach with no pass within it on the frame or
        beside it (FACE_REACH), the large pass too."""
        geo = self.full if start else self.geometry(index)
        if self.large is not None and (self.always_large or start):
            return [geo, self.large]
        return [geo]


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
    """CenterFace, batched: through LiteRT on a CPU, as a TensorFlow graph on a GPU.

    ``threshold`` is the score above which a face counts as detected; ``low_threshold``
    is the floor below which cells are dropped entirely (the tracker uses the boxes in
    between to extend existing tracks). ``detect_size`` and ``every`` set the
    :class:`ScanPlan` (None: native resolution, small frames enlarged; 0: native
    resolution; N: the longer side of the full pass's input; ``every`` K: the full pass
    on every K-th frame, a half-size pass in between). ``verify``: small boxes scoring under
    ``threshold`` are scored again on an enlarged crop (:meth:`second_look`). ``model``: the
    network, "int8" (the shipped int8 CenterFace, ``scripts/quantize_centerface.py``) or
    "float" (the original). ``backend``: "tf" runs ``model`` as a batched TensorFlow graph
    (the GPU path; the int8 network with its integer arithmetic carried out in float32,
    :mod:`.int8_tf`, giving the CPU's scores), "int8" the int8 network through LiteRT's
    XNNPACK kernels (the CPU path), "tflite" the float network converted to TensorFlow Lite
    and run by them; "cpu" picks "int8" or "tflite" by ``model``; "auto" picks "tf" when
    TensorFlow may see a GPU, else "cpu".
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
        model: str = "int8",
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
        if backend not in ("auto", "cpu", "tf", "tflite", "int8") or model not in ("int8", "float"):
            raise ValueError("backend must be 'auto', 'cpu', 'tf', 'tflite' or 'int8', model 'int8' or 'float'")
        self.device = {"auto": compute_device, "tf": configure_tensorflow}.get(backend, cpu_device)()
        if backend == "auto":
            backend = "tf" if self.device.startswith("GPU") else "cpu"
        self._auto = backend == "cpu"  # a TensorFlow without tf.lite falls back to "tf" below
        if backend == "cpu":
            backend = {"int8": "int8", "float": "tflite"}[model]
        self.model = {"int8": "int8", "tflite": "float"}.get(backend, model)
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

        from .int8_tf import load_int8_as_tf
        from .onnx_tf import load_onnx_as_tf

        if self.model == "int8":  # the CPU path's network, its integer arithmetic in float32
            net = load_int8_as_tf(model_path("centerface_int8"))
        else:
            net = load_onnx_as_tf(model_path("centerface"))
        # What the graph is given is what the CPU path's network is given: the frames
        # themselves at their own size (cast and padded on the device), else the input NumPy
        # made (network_input: resized, padded; the second look's crops). TensorFlow's own
        # resizing and crops differ from NumPy's by 1e-5, enough to move the int8 network's
        # input codes where a value sits on a rounding tie; so both paths compute the same.
        def cells_of(x, floor):
            heat, scale, offset = net(x)[:3]  # the float network adds the landmarks
            cells = tf.where(heat[..., 0] > floor)  # (K, 3): batch, row, col
            values = tf.concat(
                [tf.gather_nd(heat, cells), tf.gather_nd(scale, cells), tf.gather_nd(offset, cells)], axis=1
            )
            return cells, values

        # autograph=False: plain TF ops only, no source transformation (1.7 s of start-up)
        @tf.function(autograph=False, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8),
                                                       tf.TensorSpec([2], tf.int32), tf.TensorSpec([], tf.float32)],
                     reduce_retracing=True)  # fmt: skip
        def run(frames, padded, floor):
            x = tf.cast(frames, tf.float32)
            hw = tf.shape(x)[1:3]
            return cells_of(tf.pad(x, [[0, 0], [0, padded[0] - hw[0]], [0, padded[1] - hw[1]], [0, 0]]), floor)

        # NumPy's input: the second look's crops, and the frames of a resized pass
        @tf.function(autograph=False, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32),
                                                       tf.TensorSpec([], tf.float32)], reduce_retracing=True)  # fmt: skip
        def look(x, floor):
            return cells_of(x, floor)

        self._graph = (net, run, look)
        return self._graph

    @property
    def parallel_batches(self) -> bool:
        """Whether two batches' networks may run at once (:func:`vidanon.runner.network_lanes`):
        on the CPU path, whose interpreters are taken a call at a time; not the graph's."""
        return self.backend != "tf"

    def plan(self, height: int, width: int) -> ScanPlan:
        return ScanPlan.for_frame(height, width, self.detect_size, self.every)

    def __call__(self, frames: np.ndarray, first_index: int = 0) -> list[Detections]:
        """Detections for each frame of ``frames``; ``first_index`` is the number of the
        first one in its video (it decides which frames get the full pass)."""
        return self.prepare(frames, first_index)()()

    def prepare(self, frames: np.ndarray, first_index: int = 0,
                starts: Sequence[bool] | None = None) -> Callable[[], Callable[[], list[Detections]]]:  # fmt: skip
        """:meth:`__call__` in three steps, which the pipeline runs in three threads: the
        network's inputs are made now (on a CPU, the resizing takes about a quarter of the
        detector's time on a small frame); the network runs when the function returned is
        called, holding the GIL little; its cells are decoded into boxes, and the weak ones
        looked at again (Python, a few network calls on small crops), when the function that
        returns is called. ``starts``: which frames start a shot; they get the full pass
        whatever the scan plan says (see :class:`ScanPlan`). Without ``starts`` (a photo, which
        :mod:`vidanon.photo` looks at on its own smaller copies) a frame gets one pass."""
        frames = as_batch(frames)
        n, height, width = frames.shape[:3]
        plan = self.plan(height, width)
        groups: dict[DetectGeometry, list[int]] = {}
        for i in range(n):
            if starts is None:
                geometries = [plan.geometry(first_index + i)]
            else:
                geometries = plan.geometries(first_index + i, starts[i])
            for geo in geometries:
                groups.setdefault(geo, []).append(i)
        ranks = [plan.full, plan.half, plan.large]  # a frame's passes merged in this order, whatever the batch
        order = sorted(groups, key=ranks.index)
        inputs = [(geo, groups[geo], self._input(frames[groups[geo]] if len(groups[geo]) < n else frames, geo))
                  for geo in order]  # fmt: skip
        return functools.partial(self._run_network, frames, inputs)

    def _run_network(self, frames: np.ndarray, inputs: list[tuple[DetectGeometry, list[int], np.ndarray]]
                     ) -> Callable[[], list[Detections]]:  # fmt: skip
        found = [(geo, members, self._cells(x, geo)) for geo, members, x in inputs]
        return functools.partial(self._decode, frames, found)

    def _decode(self, frames: np.ndarray, found: list[tuple[DetectGeometry, list[int], tuple[np.ndarray, np.ndarray]]]
                ) -> list[Detections]:  # fmt: skip
        out: list[Detections | None] = [None] * len(frames)
        for geo, members, (cells, values) in found:
            for i, dets in zip(members, self._boxes(cells, values, len(members), geo)):
                out[i] = dets if out[i] is None else add_pass(out[i], dets)  # a frame given two passes
        out = [Detections.empty() if d is None else d for d in out]
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
        1.5 s a call of a batch's frames, its box selection running on the CPU (docs/gpu.md).
        There the frames run on all the CPU's threads at once (the cores are otherwise idle,
        and a batch is 23 frames of 1080p: one at a time, 2.2 s a batch on an H200 machine);
        on the CPU path one at a time, beside the other decode threads' work."""
        people = shared_person_lite()
        if people is None:
            return None
        workers = cpu_threads() if self.backend == "tf" else 1
        return [found.boxes for found in people.many(frames, PERSON_CONTEXT_SCORE, workers)]

    def _crop_cells(self, frames: np.ndarray, looks: list[Looks | None]) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """The network's cells (crop, row, column) and values on each frame's crops
        (:func:`~.look.apply_looks` takes them); None for a frame with no look. The crops are
        cut by NumPy on both paths; on the GPU those of all the frames go in few calls."""
        if self.backend != "tf":
            return [None if k is None else self._lite.cells(crops_of(frame, k.windows), self.low_threshold)
                    for frame, k in zip(frames, looks)]  # fmt: skip
        which = [i for i, k in enumerate(looks) if k is not None]
        out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(looks)
        if not which:
            return out
        counts = [len(looks[i]) for i in which]
        windows = np.concatenate([looks[i].windows for i in which])
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
        """The graph's cells and values on the crops ``windows`` (N x 4) of
        ``frames[owners]``, the crops numbered 0 to N-1: GRAPH_MAX_CROPS at most a call, each
        call padded to few shapes with black crops."""
        cells, values = [], []
        for lo in range(0, len(windows), GRAPH_MAX_CROPS):
            hi = min(lo + GRAPH_MAX_CROPS, len(windows))
            crops = np.zeros((graph_count(hi - lo), CROP_SIDE, CROP_SIDE, 3), np.float32)
            for f in np.unique(owners[lo:hi]):
                mine = np.flatnonzero(owners[lo:hi] == f)
                crops[mine] = crops_of(frames[f], windows[lo + mine])
            c, v = (t.numpy() for t in self._graph[2](crops, np.float32(self.low_threshold)))
            keep = c[:, 0] < hi - lo
            c = c[keep]
            c[:, 0] += lo
            cells.append(c)
            values.append(v[keep])
        return np.concatenate(cells), np.concatenate(values)

    def _input(self, frames: np.ndarray, geo: DetectGeometry) -> np.ndarray:
        """What :meth:`_cells` takes for ``frames``: the network's input (NumPy's resizing and
        padding), or for the graph the frames themselves where they keep their size."""
        native = (geo.resized_h, geo.resized_w) == frames.shape[1:3]
        return frames if self.backend == "tf" and native else network_input(frames, geo)

    def _cells(self, x: np.ndarray, geo: DetectGeometry) -> tuple[np.ndarray, np.ndarray]:
        """The network on ``x`` (made by :meth:`_input`): its cells above the low threshold
        (batch, row, column) and their values."""
        if self.backend != "tf":
            return self._lite.cells(x, self.low_threshold)
        size = self._graph_batch[geo] = max(len(x), self._graph_batch.get(geo, 0))
        if len(x) < size:  # the cells of the padding's frames (numbered from len(x)) are never read
            x = np.concatenate([x, np.zeros((size - len(x), *x.shape[1:]), x.dtype)])
        floor = np.float32(self.low_threshold)
        if x.dtype == np.uint8:
            cells, values = self._graph[1](x, np.array([geo.padded_h, geo.padded_w], np.int32), floor)
        else:
            cells, values = self._graph[2](x, floor)
        return cells.numpy(), values.numpy()

    def _boxes(self, cells: np.ndarray, values: np.ndarray, n: int, geo: DetectGeometry) -> list[Detections]:
        """The detections of each of ``n`` frames, from :meth:`_cells`."""
        out = []
        for i in range(n):
            sel = cells[:, 0] == i
            out.append(decode_centerface(cells[sel, 1:], values[sel], (geo.resized_h, geo.resized_w), self.nms_iou))
        return out
