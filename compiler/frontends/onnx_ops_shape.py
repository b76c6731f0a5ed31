"""ONNX shape and data-movement ops: constants, Shape/Size, reshapes, transposes, concatenation,
splitting, slicing, padding, Expand, Tile, Range, DepthToSpace/SpaceToDepth.

Shapes are static, so Shape and Size become constants, and every shape-determining operand (a
Reshape's shape, Slice's starts, Pad's pads, ...) is read at compile time with `ctx.static`. Older
schema versions that took these as attributes are handled by the same converters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import SSAValue

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
    sparse_to_dense,
    tensor_to_array,
)

INT64_MAX = np.iinfo(np.int64).max

# ---------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------


@converts("Constant")
def _constant(ctx: OnnxConverter, node: OnnxNode, inputs):
    hint = node.outputs[0] if node.outputs else node.name
    if node.has("value"):
        array = tensor_to_array(node.get_tensor("value"))
    elif node.has("sparse_value"):
        array = sparse_to_dense(node.attrs["sparse_value"].sparse_tensor)
    elif node.has("value_float"):
        array = np.asarray(node.get_float("value_float"), np.float32)
    elif node.has("value_floats"):
        array = np.asarray(node.get_floats("value_floats"), np.float32)
    elif node.has("value_int"):
        array = np.asarray(node.get_int("value_int"), np.int64)
    elif node.has("value_ints"):
        array = np.asarray(node.get_ints("value_ints"), np.int64)
    elif node.has("value_string") or node.has("value_strings"):
        raise Unsupported("string constants are not supported")
    else:
        raise NodeError("the Constant has no value attribute")
    return [ctx.const(array, hint)]


@converts("ConstantOfShape", since=9, static=(0,))
def _constant_of_shape(ctx: OnnxConverter, node: OnnxNode, inputs):
    shape = ctx.static_ints(inputs, 0)
    if any(d < 0 for d in shape):
        raise NodeError(f"negative dimension in {shape}")
    value = node.get_tensor("value", None)
    array = tensor_to_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    if array.size != 1:
        raise NodeError("'value' must hold one element")
    return [filled(ctx, array.reshape(()), shape)]


def filled(ctx: OnnxConverter, scalar: np.ndarray, shape: Sequence[int]) -> SSAValue:
    """A tensor of `shape` filled with `scalar`: a constant when small, else a broadcast."""
    shape = [int(d) for d in shape]
    if product(shape) <= 16:
        return ctx.const(np.full(shape, scalar, dtype=scalar.dtype))
    return ctx.broadcast_to(ctx.const(np.asarray(scalar)), shape)


@converts("Shape")
def _shape(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    shape = list(ctx.shape(inputs[0]))
    rank = len(shape)
    start = node.get_int("start", 0) if node.version >= 15 else 0
    end = node.get_int("end", rank) if node.version >= 15 else rank
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return [ctx.const(np.asarray(shape[start:end], np.int64))]


@converts("Size")
def _size(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    return [ctx.const(np.asarray(product(ctx.shape(inputs[0])), np.int64))]


# ---------------------------------------------------------------------------------------------
# Reshapes
# ---------------------------------------------------------------------------------------------


def resolve_reshape(in_shape: Sequence[int], target: Sequence[int], allowzero: bool) -> list[int]:
    target = [int(d) for d in target]
    if not allowzero:
        for i, d in enumerate(target):
            if d == 0:
                if i >= len(in_shape):
                    raise NodeError(f"shape {target} copies dimension {i}, which the input {list(in_shape)} lacks")
                target[i] = int(in_shape[i])
    unknown = [i for i, d in enumerate(target) if d == -1]
    if len(unknown) > 1 or any(d < -1 for d in target):
        raise NodeError(f"bad target shape {target}")
    total = product(in_shape)
    if unknown:
        known = product(d for d in target if d != -1)
        if known == 0 or total % known:
            raise NodeError(f"cannot reshape {list(in_shape)} to {target}")
        target[unknown[0]] = total // known
    if product(target) != total:
        raise NodeError(f"cannot reshape {list(in_shape)} ({total} elements) to {target}")
    return target


@converts("Reshape", since=5, static=(1,))
def _reshape(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    target = ctx.static_ints(inputs, 1)
    allowzero = node.version >= 14 and bool(node.get_int("allowzero", 0))
    return [ctx.reshape(inputs[0], resolve_reshape(ctx.shape(inputs[0]), target, allowzero))]


@converts("Reshape", since=1, until=4)
def _reshape_v1(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    return [ctx.reshape(inputs[0], resolve_reshape(ctx.shape(inputs[0]), node.get_ints("shape"), False))]


@converts("Flatten")
def _flatten(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    shape = ctx.shape(inputs[0])
    axis = node.get_int("axis", 1)
    rank = len(shape)
    if not -rank <= axis <= rank:
        raise NodeError(f"axis {axis} is out of range for rank {rank}")
    axis = axis + rank if axis < 0 else axis
    return [ctx.reshape(inputs[0], [product(shape[:axis]), product(shape[axis:])])]


def _axes(ctx: OnnxConverter, node: OnnxNode, inputs, index: int, since_input: int) -> list[int] | None:
    """Axes from input `index` (schema versions >= since_input) or the `axes` attribute."""
    if node.version >= since_input:
        return ctx.optional_static_ints(inputs, index)
    return node.get_ints("axes", None)


@converts("Squeeze", static=(1,))
def _squeeze(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    shape = ctx.shape(x)
    axes = _axes(ctx, node, inputs, 1, 13)
    if axes is None:
        drop = {i for i, d in enumerate(shape) if d == 1}
    else:
        drop = set(normalize_axes(axes, len(shape)))
        bad = [a for a in drop if shape[a] != 1]
        if bad:
            raise NodeError(f"cannot squeeze axes {sorted(bad)} of shape {list(shape)}: their size is not 1")
    return [ctx.reshape(x, [d for i, d in enumerate(shape) if i not in drop])]


@converts("Unsqueeze", static=(1,))
def _unsqueeze(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    shape = list(ctx.shape(x))
    axes = _axes(ctx, node, inputs, 1, 13)
    if axes is None:
        raise NodeError("axes are missing")
    rank = len(shape) + len(axes)
    axes = sorted(normalize_axes(axes, rank))
    out = []
    it = iter(shape)
    for i in range(rank):
        out.append(1 if i in axes else next(it))
    return [ctx.reshape(x, out)]


@converts("Transpose")
def _transpose(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    rank = ctx.rank(inputs[0])
    perm = node.get_ints("perm", None)
    perm = list(reversed(range(rank))) if perm is None else perm
    if sorted(perm) != list(range(rank)):
        raise NodeError(f"perm {perm} is not a permutation of {rank} axes")
    return [ctx.transpose(inputs[0], perm)]


# ---------------------------------------------------------------------------------------------
# Concat and Split
# ---------------------------------------------------------------------------------------------


@converts("Concat")
def _concat(ctx: OnnxConverter, node: OnnxNode, inputs):
    values = [v for v in inputs if v is not None]
    if not values:
        raise NodeError("needs at least one input")
    rank = ctx.rank(values[0])
    if node.has("axis"):
        axis = normalize_axis(node.get_int("axis"), rank)
    elif node.version < 4:
        axis = 1
    else:
        raise NodeError("attribute 'axis' is missing")
    nonempty = [v for v in values if ctx.shape(v)[axis] != 0] or values[:1]
    return [ctx.concat(nonempty, axis)]


def slice_axis(ctx: OnnxConverter, x: SSAValue, axis: int, start: int, stop: int, step: int = 1) -> SSAValue:
    shape = ctx.shape(x)
    starts, limits, steps = [0] * len(shape), list(shape), [1] * len(shape)
    starts[axis], limits[axis], steps[axis] = start, stop, step
    return ctx.slice(x, starts, limits, steps)


def split_sizes(ctx: OnnxConverter, x: SSAValue, axis: int, sizes: Sequence[int]) -> list[SSAValue]:
    if sum(sizes) != ctx.shape(x)[axis] or any(s < 0 for s in sizes):
        raise NodeError(f"split sizes {list(sizes)} do not add up to dimension {axis} of {list(ctx.shape(x))}")
    out, start = [], 0
    for size in sizes:
        out.append(slice_axis(ctx, x, axis, start, start + size))
        start += size
    return out


@converts("Split", static=(1,))
def _split(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    axis = normalize_axis(node.get_int("axis", 0), ctx.rank(x))
    dim = ctx.shape(x)[axis]
    count = len(node.outputs)
    if node.version >= 13:
        sizes = ctx.optional_static_ints(inputs, 1)
    elif node.version < 2 and len(inputs) > 1 and inputs[1] is not None:
        sizes = ctx.static_ints(inputs, 1)
    else:
        sizes = node.get_ints("split", None)
    if sizes is None:
        if node.version >= 18 and node.has("num_outputs"):
            count = node.get_int("num_outputs")
            chunk = -(-dim // count)
            sizes = [min(chunk, dim - i * chunk) for i in range(count)]
            if any(s <= 0 for s in sizes):
                raise NodeError(f"cannot split dimension {dim} into {count} parts")
        else:
            if dim % count:
                raise NodeError(f"cannot split dimension {dim} into {count} equal parts")
            sizes = [dim // count] * count
    return split_sizes(ctx, x, axis, sizes)


# ---------------------------------------------------------------------------------------------
# Slice
# ---------------------------------------------------------------------------------------------


def slice_value(ctx: OnnxConverter, x: SSAValue, starts, ends, axes, steps) -> SSAValue:
    """numpy-style slicing (clamped indices, negative steps) as reverse + positive-stride slice."""
    shape = ctx.shape(x)
    rank = len(shape)
    axes = normalize_axes(axes, rank) if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise NodeError(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} differ in length")
    lo, hi, st = [0] * rank, list(shape), [1] * rank
    reverse = []
    for start, end, axis, step in zip(starts, ends, axes, steps):
        dim = shape[axis]
        if step == 0:
            raise NodeError("slice steps must not be 0")
        begin, stop, stride = slice(int(start), int(end), int(step)).indices(dim)
        count = len(range(begin, stop, stride))
        if stride > 0:
            lo[axis], hi[axis], st[axis] = begin, begin + max(count - 1, 0) * stride + (1 if count else 0), stride
            if not count:
                lo[axis] = hi[axis] = 0
        else:  # walk the reversed axis forward
            reverse.append(axis)
            first = dim - 1 - begin
            lo[axis], hi[axis], st[axis] = first, first + max(count - 1, 0) * -stride + (1 if count else 0), -stride
            if not count:
                lo[axis] = hi[axis] = 0
    if reverse:
        x = ctx.op(g.ReverseOp, [x], axes=g.ints_attr(sorted(reverse)))
    return ctx.slice(x, lo, hi, st)


@converts("Slice", since=10, static=(1, 2, 3, 4))
def _slice(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    starts = ctx.static_ints(inputs, 1)
    ends = ctx.static_ints(inputs, 2)
    axes = ctx.optional_static_ints(inputs, 3)
    steps = ctx.optional_static_ints(inputs, 4)
    return [slice_value(ctx, inputs[0], starts, ends, axes, steps)]


@converts("Slice", since=1, until=9)
def _slice_v1(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    starts, ends = node.get_ints("starts"), node.get_ints("ends")
    return [slice_value(ctx, inputs[0], starts, ends, node.get_ints("axes", None), None)]


# ---------------------------------------------------------------------------------------------
# Expand, Tile, Range
# ---------------------------------------------------------------------------------------------


@converts("Expand", since=8, static=(1,))
def _expand(ctx: OnnxConverter, node: OnnxNode, inputs):
    """Bidirectional broadcast: the result's shape is broadcast(input shape, shape)."""
    need(node, inputs, 0)
    x = inputs[0]
    shape = ctx.static_ints(inputs, 1)
    try:
        out = np.broadcast_shapes(tuple(ctx.shape(x)), tuple(shape))
    except ValueError:
        raise NodeError(f"shape {shape} does not broadcast with {list(ctx.shape(x))}") from None
    x = ctx.reshape(x, [1] * (len(out) - ctx.rank(x)) + list(ctx.shape(x)))
    return [ctx.broadcast_to(x, out)]


