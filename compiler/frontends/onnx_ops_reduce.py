"""ONNX reductions (Reduce*), ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax.

Reductions read their axes from the `axes` attribute (older versions) or input (ReduceSum 13+,
the others 18+). Empty axes reduce everything unless `noop_with_empty_axes`, which reduces over no
axis, the elementwise parts (|x|, x², log, ...) still applying, as in the ONNX reference. A
reduction over a zero-size tensor is a constant (0, 1, ±inf or the integer limits).
`select_last_index` maps onto the graph ops' attribute of that name.
Softmax-like ops before opset 13 work on the input coerced to 2-d at `axis`.
"""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.frontends.onnx_context import (
    NodeError,
    OnnxConverter,
    OnnxNode,
    Unsupported,
    converts,
    need,
    normalize_axes,
    normalize_axis,
    product,
)

_AXES_INPUT_SINCE = {"ReduceSum": 13}
_REDUCTIONS = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
               "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")  # fmt: skip


def _reduction_axes(ctx: OnnxConverter, node: OnnxNode, inputs, rank: int) -> list[int]:
    if node.version >= _AXES_INPUT_SINCE.get(node.op_type, 18):
        axes = ctx.optional_static_ints(inputs, 1)
        noop = node.get_int("noop_with_empty_axes", 0)
    else:
        axes = node.get_ints("axes", None)
        noop = 0
    if not axes:
        return [] if noop else list(range(rank))
    return sorted(normalize_axes(axes, rank))


def _empty_result(ctx: OnnxConverter, node: OnnxNode, x: SSAValue, out_shape: list[int]) -> SSAValue:
    dtype = ctx.np_dtype(x)
    is_float = ctx.is_float(x)
    values = {
        "ReduceSum": 0, "ReduceL1": 0, "ReduceL2": 0, "ReduceSumSquare": 0, "ReduceProd": 1,
        "ReduceMean": np.nan, "ReduceLogSum": -np.inf, "ReduceLogSumExp": -np.inf,
        "ReduceMax": -np.inf if is_float else (np.iinfo(dtype).min if dtype != np.bool_ else False),
        "ReduceMin": np.inf if is_float else (np.iinfo(dtype).max if dtype != np.bool_ else True),
    }  # fmt: skip
    return ctx.broadcast_to(ctx.const(np.asarray(values[node.op_type]).astype(dtype)), out_shape)


def _reduce(ctx: OnnxConverter, cls, x: SSAValue, axes: list[int], keep: bool) -> SSAValue:
    return ctx.reduce(cls, x, axes, keep)


