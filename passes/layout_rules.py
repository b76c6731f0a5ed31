"""How each `graph` op relates to the memory layout of its tensors (used by `optimize-layout`).

Not a pass: the facts `layout_plan` reasons with and `layout` rewrites by. A *label* σ of a rank-R
value says how it is stored: `stored = transpose(logical, σ)`, so stored axis i is logical axis σ[i]
(the identity label is the value as the program means it). The ops fall into five roles:

- `AGNOSTIC`: computes the same thing on any axis order, provided every same-rank operand and the
  result share one label and the axis attributes are renamed (elementwise ops, casts, select,
  keepdims reductions, softmax, cumsum, concat, pad, slice, reverse, broadcast_to, and the
  `quant` dialect's quantize/dequantize/requantize, per axis too). Lower-rank
  operands broadcast against the result: they are first given leading unit axes (numpy's rule),
  then stored in the result's label. `graph.batch_norm` normalizes its last axis, so it only takes
  labels that keep the last axis last.
- `DROPS_AXES`: reductions without keepdims and argmax/argmin; they run in their operand's label
  and leave the induced label (the operand's stored order with the dropped axes removed).
- `TRANSPOSE`: a change of label, free when the labels on both sides make it one.
- `CONSTANT`: takes any label at compile time.
- `PINNED`: everything else (convolution, pooling, matmul, reshape, gather, resize, …, the
  function's return, ops of other dialects) reads and writes the identity label.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import DenseArrayBase
from xdsl.ir import Attribute, Operation

from graphc.dialects import graph as g
from graphc.dialects import quant as q

Perm = tuple[int, ...]

AGNOSTIC, DROPS_AXES, TRANSPOSE, CONSTANT, PINNED = "agnostic", "drops-axes", "transpose", "constant", "pinned"

# running sums/products along one axis (`graph.Cumulative` is their base where the dialect has it)
_CUMULATIVE = getattr(g, "Cumulative", g.CumsumOp)

_SAME_LABEL_OPS = (
    g.ElementwiseUnary, g.CastOp, g.ElementwiseBinary, g.SelectOp, g.Normalization, _CUMULATIVE,
    g.ConcatOp, g.PadOp, g.SliceOp, g.ReverseOp, g.BroadcastToOp, g.BatchNormOp,
    q.QuantizeOp, q.DequantizeOp, q.RequantizeOp,
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Permutations
# ---------------------------------------------------------------------------------------------


def identity(rank: int) -> Perm:
    return tuple(range(rank))


def inverse(p: Perm) -> Perm:
    out = [0] * len(p)
    for i, a in enumerate(p):
        out[a] = i
    return tuple(out)


def compose(p: Perm, q: Perm) -> Perm:
    """The one permutation with transpose(transpose(x, p), q) == transpose(x, compose(p, q))."""
    return tuple(p[i] for i in q)


def conversion(from_label: Perm, to_label: Perm) -> Perm:
    """The transpose that turns a value stored with `from_label` into the same value with `to_label`."""
    return compose(inverse(from_label), to_label)


def expand(label: Perm, rank: int) -> Perm:
    """`label` of a value after `rank - len(label)` leading unit axes are added (numpy broadcasting)."""
    extra = rank - len(label)
    return identity(extra) + tuple(a + extra for a in label)


def moves_only_unit_axes(perm: Perm, shape: Sequence[int]) -> bool:
    """Whether transpose(x, perm) keeps x's elements in memory order (a reshape would do)."""
    moved = [a for a in perm if shape[a] != 1]
    return moved == sorted(moved)


def drop_axes(label: Perm, dropped: Sequence[int]) -> Perm:
    """The label of a reduction's result (without keepdims) computed in the operand's `label`."""
    kept = [a for a in label if a not in dropped]
    return tuple(a - sum(1 for d in dropped if d < a) for a in kept)


# ---------------------------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------------------------


def role(op: Operation) -> str:
    if isinstance(op, g.ConstantOp):
        return CONSTANT
    if isinstance(op, g.TransposeOp):
        return TRANSPOSE
    if isinstance(op, g.Reduction):
        return AGNOSTIC if g.get_int(op.attrs(), "keepdims") else DROPS_AXES
    if isinstance(op, g.ArgReduction):
        return DROPS_AXES
    if isinstance(op, _SAME_LABEL_OPS) and len(op.results) == 1:
        return AGNOSTIC
    return PINNED


def dropped_axes(op: Operation) -> tuple[int, ...]:
    """For a `DROPS_AXES` op: the logical axes of its operand that its result lacks."""
    attrs = op.attrs()
    if isinstance(op, g.ArgReduction):
        return (g.get_int(attrs, "axis"),)
    return g.get_ints(attrs, "axes")


def result_rank(op: Operation) -> int:
    return len(op.results[0].type.get_shape())


def operand_kind(op: Operation, index: int) -> str:
    """For an `AGNOSTIC` op: `"label"` when the operand takes the op's label, `"broadcast"` when it
    has a lower rank and is expanded first, `"fixed"` when it is read as it is (batch-norm parameters)."""
    if isinstance(op, g.BatchNormOp) and index > 0:
        return "fixed"
    rank = len(op.operands[index].type.get_shape())
    return "label" if rank == result_rank(op) else "broadcast"


def accepts(op: Operation, label: Perm) -> bool:
    """Whether an `AGNOSTIC` op can run with its same-rank operands and result in `label`."""
    if isinstance(op, g.BatchNormOp):
        return label[-1] == len(label) - 1
    return True


def relabeled_attributes(op: Operation, label: Perm) -> dict[str, Attribute]:
    """The attributes of an `AGNOSTIC` or `DROPS_AXES` op that runs on stored data whose operand
    (for `DROPS_AXES`) or result (for `AGNOSTIC`) has `label`: axis numbers and per-axis lists
    are renamed from logical to stored axes."""
    attrs = op.attrs()
    position = inverse(label)  # logical axis → stored axis
    if isinstance(op, g.Reduction | g.ReverseOp):
        attrs["axes"] = g.ints_attr(sorted(position[a] for a in g.get_ints(attrs, "axes")))
    elif isinstance(op, g.ArgReduction | g.Normalization | _CUMULATIVE | g.ConcatOp):
        attrs["axis"] = g.int_attr(position[g.get_int(attrs, "axis")])
    elif isinstance(op, q.QuantizeOp | q.DequantizeOp | q.RequantizeOp) and "axis" in attrs:  # per-axis parameters
        attrs["axis"] = g.int_attr(position[g.get_int(attrs, "axis")])
    elif isinstance(op, g.PadOp):
        for key in ("low", "high", "interior"):
            attrs[key] = _permuted(attrs[key], label)
    elif isinstance(op, g.SliceOp):
        for key in ("starts", "limits", "strides"):
            attrs[key] = _permuted(attrs[key], label)
    elif isinstance(op, g.BroadcastToOp):
        attrs["shape"] = _permuted(attrs["shape"], label)
    return attrs


def _permuted(attr: Attribute, label: Perm) -> DenseArrayBase:
    assert isinstance(attr, DenseArrayBase)
    values = [int(v) for v in attr.get_values()]
    return g.ints_attr([values[a] for a in label])
