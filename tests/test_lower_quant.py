"""lower-quant: quant ops as graph ops give exactly `graphc.dialects.quant_arith`'s integers, in
the graph semantics (numpy) and compiled by the CPU backend (as i32/i64 graph ops: what a backend
without `supports_quant` gets from the driver)."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.backends.registry import get_backend
from graphc.dialects import graph as g
from graphc.dialects import quant as q
from graphc.dialects import quant_arith as qa
from graphc.dialects.builder import ProgramBuilder
from graphc.dialects.semantics import evaluate_program
from graphc.driver import compile_program
from graphc.passes.lower_quant import has_quant_ops
from graphc.pipeline import run_pipeline

RNG = np.random.default_rng(7)
W = RNG.integers(-127, 128, (3, 3, 4, 6), dtype=np.int8)
BIAS = RNG.integers(-4000, 4000, 6, dtype=np.int32)
B = RNG.integers(-128, 128, (36, 5), dtype=np.int8)
# Per-channel real multipliers across the whole range: right shifts of 0..20, left shifts (> 1), tiny.
CONV_SCALES = np.array([3e-5, 0.0007, 0.013, 0.5, 1.0, 6.5])
MATMUL_SCALES = np.array([2.5e-4])
X_SCALE, X_ZERO = np.float32(0.05), -7


def program():
    b = ProgramBuilder({"x": ((2, 5, 5, 4), np.float32), "acc": ((3, 7), np.int32)})
    xq = b.op(q.QuantizeOp, b.args["x"], **q.QuantParams(np.float32([X_SCALE]), np.int64([X_ZERO])).attributes())
    conv = dict(strides=g.ints_attr([2, 1]), dilations=g.ints_attr([1, 2]), pads=g.ints_attr([1, 2, 0, 1]),
                groups=g.int_attr(1), input_zero_point=g.int_attr(X_ZERO))  # fmt: skip
    acc = b.op(q.Conv2DOp, xq, b.const(W, "w"), b.const(BIAS, "b"), **conv)
    yq = b.op(q.RequantizeOp, acc, **q.RequantizeParams.from_scale(CONV_SCALES, 5, -20, 100, axis=3).attributes())
    flat = b.op(g.ReshapeOp, yq, shape=g.ints_attr([2, 36]))
    m = b.op(q.MatMulOp, flat, b.const(B, "bm"), a_zero_point=g.int_attr(5), b_zero_point=g.int_attr(-3))
    mq = b.op(q.RequantizeOp, m, **q.RequantizeParams.from_scale(MATMUL_SCALES, -2).attributes())
    y = b.op(q.DequantizeOp, mq, **q.QuantParams(np.float32([0.125]), np.int64([-2])).attributes())
    per_axis = q.QuantParams(np.float32([0.5, 0.25, 2.0, 0.1, 3.0, 1.0, 0.7]), np.int64([0, 3, -4, 127, -128, 1, 9]),
                             axis=1)  # fmt: skip
    raw = b.op(q.RequantizeOp, b.args["acc"], **q.RequantizeParams.from_scale([0.3], 0).attributes())
    raw_f = b.op(q.DequantizeOp, raw, **per_axis.attributes())
    return b.build({"y": y, "mq": mq, "yq": yq, "raw": raw, "requantized_f": b.op(q.QuantizeOp, raw_f, **per_axis.attributes())})


def expected(x, acc):
    xq = qa.quantize(x, [X_SCALE], [X_ZERO])
    conv = qa.conv2d(xq, W, BIAS, X_ZERO, (2, 1), (1, 2), (1, 2, 0, 1), 1)
    params = q.RequantizeParams.from_scale(CONV_SCALES, 5, -20, 100, axis=3)
    yq = qa.requantize(conv, params.multiplier, params.shift, 5, -20, 100, axis=3)
    m = qa.matmul(yq.reshape(2, 36), B, None, 5, -3)
    mp = q.RequantizeParams.from_scale(MATMUL_SCALES, -2)
    mq = qa.requantize(m, mp.multiplier, mp.shift, -2, -128, 127)
    rp = q.RequantizeParams.from_scale([0.3], 0)
    raw = qa.requantize(acc, rp.multiplier, rp.shift, 0, -128, 127)
    scales, zeros = [0.5, 0.25, 2.0, 0.1, 3.0, 1.0, 0.7], [0, 3, -4, 127, -128, 1, 9]
    raw_f = qa.dequantize(raw, scales, zeros, axis=1)
    return {"y": qa.dequantize(mq, [0.125], [-2]), "mq": mq, "yq": yq, "raw": raw,
            "requantized_f": qa.quantize(raw_f, np.float32(scales), zeros, axis=1)}  # fmt: skip


def inputs():
    x = RNG.normal(0, 4, (2, 5, 5, 4)).astype(np.float32)
    x.flat[:6] = [np.nan, np.inf, -np.inf, 0.025, -0.075, 1e30]  # NaN → zero point, saturation, ties
    acc = RNG.integers(-(2**31), 2**31, (3, 7), dtype=np.int64).astype(np.int32)
    acc[0, :4] = [-(2**31), 2**31 - 1, -1, 0]
    return x, acc


@pytest.mark.parametrize("target", ["graph-semantics", "cpu"])
def test_lowered_quant_ops_give_quant_arith_bit_for_bit(target):
    x, acc = inputs()
    want = expected(x, acc)
    prog = program()
    run_pipeline(prog, "lower-quant")
    assert not has_quant_ops(prog.module)
    prog.module.verify()
    if target == "cpu":
        got = compile_program(prog, get_backend("cpu")).run({"x": x, "acc": acc})
    else:
        got = evaluate_program(prog, {"x": x, "acc": acc}, xp=np)
    for name, value in want.items():
        assert np.asarray(got[name]).dtype == value.dtype, name
        np.testing.assert_array_equal(np.asarray(got[name]), value, err_msg=name)
    assert np.any(want["yq"] == 100) and np.any(want["yq"] == -20)  # both clamps are exercised
