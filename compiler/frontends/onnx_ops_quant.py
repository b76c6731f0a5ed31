"""ONNX quantization ops on integer types graphc has (int8/uint8/int16/uint16 and int32 results):
QuantizeLinear, DequantizeLinear (per tensor, per axis and blocked), MatMulInteger, ConvInteger,
QLinearMatMul and QLinearConv.

They are compositions of casts, integer matmul/convolution and float arithmetic, in the order and
precision of the ONNX reference: quantization divides in the input's float type, rounds half to
even and saturates; dequantization subtracts the zero point in float32; the QLinear ops accumulate
exactly in int32 and requantize in float64 with a multiplier computed in the scales' type.
float8/float4/int4/int2 quantized types are not graphc element types, so those forms are rejected.
"""

from __future__ import annotations

from xdsl.ir import SSAValue

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.frontends.onnx_context import (
    NodeError,
    OnnxConverter,
    OnnxNode,
    converts,
    element_type,
    need,
    normalize_axis,
)
from graphc.frontends.onnx_ops_linalg import matmul
from graphc.frontends.onnx_ops_nn import conv_operands

_RANGES = {
    dtypes.ui8: (0, 255),
    dtypes.i8: (-128, 127),
    dtypes.ui16: (0, 65535),
    dtypes.i16: (-32768, 32767),
}


def _quantized_range(element) -> tuple[int, int]:
    for candidate, bounds in _RANGES.items():
        if candidate == element:
            return bounds
    raise NodeError(f"{element} is not a quantized integer type (int8, uint8, int16, uint16)")


