"""Reductions (`graph.reduce_*`) → loop-level kernels.

Takes a reduction op (sum, mean, max, min, prod, all, any over sorted `axes`, with `keepdims`).
Leaves one of two loop nests:

- *carried*: loops over the kept dimensions, and inside them loops over the reduced ones carrying
  the accumulator (`scf.for` iter_args). Used when the innermost input dimension is reduced (the
  inner loop is then a contiguous reduction LLVM vectorizes thanks to `reassoc` on the
  accumulation), and for f16 (accumulates in f32, rounds once) and integer means;
- *in place*: when the innermost dimension is kept, the output is initialized with the identity
  and the input is walked in memory order, combining into the output: the inner loop is then
  contiguous in both input and output instead of striding through the input.

Accumulations use the element type (integers wrap like numpy's `dtype=x.dtype` sums), except
integer means, which sum in 64 bits and divide truncating, as `graphc.dialects.semantics` does.
"""

from __future__ import annotations

from xdsl.dialects import arith
from xdsl.ir import Operation, SSAValue

from graphc.backends.cpu import scalar_ops
from graphc.backends.cpu.elements import ElemKind, elem_kind, kind_of, shape_of
from graphc.backends.cpu.loop_builder import REASSOC, Index, KernelBuilder
from graphc.dialects import dtypes
from graphc.dialects.graph import get_int, get_ints

KINDS = {
    "graph.reduce_sum": "sum",
    "graph.reduce_mean": "mean",
    "graph.reduce_max": "max",
    "graph.reduce_min": "min",
    "graph.reduce_prod": "prod",
    "graph.reduce_all": "all",
    "graph.reduce_any": "any",
}
I64_KIND = elem_kind(dtypes.i64)
U64_KIND = elem_kind(dtypes.ui64)
BOOL_KIND = elem_kind(dtypes.i1)


class _Accumulator:
    """How one reduction starts, combines and finishes, in some accumulator kind."""

    def __init__(self, b: KernelBuilder, reduction: str, kind: ElemKind, count: int):
        self.b, self.reduction, self.kind, self.count = b, reduction, kind, count
        if reduction in ("all", "any"):
            self.acc = BOOL_KIND
        elif reduction == "mean" and not kind.is_float:
            self.acc = U64_KIND if kind.is_unsigned else I64_KIND
        else:
            self.acc = kind

    def identity(self) -> SSAValue:
        r, acc = self.reduction, self.acc
        value = {"sum": 0, "mean": 0, "prod": 1, "all": 1, "any": 0}.get(r)
        if r == "max":
            value = scalar_ops.lowest(acc)
        elif r == "min":
            value = scalar_ops.highest(acc)
        return scalar_ops.const(self.b, acc, value)

    def combine(self, acc: SSAValue, x: SSAValue) -> SSAValue:
        b, r = self.b, self.reduction
        x = scalar_ops.cast(b, x, self.kind, self.acc)
        if r in ("sum", "mean"):
            return scalar_ops.binary(b, "add", self.acc, acc, x, REASSOC)
        if r == "prod":
            return scalar_ops.binary(b, "mul", self.acc, acc, x, REASSOC)
        if r == "max":
            return scalar_ops.maximum(b, self.acc, acc, x, REASSOC)
        if r == "min":
            return scalar_ops.minimum(b, self.acc, acc, x, REASSOC)
        return b.emit((arith.AndIOp if r == "all" else arith.OrIOp)(acc, x))

    def finish(self, acc: SSAValue) -> SSAValue:
        """The accumulator as a value of the result's compute type."""
        b = self.b
        if self.reduction == "mean":
            if self.acc.is_float:
                acc = b.emit(arith.DivfOp(acc, scalar_ops.const(b, self.acc, float(max(self.count, 1)))))
            else:
                divisor = scalar_ops.const(b, self.acc, max(self.count, 1))
                acc = b.emit((arith.DivUIOp if self.acc.is_unsigned else arith.DivSIOp)(acc, divisor))
        return scalar_ops.cast(b, acc, self.acc, self.kind)


def lower_reduce(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    x_type = op.operands[0].type
    kind = kind_of(x_type)
    shape = shape_of(x_type)
    axes = set(get_ints(op.attributes, "axes"))
    keep = bool(get_int(op.attributes, "keepdims"))
    reduction = KINDS[op.name]
    count = 1
    for a in axes:
        count *= shape[a]
    acc = _Accumulator(b, reduction, kind, count)
    in_place = (
        shape
        and (len(shape) - 1) not in axes
        and acc.acc == kind
        and kind.compute == kind.storage
        and not kind.is_bool
    )
    if in_place:
        _lower_in_place(b, acc, shape, axes, keep, ins[0], outs[0])
    else:
        _lower_carried(b, acc, shape, axes, keep, ins[0], outs[0])


def _out_index(shape, axes, keep, ivs: list[Index]) -> list[Index]:
    return [0 if d in axes else iv for d, iv in enumerate(ivs) if keep or d not in axes]


def _lower_carried(b: KernelBuilder, acc: _Accumulator, shape, axes, keep, x: SSAValue, out: SSAValue) -> None:
    kept = [d for d in range(len(shape)) if d not in axes]
    reduced = sorted(axes)
    with b.nest([shape[d] for d in kept]) as kept_ivs:
        with b.reduce_nest([shape[d] for d in reduced], [acc.identity()]) as red:
            ivs: list[Index] = [0] * len(shape)
            for d, iv in zip(kept, kept_ivs):
                ivs[d] = iv
            for d, iv in zip(reduced, red.ivs):
                ivs[d] = iv
            red.next(acc.combine(red.carried[0], b.load_value(x, ivs, acc.kind)))
        full = [0] * len(shape)
        for d, iv in zip(kept, kept_ivs):
            full[d] = iv
        b.store_value(acc.finish(red.results[0]), out, _out_index(shape, axes, keep, full), acc.kind)


def _lower_in_place(b: KernelBuilder, acc: _Accumulator, shape, axes, keep, x: SSAValue, out: SSAValue) -> None:
    kept = [d for d in range(len(shape)) if d not in axes]
    with b.nest([shape[d] for d in kept]) as kept_ivs:
        full: list[Index] = [0] * len(shape)
        for d, iv in zip(kept, kept_ivs):
            full[d] = iv
        b.store_value(acc.identity(), out, _out_index(shape, axes, keep, full), acc.kind)
    with b.nest(shape) as ivs:
        where = _out_index(shape, axes, keep, ivs)
        current = b.load_value(out, where, acc.kind)
        b.store_value(acc.combine(current, b.load_value(x, ivs, acc.kind)), out, where, acc.kind)
    if acc.reduction == "mean":
        with b.nest([shape[d] for d in kept]) as kept_ivs:
            full = [0] * len(shape)
            for d, iv in zip(kept, kept_ivs):
                full[d] = iv
            where = _out_index(shape, axes, keep, full)
            b.store_value(acc.finish(b.load_value(out, where, acc.kind)), out, where, acc.kind)


LOWERINGS = {name: lower_reduce for name in KINDS}
