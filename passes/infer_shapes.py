"""infer-shapes: recomputes every result type from the function's argument types.

Takes: `graph` dialect whose `@main` argument types may have been changed (for example a batch
size edited by hand in a dump, or a specialised input shape). Leaves: every op's result types
re-inferred in order, and the function type updated to match what it returns.
MLIR equivalent: the Toy tutorial's ShapeInference pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import FunctionType, ModuleOp
from xdsl.passes import ModulePass

from graphc.dialects import graph as g


@dataclass(frozen=True)
class InferShapesPass(ModulePass):
    name = "infer-shapes"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for function in op.walk():
            if isinstance(function, func.FuncOp):
                infer_function(function)


def infer_function(function: func.FuncOp) -> None:
    block = function.body.block
    for node in list(block.ops):
        if isinstance(node, g.GraphOp):
            types = node.infer([v.type for v in node.operands], node.attrs())
            if types != [r.type for r in node.results]:
                rebuilt = type(node).make(list(node.operands), **node.attrs())
                block.insert_op_before(rebuilt, node)
                for old, new in zip(node.results, rebuilt.results):
                    old.replace_all_uses_with(new)
                block.erase_op(node)
        elif isinstance(node, func.ReturnOp):
            outputs = [v.type for v in node.arguments]
            inputs = [a.type for a in function.args]
            function.function_type = FunctionType.from_lists(inputs, outputs)
