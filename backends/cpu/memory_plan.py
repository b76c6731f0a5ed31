"""Schedule and memory plan: which kernel runs when, and where every tensor lives.

Takes the graph-level `func.func @main` (after folding and decomposition). Leaves a `MemoryPlan`:

- the schedule: one `Step` per kernel, in the order of `@main` (already topological), plus a copy
  step for each output that cannot be computed in place (see below);
- the storage of every tensor: a graph input, an output buffer of the caller, a weight (an entry in
  the weight pointer table), an inline constant (a global in the object), or a byte range of the
  arena. `graph.reshape` never copies: its result shares its input's storage ("root").

Intermediates get 64-byte aligned offsets in one arena, reused once their lifetime ends: lifetimes
are intervals of step positions [definition, last use], inclusive, so a kernel's result never
overlaps the operands it reads. Placement is greedy by size (largest first), each buffer taking
the smallest gap between already placed buffers whose lifetimes overlap its own (as TFLite's
"greedy by size" planner does).

Outputs are written straight into the caller's buffers when the returned value (or the root it is
a reshape of) is computed by a kernel; an output that is a graph input, a weight, a constant, or a
root already bound to another output is copied by an extra step at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, DenseResourceAttr
from xdsl.ir import Operation, SSAValue

from graphc.backends.cpu.elements import nbytes_of, shape_of
from graphc.dialects.graph import ConstantOp, ReshapeOp

ALIGN = 64
FILL_THRESHOLD = 256
"""Inline splat constants with more elements than this are written by a fill kernel into the arena
instead of being materialised as a global of that size."""


@dataclass(frozen=True)
class Storage:
    kind: str  # "input" | "output" | "weight" | "global" | "arena"
    index: int = -1  # position in its table (inputs, outputs, weights, globals)
    offset: int = 0  # byte offset in the arena
    nbytes: int = 0


@dataclass
class Step:
    """One kernel call: `op` reads `inputs` and writes `outputs`.

    kind "op": a graph op (a `graph.constant` here is a fill of a large splat);
    kind "copy": copies `inputs[0]` into the caller's output buffer `output_index`.
    """

    kind: str
    op: Operation | None
    inputs: list[SSAValue]
    outputs: list[SSAValue]
    output_index: int = -1


@dataclass
class MemoryPlan:
    steps: list[Step]
    root: dict[SSAValue, SSAValue]  # every tensor -> the value that owns its memory
    storage: dict[SSAValue, Storage]  # root -> where it lives
    weight_names: list[str]  # the weight pointer table, in order
    globals: list[ConstantOp]  # inline constants, in order
    inputs: list[SSAValue]
    outputs: list[SSAValue]  # the returned values
    arena_bytes: int = 0
    intermediate_bytes_total: int = 0
    lifetimes: dict[SSAValue, tuple[int, int]] = field(default_factory=dict)

    def storage_of(self, value: SSAValue) -> Storage:
        return self.storage[self.root[value]]


def align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def is_large_splat(op: ConstantOp) -> bool:
    value = op.value
    if not isinstance(value, DenseIntOrFPElementsAttr):
        return False
    count = int(np.prod(shape_of(op.result.type), dtype=np.int64))
    return count > FILL_THRESHOLD and len(value.get_values()) == 1


def plan_memory(main: func.FuncOp) -> MemoryPlan:
    plan = MemoryPlan([], {}, {}, [], [], list(main.args), [])
    weight_index: dict[str, int] = {}
    for i, arg in enumerate(main.args):
        plan.root[arg] = arg
        plan.storage[arg] = Storage("input", i)

    returned: list[SSAValue] = []
    for op in main.body.block.ops:
        if isinstance(op, func.ReturnOp):
            returned = list(op.operands)
        elif isinstance(op, ConstantOp):
            result = op.result
            plan.root[result] = result
            if isinstance(op.value, DenseResourceAttr):
                name = op.value.resource_handle.data
                if name not in weight_index:
                    weight_index[name] = len(plan.weight_names)
                    plan.weight_names.append(name)
                plan.storage[result] = Storage("weight", weight_index[name])
            elif is_large_splat(op):
                plan.steps.append(Step("op", op, [], [result]))
            else:
                plan.storage[result] = Storage("global", len(plan.globals))
                plan.globals.append(op)
        elif isinstance(op, ReshapeOp):
            plan.root[op.result] = plan.root[op.input]
        else:
            plan.steps.append(Step("op", op, list(op.operands), list(op.results)))
            for r in op.results:
                plan.root[r] = r
    plan.outputs = returned

    # Outputs: computed in place when possible, copied otherwise.
    for k, value in enumerate(returned):
        r = plan.root[value]
        if r not in plan.storage:  # computed by a kernel and not yet bound to an output
            plan.storage[r] = Storage("output", k, 0, nbytes_of(r.type))
        else:
            plan.steps.append(Step("copy", None, [value], [], output_index=k))

    _place_intermediates(plan)
    return plan


def _place_intermediates(plan: MemoryPlan) -> None:
    first: dict[SSAValue, int] = {}
    last: dict[SSAValue, int] = {}
    for t, step in enumerate(plan.steps):
        for v in step.outputs:
            r = plan.root[v]
            first.setdefault(r, t)
            last[r] = max(last.get(r, t), t)
        for v in step.inputs:
            r = plan.root[v]
            last[r] = max(last.get(r, t), t)
    pending = [r for r in first if r not in plan.storage]
    plan.lifetimes = {r: (first[r], last[r]) for r in pending}
    sizes = {r: align(nbytes_of(r.type)) for r in pending}
    plan.intermediate_bytes_total = sum(sizes.values())

    placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last)
    order = sorted(pending, key=lambda r: (-sizes[r], first[r]))
    for r in order:
        size, (lo, hi) = sizes[r], plan.lifetimes[r]
        busy = sorted((o, s) for o, s, a, b in placed if a <= hi and lo <= b and s > 0)
        offset, best_gap, cursor = None, None, 0
        for o, s in busy:
            gap = o - cursor
            if gap >= size and (best_gap is None or gap < best_gap):
                offset, best_gap = cursor, gap
            cursor = max(cursor, o + s)
        if offset is None:
            offset = cursor
        placed.append((offset, size, lo, hi))
        plan.storage[r] = Storage("arena", -1, offset, nbytes_of(r.type))
    plan.arena_bytes = max((o + s for o, s, _, _ in placed), default=0)
