"""TensorFlow fake quantization: FakeQuantWithMinMaxArgs, FakeQuantWithMinMaxVars and
FakeQuantWithMinMaxVarsPerChannel (the ops quantization-aware training leaves in a graph).

TensorFlow first "nudges" [min, max] so that real zero is an integer of the quantized range
[quant_min, quant_max] = [narrow_range ? 1 : 0, 2^num_bits − 1] (`Nudge` in
tensorflow/core/kernels/fake_quant_ops_functor.h, all in float32):

    scale = (max − min) / (quant_max − quant_min)
    zero_point = clamp(std::round(quant_min − min / scale), quant_min, quant_max)   (half away from 0)
    nudged_min = (quant_min − zero_point) · scale,  nudged_max = (quant_max − zero_point) · scale

and the op is clamp(x, nudged_min, nudged_max) rounded to the grid of `scale` through zero. That is
a clamp followed by a quantize → dequantize pair with that scale and zero point, which is what this
module emits (see `graphc.frontends.quantized`), so fake-quantized layers become int8 layers like
an ONNX QDQ model's. The unsigned range [0, 2^num_bits − 1] is stored as int8 with the zero point
moved down by 128 (exact); num_bits must be 2..8 (16-bit fake quantization has no int8 form).
Ranges must be compile-time constants (they are in a frozen graph); min = max = 0 gives zeros, as in
TensorFlow. Rounding: TensorFlow computes floor(v + ½) on the shifted value, the quantize op rounds
half to even; they differ only when x/scale lands exactly on a half, which real data does not.
"""

from __future__ import annotations

import numpy as np

from graphc.frontends.quantized import fake_quantize
from graphc.frontends.tf_context import Converter, NodeError, TFNode, converts, need_inputs


def nudge(low: np.ndarray, high: np.ndarray, num_bits: int, narrow_range: bool):
    """TensorFlow's Nudge, elementwise in float32: (scale, zero_point in [quant_min, quant_max],
    nudged_min, nudged_max)."""
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    quant_min = np.float32(1 if narrow_range else 0)
    quant_max = np.float32((1 << num_bits) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = (high - low) / (quant_max - quant_min)
        from_min = quant_min - low / scale
    rounded = np.sign(from_min) * np.floor(np.abs(from_min) + np.float32(0.5))  # std::round
    zero_point = np.where(from_min < quant_min, quant_min, np.where(from_min > quant_max, quant_max, rounded))
    zero_point = zero_point.astype(np.int64)
    nudged_min = ((quant_min - zero_point.astype(np.float32)) * scale).astype(np.float32)
    nudged_max = ((quant_max - zero_point.astype(np.float32)) * scale).astype(np.float32)
    return scale.astype(np.float32), zero_point, nudged_min, nudged_max


def _bits(node: TFNode) -> tuple[int, bool]:
    num_bits = node.get_int("num_bits", 8)
    if not 2 <= num_bits <= 8:
        raise NodeError(f"num_bits={num_bits}: graphc quantizes to int8, so num_bits must be 2..8")
    return num_bits, node.get_bool("narrow_range", False)


def _emit(ctx: Converter, node: TFNode, x, low: np.ndarray, high: np.ndarray, axis: int | None):
    if not ctx.is_float(x):
        raise NodeError(f"the input must be float, got {x.type}")
    num_bits, narrow = _bits(node)
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    zeros = (low == 0) & (high == 0)
    if np.any(~zeros & ~(low < high)):
        raise NodeError(f"min {low.tolist()} must be less than max {high.tolist()}")
    scale, zero_point, nudged_min, nudged_max = nudge(np.where(zeros, -1, low), np.where(zeros, 1, high), num_bits,
                                                      narrow)  # fmt: skip
    if np.any(zeros):  # TensorFlow outputs zeros for a [0, 0] range: a range of only zero does that too
        nudged_min, nudged_max = np.where(zeros, 0, nudged_min), np.where(zeros, 0, nudged_max)
    # Store [0, 2^bits - 1] as int8: every value and the zero point move down by 128.
    return fake_quantize(ctx, x, scale, zero_point - 128, nudged_min, nudged_max, axis)


@converts("FakeQuantWithMinMaxArgs")
def _fake_quant_args(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    low, high = node.get_float("min", -6.0), node.get_float("max", 6.0)
    return [_emit(ctx, node, inputs[0], np.float32(low), np.float32(high), None)]


@converts("FakeQuantWithMinMaxVars", static=(1, 2))
def _fake_quant_vars(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3)
    low, high = ctx.static(inputs, 1, "min"), ctx.static(inputs, 2, "max")
    if low.size != 1 or high.size != 1:
        raise NodeError(f"min and max must be scalars, got shapes {list(low.shape)} and {list(high.shape)}")
    return [_emit(ctx, node, inputs[0], low.reshape(()), high.reshape(()), None)]


@converts("FakeQuantWithMinMaxVarsPerChannel", static=(1, 2))
def _fake_quant_per_channel(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3)
    x = inputs[0]
    low, high = ctx.static(inputs, 1, "min"), ctx.static(inputs, 2, "max")
    channels = ctx.shape(x)[-1] if ctx.rank(x) else 0
    if low.shape != (channels,) or high.shape != (channels,):
        raise NodeError(
            f"min and max must be vectors of the last dimension's {channels} entries, got shapes "
            f"{list(low.shape)} and {list(high.shape)}"
        )
    return [_emit(ctx, node, x, low, high, ctx.rank(x) - 1)]
