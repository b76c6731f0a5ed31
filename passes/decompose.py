"""decompose: rewrites composite graph ops into simpler ones, so backends stay small.

Takes: `graph` dialect. Leaves: no `graph.batch_norm`, `graph.softmax` or `graph.log_softmax`:
- batch_norm(x, scale, offset, mean, var) → x * a + b with a = scale * rsqrt(var + eps) and
  b = offset − mean * a (a and b are per-channel; `fold-constants` folds them when the parameters
  are weights, leaving one multiply-add per element);
- softmax(x) → e / reduce_sum(e) with e = exp(x − reduce_max(x));
- log_softmax(x) → s − log(reduce_sum(exp(s))) with s = x − reduce_max(x).
MLIR equivalent: the decompositions in TOSA/StableHLO legalizations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects.resources import make_constant
from graphc.passes.weights_context import current_weights


@dataclass(frozen=True)
class DecomposePass(ModulePass):
    name = "decompose"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for node in list(op.walk()):
            if isinstance(node, g.BatchNormOp):
                _replace(node, _batch_norm(node))
            elif isinstance(node, g.SoftmaxOp | g.LogSoftmaxOp):
                _replace(node, _softmax(node))


class _Emitter:
    """Creates ops right before `anchor`, returning their first result."""

    def __init__(self, anchor: Operation):
        self.anchor = anchor
        self.block: Block = anchor.parent_block()

    def __call__(self, op_type: type[g.GraphOp], *operands: SSAValue, **attrs) -> SSAValue:
        new = op_type.make(list(operands), **attrs)
        self.block.insert_op_before(new, self.anchor)
        return new.results[0]

    def scalar(self, value: float, like: SSAValue) -> SSAValue:
        dtype = dtypes.to_numpy_dtype(like.type.element_type)
        new = make_constant(np.asarray(value, dtype), current_weights())
        self.block.insert_op_before(new, self.anchor)
        return new.result


def _batch_norm(node: g.BatchNormOp) -> SSAValue:
    emit = _Emitter(node)
    eps = emit.scalar(g.get_float(node.attrs(), "epsilon"), node.variance)
    inv = emit(g.RsqrtOp, emit(g.AddOp, node.variance, eps))
    a = emit(g.MulOp, node.scale, inv)
    b = emit(g.SubOp, node.offset, emit(g.MulOp, node.mean, a))
    return emit(g.AddOp, emit(g.MulOp, node.input, a), b)


def _softmax(node: g.SoftmaxOp | g.LogSoftmaxOp) -> SSAValue:
    emit = _Emitter(node)
    axis = g.get_int(node.attrs(), "axis")
    reduce_attrs = {"axes": g.ints_attr([axis]), "keepdims": g.int_attr(1)}
    shifted = emit(g.SubOp, node.input, emit(g.ReduceMaxOp, node.input, **reduce_attrs))
    e = emit(g.ExpOp, shifted)
    total = emit(g.ReduceSumOp, e, **reduce_attrs)
    if isinstance(node, g.LogSoftmaxOp):
        return emit(g.SubOp, shifted, emit(g.LogOp, total))
    return emit(g.DivOp, e, total)


def _replace(node: Operation, value: SSAValue) -> None:
    node.results[0].replace_all_uses_with(value)
    node.parent_block().erase_op(node)
