"""The CPU backend's int8 kernels are bit-exact with `quant_arith` (the reference), on both paths:
the AVX-512 VNNI kernel (`vpdpbusd`) and the portable one, over hypothesis shapes (odd channel
counts, strides, pads, dilations, groups, depthwise, batched matmuls, zero points)."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.backends.cpu import compile_program, lower_int8
from graphc.backends.cpu.codegen import compile_llvm_ir
from graphc.backends.registry import get_backend
from graphc.dialects import graph as g
from graphc.dialects import quant as q
from graphc.dialects.builder import ProgramBuilder
from graphc.dialects.semantics import evaluate_program
from graphc.driver import compile_program as compile_driver
from graphc.passes import FUSION_PIPELINE
from graphc.pipeline import run_pipeline

HAS_VNNI = lower_int8.host_has_vnni()
PATHS = [pytest.param(True, id="vnni"), pytest.param(False, id="portable")]


def run_both(program, inputs: dict, vnni: bool):
    """(cpu outputs, reference outputs) of a program, the CPU side fused and on the chosen path."""
    if vnni and not HAS_VNNI:
        pytest.skip("the host has no avx512vnni")
    want = evaluate_program(program, inputs)
    with mock.patch.object(lower_int8, "host_has_vnni", lambda: vnni):
        model = compile_driver(program, get_backend("cpu"))
    return model.run(inputs), want


def requantize(b, acc, channels: int, seed: int, relu: bool):
    rng = np.random.default_rng(seed)
    scales = rng.uniform(1e-4, 2e-2, channels)
    zp = int(rng.integers(-20, 20))
    params = q.RequantizeParams.from_scale(scales, zp, zp if relu else -128, 127, axis=len(g.shape_of(acc.type)) - 1)
    return b.op(q.RequantizeOp, acc, **params.attributes())


conv_case = st.fixed_dictionaries({
    "n": st.integers(1, 2), "h": st.integers(0, 4), "w": st.integers(0, 4), "groups": st.integers(1, 3),
    "cpg": st.sampled_from([1, 3, 4, 5, 8]), "opg": st.sampled_from([1, 3, 7, 16, 17]), "kh": st.integers(1, 3),
    "kw": st.integers(1, 3), "stride": st.tuples(st.integers(1, 2), st.integers(1, 2)),
    "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2)), "pads": st.tuples(*[st.integers(0, 2)] * 4),
    "depthwise": st.booleans(), "bias": st.booleans(), "relu": st.booleans(), "zx": st.integers(-128, 127),
    "seed": st.integers(0, 2**31 - 1),
})  # fmt: skip


@pytest.mark.parametrize("vnni", PATHS)
@settings(max_examples=15)
@given(case=conv_case)
def test_conv2d_bit_exact(vnni, case):
    c = case["groups"] * case["cpg"]
    groups, co = (c, c) if case["depthwise"] else (case["groups"], case["groups"] * case["opg"])
    (sh, sw), (dh, dw), (pt, pb, pl, pr) = case["stride"], case["dilation"], case["pads"]
    # the smallest input the window fits (with its padding), plus a few more pixels
    case["h"] += max(1, (case["kh"] - 1) * dh + 1 - pt - pb)
    case["w"] += max(1, (case["kw"] - 1) * dw + 1 - pl - pr)
    rng = np.random.default_rng(case["seed"])
    b = ProgramBuilder({"x": ((case["n"], case["h"], case["w"], c), np.int8)})
    operands = [b.args["x"], b.const(rng.integers(-127, 128, (case["kh"], case["kw"], c // groups, co), dtype=np.int8))]
    if case["bias"]:
        operands.append(b.const(rng.integers(-5000, 5000, co, dtype=np.int32), "bias"))
    acc = b.op(q.Conv2DOp, *operands, strides=g.ints_attr([sh, sw]), dilations=g.ints_attr([dh, dw]),
               pads=g.ints_attr([pt, pb, pl, pr]), groups=g.int_attr(groups), input_zero_point=g.int_attr(case["zx"]))
    program = b.build({"acc": acc, "y": requantize(b, acc, co, case["seed"], case["relu"])})
    x = rng.integers(-128, 128, (case["n"], case["h"], case["w"], c), dtype=np.int8)
    got, want = run_both(program, {"x": x}, vnni)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.mark.parametrize("vnni", PATHS)
@settings(max_examples=15)
@given(m=st.integers(1, 6), k=st.integers(1, 40), n=st.integers(1, 35), batch=st.booleans(),
       za=st.integers(-128, 127), zb=st.sampled_from([0, 0, 3]), constant_b=st.booleans(), seed=st.integers(0, 2**31 - 1))  # fmt: skip
def test_matmul_bit_exact(vnni, m, k, n, batch, za, zb, constant_b, seed):
    rng = np.random.default_rng(seed)
    a_shape = (2, m, k) if batch else (m, k)
    inputs = {"a": ((a_shape), np.int8)}
    if not constant_b:
        inputs["b"] = ((k, n), np.int8)
    b = ProgramBuilder(inputs)
    bv = rng.integers(-127, 128, (k, n), dtype=np.int8)
    rhs = b.const(bv) if constant_b else b.args["b"]
    acc = b.op(q.MatMulOp, b.args["a"], rhs, b.const(rng.integers(-999, 999, n, dtype=np.int32), "bias"),
               a_zero_point=g.int_attr(za), b_zero_point=g.int_attr(zb))  # fmt: skip
    program = b.build({"acc": acc, "y": requantize(b, acc, n, seed, False)})
    feed = {"a": rng.integers(-128, 128, a_shape, dtype=np.int8)}
    if not constant_b:
        feed["b"] = bv
    got, want = run_both(program, feed, vnni)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.mark.parametrize("per_axis", [False, True])
def test_quantize_dequantize_requantize_in_loop_regions(per_axis):
    """Per-tensor ops run in the collapsed elementwise loop, per-axis ones at each coordinate."""
    rng = np.random.default_rng(5)
    b = ProgramBuilder({"x": ((2, 3, 5), np.float32), "acc": ((2, 3, 5), np.int32)})
    axis = 1 if per_axis else None
    count = 3 if per_axis else 1
    p = q.QuantParams(rng.uniform(0.01, 0.1, count).astype(np.float32), rng.integers(-9, 9, count), axis)
    xq = b.op(q.QuantizeOp, b.args["x"], **p.attributes())
    xd = b.op(q.DequantizeOp, xq, **p.attributes())
    r = q.RequantizeParams.from_scale(rng.uniform(1e-3, 3.0, count), -4, -100, 90, axis)
    yq = b.op(q.RequantizeOp, b.args["acc"], **r.attributes())
    program = b.build({"xq": xq, "xd": xd, "yq": yq})
    x = (rng.standard_normal((2, 3, 5)) * 4).astype(np.float32)
    x[0, 0, 0] = np.nan
    x[0, 0, 1] = 0.5 * p.scale[0]  # a tie: rounds to even
    acc = rng.integers(-(2**31), 2**31, (2, 3, 5), dtype=np.int64).astype(np.int32)
    got, want = run_both(program, {"x": x, "acc": acc}, vnni=False)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_vnni_kernel_emits_vpdpbusd():
    if not HAS_VNNI:
        pytest.skip("the host has no avx512vnni (the portable int8 kernel runs instead)")
    rng = np.random.default_rng(0)
    b = ProgramBuilder({"x": ((1, 6, 6, 8), np.int8)})
    acc = b.op(q.Conv2DOp, b.args["x"], b.const(rng.integers(-127, 128, (3, 3, 8, 16), dtype=np.int8)),
               strides=g.ints_attr([1, 1]), dilations=g.ints_attr([1, 1]), pads=g.ints_attr([1, 1, 1, 1]),
               groups=g.int_attr(1), input_zero_point=g.int_attr(3))  # fmt: skip
    program = b.build({"y": requantize(b, acc, 16, 0, True)})
    run_pipeline(program, FUSION_PIPELINE)
    code = compile_program(program)
    assembly = compile_llvm_ir(code.llvm_ir, keep_assembly=True).assembly
    assert "vpdpbusd" in assembly


@pytest.mark.parametrize("vnni", PATHS)
@pytest.mark.parametrize("depthwise", [False, True])
def test_large_int8_convs_are_split_across_threads_and_stay_exact(vnni, depthwise):
    """A conv worth splitting (≥ 2 MFLOP) runs its output rows on both cores: bit-exact with the
    reference, and the same bits with one thread and with two."""
    from graphc.backends.cpu import parallel

    rng = np.random.default_rng(7)
    (h, w), c, co, groups = ((64, 63), 48, 48, 48) if depthwise else ((30, 31), 24, 40, 1)
    b = ProgramBuilder({"x": ((1, h, w, c), np.int8)})
    acc = b.op(q.Conv2DOp, b.args["x"], b.const(rng.integers(-127, 128, (3, 3, c // groups, co), dtype=np.int8)),
               b.const(rng.integers(-5000, 5000, co, dtype=np.int32), "bias"), strides=g.ints_attr([1, 1]),
               dilations=g.ints_attr([1, 1]), pads=g.ints_attr([1, 1, 1, 1]), groups=g.int_attr(groups),
               input_zero_point=g.int_attr(-5))  # fmt: skip
    program = b.build({"y": requantize(b, acc, co, 7, True)})
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    got, want = run_both(program, {"x": x}, vnni)
    np.testing.assert_array_equal(got["y"], want["y"])
    with mock.patch.object(lower_int8, "host_has_vnni", lambda: vnni):
        model = compile_driver(program, get_backend("cpu"))
    assert parallel.PARALLEL_FOR in model.artifact.sections["llvm.ll"].decode()
    native = model.loaded.executor.module
    two = model.run({"x": x})["y"]
    assert native.pool_stats()["jobs_split"] >= 1
    native.set_threads(1)
    np.testing.assert_array_equal(model.run({"x": x})["y"], two)
    np.testing.assert_array_equal(two, want["y"])


@pytest.mark.parametrize("vnni", PATHS)
@pytest.mark.parametrize("ci, co", [(8, 100), (13, 150), (64, 200)])
def test_wide_int8_layers_bit_exact(vnni, ci, co):
    """Output channels past the VNNI kernel's register tile (4 blocks of 16): a loop over full
    groups of blocks and a remainder group; reductions that are and are not multiples of 4; a
    ragged last tile of output points (7 pixels per row, 5 matmul rows)."""
    rng = np.random.default_rng(ci * co)
    b = ProgramBuilder({"x": ((2, 6, 7, ci), np.int8), "a": ((5, ci), np.int8)})
    acc = b.op(q.Conv2DOp, b.args["x"], b.const(rng.integers(-127, 128, (3, 2, ci, co), dtype=np.int8)),
               b.const(rng.integers(-5000, 5000, co, dtype=np.int32), "bias"), strides=g.ints_attr([1, 1]),
               dilations=g.ints_attr([1, 1]), pads=g.ints_attr([1, 1, 0, 1]), groups=g.int_attr(1),
               input_zero_point=g.int_attr(9))  # fmt: skip
    mm = b.op(q.MatMulOp, b.args["a"], b.const(rng.integers(-127, 128, (ci, co), dtype=np.int8)),
              b.const(rng.integers(-999, 999, co, dtype=np.int32), "bias"), a_zero_point=g.int_attr(-3),
              b_zero_point=g.int_attr(0))  # fmt: skip
    program = b.build({"conv": requantize(b, acc, co, 1, True), "mm": requantize(b, mm, co, 2, False)})
    feed = {"x": rng.integers(-128, 128, (2, 6, 7, ci), dtype=np.int8),
            "a": rng.integers(-128, 128, (5, ci), dtype=np.int8)}  # fmt: skip
    got, want = run_both(program, feed, vnni)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_int8_benchmark_checks_its_results_and_prints_its_row():
    """`tools/bench_int8.py` on one row (a smoke test: no timing is asserted)."""
    import os
    import subprocess
    import sys

    tool = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "bench_int8.py")
    done = subprocess.run([sys.executable, tool, "--only", "conv3x3_14x256", "--runs", "4"], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("conv3x3_14x256"))
    assert "✗" not in row and row.count("x |") >= 1
