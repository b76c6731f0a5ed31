"""CPU backend: hand-made `fusion.region`s (every kind) → one kernel each, matching the reference.

Regions are made with `graphc.dialects.fusion.outline` from plain graph programs, so these tests do
not depend on the fusion passes' decisions. The reference is the unfused program, evaluated by
`graphc.dialects.semantics`.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from cpu_testing import assert_close, build, reference, run_code

from graphc.backends.cpu import compile_program, lower_matmul_conv
from graphc.backends.cpu.codegen import compile_llvm_ir
from graphc.backends.cpu.emit_llvm import emit_llvm
from graphc.backends.cpu.lower_to_loops import lower_program
from graphc.dialects import dtypes, fusion
from graphc.dialects import graph as g

F32 = np.float32
AXES_LAST = dict(axes=g.ints_attr((1,)), keepdims=g.int_attr(1))


def fuse(program, kinds: list[tuple[str, int]] | str):
    """Outlines the compute ops of @main into regions, in program order: `kinds` is a list of
    (kind, number of ops) or one kind for all of them. Weights stay outside; inline constants
    are copied into the regions that use them."""
    block = program.main.body.block
    ops = [
        op
        for op in block.ops
        if not isinstance(op, g.ConstantOp) and op is not block.last_op
    ]
    if isinstance(kinds, str):
        kinds = [(kinds, len(ops))]
    start = 0
    for k, (kind, count) in enumerate(kinds):
        fusion.outline(ops[start : start + count], kind, f"fusion_{k}")
        start += count
    assert start == len(ops)
    for op in list(block.ops):  # inline constants now copied into regions
        if isinstance(op, g.ConstantOp) and not op.result.uses:
            block.erase_op(op)
    program.module.verify()
    return program


def check(make, arrays, kinds, tol=1e-5, kernels=None):
    """Compiles make() fused as `kinds`; compares with the unfused reference; returns the code."""
    ref = reference(make(), arrays)
    program = fuse(make(), kinds)
    code = compile_program(program)
    got = run_code(code, program, arrays)
    for a, r in zip(got, ref):
        assert_close(a, r, rtol=tol, atol=tol)
    regions = len(kinds) if not isinstance(kinds, str) else 1
    assert len(code.kernels) == (kernels if kernels is not None else regions), code.kernels
    return code


# -- loop regions ----------------------------------------------------------------------------------


def test_loop_region_w1_is_one_kernel():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 256)).astype(F32) * 4
    x[0, :4] = [np.nan, np.inf, -np.inf, 0]
    a, b = rng.standard_normal(256).astype(F32), rng.standard_normal(256).astype(F32)

    def make():
        def body(gb, v):
            t = gb(g.AddOp, gb(g.MulOp, v, gb.const(a, "a")), gb.const(b, "b"))
            return gb(g.MulOp, gb(g.ReluOp, t), gb(g.SigmoidOp, v))

        return build([(x.shape, F32)], body)

    code = check(make, [x], "loop")
    assert code.kernels == ["fusion_0"]
    assert code.arena_bytes == 0  # no intermediate buffers


def test_loop_region_multi_output_with_reshape_and_inline_constants():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6, 8)).astype(F32)

    def make():
        def body(gb, v):
            c = gb.const(np.arange(8, dtype=F32) / 4, "c")  # inline, not a splat
            t = gb(g.TanhOp, gb(g.MulOp, v, c))
            e = gb(g.ErfOp, gb(g.SubOp, v, gb.const(np.float32(0.5))))
            return [t, gb(g.ReshapeOp, e, shape=g.ints_attr((24, 8))), gb(g.ReshapeOp, t, shape=g.ints_attr((192,)))]

        return build([(x.shape, F32)], body)

    check(make, [x], "loop")


def test_loop_region_views_become_index_arithmetic():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4, 5)).astype(F32)
    y = rng.standard_normal((2, 5, 3, 4)).astype(F32)

    def make():
        def body(gb, a, b):
            t = gb(g.TransposeOp, b, perm=g.ints_attr((0, 2, 3, 1)))  # (2, 3, 4, 5)
            r = gb(g.ReverseOp, gb(g.AddOp, a, t), axes=g.ints_attr((1, 3)))
            s = gb(g.SliceOp, r, starts=g.ints_attr((0, 1, 0, 1)), limits=g.ints_attr((2, 3, 4, 5)),
                   strides=g.ints_attr((1, 1, 2, 3)))  # (2, 2, 2, 2)
            p = gb(g.PadOp, gb(g.ExpOp, s), low=g.ints_attr((0, 1, 0, 2)), high=g.ints_attr((1, 0, 1, 0)),
                   interior=g.ints_attr((0, 0, 1, 0)), mode=g.str_attr("constant"), value=g.float_attr(-3.0))
            c = gb(g.ConcatOp, p, gb(g.NegOp, p), axis=g.int_attr(3))  # (3, 3, 4, 8)
            m = gb(g.PadOp, gb(g.ReshapeOp, c, shape=g.ints_attr((9, 32))), low=g.ints_attr((1, 2)),
                   high=g.ints_attr((2, 1)), interior=g.ints_attr((0, 0)), mode=g.str_attr("reflect"),
                   value=g.float_attr(0.0))
            return gb(g.MulOp, m, gb(g.BroadcastToOp, gb.const(np.float32(2.0)), shape=g.ints_attr((12, 35))))

        return build([(x.shape, F32), (y.shape, F32)], body)  # fmt: skip

    check(make, [x, y], "loop")


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
def test_loop_region_with_pools(dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 9, 8, 5)) * 10).astype(dtype)
    attrs = dict(window=g.ints_attr((3, 3)), strides=g.ints_attr((2, 1)), pads=g.ints_attr((1, 1, 0, 1)))

    def make():
        def body(gb, v):
            r = gb(g.ReluOp, v)
            return [gb(g.MaxPoolOp, r, **attrs), gb(g.AddOp, gb(g.AvgPoolOp, r, **attrs), gb(g.MaxPoolOp, v, **attrs))]

        return build([(x.shape, dtype)], body)

    check(make, [x], "loop", tol=2e-3 if dtype == np.float16 else 1e-5)


def test_loop_region_f16_and_casts_round_like_the_reference():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 33)).astype(np.float16)

    def make():
        def body(gb, v):
            s = gb(g.SigmoidOp, gb(g.MulOp, v, v))
            return [s, gb(g.CastOp, gb(g.GtOp, s, gb.const(np.float16(0.6))), to=dtypes.i32)]

        return build([(x.shape, np.float16)], body)

    check(make, [x], "loop", tol=2e-3)


def test_identical_regions_share_a_kernel():
    x = np.random.default_rng(5).standard_normal((16, 16)).astype(F32)

    def make():
        def body(gb, v):
            a = gb(g.TanhOp, gb(g.AddOp, v, v))
            return gb(g.TanhOp, gb(g.AddOp, a, a))

        return build([(x.shape, F32)], body)

    code = check(make, [x], [("loop", 2), ("loop", 2)], kernels=2)
    assert code.kernels == ["fusion_0", "fusion_0"]


# -- reduction regions -----------------------------------------------------------------------------


def _softmax(gb, v, log=False, axes=AXES_LAST):
    m = gb(g.ReduceMaxOp, v, **axes)
    s = gb(g.SubOp, v, m)
    e = gb(g.ExpOp, s)
    total = gb(g.ReduceSumOp, e, **axes)
    return gb(g.SubOp, s, gb(g.LogOp, total)) if log else gb(g.DivOp, e, total)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_softmax_region(log, dtype):
    x = (np.random.default_rng(6).standard_normal((33, 100)) * 5).astype(dtype)
    x[3, 7] = np.inf
    x[4, :] = -np.inf
    x[5, 2] = np.nan
    tol = 1e-5 if dtype == np.float32 else 2e-3
    check(lambda: build([(x.shape, dtype)], lambda gb, v: _softmax(gb, v, log)), [x], "reduction", tol=tol)


def test_layer_norm_region_as_tensorflow_freezes_it():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((32, 96)) * 2 + 0.5).astype(F32)
    gamma, beta = rng.standard_normal(96).astype(F32), rng.standard_normal(96).astype(F32)

    def make():
        def body(gb, v):
            mean = gb(g.ReduceMeanOp, v, **AXES_LAST)
            d = gb(g.SubOp, v, mean)
            var = gb(g.ReduceMeanOp, gb(g.MulOp, d, d), **AXES_LAST)
            inv = gb(g.RsqrtOp, gb(g.AddOp, var, gb.const(np.float32(1e-3))))
            inv = gb(g.MulOp, inv, gb.const(gamma, "gamma"))
            shift = gb(g.SubOp, gb.const(beta, "beta"), gb(g.MulOp, mean, inv))
            return [gb(g.AddOp, gb(g.MulOp, v, inv), shift), var]

        return build([(x.shape, F32)], body)

    check(make, [x], "reduction")


def test_reduction_over_leading_axes_with_producers_and_row_outputs():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 5, 6, 8)).astype(F32)

    def make():
        def body(gb, v):
            r = gb(g.ReluOp, gb(g.AddOp, v, gb.const(np.float32(0.25))))
            axes = dict(axes=g.ints_attr((1, 2)), keepdims=g.int_attr(0))
            mean = gb(g.ReduceMeanOp, r, **axes)
            top = gb(g.ReduceMaxOp, r, **axes)
            return [gb(g.MulOp, mean, top), gb(g.ReduceSumOp, gb(g.ExpOp, r), **axes)]

        return build([(x.shape, F32)], body)

    check(make, [x], "reduction")


def test_reduction_integer_and_boolean():
    x = np.random.default_rng(9).integers(-50, 50, size=(6, 7)).astype(np.int32)

    def make():
        def body(gb, v):
            s = gb(g.ReduceSumOp, gb(g.MulOp, v, v), **AXES_LAST)
            any_big = gb(g.ReduceAnyOp, gb(g.GtOp, v, gb.const(np.int32(40))), **AXES_LAST)
            return [gb(g.SubOp, v, s), any_big, gb(g.ReduceMeanOp, v, **AXES_LAST)]

        return build([(x.shape, np.int32)], body)

    check(make, [x], "reduction")


# -- matmul / conv regions -------------------------------------------------------------------------


@pytest.fixture(params=["region_entry", "vector_callback"])
def matmul_path(request, monkeypatch):
    """Runs a test through `lower_matmul_conv`'s region entry points, and again through the
    fusion lowering's own path (the plain tiled kernel with `Epilogue.callback`, vector form)."""
    if request.param == "vector_callback":
        monkeypatch.delattr(lower_matmul_conv, "lower_matmul_region", raising=False)
        monkeypatch.delattr(lower_matmul_conv, "lower_conv_region", raising=False)
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_matmul_region_with_bias_relu_and_residual(matmul_path, dtype):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((24, 40)).astype(dtype)
    w = rng.standard_normal((40, 32)).astype(dtype)
    bias = rng.standard_normal(32).astype(dtype)
    res = rng.standard_normal((24, 32)).astype(dtype)

    def make():
        def body(gb, v, r):
            h = gb(g.AddOp, gb(g.MatMulOp, v, gb.const(w, "w")), gb.const(bias, "bias"))
            return [gb(g.AddOp, gb(g.ReluOp, h), r), gb(g.SigmoidOp, h)]

        return build([(x.shape, dtype), (res.shape, dtype)], body)

    check(make, [x, res], "matmul", tol=1e-4 if dtype == np.float32 else 4e-3)


