"""Stage 1b: licence plates, found by a YOLO-style ONNX detector that the user brings.

vidanon ships no plate weights (none with a licence it can ship). ``--plates-model``
names an ``.onnx`` file (or, with the ``open-image-models`` package installed, one of its
plate models by name); :class:`PlateDetector` runs it through onnxruntime (the
``vidanon[plates]`` extra, imported only here and only when plates are asked for).

The output layout is read from the model's outputs when it is loaded (one run on a blank
input gives their concrete shapes; see :func:`detect_layout`):

* ``v5``: ``(B, N, 5 + classes)``, rows ``cx, cy, w, h, objectness, class scores``;
* ``v8``: ``(B, 4 + classes, N)``, columns ``cx, cy, w, h, class scores`` (YOLOv8, v9,
  v11 exports); ``v8t`` is the same transposed, ``(B, N, 4 + classes)``;
* ``end2end``: ``(K, 7)`` rows ``batch, x1, y1, x2, y2, class, score`` (NMS inside the
  graph; open-image-models' plate models);
* ``nms``: ``(B, K, 6)`` rows ``x1, y1, x2, y2, score, class`` (NMS or top-k inside the
  graph; Ultralytics' end-to-end exports).

Segmentation models (a second output ``(B, masks, h, w)``) are read as detectors: their
mask coefficients follow the class scores and are ignored. Class names in the model's
metadata (Ultralytics writes ``names``) pick the plate classes of a model that finds
other things too; otherwise every class counts as a plate.

Plates are small: a 1080p dashcam plate is 20-60 px wide, 7-20 px once the frame is
letterboxed to a 640 px network. A frame much larger than the network's input is
therefore also cut into overlapping tiles at its native resolution (see
:class:`TilePlan`), each run as one more image of the batch, and the boxes of all views
are joined by non-maximum suppression.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..detections import PLATE, Detections
from ..errors import VidanonError
from ..targets import PLATES
from .tiles import tile_starts
from .view import as_batch

ENV_MODEL = "VIDANON_PLATES_MODEL"
INSTALL_HINT = "pip install 'vidanon[plates]'"
PLATE_THRESHOLD = PLATES.threshold  # the default --threshold, set in vidanon.targets
NMS_IOU = 0.45
# Plate models of open-image-models, loaded by name through its own download and cache.
OPEN_IMAGE_MODELS = (
    "yolo-v9-t-640-license-plate-end2end",
    "yolo-v9-t-512-license-plate-end2end",
    "yolo-v9-t-384-license-plate-end2end",
    "yolo-v9-t-256-license-plate-end2end",
)
LETTERBOX_GREY = 114  # the padding colour YOLO models are trained with
TILE_BELOW_SCALE = 0.75  # tiles are added when the whole frame is reduced more than this
TILE_OVERLAP = 0.25  # at least this share of a tile overlaps its neighbour
MAX_BATCH = 8  # images per run of a model whose batch size is free


class PlateModelError(VidanonError):
    """The plate model is missing, cannot be loaded, or is not a YOLO-style detector."""

    exit_code = 2


# --------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class Layout:
    """How a model's first output holds its detections."""

    kind: str  # "v5", "v8", "v8t", "end2end" or "nms"
    classes: int = 1
    mask_coefficients: int = 0  # segmentation models: values after the class scores
    plate_classes: tuple[int, ...] | None = None  # the classes that are plates (None: all)

    def describe(self) -> str:
        names = {"v5": "YOLOv5 (B, N, 5+classes)", "v8": "YOLOv8/v9 (B, 4+classes, N)",
                 "v8t": "YOLOv8/v9 transposed (B, N, 4+classes)", "end2end": "end-to-end with NMS (K, 7)",
                 "nms": "with built-in NMS (B, K, 6)"}  # fmt: skip
        seg = f", {self.mask_coefficients} mask coefficients ignored" if self.mask_coefficients else ""
        return f"{names[self.kind]}, {self.classes} classes{seg}"


