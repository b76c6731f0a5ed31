"""Helpers for tests that build graph programs by hand."""

from __future__ import annotations

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from graphc.dialects import dtypes
from graphc.dialects.resources import GraphProgram, WeightStore, make_constant, set_io_names


class ProgramBuilder:
    """Builds `func.func @main` op by op: `b.op(g.AddOp, x, y)`, `b.const(array)`, `b.build(outs)`."""

    def __init__(self, inputs: dict[str, tuple[tuple[int, ...], np.dtype]]):
        self.weights = WeightStore()
        self.names = list(inputs)
        types = [dtypes.tensor_of(shape, dtype) for shape, dtype in inputs.values()]
        self.function = func.FuncOp("main", (types, []))
        self.block = self.function.body.block
        self.args = dict(zip(self.names, self.block.args))

    def op(self, op_type, *operands, **attrs):
        new = op_type.make(list(operands), **attrs)
        self.block.add_op(new)
        return new.results[0] if len(new.results) == 1 else new.results

    def const(self, array, hint: str = "w"):
        new = make_constant(np.asarray(array), self.weights, hint)
        self.block.add_op(new)
        return new.result

    def build(self, outputs: dict) -> GraphProgram:
        values = list(outputs.values())
        self.block.add_op(func.ReturnOp(*values))
        self.function.function_type = func.FunctionType.from_lists(
            [a.type for a in self.block.args], [v.type for v in values]
        )
        set_io_names(self.function, self.names, list(outputs))
        module = ModuleOp([self.function])
        module.verify()
        return GraphProgram(module, self.weights)
