"""The fusion cost model: bytes moved and recomputed work, from static shapes and dtypes.

Not a pass: the `fuse-*` passes ask it whether a fusion pays, and `graphc compile --report` prints
its numbers. Decisions live here, apart from the IR surgery (XLA keeps `priority_fusion`'s cost model
apart from the pass the same way), so they can be tested on their own.

The model, for a kernel made of a set of ops (an unfused op is a kernel of one op):

    cost(kernel)   = bytes_read + bytes_written + bytes_per_flop × recompute_flops + kernel_overhead
    bytes_read     = Σ size of each distinct value the kernel reads from memory (operands defined
                     outside the kernel; inline constants are immediates and free)
    bytes_written  = Σ size of each value the kernel defines and something outside it uses
    recompute      = Σ over ops (evaluations − elements) × flops per element: an op fused into a
                     consumer that reads it at more points than it has elements (a broadcast, an
                     overlapping pooling window) is computed again at each of them
    priority(a, b) = cost(a) + cost(b) − cost(a ∪ b)
                   = bytes_unfused − bytes_fused − recompute cost of duplicated work + one kernel

A fusion is worth doing when its priority is positive, and passes take the highest priority first.
Free ops (a `graph.reshape` is a view, a `graph.constant` is data) cost nothing on their own.

Limits that keep a kernel compilable and fast regardless of the bytes it saves:
- `max_ops` ops per region (compile time, instruction cache),
- `max_inputs` distinct input buffers (register pressure: one pointer and one live stream each),
- `max_sweeps` passes over a row in a reduction region,
- no fusion across an op whose output is needed at a different iteration space (a producer
  broadcast into a bigger consumer is recomputed at every consumer point) unless the producer is
  pure data movement (a broadcast or a transpose) or small (`small_elements`).

Evaluations per element, by how a consumer reads its operand: elementwise ops, broadcasts and views
read one operand element per output element (a broadcast operand is thus evaluated more often than
it has elements); pooling reads kh·kw; reductions read each input element once; inside a reduction
region, row-shaped values are computed once per row; in matmul/conv regions the epilogue runs once per
root element and prologue views are read while packing (no flops).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from math import prod

from xdsl.ir import Operation, SSAValue

from graphc.dialects import dtypes
from graphc.dialects import fusion as f
from graphc.dialects import graph as g


@dataclass(frozen=True)
class CostModel:
    max_ops: int = 64
    max_inputs: int = 16
    max_sweeps: int = 3
    small_elements: int = 4096
    """A producer with at most this many elements may be recomputed at a bigger iteration space
    and duplicated into several consumers."""
    kernel_overhead_bytes: int = 2048
    """What starting one more kernel costs (call, loop setup, a pass over cold cache lines), in bytes."""
    bytes_per_flop: float = 0.125
    """Machine balance: ~8 flops per byte of DRAM traffic (two AVX-512 cores vs ~20 GB/s)."""


DEFAULT = CostModel()

TRANSCENDENTAL = (
    g.ExpOp, g.Expm1Op, g.LogOp, g.Log1pOp, g.TanhOp, g.SigmoidOp, g.ErfOp, g.SinOp, g.CosOp, g.PowOp,
    g.TanOp, g.AsinOp, g.AcosOp, g.AtanOp, g.SinhOp, g.CoshOp, g.AsinhOp, g.AcoshOp, g.AtanhOp,
)  # fmt: skip
DIVISION = (g.DivOp, g.SqrtOp, g.RsqrtOp, g.FloorDivOp, g.FloorModOp, g.RemOp)


@dataclass
class Cost:
    bytes_read: int = 0
    bytes_written: int = 0
    recompute_flops: float = 0.0
    kernels: int = 0

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    def total(self, model: CostModel = DEFAULT) -> float:
        return self.bytes + model.bytes_per_flop * self.recompute_flops + model.kernel_overhead_bytes * self.kernels

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.bytes_read + other.bytes_read,
            self.bytes_written + other.bytes_written,
            self.recompute_flops + other.recompute_flops,
            self.kernels + other.kernels,
        )


def numel(value: SSAValue) -> int:
    return prod(g.shape_of(value.type))


def value_bytes(value: SSAValue) -> int:
    element = value.type.element_type
    return numel(value) * dtypes.to_numpy_dtype(element).itemsize


def flops_per_element(op: Operation) -> float:
    """Arithmetic per output element, in flop-equivalents (a transcendental is ~10 fused multiply-adds)."""
    if isinstance(op, TRANSCENDENTAL):
        return 20.0
    if isinstance(op, DIVISION):
        return 4.0
    if isinstance(op, f.ELEMENTWISE_OPS):
        return 1.0
    if isinstance(op, f.WINDOW_OPS):
        kh, kw = g.get_ints(op.attributes, "window")
        return float(kh * kw)
    return 0.0  # views, reductions (counted per input element below), constants


def is_free(op: Operation) -> bool:
    """Ops that are no kernel when left alone: constants (data) and reshapes (views)."""
    return isinstance(op, g.ConstantOp | g.ReshapeOp)


def op_cost(op: Operation) -> Cost:
    """An op as its own kernel: reads every operand, writes every result."""
    if is_free(op):
        return Cost()
    reads = sum(value_bytes(v) for v in _distinct(op.operands) if not is_immediate(v))
    return Cost(reads, sum(value_bytes(r) for r in op.results), 0.0, 1)


def group_cost(ops: Sequence[Operation], kind: str, model: CostModel = DEFAULT) -> Cost:
    """The cost of one kernel made of `ops` (in program order), by the template of `kind`."""
    members = set(ops)
    compute = [op for op in ops if not isinstance(op, g.ConstantOp)]
    if not compute or (len(compute) == 1 and is_free(compute[0])):
        return Cost()
    inputs = _distinct(v for op in compute for v in op.operands if v.owner not in members and not is_immediate(v))
    outputs = [r for op in compute for r in op.results if any(u.operation not in members for u in r.uses)]
    recompute = sum(max(0.0, evals - numel(op.results[0])) * flops_per_element(op)
                    for op, evals in evaluations(compute, kind).items())  # fmt: skip
    return Cost(sum(value_bytes(v) for v in inputs), sum(value_bytes(v) for v in outputs), recompute, 1)


def evaluations(compute: Sequence[Operation], kind: str) -> dict[Operation, float]:
    """How many times the elements of each op (given in program order) are computed inside one
    kernel of `kind`: its element count, or more when it is read at more points than that."""
    members = set(compute)
    row_level: set[Operation] = set()
    if kind == "reduction":  # values after a reduction that are not full-shaped: once per row
        reductions = [op for op in compute if isinstance(op, f.REDUCTION_OPS)]
        full = g.shape_of(reductions[0].operands[0].type) if reductions else None
        after: set[Operation] = set()
        for op in compute:
            if isinstance(op, f.REDUCTION_OPS) or any(v.owner in after for v in op.operands):
                after.add(op)
                if g.shape_of(op.results[0].type) != full:
                    row_level.add(op)
    demand: dict[Operation, float] = {}
    for op in reversed(compute):
        own = float(numel(op.results[0]))
        need = own
        if op not in row_level and not (kind in f.ROOT_OPS and isinstance(op, f.PROLOGUE_OPS)):
            for r in op.results:
                for use in r.uses:
                    user = use.operation
                    if user in demand:
                        need = max(need, _reads(user, use.index, demand[user]))
        demand[op] = need
    return demand


def _reads(user: Operation, index: int, user_evals: float) -> float:
    """Evaluations of operand `index` needed for `user_evals` evaluations of `user`."""
    operand = user.operands[index]
    if isinstance(user, f.REDUCTION_OPS + f.ROOT_TYPES):
        return float(numel(operand))
    if isinstance(user, f.WINDOW_OPS):
        kh, kw = g.get_ints(user.attributes, "window")
        return user_evals * kh * kw
    if isinstance(user, g.PadOp | g.ConcatOp):
        return user_evals * numel(operand) / max(1, numel(user.results[0]))
    return user_evals


def priority(a: Sequence[Operation], a_kind: str, b: Sequence[Operation], b_kind: str, merged: Sequence[Operation],
             merged_kind: str, model: CostModel = DEFAULT) -> float:  # fmt: skip
    """Cost saved by making one kernel `merged` (= a ∪ b, in program order) of the kernels `a` and `b`:
    bytes_unfused − bytes_fused − recompute cost of duplicated work + one kernel overhead."""
    before = group_cost(a, a_kind, model).total(model) + group_cost(b, b_kind, model).total(model)
    return before - group_cost(merged, merged_kind, model).total(model)


def within_limits(ops: Collection[Operation], model: CostModel = DEFAULT) -> bool:
    members = set(ops)
    compute = [op for op in ops if not isinstance(op, g.ConstantOp)]
    if len(compute) > model.max_ops:
        return False
    inputs = _distinct(v for op in compute for v in op.operands if v.owner not in members and not is_immediate(v))
    return len(inputs) <= model.max_inputs


def unfused_cost(ops: Iterable[Operation]) -> Cost:
    """Every op as its own kernel (free ops cost nothing)."""
    total = Cost()
    for op in ops:
        if isinstance(op, g.GraphOp):
            total = total + op_cost(op)
    return total


def is_immediate(value: SSAValue) -> bool:
    return isinstance(value.owner, Operation) and f.is_inline_constant(value.owner)


def _distinct(values: Iterable[SSAValue]) -> list[SSAValue]:
    seen: dict[SSAValue, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)
