"""Gives plain `quant` ops a single-op fusion region each, the only form the CPU backend lowers them in.

Takes: a `GraphProgram` whose functions may hold `quant` ops outside regions (compiled with
`--no-fusion`, or by a pipeline without `fuse-remaining`). Leaves: a clone in which each such op
sits alone in a region of its template's kind (`conv` / `matmul` for `quant.conv2d` /
`quant.matmul`, `loop` for quantize, dequantize and requantize), so that `lower_int8` compiles it
exactly as it compiles the same op after fusion; every other op is left as it was. A program
without plain `quant` ops is returned unchanged (not cloned).
"""

from __future__ import annotations

from xdsl.dialects import func

from graphc.dialects import fusion
from graphc.dialects import quant as q
from graphc.dialects.resources import GraphProgram

QUANT_OPS = (q.QuantizeOp, q.DequantizeOp, q.RequantizeOp, q.Conv2DOp, q.MatMulOp)


def _plain_quant_ops(function: func.FuncOp) -> list:
    return [op for op in function.body.block.ops if isinstance(op, QUANT_OPS)]


def wrap_plain_quant_ops(program: GraphProgram) -> GraphProgram:
    from graphc.passes.fuse_common import FusionState, default_kind

    functions = [op for op in program.module.walk() if isinstance(op, func.FuncOp) and op.body.blocks]
    if not any(_plain_quant_ops(fn) for fn in functions):
        return program
    module = program.module.clone()
    for function in [op for op in module.walk() if isinstance(op, func.FuncOp) and op.body.blocks]:
        plain = _plain_quant_ops(function)
        if not plain:
            continue
        state = FusionState(function)
        for op in plain:
            state.new_group(default_kind(op), [op])
        state.materialize()
    assert not any(isinstance(op, QUANT_OPS) and not isinstance(op.parent_op(), fusion.RegionOp)
                   for op in module.walk())  # fmt: skip
    return GraphProgram(module, program.weights)