def test_matmul_region_with_prologue_transpose_runs_in_registers(matmul_path):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 12, 10)).astype(F32)
    w = rng.standard_normal((16, 10)).astype(F32)

    def make():
        def body(gb, v, wt):
            y = gb(g.MatMulOp, v, gb(g.TransposeOp, wt, perm=g.ints_attr((1, 0))))
            return gb(g.CastOp, gb(g.TanhOp, y), to=dtypes.f16)

        return build([(x.shape, F32), (w.shape, F32)], body)

    check(make, [x, w], "matmul", tol=2e-3)


@pytest.mark.parametrize("groups", [1, 8])
def test_conv_region_with_batch_norm_and_relu6(groups, matmul_path):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 9, 10, 8)).astype(F32)
    w = rng.standard_normal((3, 3, 8 // groups, 8)).astype(F32)
    scale, shift = rng.standard_normal(8).astype(F32), rng.standard_normal(8).astype(F32)

    def make():
        def body(gb, v):
            y = gb(g.Conv2DOp, v, gb.const(w, "w"), strides=g.ints_attr((2, 1)), dilations=g.ints_attr((1, 1)),
                   pads=g.ints_attr((1, 1, 1, 1)), groups=g.int_attr(groups))
            y = gb(g.AddOp, gb(g.MulOp, y, gb.const(scale, "scale")), gb.const(shift, "shift"))
            return gb(g.MinOp, gb(g.ReluOp, y), gb.const(np.float32(6.0)))

        return build([(x.shape, F32)], body)  # fmt: skip

    check(make, [x], "conv", tol=1e-4)


def test_matmul_region_vector_epilogue_with_masks_reshapes_and_transcendentals(matmul_path):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 7, 19)).astype(F32)
    w = rng.standard_normal((19, 37)).astype(F32)  # 37 columns: a masked last vector
    bias = rng.standard_normal(37).astype(F32)
    res = rng.standard_normal((2, 7, 37)).astype(F32)

    def make():
        def body(gb, v, r):
            h = gb(g.AddOp, gb(g.MatMulOp, v, gb.const(w, "w")), gb.const(bias, "bias"))
            half, one = gb.const(np.float32(0.5)), gb.const(np.float32(1.0))
            gelu = gb(g.MulOp, gb(g.MulOp, h, half),
                      gb(g.AddOp, one, gb(g.ErfOp, gb(g.MulOp, h, gb.const(np.float32(0.70710678))))))  # fmt: skip
            t = gb(g.SelectOp, gb(g.GtOp, h, r), gb(g.TanhOp, h), gb(g.SigmoidOp, r))
            return [gb(g.ReshapeOp, gelu, shape=g.ints_attr((14, 37))), gb(g.AddOp, t, r)]

        return build([(x.shape, F32), (res.shape, F32)], body)

    check(make, [x, res], "matmul", tol=1e-4)


