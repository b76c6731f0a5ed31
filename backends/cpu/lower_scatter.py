"""Element-indexed gathers and scatters → loop-level kernels: gather_elements, scatter_elements,
scatter_nd.

Takes one of those graph ops (no fusion template: each is an `opaque` region, one kernel). Leaves
its kernel body, with `graphc.dialects.graph`'s semantics:

- gather_elements: one loop nest over the indices (the result's shape); each index is read,
  wrapped and clamped (`lower_misc.normalized_index`, as `graph.gather` does) and the input
  element it names is copied;
- scatter_elements / scatter_nd: the input copied into the result (the memory plan never lets a
  result share an operand's buffer), then one sequential loop nest over the update positions in
  row-major order — later updates must see earlier ones, so with duplicate positions the last
  store wins and reductions combine one update at a time, as the definition's loop does. An update
  whose index is out of range after wrapping is skipped (`scf.if`). Reductions are the graph ops'
  scalar semantics (`scalar_ops`: NaN-propagating max/min; or/and on i1) in the compute type, and
  f16/bf16 round on every store, like numpy's `ufunc.at` on those types.
"""

from __future__ import annotations

from xdsl.dialects import arith
from xdsl.ir import Operation, SSAValue

from graphc.backends.cpu import lower_elementwise, scalar_ops
from graphc.backends.cpu.elements import ElemKind, kind_of, shape_of
from graphc.backends.cpu.loop_builder import Index, KernelBuilder
from graphc.backends.cpu.lower_misc import normalized_index, to_index
from graphc.dialects.graph import get_int, get_str


def lower_gather_elements(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    xs = shape_of(op.operands[0].type)
    idx_type = op.operands[1].type
    idx_kind = kind_of(idx_type)
    axis = get_int(op.attributes, "axis")
    with b.nest(shape_of(idx_type)) as p:
        i = normalized_index(b, b.load_value(ins[1], p, idx_kind), idx_kind, xs[axis])
        b.store(b.load(ins[0], [*p[:axis], i, *p[axis + 1 :]]), outs[0], p)


def lower_scatter_elements(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    x_type, idx_type = op.operands[0].type, op.operands[1].type
    xs, idx_kind = shape_of(x_type), kind_of(idx_type)
    axis = get_int(op.attributes, "axis")
    update = _updater(b, op)
    lower_elementwise.lower_copy(b, x_type, ins[0], outs[0])
    with b.nest(shape_of(idx_type)) as p:
        i, inside = _wrapped(b, b.load_value(ins[1], p, idx_kind), idx_kind, xs[axis])
        with b.if_(inside):
            update(outs[0], [*p[:axis], i, *p[axis + 1 :]], ins[2], p)


def lower_scatter_nd(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    x_type, idx_type = op.operands[0].type, op.operands[1].type
    xs, iss, idx_kind = shape_of(x_type), shape_of(idx_type), kind_of(idx_type)
    depth = iss[-1]
    update = _updater(b, op)
    lower_elementwise.lower_copy(b, x_type, ins[0], outs[0])
    with b.nest(iss[:-1]) as p:
        picked = [_wrapped(b, b.load_value(ins[1], [*p, j], idx_kind), idx_kind, xs[j]) for j in range(depth)]
        with b.if_(b.all_of([inside for _, inside in picked])), b.nest(xs[depth:]) as s:
            update(outs[0], [*(i for i, _ in picked), *s], ins[2], [*p, *s])


def _wrapped(b: KernelBuilder, value: SSAValue, kind: ElemKind, size: int) -> tuple[Index, SSAValue]:
    """The index (negative ones counted from the end) and whether it lies in [0, size)."""
    i = to_index(b, value, kind)
    wrapped = b.emit(arith.SelectOp(b.cmp_index("slt", i, 0), b.index(b.add(i, size)), i))
    inside = b.in_range(wrapped, 0, size)
    assert inside is not None  # a dynamic index is always tested
    return wrapped, inside


def _updater(b: KernelBuilder, op: Operation):
    """update(out, where, updates, at): out[where] = updates[at], or combined by the reduction."""
    kind = kind_of(op.results[0].type)
    reduction = get_str(op.attributes, "reduction")

    def update(out: SSAValue, where: list[Index], updates: SSAValue, at: list[Index]) -> None:
        value = b.load_value(updates, at, kind)
        if reduction != "none":
            current = b.load_value(out, where, kind)
            if reduction == "max":
                value = scalar_ops.maximum(b, kind, current, value)
            elif reduction == "min":
                value = scalar_ops.minimum(b, kind, current, value)
            else:
                value = scalar_ops.binary(b, reduction, kind, current, value)
        b.store_value(value, out, where, kind)

    return update


LOWERINGS = {
    "graph.gather_elements": lower_gather_elements,
    "graph.scatter_elements": lower_scatter_elements,
    "graph.scatter_nd": lower_scatter_nd,
}
