"""ONNX quantization ops: QuantizeLinear, DequantizeLinear (per tensor, per axis and blocked),
MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv.

int8 and uint8 tensors with compile-time scales and zero points become the `quant` dialect's ops
(`graphc.frontends.quantized`): QuantizeLinear/DequantizeLinear → `quant.quantize` /
`quant.dequantize`, QLinearConv/ConvInteger → `quant.conv2d` (+ `quant.requantize`),
QLinearMatMul/MatMulInteger → `quant.matmul` (+ `quant.requantize`), so such models run as int8
kernels and QDQ models are recognised by the `recognize-qdq` pass. uint8 is stored as int8 with
every value and zero point moved down by 128, which is exact: a uint8 tensor in the model is an
int8 value in the IR plus a `uint8_view` conversion that is dead unless the uint8 tensor itself is
used (a graph output, or an op that is not quantization-aware).

onnxruntime's QLinear kernels requantize with a float multiplier; `quant.requantize` uses TFLite's
fixed-point multiplier and shift, so an output may differ by one quantization step.

Forms the contract cannot express are composed of casts, integer matmul/convolution and float
arithmetic instead, in the order and precision of the ONNX reference: int16/uint16, blocked scales,
scales or zero points computed at run time, non-float32 compute types, nonzero filter zero points
and 3-d convolutions. float8/float4/int4/int2 are not graphc element types, so those are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.ir import Attribute, SSAValue

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects import quant as q
from graphc.frontends import quantized
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

onnx_float = 1  # TensorProto.FLOAT
from graphc.frontends.onnx_ops_nn import NCHW_TO_NHWC, NHWC_TO_NCHW, OIHW_TO_HWIO, conv_operands

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


def _quantized_type(node: OnnxNode, zero_point: SSAValue | None, ctx: OnnxConverter):
    """QuantizeLinear's output type: the zero point's, else output_dtype (opset 21), else uint8."""
    if zero_point is not None:
        return ctx.element(zero_point)
    if node.version >= 21 and node.get_int("output_dtype", 0):
        return element_type(node.get_int("output_dtype"))
    return dtypes.ui8


@converts("QuantizeLinear", since=10)
def _quantize(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    contract = _quantize_int8(ctx, node, inputs)
    return [contract] if contract is not None else _quantize_elementwise(ctx, node, inputs)


def _quantize_elementwise(ctx: OnnxConverter, node: OnnxNode, inputs):
    x, scale = inputs[0], inputs[1]
    zero_point = inputs[2] if len(inputs) > 2 else None
    axis = node.get_int("axis", 1) if node.version >= 13 else 1
    block = _block_size(node)
    target = _quantized_type(node, zero_point, ctx)
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
    contract = _dequantize_int8(ctx, node, inputs)
    return [contract] if contract is not None else _dequantize_elementwise(ctx, node, inputs)


def _dequantize_elementwise(ctx: OnnxConverter, node: OnnxNode, inputs):
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
# int8/uint8 as the quant dialect
# ---------------------------------------------------------------------------------------------

_UINT8_OFFSET = -128


def _offset(element) -> int | None:
    """What storing an element type as int8 adds to its values: 0 for int8, -128 for uint8."""
    if element == dtypes.i8:
        return 0
    if element == dtypes.ui8:
        return _UINT8_OFFSET
    return None


def int8_of(ctx: OnnxConverter, x: SSAValue) -> SSAValue:
    """An int8 or uint8 tensor as int8 (uint8 moved down by 128; free for a `uint8_view`'s result)."""
    if ctx.element(x) == dtypes.i8:
        return x
    known = ctx.int8_values.get(x)
    if known is not None:
        return known
    return ctx.cast(ctx.op(g.SubOp, [ctx.cast(x, dtypes.i32), ctx.scalar(128, dtypes.i32)]), dtypes.i8)


def uint8_view(ctx: OnnxConverter, q8: SSAValue) -> SSAValue:
    """The uint8 tensor an int8 value stands for (q + 128), remembered so that int8_of is free."""
    u = ctx.cast(ctx.op(g.AddOp, [ctx.cast(q8, dtypes.i32), ctx.scalar(128, dtypes.i32)]), dtypes.ui8)
    ctx.int8_values[u] = q8
    return u


def _stored(ctx: OnnxConverter, q8: SSAValue, element) -> SSAValue:
    return uint8_view(ctx, q8) if element == dtypes.ui8 else q8


def _const(ctx: OnnxConverter, value: SSAValue | None) -> np.ndarray | None:
    return None if value is None else ctx.constant_of(value)


def _params(ctx: OnnxConverter, node: OnnxNode, x: SSAValue, scale: SSAValue, zero_point: SSAValue | None,
            element) -> tuple[np.ndarray, np.ndarray, int | None] | None:  # fmt: skip
    """Constant (scale, int8 zero point, axis) of a QuantizeLinear/DequantizeLinear, or None when the
    node needs the element-wise form (blocked, run-time parameters, not int8/uint8)."""
    offset = _offset(element)
    s, z = _const(ctx, scale), _const(ctx, zero_point)
    if offset is None or _block_size(node) or s is None or (zero_point is not None and z is None):
        return None
    if s.dtype != np.float32 or not np.all(np.isfinite(s) & (s > 0)):
        return None
    z = np.zeros(s.shape, np.int64) if z is None else z.astype(np.int64)
    if s.size == 1 and z.size == 1:
        return s.reshape(-1), z.reshape(-1) + offset, None
    axis = normalize_axis(node.get_int("axis", 1) if node.version >= 13 else 1, ctx.rank(x))
    return s.reshape(-1), np.broadcast_to(z.reshape(-1), s.reshape(-1).shape) + offset, axis


def _quantize_int8(ctx: OnnxConverter, node: OnnxNode, inputs) -> SSAValue | None:
    x, scale = inputs[0], inputs[1]
    zero_point = inputs[2] if len(inputs) > 2 else None
    target = _quantized_type(node, zero_point, ctx)
    if ctx.element(x) != dtypes.f32 or (node.version >= 23 and node.get_int("precision", 0)):
        return None
    params = _params(ctx, node, x, scale, zero_point, target)
    if params is None:
        return None
    return _stored(ctx, quantized.quantize(ctx, x, *params), target)


def _dequantize_int8(ctx: OnnxConverter, node: OnnxNode, inputs) -> SSAValue | None:
    x, scale = inputs[0], inputs[1]
    zero_point = inputs[2] if len(inputs) > 2 else None
    element = ctx.element(x)
    if zero_point is not None and ctx.element(zero_point) != element:
        return None  # the element-wise form reports it
    if node.version >= 23 and node.get_int("output_dtype", 0) not in (0, onnx_float):
        return None
    if element == dtypes.i32:
        z = _const(ctx, zero_point)
        s = _const(ctx, scale)
        if s is None or s.dtype != np.float32 or (z is not None and np.any(z != 0)) or _block_size(node):
            return None
        axis = None if s.size == 1 else normalize_axis(node.get_int("axis", 1) if node.version >= 13 else 1, ctx.rank(x))
        return quantized.dequantize(ctx, x, s.reshape(-1), np.zeros(s.size, np.int64), axis)
    params = _params(ctx, node, x, scale, zero_point, element)
    if params is None:
        return None
    return quantized.dequantize(ctx, int8_of(ctx, x), *params)


# ---------------------------------------------------------------------------------------------
# Integer matmul and convolution as quant.matmul / quant.conv2d
# ---------------------------------------------------------------------------------------------


def _zero_point8(ctx: OnnxConverter, zero_point: SSAValue | None, element) -> int | None:
    """A constant per-tensor zero point (absent: 0) as int8, or None."""
    offset = _offset(element)
    z = np.zeros(1, np.int64) if zero_point is None else _const(ctx, zero_point)
    if offset is None or z is None or z.size == 0 or np.any(z != z.reshape(-1)[0]):
        return None
    return int(z.reshape(-1)[0]) + offset


def _symmetric_int8(ctx: OnnxConverter, w: SSAValue, zero_point: SSAValue | None) -> bool:
    """An int8 filter whose zero points are all 0 (quant.conv2d has no filter zero point)."""
    z = np.zeros(1) if zero_point is None else _const(ctx, zero_point)
    return ctx.element(w) == dtypes.i8 and z is not None and not np.any(z)


def _requantize_params(real: np.ndarray, zero_point: int, axis: int) -> q.RequantizeParams | None:
    """quant.requantize parameters for the real multipliers `real` (per tensor, or per index of
    `axis`); None when one is too large for TFLite's scheme (the element-wise form takes over)."""
    real = np.asarray(real, np.float64).reshape(-1)
    try:
        return q.RequantizeParams.from_scale(real, zero_point, axis=axis if real.size > 1 else None)
    except ValueError:
        return None


def _multipliers(first: np.ndarray, second: np.ndarray, out: np.ndarray) -> np.ndarray:
    """s_a · s_b / s_y in float32, as onnxruntime computes its requantization scale."""
    return (first.astype(np.float32).reshape(-1) * second.astype(np.float32).reshape(-1)) / out.astype(np.float32)


def _int8_matmul(ctx: OnnxConverter, a: SSAValue, b: SSAValue, za: int, zb: int) -> SSAValue | None:
    if ctx.rank(a) < 2 or ctx.rank(b) < 2:
        return None
    return ctx.op(q.MatMulOp, [int8_of(ctx, a), int8_of(ctx, b)], a_zero_point=g.int_attr(za),
                  b_zero_point=g.int_attr(zb))  # fmt: skip


def _int8_conv(ctx: OnnxConverter, node: OnnxNode, x: SSAValue, w: SSAValue, bias: SSAValue | None, zx: int,
               epilogue) -> SSAValue | None:  # fmt: skip
    """quant.conv2d of NCHW/NCL int8 `x` (zero point `zx`) with an OIHW/OIL int8 filter, then
    `epilogue(acc)` on the NHWC accumulators; None for 3-d convolutions."""
    if ctx.rank(x) not in (3, 4):
        return None

    def conv2d(ctx, x2, w2, b2, strides, dilations, pads, groups):
        operands = [ctx.transpose(x2, NCHW_TO_NHWC), ctx.transpose(w2, OIHW_TO_HWIO)] + ([b2] if b2 is not None else [])
        acc = ctx.op(q.Conv2DOp, operands, strides=g.ints_attr(strides), dilations=g.ints_attr(dilations),
                     pads=g.ints_attr(pads), groups=g.int_attr(groups), input_zero_point=g.int_attr(zx))  # fmt: skip
        return ctx.transpose(epilogue(acc), NHWC_TO_NCHW)

    return conv_operands(ctx, node, int8_of(ctx, x), w, bias, conv2d=conv2d)


@dataclass
class _QLinear:
    """The constant, per-tensor activation parameters of a QLinearConv/QLinearMatMul, as int8."""

    x_zero_point: int
    y_zero_point: int
    multipliers: np.ndarray  # s_x · s_w / s_y: one, or one per output channel / column
    out: Attribute  # the output's element type (int8 or uint8)


def _qlinear(ctx: OnnxConverter, inputs) -> _QLinear | None:
    x, x_scale, x_zp, w, w_scale, _, y_scale = inputs[:7]
    y_zp = inputs[7] if len(inputs) > 7 else None
    sx, sw, sy = (_const(ctx, v) for v in (x_scale, w_scale, y_scale))
    out = ctx.element(y_zp) if y_zp is not None else ctx.element(x)
    zx, zy = _zero_point8(ctx, x_zp, ctx.element(x)), _zero_point8(ctx, y_zp, out)
    if sx is None or sw is None or sy is None or sx.size != 1 or sy.size != 1 or None in (zx, zy):
        return None
    return _QLinear(zx, zy, _multipliers(sx, sw, sy), out)


def _qlinear_matmul_int8(ctx: OnnxConverter, inputs) -> SSAValue | None:
    a, b, b_zp = inputs[0], inputs[3], inputs[5]
    layer = _qlinear(ctx, inputs)
    zb = _zero_point8(ctx, b_zp, ctx.element(b))
    if layer is None or zb is None or layer.multipliers.size not in (1, ctx.shape(b)[-1]):
        return None
    params = _requantize_params(layer.multipliers, layer.y_zero_point, max(ctx.rank(a), ctx.rank(b)) - 1)
    acc = _int8_matmul(ctx, a, b, layer.x_zero_point, zb) if params is not None else None
    if acc is None:
        return None
    return _stored(ctx, ctx.op(q.RequantizeOp, [acc], **params.attributes()), layer.out)


def _qlinear_conv_int8(ctx: OnnxConverter, node: OnnxNode, inputs) -> SSAValue | None:
    x, w, w_zp = inputs[0], inputs[3], inputs[5]
    bias = inputs[8] if len(inputs) > 8 else None
    layer = _qlinear(ctx, inputs)
    if layer is None or not _symmetric_int8(ctx, w, w_zp) or (bias is not None and ctx.element(bias) != dtypes.i32):
        return None
    if layer.multipliers.size not in (1, ctx.shape(w)[0]):
        return None
    params = _requantize_params(layer.multipliers, layer.y_zero_point, 3)
    if params is None:
        return None
    requantize = lambda acc: ctx.op(q.RequantizeOp, [acc], **params.attributes())  # noqa: E731
    y8 = _int8_conv(ctx, node, x, w, bias, layer.x_zero_point, requantize)
    return None if y8 is None else _stored(ctx, y8, layer.out)


# ---------------------------------------------------------------------------------------------
# Integer matmul and convolution, element-wise (what the quant dialect cannot express)
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
    a_zp = inputs[2] if len(inputs) > 2 else None
    b_zp = inputs[3] if len(inputs) > 3 else None
    za, zb = _zero_point8(ctx, a_zp, ctx.element(inputs[0])), _zero_point8(ctx, b_zp, ctx.element(inputs[1]))
    if za is not None and zb is not None:
        acc = _int8_matmul(ctx, inputs[0], inputs[1], za, zb)
        if acc is not None:
            return [acc]
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
    contract = _qlinear_matmul_int8(ctx, inputs)
    if contract is not None:
        return [contract]
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
    zx = _zero_point8(ctx, x_zp, ctx.element(inputs[0]))
    if zx is not None and _symmetric_int8(ctx, inputs[1], w_zp):
        acc = _int8_conv(ctx, node, inputs[0], inputs[1], None, zx, lambda acc: acc)
        if acc is not None:
            return [acc]
    return [_conv_integer(ctx, node, inputs[0], inputs[1], x_zp, w_zp, None)]


@converts("QLinearConv", since=10)
def _qlinear_conv(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1, 3, 4, 6)
    contract = _qlinear_conv_int8(ctx, node, inputs)
    if contract is not None:
        return [contract]
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