# -- opaque regions and whole schedules ------------------------------------------------------------


def test_opaque_regions_between_fused_ones():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((5, 12)).astype(F32)
    idx = np.array([3, 0, 4, 4], np.int32)

    def make():
        def body(gb, v, i):
            t = gb(g.ExpOp, v)
            gathered = gb(g.GatherOp, t, i, axis=g.int_attr(0), batch_dims=g.int_attr(0))
            values, _ = gb(g.TopKOp, gathered, k=g.int_attr(3), index_type=dtypes.i32)
            return gb(g.AddOp, values, gb.const(np.float32(1.0)))

        return build([(x.shape, F32), (idx.shape, np.int32)], body)

    code = check(make, [x, idx], [("loop", 1), ("opaque", 1), ("opaque", 1), ("loop", 1)])
    assert code.kernels == ["fusion_0", "fusion_1", "fusion_2", "fusion_3"]


def test_fused_elementwise_kernel_is_packed_avx_code():
    def body(gb, v):
        t = gb(g.AddOp, gb(g.MulOp, v, gb.const(np.full(1024, 1.5, F32) + np.arange(1024, dtype=F32), "a")), v)
        return gb(g.MulOp, gb(g.ReluOp, t), gb(g.SigmoidOp, v))

    program = fuse(build([((64, 1024), F32)], body), "loop")
    llvm_module, _ = emit_llvm(lower_program(program).module)
    asm = compile_llvm_ir(str(llvm_module), keep_assembly=True).assembly
    kernel = asm.split("fusion_0:")[1].split(".Lfunc_end")[0]
    assert re.search(r"\bv(fmadd\w*|mul|add|max)ps\s+[^\n]*%(zmm|ymm)", kernel), "no packed float math"
    assert "call" not in kernel


