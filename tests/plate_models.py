"""Small ONNX "plate detectors" built with the onnx helper API, for the plate tests.

Each is a real graph whose output follows from its input, in one of the YOLO output
layouts: the image is cut into CELL x CELL cells, and every cell is one candidate box
(the cell itself) whose score is the cell's mean brightness in [0, 1]. A bright patch on
a dark frame is therefore "detected" as the cells it covers, at known places.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 64  # the network's input side
CELL = 8  # the side of a cell (one candidate box)
GRID = SIZE // CELL
N = GRID * GRID


def cell_boxes() -> np.ndarray:
    """The candidate boxes (N, 4) as ``cx, cy, w, h`` in input pixels, row-major."""
    ys, xs = np.meshgrid(np.arange(GRID), np.arange(GRID), indexing="ij")
    cx = (xs.ravel() + 0.5) * CELL
    cy = (ys.ravel() + 0.5) * CELL
    return np.stack([cx, cy, np.full(N, CELL), np.full(N, CELL)], axis=1).astype(np.float32)


def _const(name: str, array) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(array), name + "_v"))


def _score_nodes(nodes: list, batch: str | int) -> None:
    """``score`` (B, 1, N): each cell's mean brightness; ``zero`` (B, 1, 1): 0 shaped by the batch."""
    nodes += [
        helper.make_node("ReduceMean", ["images"], ["grey"], axes=[1], keepdims=1),
        helper.make_node("AveragePool", ["grey"], ["pooled"], kernel_shape=[CELL, CELL], strides=[CELL, CELL]),
        _const("score_shape", np.array([0, 1, -1], np.int64)),
        helper.make_node("Reshape", ["pooled", "score_shape"], ["score"]),
        helper.make_node("ReduceMean", ["score"], ["score_mean"], axes=[1, 2], keepdims=1),
        _const("zero_f", np.array(0.0, np.float32)),
        helper.make_node("Mul", ["score_mean", "zero_f"], ["zero"]),
    ]


def _model(nodes, outputs, batch, path: Path, dtype=TensorProto.FLOAT, metadata=None) -> Path:
    images = helper.make_tensor_value_info("images", dtype, [batch, 3, SIZE, SIZE])
    graph = helper.make_graph(nodes, "plates", [images], outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _xywh_nodes(nodes: list) -> None:
    """``xywh`` (B, 4, N): the cells' boxes, shaped by the batch."""
    nodes += [_const("cells", cell_boxes().T[None]), helper.make_node("Add", ["cells", "zero"], ["xywh"])]


def yolo_v8(path: Path, batch="batch", masks: int = 0, metadata=None) -> Path:
    """``(B, 4 + 1, N)``; with ``masks``, a segmentation model: ``(B, 4 + 1 + masks, N)`` and
    prototypes ``(B, masks, GRID, GRID)``."""
    nodes: list = []
    _score_nodes(nodes, batch)
    _xywh_nodes(nodes)
    parts = ["xywh", "score"]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, 5 + masks, N])]
    if masks:
        nodes += [_const("mask_reps", np.array([1, masks, 1], np.int64)),
                  helper.make_node("Mul", ["score", "zero_f"], ["score0"]),
                  helper.make_node("Tile", ["score0", "mask_reps"], ["coefficients"]),
                  _const("proto_reps", np.array([1, masks, 1, 1], np.int64)),
                  helper.make_node("Tile", ["pooled", "proto_reps"], ["output1"])]  # fmt: skip
        parts.append("coefficients")
        outputs.append(helper.make_tensor_value_info("output1", TensorProto.FLOAT, [batch, masks, GRID, GRID]))
    nodes.append(helper.make_node("Concat", parts, ["output0"], axis=1))
    return _model(nodes, outputs, batch, path, metadata=metadata)


def yolo_v5(path: Path, batch=1) -> Path:
    """``(B, N, 5 + 1)``: ``cx, cy, w, h, objectness (the brightness), class score (1)``."""
    nodes: list = []
    _score_nodes(nodes, batch)
    _xywh_nodes(nodes)
    nodes += [_const("one_f", np.array(1.0, np.float32)),
              helper.make_node("Add", ["zero", "one_f"], ["one_b"]),
              helper.make_node("Mul", ["score", "zero_f"], ["score0"]),
              helper.make_node("Add", ["score0", "one_b"], ["cls"]),
              helper.make_node("Concat", ["xywh", "score", "cls"], ["rows_t"], axis=1),
              helper.make_node("Transpose", ["rows_t"], ["output0"], perm=[0, 2, 1])]  # fmt: skip
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, N, 6])
    return _model(nodes, [out], batch, path)


