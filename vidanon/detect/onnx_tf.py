"""Translate a small ONNX convolutional graph into TensorFlow ops, once, at load time.

Only the operators CenterFace needs are supported (Conv, ConvTranspose, Relu, Add,
BatchNormalization, Sigmoid; opset 9). The graph is read with the ``onnx`` package,
the weights are turned from ONNX's NCHW layout into TensorFlow's NHWC layout, and
batch normalisations that follow a convolution are folded into its weights. The
result is a plain Python callable over TensorFlow tensors that a ``tf.function``
traces into one graph; there is no ONNX runtime at inference time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ModelError

SUPPORTED_OPS = {"Conv", "ConvTranspose", "Relu", "Add", "BatchNormalization", "Sigmoid"}


@dataclass
class _Layer:
    op: str
    inputs: list[str]
    output: str
    weight: np.ndarray | None = None  # TF layout
    bias: np.ndarray | None = None
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    depthwise: bool = False
    scale: np.ndarray | None = None  # for a BatchNormalization left unfolded
    shift: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)


def _attributes(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _load_layers(path: Path) -> tuple[str, list[str], list[_Layer]]:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError(f"the 'onnx' package is needed to read {path}: {exc}") from None
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ModelError(f"cannot read model file {path}: {exc}") from None
    graph = model.graph
    weights = {init.name: numpy_helper.to_array(init).astype(np.float32) for init in graph.initializer}
    input_name = next(i.name for i in graph.input if i.name not in weights)
    outputs = [o.name for o in graph.output]

    layers: list[_Layer] = []
    for node in graph.node:
        if node.op_type not in SUPPORTED_OPS:
            raise ModelError(f"model {path.name} uses unsupported ONNX operator {node.op_type}")
        attrs = _attributes(node)
        data_inputs = [n for n in node.input if n not in weights]
        layer = _Layer(op=node.op_type, inputs=data_inputs, output=node.output[0], attrs=attrs)
        if node.op_type in ("Conv", "ConvTranspose"):
            w = weights[node.input[1]]
            b = weights[node.input[2]] if len(node.input) > 2 else None
            group = int(attrs.get("group", 1))
            pads = tuple(attrs.get("pads", (0, 0, 0, 0)))
            # ONNX pads: [top, left, bottom, right]
            layer.pads = (pads[0], pads[1], pads[2], pads[3])
            layer.strides = tuple(attrs.get("strides", (1, 1)))
            if tuple(attrs.get("dilations", (1, 1))) != (1, 1):
                raise ModelError(f"model {path.name}: dilated convolutions are not supported")
            if node.op_type == "Conv":
                if group == 1:
                    layer.weight = w.transpose(2, 3, 1, 0)  # (O,I,kh,kw) -> (kh,kw,I,O)
                elif group == w.shape[0] and w.shape[1] == 1:
                    layer.depthwise = True
                    layer.weight = w.transpose(2, 3, 0, 1)  # (C,1,kh,kw) -> (kh,kw,C,1)
                else:
                    raise ModelError(f"model {path.name}: grouped convolution with group={group}")
                out_channels = w.shape[0]
            else:
                if group != 1 or any(layer.pads):
                    raise ModelError(f"model {path.name}: unsupported ConvTranspose attributes")
                layer.weight = w.transpose(2, 3, 1, 0)  # (I,O,kh,kw) -> (kh,kw,O,I)
                out_channels = w.shape[1]
            layer.bias = b if b is not None else np.zeros(out_channels, np.float32)
        elif node.op_type == "BatchNormalization":
            gamma, beta, mean, var = (weights[n] for n in node.input[1:5])
            eps = float(attrs.get("epsilon", 1e-5))
            layer.scale = gamma / np.sqrt(var + eps)
            layer.shift = beta - mean * layer.scale
        layers.append(layer)
    return input_name, outputs, _fold_batchnorm(layers)


def _fold_batchnorm(layers: list[_Layer]) -> list[_Layer]:
    """Fold each BatchNormalization into the convolution that feeds it alone."""
    consumers: dict[str, int] = {}
    for layer in layers:
        for name in layer.inputs:
            consumers[name] = consumers.get(name, 0) + 1
    by_output = {layer.output: layer for layer in layers}
    folded: list[_Layer] = []
    renamed: dict[str, str] = {}
    for layer in layers:
        layer.inputs = [renamed.get(n, n) for n in layer.inputs]
        if layer.op == "BatchNormalization":
            src = by_output.get(layer.inputs[0])
            if src is not None and src.op in ("Conv", "ConvTranspose") and consumers[src.output] == 1:
                # y = (conv(x) + b) * s + t: scale the output channels of the weights.
                if src.op == "ConvTranspose":
                    src.weight = src.weight * layer.scale[None, None, :, None]
                elif src.depthwise:
                    src.weight = src.weight * layer.scale[None, None, :, None]
                else:
                    src.weight = src.weight * layer.scale[None, None, None, :]
                src.bias = src.bias * layer.scale + layer.shift
                renamed[layer.output] = src.output
                continue
        folded.append(layer)
    return folded


def _pad_for(x, layer: _Layer):
    """Return ``(x, padding)`` for a convolution with ONNX ``pads``.

    Explicit padding lists are avoided on purpose: with oneDNN enabled, TensorFlow's
    depthwise convolution aborts the process on them during graph optimisation.
    Symmetric "same" padding at stride 1 maps to ``"SAME"``; anything else is padded
    with ``tf.pad`` and convolved ``"VALID"``.
    """
    import tensorflow as tf

    top, left, bottom, right = layer.pads
    if not any(layer.pads):
        return x, "VALID"
    kh, kw = layer.weight.shape[:2]
    if layer.strides == (1, 1) and (top, bottom) == (kh // 2,) * 2 and (left, right) == (kw // 2,) * 2:
        return x, "SAME"
    return tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]), "VALID"


def load_onnx_as_tf(path: Path) -> Callable:
    """Return ``fn(x_nhwc_float32) -> list of NHWC outputs`` for the ONNX model at ``path``.

    Output order follows the ONNX graph's outputs.
    """
    import tensorflow as tf

    input_name, output_names, layers = _load_layers(path)
    consts = []
    for layer in layers:
        if layer.weight is not None:
            layer.attrs["w"] = tf.constant(layer.weight)
            layer.attrs["b"] = tf.constant(layer.bias)
            consts.append(layer.attrs["w"])
        if layer.scale is not None:
            layer.attrs["s"] = tf.constant(layer.scale)
            layer.attrs["t"] = tf.constant(layer.shift)

    def run(x):
        values = {input_name: x}
        for layer in layers:
            a = values[layer.inputs[0]]
            if layer.op == "Conv":
                a, padding = _pad_for(a, layer)
                strides = [1, layer.strides[0], layer.strides[1], 1]
                if layer.depthwise:
                    y = tf.nn.depthwise_conv2d(a, layer.attrs["w"], strides, padding)
                else:
                    y = tf.nn.conv2d(a, layer.attrs["w"], strides, padding)
                y = tf.nn.bias_add(y, layer.attrs["b"])
            elif layer.op == "ConvTranspose":
                kh, kw, out_c, _ = layer.weight.shape
                sh, sw = layer.strides
                shape = tf.shape(a)
                out_shape = tf.stack([shape[0], shape[1] * sh + (kh - sh), shape[2] * sw + (kw - sw), out_c])
                y = tf.nn.conv2d_transpose(a, layer.attrs["w"], out_shape, [1, sh, sw, 1], "VALID")
                y = tf.nn.bias_add(y, layer.attrs["b"])
            elif layer.op == "Relu":
                y = tf.nn.relu(a)
            elif layer.op == "Sigmoid":
                y = tf.sigmoid(a)
            elif layer.op == "Add":
                y = a + values[layer.inputs[1]]
            else:  # BatchNormalization that could not be folded
                y = a * layer.attrs["s"] + layer.attrs["t"]
            values[layer.output] = y
        return [values[name] for name in output_names]

    run.output_names = output_names  # type: ignore[attr-defined]
    return run