def test_large_regions_are_split_across_cores_and_match():
    """Loop and reduction kernels big enough (`parallel.worth_splitting`) run their outer loop as
    chunks on the thread pool; results are the same as unsplit."""
    rng = np.random.default_rng(15)
    x = (rng.standard_normal((600, 1000)) * 3).astype(F32)  # 600 rows: chunks of 38, the last shorter
    a = rng.standard_normal(1000).astype(F32)

    def make_loop():
        return build([(x.shape, F32)], lambda gb, v: gb(g.MulOp, gb(g.TanhOp, v), gb.const(a, "a")))

    def make_softmax():
        return build([(x.shape, F32)], lambda gb, v: _softmax(gb, v))

    for make, kind in ((make_loop, "loop"), (make_softmax, "reduction")):
        code = check(make, [x], kind)
        assert "graphc_parallel_for" in code.llvm_ir, kind


@pytest.mark.parametrize("n", [64, 100])
def test_matmul_region_with_a_reshaped_operand_reads_unpacked_weights(n):
    """A matmul whose A is a view computed in its region runs untiled (`root_in_registers`), which
    reads B in its logical layout: B must not be packed into panels for it (found through the
    ONNX transformer encoder, where the reshape of the attention input fused into the matmul)."""
    from graphc.backends.registry import get_backend
    from graphc.dialects.builder import ProgramBuilder
    from graphc.dialects.semantics import evaluate_program
    from graphc.driver import compile_program as compile_model

    rng = np.random.default_rng(n)
    b = ProgramBuilder({"x": ((1, 2, 4), np.float32)})
    flat = b.op(g.ReshapeOp, b.args["x"], shape=g.ints_attr([2, 4]))
    w = rng.standard_normal((4, n)).astype(np.float32)
    program = b.build({"y": b.op(g.MatMulOp, flat, b.const(w, "w"))})
    x = rng.standard_normal((1, 2, 4)).astype(np.float32)
    expected = evaluate_program(program, {"x": x})
    model = compile_model(program, get_backend("cpu"))
    got = model.run({"x": x})["y"]
    np.testing.assert_allclose(got, x.reshape(2, 4) @ w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, expected["y"], rtol=1e-5, atol=1e-5)