def _corner_nodes(nodes: list) -> None:
    """``xyxy`` (B, 4, N): the cells' boxes as corners."""
    b = cell_boxes()
    corners = np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2])
    nodes += [_const("corners", corners[None].astype(np.float32)), helper.make_node("Add", ["corners", "zero"], ["xyxy"])]


def end_to_end(path: Path, floor: float = 0.5) -> Path:
    """``(K, 7)`` rows ``batch, x1, y1, x2, y2, class, score`` of the cells above ``floor``
    (selected inside the graph, as an NMS export does), batch size 1."""
    nodes: list = []
    _score_nodes(nodes, 1)
    _corner_nodes(nodes)
    nodes += [helper.make_node("Mul", ["score", "zero_f"], ["score0"]),
              helper.make_node("Concat", ["score0", "xyxy", "score0", "score"], ["rows_t"], axis=1),
              helper.make_node("Transpose", ["rows_t"], ["rows3"], perm=[0, 2, 1]),
              _const("rows_shape", np.array([-1, 7], np.int64)),
              helper.make_node("Reshape", ["rows3", "rows_shape"], ["rows"]),
              _const("flat_shape", np.array([-1], np.int64)),
              helper.make_node("Reshape", ["score", "flat_shape"], ["flat"]),
              _const("floor", np.array(floor, np.float32)),
              helper.make_node("Greater", ["flat", "floor"], ["keep"]),
              helper.make_node("Compress", ["rows", "keep"], ["output"], axis=0)]  # fmt: skip
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["K", 7])
    return _model(nodes, [out], 1, path)


def with_topk(path: Path, k: int = 10) -> Path:
    """``(B, k, 6)`` rows ``x1, y1, x2, y2, score, class``: the ``k`` brightest cells, chosen by
    a TopK node inside the graph (an Ultralytics end-to-end export's layout)."""
    nodes: list = []
    _score_nodes(nodes, "batch")
    _corner_nodes(nodes)
    nodes += [helper.make_node("Mul", ["score", "zero_f"], ["score0"]),
              helper.make_node("Concat", ["xyxy", "score", "score0"], ["rows_t"], axis=1),
              helper.make_node("Transpose", ["rows_t"], ["rows"], perm=[0, 2, 1]),
              _const("squeeze_axes", np.array([1], np.int64)),
              _const("k", np.array([k], np.int64)),
              helper.make_node("Squeeze", ["score", "squeeze_axes"], ["score2"]),
              helper.make_node("TopK", ["score2", "k"], ["top", "top_index"], axis=1),
              helper.make_node("Unsqueeze", ["top_index", "squeeze_axes"], ["top_index3"]),
              _const("reps", np.array([1, 1, 6], np.int64)),
              _const("axes2", np.array([2], np.int64)),
              helper.make_node("Unsqueeze", ["top_index", "axes2"], ["idx3"]),
              helper.make_node("Tile", ["idx3", "reps"], ["idx"]),
              helper.make_node("GatherElements", ["rows", "idx"], ["output0"], axis=1)]  # fmt: skip
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", k, 6])
    return _model(nodes, [out], "batch", path)


def classifier(path: Path) -> Path:
    """Not a detector: ``(B, 3)``, the mean of each colour channel."""
    nodes = [helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["output"])]  # fmt: skip
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3])
    return _model(nodes, [out], "batch", path)


def broken(path: Path) -> Path:
    """A valid graph that fails when run: it reshapes the image to a size it cannot have."""
    nodes = [_const("bad_shape", np.array([1, 7, -1, 5], np.int64)),
             helper.make_node("Reshape", ["images", "bad_shape"], ["output"])]  # fmt: skip
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, None)
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])
    model = helper.make_model(helper.make_graph(nodes, "broken", [images], [out]),
                              opset_imports=[helper.make_opsetid("", 13)])  # fmt: skip
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def float16(path: Path) -> Path:
    """The v8 model with a float16 input and float16 arithmetic (as some exports are)."""
    nodes: list = [helper.make_node("Cast", ["images"], ["images32"], to=TensorProto.FLOAT)]
    inner: list = []
    _score_nodes(inner, "batch")
    _xywh_nodes(inner)
    for node in inner:
        node.input[:] = ["images32" if i == "images" else i for i in node.input]
    nodes += inner
    nodes += [helper.make_node("Concat", ["xywh", "score"], ["out32"], axis=1),
              helper.make_node("Cast", ["out32"], ["output0"], to=TensorProto.FLOAT16)]  # fmt: skip
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT16, ["batch", 5, N])
    return _model(nodes, [out], "batch", path, dtype=TensorProto.FLOAT16)
