"""Run a small TFLite model as TensorFlow ops, batched.

MediaPipe's selfie segmentation ships as a ``.tflite`` file with one custom operator
(``Convolution2DTransposeBias``) that the stock TFLite interpreter cannot run, and the
interpreter works on one image per call. Its graph is a plain MobileNetV3-style
network, so each operator is translated once into the matching TensorFlow op; the
result is an ordinary function that takes a whole batch and runs wherever TensorFlow
runs (GPU included). The flatbuffer is read with the schema module that TensorFlow
ships (``tensorflow/lite/python/schema_py_generated.py``).

Supported operators: DEQUANTIZE (float16 weights), CONV_2D, DEPTHWISE_CONV_2D, ADD,
MUL, RELU, HARD_SWISH, LOGISTIC, AVERAGE_POOL_2D, RESIZE_BILINEAR and the custom
Convolution2DTransposeBias. Anything else raises :class:`ModelError`.
"""

from __future__ import annotations

import importlib
import struct
from pathlib import Path

import numpy as np

from ..errors import ModelError

_NUMPY_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}


def _schema():
    try:
        return importlib.import_module("tensorflow.lite.python.schema_py_generated")
    except ImportError as exc:  # pragma: no cover - depends on the TensorFlow build
        raise ModelError(f"this TensorFlow build lacks the TFLite schema module ({exc})") from None


class _Graph:
    def __init__(self, path: Path) -> None:
        S = _schema()
        self.S = S
        buf = Path(path).read_bytes()
        model = S.Model.GetRootAsModel(buf, 0)
        self.model = model
        self.sg = model.Subgraphs(0)
        self.names = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}

    def op_name(self, op) -> str:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == self.S.BuiltinOperator.CUSTOM:
            return "CUSTOM:" + code.CustomCode().decode()
        return self.names.get(builtin, str(builtin))

    def constant(self, index: int) -> np.ndarray | None:
        tensor = self.sg.Tensors(index)
        data = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data is None or len(data) == 0:
            return None
        dtype = _NUMPY_TYPES.get(tensor.Type())
        if dtype is None:
            raise ModelError(f"unsupported tensor type {tensor.Type()} in the TFLite model")
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(tensor.ShapeAsNumpy())


def _options(S, op, cls):
    table = op.BuiltinOptions()
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    return opts


