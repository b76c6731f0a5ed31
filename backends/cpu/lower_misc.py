"""Index-computing ops → loop-level kernels: argmax/argmin, cumsum/cumprod, top_k, gather,
gather_nd, resize.

Takes one of those graph ops. Leaves its kernel body:

- argmax/argmin: loops over the other dimensions, then a loop along `axis` carrying (best value,
  best index); the first extreme wins (the last with `select_last_index`: ties then replace the
  best) and NaN counts as the extreme (numpy);
- cumsum/cumprod: a loop along `axis` carrying the running sum or product (rounded to f16/bf16
  after each step, like numpy's `cumsum(dtype=float16)`), forwards or `reverse`, inclusive or
  `exclusive`;
- top_k: k selection passes over the last axis, O(n·k): pass j picks the best element ranked
  after pick j-1 in the order (value descending, index ascending), with NaN above everything
  (as jax.lax.top_k and argmax do);
- gather/gather_nd: indices read from memory, negative ones wrapped, then clamped into range;
- resize: its separable interpolation (`graphc.dialects.semantics.resize_matrix`, the definition)
  is evaluated at compile time into tap tables (source index, weight) per output row and column,
  stored as constant globals; the kernel reads the taps and sums them, innermost over channels.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import IndexType, IntegerType, f32, f64, i32, i64
from xdsl.ir import Operation, SSAValue

from graphc.backends.cpu import scalar_ops
from graphc.backends.cpu.elements import ElemKind, elem_kind, kind_of, shape_of
from graphc.backends.cpu.loop_builder import CONTRACT, Index, KernelBuilder
from graphc.dialects import dtypes
from graphc.dialects.graph import get_int

# -- shared helpers ------------------------------------------------------------------------------


def to_index(b: KernelBuilder, value: SSAValue, kind: ElemKind) -> SSAValue:
    """An integer element as an `index` (sign- or zero-extended by its kind)."""
    if kind.is_unsigned and kind.bits < 64:
        value = b.emit(arith.ExtUIOp(value, i64))
    return b.emit(arith.IndexCastOp(value, IndexType()))


def from_index(b: KernelBuilder, value: Index, kind: ElemKind) -> SSAValue:
    """An index as a value of an integer kind (truncating)."""
    return b.emit(arith.IndexCastOp(b.index(value), IntegerType(kind.bits)))


def normalized_index(b: KernelBuilder, value: SSAValue, kind: ElemKind, size: int) -> Index:
    """`where(i < 0, i + size, i)` clamped into [0, size - 1]."""
    i = to_index(b, value, kind)
    wrapped = b.emit(arith.SelectOp(b.cmp_index("slt", i, 0), b.add(i, size), i))
    return b.clamp_index(wrapped, 0, max(size - 1, 0))


def round_to_storage(b: KernelBuilder, value: SSAValue, kind: ElemKind) -> SSAValue:
    """Rounds a compute-type value to the storage precision (f16 kept in f32)."""
    if kind.is_float and kind.compute != kind.storage:
        return b.emit(arith.ExtFOp(b.emit(arith.TruncFOp(value, kind.storage)), kind.compute))
    return value


def _greater(b: KernelBuilder, kind: ElemKind, x: SSAValue, y: SSAValue, less: bool = False) -> SSAValue:
    """x ranks above y: x > y (x < y when `less`), with NaN above every number."""
    if not kind.is_float:
        return scalar_ops.compare(b, "lt" if less else "gt", kind, x, y)
    strict = b.emit(arith.CmpfOp(x, y, "olt" if less else "ogt"))
    x_nan = b.emit(arith.CmpfOp(x, x, "uno"))
    y_num = b.emit(arith.CmpfOp(y, y, "ord"))
    return b.emit(arith.OrIOp(strict, b.emit(arith.AndIOp(x_nan, y_num))))


def _same(b: KernelBuilder, kind: ElemKind, x: SSAValue, y: SSAValue) -> SSAValue:
    """x == y, with NaN equal to NaN."""
    if not kind.is_float:
        return scalar_ops.compare(b, "eq", kind, x, y)
    eq = b.emit(arith.CmpfOp(x, y, "oeq"))
    both_nan = b.emit(arith.AndIOp(b.emit(arith.CmpfOp(x, x, "uno")), b.emit(arith.CmpfOp(y, y, "uno"))))
    return b.emit(arith.OrIOp(eq, both_nan))


def _with_axis(ivs: list[Index], axis: int, i: Index) -> list[Index]:
    return [*ivs[:axis], i, *ivs[axis:]]


# -- argmax / argmin -----------------------------------------------------------------------------


def lower_arg_reduce(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    x_type = op.operands[0].type
    kind, shape = kind_of(x_type), shape_of(x_type)
    out_kind = kind_of(op.results[0].type)
    axis = get_int(op.attributes, "axis")
    n = shape[axis]
    less = op.name == "graph.argmin"
    last = "select_last_index" in op.attributes and bool(get_int(op.attributes, "select_last_index"))
    others = [d for i, d in enumerate(shape) if i != axis]
    with b.nest(others) as ivs:
        if n == 0:
            b.store_value(from_index(b, 0, out_kind), outs[0], ivs, out_kind)
            return
        first = b.load_value(ins[0], _with_axis(ivs, axis, 0), kind)
        with b.loop(1, n, carried=[first, b.index(0)]) as lp:
            best, best_i = lp.carried
            v = b.load_value(ins[0], _with_axis(ivs, axis, lp.iv), kind)
            take = _greater(b, kind, v, best, less)
            if last:
                take = b.emit(arith.OrIOp(take, _same(b, kind, v, best)))
            lp.next(b.emit(arith.SelectOp(take, v, best)), b.emit(arith.SelectOp(take, lp.iv, best_i)))
        b.store_value(from_index(b, lp.results[1], out_kind), outs[0], ivs, out_kind)


# -- cumsum / cumprod -----------------------------------------------------------------------------


def lower_cumulative(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    x_type = op.operands[0].type
    kind, shape = kind_of(x_type), shape_of(x_type)
    axis = get_int(op.attributes, "axis")
    exclusive = bool(get_int(op.attributes, "exclusive"))
    reverse = bool(get_int(op.attributes, "reverse"))
    combine, identity = ("add", 0) if op.name == "graph.cumsum" else ("mul", 1)
    n = shape[axis]
    others = [d for i, d in enumerate(shape) if i != axis]
    with b.nest(others) as ivs:
        start = (b.true() if identity else b.false()) if kind.is_bool else scalar_ops.const(b, kind, identity)
        with b.loop(0, n, carried=[start]) as lp:
            j = b.sub(n - 1, lp.iv) if reverse else lp.iv
            where = _with_axis(ivs, axis, j)
            total = scalar_ops.binary(b, combine, kind, lp.carried[0], b.load_value(ins[0], where, kind))
            total = round_to_storage(b, total, kind)
            b.store_value(lp.carried[0] if exclusive else total, outs[0], where, kind)
            lp.next(total)


# -- top_k ---------------------------------------------------------------------------------------


def lower_top_k(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    x_type = op.operands[0].type
    kind, shape = kind_of(x_type), shape_of(x_type)
    idx_kind = kind_of(op.results[1].type)
    k = get_int(op.attributes, "k")
    n = shape[-1]

    def before(v: SSAValue, i: SSAValue, w: SSAValue, j: SSAValue) -> SSAValue:
        """(v, i) ranks above (w, j): larger value, or the same value at a lower index."""
        tie = b.emit(arith.AndIOp(_same(b, kind, v, w), b.cmp_index("slt", i, j)))
        return b.emit(arith.OrIOp(_greater(b, kind, v, w), tie))

    with b.nest(shape[:-1]) as ivs:
        dummy = b.false() if kind.is_bool else scalar_ops.const(b, kind, 0)
        with b.loop(0, k, carried=[dummy, b.index(0)]) as picks:
            prev_v, prev_i = picks.carried
            first = b.cmp_index("eq", picks.iv, 0)
            with b.loop(0, n, carried=[b.false(), dummy, b.index(0)]) as scan:
                found, best_v, best_i = scan.carried
                v = b.load_value(ins[0], [*ivs, scan.iv], kind)
                eligible = b.emit(arith.OrIOp(first, before(prev_v, prev_i, v, scan.iv)))
                not_found = b.emit(arith.XOrIOp(found, b.true()))
                better = b.emit(arith.OrIOp(not_found, before(v, scan.iv, best_v, best_i)))
                take = b.emit(arith.AndIOp(eligible, better))
                scan.next(
                    b.emit(arith.OrIOp(found, take)),
                    b.emit(arith.SelectOp(take, v, best_v)),
                    b.emit(arith.SelectOp(take, scan.iv, best_i)),
                )
            _, best_v, best_i = scan.results
            b.store_value(best_v, outs[0], [*ivs, picks.iv], kind)
            b.store_value(from_index(b, best_i, idx_kind), outs[1], [*ivs, picks.iv], idx_kind)
            picks.next(best_v, best_i)


# -- gather / gather_nd --------------------------------------------------------------------------


def lower_gather(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    x_type, idx_type = op.operands[0].type, op.operands[1].type
    xs, iss = shape_of(x_type), shape_of(idx_type)
    idx_kind = kind_of(idx_type)
    axis, bd = get_int(op.attributes, "axis"), get_int(op.attributes, "batch_dims")
    out_shape = shape_of(op.results[0].type)
    n_idx = len(iss) - bd
    with b.nest(out_shape) as o:
        idx_at = [*o[:bd], *o[axis : axis + n_idx]]
        i = normalized_index(b, b.load_value(ins[1], idx_at, idx_kind), idx_kind, xs[axis])
        x_at = [*o[:axis], i, *o[axis + n_idx :]]
        b.store(b.load(ins[0], x_at), outs[0], o)


def lower_gather_nd(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    x_type, idx_type = op.operands[0].type, op.operands[1].type
    xs, iss = shape_of(x_type), shape_of(idx_type)
    idx_kind = kind_of(idx_type)
    bd = get_int(op.attributes, "batch_dims")
    depth = iss[-1]
    out_shape = shape_of(op.results[0].type)
    lead = len(iss) - 1
    with b.nest(out_shape) as o:
        picked = [
            normalized_index(b, b.load_value(ins[1], [*o[:lead], j], idx_kind), idx_kind, xs[bd + j])
            for j in range(depth)
        ]
        x_at = [*o[:bd], *picked, *o[lead:]]
        b.store(b.load(ins[0], x_at), outs[0], o)


# -- resize --------------------------------------------------------------------------------------


def _taps(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output row: the source indices and weights of its nonzero entries, padded to a width."""
    rows = [np.nonzero(r)[0] for r in matrix]
    width = max((len(r) for r in rows), default=1) or 1
    index = np.zeros((len(rows), width), np.int32)
    weight = np.zeros((len(rows), width), np.float64)
    for o, cols in enumerate(rows):
        index[o, : len(cols)] = cols
        weight[o, : len(cols)] = matrix[o, cols]
    return index, weight


