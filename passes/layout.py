"""optimize-layout: runs NCHW networks in NHWC without run-time transposes in between.

Takes: `graph` dialect, typically from an NCHW model whose importer wrapped every convolution,
pooling and batch norm as `transpose(0,2,3,1)` → NHWC op → `transpose(0,3,1,2)` (filters as a
transposed OIHW constant), with elementwise ops, reductions, concat, pad, slice, softmax, … in NCHW
between them. Leaves: the same computation where those in-between ops run on NHWC data, so the
transposes cancel; constants that need another layout (per-channel biases, filters) are transposed
at compile time into new constants; a flatten of a 1x1-spatial map becomes a reshape. What stays a
transpose is a conversion no labelling can avoid: the user's NCHW inputs and outputs (the model
boundary keeps its layout), a reshape that mixes channels with space (flatten of an HxW>1 map), or
an op that fixes the layout (matmul, gather, …) reading a value that the rest of its cluster wants
in NHWC. Identical transposes of one value are emitted once; a transpose that only moves unit axes
becomes a reshape.

How: `layout_plan.LayoutPlan` picks a storage label for every value (cost-driven, never worse than
the input), and this module rewrites the block to match it: agnostic ops are rebuilt on stored data
with their axis attributes renamed (`layout_rules`), and each use that needs a value in another
layout reads one cached conversion (a folded constant, a reshape, or a transpose).

The target is NHWC because the `graph` dialect has only NHWC convolutions, pools, resizes and
last-axis batch norms: every backend consuming the dialect gets those in NHWC, so there is no other
layout a backend could prefer until an op grows a layout attribute. (The plan itself is
layout-neutral: it only follows where the NHWC ops are.)

Each function that had transposes gets `graphc.layout = {transposes_before, transposes_after}`
(run-time `graph.transpose` ops before the first run of the pass and after the latest), which
`graphc compile --report` prints. MLIR relatives: IREE's transpose propagation, onnxruntime's
transpose optimizer, TVM's ConvertLayout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import DenseResourceAttr, DictionaryAttr, IntegerAttr, ModuleOp, i64
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from graphc.dialects import graph as g
from graphc.dialects.resources import WeightStore, constant_value, make_constant
from graphc.passes import layout_rules as lr
from graphc.passes.layout_plan import Form, LayoutPlan, rank_of, role_of
from graphc.passes.weights_context import current_weights

STATS_ATTRIBUTE = "graphc.layout"


@dataclass(frozen=True)
class OptimizeLayoutPass(ModulePass):
    name = "optimize-layout"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        weights = current_weights()
        rewritten = False
        for function in list(op.walk()):
            if isinstance(function, func.FuncOp) and len(function.body.blocks) == 1:
                before = count_transposes(function.body.block)
                if before == 0:  # nothing to cancel: an NHWC model is left exactly as it is
                    continue
                plan = LayoutPlan(function.body.block)
                plan.solve()
                _Rewriter(plan, function.body.block, weights).run()
                _record(function, before, count_transposes(function.body.block))
                rewritten = True
        if rewritten:
            weights.prune(op)  # weights that were only read through a folded transpose


def count_transposes(block: Block) -> int:
    """Run-time transposes: `graph.transpose` ops whose operand is not a constant."""
    return sum(
        1 for node in block.ops if isinstance(node, g.TransposeOp) and not isinstance(node.input.owner, g.ConstantOp)
    )


def layout_stats(function: func.FuncOp) -> tuple[int, int] | None:
    """(transposes before, transposes after) recorded by the pass on `function`, if it ran there."""
    attr = function.attributes.get(STATS_ATTRIBUTE)
    if not isinstance(attr, DictionaryAttr):
        return None
    data = attr.data
    return int(data["transposes_before"].value.data), int(data["transposes_after"].value.data)


def _record(function: func.FuncOp, before: int, after: int) -> None:
    earlier = layout_stats(function)
    if earlier is not None:  # the pipeline ran again on its own output: keep the first count
        before = earlier[0]
    function.attributes[STATS_ATTRIBUTE] = DictionaryAttr(
        {"transposes_before": IntegerAttr(before, i64), "transposes_after": IntegerAttr(after, i64)}
    )


class _Rewriter:
    """Rewrites one block to the labels of `plan`, in program order."""

    def __init__(self, plan: LayoutPlan, block: Block, weights: WeightStore):
        self.plan = plan
        self.block = block
        self.weights = weights
        self.natural: dict[SSAValue, SSAValue] = {}
        """Original value → the value holding it in its natural label (see `LayoutPlan.natural`)."""
        self.converted: dict[tuple[SSAValue, tuple[int, lr.Perm]], SSAValue] = {}
        self.folded: list[g.ConstantOp] = []
        """Constants read through a compile-time transpose (erased if nothing else reads them)."""

    def run(self) -> None:
        replaced: list[Operation] = []
        for node in list(self.block.ops):
            role = role_of(node)
            if role == lr.TRANSPOSE:
                (x,), y = node.operands, node.results[0]
                perm = g.get_ints(node.attrs(), "perm")
                self.natural[y] = self.read(x, Form(rank_of(x), lr.compose(perm, self.plan.label(y))), node)
                replaced.append(node)
            elif role == lr.AGNOSTIC:
                label = self.plan.label(node.results[0])
                operands = [self.read(v, self._form(node, i, label), node) for i, v in enumerate(node.operands)]
                if self._rebuild(node, operands, label):
                    replaced.append(node)
            elif role == lr.DROPS_AXES:
                (x,) = node.operands
                label = self.plan.label(x)
                if self._rebuild(node, [self.read(x, Form(rank_of(x), label), node)], label):
                    replaced.append(node)
            elif isinstance(node, g.ReshapeOp) and self._keeps_memory_order(node.input):
                node.operands = [self.natural.get(node.input, node.input)]  # a reshape of a reshape
            elif role == lr.PINNED:
                operands = [self.read(v, Form(rank_of(v), lr.identity(rank_of(v))), node) for v in node.operands]
                if any(a is not b for a, b in zip(operands, node.operands)):
                    node.operands = operands
        for node in reversed(replaced):
            self.block.erase_op(node)
        for node in self.folded:
            if node.result.first_use is None:
                self.block.erase_op(node)

    def _keeps_memory_order(self, v: SSAValue) -> bool:
        """Whether `v`'s natural form lists its elements in the order of its identity form."""
        return lr.moves_only_unit_axes(lr.inverse(self.plan.natural(v)), self.plan.stored_shape(v))

    @staticmethod
    def _form(node: Operation, index: int, label: lr.Perm) -> Form:
        operand = node.operands[index]
        kind = lr.operand_kind(node, index)
        if kind == "label":
            return Form(rank_of(operand), label)
        if kind == "broadcast":
            return Form(len(label), label)
        return Form(rank_of(operand), lr.identity(rank_of(operand)))

    def _rebuild(self, node: Operation, operands: list[SSAValue], label: lr.Perm) -> bool:
        """Makes `node` compute on `operands`; True when a relabelled copy replaces it."""
        if label == lr.identity(len(label)):
            if any(a is not b for a, b in zip(operands, node.operands)):
                node.operands = operands
            return False
        new = type(node).make(operands, **lr.relabeled_attributes(node, label))
        self.block.insert_op_before(new, node)
        self.natural[node.results[0]] = new.results[0]
        return True

    def read(self, v: SSAValue, form: Form, anchor: Operation) -> SSAValue:
        """`v` in `form`, converting (once per value and form) right before `anchor` if needed."""
        source = self.natural.get(v, v)
        key = self.plan.conversion_key(v, form)
        rank, perm = key
        if perm == lr.identity(rank) and rank == rank_of(v):
            return source
        if (v, key) in self.converted:
            return self.converted[(v, key)]
        extra = rank - rank_of(v)
        shape = (1,) * extra + self.plan.stored_shape(v)
        target = [shape[a] for a in perm]
        if isinstance(v.owner, g.ConstantOp):
            array = np.transpose(constant_value(v.owner, self.weights).reshape(shape), perm)
            new_ops = [make_constant(array, self.weights, _hint(v.owner))]
            self.folded.append(v.owner)
        elif lr.moves_only_unit_axes(perm, shape):
            new_ops = [g.ReshapeOp.make([source], shape=g.ints_attr(target))]
        else:
            new_ops = []
            if extra:
                new_ops.append(g.ReshapeOp.make([source], shape=g.ints_attr(shape)))
                source = new_ops[-1].results[0]
            new_ops.append(g.TransposeOp.make([source], perm=g.ints_attr(perm)))
        for new in new_ops:
            self.block.insert_op_before(new, anchor)
        self.converted[(v, key)] = new_ops[-1].results[0]
        return new_ops[-1].results[0]


def _hint(constant: g.ConstantOp) -> str:
    value = constant.value
    if isinstance(value, DenseResourceAttr):
        return value.resource_handle.data
    return "c_layout"