def broadcast_param(ctx: OnnxConverter, param: SSAValue, x: SSAValue, axis: int, block_size: int) -> SSAValue:
    """A scale or zero point shaped to broadcast against x: a scalar, a vector along `axis`, or
    blocks of `block_size` along `axis` (repeated, the last block possibly shorter)."""
    shape = ctx.shape(x)
    rank = len(shape)
    if ctx.size(param) == 1 and not block_size:
        return ctx.reshape(param, [])
    axis = normalize_axis(axis, rank)
    if not block_size:
        if ctx.rank(param) != 1 or ctx.shape(param)[0] != shape[axis]:
            raise NodeError(f"{param.type} is not a vector of the {shape[axis]} entries of axis {axis}")
        return ctx.reshape(param, [shape[axis] if i == axis else 1 for i in range(rank)])
    pshape = list(ctx.shape(param))
    blocks = -(-shape[axis] // block_size)
    if len(pshape) != rank or pshape[axis] != blocks or any(p != s for i, (p, s) in enumerate(zip(pshape, shape)) if i != axis):
        raise NodeError(f"{param.type} does not hold one value per block of {block_size} along axis {axis} of {list(shape)}")
    expanded = pshape[: axis + 1] + [1] + pshape[axis + 1 :]
    repeated = pshape[: axis + 1] + [block_size] + pshape[axis + 1 :]
    y = ctx.broadcast_to(ctx.reshape(param, expanded), repeated)
    y = ctx.reshape(y, pshape[:axis] + [blocks * block_size] + pshape[axis + 1 :])
    starts, limits = [0] * rank, list(ctx.shape(y))
    limits[axis] = shape[axis]
    return ctx.slice(y, starts, limits)


def _block_size(node: OnnxNode) -> int:
    return node.get_int("block_size", 0) if node.version >= 21 else 0


@converts("QuantizeLinear", since=10)
def _quantize(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    x, scale = inputs[0], inputs[1]
    zero_point = inputs[2] if len(inputs) > 2 else None
    axis = node.get_int("axis", 1) if node.version >= 13 else 1
    block = _block_size(node)
    if zero_point is not None:
        target = ctx.element(zero_point)
    elif node.version >= 21 and node.get_int("output_dtype", 0):
        target = element_type(node.get_int("output_dtype"))
    else:
        target = dtypes.ui8
    low, high = _quantized_range(target)
    compute = ctx.element(x)
    if node.version >= 23 and node.get_int("precision", 0):
        compute = element_type(node.get_int("precision"))
    xs = ctx.op(g.DivOp, [ctx.cast(x, compute), ctx.cast(broadcast_param(ctx, scale, x, axis, block), compute)])
    q = ctx.cast(ctx.op(g.RoundOp, [xs]), dtypes.i32)
    if zero_point is not None:
        q = ctx.op(g.AddOp, [q, ctx.cast(broadcast_param(ctx, zero_point, x, axis, block), dtypes.i32)])
    q = ctx.op(g.MinOp, [ctx.op(g.MaxOp, [q, ctx.scalar(low, q)]), ctx.scalar(high, q)])
    return [ctx.cast(q, target)]


@converts("DequantizeLinear", since=10)
def _dequantize(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    x, scale = inputs[0], inputs[1]
    zero_point = inputs[2] if len(inputs) > 2 else None
    axis = node.get_int("axis", 1) if node.version >= 13 else 1
    block = _block_size(node)
    if ctx.element(x) != dtypes.i32:  # int32 is dequantized too (quantized biases)
        _quantized_range(ctx.element(x))
    dx = ctx.cast(x, dtypes.f32)
    if zero_point is not None:
        if ctx.element(zero_point) != ctx.element(x):
            raise NodeError(f"the zero point {zero_point.type} and the input {x.type} differ in type")
        dx = ctx.op(g.SubOp, [dx, ctx.cast(broadcast_param(ctx, zero_point, x, axis, block), dtypes.f32)])
    y = ctx.op(g.MulOp, [dx, ctx.cast(broadcast_param(ctx, scale, x, axis, block), dtypes.f32)])
    target = ctx.element(scale)
    if node.version >= 23 and node.get_int("output_dtype", 0):
        target = element_type(node.get_int("output_dtype"))
    return [ctx.cast(y, target)]


# ---------------------------------------------------------------------------------------------
# Integer matmul and convolution
# ---------------------------------------------------------------------------------------------


def _centered(ctx: OnnxConverter, x: SSAValue, zero_point: SSAValue | None, per_row_axis: int | None = None) -> SSAValue:
    """x - zero_point in int32 (exact); a vector zero point applies along `per_row_axis`."""
    xi = ctx.cast(x, dtypes.i32)
    if zero_point is None:
        return xi
    zp = ctx.cast(zero_point, dtypes.i32)
    if ctx.size(zero_point) == 1:
        zp = ctx.reshape(zp, [])
    elif per_row_axis is not None:
        rank = ctx.rank(x)
        axis = normalize_axis(per_row_axis, rank)
        zp = ctx.reshape(zp, [ctx.size(zero_point) if i == axis else 1 for i in range(rank)])
    return ctx.op(g.SubOp, [xi, zp])


@converts("MatMulInteger", since=10)
def _matmul_integer(ctx: OnnxConverter, node: OnnxNode, inputs):
    """a_zero_point may be per row of A (axis -2), b_zero_point per column of B (axis -1)."""
    need(node, inputs, 0, 1)
    a = _centered(ctx, inputs[0], inputs[2] if len(inputs) > 2 else None, -2 if ctx.rank(inputs[0]) > 1 else None)
    b = _centered(ctx, inputs[1], inputs[3] if len(inputs) > 3 else None, -1)
    return [matmul(ctx, a, b)]


def _requantize(ctx: OnnxConverter, acc: SSAValue, multiplier: SSAValue, zero_point: SSAValue | None,
                fallback) -> SSAValue:  # fmt: skip
    """round(acc * multiplier + zero_point) saturated, computed in float64 as numpy promotes."""
    target = ctx.element(zero_point) if zero_point is not None else fallback
    low, high = _quantized_range(target)
    y = ctx.op(g.MulOp, [ctx.cast(acc, dtypes.f64), ctx.cast(multiplier, dtypes.f64)])
    if zero_point is not None:
        y = ctx.op(g.AddOp, [y, ctx.cast(ctx.reshape(zero_point, []) if ctx.size(zero_point) == 1 else zero_point, dtypes.f64)])
    y = ctx.op(g.MinOp, [ctx.op(g.MaxOp, [ctx.op(g.RoundOp, [y]), ctx.scalar(low, y)]), ctx.scalar(high, y)])
    return ctx.cast(y, target)


def _multiplier(ctx: OnnxConverter, *scales: SSAValue) -> SSAValue:
    """a_scale * b_scale / y_scale in the scales' type (as the reference computes it)."""
    first, second, out = scales
    return ctx.op(g.DivOp, [ctx.op(g.MulOp, [first, second]), out])


@converts("QLinearMatMul", since=10)
def _qlinear_matmul(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1, 3, 4, 6)
    a, a_scale, a_zp, b, b_scale, b_zp, y_scale = inputs[:7]
    y_zp = inputs[7] if len(inputs) > 7 else None
    """a's scale and zero point per row of a (axis -2) or per tensor, b's per column (axis -1) or per
    tensor; the output's per tensor."""
    if ctx.size(y_scale) != 1 or (y_zp is not None and ctx.size(y_zp) != 1):
        raise NodeError("the output's scale and zero point must be scalars (per tensor)")
    acc = matmul(ctx, _centered(ctx, a, a_zp, -2), _centered(ctx, b, b_zp, -1))
    rank = ctx.rank(acc)
    a_scale = ctx.reshape(a_scale, [] if ctx.size(a_scale) == 1 else [ctx.size(a_scale), 1])
    b_scale = ctx.reshape(b_scale, [] if ctx.size(b_scale) == 1 else [ctx.size(b_scale)])
    if rank < 2 and (ctx.rank(a_scale) or ctx.rank(b_scale)):
        raise NodeError("per-row/per-column scales need 2-d operands")
    return [_requantize(ctx, acc, _multiplier(ctx, a_scale, b_scale, ctx.reshape(y_scale, [])), y_zp, ctx.element(a))]


def _conv_integer(ctx: OnnxConverter, node: OnnxNode, x: SSAValue, w: SSAValue, x_zp, w_zp, bias) -> SSAValue:
    xi = _centered(ctx, x, x_zp)
    wi = _centered(ctx, w, w_zp, 0)
    return conv_operands(ctx, node, xi, wi, bias)


@converts("ConvInteger", since=10)
def _conv_integer_op(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    x_zp = inputs[2] if len(inputs) > 2 else None
    w_zp = inputs[3] if len(inputs) > 3 else None
    return [_conv_integer(ctx, node, inputs[0], inputs[1], x_zp, w_zp, None)]


@converts("QLinearConv", since=10)
def _qlinear_conv(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1, 3, 4, 6)
    x, x_scale, x_zp, w, w_scale, w_zp, y_scale = inputs[:7]
    y_zp = inputs[7] if len(inputs) > 7 else None
    bias = inputs[8] if len(inputs) > 8 else None
    acc = _conv_integer(ctx, node, x, w, x_zp, w_zp, bias)
    if ctx.size(w_scale) > 1:  # per output channel
        w_scale = ctx.reshape(w_scale, [1, ctx.size(w_scale)] + [1] * (ctx.rank(acc) - 2))
    else:
        w_scale = ctx.reshape(w_scale, [])
    multiplier = _multiplier(ctx, ctx.reshape(x_scale, []), w_scale, ctx.reshape(y_scale, []))
    return [_requantize(ctx, acc, multiplier, y_zp, ctx.element(x))]

