"""ONNX indexing and selection ops: Gather, GatherElements, GatherND, ScatterElements, ScatterND,
Scatter, OneHot, Trilu, EyeLike, TopK, CumSum, CumProd, ReverseSequence, and the data-dependent
Compress, NonZero and Unique.

GatherElements, ScatterElements (and the deprecated Scatter, its opset 9-10 form), ScatterND and
CumProd map one to one onto `graph.gather_elements`, `graph.scatter_elements`, `graph.scatter_nd`
and `graph.cumprod`; ONNX calls duplicate indices with reduction "none" and out-of-range indices
undefined, and graphc gives them the graph ops' meaning (the last update wins; dropped). TopK's `largest=0` reverses the order with an exact bijection (negation
for floats, bitwise not for signed and `max - x` for unsigned integers). The ops whose result shape
depends on data (Compress's condition, NonZero, Unique) need those operands at compile time.
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
    converts,
    element_type,
    need,
    normalize_axis,
)
from graphc.frontends.onnx_ops_shape import slice_axis

# ---------------------------------------------------------------------------------------------
# Gathers
# ---------------------------------------------------------------------------------------------


def _index(ctx: OnnxConverter, indices: SSAValue) -> SSAValue:
    if not dtypes.is_integer(ctx.element(indices)):
        raise NodeError(f"indices must be integers, got {indices.type}")
    return indices


@converts("Gather")
def _gather(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    x, indices = inputs[0], _index(ctx, inputs[1])
    axis = normalize_axis(node.get_int("axis", 0), ctx.rank(x))
    return [ctx.op(g.GatherOp, [x, indices], axis=g.int_attr(axis), batch_dims=g.int_attr(0))]


@converts("GatherElements", since=11)
def _gather_elements(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    x, indices = inputs[0], _index(ctx, inputs[1])
    axis = normalize_axis(node.get_int("axis", 0), ctx.rank(x))
    return [ctx.op(g.GatherElementsOp, [x, indices], axis=g.int_attr(axis))]


@converts("GatherND", since=11)
def _gather_nd(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    x, indices = inputs[0], _index(ctx, inputs[1])
    batch_dims = node.get_int("batch_dims", 0) if node.version >= 12 else 0
    return [ctx.op(g.GatherNdOp, [x, indices], batch_dims=g.int_attr(batch_dims))]


# ---------------------------------------------------------------------------------------------
# Scatters
# ---------------------------------------------------------------------------------------------


def _scatter_operands(ctx: OnnxConverter, node: OnnxNode, inputs) -> tuple[SSAValue, SSAValue, SSAValue, str]:
    need(node, inputs, 0, 1, 2)
    x, indices, updates = inputs[0], _index(ctx, inputs[1]), inputs[2]
    if ctx.element(updates) != ctx.element(x):
        raise NodeError(f"updates {updates.type} and data {x.type} differ in element type")
    reduction = node.get_str("reduction", "none") if node.version >= 16 else "none"
    if reduction not in g.SCATTER_REDUCTIONS:
        raise NodeError(f"reduction '{reduction}' is not one of {', '.join(g.SCATTER_REDUCTIONS)}")
    return x, indices, updates, reduction


@converts("Scatter", since=9)
@converts("ScatterElements", since=11)
def _scatter_elements(ctx: OnnxConverter, node: OnnxNode, inputs):
    x, indices, updates, reduction = _scatter_operands(ctx, node, inputs)
    if ctx.rank(indices) != ctx.rank(x) or ctx.shape(updates) != ctx.shape(indices):
        raise NodeError(f"indices {indices.type} and updates {updates.type} do not fit data {x.type}")
    axis = normalize_axis(node.get_int("axis", 0), ctx.rank(x))
    return [ctx.op(g.ScatterElementsOp, [x, indices, updates], axis=g.int_attr(axis), reduction=g.str_attr(reduction))]


@converts("ScatterND", since=11)
def _scatter_nd(ctx: OnnxConverter, node: OnnxNode, inputs):
    x, indices, updates, reduction = _scatter_operands(ctx, node, inputs)
    return [ctx.op(g.ScatterNdOp, [x, indices, updates], reduction=g.str_attr(reduction))]


# ---------------------------------------------------------------------------------------------
# One-hot, triangles, identity
# ---------------------------------------------------------------------------------------------


@converts("OneHot", since=9, static=(1,))
def _one_hot(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1, 2)
    indices, values = inputs[0], inputs[2]
    depth_values = ctx.static(inputs, 1).reshape(-1)
    if depth_values.size != 1:
        raise NodeError("depth must be a scalar")
    depth = int(depth_values[0])
    if depth < 1:
        raise NodeError(f"depth {depth} must be positive")
    if ctx.size(values) != 2:
        raise NodeError(f"values must hold [off_value, on_value], got {values.type}")
    rank = ctx.rank(indices) + 1
    axis = normalize_axis(node.get_int("axis", -1), rank)
    idx = ctx.cast(indices, dtypes.i64)  # float indices truncate, as in the ONNX reference
    idx = ctx.op(g.SelectOp, [ctx.op(g.LtOp, [idx, ctx.scalar(0, idx)]), ctx.op(g.AddOp, [idx, ctx.scalar(depth, idx)]), idx])
    out_shape = list(ctx.shape(indices))
    out_shape.insert(axis, depth)
    idx = ctx.reshape(idx, [1 if i == axis else d for i, d in enumerate(out_shape)])
    iota = ctx.const(np.arange(depth, dtype=np.int64).reshape([depth if i == axis else 1 for i in range(rank)]))
    hot = ctx.op(g.EqOp, [idx, iota])
    flat = ctx.reshape(values, [2])
    off = ctx.reshape(slice_axis(ctx, flat, 0, 0, 1), [])
    on = ctx.reshape(slice_axis(ctx, flat, 0, 1, 2), [])
    return [ctx.broadcast_to(ctx.op(g.SelectOp, [hot, on, off]), out_shape)]


@converts("Trilu", since=14, static=(1,))
def _trilu(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    if ctx.rank(x) < 2:
        raise NodeError(f"needs a tensor of rank 2 or more, got {x.type}")
    k = 0
    if len(inputs) > 1 and inputs[1] is not None:
        k = int(ctx.static(inputs, 1).reshape(-1)[0])
    rows, cols = ctx.shape(x)[-2:]
    diff = np.arange(cols)[None, :] - np.arange(rows)[:, None]
    keep = diff >= k if node.get_int("upper", 1) else diff <= k
    zero = ctx.scalar(0, x)
    return [ctx.op(g.SelectOp, [ctx.const(keep), x, zero])]


@converts("EyeLike", since=9)
def _eye_like(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    if ctx.rank(x) != 2:
        raise NodeError(f"needs a 2-d input, got {x.type}")
    dtype = dtypes.to_numpy_dtype(element_type(node.get_int("dtype")) if node.has("dtype") else ctx.element(x))
    rows, cols = ctx.shape(x)
    return [ctx.const(np.eye(rows, cols, k=node.get_int("k", 0), dtype=dtype))]


# ---------------------------------------------------------------------------------------------
# TopK and CumSum
# ---------------------------------------------------------------------------------------------


def _order_reversed(ctx: OnnxConverter, x: SSAValue) -> SSAValue:
    """An exact, order-reversing bijection of x's values (its own inverse)."""
    element = ctx.element(x)
    if dtypes.is_float(element):
        return ctx.op(g.NegOp, [x])
    if dtypes.is_unsigned(element):
        return ctx.op(g.SubOp, [ctx.scalar(np.iinfo(ctx.np_dtype(x)).max, x), x])
    if dtypes.is_integer(element):
        return ctx.op(g.XorOp, [x, ctx.scalar(-1, x)])
    raise NodeError(f"cannot order {x.type}")


