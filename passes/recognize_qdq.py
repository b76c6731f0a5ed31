"""recognize-qdq: dequantize → conv2d/matmul (→ bias add → relu/clamp) → quantize becomes an int8
layer, `quant.conv2d` / `quant.matmul` + `quant.requantize` (ONNX QDQ models, TensorFlow fake
quantization). The ONNX Runtime / TFLite reading of such graphs, as an MLIR pattern rewrite.

Takes: graph dialect with `quant.quantize` / `quant.dequantize` as the front ends make them, before
`fold-constants` (weights are still `quant.dequantize` of int8 constants). Leaves: each matched
layer as int8 ops reading the int8 tensors directly; its float ops die. Q/DQ that match nothing stay
and run as element-wise ops (float layers between int8 ones, as in the source model).

Layout first. Front ends put transposes around NCHW convolutions and filters, and reshapes around
matmuls; they move to the int8 side: transpose/reshape(dequantize(q)) → dequantize(transpose/
reshape(q)), activation(transpose/reshape(y)) → transpose/reshape(activation(y)) and
quantize(transpose/reshape(y)) → transpose/reshape(quantize(y)). All of these are element-wise,
so this is exact (a per-axis parameter follows its axis through a transpose).

A layer matches when the conv/matmul reads a per-tensor dequantized int8 activation and a
dequantized int8 weight (conv: zero point 0, per tensor or per output channel; matmul: one zero
point, per tensor or per column), every value on the way to the quantize has no other use, and
in between there is at most a bias add (an int32 dequantized at s_x·s_w, as ONNX stores biases,
used as is; or a float constant, rounded to int32 at s_x·s_w as TFLite does) and activations:
relu and min/max with a constant. quantize(relu(y)) = max(quantize(y), zp) and
quantize(min(y, c)) = min(quantize(y), quantize(c)) exactly (rounding is monotonic), so activations
become the requantize clamp.

What changes numerically is the requantization: acc·(s_x·s_w/s_y) by TFLite's fixed-point
multiplier instead of float arithmetic (multipliers from float32 scales, as onnxruntime computes
them), and float biases rounded to int32: an output may move by one step of its grid. That is the
int8 model the file describes, run the way TFLite and onnxruntime run it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects import quant as q
from graphc.dialects import quant_arith as qa
from graphc.dialects.resources import WeightStore, constant_value, make_constant
from graphc.passes.eliminate_dead_code import eliminate_dead_ops
from graphc.passes.weights_context import current_weights

LAYOUT_OPS = (g.TransposeOp, g.ReshapeOp)


@dataclass(frozen=True)
class RecognizeQdqPass(ModulePass):
    name = "recognize-qdq"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        weights = current_weights()
        for function in op.walk():
            if not isinstance(function, func.FuncOp):
                continue
            block = function.body.block
            if not any(isinstance(node, (q.QuantizeOp, q.DequantizeOp)) for node in block.ops):
                continue
            move_layout_ops_to_int8(block)
            for node in list(block.ops):
                if isinstance(node, q.QuantizeOp) and node.parent is not None:
                    recognize_layer(node, block, weights)
            eliminate_dead_ops(function)


# ---------------------------------------------------------------------------------------------
# Layout ops to the int8 side
# ---------------------------------------------------------------------------------------------


def _axis_through(layout: Operation, axis: int | None) -> int | None | bool:
    """Where a per-axis parameter's axis lands after `layout` (None: per tensor; False: it cannot)."""
    if axis is None:
        return None
    if isinstance(layout, g.TransposeOp):
        return list(g.get_ints(layout.attrs(), "perm")).index(axis)
    return False


def _replace(block: Block, old: Operation, new_ops: list[Operation]) -> None:
    block.insert_ops_before(new_ops, old)
    old.results[0].replace_all_uses_with(new_ops[-1].results[0])
    block.erase_op(old)


