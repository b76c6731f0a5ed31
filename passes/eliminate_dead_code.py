"""eliminate-dead-code: removes graph ops whose results nobody uses.

Takes: `graph` dialect. Leaves: the same, minus ops that do not reach a `func.return`.
Front ends translate whole graphs (including training leftovers); this trims them.
MLIR equivalent: the dead-code part of `canonicalize`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from graphc.dialects import graph as g


@dataclass(frozen=True)
class EliminateDeadCodePass(ModulePass):
    name = "eliminate-dead-code"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for function in op.walk():
            if isinstance(function, func.FuncOp):
                eliminate_dead_ops(function)


def eliminate_dead_ops(function: func.FuncOp) -> None:
    block = function.body.block
    for node in reversed(list(block.ops)):
        if isinstance(node, g.GraphOp) and all(r.first_use is None for r in node.results):
            block.erase_op(node)