@converts("TopK", static=(1,))
def _top_k(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    rank = ctx.rank(x)
    k = node.get_int("k") if node.version < 10 else int(ctx.static(inputs, 1).reshape(-1)[0])
    axis = normalize_axis(node.get_int("axis", -1), rank)
    largest = node.get_int("largest", 1) if node.version >= 11 else 1
    perm = [i for i in range(rank) if i != axis] + [axis]
    y = ctx.transpose(x, perm)
    if not largest:
        y = _order_reversed(ctx, y)
    values, indices = ctx.emit(g.TopKOp, [y], k=g.int_attr(k), index_type=dtypes.i64).results
    if not largest:
        values = _order_reversed(ctx, values)
    inverse = [perm.index(i) for i in range(rank)]
    return [ctx.transpose(values, inverse), ctx.transpose(indices, inverse)]


@converts("CumSum", since=11, static=(1,))
def _cumsum(ctx: OnnxConverter, node: OnnxNode, inputs):
    """graph.cumsum plus exact rewrites: `reverse` by reversing around it, `exclusive` by shifting
    the inclusive sums one place (a zero in front, the last sum dropped)."""
    need(node, inputs, 0)
    x = inputs[0]
    axis = normalize_axis(int(ctx.static(inputs, 1).reshape(-1)[0]), ctx.rank(x))
    reverse, exclusive = node.get_int("reverse", 0), node.get_int("exclusive", 0)
    if reverse:
        x = ctx.op(g.ReverseOp, [x], axes=g.ints_attr([axis]))
    y = ctx.op(g.CumsumOp, [x], axis=g.int_attr(axis), exclusive=g.int_attr(0), reverse=g.int_attr(0))
    if exclusive and ctx.shape(y)[axis] > 0:
        low, high = [0] * ctx.rank(y), [0] * ctx.rank(y)
        low[axis], high[axis] = 1, -1
        y = ctx.op(g.PadOp, [y], low=g.ints_attr(low), high=g.ints_attr(high), interior=g.ints_attr([0] * len(low)),
                   mode=g.str_attr("constant"), value=g.float_attr(0.0))  # fmt: skip
    if reverse:
        y = ctx.op(g.ReverseOp, [y], axes=g.ints_attr([axis]))
    return [y]


@converts("CumProd", since=26, static=(1,))
def _cumprod(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    if dtypes.is_bool(ctx.element(x)):
        raise NodeError(f"needs a numeric input, got {x.type}")
    axis = normalize_axis(int(ctx.static(inputs, 1).reshape(-1)[0]), ctx.rank(x))
    exclusive, reverse = node.get_int("exclusive", 0), node.get_int("reverse", 0)
    return [ctx.op(g.CumprodOp, [x], axis=g.int_attr(axis), exclusive=g.int_attr(int(bool(exclusive))),
                   reverse=g.int_attr(int(bool(reverse))))]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Sequences
# ---------------------------------------------------------------------------------------------


@converts("ReverseSequence", since=10, static=(1,))
def _reverse_sequence(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    lengths = ctx.static_ints(inputs, 1)
    batch_axis, time_axis = node.get_int("batch_axis", 1), node.get_int("time_axis", 0)
    if {batch_axis, time_axis} != {0, 1}:
        raise NodeError(f"batch_axis {batch_axis} and time_axis {time_axis} must be 0 and 1")
    rank = ctx.rank(x)
    perm = [batch_axis, time_axis] + list(range(2, rank))
    y = ctx.transpose(x, perm)
    batch, time = ctx.shape(y)[:2]
    if len(lengths) != batch or any(not 0 <= n <= time for n in lengths):
        raise NodeError(f"sequence_lens {lengths} do not fit batch {batch} and time {time}")
    tuples = np.zeros((batch, time, 2), np.int64)
    for b, n in enumerate(lengths):
        tuples[b, :, 0] = b
        tuples[b, :, 1] = [n - 1 - t if t < n else t for t in range(time)]
    y = ctx.op(g.GatherNdOp, [y, ctx.const(tuples)], batch_dims=g.int_attr(0))
    return [ctx.transpose(y, [perm.index(i) for i in range(rank)])]


# ---------------------------------------------------------------------------------------------
# Data-dependent shapes: the deciding operand must be known at compile time
# ---------------------------------------------------------------------------------------------


@converts("Compress", since=9, static=(1,))
def _compress(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    condition = ctx.static(inputs, 1).reshape(-1).astype(bool)
    if not node.has("axis"):
        x = ctx.reshape(x, [ctx.size(x)])
        axis = 0
    else:
        axis = normalize_axis(node.get_int("axis"), ctx.rank(x))
    dim = ctx.shape(x)[axis]
    if condition.size > dim:
        raise NodeError(f"condition has {condition.size} entries, dimension {axis} has {dim}")
    picks = np.nonzero(condition)[0].astype(np.int64)
    return [ctx.op(g.GatherOp, [x, ctx.const(picks)], axis=g.int_attr(axis), batch_dims=g.int_attr(0))]


@converts("NonZero", since=9, static=(0,))
def _non_zero(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = ctx.static(inputs, 0)
    return [ctx.const(np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1))]


@converts("Unique", since=11, static=(0,))
def _unique(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = ctx.static(inputs, 0)
    axis = node.get_int("axis", None)
    if axis is not None:
        axis = normalize_axis(axis, x.ndim)
    values, first, inverse, counts = np.unique(x, return_index=True, return_inverse=True, return_counts=True, axis=axis)
    inverse = inverse.reshape(-1)
    if not node.get_int("sorted", 1):  # order of first occurrence
        order = np.argsort(first, kind="stable")
        rank_of = np.empty_like(order)
        rank_of[order] = np.arange(order.size)
        values = np.take(values, order, axis=0 if axis is None else axis)
        first, counts, inverse = first[order], counts[order], rank_of[inverse]
    outs = [values, first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64)]
    return [ctx.const(np.ascontiguousarray(o)) for o in outs]

