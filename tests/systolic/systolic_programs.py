"""Hand-built contract IR (quant.conv2d / quant.matmul + requantize) for the systolic tests."""

import numpy as np

from graphc.dialects import graph as g
from graphc.dialects import quant as q
from graphc.dialects.builder import ProgramBuilder


def conv_attrs(stride=1, pad=1, groups=1, zero_point=-3):
    return dict(strides=g.ints_attr([stride, stride]), dilations=g.ints_attr([1, 1]), pads=g.ints_attr([pad] * 4),
                groups=g.int_attr(groups), input_zero_point=g.int_attr(zero_point))  # fmt: skip


def int8_cnn(seed=0, size=10, host_pool=True, epilogue=False):
    """i8 NHWC image → 3x3 conv (relu clamp, per-channel) → [2x2 max pool on the host] → 3x3 stride-2 conv
    (no bias) → flatten (a view) → dense + bias (per-tensor) → i8 logits [→ |−logits|, fused into the
    dense layer's epilogue]; the convs and the dense run on the array, the pool (and that tail) on the host."""
    rng = np.random.default_rng(seed)
    b = ProgramBuilder({"x": ((2, size, size, 3), np.int8)})
    w1 = rng.integers(-127, 128, (3, 3, 3, 8), dtype=np.int8)
    b1 = rng.integers(-2000, 2000, 8, dtype=np.int32)
    acc = b.op(q.Conv2DOp, b.args["x"], b.const(w1, "w1"), b.const(b1, "b1"), **conv_attrs())
    y = b.op(q.RequantizeOp, acc, **q.RequantizeParams.from_scale(rng.uniform(1e-3, 4e-3, 8), -128, -128, 127, axis=3).attributes())
    if host_pool:
        y = b.op(g.MaxPoolOp, y, window=g.ints_attr([2, 2]), strides=g.ints_attr([2, 2]), pads=g.ints_attr([0, 0, 0, 0]))
    w2 = rng.integers(-127, 128, (3, 3, 8, 16), dtype=np.int8)
    acc2 = b.op(q.Conv2DOp, y, b.const(w2, "w2"), **conv_attrs(stride=2, zero_point=-128))
    y2 = b.op(q.RequantizeOp, acc2, **q.RequantizeParams.from_scale(rng.uniform(5e-4, 2e-3, 16), 5, axis=3).attributes())
    n, h, w, c = g.shape_of(y2.type)
    flat = b.op(g.ReshapeOp, y2, shape=g.ints_attr([n, h * w * c]))
    w3 = rng.integers(-127, 128, (h * w * c, 10), dtype=np.int8)
    b3 = rng.integers(-5000, 5000, 10, dtype=np.int32)
    logits = b.op(q.MatMulOp, flat, b.const(w3, "w3"), b.const(b3, "b3"), a_zero_point=g.int_attr(5), b_zero_point=g.int_attr(0))
    out = b.op(q.RequantizeOp, logits, **q.RequantizeParams.from_scale([2e-4], -7).attributes())
    if epilogue:  # more elementwise work after the requantize: fused into the dense layer's region
        out = b.op(g.AbsOp, b.op(g.NegOp, out))
    return b.build({"logits": out, "features": y2})