@converts(*_REDUCTIONS)
def _reduction(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    shape = ctx.shape(x)
    axes = _reduction_axes(ctx, node, inputs, len(shape))
    keep = bool(node.get_int("keepdims", 1))
    out_shape = [1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes]
    op = node.op_type
    if op in ("ReduceL2", "ReduceLogSum", "ReduceLogSumExp") and not ctx.is_float(x):
        raise Unsupported(f"{op} on {x.type}: only floating-point inputs are supported")
    if product(shape) == 0 and axes:
        return [_empty_result(ctx, node, x, out_shape)]
    if op in ("ReduceMax", "ReduceMin") and dtypes.is_bool(ctx.element(x)):
        return [_reduce(ctx, g.ReduceAnyOp if op == "ReduceMax" else g.ReduceAllOp, x, axes, keep)]
    simple = {"ReduceSum": g.ReduceSumOp, "ReduceMean": g.ReduceMeanOp, "ReduceMax": g.ReduceMaxOp,
              "ReduceMin": g.ReduceMinOp, "ReduceProd": g.ReduceProdOp}  # fmt: skip
    if op in simple:
        return [_reduce(ctx, simple[op], x, axes, keep)]
    if op == "ReduceL1":
        return [_reduce(ctx, g.ReduceSumOp, ctx.op(g.AbsOp, [x]), axes, keep)]
    if op in ("ReduceL2", "ReduceSumSquare"):
        total = _reduce(ctx, g.ReduceSumOp, ctx.op(g.MulOp, [x, x]), axes, keep)
        return [ctx.op(g.SqrtOp, [total]) if op == "ReduceL2" else total]
    if op == "ReduceLogSum":
        return [ctx.op(g.LogOp, [_reduce(ctx, g.ReduceSumOp, x, axes, keep)])]
    # ReduceLogSumExp, shifted by the maximum (kept finite) so that exp cannot overflow.
    if not axes:
        return [ctx.op(g.LogOp, [ctx.op(g.ExpOp, [x])])]
    peak = _reduce(ctx, g.ReduceMaxOp, x, axes, True)
    infinite = ctx.op(g.EqOp, [ctx.op(g.AbsOp, [peak]), ctx.scalar(np.inf, peak)])
    shift = ctx.op(g.SelectOp, [infinite, ctx.scalar(0, peak), peak])
    total = _reduce(ctx, g.ReduceSumOp, ctx.op(g.ExpOp, [ctx.op(g.SubOp, [x, shift])]), axes, True)
    out = ctx.op(g.AddOp, [ctx.op(g.LogOp, [total]), shift])
    return [ctx.reshape(out, out_shape)]


# ---------------------------------------------------------------------------------------------
# ArgMax / ArgMin
# ---------------------------------------------------------------------------------------------


@converts("ArgMax", "ArgMin")
def _arg_reduce(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    shape = ctx.shape(x)
    axis = normalize_axis(node.get_int("axis", 0), len(shape))
    keep = bool(node.get_int("keepdims", 1))
    last = node.get_int("select_last_index", 0) if node.version >= 12 else 0
    cls = g.ArgMaxOp if node.op_type == "ArgMax" else g.ArgMinOp
    if dtypes.is_bool(ctx.element(x)):
        x = ctx.cast(x, dtypes.i8)
    attrs = {"select_last_index": g.int_attr(1)} if last else {}
    index = ctx.op(cls, [x], axis=g.int_attr(axis), index_type=dtypes.i64, **attrs)
    if keep:
        index = ctx.reshape(index, [1 if i == axis else d for i, d in enumerate(shape)])
    return [index]


# ---------------------------------------------------------------------------------------------
# Softmax family
# ---------------------------------------------------------------------------------------------


def _coerced(ctx: OnnxConverter, node: OnnxNode, x: SSAValue) -> tuple[SSAValue, int]:
    """(value, axis) to normalize over: before opset 13, the input flattened to 2-d at `axis`."""
    rank = ctx.rank(x)
    if node.version >= 13:
        return x, normalize_axis(node.get_int("axis", -1), rank)
    axis = node.get_int("axis", 1)
    if not -rank <= axis <= rank:
        raise NodeError(f"axis {axis} is out of range for rank {rank}")
    axis = axis + rank if axis < 0 else axis
    shape = ctx.shape(x)
    return ctx.reshape(x, [product(shape[:axis]), product(shape[axis:])]), 1


@converts("Softmax", "LogSoftmax")
def _softmax(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    if not ctx.is_float(x):
        raise NodeError(f"needs a floating-point input, got {x.type}")
    if ctx.rank(x) == 0:
        raise NodeError("needs a tensor of rank 1 or more")
    y, axis = _coerced(ctx, node, x)
    cls = g.SoftmaxOp if node.op_type == "Softmax" else g.LogSoftmaxOp
    out = ctx.op(cls, [y], axis=g.int_attr(axis))
    return [ctx.reshape(out, ctx.shape(x))]


@converts("Hardmax")
def _hardmax(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    y, axis = _coerced(ctx, node, x)
    shape = ctx.shape(y)
    index = ctx.op(g.ArgMaxOp, [y], axis=g.int_attr(axis), index_type=dtypes.i64)
    index = ctx.reshape(index, [1 if i == axis else d for i, d in enumerate(shape)])
    iota = ctx.const(np.arange(shape[axis], dtype=np.int64).reshape([shape[axis] if i == axis else 1 for i in range(len(shape))]))
    hot = ctx.cast(ctx.op(g.EqOp, [index, iota]), ctx.element(x))
    return [ctx.reshape(hot, ctx.shape(x))]
