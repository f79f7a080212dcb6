"""The shipped int8 face network as TensorFlow ops: its integer arithmetic done in float32.

The CPU path runs ``centerface_int8.tflite`` through LiteRT's XNNPACK kernels, whose int8
arithmetic gives other scores than the float network: on the labelled real frames the
int8 network finds more heads (a face in profile it scores 0.32 where the float one
gives 0.05, docs/precision.md). A GPU has no int8 kernels TensorFlow can reach, so the
same arithmetic is carried out here, batched, wherever TensorFlow runs:

- a tensor is held as its integer codes less its zero point (``q - zp``, whole numbers in
  float32), its scale and zero point coming from the file;
- a convolution multiplies these codes by the integer weights and adds the int32 bias:
  sums of whole numbers, which float32 holds exactly under 2**24; then it requantizes as
  XNNPACK does, ``round(acc * (scale_in * scale_w / scale_out))`` in float32, half to even,
  clamped to int8 and to the fused activation's range;
- a transposed convolution (which XNNPACK leaves to TFLite's own kernels) requantizes with
  TFLite's fixed-point multiplier, and an addition with XNNPACK's integer multipliers: both
  done in float64, where every step is exact;
- the input's quantization and the logistic output are rounded the same way (the
  logistic's 256 possible results lie at least 0.008 of a code from a rounding tie, so a
  device's sigmoid a few ulps off cannot change one).

On the same input the outputs are LiteRT's, code for code (a test holds them equal; it
passed on an H200 too). The same input matters: TensorFlow's own resizing and crops differ
from NumPy's by 1e-5, which moves an input code where a value sits on a rounding tie, so the
detector gives the graph what NumPy made (:meth:`~.centerface.FaceDetector._input`).

Operators: QUANTIZE, DEQUANTIZE, PAD, CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, ADD,
LOGISTIC, and the shape arithmetic feeding TRANSPOSE_CONV's output shape (SHAPE,
STRIDED_SLICE, MUL, PACK on int32), which the translation computes from its input.
Anything else raises :class:`ModelError` at load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .tflite_tf import _Graph, _options

# int32 bookkeeping that only computes TRANSPOSE_CONV's output shape
_SHAPE_OPS = {"SHAPE", "STRIDED_SLICE", "MUL", "PACK"}
_SUPPORTED = {"QUANTIZE", "DEQUANTIZE", "PAD", "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "ADD", "LOGISTIC"}
_INT8 = 9


@dataclass(frozen=True)
class _Quant:
    scale: np.ndarray  # float32, one value or one per output channel
    zero: int


def _quant(g: _Graph, index: int) -> _Quant | None:
    q = g.sg.Tensors(index).Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    zeros = q.ZeroPointAsNumpy()
    return _Quant(q.ScaleAsNumpy().astype(np.float32), int(zeros[0]) if q.ZeroPointLength() else 0)


def _requantize_scale(s_in: np.ndarray, s_w: np.ndarray, s_out: np.ndarray) -> np.ndarray:
    """XNNPACK's requantization scale, in float32 as it computes it."""
    return (s_in.astype(np.float32) * s_w.astype(np.float32) / s_out.astype(np.float32)).astype(np.float32)


