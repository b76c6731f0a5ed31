"""Elementwise graph ops → loop-level kernels.

Takes one elementwise graph op (unary math, casts, binary arithmetic, comparisons, select,
broadcast_to), plus the backend's own copy and fill steps. Leaves the body of its kernel: a loop nest
over the result in which each operand is read through a 1-D view (`memref.collapse_shape`) at a
linear index.

The iteration space is collapsed before the loops are built: dimensions of size 1 are dropped and
neighbouring dimensions are merged when every operand either has both or broadcasts both. A
same-shape op becomes one loop over all elements, and `x[N,H,W,C] + b[C]` becomes two loops, the
inner one contiguous in every operand: long, unit-stride innermost loops are what LLVM vectorizes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import arith
from xdsl.ir import Operation, SSAValue

from graphc.backends.cpu import scalar_ops
from graphc.backends.cpu.elements import ElemKind, kind_of, shape_of
from graphc.backends.cpu.loop_builder import Index, KernelBuilder

ScalarFn = Callable[[list[SSAValue]], SSAValue]


def collapse_broadcast(out_shape: Sequence[int], in_shapes: Sequence[Sequence[int]]):
    """The collapsed iteration space and, per operand, its element stride in each collapsed loop.

    Returns (sizes, strides) where `strides[i][g]` is operand i's stride for loop g (0 when it
    broadcasts along it), for operands stored contiguously in their own shapes.
    """
    rank = len(out_shape)
    padded = [[1] * (rank - len(s)) + list(s) for s in in_shapes]
    own_strides = []
    for s in padded:
        st = [0] * rank
        acc = 1
        for d in range(rank - 1, -1, -1):
            st[d] = acc
            acc *= s[d]
        own_strides.append(st)
    groups: list[list[int]] = []  # each: dims of the output, outermost first
    for d in range(rank):
        if out_shape[d] == 1:
            continue
        pattern = [p[d] == 1 for p in padded]
        if groups and [p[groups[-1][-1]] == 1 for p in padded] == pattern:
            groups[-1].append(d)
        else:
            groups.append([d])
    sizes = []
    for g in groups:
        n = 1
        for d in g:
            n *= out_shape[d]
        sizes.append(n)
    strides = [
        [0 if padded[i][g[-1]] == 1 else own_strides[i][g[-1]] for g in groups] for i in range(len(in_shapes))
    ]
    return sizes, strides


def elementwise(
    b: KernelBuilder,
    ins: Sequence[SSAValue],
    in_types: Sequence,
    out: SSAValue,
    out_type,
    fn: ScalarFn,
    in_kinds: Sequence[ElemKind] | None = None,
) -> None:
    """out[i] = fn(ins[i]...) with numpy broadcasting, over the collapsed iteration space."""
    out_shape = shape_of(out_type)
    in_shapes = [shape_of(t) for t in in_types]
    kinds = list(in_kinds) if in_kinds is not None else [kind_of(t) for t in in_types]
    out_kind = kind_of(out_type)
    sizes, strides = collapse_broadcast(out_shape, [*in_shapes, out_shape])
    flat_ins = [b.collapse(r) for r in ins]
    flat_out = b.collapse(out)

    with b.nest(sizes) as ivs:
        linear: dict[tuple[int, ...], list[Index]] = {}  # one index computation per stride pattern

        def at(shape: Sequence[int], st: Sequence[int]) -> list[Index]:
            if len(shape) == 0:
                return []
            key = tuple(st)
            if key not in linear:
                linear[key] = [b.linear(list(zip(ivs, st)))]
            return linear[key]

        values = [
            b.load_value(ref, at(shape, st), kind)
            for ref, shape, st, kind in zip(flat_ins, in_shapes, strides, kinds)
        ]
        result = fn(values)
        b.store_value(result, flat_out, at(out_shape, strides[-1]), out_kind)


# -- the graph ops -------------------------------------------------------------------------------


def lower_unary(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    kind = kind_of(op.operands[0].type)
    elementwise(
        b, ins, [op.operands[0].type], outs[0], op.results[0].type, lambda v: scalar_ops.unary(b, op.name, kind, v[0])
    )


def lower_binary(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    kind = kind_of(op.operands[0].type)
    types = [v.type for v in op.operands]
    elementwise(b, ins, types, outs[0], op.results[0].type, lambda v: scalar_ops.binary(b, op.name, kind, v[0], v[1]))


def lower_select(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    types = [v.type for v in op.operands]
    elementwise(b, ins, types, outs[0], op.results[0].type, lambda v: b.emit(arith.SelectOp(v[0], v[1], v[2])))


def lower_cast(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    src, dst = kind_of(op.operands[0].type), kind_of(op.results[0].type)
    elementwise(
        b, ins, [op.operands[0].type], outs[0], op.results[0].type, lambda v: scalar_ops.cast(b, v[0], src, dst)
    )


def lower_broadcast_to(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    elementwise(b, ins, [op.operands[0].type], outs[0], op.results[0].type, lambda v: v[0])


def lower_copy(b: KernelBuilder, tensor_type, src: SSAValue, dst: SSAValue) -> None:
    """The backend's copy step (an output that cannot be computed in place)."""
    elementwise(b, [src], [tensor_type], dst, tensor_type, lambda v: v[0])


def lower_fill(b: KernelBuilder, op: Operation, out: SSAValue) -> None:
    """The backend's fill step: a large splat constant written into its buffer."""
    kind = kind_of(op.results[0].type)
    (value,) = op.value.get_values()  # type: ignore[attr-defined]
    scalar = b.const(value, kind.compute) if not kind.is_bool else (b.true() if value else b.false())
    elementwise(b, [], [], out, op.results[0].type, lambda v: scalar)


UNARY = [
    "neg", "abs", "sign", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tanh",
    "sigmoid", "erf", "floor", "ceil", "round", "relu", "tan", "asin", "acos", "atan", "sinh", "cosh",
    "asinh", "acosh", "atanh", "not", "is_nan", "is_inf",
]  # fmt: skip
BINARY = [
    "add", "sub", "mul", "div", "floor_div", "floor_mod", "rem", "pow", "max", "min", "and", "or", "xor",
    "shift_left", "shift_right", "eq", "ne", "lt", "le", "gt", "ge",
]  # fmt: skip

LOWERINGS = {
    **{f"graph.{n}": lower_unary for n in UNARY},
    **{f"graph.{n}": lower_binary for n in BINARY},
    "graph.select": lower_select,
    "graph.cast": lower_cast,
    "graph.broadcast_to": lower_broadcast_to,
}
