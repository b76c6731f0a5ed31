"""fold-qdq: quantize/dequantize pairs between int8 ops fold away; data movement runs on int8.

Takes: `graph` + `quant` dialect (after `quantize-int8`, or a pre-quantized import). Leaves:
- `quant.dequantize` (per tensor, i8) moved below the ops that commute with it exactly — reshape,
  transpose, slice, reverse, broadcast, max-pool (dequantize is increasing), constant padding whose
  value is exactly representable (it becomes the quantized pad value), and concat of operands
  dequantized with identical parameters — so those ops run on int8;
- `quant.quantize(quant.dequantize(%q))` with identical parameters replaced by `%q`; with different
  per-tensor parameters by one integer rescale (`graph.cast` to i32, `graph.sub` of the zero point,
  `quant.requantize` by s_in/s_out with the new zero point);
- dequantize ops left without users removed.
MLIR equivalent: the QDQ folding of the TFLite converter (`quantize` pass's `RemoveQDQ`) and of
onnxruntime's QDQ transformer.
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
from graphc.dialects import quant as q
from graphc.dialects import quant_arith as qa

COMMUTING = (g.ReshapeOp, g.TransposeOp, g.SliceOp, g.ReverseOp, g.BroadcastToOp, g.MaxPoolOp)


def _per_tensor_i8_dequantize(value: SSAValue) -> q.DequantizeOp | None:
    owner = value.owner
    if isinstance(owner, q.DequantizeOp) and owner.input.type.element_type == dtypes.i8:
        if q.quant_params(owner).axis is None:
            return owner
    return None


def _same(a: q.QuantParams, b: q.QuantParams) -> bool:
    return a.axis == b.axis and np.array_equal(a.scale, b.scale) and np.array_equal(a.zero_point, b.zero_point)


def _exact_pad_value(op: g.PadOp, params: q.QuantParams) -> int | None:
    """The int8 pad value that dequantizes exactly to the float pad value, if there is one."""
    value = np.float32(g.get_float(op.attrs(), "value"))
    code = int(qa.quantize(value, params.scale, params.zero_point))
    return code if qa.dequantize(np.int8(code), params.scale, params.zero_point) == value else None


def sink_dequantize(op: Operation, block: Block) -> bool:
    """op(dequantize(q)) → dequantize(op(q)) for ops that commute with it exactly."""
    if isinstance(op, g.ConcatOp):
        deqs = [_per_tensor_i8_dequantize(v) for v in op.operands]
        if not deqs or any(d is None for d in deqs):
            return False
        params = q.quant_params(deqs[0])
        if not all(_same(q.quant_params(d), params) for d in deqs[1:]):
            return False
        new = g.ConcatOp.make([d.input for d in deqs], **op.attrs())
    elif isinstance(op, COMMUTING + (g.PadOp,)):
        deq = _per_tensor_i8_dequantize(op.operands[0])
        if deq is None:
            return False
        params = q.quant_params(deq)
        attrs = op.attrs()
        if isinstance(op, g.PadOp):
            code = _exact_pad_value(op, params) if g.get_str(attrs, "mode") == "constant" else None
            if g.get_str(attrs, "mode") == "constant" and code is None:
                return False
            if code is not None:
                attrs["value"] = g.float_attr(code)
        new = type(op).make([deq.input], **attrs)
    else:
        return False
    out = q.DequantizeOp.make([new.results[0]], **params.attributes())
    block.insert_op_before(new, op)
    block.insert_op_before(out, op)
    if "quant.range" in op.attributes:
        out.attributes["quant.range"] = op.attributes["quant.range"]
    op.results[0].replace_all_uses_with(out.results[0])
    block.erase_op(op)
    return True


def fold_pair(op: q.QuantizeOp, block: Block) -> bool:
    """quantize(dequantize(q)) → q, or one integer rescale when the parameters differ."""
    deq = _per_tensor_i8_dequantize(op.input)
    if deq is None:
        return False
    src, dst = q.quant_params(deq), q.quant_params(op)
    if _same(src, dst):
        op.results[0].replace_all_uses_with(deq.input)
        block.erase_op(op)
        return True
    if dst.axis is not None:
        return False
    shape = g.shape_of(deq.input.type)
    wide = g.CastOp.make([deq.input], to=dtypes.i32)
    zero = g.ConstantOp.make([], value=_i32_splat(int(src.zero_point[0])))
    centred = g.SubOp.make([wide.results[0], zero.results[0]])
    real = float(np.float32(src.scale[0])) / float(np.float32(dst.scale[0]))
    params = q.RequantizeParams.from_scale([real], int(dst.zero_point[0]))
    rescaled = q.RequantizeOp.make([centred.results[0]], **params.attributes())
    for new in (wide, zero, centred, rescaled):
        block.insert_op_before(new, op)
    assert g.shape_of(rescaled.results[0].type) == shape
    op.results[0].replace_all_uses_with(rescaled.results[0])
    block.erase_op(op)
    return True


def _i32_splat(value: int):
    from xdsl.dialects.builtin import DenseIntOrFPElementsAttr

    return DenseIntOrFPElementsAttr.from_list(dtypes.tensor((), dtypes.i32), [value])


@dataclass(frozen=True)
class FoldQDQPass(ModulePass):
    name = "fold-qdq"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for block in [b for o in op.walk() for r in o.regions for b in r.blocks]:
            changed = True
            while changed:
                changed = False
                for inner in list(block.ops):
                    if inner.parent_block() is not block:
                        continue
                    if isinstance(inner, q.QuantizeOp):
                        changed |= fold_pair(inner, block)
                    elif isinstance(inner, g.GraphOp) and not isinstance(inner, q.DequantizeOp):
                        changed |= sink_dequantize(inner, block)
                for inner in reversed(list(block.ops)):
                    if isinstance(inner, q.DequantizeOp) and not inner.results[0].uses:
                        block.erase_op(inner)
                        changed = True