def move_layout_ops_to_int8(block: Block) -> None:
    changed = True
    while changed:
        changed = False
        for node in list(block.ops):
            if node.parent is None:
                continue
            if isinstance(node, LAYOUT_OPS) and isinstance(node.operands[0].owner, q.DequantizeOp):
                dq = node.operands[0].owner
                params = q.quant_params(dq)
                axis = _axis_through(node, params.axis)
                if axis is False:
                    continue
                moved = type(node).make([dq.operands[0]], **node.attrs())
                new_dq = q.DequantizeOp.make([moved], **q.QuantParams(params.scale, params.zero_point, axis).attributes())
                _replace(block, node, [moved, new_dq])
                if dq.results[0].first_use is None:
                    block.erase_op(dq)
                changed = True
            elif _activation_of_layout(node):  # relu(transpose(x)) → transpose(relu(x)): on to the quantize
                layout = node.operands[0].owner
                operands = [layout.operands[0] if v is node.operands[0] else v for v in node.operands]
                inner = type(node).make(operands, **node.attrs())
                _replace(block, node, [inner, type(layout).make([inner], **layout.attrs())])
                block.erase_op(layout)
                changed = True
            elif isinstance(node, q.QuantizeOp) and isinstance(node.operands[0].owner, LAYOUT_OPS):
                layout = node.operands[0].owner
                params = q.quant_params(node)
                if params.axis is not None or not _single_use(node.operands[0]):
                    continue
                new_q = q.QuantizeOp.make([layout.operands[0]], **node.attrs())
                _replace(block, node, [new_q, type(layout).make([new_q], **layout.attrs())])
                block.erase_op(layout)  # its only use was the quantize: keep use counts true
                changed = True


def _activation_of_layout(node: Operation) -> bool:
    """relu, or min/max with a one-element constant, of a layout op's result used only there."""
    if not isinstance(node, (g.ReluOp, g.MinOp, g.MaxOp)):
        return False
    data = node.operands[0]
    if isinstance(node, (g.MinOp, g.MaxOp)):
        scalar = [v for v in node.operands if isinstance(v.owner, g.ConstantOp) and _size(v) == 1]
        if len(scalar) != 1:
            return False
        data = node.operands[1] if scalar[0] is node.operands[0] else node.operands[0]
    return isinstance(data.owner, LAYOUT_OPS) and _single_use(data) and _size(data) == _size(node.results[0])


def _size(value: SSAValue) -> int:
    return int(np.prod(g.shape_of(value.type)))


# ---------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------


def _single_use(value: SSAValue) -> bool:
    return value.has_one_use()


def _constant(value: SSAValue, weights: WeightStore) -> np.ndarray | None:
    owner = value.owner
    return constant_value(owner, weights) if isinstance(owner, g.ConstantOp) else None


def _scalar_operand(node: Operation, weights: WeightStore) -> tuple[float, SSAValue] | None:
    """(c, other) when one operand of a binary op is a one-element float constant c."""
    for this, other in ((node.operands[0], node.operands[1]), (node.operands[1], node.operands[0])):
        c = _constant(this, weights)
        if c is not None and c.size == 1 and c.dtype.kind == "f" and g.shape_of(other.type) == g.shape_of(node.results[0].type):
            return float(c.reshape(())), other
    return None


@dataclass
class _Bias:
    """A bias add's other operand: an int32 tensor with its scales, or a float constant."""

    values: np.ndarray
    scale: np.ndarray | None = None  # None: float values


def _bias(value: SSAValue, channels: int, weights: WeightStore) -> _Bias | None:
    """A bias varying at most along the last axis, as a [channels] vector."""
    owner = value.owner
    if isinstance(owner, q.DequantizeOp) and g.element_of(owner.operands[0].type) == dtypes.i32:
        params = q.quant_params(owner)
        ints = _constant(owner.operands[0], weights)
        rank = len(g.shape_of(owner.operands[0].type))
        if ints is None or (params.axis is not None and params.axis != rank - 1):
            return None
        found = _Bias(ints.astype(np.int64), params.scale.astype(np.float32))
    else:
        floats = _constant(value, weights)
        if floats is None or floats.dtype.kind != "f":
            return None
        found = _Bias(floats.astype(np.float64))
    shape = found.values.shape
    if any(d != 1 for d in shape[:-1]) or (shape and shape[-1] not in (1, channels)):
        return None
    found.values = np.broadcast_to(found.values.reshape(-1), (channels,))
    if found.scale is not None:
        found.scale = np.broadcast_to(found.scale.reshape(-1), (channels,))
    return found


def _int32_bias(bias: _Bias, scale: np.ndarray) -> np.ndarray:
    """The bias in int32 at `scale` = s_x·s_w: as stored when it already is (up to float32
    rounding of the scale product), else rounded half to even (TFLite's bias quantization)."""
    if bias.scale is not None and np.allclose(bias.scale, scale, rtol=1e-6, atol=0):
        return bias.values.astype(np.int32)
    real = bias.values * (bias.scale.astype(np.float64) if bias.scale is not None else 1.0)
    return np.clip(np.rint(real / scale.astype(np.float64)), qa.INT32_MIN, qa.INT32_MAX).astype(np.int32)