EXPECTED = ("expected (1, N, 5+classes) as YOLOv5, (1, 4+classes, N) as YOLOv8/v9, "
            "(K, 7) end-to-end with NMS, or (1, K, 6) with built-in NMS")  # fmt: skip


def plate_classes(names: dict[int, str] | None) -> tuple[int, ...] | None:
    """The classes named like a plate, if the model names its classes and some are."""
    if not names:
        return None
    found = tuple(sorted(k for k, v in names.items() if "plate" in str(v).lower()))
    return found or None


def detect_layout(shapes: list[tuple[int, ...]], names: dict[int, str] | None = None,
                  has_nms: bool = False) -> Layout:  # fmt: skip
    """The layout of a model whose outputs have the (concrete) ``shapes``; ``names``: its
    class names from the metadata, if any; ``has_nms``: the graph selects boxes itself
    (a NonMaxSuppression or TopK node). Raises :class:`PlateModelError` when none fits."""
    if not shapes:
        raise PlateModelError(f"it has no outputs; {EXPECTED}")
    first = tuple(int(d) for d in shapes[0])
    n_names = len(names) if names else None

    def layout(kind: str, classes: int, masks: int = 0) -> Layout:
        wanted = tuple(c for c in plate_classes(names) or () if c < classes) or None
        return Layout(kind, classes, masks, wanted)

    if len(first) == 2 and first[1] == 7:
        return layout("end2end", n_names or 1)
    if len(first) == 3 and first[2] == 6 and has_nms:  # rows of boxes the graph selected
        return layout("nms", n_names or 1)
    if len(first) != 3 or min(first[1:]) < 5:
        raise PlateModelError(f"its output is {first}; {EXPECTED}")
    masks = 0
    if len(shapes) > 1 and len(shapes[1]) == 4:
        masks = int(shapes[1][1])  # prototypes (B, masks, h, w): a segmentation model
    a, b = first[1], first[2]
    if a < b:  # channels first: one column per anchor
        classes = a - 4 - masks
        if n_names is not None and classes != n_names and a - 4 - n_names >= 0 and not masks:
            masks, classes = a - 4 - n_names, n_names  # values after the named classes: ignored
        if classes < 1:
            raise PlateModelError(f"its output is {first}, too few values per box; {EXPECTED}")
        return layout("v8", classes, masks)
    # channels last: one row per anchor
    if n_names is not None and b - 4 - masks == n_names:
        return layout("v8t", n_names, masks)
    if b - 5 - masks < 1:
        if b - 4 - masks >= 1:
            return layout("v8t", b - 4 - masks, masks)
        raise PlateModelError(f"its output is {first}, too few values per box; {EXPECTED}")
    return layout("v5", b - 5 - masks, masks)


def decode(output: np.ndarray, layout: Layout, image: int, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(K, 4)`` as input pixels ``[x1, y1, x2, y2]`` and scores of image ``image`` of a
    batch's first output, those scoring at least ``floor`` (before NMS for the raw layouts)."""
    out = np.asarray(output, np.float32)
    if layout.kind == "end2end":
        rows = out[out[:, 0].astype(np.int64) == image]
        boxes, classes, scores = rows[:, 1:5], rows[:, 5].astype(np.int64), rows[:, 6]
    elif layout.kind == "nms":
        rows = out[image]
        boxes, scores, classes = rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64)
    else:
        rows = out[image].T if layout.kind == "v8" else out[image]  # (N, values)
        first = 5 if layout.kind == "v5" else 4
        class_scores = rows[:, first : first + layout.classes]
        if layout.plate_classes is not None:
            class_scores = class_scores[:, list(layout.plate_classes)]
        scores = class_scores.max(axis=1)
        if layout.kind == "v5":
            scores = scores * rows[:, 4]
        keep = scores >= floor
        cx, cy, w, h = (rows[keep, i] for i in range(4))
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        return boxes.reshape(-1, 4), scores[keep]
    keep = scores >= floor
    if layout.plate_classes is not None:
        keep &= np.isin(classes, layout.plate_classes)
    return boxes[keep].reshape(-1, 4), scores[keep]


