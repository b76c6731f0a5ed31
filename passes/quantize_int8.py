"""quantize-int8: float convolutions and matmuls become int8 `quant` ops (post-training, TFLite's scheme).

Takes: `graph` dialect whose float values carry calibrated ranges (`quant.range` on ops,
`quant.arg_ranges` on `@main`; written by `graphc.calibration`). Leaves: every `graph.conv2d`
(depthwise and 1×1 included) and every `graph.matmul` whose operands have ranges, rewritten as

    %xq = quant.quantize %x                       (activation: int8 asymmetric per tensor)
    %acc = quant.conv2d %xq, %wq, %bq             (weights: int8 symmetric per output channel,
                                                   bias: i32 at scale s_x·s_w[c])
    %yq = quant.requantize %acc                   (s_x·s_w[c]/s_y as multiplier and shift, the
                                                   fused activation as the clamp)
    %y = quant.dequantize %yq

with its epilogue folded in as TFLite's converter does: per-channel `mul`/`add`/`sub` by constants
(bias add, batch norm's scale and shift: the scale goes into the weights, the shift into the bias),
then `relu`, `relu` + `min(·, c)` (relu6) or `max(·, 0)`, whose clamp becomes requantize's range.
A matmul whose right operand is not a constant (attention's Q·Kᵀ) quantizes both operands per
tensor. Every other op stays float: Q/DQ pairs at the edges are removed by `fold-qdq` afterwards.

Values that move data without arithmetic (reshape, transpose, slice, max-pool, zero padding)
inherit the range of their input, so a quantized layer's output and the next layer's input get the
same parameters and `fold-qdq` can run those ops on int8 directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from graphc.calibration import RANGE_ATTR, range_of
from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects import quant as q
from graphc.dialects import quant_arith as qa
from graphc.dialects.resources import constant_value, make_constant
from graphc.passes.weights_context import current_weights

RANGE_PRESERVING = (g.ReshapeOp, g.TransposeOp, g.SliceOp, g.ReverseOp, g.MaxPoolOp, g.BroadcastToOp)


def propagated_range(value: SSAValue) -> tuple[float, float] | None:
    """The range a value is quantized with: its producer's input's, through data movement."""
    owner = value.owner
    if isinstance(owner, RANGE_PRESERVING):
        return propagated_range(owner.operands[0])
    if isinstance(owner, g.PadOp) and g.get_str(owner.attrs(), "mode") == "constant" \
            and g.get_float(owner.attrs(), "value") == 0.0:  # fmt: skip
        return propagated_range(owner.operands[0])
    return range_of(value)


def _constant(value: SSAValue) -> np.ndarray | None:
    owner = value.owner
    if isinstance(owner, g.ConstantOp):
        return np.asarray(constant_value(owner, current_weights()))
    return None


def _per_channel(value: SSAValue, channels: int) -> np.ndarray | None:
    """A constant that broadcasts along the last axis only, as a [channels] float64 vector."""
    c = _constant(value)
    if c is None or not dtypes.is_float(value.type.element_type):
        return None
    if c.ndim and (c.shape[-1] not in (1, channels) or any(d != 1 for d in c.shape[:-1])):
        return None
    return np.broadcast_to(c.reshape(-1).astype(np.float64), (channels,)).copy()


def _only_user(value: SSAValue) -> Operation | None:
    uses = list(value.uses)
    return uses[0].operation if len(uses) == 1 else None


@dataclass
class Epilogue:
    """y = act(a·root + b) per output channel; `ops` are the folded ops, in order."""

    scale: np.ndarray
    shift: np.ndarray
    ops: list[Operation]
    relu: bool = False
    upper: float | None = None

    @property
    def output(self) -> SSAValue | None:
        return self.ops[-1].results[0] if self.ops else None


def fold_epilogue(root: Operation, channels: int, allow_scale: bool) -> Epilogue:
    ep = Epilogue(np.ones(channels), np.zeros(channels), [])
    cur = root.results[0]
    while True:
        user = _only_user(cur)
        if not isinstance(user, g.GraphOp) or len(user.results) != 1 or user.results[0].type != cur.type:
            break
        if not ep.relu and isinstance(user, g.AddOp | g.SubOp | g.MulOp):
            other_index = 1 if user.operands[0] == cur else 0
            if isinstance(user, g.SubOp) and other_index == 0:
                break
            c = _per_channel(user.operands[other_index], channels)
            if c is None or (isinstance(user, g.MulOp) and not allow_scale):
                break
            if isinstance(user, g.MulOp):
                ep.scale, ep.shift = ep.scale * c, ep.shift * c
            else:
                ep.shift = ep.shift + c if isinstance(user, g.AddOp) else ep.shift - c
        elif not ep.relu and isinstance(user, g.ReluOp):
            ep.relu = True
        elif not ep.relu and isinstance(user, g.MaxOp) and _scalar(user, cur) == 0.0:
            ep.relu = True
        elif ep.relu and ep.upper is None and isinstance(user, g.MinOp) and (_scalar(user, cur) or 0) > 0:
            ep.upper = _scalar(user, cur)
        else:
            break
        ep.ops.append(user)
        cur = user.results[0]
    return ep


def _scalar(op: Operation, cur: SSAValue) -> float | None:
    other = op.operands[1] if op.operands[0] == cur else op.operands[0]
    c = _constant(other)
    if c is None or c.size != 1:
        return None
    return float(c.reshape(-1)[0])


def _activation_params(r: tuple[float, float], relu: bool) -> tuple[float, int]:
    lo, hi = r
    return qa.choose_activation_params(0.0 if relu else lo, hi)


def _clamp(ep: Epilogue, scale: float, zero_point: int) -> tuple[int, int]:
    lo, hi = qa.INT8_MIN, qa.INT8_MAX
    if ep.relu:
        lo = zero_point
    if ep.upper is not None:
        hi = min(hi, zero_point + int(round(ep.upper / scale)))
    return lo, max(lo, hi)


@dataclass(frozen=True)
class QuantizeInt8Pass(ModulePass):
    name = "quantize-int8"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for root in [o for o in op.walk() if isinstance(o, g.Conv2DOp | g.MatMulOp)]:
            if all(dtypes.is_float(v.type.element_type) for v in root.operands):
                quantize_layer(root)


def quantize_layer(root: Operation) -> bool:
    """Rewrites one float conv2d/matmul (and its foldable epilogue) to int8; False if it cannot."""
    weights = current_weights()
    x = root.operands[0]
    w_value = root.operands[1]
    w = _constant(w_value)
    conv = isinstance(root, g.Conv2DOp)
    channels = g.shape_of(root.results[0].type)[-1]
    per_channel_weights = w is not None and (conv or w.ndim == 2)
    x_range = propagated_range(x)
    w_range = None if per_channel_weights else propagated_range(w_value)
    if x_range is None or (not per_channel_weights and w_range is None):
        return False
    ep = fold_epilogue(root, channels, allow_scale=per_channel_weights)
    y = ep.output or root.results[0]
    y_range = range_of(y)
    if y_range is None:
        return False
    s_x, zp_x = qa.choose_activation_params(*x_range)
    s_y, zp_y = _activation_params(y_range, ep.relu)
    new: list[Operation] = []

    def add(o: Operation) -> SSAValue:
        new.append(o)
        return o.results[0]

    xq = add(q.QuantizeOp.make([x], **q.QuantParams(np.float32([s_x]), np.int64([zp_x])).attributes()))
    if per_channel_weights:
        axis = 3 if conv else 1
        scaled = w.astype(np.float64) * ep.scale  # the scale of a folded batch norm, per output channel
        reduce = tuple(i for i in range(scaled.ndim) if i != axis)
        s_w = qa.choose_weight_scales(np.abs(scaled).max(axis=reduce))
        wq = add(make_constant(qa.quantize_weights(scaled, s_w, axis), weights, "wq"))
        w_zero = 0
    else:
        s_b, zp_b = qa.choose_activation_params(*w_range)
        s_w = np.full(channels, s_b, np.float32)
        wq = add(q.QuantizeOp.make([w_value], **q.QuantParams(np.float32([s_b]), np.int64([zp_b])).attributes()))
        w_zero = zp_b
    operands = [xq, wq]
    if np.any(ep.shift != 0):
        operands.append(add(make_constant(qa.quantize_bias(ep.shift, s_x, s_w), weights, "bq")))
    if conv:
        attrs = {k: root.attributes[k] for k in ("strides", "dilations", "pads", "groups")}
        acc = add(q.Conv2DOp.make(operands, input_zero_point=g.int_attr(zp_x), **attrs))
    else:
        acc = add(q.MatMulOp.make(operands, a_zero_point=g.int_attr(zp_x), b_zero_point=g.int_attr(w_zero)))
    real = np.float64(np.float32(s_x)) * s_w.astype(np.float64) / np.float64(np.float32(s_y))
    lo, hi = _clamp(ep, s_y, zp_y)
    per_axis = len(set(real.tolist())) > 1
    params = q.RequantizeParams.from_scale(real if per_axis else real[:1], zp_y, lo, hi,
                                           axis=len(g.shape_of(acc.type)) - 1 if per_axis else None)  # fmt: skip
    yq = add(q.RequantizeOp.make([acc], **params.attributes()))
    yd = add(q.DequantizeOp.make([yq], **q.QuantParams(np.float32([s_y]), np.int64([zp_y])).attributes()))
    last = y.owner
    block = last.parent_block()
    for o in new:
        block.insert_op_before(o, last)
    if RANGE_ATTR in last.attributes:  # later layers read the range of what they quantize
        yd.owner.attributes[RANGE_ATTR] = last.attributes[RANGE_ATTR]
    y.replace_all_uses_with(yd)
    for o in reversed([root, *ep.ops]):
        block.erase_op(o)
    return True