@dataclass
class _Operands:
    x: SSAValue
    x_zero_point: int
    x_scale: np.float32
    w: SSAValue
    w_zero_point: int
    w_scale: np.ndarray  # one per output channel


def _operands(root: Operation) -> _Operands | None:
    x_dq, w_dq = root.operands[0].owner, root.operands[1].owner
    if not isinstance(x_dq, q.DequantizeOp) or not isinstance(w_dq, q.DequantizeOp):
        return None
    x_params, w_params = q.quant_params(x_dq), q.quant_params(w_dq)
    x, w = x_dq.operands[0], w_dq.operands[0]
    if g.element_of(x.type) != dtypes.i8 or g.element_of(w.type) != dtypes.i8 or x_params.axis is not None:
        return None
    channels = g.shape_of(root.results[0].type)[-1]
    w_rank = len(g.shape_of(w.type))
    if w_params.axis not in (None, w_rank - 1) or np.any(w_params.zero_point != w_params.zero_point[0]):
        return None
    w_zero_point = int(w_params.zero_point[0])
    if isinstance(root, g.Conv2DOp) and w_zero_point != 0:
        return None  # quant.conv2d has no filter zero point
    w_scale = np.broadcast_to(w_params.scale.astype(np.float32), (channels,))
    return _Operands(x, int(x_params.zero_point[0]), np.float32(x_params.scale[0]), w, w_zero_point, w_scale)


def recognize_layer(quantize: q.QuantizeOp, block: Block, weights: WeightStore) -> bool:
    out = q.quant_params(quantize)
    if out.axis is not None:
        return False
    zy, sy = int(out.zero_point[0]), np.float32(out.scale[0])
    low, high = qa.INT8_MIN, qa.INT8_MAX
    value = quantize.operands[0]
    while _single_use(value):  # activations → the requantize clamp
        node = value.owner
        if isinstance(node, g.ReluOp):
            low, value = max(low, zy), node.operands[0]
            continue
        found = _scalar_operand(node, weights) if isinstance(node, (g.MinOp, g.MaxOp)) else None
        if found is None:
            break
        c, value = found
        level = int(np.rint(np.float32(c) / sy)) + zy
        low, high = (max(low, level), high) if isinstance(node, g.MaxOp) else (low, min(high, level))
    if not _single_use(value) or low > high:
        return False
    root, bias = value.owner, None
    if isinstance(root, g.AddOp):
        for this, other in ((root.operands[0], root.operands[1]), (root.operands[1], root.operands[0])):
            if isinstance(this.owner, (g.Conv2DOp, g.MatMulOp)) and _single_use(this):
                bias = _bias(other, g.shape_of(this.type)[-1], weights)
                if bias is not None and g.shape_of(root.results[0].type) == g.shape_of(this.type):
                    root = this.owner
                    break
        else:
            return False
    if not isinstance(root, (g.Conv2DOp, g.MatMulOp)):
        return False
    operands = _operands(root)
    if operands is None:
        return False
    accumulator_scale = operands.x_scale * operands.w_scale  # float32, as the bias scale is stored
    real = (accumulator_scale / sy).astype(np.float64)
    rank = len(g.shape_of(root.results[0].type))
    per_channel = bool(np.any(real != real[0]))
    try:
        params = q.RequantizeParams.from_scale(real if per_channel else real[:1], zy, low, high,
                                               axis=rank - 1 if per_channel else None)  # fmt: skip
    except ValueError:  # a multiplier too large for TFLite's scheme: the layer stays float
        return False
    new_ops: list[Operation] = []
    layer_operands = [operands.x, operands.w]
    if bias is not None:
        bias_op = make_constant(_int32_bias(bias, accumulator_scale), weights, "bias")
        new_ops.append(bias_op)
        layer_operands.append(bias_op.results[0])
    attrs = root.attrs()
    if isinstance(root, g.Conv2DOp):
        acc = q.Conv2DOp.make(layer_operands, **{k: attrs[k] for k in ("strides", "dilations", "pads", "groups")},
                              input_zero_point=g.int_attr(operands.x_zero_point))  # fmt: skip
    else:
        acc = q.MatMulOp.make(layer_operands, a_zero_point=g.int_attr(operands.x_zero_point),
                              b_zero_point=g.int_attr(operands.w_zero_point))  # fmt: skip
    new_ops += [acc, q.RequantizeOp.make([acc.results[0]], **params.attributes())]
    _replace(block, quantize, new_ops)
    return True
