"""TensorFlow ops that create, forward or move data: constants, shapes, reshapes, slices, gathers.

Operands that define shapes, axes, permutations, paddings, begin/end/sizes or multiples must be
compile-time constants (`Converter.static*`); the graph dialect has static shapes only.
"""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.frontends.tf_context import (
    Converter,
    NodeError,
    TFNode,
    converts,
    element_type,
    need_inputs,
    normalize_axis,
    product,
    tensor_value,
)

# ---------------------------------------------------------------------------------------------
# Constants, pass-throughs, shapes
# ---------------------------------------------------------------------------------------------


@converts("Const")
def _const(ctx: Converter, node: TFNode, inputs):
    if not node.has("value"):
        raise NodeError("the constant has no 'value' attribute")
    return [ctx.const(tensor_value(node.get_tensor("value")), hint=node.name)]


PASS_THROUGH_OPS = frozenset(
    {
        "Identity", "IdentityN", "StopGradient", "Snapshot", "PreventGradient", "CheckNumerics",
        "EnsureShape", "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "PlaceholderWithDefault",
    }
)  # fmt: skip
"""Ops that forward their input(s) unchanged at inference time; they vanish from the graph.
`PlaceholderWithDefault` forwards its default unless it is named as an input."""


@converts(*(PASS_THROUGH_OPS - {"IdentityN"}))
def _identity(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    return [inputs[0]]


@converts("IdentityN")
def _identity_n(ctx: Converter, node: TFNode, inputs):
    return list(inputs)


def _index_dtype(node: TFNode, key: str = "out_type", default: str = "int32") -> np.dtype:
    if node.has(key):
        return dtypes.to_numpy_dtype(element_type(node.get_type(key)))
    return np.dtype(default)


@converts("Shape")
def _shape(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    return [ctx.const(np.array(ctx.shape(inputs[0]), dtype=_index_dtype(node)))]


@converts("ShapeN")
def _shape_n(ctx: Converter, node: TFNode, inputs):
    dtype = _index_dtype(node)
    return [ctx.const(np.array(ctx.shape(v), dtype=dtype)) for v in inputs]


@converts("Size")
def _size(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    return [ctx.const(np.array(product(ctx.shape(inputs[0])), dtype=_index_dtype(node)))]


@converts("Rank")
def _rank(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    return [ctx.const(np.array(ctx.rank(inputs[0]), dtype=np.int32))]


@converts("BroadcastArgs", static=(0, 1))
def _broadcast_args(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    a = ctx.static_ints(inputs, 0, "s0")
    b = ctx.static_ints(inputs, 1, "s1")
    try:
        shape = np.broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        raise NodeError(f"shapes {a} and {b} do not broadcast") from None
    return [ctx.const(np.array(shape, dtype=ctx.np_dtype(inputs[0])))]


# ---------------------------------------------------------------------------------------------
# Reshapes and permutations
# ---------------------------------------------------------------------------------------------


def resolve_reshape(in_shape, target) -> list[int]:
    target = [int(d) for d in target]
    total = product(in_shape)
    unknown = [i for i, d in enumerate(target) if d == -1]
    if len(unknown) > 1 or any(d < -1 for d in target):
        raise NodeError(f"bad target shape {target}")
    if unknown:
        known = product(d for d in target if d != -1)
        if known == 0 or total % known:
            raise NodeError(f"cannot reshape {list(in_shape)} to {target}")
        target[unknown[0]] = total // known
    if product(target) != total:
        raise NodeError(f"cannot reshape {list(in_shape)} ({total} elements) to {target}")
    return target


@converts("Reshape", static=(1,))
def _reshape(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    target = ctx.static_ints(inputs, 1, "shape")
    return [ctx.reshape(inputs[0], resolve_reshape(ctx.shape(inputs[0]), target))]


@converts("Squeeze")
def _squeeze(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    shape = ctx.shape(inputs[0])
    dims = node.get_ints("squeeze_dims", None)
    if dims is None:
        dims = node.get_ints("axis", [])
    if dims:
        axes = {normalize_axis(d, len(shape)) for d in dims}
        for a in axes:
            if shape[a] != 1:
                raise NodeError(f"cannot squeeze dimension {a} of size {shape[a]}")
    else:
        axes = {i for i, d in enumerate(shape) if d == 1}
    return [ctx.reshape(inputs[0], [d for i, d in enumerate(shape) if i not in axes])]


@converts("ExpandDims", static=(1,))
def _expand_dims(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    shape = list(ctx.shape(inputs[0]))
    axis = normalize_axis(ctx.static_int(inputs, 1, "dim"), len(shape) + 1)
    return [ctx.reshape(inputs[0], shape[:axis] + [1] + shape[axis:])]


@converts("Transpose", "ConjugateTranspose", static=(1,))
def _transpose(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    perm = ctx.static_ints(inputs, 1, "perm")
    rank = ctx.rank(inputs[0])
    if sorted(perm) != list(range(rank)):
        raise NodeError(f"{perm} is not a permutation of {rank} dimensions")
    return [ctx.transpose(inputs[0], perm)]


@converts("InvertPermutation", static=(0,))
def _invert_permutation(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    perm = ctx.static_ints(inputs, 0, "x")
    if sorted(perm) != list(range(len(perm))):
        raise NodeError(f"{perm} is not a permutation")
    return [ctx.const(np.argsort(perm).astype(ctx.np_dtype(inputs[0])))]


# ---------------------------------------------------------------------------------------------
# Joining and splitting
# ---------------------------------------------------------------------------------------------


def _concat_values(ctx: Converter, values: list[SSAValue], axis: int) -> SSAValue:
    if not values:
        raise NodeError("nothing to concatenate")
    rank = ctx.rank(values[0])
    if rank == 0:
        raise NodeError("cannot concatenate scalars")
    axis = normalize_axis(axis, rank)
    nonempty = [v for v in values if ctx.shape(v)[axis] != 0] or values[:1]
    return ctx.concat(nonempty, axis)


@converts("ConcatV2", static=(-1,))
def _concat_v2(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2, at_least=True)
    axis = ctx.static_int(inputs, len(inputs) - 1, "axis")
    return [_concat_values(ctx, list(inputs[:-1]), axis)]


@converts("Concat", static=(0,))
def _concat_v1(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2, at_least=True)
    axis = ctx.static_int(inputs, 0, "concat_dim")
    return [_concat_values(ctx, list(inputs[1:]), axis)]


@converts("Pack")
def _pack(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1, at_least=True)
    shape = list(ctx.shape(inputs[0]))
    axis = normalize_axis(node.get_int("axis", 0), len(shape) + 1)
    expanded = shape[:axis] + [1] + shape[axis:]
    for v in inputs:
        if list(ctx.shape(v)) != shape:
            raise NodeError(f"cannot stack tensors of shapes {list(ctx.shape(v))} and {shape}")
    return [ctx.concat([ctx.reshape(v, expanded) for v in inputs], axis)]


@converts("Unpack")
def _unpack(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    x = inputs[0]
    shape = list(ctx.shape(x))
    axis = normalize_axis(node.get_int("axis", 0), len(shape))
    num = node.get_int("num", shape[axis])
    if num != shape[axis]:
        raise NodeError(f"num={num} does not match dimension {axis} of size {shape[axis]}")
    rest = shape[:axis] + shape[axis + 1 :]
    return [ctx.reshape(_take(ctx, x, axis, i, i + 1), rest) for i in range(num)]


def _take(ctx: Converter, x: SSAValue, axis: int, start: int, stop: int) -> SSAValue:
    shape = list(ctx.shape(x))
    starts = [0] * len(shape)
    limits = list(shape)
    starts[axis], limits[axis] = start, stop
    return ctx.slice(x, starts, limits)


def _split_sizes(ctx: Converter, x: SSAValue, axis: int, sizes: list[int]) -> list[SSAValue]:
    outs, offset = [], 0
    for size in sizes:
        outs.append(_take(ctx, x, axis, offset, offset + size))
        offset += size
    return outs


@converts("Split", static=(0,))
def _split(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    x = inputs[1]
    shape = ctx.shape(x)
    axis = normalize_axis(ctx.static_int(inputs, 0, "split_dim"), len(shape))
    num = node.get_int("num_split")
    if num < 1 or shape[axis] % num:
        raise NodeError(f"dimension {axis} of size {shape[axis]} does not split into {num} equal parts")
    return _split_sizes(ctx, x, axis, [shape[axis] // num] * num)


@converts("SplitV", static=(1, 2))
def _split_v(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3)
    x = inputs[0]
    shape = ctx.shape(x)
    axis = normalize_axis(ctx.static_int(inputs, 2, "split_dim"), len(shape))
    sizes = ctx.static_ints(inputs, 1, "size_splits")
    unknown = [i for i, s in enumerate(sizes) if s == -1]
    if len(unknown) > 1 or any(s < -1 for s in sizes):
        raise NodeError(f"bad size_splits {sizes}")
    if unknown:
        sizes[unknown[0]] = shape[axis] - sum(s for s in sizes if s != -1)
    if sum(sizes) != shape[axis] or any(s < 0 for s in sizes):
        raise NodeError(f"size_splits {sizes} do not add up to dimension {axis} of size {shape[axis]}")
    return _split_sizes(ctx, x, axis, sizes)


# ---------------------------------------------------------------------------------------------
# Slicing
# ---------------------------------------------------------------------------------------------


@converts("Slice", static=(1, 2))
def _slice(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3)
    x = inputs[0]
    shape = ctx.shape(x)
    begin = ctx.static_ints(inputs, 1, "begin")
    size = ctx.static_ints(inputs, 2, "size")
    if len(begin) != len(shape) or len(size) != len(shape):
        raise NodeError(f"begin {begin} and size {size} must have one entry per dimension of {list(shape)}")
    limits = []
    for d, b, s in zip(shape, begin, size):
        end = d if s == -1 else b + s
        if not 0 <= b <= end <= d:
            raise NodeError(f"slice begin={begin} size={size} is out of bounds for shape {list(shape)}")
        limits.append(end)
    return [ctx.slice(x, begin, limits)]


@converts("StridedSlice", static=(1, 2, 3))
def _strided_slice(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 4)
    x = inputs[0]
    shape = ctx.shape(x)
    begin = ctx.static_ints(inputs, 1, "begin")
    end = ctx.static_ints(inputs, 2, "end")
    strides = ctx.static_ints(inputs, 3, "strides")
    masks = {k: node.get_int(k, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")}  # fmt: skip
    return [strided_slice(ctx, x, shape, begin, end, strides, **masks)]


def strided_slice(
    ctx: Converter,
    x: SSAValue,
    shape,
    begin: list[int],
    end: list[int],
    strides: list[int],
    begin_mask: int = 0,
    end_mask: int = 0,
    ellipsis_mask: int = 0,
    new_axis_mask: int = 0,
    shrink_axis_mask: int = 0,
) -> SSAValue:
    """TF StridedSlice (all masks, negative strides) as graph.slice + graph.reverse + graph.reshape."""
    n = len(begin)
    if len(end) != n or len(strides) != n:
        raise NodeError(f"begin, end and strides differ in length ({n}, {len(end)}, {len(strides)})")
    rank = len(shape)
    # The sparse spec: one entry per begin/end element; an ellipsis is implied at the end.
    sparse: list[tuple] = []
    seen_ellipsis = False
    for i in range(n):
        bit = 1 << i
        if ellipsis_mask & bit:
            if seen_ellipsis:
                raise NodeError("more than one ellipsis in a strided slice")
            seen_ellipsis = True
            sparse.append(("ellipsis",))
        elif new_axis_mask & bit:
            sparse.append(("new",))
        else:
            sparse.append(
                ("dim", begin[i], end[i], strides[i], bool(begin_mask & bit), bool(end_mask & bit), bool(shrink_axis_mask & bit))
            )  # fmt: skip
    if not seen_ellipsis:
        sparse.append(("ellipsis",))
    real = sum(1 for e in sparse if e[0] == "dim")
    if real > rank:
        raise NodeError(f"the slice indexes {real} dimensions of a tensor of rank {rank}")
    # The dense spec: one entry per input dimension; `final` says how the result is shaped.
    dense: list[tuple] = []
    final: list[tuple] = []
    for entry in sparse:
        if entry[0] == "ellipsis":
            for _ in range(rank - real):
                final.append(("dim", len(dense)))
                dense.append((0, 0, 1, True, True, False))
        elif entry[0] == "new":
            final.append(("new",))
        else:
            final.append(("shrink",) if entry[6] else ("dim", len(dense)))
            dense.append(entry[1:])

    starts, limits, steps, sizes, reverse = [], [], [], [], []
    for axis, (d, (b, e, s, bmask, emask, shrink)) in enumerate(zip(shape, dense)):
        if s == 0:
            raise NodeError("strided slice with a stride of 0")
        if shrink:
            index = b + d if b < 0 else b
            if not 0 <= index < d:
                raise NodeError(f"index {b} is out of bounds for dimension {axis} of size {d}")
            starts.append(index)
            limits.append(index + 1)
            steps.append(1)
            sizes.append(1)
            continue
        lo, hi = (0, d) if s > 0 else (-1, d - 1)

        def canonical(value: int, is_end: bool, masked: bool) -> int:
            if masked:
                if s > 0:
                    return hi if is_end else lo
                return lo if is_end else hi
            value = value + d if value < 0 else value
            return min(max(value, lo), hi)

        first = canonical(b, False, bmask)
        stop = canonical(e, True, emask)
        interval = stop - first
        if interval == 0 or (interval > 0) != (s > 0):
            size = 0
        else:
            size = (abs(interval) + abs(s) - 1) // abs(s)
        sizes.append(size)
        if size == 0:
            starts.append(0)
            limits.append(0)
            steps.append(1)
        elif s > 0:
            starts.append(first)
            limits.append(first + (size - 1) * s + 1)
            steps.append(s)
        else:
            last = first + (size - 1) * s
            starts.append(last)
            limits.append(first + 1)
            steps.append(-s)
            if size > 1:
                reverse.append(axis)
    out = ctx.slice(x, starts, limits, steps)
    if reverse:
        out = ctx.op(g.ReverseOp, [out], axes=g.ints_attr(reverse))
    final_shape = []
    for entry in final:
        if entry[0] == "new":
            final_shape.append(1)
        elif entry[0] == "dim":
            final_shape.append(sizes[entry[1]])
    return ctx.reshape(out, final_shape)


@converts("ReverseV2", static=(1,))
def _reverse_v2(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    rank = ctx.rank(inputs[0])
    axes = sorted({normalize_axis(a, rank) for a in ctx.static_ints(inputs, 1, "axis")})
    axes = [a for a in axes if ctx.shape(inputs[0])[a] > 1]
    if not axes:
        return [inputs[0]]
    return [ctx.op(g.ReverseOp, [inputs[0]], axes=g.ints_attr(axes))]


@converts("Reverse", static=(1,))
def _reverse_v1(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    flags = ctx.static(inputs, 1, "dims").reshape(-1)
    axes = [i for i, f in enumerate(flags) if f and ctx.shape(inputs[0])[i] > 1]
    if not axes:
        return [inputs[0]]
    return [ctx.op(g.ReverseOp, [inputs[0]], axes=g.ints_attr(axes))]


# ---------------------------------------------------------------------------------------------
# Broadcasting, tiling, filling
# ---------------------------------------------------------------------------------------------


@converts("BroadcastTo", static=(1,))
def _broadcast_to(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    target = ctx.static_ints(inputs, 1, "shape")
    try:
        shape = np.broadcast_shapes(ctx.shape(inputs[0]), tuple(target))
    except ValueError:
        raise NodeError(f"cannot broadcast {list(ctx.shape(inputs[0]))} to {target}") from None
    return [ctx.broadcast_to(inputs[0], shape)]


@converts("Tile", static=(1,))
def _tile(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    x = inputs[0]
    shape = ctx.shape(x)
    multiples = ctx.static_ints(inputs, 1, "multiples")
    if len(multiples) != len(shape) or any(m < 0 for m in multiples):
        raise NodeError(f"multiples {multiples} do not match the rank of {list(shape)}")
    return [ctx.tile(x, multiples)]


def filled(ctx: Converter, value: SSAValue, shape) -> SSAValue:
    """A tensor of `shape` filled with the scalar `value` (a constant when small)."""
    shape = [int(d) for d in shape]
    known = ctx.constant_of(value)
    if known is not None and product(shape) <= 16:
        return ctx.const(np.full(shape, known.reshape(()), dtype=ctx.np_dtype(value)))
    return ctx.broadcast_to(ctx.reshape(value, []), shape)


@converts("Fill", static=(0,))
def _fill(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    dims = ctx.static_ints(inputs, 0, "dims")
    if any(d < 0 for d in dims):
        raise NodeError(f"negative dimension in {dims}")
    if product(ctx.shape(inputs[1])) != 1:
        raise NodeError("the fill value must be a scalar")
    return [filled(ctx, inputs[1], dims)]


@converts("ZerosLike", "OnesLike")
def _zeros_like(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    x = inputs[0]
    value = ctx.scalar(0 if node.op == "ZerosLike" else 1, x)
    return [filled(ctx, value, ctx.shape(x))]


@converts("Range", static=(0, 1, 2))
def _range(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3)
    start, limit, delta = (ctx.static(inputs, i, w).reshape(-1) for i, w in enumerate(("start", "limit", "delta")))
    if start.size != 1 or limit.size != 1 or delta.size != 1:
        raise NodeError("start, limit and delta must be scalars")
    dtype = dtypes.to_numpy_dtype(element_type(node.get_type("Tidx"))) if node.has("Tidx") else ctx.np_dtype(inputs[0])
    start, limit, delta = (np.asarray(v[0]).astype(dtype) for v in (start, limit, delta))
    if delta == 0:
        raise NodeError("delta must not be 0")
    if dtype.kind in "iu":
        size = max(0, (abs(int(limit) - int(start)) + abs(int(delta)) - 1) // abs(int(delta)))
        if (limit - start > 0) != (delta > 0):
            size = 0
        if size > 1 << 24:
            raise NodeError(f"range of {size} elements is too large")
        values = (int(start) + int(delta) * np.arange(size, dtype=np.int64)).astype(dtype)
    else:
        if (limit > start and delta < 0) or (limit < start and delta > 0):
            size = 0
        else:
            size = int(np.ceil(abs((float(limit) - float(start)) / float(delta))))
        if size > 1 << 24:
            raise NodeError(f"range of {size} elements is too large")
        values = np.empty(size, dtype)
        acc = dtype.type(start)
        for i in range(size):  # TensorFlow accumulates in the output type
            values[i] = acc
            acc = dtype.type(acc + delta)
    return [ctx.const(values)]


# ---------------------------------------------------------------------------------------------
# Padding
# ---------------------------------------------------------------------------------------------


def _paddings(ctx: Converter, inputs, index: int, rank: int, what: str = "paddings") -> tuple[list[int], list[int]]:
    pads = ctx.static(inputs, index, what)
    if pads.size != 2 * rank:
        raise NodeError(f"{what} of shape {list(pads.shape)} do not match rank {rank}")
    pads = pads.reshape(rank, 2).astype(np.int64)
    return [int(p) for p in pads[:, 0]], [int(p) for p in pads[:, 1]]


def pad(ctx: Converter, x: SSAValue, low, high, value: float = 0.0, mode: str = "constant", interior=None) -> SSAValue:
    interior = list(interior) if interior is not None else [0] * len(low)
    if not any(low) and not any(high) and not any(interior):
        return x
    return ctx.op(
        g.PadOp,
        [x],
        low=g.ints_attr(low),
        high=g.ints_attr(high),
        interior=g.ints_attr(interior),
        mode=g.str_attr(mode),
        value=g.float_attr(value),
    )


@converts("Pad", "PadV2", static=(1, 2))
def _pad(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3 if node.op == "PadV2" else 2)
    x = inputs[0]
    low, high = _paddings(ctx, inputs, 1, ctx.rank(x))
    if any(p < 0 for p in low + high):
        raise NodeError(f"negative paddings {low}, {high}")
    value = 0.0
    if node.op == "PadV2":
        v = ctx.static(inputs, 2, "constant_values").reshape(-1)
        if v.size != 1:
            raise NodeError("constant_values must be a scalar")
        value = float(v[0])
    return [pad(ctx, x, low, high, value)]


@converts("MirrorPad", static=(1,))
def _mirror_pad(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    x = inputs[0]
    low, high = _paddings(ctx, inputs, 1, ctx.rank(x))
    mode = node.get_str("mode").upper()
    if mode not in ("REFLECT", "SYMMETRIC"):
        raise NodeError(f"mode '{mode}' is not supported")
    return [pad(ctx, x, low, high, 0.0, mode.lower())]


# ---------------------------------------------------------------------------------------------
# Gathers and one-hot
# ---------------------------------------------------------------------------------------------


def gather(ctx: Converter, params: SSAValue, indices: SSAValue, axis: int, batch_dims: int) -> SSAValue:
    return ctx.op(g.GatherOp, [params, indices], axis=g.int_attr(axis), batch_dims=g.int_attr(batch_dims))


@converts("GatherV2", static=(2,))
def _gather_v2(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3)
    params, indices = inputs[0], inputs[1]
    rank = ctx.rank(params)
    axis = normalize_axis(ctx.static_int(inputs, 2, "axis"), rank)
    batch_dims = node.get_int("batch_dims", 0)
    if batch_dims < 0:
        batch_dims += ctx.rank(indices)
    if not 0 <= batch_dims <= axis:
        raise NodeError(f"batch_dims={node.get_int('batch_dims', 0)} must be in [0, axis={axis}]")
    return [gather(ctx, params, indices, axis, batch_dims)]


@converts("Gather")
def _gather_v1(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    return [gather(ctx, inputs[0], inputs[1], 0, 0)]


@converts("GatherNd")
def _gather_nd(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    params, indices = inputs
    if ctx.rank(indices) == 0 or ctx.shape(indices)[-1] > ctx.rank(params):
        raise NodeError(f"indices {list(ctx.shape(indices))} do not fit params {list(ctx.shape(params))}")
    return [ctx.op(g.GatherNdOp, [params, indices], batch_dims=g.int_attr(node.get_int("batch_dims", 0)))]


@converts("OneHot", static=(1,))
def _one_hot(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 4)
    indices, _, on, off = inputs
    depth = ctx.static_int(inputs, 1, "depth")
    if depth < 0:
        raise NodeError(f"depth {depth} is negative")
    shape = list(ctx.shape(indices))
    axis = node.get_int("axis", -1)
    axis = len(shape) if axis == -1 else normalize_axis(axis, len(shape) + 1)
    expanded = ctx.reshape(indices, shape[:axis] + [1] + shape[axis:])
    iota_shape = [depth] + [1] * (len(shape) - axis)
    iota = ctx.const(np.arange(depth, dtype=ctx.np_dtype(indices)).reshape(iota_shape), hint=node.name + "_iota")
    hit = ctx.op(g.EqOp, [expanded, iota])
    on = ctx.reshape(on, [])
    off = ctx.reshape(off, [])
    return [ctx.op(g.SelectOp, [hit, on, off])]


# ---------------------------------------------------------------------------------------------
# Space/depth/batch rearrangements
# ---------------------------------------------------------------------------------------------


def _nchw_to_nhwc(ctx: Converter, x: SSAValue) -> SSAValue:
    return ctx.transpose(x, [0, 2, 3, 1])


def _nhwc_to_nchw(ctx: Converter, x: SSAValue) -> SSAValue:
    return ctx.transpose(x, [0, 3, 1, 2])


def _image_format(node: TFNode, x_rank: int) -> str:
    fmt = node.get_str("data_format", "NHWC")
    if fmt not in ("NHWC", "NCHW"):
        raise NodeError(f"data_format '{fmt}' is not supported")
    if x_rank != 4:
        raise NodeError(f"expected a 4-d image tensor, got rank {x_rank}")
    return fmt


@converts("SpaceToDepth", "DepthToSpace")
def _space_depth(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    x = inputs[0]
    fmt = _image_format(node, ctx.rank(x))
    bs = node.get_int("block_size")
    if bs < 1:
        raise NodeError(f"block_size {bs} must be positive")
    if fmt == "NCHW":
        x = _nchw_to_nhwc(ctx, x)
    n, h, w, c = ctx.shape(x)
    if node.op == "SpaceToDepth":
        if h % bs or w % bs:
            raise NodeError(f"height {h} and width {w} must be multiples of block_size {bs}")
        y = ctx.reshape(x, [n, h // bs, bs, w // bs, bs, c])
        y = ctx.transpose(y, [0, 1, 3, 2, 4, 5])
        y = ctx.reshape(y, [n, h // bs, w // bs, bs * bs * c])
    else:
        if c % (bs * bs):
            raise NodeError(f"depth {c} must be a multiple of block_size² = {bs * bs}")
        y = ctx.reshape(x, [n, h, w, bs, bs, c // (bs * bs)])
        y = ctx.transpose(y, [0, 1, 3, 2, 4, 5])
        y = ctx.reshape(y, [n, h * bs, w * bs, c // (bs * bs)])
    if fmt == "NCHW":
        y = _nhwc_to_nchw(ctx, y)
    return [y]


@converts("SpaceToBatchND", static=(1, 2))
def _space_to_batch_nd(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3)
    x = inputs[0]
    shape = list(ctx.shape(x))
    block = ctx.static_ints(inputs, 1, "block_shape")
    m = len(block)
    if m < 1 or m + 1 > len(shape) or any(b < 1 for b in block):
        raise NodeError(f"block_shape {block} does not fit a tensor of shape {shape}")
    pads = ctx.static(inputs, 2, "paddings").reshape(-1).astype(np.int64)
    if pads.size != 2 * m:
        raise NodeError("paddings must have shape [M, 2]")
    low = [0] + [int(p) for p in pads[0::2]] + [0] * (len(shape) - m - 1)
    high = [0] + [int(p) for p in pads[1::2]] + [0] * (len(shape) - m - 1)
    y = pad(ctx, x, low, high)
    padded = ctx.shape(y)
    n, spatial, rest = padded[0], list(padded[1 : m + 1]), list(padded[m + 1 :])
    if any(s % b for s, b in zip(spatial, block)):
        raise NodeError(f"padded spatial shape {spatial} is not divisible by block_shape {block}")
    split = [n]
    for s, b in zip(spatial, block):
        split += [s // b, b]
    y = ctx.reshape(y, split + rest)
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)]
    perm += list(range(1 + 2 * m, 1 + 2 * m + len(rest)))
    y = ctx.transpose(y, perm)
    return [ctx.reshape(y, [n * product(block)] + [s // b for s, b in zip(spatial, block)] + rest)]


@converts("BatchToSpaceND", static=(1, 2))
def _batch_to_space_nd(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3)
    x = inputs[0]
    shape = list(ctx.shape(x))
    block = ctx.static_ints(inputs, 1, "block_shape")
    m = len(block)
    if m < 1 or m + 1 > len(shape) or any(b < 1 for b in block) or shape[0] % product(block):
        raise NodeError(f"block_shape {block} does not fit a tensor of shape {shape}")
    crops = ctx.static(inputs, 2, "crops").reshape(-1).astype(np.int64)
    if crops.size != 2 * m:
        raise NodeError("crops must have shape [M, 2]")
    batch = shape[0] // product(block)
    spatial, rest = shape[1 : m + 1], shape[m + 1 :]
    y = ctx.reshape(x, list(block) + [batch] + spatial + rest)
    perm = [m]
    for i in range(m):
        perm += [m + 1 + i, i]
    perm += list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    y = ctx.transpose(y, perm)
    full = [batch] + [s * b for s, b in zip(spatial, block)] + rest
    y = ctx.reshape(y, full)
    starts = [0] + [int(c) for c in crops[0::2]] + [0] * len(rest)
    limits = [batch] + [d - int(c) for d, c in zip(full[1 : m + 1], crops[1::2])] + rest
    if any(not 0 <= s <= l for s, l in zip(starts, limits)):
        raise NodeError(f"crops {crops.reshape(m, 2).tolist()} exceed the spatial shape {full[1 : m + 1]}")
    return [ctx.slice(y, starts, limits)]