# --------------------------------------------------------------------------- views
@dataclass(frozen=True)
class View:
    """One network input made from a frame: the frame's part ``y0:y0+h, x0:x0+w`` resized by
    ``scale`` and placed at ``(pad_y, pad_x)`` of the network's input."""

    y0: int
    x0: int
    h: int
    w: int
    scale: float
    pad_y: int
    pad_x: int

    def to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """Input-pixel boxes ``[x1, y1, x2, y2]`` as frame pixels."""
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        x = (b[:, [0, 2]] - self.pad_x) / self.scale + self.x0
        y = (b[:, [1, 3]] - self.pad_y) / self.scale + self.y0
        return np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1)


@dataclass(frozen=True)
class TilePlan:
    """The views of a ``height`` x ``width`` frame for a network of ``in_h`` x ``in_w``: the whole
    frame letterboxed, and, when that reduces it by more than ``TILE_BELOW_SCALE``, tiles of the
    network's size at native resolution overlapping by at least ``TILE_OVERLAP``."""

    views: tuple[View, ...]

    @classmethod
    def for_frame(cls, height: int, width: int, in_h: int, in_w: int, tiles: bool = True) -> "TilePlan":
        scale = min(in_h / height, in_w / width)
        rh, rw = max(1, round(height * scale)), max(1, round(width * scale))
        views = [View(0, 0, height, width, scale, (in_h - rh) // 2, (in_w - rw) // 2)]
        if tiles and scale < TILE_BELOW_SCALE:
            for y0 in tile_starts(height, in_h, TILE_OVERLAP):
                for x0 in tile_starts(width, in_w, TILE_OVERLAP):
                    h, w = min(in_h, height - y0), min(in_w, width - x0)
                    views.append(View(y0, x0, h, w, 1.0, (in_h - h) // 2, (in_w - w) // 2))
        return cls(tuple(views))


def render_view(frame: np.ndarray, view: View, in_h: int, in_w: int) -> np.ndarray:
    """The network's input image (``in_h`` x ``in_w`` x 3 uint8) for ``view`` of ``frame``."""
    part = frame[view.y0 : view.y0 + view.h, view.x0 : view.x0 + view.w, :3]
    if view.scale != 1.0:
        from PIL import Image

        rh, rw = max(1, round(view.h * view.scale)), max(1, round(view.w * view.scale))
        part = np.asarray(Image.fromarray(np.ascontiguousarray(part)).resize((rw, rh), Image.BILINEAR))
    out = np.full((in_h, in_w, 3), LETTERBOX_GREY, np.uint8)
    out[view.pad_y : view.pad_y + part.shape[0], view.pad_x : view.pad_x + part.shape[1]] = part
    return out


# --------------------------------------------------------------------------- model
def resolve_model(source: str | os.PathLike | None) -> Path:
    """The ``.onnx`` file for ``--plates-model`` (or ``$VIDANON_PLATES_MODEL``): a path, or the
    name of one of open-image-models' plate models (downloaded and cached by that package)."""
    source = source or os.environ.get(ENV_MODEL) or None
    if source is None:
        from ..options import NO_PLATES_MODEL, spell

        raise PlateModelError(spell(NO_PLATES_MODEL, facts={"env": ENV_MODEL}))
    path = Path(source).expanduser()
    from ..media.paths import check_name

    check_name(path, PlateModelError, "plate model")
    if path.is_file():
        return path
    if str(source) in OPEN_IMAGE_MODELS:
        try:
            from open_image_models.detection.core.hub import download_model
        except ImportError:
            raise PlateModelError(f"plate model {source} is one of open-image-models' models: "
                                  "pip install open-image-models, or pass the .onnx file") from None  # fmt: skip
        try:
            return Path(download_model(str(source)))
        except Exception as exc:  # network, disk: the user's to fix
            raise PlateModelError(f"cannot get plate model {source} from open-image-models: {exc}") from None
    if path.exists():
        raise PlateModelError(f"plate model {source} is not a file")
    known = ", ".join(OPEN_IMAGE_MODELS)
    raise PlateModelError(f"plate model {source} does not exist (give an .onnx file, or one of {known} "
                          "with open-image-models installed)")  # fmt: skip


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise PlateModelError(f"plates need onnxruntime: {INSTALL_HINT}") from None
    return onnxruntime


def _dim(value, default: int) -> int:
    return int(value) if isinstance(value, int) and value > 0 else default


class PlateDetector:
    """A YOLO-style ONNX plate detector, batched over frames and tiles.

    ``threshold``: the score from which a box is returned. ``tiles``: add native-resolution
    tiles for frames much larger than the network's input (see :class:`TilePlan`).
    """

    def __init__(self, model: str | os.PathLike | None = None, threshold: float = PLATE_THRESHOLD,
                 tiles: bool = True, nms_iou: float = NMS_IOU, threads: int | None = None) -> None:  # fmt: skip
        ort = _onnxruntime()
        self.path = resolve_model(model)
        self.threshold = float(threshold)
        self.tiles = tiles
        self.nms_iou = nms_iou
        try:
            import onnx

            proto = onnx.load(str(self.path))
        except Exception as exc:
            raise PlateModelError(f"cannot load plate model {self.path}: not an ONNX model ({_first_line(exc)})") from None
        graph_inputs = _graph_inputs(proto)
        if len(graph_inputs) != 1 or len(graph_inputs[0][1]) != 4:
            shapes = [tuple(shape) for _, shape, _ in graph_inputs]
            raise PlateModelError(f"plate model {self.path} takes {shapes}; expected one image input (1, 3, H, W)")
        self.input_name, shape, elem = graph_inputs[0]
        self.channels_last = shape[3] == 3 and shape[1] != 3
        if not self.channels_last and shape[1] not in (3, None):
            raise PlateModelError(f"plate model {self.path} takes {tuple(shape)}; expected images (1, 3, H, W)")
        # ONNX Runtime's CPU kernels for float16 are several times slower than for float32
        if elem == onnx.TensorProto.FLOAT16:
            to_float32(proto)
        self.dtype = np.float32
        has_nms = any(n.op_type in ("NonMaxSuppression", "TopK") for n in proto.graph.node)
        self._ort, self._threads = ort, threads
        self.session = self._session(proto)
        metadata = self._metadata()
        size = _image_size(metadata.get("imgsz"))
        hw_dims = shape[1:3] if self.channels_last else shape[2:4]
        self.in_h = _dim(hw_dims[0], size[0])
        self.in_w = _dim(hw_dims[1], size[1])
        self.max_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else MAX_BATCH
        names = _class_names(metadata.get("names"))
        blank = np.full((1, self.in_h, self.in_w, 3), LETTERBOX_GREY, np.uint8)
        try:
            outputs = self._run(blank)
        except Exception as exc:
            raise PlateModelError(f"plate model {self.path} fails on a {self.in_w}x{self.in_h} image: "
                                  f"{_first_line(exc)}") from None  # fmt: skip
        try:
            self.layout = detect_layout([o.shape for o in outputs], names, has_nms)
        except PlateModelError as exc:
            raise PlateModelError(f"plate model {self.path} is not a YOLO-style detector: {exc}") from None
        if len(outputs) > 1:  # a segmentation model: its mask branch is not needed
            try:
                first = proto.graph.output[0].name
                self.session = self._session(onnx.utils.Extractor(proto).extract_model([self.input_name], [first]))
            except Exception:  # noqa: BLE001 - the whole model still works, only slower
                pass

    def _session(self, proto):
        options = self._ort.SessionOptions()
        options.log_severity_level = 3  # notes about unused initializers etc. are not the user's
        if self._threads:
            options.intra_op_num_threads = self._threads
        try:
            return self._ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise PlateModelError(f"cannot load plate model {self.path}: {_first_line(exc)}") from None

    def _metadata(self) -> dict[str, str]:
        try:
            return dict(self.session.get_modelmeta().custom_metadata_map)
        except Exception:  # noqa: BLE001 - metadata is optional
            return {}

    def _run(self, images: np.ndarray) -> list[np.ndarray]:
        """The model's outputs for uint8 images (n, in_h, in_w, 3), n at most ``max_batch``."""
        x = images.astype(np.float32) / 255.0
        if not self.channels_last:
            x = x.transpose(0, 3, 1, 2)
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=self.dtype)})

    def plan(self, height: int, width: int) -> TilePlan:
        return TilePlan.for_frame(height, width, self.in_h, self.in_w, self.tiles)

    def __call__(self, frames: np.ndarray, first_index: int = 0) -> list[Detections]:
        """Plates in each frame (see :class:`~vidanon.detect.Detector`; every frame alike)."""
        frames = as_batch(frames)
        n, height, width = frames.shape[:3]
        views = self.plan(height, width).views
        jobs = [(i, v) for i in range(n) for v in views]
        found: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n)]
        for start in range(0, len(jobs), self.max_batch):
            chunk = jobs[start : start + self.max_batch]
            images = np.stack([render_view(frames[i], v, self.in_h, self.in_w) for i, v in chunk])
            first = self._run(images)[0]
            for k, (i, view) in enumerate(chunk):
                boxes, scores = decode(first, self.layout, k, self.threshold)
                found[i].append((view.to_frame(boxes), scores))
        return [self._join(parts, height, width) for parts in found]

    def _join(self, parts: list[tuple[np.ndarray, np.ndarray]], height: int, width: int) -> Detections:
        from ..detections import nms

        boxes = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 4))
        scores = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
        if not len(boxes):
            return Detections.empty()
        boxes = np.clip(boxes, 0, [width, height, width, height])
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[ok], scores[ok]
        keep = nms(boxes, scores, self.nms_iou)  # in pixels: IoU undistorted by the frame's shape
        b = boxes[keep]
        normalized = np.stack([b[:, 1] / height, b[:, 0] / width, b[:, 3] / height, b[:, 2] / width], axis=1)
        return Detections(normalized, scores[keep], np.full(len(keep), PLATE))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _graph_inputs(proto) -> list[tuple[str, list, int]]:
    """The graph's real inputs (not initializers): name, shape (None for a free dimension), element type."""
    initializers = {t.name for t in proto.graph.initializer}
    out = []
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor.shape.dim]
        out.append((value.name, shape, tensor.elem_type))
    return out


