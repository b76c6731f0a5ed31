"""The `quant` dialect: verifiers reject what the contract forbids, and the reference semantics of a
quantized layer (numpy and jax readings, fused or not) is exactly `quant_arith`'s integer math."""

import numpy as np
import pytest
from xdsl.utils.exceptions import VerifyException

from graphc.backends.reference.executor import jit_program
from graphc.context import parse_module
from graphc.dialects import graph as g
from graphc.dialects import quant as q
from graphc.dialects import quant_arith as qa
from graphc.dialects.builder import ProgramBuilder
from graphc.dialects.semantics import evaluate_program
from graphc.errors import GraphcError


def verify_text(body: str, args: str, results: str = "tensor<4xi8>") -> None:
    text = f"func.func @main({args}) -> {results} {{\n{body}\n}}"
    parse_module(text).verify()


REQ = ("quant.requantize %a {{multiplier = array<i64: {m}>, shift = array<i64: {s}>, scale = array<f64: {r}>, "
       "output_zero_point = {zp} : i64, clamp_min = {lo} : i64, clamp_max = {hi} : i64{axis}}} "
       ": (tensor<2x4xi32>) -> tensor<2x4xi8>")  # fmt: skip


def requantize_text(m="1717986918", s="-3", r="0.1", zp=0, lo=-128, hi=127, axis=""):
    return REQ.format(m=m, s=s, r=r, zp=zp, lo=lo, hi=hi, axis=axis)


def verify_requantize(**kw):
    verify_text(f"%y = {requantize_text(**kw)}\nfunc.return %y : tensor<2x4xi8>", "%a: tensor<2x4xi32>",
                "tensor<2x4xi8>")  # fmt: skip


def test_requantize_verifies_multiplier_against_scale():
    verify_requantize()
    with pytest.raises(VerifyException, match="does not encode scale"):
        verify_requantize(m="1717986919")
    with pytest.raises(VerifyException, match="does not encode scale"):
        verify_requantize(s="-2")


def test_requantize_per_axis_needs_axis_and_matching_count():
    m, s = qa.quantize_multipliers([0.1, 0.2, 0.3, 0.4])
    per_channel = dict(m=", ".join(map(str, m)), s=", ".join(map(str, s)), r="0.1, 0.2, 0.3, 0.4")
    verify_requantize(axis=", axis = 1 : i64", **per_channel)
    with pytest.raises(VerifyException, match="need an `axis`"):
        verify_requantize(**per_channel)
    with pytest.raises(VerifyException, match="4 parameters for dimension 0 of size 2"):
        verify_requantize(axis=", axis = 0 : i64", **per_channel)


@pytest.mark.parametrize("kw, message", [
    (dict(zp=128), "output zero point 128"),
    (dict(lo=10, hi=5), "clamp_min 10 > clamp_max 5"),
    (dict(hi=200), "clamp_max 200"),
])  # fmt: skip
def test_requantize_rejects_out_of_range_integers(kw, message):
    with pytest.raises(VerifyException, match=message):
        verify_requantize(**kw)


def test_quantize_and_dequantize_reject_bad_params_and_types():
    ok = "%y = quant.quantize %a {scale = array<f32: 0.5>, zero_point = array<i64: 3>} : (tensor<4xf32>) -> tensor<4xi8>"
    verify_text(ok + "\nfunc.return %y : tensor<4xi8>", "%a: tensor<4xf32>")
    for bad, message in [
        (ok.replace("0.5", "0.0"), "finite and positive"),
        (ok.replace("array<i64: 3>", "array<i64: 300>"), "zero point 300"),
        (ok.replace("array<f32: 0.5>", "array<f64: 0.5>"), "array<f32"),
        (ok.replace("array<f32: 0.5>", "array<f32: 0.5, 0.25>"), "2 scales but 1 zero points"),
    ]:
        with pytest.raises(VerifyException, match=message):
            verify_text(bad + "\nfunc.return %y : tensor<4xi8>", "%a: tensor<4xf32>")
    with pytest.raises(VerifyException, match="needs a floating-point tensor"):
        verify_text(ok.replace("tensor<4xf32>", "tensor<4xi8>") + "\nfunc.return %y : tensor<4xi8>", "%a: tensor<4xi8>")
    dq = "%y = quant.dequantize %a {scale = array<f32: 0.5>, zero_point = array<i64: 1>} : (tensor<4xi32>) -> tensor<4xf32>"
    with pytest.raises(VerifyException, match="i32 input has zero point 0"):
        verify_text(dq + "\nfunc.return %y : tensor<4xf32>", "%a: tensor<4xi32>", "tensor<4xf32>")


def test_conv_and_matmul_check_operand_types_and_bias():
    conv = ("%y = quant.conv2d %x, %w, %b {{strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, "
            "pads = array<i64: 0, 0, 0, 0>, groups = 1 : i64, input_zero_point = 0 : i64}} "
            ": (tensor<1x3x3x2xi8>, tensor<1x1x2x4xi8>, tensor<{b}>) -> tensor<1x3x3x4xi32>\n"
            "func.return %y : tensor<1x3x3x4xi32>")  # fmt: skip
    args = "%x: tensor<1x3x3x2xi8>, %w: tensor<1x1x2x4xi8>, %b: tensor<{b}>"
    verify_text(conv.format(b="4xi32"), args.format(b="4xi32"), "tensor<1x3x3x4xi32>")
    for b in ("3xi32", "4xi8"):
        with pytest.raises(VerifyException, match="bias must be tensor<4xi32>"):
            verify_text(conv.format(b=b), args.format(b=b), "tensor<1x3x3x4xi32>")
    mm = ("%y = quant.matmul %a, %b {a_zero_point = 0 : i64, b_zero_point = 0 : i64} "
          ": (tensor<2x3xf32>, tensor<3x4xi8>) -> tensor<2x4xi32>\nfunc.return %y : tensor<2x4xi32>")  # fmt: skip
    with pytest.raises(VerifyException, match="needs i8 operands"):
        verify_text(mm, "%a: tensor<2x3xf32>, %b: tensor<3x4xi8>", "tensor<2x4xi32>")


