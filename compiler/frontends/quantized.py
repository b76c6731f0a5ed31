"""Quantize and dequantize as both front ends emit them (ONNX QuantizeLinear/DequantizeLinear and
QDQ models, TensorFlow FakeQuant*), in the TFLite scheme `real = (q − zero_point) · scale` with
int8 storage.

Scales and zero points are compile-time constants (numpy arrays: a scalar, or a vector along
`axis`); they become attributes of the `quant` dialect's `quant.quantize` (divide in float32, round
half to even, saturate to int8: ONNX QuantizeLinear) and `quant.dequantize` ((q − zero_point) ·
scale in float32), so IR dumps show them. The `recognize-qdq` pass turns dequantize → conv/matmul →
quantize into int8 layers.
"""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects import quant_arith
from graphc.dialects.quant import DequantizeOp, QuantizeOp, QuantParams
from graphc.frontends.tf_context import Converter, NodeError

INT8_RANGE = (quant_arith.INT8_MIN, quant_arith.INT8_MAX)


def check_int8(zero_point: np.ndarray) -> np.ndarray:
    zero_point = np.asarray(zero_point).astype(np.int64)
    if zero_point.size and (zero_point.min() < INT8_RANGE[0] or zero_point.max() > INT8_RANGE[1]):
        raise NodeError(f"zero point {zero_point.tolist()} is outside int8")
    return zero_point


def _params(ctx: Converter, x: SSAValue, scale: np.ndarray, zero_point: np.ndarray, axis: int | None) -> QuantParams:
    scale = np.asarray(scale, np.float32).reshape(-1)
    zero_point = check_int8(zero_point).reshape(-1)
    if not np.all(np.isfinite(scale) & (scale > 0)):
        raise NodeError(f"scales must be finite and positive, got {scale.tolist()[:8]}")
    if axis is None:
        if scale.size != 1 or zero_point.size != 1:
            raise NodeError(f"{scale.size} scales and {zero_point.size} zero points for a per-tensor quantization")
    else:
        size = ctx.shape(x)[axis]
        if scale.size == 1:
            scale = np.repeat(scale, size)
        if zero_point.size == 1:
            zero_point = np.repeat(zero_point, size)
        if scale.size != size or zero_point.size != size:
            raise NodeError(f"{scale.size} scales and {zero_point.size} zero points for the {size} entries of axis {axis}")
    return QuantParams(scale, zero_point, axis)


def quantize(ctx: Converter, x: SSAValue, scale: np.ndarray, zero_point: np.ndarray, axis: int | None) -> SSAValue:
    """float → int8 (`quant.quantize`): saturate(round_half_even(x / scale) + zero_point)."""
    params = _params(ctx, x, scale, zero_point, axis)
    return ctx.op(QuantizeOp, [ctx.cast(x, dtypes.f32) if not ctx.is_float(x) else x], **params.attributes())


def dequantize(ctx: Converter, q: SSAValue, scale: np.ndarray, zero_point: np.ndarray, axis: int | None) -> SSAValue:
    """int8 (or int32 with zero point 0) → float32 (`quant.dequantize`): (q − zero_point) · scale."""
    return ctx.op(DequantizeOp, [q], **_params(ctx, q, scale, zero_point, axis).attributes())


def _lay(values: np.ndarray, rank: int, axis: int | None) -> np.ndarray:
    """Parameters shaped to broadcast against a rank-`rank` tensor: a scalar, or a vector along `axis`."""
    values = np.asarray(values)
    if axis is None:
        return values.reshape(())
    return values.reshape([values.size if i == axis else 1 for i in range(rank)])


def fake_quantize(ctx: Converter, x: SSAValue, scale: np.ndarray, zero_point: np.ndarray, low: np.ndarray,
                  high: np.ndarray, axis: int | None) -> SSAValue:  # fmt: skip
    """clamp(x, low, high) rounded to the int8 grid: a quantize → dequantize pair. The clamp is left
    out where the int8 range already saturates at [low, high]."""
    zero_point = check_int8(zero_point)
    rank = ctx.rank(x)
    constant = ctx.constant_of(x)
    if constant is not None:  # a weight: stored as int8, so the dump shows an int8 layer's operands
        clamped = np.clip(constant, _lay(low, rank, axis), _lay(high, rank, axis))
        q = quant_arith.quantize(clamped, np.asarray(scale).reshape(-1), np.asarray(zero_point).reshape(-1), axis)
        return dequantize(ctx, ctx.const(q), scale, zero_point, axis)
    full_low = (INT8_RANGE[0] - zero_point) * scale.astype(np.float64)
    full_high = (INT8_RANGE[1] - zero_point) * scale.astype(np.float64)
    if not np.all((low <= full_low) & (high >= full_high)):
        x = ctx.op(g.MinOp, [ctx.op(g.MaxOp, [x, ctx.const(_lay(low, rank, axis).astype(np.float32))]),
                             ctx.const(_lay(high, rank, axis).astype(np.float32))])  # fmt: skip
    return dequantize(ctx, quantize(ctx, x, scale, zero_point, axis), scale, zero_point, axis)