def to_float32(proto) -> None:
    """Turn a float16 model into the same model in float32, in place: weights, constants,
    casts and the declared types of inputs, outputs and intermediate values."""
    from onnx import AttributeProto, TensorProto, numpy_helper

    def widen(tensor) -> None:
        if tensor.data_type == TensorProto.FLOAT16:
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name))

    graph = proto.graph
    for tensor in graph.initializer:
        widen(tensor)
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.TENSOR:
                widen(attr.t)
            elif node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT16:
                attr.i = TensorProto.FLOAT
    for value in [*graph.input, *graph.output, *graph.value_info]:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT16:
            value.type.tensor_type.elem_type = TensorProto.FLOAT


def _class_names(text: str | None) -> dict[int, str] | None:
    """Ultralytics' ``names`` metadata (a Python dict literal), if present and readable."""
    if not text:
        return None
    try:
        names = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if isinstance(names, dict) and all(isinstance(k, int) for k in names):
        return {int(k): str(v) for k, v in names.items()}
    if isinstance(names, list):
        return {i: str(v) for i, v in enumerate(names)}
    return None


def _image_size(text: str | None) -> tuple[int, int]:
    """Ultralytics' ``imgsz`` metadata, for a model whose input size is free; else 640."""
    try:
        size = ast.literal_eval(text) if text else 640
    except (ValueError, SyntaxError):
        size = 640
    if isinstance(size, int):
        return size, size
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(s, int) for s in size):
        return int(size[0]), int(size[1])
    return 640, 640