def test_unknown_quant_op_is_a_one_line_error():
    with pytest.raises(GraphcError, match="quant.frobnicate"):
        parse_module('func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {\n  %y = "quant.frobnicate"(%a) : (tensor<4xf32>) -> tensor<4xf32>\n  func.return %y : tensor<4xf32>\n}')


def quantized_layer():
    """quantize → conv (per-channel requantize, relu clamp) → depthwise conv → dequantize, and a matmul."""
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, (3, 3, 3, 4), dtype=np.int8)
    bias = rng.integers(-500, 500, 4, dtype=np.int32)
    dw = rng.integers(-127, 128, (3, 3, 1, 4), dtype=np.int8)
    wm = rng.integers(-127, 128, (36, 5), dtype=np.int8)
    b = ProgramBuilder({"x": ((1, 6, 6, 3), np.float32)})
    xq = b.op(q.QuantizeOp, b.args["x"], **q.QuantParams(np.float32([0.02]), np.int64([-3])).attributes())
    conv = dict(strides=g.ints_attr([1, 1]), dilations=g.ints_attr([1, 1]), pads=g.ints_attr([1, 1, 1, 1]),
                groups=g.int_attr(1), input_zero_point=g.int_attr(-3))  # fmt: skip
    acc = b.op(q.Conv2DOp, xq, b.const(w, "w"), b.const(bias, "b"), **conv)
    relu = q.RequantizeParams.from_scale([0.01, 0.002, 0.03, 0.004], -128, -128, 127, axis=3)
    yq = b.op(q.RequantizeOp, acc, **relu.attributes())
    conv.update(strides=g.ints_attr([2, 2]), groups=g.int_attr(4), input_zero_point=g.int_attr(-128))
    d = b.op(q.Conv2DOp, yq, b.const(dw, "dw"), **conv)
    dq = b.op(q.RequantizeOp, d, **q.RequantizeParams.from_scale([0.003], 2).attributes())
    flat = b.op(g.ReshapeOp, dq, shape=g.ints_attr([1, 36]))
    m = b.op(q.MatMulOp, flat, b.const(wm, "wm"), a_zero_point=g.int_attr(2), b_zero_point=g.int_attr(0))
    y = b.op(q.DequantizeOp, m, **q.QuantParams(np.float32([1e-3] * 5), np.int64([0] * 5), axis=1).attributes())
    program = b.build({"y": y, "yq": yq})

    def expected(x):
        xq_ = qa.quantize(x, [0.02], [-3])
        acc_ = qa.conv2d(xq_, w, bias, -3, (1, 1), (1, 1), (1, 1, 1, 1), 1)
        yq_ = qa.requantize(acc_, relu.multiplier, relu.shift, -128, -128, 127, axis=3)
        d_ = qa.conv2d(yq_, dw, None, -128, (2, 2), (1, 1), (1, 1, 1, 1), 4)
        m1, s1 = qa.quantize_multiplier(0.003)
        dq_ = qa.requantize(d_, [m1], [s1], 2, -128, 127)
        m_ = qa.matmul(dq_.reshape(1, 36), wm, None, 2, 0)
        return {"y": qa.dequantize(m_, [1e-3] * 5, [0] * 5, axis=1), "yq": yq_}

    return program, expected


def test_reference_semantics_is_quant_arith_numpy_and_jax():
    program, expected = quantized_layer()
    x = np.random.default_rng(0).standard_normal((1, 6, 6, 3)).astype(np.float32)
    want = expected(x)
    assert np.any(want["yq"] > -128) and np.any(want["yq"] == -128)  # the relu clamp is exercised
    eager = evaluate_program(program, {"x": x})
    jitted = dict(zip(program.output_names, jit_program(program)([x])))
    for got in (eager, jitted):
        for name in want:
            np.testing.assert_array_equal(np.asarray(got[name]), want[name], err_msg=name)


def test_fused_quantized_program_has_the_same_meaning():
    from xdsl.context import Context
    from xdsl.passes import PassPipeline

    from graphc.dialects import fusion as f
    from graphc.passes import ALL_PASSES, FUSION_PIPELINE

    program, expected = quantized_layer()
    passes = {p.name: p for p in ALL_PASSES}
    PassPipeline.parse_spec(passes, FUSION_PIPELINE).apply(Context(), program.module)
    program.module.verify()
    regions = [op for op in program.main.body.block.ops if isinstance(op, f.RegionOp)]
    kinds = [(r.kind_name, type(f.epilogue_plan(r).root)) for r in regions if r.kind_name in ("conv", "matmul")]
    assert kinds == [("conv", q.Conv2DOp), ("conv", q.Conv2DOp), ("matmul", q.MatMulOp)]
    x = np.random.default_rng(1).standard_normal((1, 6, 6, 3)).astype(np.float32)
    got = dict(zip(program.output_names, jit_program(program)([x])))
    for name, want in expected(x).items():
        np.testing.assert_array_equal(np.asarray(got[name]), want, err_msg=name)