def lower_resize(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    from graphc.dialects.semantics import resize_matrix  # the definition of the interpolation

    x_type = op.operands[0].type
    kind = kind_of(x_type)
    n, h, w, c = shape_of(x_type)
    _, oh, ow, _ = shape_of(op.results[0].type)
    attrs = dict(op.attributes)
    y_index, y_weight = _taps(resize_matrix(h, oh, attrs))
    x_index, x_weight = _taps(resize_matrix(w, ow, attrs))
    nearest = y_weight.shape[1] == 1 and x_weight.shape[1] == 1 and np.all(y_weight == 1) and np.all(x_weight == 1)
    compute = elem_kind(f32 if kind.is_float and kind.bits <= 32 else f64)
    ty, tx = y_index.shape[1], x_index.shape[1]
    y_idx_tab = b.table(y_index.reshape(-1).tolist(), i32)
    x_idx_tab = b.table(x_index.reshape(-1).tolist(), i32)
    if not nearest:
        y_w_tab = b.table(y_weight.reshape(-1).tolist(), compute.compute)
        x_w_tab = b.table(x_weight.reshape(-1).tolist(), compute.compute)
    i32_kind = elem_kind(dtypes.i32)

    with b.nest([n, oh]) as (bi, yo):
        rows = [to_index(b, b.load(y_idx_tab, [b.add(b.mul(yo, ty), t)]), i32_kind) for t in range(ty)]
        wys = [] if nearest else [b.load(y_w_tab, [b.add(b.mul(yo, ty), t)]) for t in range(ty)]
        with b.nest([ow]) as (xo,):
            cols = [to_index(b, b.load(x_idx_tab, [b.add(b.mul(xo, tx), t)]), i32_kind) for t in range(tx)]
            wxs = [] if nearest else [b.load(x_w_tab, [b.add(b.mul(xo, tx), t)]) for t in range(tx)]
            with b.nest([c]) as (ch,):
                if nearest:  # a copy: exact for every element type
                    b.store(b.load(ins[0], [bi, rows[0], cols[0], ch]), outs[0], [bi, yo, xo, ch])
                else:
                    value = _interpolate(b, ins[0], kind, compute, bi, ch, rows, wys, cols, wxs)
                    b.store_value(value, outs[0], [bi, yo, xo, ch], kind)


def _interpolate(b: KernelBuilder, x, kind, compute, bi, ch, rows, wys, cols, wxs) -> SSAValue:
    """sum_y wy * (sum_x wx * x[bi, ry, cx, ch]), in the compute kind, then as the element kind."""
    total = None
    for ry, wy in zip(rows, wys):
        row = None
        for cx, wx in zip(cols, wxs):
            v = scalar_ops.cast(b, b.load_value(x, [bi, ry, cx, ch], kind), kind, compute)
            term = b.emit(arith.MulfOp(wx, v))
            row = term if row is None else b.emit(arith.AddfOp(row, term, CONTRACT))
        term = b.emit(arith.MulfOp(wy, row))
        total = term if total is None else b.emit(arith.AddfOp(total, term, CONTRACT))
    if not kind.is_float:  # integers round half to even, as the definition does
        total = b.emit(mathd.RoundEvenOp(total))
    return scalar_ops.cast(b, total, compute, kind)


LOWERINGS = {
    "graph.argmax": lower_arg_reduce,
    "graph.argmin": lower_arg_reduce,
    "graph.cumsum": lower_cumulative,
    "graph.cumprod": lower_cumulative,
    "graph.top_k": lower_top_k,
    "graph.gather": lower_gather,
    "graph.gather_nd": lower_gather_nd,
    "graph.resize": lower_resize,
}