@converts("Tile", since=6, static=(1,))
def _tile(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    repeats = ctx.static_ints(inputs, 1)
    if len(repeats) != ctx.rank(inputs[0]) or any(r < 0 for r in repeats):
        raise NodeError(f"repeats {repeats} do not match the rank of {inputs[0].type}")
    return [ctx.tile(inputs[0], repeats)]


@converts("Range", since=11, static=(0, 1, 2))
def _range(ctx: OnnxConverter, node: OnnxNode, inputs):
    start, limit, delta = (ctx.static(inputs, i).reshape(-1) for i in range(3))
    if start.size != 1 or limit.size != 1 or delta.size != 1:
        raise NodeError("start, limit and delta must be scalars")
    dtype = start.dtype
    if delta[0] == 0:
        raise NodeError("delta must not be 0")
    count = max(int(np.ceil((float(limit[0]) - float(start[0])) / float(delta[0]))), 0)
    if count > 1 << 26:
        raise NodeError(f"a range of {count} elements is too large")
    if dtype.kind in "iu":
        values = (int(start[0]) + int(delta[0]) * np.arange(count, dtype=np.int64)).astype(dtype)
    else:
        values = np.arange(start[0], limit[0], delta[0]).astype(dtype)[:count]
    return [ctx.const(values)]


# ---------------------------------------------------------------------------------------------
# Padding
# ---------------------------------------------------------------------------------------------


def pad_value(ctx: OnnxConverter, x: SSAValue, low: list[int], high: list[int], mode: str, value: float) -> SSAValue:
    """ONNX Pad: `constant` (negative pads crop), `reflect`, `edge` and `wrap`."""
    if not any(low) and not any(high):
        return x
    if mode == "constant":
        return ctx.op(g.PadOp, [x], low=g.ints_attr(low), high=g.ints_attr(high),
                      interior=g.ints_attr([0] * len(low)), mode=g.str_attr("constant"),
                      value=g.float_attr(value))  # fmt: skip
    # Negative pads crop first; the mirror modes then only grow.
    shape = ctx.shape(x)
    crop_lo = [max(-p, 0) for p in low]
    crop_hi = [d - max(-p, 0) for d, p in zip(shape, high)]
    x = ctx.slice(x, crop_lo, crop_hi)
    low, high = [max(p, 0) for p in low], [max(p, 0) for p in high]
    if mode == "reflect":
        shape = ctx.shape(x)
        if any(p >= d for p, d in zip(low + high, shape + shape) if p):
            raise Unsupported(f"reflect padding {low}, {high} reaches past the edge of {list(shape)}")
        return ctx.op(g.PadOp, [x], low=g.ints_attr(low), high=g.ints_attr(high),
                      interior=g.ints_attr([0] * len(low)), mode=g.str_attr("reflect"),
                      value=g.float_attr(0.0))  # fmt: skip
    for axis, (lo, hi) in enumerate(zip(low, high)):
        if not lo and not hi:
            continue
        dim = ctx.shape(x)[axis]
        if dim == 0:
            raise NodeError(f"cannot pad an empty dimension in '{mode}' mode")
        parts = []
        if mode == "edge":
            if lo:
                parts.append(_repeat_along(ctx, slice_axis(ctx, x, axis, 0, 1), axis, lo))
            parts.append(x)
            if hi:
                parts.append(_repeat_along(ctx, slice_axis(ctx, x, axis, dim - 1, dim), axis, hi))
        elif mode == "wrap":
            if lo > dim or hi > dim:
                raise Unsupported(f"wrap padding larger than the dimension ({dim})")
            if lo:
                parts.append(slice_axis(ctx, x, axis, dim - lo, dim))
            parts.append(x)
            if hi:
                parts.append(slice_axis(ctx, x, axis, 0, hi))
        else:
            raise NodeError(f"mode '{mode}' is not constant, reflect, edge or wrap")
        x = ctx.concat(parts, axis)
    return x


def _repeat_along(ctx: OnnxConverter, x: SSAValue, axis: int, count: int) -> SSAValue:
    shape = list(ctx.shape(x))
    shape[axis] = count
    return ctx.broadcast_to(x, shape)


@converts("Pad", since=11, static=(1, 2, 3))
def _pad(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    rank = ctx.rank(x)
    pads = ctx.static_ints(inputs, 1)
    axes = ctx.optional_static_ints(inputs, 3) if node.version >= 18 else None
    axes = normalize_axes(axes, rank) if axes is not None else list(range(rank))
    if len(pads) != 2 * len(axes):
        raise NodeError(f"pads {pads} do not match {len(axes)} axes")
    low, high = [0] * rank, [0] * rank
    for i, axis in enumerate(axes):
        low[axis], high[axis] = pads[i], pads[i + len(axes)]
    value = 0.0
    if len(inputs) > 2 and inputs[2] is not None:
        constant = ctx.static(inputs, 2).reshape(-1)
        if constant.size != 1:
            raise NodeError("constant_value must be a scalar")
        value = float(constant[0])
    return [pad_value(ctx, x, low, high, node.get_str("mode", "constant"), value)]


@converts("Pad", since=2, until=10)
def _pad_v2(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    rank = ctx.rank(x)
    pads = node.get_ints("pads")
    if len(pads) != 2 * rank:
        raise NodeError(f"pads {pads} do not match rank {rank}")
    return [pad_value(ctx, x, pads[:rank], pads[rank:], node.get_str("mode", "constant"), node.get_float("value", 0.0))]


# ---------------------------------------------------------------------------------------------
# DepthToSpace / SpaceToDepth (NCHW, done with reshapes and transposes)
# ---------------------------------------------------------------------------------------------


@converts("DepthToSpace")
def _depth_to_space(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    if ctx.rank(x) != 4:
        raise Unsupported(f"needs a 4-d NCHW input, got {x.type}")
    n, c, h, w = ctx.shape(x)
    b = node.get_int("blocksize")
    if b < 1 or c % (b * b):
        raise NodeError(f"channels {c} are not a multiple of blocksize² ({b}²)")
    mode = node.get_str("mode", "DCR") if node.version >= 11 else "DCR"
    if mode == "DCR":
        y = ctx.reshape(x, [n, b, b, c // (b * b), h, w])
        y = ctx.transpose(y, [0, 3, 4, 1, 5, 2])
    elif mode == "CRD":
        y = ctx.reshape(x, [n, c // (b * b), b, b, h, w])
        y = ctx.transpose(y, [0, 1, 4, 2, 5, 3])
    else:
        raise NodeError(f"mode '{mode}' is not DCR or CRD")
    return [ctx.reshape(y, [n, c // (b * b), h * b, w * b])]


@converts("SpaceToDepth")
def _space_to_depth(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    if ctx.rank(x) != 4:
        raise Unsupported(f"needs a 4-d NCHW input, got {x.type}")
    n, c, h, w = ctx.shape(x)
    b = node.get_int("blocksize")
    if b < 1 or h % b or w % b:
        raise NodeError(f"height {h} and width {w} must be multiples of blocksize {b}")
    mode = node.get_str("mode", "DCR") if node.version >= 28 else "DCR"
    if mode not in ("DCR", "CRD"):
        raise NodeError(f"mode '{mode}' is not DCR or CRD")
    y = ctx.reshape(x, [n, c, h // b, b, w // b, b])
    y = ctx.transpose(y, [0, 3, 5, 1, 2, 4] if mode == "DCR" else [0, 1, 3, 5, 2, 4])
    return [ctx.reshape(y, [n, c * b * b, h // b, w // b])]