def load_tflite_as_tf(path: Path):
    """Translate the TFLite model at ``path``; returns ``f(x) -> y`` on NHWC float32 batches."""
    import tensorflow as tf

    g = _Graph(path)
    S, sg = g.S, g.sg
    consts: dict[int, np.ndarray] = {}
    for i in range(sg.TensorsLength()):
        value = g.constant(i)
        if value is not None:
            consts[i] = value
    ops = [sg.Operators(i) for i in range(sg.OperatorsLength())]
    # Fold DEQUANTIZE of constant weights ahead of time.
    program = []
    for op in ops:
        name = g.op_name(op)
        ins, outs = list(op.InputsAsNumpy()), list(op.OutputsAsNumpy())
        if name == "DEQUANTIZE" and ins[0] in consts:
            consts[outs[0]] = consts[ins[0]].astype(np.float32)
            continue
        program.append((name, op, ins, outs))

    padding_names = {S.Padding.SAME: "SAME", S.Padding.VALID: "VALID"}
    act = S.ActivationFunctionType

    def activation(x, kind):
        if kind == act.NONE:
            return x
        if kind == act.RELU:
            return tf.nn.relu(x)
        if kind == act.RELU6:
            return tf.nn.relu6(x)
        raise ModelError(f"unsupported fused activation {kind} in the TFLite model")

    weights = {k: tf.constant(v) for k, v in consts.items() if v.dtype != np.int32}
    # Check every operator once, at load time, so a bad file fails here and not mid-video.
    supported = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MUL", "RELU", "HARD_SWISH", "LOGISTIC",
                 "AVERAGE_POOL_2D", "RESIZE_BILINEAR", "CUSTOM:Convolution2DTransposeBias"}  # fmt: skip
    for name, *_ in program:
        if name not in supported:
            raise ModelError(f"unsupported operator {name} in the TFLite model {Path(path).name}")
    graph_in = int(sg.InputsAsNumpy()[0])
    graph_out = int(sg.OutputsAsNumpy()[0])

    def run(x):
        values = {graph_in: x}

        def get(i):
            return values[i] if i in values else weights[i]

        for name, op, ins, outs in program:
            if name == "CONV_2D":
                o = _options(S, op, S.Conv2DOptions)
                w = tf.transpose(get(ins[1]), [1, 2, 3, 0])  # OHWI -> HWIO
                y = tf.nn.conv2d(get(ins[0]), w, [1, o.StrideH(), o.StrideW(), 1], padding_names[o.Padding()],
                                 dilations=[1, o.DilationHFactor(), o.DilationWFactor(), 1])  # fmt: skip
                if len(ins) > 2 and ins[2] >= 0:
                    y = y + get(ins[2])
                y = activation(y, o.FusedActivationFunction())
            elif name == "DEPTHWISE_CONV_2D":
                o = _options(S, op, S.DepthwiseConv2DOptions)
                w = get(ins[1])  # 1, H, W, C * multiplier
                channels = int(get(ins[0]).shape[-1])
                mult = int(w.shape[-1]) // channels
                w = tf.reshape(w, [int(w.shape[1]), int(w.shape[2]), channels, mult])
                y = tf.nn.depthwise_conv2d(get(ins[0]), w, [1, o.StrideH(), o.StrideW(), 1],
                                           padding_names[o.Padding()],
                                           dilations=[o.DilationHFactor(), o.DilationWFactor()])  # fmt: skip
                if len(ins) > 2 and ins[2] >= 0:
                    y = y + get(ins[2])
                y = activation(y, o.FusedActivationFunction())
            elif name == "ADD":
                o = _options(S, op, S.AddOptions)
                y = activation(get(ins[0]) + get(ins[1]), o.FusedActivationFunction())
            elif name == "MUL":
                o = _options(S, op, S.MulOptions)
                y = activation(get(ins[0]) * get(ins[1]), o.FusedActivationFunction())
            elif name == "RELU":
                y = tf.nn.relu(get(ins[0]))
            elif name == "HARD_SWISH":
                v = get(ins[0])
                y = v * tf.nn.relu6(v + 3.0) / 6.0
            elif name == "LOGISTIC":
                y = tf.sigmoid(get(ins[0]))
            elif name == "AVERAGE_POOL_2D":
                o = _options(S, op, S.Pool2DOptions)
                y = tf.nn.avg_pool2d(get(ins[0]), [o.FilterHeight(), o.FilterWidth()],
                                     [o.StrideH(), o.StrideW()], padding_names[o.Padding()])  # fmt: skip
                y = activation(y, o.FusedActivationFunction())
            elif name == "RESIZE_BILINEAR":
                o = _options(S, op, S.ResizeBilinearOptions)
                size = consts[ins[1]].astype(np.int32)
                y = tf.raw_ops.ResizeBilinear(images=get(ins[0]), size=size, align_corners=o.AlignCorners(),
                                              half_pixel_centers=o.HalfPixelCenters())  # fmt: skip
            else:  # CUSTOM:Convolution2DTransposeBias: input, weights (OHWI), bias
                raw = bytes(op.CustomOptionsAsNumpy().tobytes())
                padding, stride_w, stride_h = struct.unpack("<iii", raw[:12])
                w = tf.transpose(get(ins[1]), [1, 2, 0, 3])  # OHWI -> H, W, out, in
                v = get(ins[0])
                shape = tf.shape(v)
                out_shape = tf.stack([shape[0], shape[1] * stride_h, shape[2] * stride_w, int(w.shape[2])])
                pad = "SAME" if padding == 1 else "VALID"
                y = tf.nn.conv2d_transpose(v, w, out_shape, [1, stride_h, stride_w, 1], pad) + get(ins[2])
            values[outs[0]] = y
        return values[graph_out]

    return run

