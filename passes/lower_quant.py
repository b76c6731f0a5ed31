"""lower-quant: the `quant` dialect's ops as graph ops, for backends without int8 kernels.

Takes: `graph` + `quant` dialect. Leaves: `graph` dialect only, computing bit for bit what
`graphc.dialects.quant_arith` (THE integer reference) computes:
- `quant.quantize` → f32 divide, round half to even, + zero point (NaN gives the zero point),
  clamp to [−128, 127], cast to i8;
- `quant.dequantize` → (i32(q) − zero point) as f32, times the scale;
- `quant.conv2d` / `quant.matmul` → `graph.conv2d` / `graph.matmul` on i32 operands with the zero
  points subtracted (a padded element is 0 = zx − zx, as the contract says), plus the bias; i32
  sums wrap as `quant_arith`'s do;
- `quant.requantize` → TFLite's `MultiplyByQuantizedMultiplier` in i64: the left shift wrapped to
  i32, `SaturatingRoundingDoublingHighMul` (the multiplier is never INT32_MIN, so it cannot
  saturate), `RoundingDivideByPOT` with its mask and threshold, + zero point, clamp, cast to i8.
Per-axis parameters become constants laid along their axis.

The compile driver runs it after the graph pipeline when the backend does not declare
`supports_quant` (a backend with int8 kernels consumes the quant ops and their fusion regions
instead). MLIR equivalent: the `quant` dialect's lowering to arith (`-lower-quant-ops`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects import quant as q
from graphc.dialects import quant_arith as qa
from graphc.dialects.resources import WeightStore, make_constant
from graphc.passes.weights_context import current_weights

QUANT_OPS = (q.QuantizeOp, q.DequantizeOp, q.RequantizeOp, q.Conv2DOp, q.MatMulOp)


def has_quant_ops(module: ModuleOp) -> bool:
    return any(isinstance(op, QUANT_OPS) for op in module.walk())


@dataclass(frozen=True)
class LowerQuantPass(ModulePass):
    name = "lower-quant"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        weights = current_weights()
        for function in op.walk():
            if not isinstance(function, func.FuncOp):
                continue
            block = function.body.block
            for node in list(block.ops):
                if isinstance(node, QUANT_OPS):
                    emit = _Emitter(weights)
                    result = _LOWERINGS[type(node)](emit, node)
                    block.insert_ops_before(emit.ops, node)
                    node.results[0].replace_all_uses_with(result)
                    block.erase_op(node)


class _Emitter:
    """Collects the graph ops that replace one quant op."""

    def __init__(self, weights: WeightStore):
        self.weights = weights
        self.ops: list[Operation] = []

    def op(self, cls: type[g.GraphOp], *operands: SSAValue, **attrs) -> SSAValue:
        new = cls.make(list(operands), **attrs)
        self.ops.append(new)
        return new.results[0]

    def const(self, values, dtype, rank: int = 0, axis: int | None = None) -> SSAValue:
        """A scalar, or a vector laid along `axis` of a rank-`rank` tensor."""
        values = np.asarray(values, dtype).reshape(-1)
        if axis is None or values.size == 1:
            array = values.reshape(())
        else:
            array = values.reshape([values.size if i == axis else 1 for i in range(rank)])
        new = make_constant(array, self.weights, "quant")
        self.ops.append(new)
        return new.results[0]

    def cast(self, x: SSAValue, element) -> SSAValue:
        return x if g.element_of(x.type) == element else self.op(g.CastOp, x, to=element)

    def clamp(self, x: SSAValue, low, high, dtype) -> SSAValue:
        return self.op(g.MinOp, self.op(g.MaxOp, x, self.const(low, dtype)), self.const(high, dtype))


def _rank(value: SSAValue) -> int:
    return len(g.shape_of(value.type))


def _quantize(emit: _Emitter, node: q.QuantizeOp) -> SSAValue:
    p = q.quant_params(node)
    x = emit.cast(node.operands[0], dtypes.f32)
    rank = _rank(x)
    zero = emit.const(p.zero_point, np.float32, rank, p.axis)
    level = emit.op(g.AddOp, emit.op(g.RoundOp, emit.op(g.DivOp, x, emit.const(p.scale, np.float32, rank, p.axis))),
                    zero)  # fmt: skip
    level = emit.op(g.SelectOp, emit.op(g.IsNanOp, level), zero, level)
    return emit.cast(emit.clamp(level, qa.INT8_MIN, qa.INT8_MAX, np.float32), dtypes.i8)


def _dequantize(emit: _Emitter, node: q.DequantizeOp) -> SSAValue:
    p = q.quant_params(node)
    x = emit.cast(node.operands[0], dtypes.i32)
    if np.any(p.zero_point):
        x = emit.op(g.SubOp, x, emit.const(p.zero_point, np.int32, _rank(x), p.axis))
    return emit.op(g.MulOp, emit.cast(x, dtypes.f32), emit.const(p.scale, np.float32, _rank(x), p.axis))


def _centered(emit: _Emitter, x: SSAValue, zero_point: int) -> SSAValue:
    x = emit.cast(x, dtypes.i32)
    return emit.op(g.SubOp, x, emit.const(zero_point, np.int32)) if zero_point else x


def _with_bias(emit: _Emitter, acc: SSAValue, node: Operation) -> SSAValue:
    return emit.op(g.AddOp, acc, node.operands[2]) if len(node.operands) > 2 else acc


def _conv2d(emit: _Emitter, node: q.Conv2DOp) -> SSAValue:
    params = q.conv_params(node)
    attrs = {k: v for k, v in node.attrs().items() if k != "input_zero_point"}
    x = _centered(emit, node.operands[0], params["input_zero_point"])
    acc = emit.op(g.Conv2DOp, x, emit.cast(node.operands[1], dtypes.i32), **attrs)
    return _with_bias(emit, acc, node)


def _matmul(emit: _Emitter, node: q.MatMulOp) -> SSAValue:
    params = q.matmul_params(node)
    a = _centered(emit, node.operands[0], params["a_zero_point"])
    b = _centered(emit, node.operands[1], params["b_zero_point"])
    return _with_bias(emit, emit.op(g.MatMulOp, a, b), node)


def _requantize(emit: _Emitter, node: q.RequantizeOp) -> SSAValue:
    p = q.requantize_params(node)
    acc = node.operands[0]
    rank = _rank(acc)

    def along(values) -> SSAValue:
        return emit.const(values, np.int64, rank, p.axis)

    left, right = np.maximum(p.shift, 0), np.maximum(-p.shift, 0)
    x = emit.cast(acc, dtypes.i64)
    if np.any(left):  # the left shift wraps in i32
        x = emit.cast(emit.cast(emit.op(g.ShiftLeftOp, x, along(left)), dtypes.i32), dtypes.i64)
    # SaturatingRoundingDoublingHighMul(x, multiplier): |x·m| < 2^62, and m ≠ INT32_MIN never saturates
    product = emit.op(g.MulOp, x, along(p.multiplier))
    nudge = emit.op(g.SelectOp, emit.op(g.GeOp, product, emit.const(0, np.int64)), emit.const(1 << 30, np.int64),
                    emit.const(1 - (1 << 30), np.int64))  # fmt: skip
    high = emit.op(g.DivOp, emit.op(g.AddOp, product, nudge), emit.const(1 << 31, np.int64))  # truncating
    if np.any(right):  # RoundingDivideByPOT(high, right)
        mask = (np.int64(1) << right) - 1
        remainder = emit.op(g.AndOp, high, along(mask))
        negative = emit.cast(emit.op(g.LtOp, high, emit.const(0, np.int64)), dtypes.i64)
        threshold = emit.op(g.AddOp, along(mask >> 1), negative)
        up = emit.cast(emit.op(g.GtOp, remainder, threshold), dtypes.i64)
        high = emit.op(g.AddOp, emit.op(g.ShiftRightOp, high, along(right)), up)
    y = emit.op(g.AddOp, high, emit.const(p.output_zero_point, np.int64))
    return emit.cast(emit.clamp(y, p.clamp_min, p.clamp_max, np.int64), dtypes.i8)


_LOWERINGS = {
    q.QuantizeOp: _quantize,
    q.DequantizeOp: _dequantize,
    q.RequantizeOp: _requantize,
    q.Conv2DOp: _conv2d,
    q.MatMulOp: _matmul,
}
