"""Building graph programs in Python, op by op (tests, benchmarks, hand-made examples).

    b = ProgramBuilder({"x": ((4, 8), np.float32)})
    h = b.op(g.MatMulOp, b.args["x"], b.const(w, "w1"))
    program = b.build({"y": b.op(g.ReluOp, h)})

`op` infers result types (`GraphOp.make`); `const` inlines small arrays and stores large ones as
weights; `build` returns a verified `GraphProgram` with the given input and output names.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from graphc.dialects import dtypes
from graphc.dialects.resources import GraphProgram, WeightStore, make_constant, set_io_names


class ProgramBuilder:
    def __init__(self, inputs: dict[str, tuple[Sequence[int], object]]):
        self.weights = WeightStore()
        self.names = list(inputs)
        types = [dtypes.tensor_of(tuple(shape), dtype) for shape, dtype in inputs.values()]
        self.function = func.FuncOp("main", (types, []))
        self.block = self.function.body.block
        self.inputs: list[SSAValue] = list(self.block.args)
        """The function's arguments, in order."""
        self.args: dict[str, SSAValue] = dict(zip(self.names, self.inputs))
        """The function's arguments, by input name."""

    def op(self, op_type, *operands, **attrs):
        """Appends `op_type` and returns its result (or the list of results of a multi-result op)."""
        new = op_type.make(list(operands), **attrs)
        self.block.add_op(new)
        return new.results[0] if len(new.results) == 1 else list(new.results)

    def const(self, array, hint: str = "w") -> SSAValue:
        new = make_constant(np.asarray(array), self.weights, hint)
        self.block.add_op(new)
        return new.result

    def build(self, outputs: dict[str, SSAValue]) -> GraphProgram:
        values = list(outputs.values())
        self.block.add_op(func.ReturnOp(*values))
        self.function.function_type = func.FunctionType.from_lists(
            [a.type for a in self.block.args], [v.type for v in values]
        )
        set_io_names(self.function, self.names, list(outputs))
        module = ModuleOp([self.function])
        module.verify()
        return GraphProgram(module, self.weights)
