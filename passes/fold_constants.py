"""fold-constants: evaluates graph ops whose operands are all constants, at compile time.

Takes: `graph` dialect. Leaves: the same, with every op that depends only on constants replaced by
a `graph.constant` (a weight resource when large). This is what removes Keras 3's run-time weight
arithmetic (BatchNorm as Sub/Rsqrt/Mul, LayerNorm's gamma/beta math, filter transposes).
MLIR equivalent: the constant folding done by `canonicalize` through op folders.

Broadcasts that would blow a small constant up into a large one are left alone (as XLA does):
folding them would bloat the artifact and memory traffic for no saved work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from graphc.dialects import graph as g
from graphc.dialects.resources import constant_value, make_constant
from graphc.dialects.semantics import evaluate_op
from graphc.passes.weights_context import current_weights

GROWTH_LIMIT_ELEMENTS = 1 << 14
"""A folded result may exceed its inputs' total size only if it stays below this many elements."""


@dataclass(frozen=True)
class FoldConstantsPass(ModulePass):
    name = "fold-constants"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        weights = current_weights()
        for function in op.walk():
            if not isinstance(function, func.FuncOp):
                continue
            values: dict = {}
            for node in list(function.body.block.ops):
                if isinstance(node, g.ConstantOp):
                    continue
                if not isinstance(node, g.GraphOp) or not node.operands:
                    continue
                producers = [v.owner for v in node.operands]
                if not all(isinstance(p, g.ConstantOp) for p in producers):
                    continue
                if _would_grow(node):
                    continue
                args = []
                for p in producers:
                    if p not in values:
                        values[p] = constant_value(p, weights)
                    args.append(values[p])
                results = evaluate_op(node, args, np)
                hint = _hint(node, producers)
                new_ops = [make_constant(r, weights, hint) for r in results]
                for new in new_ops:
                    function.body.block.insert_op_before(new, node)
                for old, new in zip(node.results, new_ops):
                    old.replace_all_uses_with(new.result)
                function.body.block.erase_op(node)
        _erase_dead_constants(op)
        weights.prune(op)


def _would_grow(node: g.GraphOp) -> bool:
    out = sum(int(np.prod(r.type.get_shape())) for r in node.results)
    inputs = sum(int(np.prod(v.type.get_shape())) for v in node.operands)
    return out > max(inputs, GROWTH_LIMIT_ELEMENTS)


def _hint(node, producers) -> str:
    for p in producers:
        value = p.value
        handle = getattr(value, "resource_handle", None)
        if handle is not None:
            return handle.data
    return node.name.replace("graph.", "c_")


def _erase_dead_constants(module: ModuleOp) -> None:
    for node in list(module.walk()):
        if isinstance(node, g.ConstantOp) and node.result.first_use is None:
            node.parent_block().erase_op(node)
