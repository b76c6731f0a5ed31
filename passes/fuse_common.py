"""Shared machinery of the `fuse-*` passes: a function's ops as fusion groups, and back to regions.

Not a pass. Every fusion pass works the same way on each `func.func`:
1. `FusionState(function)` inlines the existing `fusion.region`s (remembering each as a group of
   its ops with its kind) and drops dead graph ops (they would be kernels computing nothing), so
   the pass sees plain graph ops partitioned into groups;
2. the pass merges groups, adds ops to groups or clones cheap producers into them, asking the cost
   model (`fusion_cost_model`) whether it pays and `graphc.dialects.fusion.analyze` whether the
   result fits a template;
3. `materialize()` orders the groups topologically, outlines each into a `fusion.region`
   (inline constants copied in, weights as operands) and names the regions `fusion_0`, … in
   program order.
So passes compose in any order, and a dump taken after any of them reads back and continues.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import VerifyException

from graphc.dialects import fusion as f
from graphc.dialects import graph as g
from graphc.passes import fusion_cost_model as cm


@dataclass(eq=False)
class Group:
    """Ops (in no particular order; `FusionState.ops_of` sorts them) that will become one region."""

    kind: str
    ops: set[Operation] = field(default_factory=set)

    def __repr__(self) -> str:
        return f"Group({self.kind}, {len(self.ops)} ops)"


Node = Group | Operation
"""A future kernel: a group, or a plain op not (yet) in any group."""


class FusionState:
    def __init__(self, function: func.FuncOp, model: cm.CostModel = cm.DEFAULT):
        self.function = function
        self.block: Block = function.body.block
        self.model = model
        self.group_of: dict[Operation, Group] = {}
        self._versions: dict[int, int] = {}
        for region in [op for op in self.block.ops if isinstance(op, f.RegionOp)]:
            kind = region.kind_name
            moved = f.inline(region)
            group = Group(kind, {op for op in moved if not isinstance(op, g.ConstantOp)})
            for op in group.ops:
                self.group_of[op] = group
        for op in reversed(list(self.block.ops)):  # a dead op would be a kernel computing nothing
            if isinstance(op, g.GraphOp) and not any(r.uses for r in op.results):
                self.group_of.pop(op, None)
                self.block.erase_op(op)
        for group in {id(gr): gr for gr in self.group_of.values()}.values():
            group.ops = {op for op in group.ops if op.parent is not None}
        self.renumber()

    # -- positions and nodes -------------------------------------------------------------------

    def renumber(self) -> None:
        self.pos: dict[Operation, int] = {op: i for i, op in enumerate(self.block.ops)}

    def groups(self) -> list[Group]:
        seen: dict[Group, None] = {}
        for op in self.block.ops:
            if op in self.group_of:
                seen.setdefault(self.group_of[op], None)
        return list(seen)

    def plain_ops(self) -> list[Operation]:
        return [op for op in self.block.ops if op not in self.group_of]

    def node_of(self, op: Operation) -> Node:
        return self.group_of.get(op, op)

    def ops_of(self, node: Node) -> list[Operation]:
        if isinstance(node, Group):
            return sorted(node.ops, key=self.pos.__getitem__)
        return [node]

    def kind_of(self, node: Node) -> str | None:
        return node.kind if isinstance(node, Group) else None

    def users(self, node: Node) -> list[Node]:
        """Nodes that read a value `node` defines (in program order)."""
        out: dict[Node, None] = {}
        for op in self.ops_of(node):
            for r in op.results:
                for use in r.uses:
                    other = self.node_of(use.operation)
                    if other is not node:
                        out.setdefault(other, None)
        return list(out)

    def producers(self, node: Node) -> list[Node]:
        out: dict[Node, None] = {}
        for op in self.ops_of(node):
            for v in op.operands:
                if isinstance(v.owner, Operation) and v.owner.parent_block() is self.block:
                    other = self.node_of(v.owner)
                    if other is not node:
                        out.setdefault(other, None)
        return list(out)

    def inputs(self, node: Node) -> list[SSAValue]:
        """Distinct values `node` reads from memory (no immediates)."""
        members = set(self.ops_of(node))
        seen: dict[SSAValue, None] = {}
        for op in self.ops_of(node):
            for v in op.operands:
                if v.owner not in members and not cm.is_immediate(v):
                    seen.setdefault(v, None)
        return list(seen)

    def outputs(self, ops: Iterable[Operation]) -> list[SSAValue]:
        members = set(ops)
        return [r for op in ops for r in op.results if any(u.operation not in members for u in r.uses)]

    def first_position(self, node: Node) -> int:
        return min(self.pos[op] for op in self.ops_of(node))

    def _last(self, node: Node) -> int:
        return max(self.pos[op] for op in self.ops_of(node))

    # -- legality ------------------------------------------------------------------------------

    def creates_cycle(self, a: Node, b: Node) -> bool:
        """Whether merging `a` and `b` would make a cycle (a path between them through a third node)."""
        return self._reaches_indirectly(a, b) or self._reaches_indirectly(b, a)

    def _reaches_indirectly(self, src: Node, dst: Node) -> bool:
        limit = self._last(dst)
        stack = [n for n in self.users(src) if n is not dst]
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if id(node) in seen or node is src:
                continue
            seen.add(id(node))
            if node is dst:
                return True
            if self.first_position(node) > limit:
                continue
            for user in self.users(node):
                if user is dst:
                    return True
                stack.append(user)
        return False

    def fits(self, ops: list[Operation], kind: str) -> bool:
        """Whether `ops` (in program order) make a valid region of `kind` within the limits."""
        if not cm.within_limits(ops, self.model):
            return False
        try:
            attrs = f.analyze(kind, ops, self.outputs(ops))
        except VerifyException:
            return False
        sweeps = attrs.get("sweeps")
        return sweeps is None or sweeps.value.data <= self.model.max_sweeps

    def merged_ops(self, a: Node, b: Node) -> list[Operation]:
        return sorted(set(self.ops_of(a)) | set(self.ops_of(b)), key=self.pos.__getitem__)

    def cost(self, node: Node, kind: str | None = None) -> float:
        ops = self.ops_of(node)
        kind = kind or self.kind_of(node) or default_kind(ops[0])
        return cm.group_cost(ops, kind, self.model).total(self.model)

    def merge_priority(self, a: Node, b: Node, kind: str) -> float | None:
        """The priority of fusing `a` and `b` into one region of `kind`, or None if not allowed.

        Checks the template and limits, but not cycles (`creates_cycle`, checked only for the
        candidate that is actually taken, since it is the expensive test)."""
        ops = self.merged_ops(a, b)
        if not self.fits(ops, kind):
            return None
        before = self.cost(a) + self.cost(b)
        return before - cm.group_cost(ops, kind, self.model).total(self.model)

    # -- edits ---------------------------------------------------------------------------------

    def merge(self, a: Node, b: Node, kind: str) -> Group:
        group = a if isinstance(a, Group) else b if isinstance(b, Group) else Group(kind)
        group.kind = kind
        for node in (a, b):
            for op in self.ops_of(node):
                group.ops.add(op)
                self.group_of[op] = group
            if isinstance(node, Group) and node is not group:
                node.ops = set()
        return group

    def new_group(self, kind: str, ops: Iterable[Operation]) -> Group:
        group = Group(kind)
        for op in ops:
            group.ops.add(op)
            self.group_of[op] = group
        return group

    def clone_for(self, op: Operation, uses: list, group: Group | None) -> Operation:
        """Clones `op` right after itself, redirects `uses` (of its results) to the clone."""
        copy = op.clone()
        self.block.insert_op_after(copy, op)
        for use in uses:
            index = list(op.results).index(use.operation.operands[use.index])
            use.operation.operands[use.index] = copy.results[index]
        if group is not None:
            group.ops.add(copy)
            self.group_of[copy] = group
        self.renumber()
        return copy

    def erase_if_dead(self, op: Operation) -> bool:
        if any(r.uses for r in op.results):
            return False
        group = self.group_of.pop(op, None)
        if group is not None:
            group.ops.discard(op)
        self.block.erase_op(op)
        self.renumber()
        return True

    # -- greedy driver -------------------------------------------------------------------------

    def fuse_greedily(
        self,
        candidates: Callable[[Node], Iterable[tuple[Node, Node, str]]],
        nodes: Iterable[Node],
        accept_zero: Callable[[Node, Node], bool] | None = None,
    ) -> int:
        """Repeatedly takes the highest-priority legal candidate pair (XLA's priority fusion).

        `candidates(node)` yields the pairs (a, b, merged kind) that involve `node`; it is asked for
        every node of `nodes` first, then for each merged node. A pair with positive priority is
        taken, or with zero priority when `accept_zero(a, b)` says so (fusing a free reshape
        changes no bytes but lets the ops around it fuse). Priorities depend only on the two op
        sets, so a queued pair stays valid until one of its nodes changes (then it is dropped and
        the merged node's pairs are queued afresh); a pair that would close a cycle always would.
        Returns the number of merges."""
        heap: list = []
        seen: set[tuple] = set()

        def push(a: Node, b: Node, kind: str) -> None:
            key = (id(a), id(b), kind, self._version(a), self._version(b))
            if key in seen:
                return
            seen.add(key)
            p = self.merge_priority(a, b, kind)
            if p is not None and (p > 0 or (p == 0 and accept_zero is not None and accept_zero(a, b))):
                heapq.heappush(heap, (-p, self.first_position(a), self.first_position(b), key, a, b, kind))

        for node in list(nodes):
            for a, b, kind in candidates(node):
                push(a, b, kind)
        merges = 0
        while heap:
            *_, key, a, b, kind = heapq.heappop(heap)
            if not (self.alive(a) and self.alive(b)) or key[3:] != (self._version(a), self._version(b)):
                continue
            if self.creates_cycle(a, b):
                continue
            merged = self.merge(a, b, kind)
            self._bump(a, b, merged)
            merges += 1
            for x, y, k in candidates(merged):
                push(x, y, k)
        return merges

    def alive(self, node: Node) -> bool:
        """Whether `node` is still a node (a plain op not merged away, a group not merged into another)."""
        if isinstance(node, Group):
            return bool(node.ops) and self.group_of.get(next(iter(node.ops))) is node
        return node not in self.group_of and node.parent is not None

    def _version(self, node: Node) -> int:
        return self._versions.get(id(node), 0)

    def _bump(self, *nodes: Node) -> None:
        """A node's priority with another depends only on the two op sets: bump the merged ones."""
        for node in nodes:
            self._versions[id(node)] = self._versions.get(id(node), 0) + 1

    # -- back to IR ----------------------------------------------------------------------------

    def materialize(self) -> None:
        """Outlines every group into a `fusion.region`, in a topological order of the groups."""
        self.renumber()
        units = self._topological_units()
        for unit in units:  # make each group contiguous, in unit order
            for op in unit:
                op.detach()
                self.block.add_op(op)
        for unit in units:
            group = self.group_of.get(unit[0])
            if group is not None:
                _cse(unit)
                ops = [op for op in unit if op.parent is not None]
                f.outline(ops, group.kind)
        name_regions(self.block)
        for op in reversed(list(self.block.ops)):
            if isinstance(op, g.ConstantOp) and not op.results[0].uses:
                self.block.erase_op(op)

    def _topological_units(self) -> list[list[Operation]]:
        unit_of: dict[Operation, int] = {}
        units: list[list[Operation]] = []
        index_of_group: dict[int, int] = {}
        terminator = self.block.last_op
        for op in self.block.ops:
            group = self.group_of.get(op)
            if group is None:
                unit_of[op] = len(units)
                units.append([op])
            else:
                if id(group) not in index_of_group:
                    index_of_group[id(group)] = len(units)
                    units.append([])
                unit_of[op] = index_of_group[id(group)]
                units[unit_of[op]].append(op)
        deps: list[set[int]] = [set() for _ in units]
        users: list[set[int]] = [set() for _ in units]
        for op, u in unit_of.items():
            for v in op.operands:
                owner = v.owner
                if isinstance(owner, Operation) and owner in unit_of and unit_of[owner] != u:
                    deps[u].add(unit_of[owner])
                    users[unit_of[owner]].add(u)
        # A region goes where its last op was (its results are ready there): copies of cheap
        # producers at the top of a region do not pull it ahead of the program order.
        first = [max(self.pos[op] for op in unit) for unit in units]
        last_unit = unit_of.get(terminator) if isinstance(terminator, func.ReturnOp) else None
        ready = [(first[u], u) for u in range(len(units)) if not deps[u] and u != last_unit]
        heapq.heapify(ready)
        order: list[int] = []
        remaining = [len(d) for d in deps]
        while ready:
            _, u = heapq.heappop(ready)
            order.append(u)
            for w in users[u]:
                remaining[w] -= 1
                if remaining[w] == 0 and w != last_unit:
                    heapq.heappush(ready, (first[w], w))
        if last_unit is not None:
            order.append(last_unit)
        if len(order) != len(units):
            raise AssertionError("fusion groups form a cycle (a fusion pass skipped creates_cycle)")
        return [units[u] for u in order]


def _cse(ops: list[Operation]) -> None:
    """Removes duplicates inside one group (clones of a producer that met again in one region)."""
    seen: dict[tuple, Operation] = {}
    for op in ops:
        if op.regions or isinstance(op, g.ConstantOp):
            continue
        key = (op.name, tuple(op.operands), tuple(sorted((k, str(v)) for k, v in op.attributes.items())),
               tuple(r.type for r in op.results))  # fmt: skip
        other = seen.get(key)
        if other is None:
            seen[key] = op
            continue
        for old, new in zip(op.results, other.results):
            old.replace_all_uses_with(new)
        op.parent_block().erase_op(op)


def name_regions(block: Block) -> None:
    for i, region in enumerate(op for op in block.ops if isinstance(op, f.RegionOp)):
        region.attributes["name"] = StringAttr(f"fusion_{i}")


def default_kind(op: Operation) -> str:
    """The kind of a region holding just `op`."""
    for kind, roots in f.ROOT_OPS.items():
        if isinstance(op, roots):
            return kind
    if isinstance(op, f.REDUCTION_OPS):
        return "reduction"
    if isinstance(op, f.ELEMENTAL_OPS):
        return "loop"
    return "opaque"


def is_view_only(ops: Iterable[Operation]) -> bool:
    return all(isinstance(op, f.VIEW_OPS + (g.ConstantOp,)) for op in ops)


@dataclass(frozen=True)
class FusionPass(ModulePass):
    """Base of the fuse-* passes: the cost model's knobs are pass options (`fuse-x{max-ops=8}`)."""

    max_ops: int = cm.DEFAULT.max_ops
    max_inputs: int = cm.DEFAULT.max_inputs
    max_sweeps: int = cm.DEFAULT.max_sweeps
    small_elements: int = cm.DEFAULT.small_elements

    def cost_model(self) -> cm.CostModel:
        names = {fl.name for fl in fields(cm.CostModel)}
        return cm.CostModel(**{k: getattr(self, k) for k in names if hasattr(self, k)})

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for function in list(op.walk()):
            if isinstance(function, func.FuncOp) and function.body.blocks:
                state = FusionState(function, self.cost_model())
                self.fuse(state)
                state.materialize()

    def fuse(self, state: FusionState) -> None:
        raise NotImplementedError
