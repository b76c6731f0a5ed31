"""Data movement → loop-level kernels: transpose, slice, reverse, concat, pad.

Takes one of those graph ops (reshape never gets here: it aliases its input's buffer, and
broadcast_to is in `lower_elementwise`). Leaves its kernel body: except for mirror padding, every
one is a *strided copy* — loops over a box, reading at `src_offset + sum(i * src_stride)` and
writing at `dst_offset + sum(i * dst_stride)` through 1-D views. Size-1 loops are dropped and
neighbouring loops merged whenever both sides stay contiguous across them, so a transpose of
NHWC to NCHW is two loops (C and H·W) and a slice of whole rows is one.

Constant padding is a fill of the output followed by a strided copy of the input into its place
(interior padding is a larger destination stride; negative padding crops the source).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith
from xdsl.ir import Operation, SSAValue

from graphc.backends.cpu import scalar_ops
from graphc.backends.cpu.elements import kind_of, shape_of
from graphc.backends.cpu.loop_builder import Index, KernelBuilder
from graphc.dialects.graph import get_float, get_int, get_ints, get_str


def contiguous_strides(shape: Sequence[int]) -> list[int]:
    strides = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    return strides


def strided_copy(
    b: KernelBuilder,
    src: SSAValue,
    dst: SSAValue,
    sizes: Sequence[int],
    src_strides: Sequence[int],
    dst_strides: Sequence[int],
    src_offset: int = 0,
    dst_offset: int = 0,
) -> None:
    """dst[dst_offset + i·dst_strides] = src[src_offset + i·src_strides] for i in the box `sizes`."""
    if any(s == 0 for s in sizes):
        return
    dims = [(n, s, t) for n, s, t in zip(sizes, src_strides, dst_strides) if n != 1]
    merged: list[tuple[int, int, int]] = []
    for n, s, t in dims:
        if merged:
            pn, ps, pt = merged[-1]
            if ps == s * n and pt == t * n:
                merged[-1] = (pn * n, s, t)
                continue
        merged.append((n, s, t))
    flat_src, flat_dst = b.collapse(src), b.collapse(dst)
    src_rank0 = not src.type.get_shape()
    dst_rank0 = not dst.type.get_shape()
    with b.nest([n for n, _, _ in merged]) as ivs:
        s_at = [] if src_rank0 else [b.linear([(i, s) for i, (_, s, _) in zip(ivs, merged)], src_offset)]
        d_at = [] if dst_rank0 else [b.linear([(i, t) for i, (_, _, t) in zip(ivs, merged)], dst_offset)]
        b.store(b.load(flat_src, s_at), flat_dst, d_at)


def lower_transpose(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    perm = get_ints(op.attributes, "perm")
    in_strides = contiguous_strides(shape_of(op.operands[0].type))
    out_shape = shape_of(op.results[0].type)
    strided_copy(b, ins[0], outs[0], out_shape, [in_strides[p] for p in perm], contiguous_strides(out_shape))


def lower_slice(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    starts, steps = get_ints(op.attributes, "starts"), get_ints(op.attributes, "strides")
    in_strides = contiguous_strides(shape_of(op.operands[0].type))
    out_shape = shape_of(op.results[0].type)
    offset = sum(s * st for s, st in zip(starts, in_strides))
    src_strides = [st * k for st, k in zip(in_strides, steps)]
    strided_copy(b, ins[0], outs[0], out_shape, src_strides, contiguous_strides(out_shape), offset)


def lower_reverse(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    axes = set(get_ints(op.attributes, "axes"))
    shape = shape_of(op.operands[0].type)
    strides = contiguous_strides(shape)
    src_strides = [-s if d in axes else s for d, s in enumerate(strides)]
    offset = sum((shape[d] - 1) * strides[d] for d in axes if shape[d] > 0)
    strided_copy(b, ins[0], outs[0], shape, src_strides, strides, offset)


def lower_concat(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    axis = get_int(op.attributes, "axis")
    out_strides = contiguous_strides(shape_of(op.results[0].type))
    position = 0
    for ref, value in zip(ins, op.operands):
        shape = shape_of(value.type)
        strided_copy(b, ref, outs[0], shape, contiguous_strides(shape), out_strides, 0, position * out_strides[axis])
        position += shape[axis]


def lower_pad(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    attrs = op.attributes
    low, high, interior = (get_ints(attrs, k) for k in ("low", "high", "interior"))
    mode = get_str(attrs, "mode")
    in_shape, out_shape = shape_of(op.operands[0].type), shape_of(op.results[0].type)
    if mode == "constant":
        _pad_constant(b, op, ins[0], outs[0], in_shape, out_shape, low, interior)
    else:
        _pad_mirror(b, ins[0], outs[0], in_shape, out_shape, low, symmetric=mode == "symmetric")


def _pad_constant(b, op, x, out, in_shape, out_shape, low, interior) -> None:
    kind = kind_of(op.results[0].type)
    value = get_float(op.attributes, "value")
    if kind.is_bool:
        fill = b.true() if value != 0 else b.false()
    elif kind.is_float:
        fill = scalar_ops.const(b, kind, value)
    else:
        fill = scalar_ops.const(b, kind, int(value))
    flat_out = b.collapse(out)
    total = 1
    for d in out_shape:
        total *= d
    if total:
        stored = b.to_storage(fill, kind)
        with b.nest([total]) as (i,):
            b.store(stored, flat_out, [i] if out_shape else [])
    # where each input index lands: out = low + i * (interior + 1); keep those inside the output
    sizes, src_offset, dst_offset, dst_strides = [], 0, 0, []
    in_strides, out_strides = contiguous_strides(in_shape), contiguous_strides(out_shape)
    for d, (n, lo, it) in enumerate(zip(in_shape, low, interior)):
        step = it + 1
        kept = [i for i in range(n) if 0 <= lo + i * step < out_shape[d]]
        if not kept:
            return
        first = kept[0]
        sizes.append(len(kept))
        src_offset += first * in_strides[d]
        dst_offset += (lo + first * step) * out_strides[d]
        dst_strides.append(step * out_strides[d])
    strided_copy(b, x, out, sizes, in_strides, dst_strides, src_offset, dst_offset)


def _pad_mirror(b, x, out, in_shape, out_shape, low, symmetric: bool) -> None:
    with b.nest(out_shape) as ivs:
        src = [
            o if (lo == 0 and m == n) else mirror_index(b, b.sub(o, lo), n, symmetric)
            for o, n, m, lo in zip(ivs, in_shape, out_shape, low)
        ]
        b.store(b.load(x, src), out, ivs)


def mirror_index(b: KernelBuilder, t: Index, n: int, symmetric: bool) -> Index:
    """Maps t in [-n, 2n) into [0, n) by mirroring at the edges (reflect or symmetric)."""
    if isinstance(t, int):
        if t < 0:
            t = -t - 1 if symmetric else -t
        if t >= n:
            t = 2 * n - 1 - t if symmetric else 2 * (n - 1) - t
        return t
    below = b.cmp_index("slt", t, 0)
    flipped = b.sub(-1, t) if symmetric else b.sub(0, t)
    t = b.emit(arith.SelectOp(below, b.index(flipped), t))
    above = b.cmp_index("sge", t, n)
    folded = b.sub(2 * n - 1 if symmetric else 2 * (n - 1), t)
    return b.emit(arith.SelectOp(above, b.index(folded), t))


LOWERINGS = {
    "graph.transpose": lower_transpose,
    "graph.slice": lower_slice,
    "graph.reverse": lower_reverse,
    "graph.concat": lower_concat,
    "graph.pad": lower_pad,
}