def _fixed_point_multiplier(s_in: np.ndarray, s_w: np.ndarray, s_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's own kernels' requantization (XNNPACK leaves TRANSPOSE_CONV to them): the
    scale in double as a 31-bit mantissa and a power of two (``QuantizeMultiplier``)."""
    real = s_in.astype(np.float64) * s_w.astype(np.float64) / s_out.astype(np.float64)
    mantissa, exponent = np.frexp(real)
    q = np.round(mantissa * 2.0**31)
    exponent = np.where(q == 2.0**31, exponent + 1, exponent)
    q = np.where(q == 2.0**31, 2.0**30, q)
    return q, exponent.astype(np.float64)


def _fixed_point_requantize(tf, acc, q, exponent):
    """``MultiplyByQuantizedMultiplier`` on int32 ``acc`` (whole numbers in float32), done in
    float64, where every step is exact while ``|acc| * 2**31`` stays under 2**53: the
    doubling high multiply rounds half up (half towards zero below 0), the shift rounds half
    away from zero."""
    x = tf.cast(acc, tf.float64) * tf.pow(tf.constant(2.0, tf.float64), tf.maximum(exponent, 0.0))
    ab = x * q
    high = tf.where(ab >= 0, tf.floor((ab + 2.0**30) / 2.0**31), -tf.floor((-ab + 2.0**30 - 1) / 2.0**31))
    shifted = high * tf.pow(tf.constant(2.0, tf.float64), tf.minimum(exponent, 0.0))
    rounded = tf.sign(shifted) * tf.floor(tf.abs(shifted) + 0.5)
    return tf.cast(rounded, tf.float32)


def _add_multipliers(s_a: float, s_b: float, s_out: float) -> tuple[float, float, float]:
    """XNNPACK's int8 addition: each input's scale over the output's as an integer multiplier
    of about 21 bits, and the power of two the sum is divided by (rounding half up)."""
    ratio_a = np.float32(s_a) / np.float32(s_out)
    ratio_b = np.float32(s_b) / np.float32(s_out)
    exponent = int(np.float32(max(abs(ratio_a), abs(ratio_b))).view(np.uint32) >> 23) - 127
    shift = 20 - exponent
    return float(np.rint(np.ldexp(ratio_a, shift))), float(np.rint(np.ldexp(ratio_b, shift))), float(2.0**shift)


class _Translation:
    """Each operator of the int8 model as a function of the tensors computed before it
    (``values``: tensor index -> codes less the zero point), everything constant about it
    (integer weights in TensorFlow's layout, bias, requantization) computed once."""

    def __init__(self, tf, g: _Graph) -> None:
        self.tf, self.g, self.S = tf, g, g.S
        self.act = g.S.ActivationFunctionType
        self.padding = {g.S.Padding.SAME: "SAME", g.S.Padding.VALID: "VALID"}

    def op(self, name: str, op, ins: list[int], out: int):
        out_q = _quant(self.g, out)
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"):
            return self.convolution(name, op, ins, out_q)
        if name == "ADD":
            return self.add(op, ins, out_q)
        if name == "PAD":
            return self.pad(ins, out_q)
        x_i = ins[0]
        if name == "QUANTIZE":  # the float input
            return lambda values: self.requantize(values[x_i], 1.0 / float(out_q.scale[0]), out_q, self.act.NONE)
        scale_in = float(_quant(self.g, x_i).scale[0])
        if name == "LOGISTIC":
            return lambda values: self.requantize(self.tf.sigmoid(values[x_i] * scale_in), 1.0 / float(out_q.scale[0]),
                                                  out_q, self.act.NONE)  # fmt: skip
        return lambda values: values[x_i] * scale_in  # DEQUANTIZE: the float output

    def bounds(self, out: _Quant, kind: int) -> tuple[float, float]:
        """The codes' range, less the zero point, after the fused activation ``kind``."""
        lo, hi = -128, 127
        if kind in (self.act.RELU, self.act.RELU6):
            lo = max(lo, out.zero)
        if kind == self.act.RELU6:
            hi = min(hi, out.zero + int(np.round(6.0 / float(out.scale[0]))))
        elif kind not in (self.act.NONE, self.act.RELU):
            raise ModelError(f"unsupported fused activation {kind} in the int8 model")
        return float(lo - out.zero), float(hi - out.zero)

    def requantize(self, acc, multiplier, out: _Quant, kind: int):
        """The codes (less the zero point) of ``acc``, XNNPACK's way, or TFLite's fixed point
        when ``multiplier`` is a (mantissa, exponent) pair."""
        lo, hi = self.bounds(out, kind)
        if isinstance(multiplier, tuple):
            return self.tf.clip_by_value(_fixed_point_requantize(self.tf, acc, *multiplier), lo, hi)
        return self.tf.clip_by_value(self.tf.round(acc * multiplier), lo, hi)

    def convolution(self, name: str, op, ins: list[int], out_q: _Quant):
        tf, S, g = self.tf, self.S, self.g
        x_i, w_i, b_i = (ins[2], ins[1], ins[3]) if name == "TRANSPOSE_CONV" else (ins[0], ins[1], ins[2])
        w, w_q = g.constant(w_i).astype(np.float32), _quant(g, w_i)
        if w_q.zero != 0 or b_i < 0:
            raise ModelError("int8 weights with a zero point, or a convolution without a bias, are not supported")
        bias = tf.constant(g.constant(b_i).astype(np.float32))  # int32, exact in float32 at these sizes
        scales = (_quant(g, x_i).scale, w_q.scale, out_q.scale)
        if name == "CONV_2D":
            o = _options(S, op, S.Conv2DOptions)
            w = tf.constant(np.transpose(w, (1, 2, 3, 0)))  # OHWI -> HWIO
            multiplier = tf.constant(_requantize_scale(*scales))

            def conv(values):
                acc = tf.nn.conv2d(values[x_i], w, [1, o.StrideH(), o.StrideW(), 1], self.padding[o.Padding()],
                                   dilations=[1, o.DilationHFactor(), o.DilationWFactor(), 1])  # fmt: skip
                return self.requantize(acc + bias, multiplier, out_q, o.FusedActivationFunction())

            return conv
        if name == "DEPTHWISE_CONV_2D":
            o = _options(S, op, S.DepthwiseConv2DOptions)
            channels = int(g.sg.Tensors(x_i).ShapeAsNumpy()[-1])
            w = tf.constant(w.reshape(w.shape[1], w.shape[2], channels, w.shape[3] // channels))
            multiplier = tf.constant(_requantize_scale(*scales))

            def depthwise(values):
                acc = tf.nn.depthwise_conv2d(values[x_i], w, [1, o.StrideH(), o.StrideW(), 1], self.padding[o.Padding()],
                                             dilations=[o.DilationHFactor(), o.DilationWFactor()])  # fmt: skip
                return self.requantize(acc + bias, multiplier, out_q, o.FusedActivationFunction())

            return depthwise
        o = _options(S, op, S.TransposeConvOptions)
        w = tf.constant(np.transpose(w, (1, 2, 0, 3)))  # OHWI -> H, W, out, in
        multiplier = tuple(tf.constant(v) for v in _fixed_point_multiplier(*scales))
        (k_h, k_w), (s_h, s_w) = w.shape[:2], (o.StrideH(), o.StrideW())
        same = o.Padding() == S.Padding.SAME
        kind = o.FusedActivationFunction() if hasattr(o, "FusedActivationFunction") else self.act.NONE

        def transposed(values):
            v = values[x_i]
            shape = tf.shape(v)
            if same:
                out_hw = [shape[1] * s_h, shape[2] * s_w]
            else:
                out_hw = [(shape[1] - 1) * s_h + k_h, (shape[2] - 1) * s_w + k_w]
            out_shape = tf.stack([shape[0], out_hw[0], out_hw[1], int(w.shape[2])])
            acc = tf.nn.conv2d_transpose(v, w, out_shape, [1, s_h, s_w, 1], self.padding[o.Padding()])
            return self.requantize(acc + bias, multiplier, out_q, kind)

        return transposed

    def add(self, op, ins: list[int], out_q: _Quant):
        tf = self.tf
        a_q, b_q = _quant(self.g, ins[0]), _quant(self.g, ins[1])
        m_a, m_b, divisor = _add_multipliers(a_q.scale[0], b_q.scale[0], out_q.scale[0])
        lo, hi = self.bounds(out_q, _options(self.S, op, self.S.AddOptions).FusedActivationFunction())

        def add(values):
            total = tf.cast(values[ins[0]], tf.float64) * m_a + tf.cast(values[ins[1]], tf.float64) * m_b
            return tf.clip_by_value(tf.cast(tf.floor((total + divisor / 2) / divisor), tf.float32), lo, hi)

        return add

    def pad(self, ins: list[int], out_q: _Quant):
        pads = self.g.constant(ins[1]).astype(np.int32)
        if _quant(self.g, ins[0]).zero != out_q.zero:
            raise ModelError("a PAD that changes the zero point is not supported")
        return lambda values: self.tf.pad(values[ins[0]], pads)  # the zero point's code: 0 here


def load_int8_as_tf(path: Path):
    """Translate the int8 TFLite model at ``path``; returns ``f(x) -> outputs`` (the model's
    float outputs in its order) on NHWC float32 batches of any size."""
    import tensorflow as tf

    g = _Graph(path)
    sg = g.sg
    translation = _Translation(tf, g)
    steps = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        name = g.op_name(op)
        if name in _SHAPE_OPS:
            continue
        if name not in _SUPPORTED:
            raise ModelError(f"unsupported operator {name} in the int8 model {Path(path).name}")
        out = int(op.OutputsAsNumpy()[0])
        if name != "DEQUANTIZE" and sg.Tensors(out).Type() != _INT8:
            raise ModelError(f"the model {Path(path).name} is not quantized to int8 throughout")
        steps.append((out, translation.op(name, op, [int(t) for t in op.InputsAsNumpy()], out)))
    graph_in = int(sg.InputsAsNumpy()[0])
    graph_outs = [int(t) for t in sg.OutputsAsNumpy()]

    def run(x):
        values = {graph_in: x}
        for out, step in steps:
            values[out] = step(values)
        return [values[t] for t in graph_outs]

    return run
