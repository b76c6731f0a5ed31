"""recognize-qdq on random layers: the int8 layer it makes computes what the float
dequantize → conv/matmul → quantize computes, up to one step of the output grid (the fixed-point
requantization and int32 bias rounding of the module docstring), and most elements exactly."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.dialects import graph as g
from graphc.dialects import quant as q
from graphc.dialects.builder import ProgramBuilder
from graphc.dialects.semantics import evaluate_program
from graphc.passes.weights_context import bound_weights
from graphc.pipeline import run_pipeline


def _params(scale, zero_point, axis=None):
    return q.QuantParams(np.float32(np.atleast_1d(scale)), np.int64(np.atleast_1d(zero_point)), axis).attributes()


def conv_layer(rng, groups: int, strides, dilations, pads, activation: str, float_bias: bool):
    n, h, w, c = 2, 7, 6, 4
    co = 4 if groups > 1 else 5
    b = ProgramBuilder({"x": ((n, h, w, c), np.float32)})
    sx, zx = np.float32(rng.uniform(0.01, 0.05)), int(rng.integers(-20, 20))
    xq = b.op(q.QuantizeOp, b.args["x"], **_params(sx, zx))
    x = b.op(q.DequantizeOp, xq, **_params(sx, zx))
    sw = rng.uniform(0.002, 0.02, co).astype(np.float32)
    wq = b.const(rng.integers(-127, 128, (3, 2, c // groups, co), dtype=np.int8), "w")
    wf = b.op(q.DequantizeOp, wq, **_params(sw, np.zeros(co), axis=3))
    y = b.op(g.Conv2DOp, x, wf, strides=g.ints_attr(strides), dilations=g.ints_attr(dilations), pads=g.ints_attr(pads),
             groups=g.int_attr(groups))  # fmt: skip
    if float_bias:
        bias = b.const(rng.normal(0, 0.5, co).astype(np.float32), "b")
    else:
        bias = b.op(q.DequantizeOp, b.const(rng.integers(-3000, 3000, co, dtype=np.int32), "b"),
                    **_params(sx * sw, np.zeros(co), axis=0))  # fmt: skip
    y = b.op(g.AddOp, y, bias)
    if activation == "relu":
        y = b.op(g.ReluOp, y)
    elif activation == "relu6":
        y = b.op(g.MinOp, b.op(g.ReluOp, y), b.const(np.float32(6.0), "six"))
    sy, zy = np.float32(rng.uniform(0.02, 0.1)), int(rng.integers(-128, 0))
    out = b.op(q.DequantizeOp, b.op(q.QuantizeOp, y, **_params(sy, zy)), **_params(sy, zy))
    return b.build({"y": out}), sy, rng.normal(0, 1.5, (n, h, w, c)).astype(np.float32)


def matmul_layer(rng):
    b = ProgramBuilder({"a": ((2, 3, 16), np.float32), "m": ((16, 6), np.float32)})
    sa, za = np.float32(0.03), 5
    sb, zb = np.float32(0.02), -3  # both operands are activations (attention-style), one zero point each
    a = b.op(q.DequantizeOp, b.op(q.QuantizeOp, b.args["a"], **_params(sa, za)), **_params(sa, za))
    m = b.op(q.DequantizeOp, b.op(q.QuantizeOp, b.args["m"], **_params(sb, zb)), **_params(sb, zb))
    sy, zy = np.float32(0.04), -10
    out = b.op(q.DequantizeOp, b.op(q.QuantizeOp, b.op(g.MatMulOp, a, m), **_params(sy, zy)), **_params(sy, zy))
    feeds = {"a": rng.normal(0, 1, (2, 3, 16)).astype(np.float32), "m": rng.normal(0, 1, (16, 6)).astype(np.float32)}
    return b.build({"y": out}), sy, feeds


CONV_CASES = [
    (1, (1, 1), (1, 1), (1, 1, 1, 0), "none", False),
    (1, (2, 1), (1, 2), (0, 2, 1, 1), "relu", False),
    (4, (1, 2), (1, 1), (1, 1, 1, 1), "relu6", True),  # depthwise
    (2, (2, 2), (2, 1), (2, 0, 0, 1), "relu", True),  # grouped
]


@pytest.mark.parametrize("case", range(len(CONV_CASES) + 1))
def test_recognized_layer_is_within_one_step_of_the_float_qdq_layer(case):
    rng = np.random.default_rng(case)
    if case < len(CONV_CASES):
        program, step, x = conv_layer(rng, *CONV_CASES[case])
        feeds, root = {"x": x}, "quant.conv2d"
    else:
        program, step, feeds = matmul_layer(rng)
        root = "quant.matmul"
    with bound_weights(program.weights):
        want = np.asarray(evaluate_program(program, feeds, xp=np)["y"], np.float64)
    run_pipeline(program, "recognize-qdq", verify_each=True)
    ops = [op.name for op in program.module.walk()]
    assert ops.count(root) == 1 and "graph.conv2d" not in ops and "graph.matmul" not in ops
    got = np.asarray(evaluate_program(program, feeds, xp=np)["y"], np.float64)
    steps = np.abs(got - want) / step
    assert steps.max() <= 1 + 1e-3, f"worst {steps.max():.2f} steps"
    assert np.count_nonzero(steps > 1e-3) <= 0.05 * want.size  # fixed point and float agree almost everywhere
