"""Quantize and dequantize as both front ends emit them (ONNX QuantizeLinear/DequantizeLinear and
QDQ models, TensorFlow FakeQuant*), in the TFLite scheme `real = (q − zero_point) · scale` with
int8 storage.

Scales and zero points are compile-time constants (numpy arrays: a scalar, or a vector along
`axis`). `quantize` divides in float32, rounds half to even and saturates to int8 (ONNX
QuantizeLinear); `dequantize` is (q − zero_point) · scale in float32.
"""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.frontends.tf_context import Converter, NodeError

INT8_RANGE = (-128, 127)


def _along(ctx: Converter, values: np.ndarray, like: SSAValue, axis: int | None, dtype) -> SSAValue:
    """A constant that broadcasts against `like`: rank 0, or a vector laid along `axis`."""
    values = np.asarray(values).astype(dtype)
    if axis is None:
        if values.size != 1:
            raise NodeError(f"a per-tensor quantization parameter has {values.size} values")
        return ctx.const(values.reshape(()))
    rank = ctx.rank(like)
    shape = [values.size if i == axis else 1 for i in range(rank)]
    if values.size != ctx.shape(like)[axis]:
        raise NodeError(f"{values.size} quantization parameters for the {ctx.shape(like)[axis]} entries of axis {axis}")
    return ctx.const(values.reshape(shape))


def check_int8(zero_point: np.ndarray) -> np.ndarray:
    zero_point = np.asarray(zero_point).astype(np.int64)
    if zero_point.size and (zero_point.min() < INT8_RANGE[0] or zero_point.max() > INT8_RANGE[1]):
        raise NodeError(f"zero point {zero_point.tolist()} is outside int8")
    return zero_point


def quantize(ctx: Converter, x: SSAValue, scale: np.ndarray, zero_point: np.ndarray, axis: int | None) -> SSAValue:
    """float → int8: saturate(round_half_even(x / scale) + zero_point)."""
    zero_point = check_int8(zero_point)
    x = ctx.cast(x, dtypes.f32)
    q = ctx.op(g.RoundOp, [ctx.op(g.DivOp, [x, _along(ctx, scale, x, axis, np.float32)])])
    q = ctx.op(g.AddOp, [q, _along(ctx, zero_point, x, axis, np.float32)])
    q = ctx.op(g.MinOp, [ctx.op(g.MaxOp, [q, ctx.scalar(INT8_RANGE[0], q)]), ctx.scalar(INT8_RANGE[1], q)])
    return ctx.cast(q, dtypes.i8)


def dequantize(ctx: Converter, q: SSAValue, scale: np.ndarray, zero_point: np.ndarray, axis: int | None) -> SSAValue:
    """int8 (or int32 with zero point 0) → float32: (q − zero_point) · scale."""
    x = ctx.cast(q, dtypes.f32)
    if np.any(np.asarray(zero_point) != 0):
        x = ctx.op(g.SubOp, [x, _along(ctx, zero_point, x, axis, np.float32)])
    return ctx.op(g.MulOp, [x, _along(ctx, scale, x, axis, np.float32)])


def _lay(values: np.ndarray, like: np.ndarray, axis: int | None) -> np.ndarray:
    values = np.asarray(values)
    if axis is None:
        return values.reshape(())
    return values.reshape([values.size if i == axis else 1 for i in range(like.ndim)])


def quantize_array(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int | None) -> np.ndarray:
    """`quantize` at compile time, in numpy (same float32 arithmetic)."""
    x = np.asarray(x, np.float32)
    q = np.rint(x / _lay(scale, x, axis).astype(np.float32)) + _lay(zero_point, x, axis).astype(np.float32)
    return np.clip(q, *INT8_RANGE).astype(np.int8)


def fake_quantize(ctx: Converter, x: SSAValue, scale: np.ndarray, zero_point: np.ndarray, low: np.ndarray,
                  high: np.ndarray, axis: int | None) -> SSAValue:  # fmt: skip
    """clamp(x, low, high) rounded to the int8 grid: a quantize → dequantize pair. The clamp is left
    out where the int8 range already saturates at [low, high]."""
    zero_point = check_int8(zero_point)
    constant = ctx.constant_of(x)
    if constant is not None:  # a weight: stored as int8, so the dump shows an int8 layer's operands
        q = quantize_array(np.clip(constant, _lay(low, constant, axis), _lay(high, constant, axis)), scale, zero_point,
                           axis)  # fmt: skip
        return dequantize(ctx, ctx.const(q), scale, zero_point, axis)
    full_low = (INT8_RANGE[0] - zero_point) * scale.astype(np.float64)
    full_high = (INT8_RANGE[1] - zero_point) * scale.astype(np.float64)
    if not np.all((low <= full_low) & (high >= full_high)):
        x = ctx.op(g.MinOp, [ctx.op(g.MaxOp, [x, _along(ctx, low, x, axis, np.float32)]),
                             _along(ctx, high, x, axis, np.float32)])  # fmt: skip
    return dequantize(ctx, quantize(ctx, x, scale, zero_point, axis), scale, zero_point, axis)
