"""Choosing a storage layout for every value of a function (the decision half of `optimize-layout`).

Takes: one block of `graph` ops. Leaves it untouched; `LayoutPlan.solve()` picks a label (see
`layout_rules`) for every value, and `natural` / `required` / `conversion_key` say what the rewrite
must emit. Values joined by layout-agnostic ops form a *cluster* that shares one label.

The cost of a labelling is what it makes the program do at run time: every distinct conversion
some use needs — a value in one label read in another — is a transpose, costing its bytes read and
written plus one kernel's overhead (the fusion cost model's numbers). Conversions are free when
the value is a constant (folded at compile time) or when the permutation only moves unit axes (a
reshape, a view). A `graph.transpose` of the program is itself just a use asking for its operand
in another label: it costs nothing when the labels on both sides agree.

The search starts from the identity labelling — exactly the program as written, its transposes
included — and moves one cluster at a time to the candidate label that lowers the total cost the
most (the labels that would make one of its transposes free), until no move helps: iterated
conditional modes. Each move strictly lowers the cost, so the result is never worse than the
input. In an NCHW CNN that an importer wrapped as transpose → NHWC op → transpose, each cluster
between two convolutions moves to NHWC in one step and every inner transpose becomes free.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Block, Operation, SSAValue

from graphc.dialects import graph as g
from graphc.passes import layout_rules as lr
from graphc.passes.fusion_cost_model import DEFAULT, value_bytes

MAX_SWEEPS = 32
"""Bound on sweeps over all clusters (each sweep that moves anything strictly lowers the cost)."""


@dataclass(frozen=True)
class Form:
    """How a use wants a value: `label` over `rank` axes (more axes than the value has when a
    broadcasting op first gives it leading unit axes)."""

    rank: int
    label: lr.Perm


def rank_of(value: SSAValue) -> int:
    return len(value.type.get_shape()) if isinstance(value.type, TensorType) else 0


def role_of(op: Operation) -> str:
    return lr.role(op) if isinstance(op, g.GraphOp) else lr.PINNED


class LayoutPlan:
    def __init__(self, block: Block):
        self.values: list[SSAValue] = list(block.args)
        for op in block.ops:
            self.values.extend(op.results)
        self._parent: dict[SSAValue, SSAValue] = {v: v for v in self.values}
        self._agnostic: list[Operation] = [op for op in block.ops if role_of(op) == lr.AGNOSTIC]
        for op in self._agnostic:
            for index, operand in enumerate(op.operands):
                # a constant takes every label for free: it must not tie the clusters it feeds together
                if lr.operand_kind(op, index) == "label" and not isinstance(operand.owner, g.ConstantOp):
                    self._union(operand, op.results[0])
        self.members: dict[SSAValue, list[SSAValue]] = {}
        for v in self.values:
            self.members.setdefault(self._find(v), []).append(v)
        self.labels: dict[SSAValue, lr.Perm] = {root: lr.identity(rank_of(root)) for root in self.members}
        self._reduced: dict[SSAValue, SSAValue] = {
            op.results[0]: op.operands[0] for op in block.ops if role_of(op) == lr.DROPS_AXES
        }
        """Result → operand of each reduction that drops axes (kept: the rewrite edits operands)."""
        self._ops_of: dict[SSAValue, list[Operation]] = {}
        for op in self._agnostic:
            self._ops_of.setdefault(self._find(op.results[0]), []).append(op)

    # -- clusters -------------------------------------------------------------------------------

    def _find(self, v: SSAValue) -> SSAValue:
        root = v
        while self._parent[root] is not root:
            root = self._parent[root]
        while self._parent[v] is not root:
            self._parent[v], v = root, self._parent[v]
        return root

    def _union(self, a: SSAValue, b: SSAValue) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra is not rb:
            self._parent[rb] = ra

    def label(self, v: SSAValue) -> lr.Perm:
        """The label of `v`'s cluster: how agnostic ops read and write it."""
        return self.labels[self._find(v)]

    # -- what each value is and what its uses need ------------------------------------------------

    def natural(self, v: SSAValue) -> lr.Perm:
        """The label `v` is produced in (before any conversion)."""
        owner = v.owner
        if not isinstance(owner, Operation):
            return lr.identity(rank_of(v))  # a function argument: the caller's layout
        role = role_of(owner)
        if role in (lr.AGNOSTIC, lr.TRANSPOSE):
            return self.label(v)
        if role == lr.DROPS_AXES:
            return lr.drop_axes(self.label(self._reduced[v]), lr.dropped_axes(owner))
        return lr.identity(rank_of(v))

    def required(self, v: SSAValue) -> set[Form]:
        """The forms `v`'s uses read it in."""
        rank = rank_of(v)
        forms = set()
        for use in v.uses:
            op = use.operation
            role = role_of(op)
            if role == lr.AGNOSTIC:
                kind = lr.operand_kind(op, use.index)
                result_label = self.label(op.results[0])
                if kind == "label":
                    forms.add(Form(rank, result_label))
                elif kind == "broadcast":
                    forms.add(Form(len(result_label), result_label))
                else:
                    forms.add(Form(rank, lr.identity(rank)))
            elif role == lr.DROPS_AXES:
                forms.add(Form(rank, self.label(v)))
            elif role == lr.TRANSPOSE:
                perm = g.get_ints(op.attrs(), "perm")
                forms.add(Form(rank, lr.compose(perm, self.label(op.results[0]))))
            else:
                forms.add(Form(rank, lr.identity(rank)))
        return forms

    def conversion_key(self, v: SSAValue, form: Form) -> tuple[int, lr.Perm]:
        """(rank, permutation) of the transpose that turns `v`'s natural form into `form`, without the
        leading unit axes when the permutation leaves them in place (broadcasting adds them back)."""
        rank = rank_of(v)
        perm = lr.conversion(lr.expand(self.natural(v), form.rank), form.label)
        extra = form.rank - rank
        if perm[:extra] == lr.identity(extra):
            return rank, tuple(a - extra for a in perm[extra:])
        return form.rank, perm

    def stored_shape(self, v: SSAValue) -> tuple[int, ...]:
        shape = g.shape_of(v.type)
        return tuple(shape[a] for a in self.natural(v))

    def is_free(self, v: SSAValue, key: tuple[int, lr.Perm]) -> bool:
        """Whether the conversion `key` of `v` costs nothing at run time."""
        rank, perm = key
        if perm == lr.identity(rank) or isinstance(v.owner, g.ConstantOp):
            return True
        shape = (1,) * (rank - rank_of(v)) + self.stored_shape(v)
        return lr.moves_only_unit_axes(perm, shape)

    def value_cost(self, v: SSAValue) -> float:
        keys = {self.conversion_key(v, form) for form in self.required(v)}
        paid = sum(1 for key in keys if not self.is_free(v, key))
        return paid * (2 * value_bytes(v) + DEFAULT.kernel_overhead_bytes) if paid else 0

    def cost(self, values: Iterable[SSAValue] | None = None) -> float:
        return sum(self.value_cost(v) for v in (self.values if values is None else values))

    # -- search -----------------------------------------------------------------------------------

    def solve(self) -> None:
        clusters = [root for root, members in self.members.items() if rank_of(root) >= 2]
        affected = {root: self._affected(root) for root in clusters}
        for _ in range(MAX_SWEEPS):
            moved = False
            for root in clusters:
                current = self.labels[root]
                best, best_cost = current, self.cost(affected[root])
                for candidate in self._candidates(root):
                    if candidate == current or not all(lr.accepts(op, candidate) for op in self._ops_of.get(root, [])):
                        continue
                    self.labels[root] = candidate
                    cost = self.cost(affected[root])
                    if cost < best_cost:
                        best, best_cost = candidate, cost
                self.labels[root] = best
                moved |= best != current
            if not moved:
                return

    def _affected(self, root: SSAValue) -> list[SSAValue]:
        """The values whose cost can change when the cluster `root` changes label: its members, the
        operands of the ops defining them, and the results of reductions that drop axes of them."""
        found: dict[SSAValue, None] = {}
        for v in self.members[root]:
            found[v] = None
            if isinstance(v.owner, Operation):
                for operand in v.owner.operands:
                    found[operand] = None
            for use in v.uses:
                if role_of(use.operation) == lr.DROPS_AXES:
                    found.update(dict.fromkeys(use.operation.results))
        return list(found)

    def _candidates(self, root: SSAValue) -> list[lr.Perm]:
        """Identity, and each label that would make a transpose into or out of the cluster free."""
        rank = rank_of(root)
        found = {lr.identity(rank): None}
        for v in self.members[root]:
            owner = v.owner
            if isinstance(owner, g.TransposeOp):
                perm = g.get_ints(owner.attrs(), "perm")
                found[lr.compose(lr.inverse(perm), self.natural(owner.input))] = None
            for use in v.uses:
                if isinstance(use.operation, g.TransposeOp):
                    perm = g.get_ints(use.operation.attrs(), "perm")
                    found[lr.compose(perm, self.label(use.operation.result))] = None
        return list(found)
