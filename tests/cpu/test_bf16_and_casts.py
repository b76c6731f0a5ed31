"""CPU backend: bf16 as a real element type, and every cast pair, as numpy's `astype`.

bf16 computes in f32 and rounds to nearest even on every store (like f16): the basic IEEE ops
(+ − × ÷, rem, max/min, comparisons, rounding ops) then give exactly ml_dtypes' results, which
compute the same way, so those are compared bit for bit; math functions within two bf16 ulps.
Casts are exact everywhere (float→int truncates; values out of the target's range are undefined
in numpy and not tested).
"""

from __future__ import annotations

import os
import tempfile

import ml_dtypes
import numpy as np
import pytest
from cpu_testing import assert_close, build, reference, run_cpu
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from pipeline_testing import assert_bits_equal, check_both_ways, run_fused

from graphc.backends.registry import get_backend
from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.driver import compile_program
from graphc.runtime import load

BF16 = np.dtype(ml_dtypes.bfloat16)
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
"""Each example compiles native code (~0.5 s): shrinking a failure would take minutes; the
falsifying example is reported as generated."""
FLOATS = [np.dtype(t) for t in (np.float16, ml_dtypes.bfloat16, np.float32, np.float64)]
INTS = [np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)]
ALL = [*FLOATS, *INTS, np.dtype(np.bool_)]

EXACT_UNARY = [g.NegOp, g.AbsOp, g.SignOp, g.FloorOp, g.CeilOp, g.RoundOp, g.ReluOp, g.IsNanOp, g.IsInfOp]
MATH_UNARY = [g.ExpOp, g.Expm1Op, g.LogOp, g.Log1pOp, g.SqrtOp, g.RsqrtOp, g.SinOp, g.CosOp, g.TanhOp, g.SigmoidOp,
              g.ErfOp, g.TanOp, g.AtanOp, g.SinhOp, g.AsinhOp]  # fmt: skip
EXACT_BINARY = [g.AddOp, g.SubOp, g.MulOp, g.DivOp, g.RemOp, g.MaxOp, g.MinOp, g.FloorDivOp, g.FloorModOp,
                g.EqOp, g.NeOp, g.LtOp, g.LeOp, g.GtOp, g.GeOp]  # fmt: skip


def bf16_data(shape, rng, scale=3.0) -> np.ndarray:
    x = rng.standard_normal(shape) * scale
    flat = x.reshape(-1)
    specials = [np.nan, np.inf, -np.inf, -0.0, 0.0, 0.5, 1.5, 2.5, -2.5, 1.0, -1.0, 40.0, -40.0, 3e38, 1e-39]
    flat[: min(len(specials), flat.size)] = specials[: flat.size]
    return x.astype(BF16)


# -- bf16 ops, unfused and fused ---------------------------------------------------------------


@settings(max_examples=8, deadline=None, phases=NO_SHRINK)
@given(st.lists(st.integers(1, 7), min_size=1, max_size=3), st.integers(0, 2**32 - 1))
def test_bf16_elementwise_matches_ml_dtypes(shape, seed):
    rng = np.random.default_rng(seed)
    x, y = bf16_data(shape, rng), bf16_data(shape[-1:], rng)
    y.reshape(-1)[0] = 0.0  # division and remainder by zero

    def body(gb, a, b):
        exact = [gb(op, a) for op in EXACT_UNARY] + [gb(op, a, b) for op in EXACT_BINARY]
        return exact + [gb(op, a) for op in MATH_UNARY]

    program = build([(x.shape, BF16), (y.shape, BF16)], body)
    # exact in value: a zero's sign may differ (graphc's sign(-0) and min(0, -0) follow numpy's f32)
    check_both_ways(program, [x, y], exact=range(len(EXACT_UNARY) + len(EXACT_BINARY)))


def test_bf16_chain_is_one_kernel_and_rounds_after_every_op():
    # f32 in, bf16 arithmetic, f32 out: one fused loop; each op's result rounds to bf16 as numpy does
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((64, 48)) * 4).astype(np.float32)
    b = rng.standard_normal(48).astype(BF16)

    def body(gb, v, bias):
        h = gb(g.CastOp, v, to=dtypes.bf16)
        h = gb(g.AddOp, gb(g.MulOp, h, h), bias)
        h = gb(g.RemOp, gb(g.TanhOp, h), gb(g.AddOp, bias, bias))
        return gb(g.CastOp, h, to=dtypes.f32)

    program = build([(x.shape, np.float32), (b.shape, BF16)], body)
    schedule = check_both_ways(program, [x, b], tol=1.6e-2)
    assert len(schedule) == 1, schedule


def test_bf16_reduction_softmax_and_matmul_epilogue():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 40)).astype(BF16)
    w = rng.standard_normal((40, 24)).astype(BF16)
    bias = rng.standard_normal(24).astype(BF16)

    def body(gb, v):
        m = gb(g.ReluOp, gb(g.AddOp, gb(g.MatMulOp, v, gb.const(w)), gb.const(bias, "b")))
        return [
            m,
            gb(g.SoftmaxOp, v, axis=g.int_attr(1)),
            gb(g.ReduceMeanOp, v, axes=g.ints_attr((1,)), keepdims=g.int_attr(0)),
            gb(g.ArgMaxOp, v, axis=g.int_attr(1), index_type=dtypes.i64),
            gb(g.CumsumOp, v, axis=g.int_attr(1), exclusive=g.int_attr(0), reverse=g.int_attr(0)),
        ]

    program = build([(x.shape, BF16)], body)
    ref = reference(program, [x])
    fused, _ = run_fused(program, [x])
    # the matmul, mean and softmax accumulate 40 products in f32 (in another order than numpy):
    # the bf16 rounding of the result dominates; cumsum rounds to bf16 after each of 40 steps
    for i, (a, r) in enumerate(zip(fused, ref)):
        if r.dtype == np.int64:
            np.testing.assert_array_equal(a, r)
        else:
            assert_close(a, r, rtol=1.6e-2, atol=1.6e-2)


def test_bf16_artifact_round_trip():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 33)).astype(BF16)
    w = rng.standard_normal((33, 33)).astype(BF16)  # a bf16 weight: stored as its bits in the artifact
    program = build([(x.shape, BF16)], lambda gb, v: gb(g.MatMulOp, v, gb.const(w)))
    model = compile_program(program.clone(), get_backend("cpu"))
    first = model.run({"x0": x})["y0"]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.gcx")
        model.save(path)
        again = load(path).run({"x0": x})["y0"]
    assert again.dtype == BF16
    assert_bits_equal(again, first)
    assert_close(first, reference(program, [x])[0], rtol=1.6e-2, atol=1.6e-2)


# -- rounding to bf16: ties, NaN, overflow, subnormals -----------------------------------------


def _tie_cases() -> np.ndarray:
    """f32 values exactly halfway between bf16 neighbours (both parities), just off halfway,
    the largest finite f32 (rounds to inf), subnormals, signed zeros and infinities."""
    rng = np.random.default_rng(4)
    top = rng.integers(0, 1 << 16, 200, dtype=np.uint32) << 16
    halfway = top | 0x8000
    near = np.concatenate([halfway, halfway + 1, halfway - 1, top | 0x7FFF])
    near = near[(near >> 23 & 0xFF) != 0xFF]  # no NaN/inf bit patterns here
    values = near.view(np.float32)
    extra = np.array([np.finfo(np.float32).max, -np.finfo(np.float32).max, 1e-40, -1e-40, 0.0, -0.0,
                      np.inf, -np.inf, 3.3895314e38], np.float32)  # fmt: skip
    return np.concatenate([values, extra])


@pytest.mark.parametrize("src", [np.float32, np.float64, np.int32, np.int64, np.uint64, np.float16])
def test_rounding_to_bf16_is_ml_dtypes_astype(src):
    values = _tie_cases()
    if np.dtype(src).kind in "iu":
        info = np.iinfo(src)
        rng = np.random.default_rng(5)
        big = rng.integers(max(info.min, -(1 << 40)), min(info.max, 1 << 40), 400, endpoint=True, dtype=src)
        # integers halfway (and one off) between bf16 neighbours: f32 rounding first makes ties
        halves = (np.arange(1, 100, dtype=np.int64) << 24) + (1 << 16) + np.array([[-1], [0], [1]])
        x = np.concatenate([big, halves.reshape(-1).astype(src), np.array([info.min, info.max], src)])
    elif src == np.float64:
        wide = values.astype(np.float64)
        x = np.concatenate([wide, wide * (1 + 2.0**-30), [1 + 2.0**-8 + 2.0**-30]])  # f32 ties, then just past
    else:
        with np.errstate(over="ignore"):
            x = values.astype(src)
    program = build([(x.shape, src)], lambda gb, a: gb(g.CastOp, a, to=dtypes.bf16))
    (got,) = run_cpu(program, [x])
    with np.errstate(over="ignore", invalid="ignore"):
        expected = x.astype(BF16)
    assert_bits_equal(got, expected)
    numbers = ~np.isnan(expected)
    np.testing.assert_array_equal(got.view(np.uint16)[numbers], expected.view(np.uint16)[numbers])  # signed zeros too


def test_nan_to_bf16_stays_nan_with_its_sign():
    bits = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF812345, 0x7FFFFFFF], np.uint32)
    x = bits.view(np.float32)
    program = build([(x.shape, np.float32)], lambda gb, a: gb(g.CastOp, a, to=dtypes.bf16))
    (got,) = run_cpu(program, [x])
    assert np.all(np.isnan(got.astype(np.float32)))
    np.testing.assert_array_equal(np.signbit(got.astype(np.float32)), np.signbit(x))


# -- every cast pair ------------------------------------------------------------------------------


def is_float(dtype: np.dtype) -> bool:
    return dtype in FLOATS


def int_bounds(dst: np.dtype) -> tuple[float, float]:
    """[lo, hi): the floats whose truncation `dst` holds (powers of two: exact as floats)."""
    bits = dst.itemsize * 8
    return (0.0, 2.0**bits) if dst.kind == "u" else (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1))


def values_for(src: np.dtype, dst: np.dtype, count: int, rng) -> np.ndarray:
    """`count` values of `src` for a cast to `dst`, with the edge cases of the pair; float values
    whose truncation `dst` cannot hold (undefined in numpy) are replaced by 0."""
    if src == np.bool_:
        return rng.random(count) < 0.5
    if src.kind in "iu":
        info = np.iinfo(src)
        x = rng.integers(info.min, info.max, count, endpoint=True, dtype=src)
        edges = (0, 1, -1, info.min, info.max, 127, 128, 255, 256, -129)
        _put_first(x, [v for v in edges if info.min <= v <= info.max])
        return x
    if dst.kind in "iu":
        fmax = float(ml_dtypes.finfo(src).max)
        lo, hi = int_bounds(dst)
        lo, hi = max(lo, -fmax), min(hi, fmax)
        x = rng.uniform(lo, hi, count)
        _put_first(x, [0.0, -0.0, 0.5, -0.5, 1.99, -1.99, lo, hi * 0.999])
        with np.errstate(over="ignore"):
            return in_range(x.astype(src), dst)
    x = rng.standard_normal(count) * 10.0 ** rng.integers(-6, 6, count)
    _put_first(x, [np.nan, np.inf, -np.inf, 0.0, -0.0, 65504.0, 1e30, -1e-30])
    with np.errstate(over="ignore"):
        return x.astype(src)


def _put_first(x: np.ndarray, specials: list) -> None:
    """Edge cases first, in a random order (so small arrays see different ones)."""
    k = min(len(specials), x.size)
    picked = np.random.default_rng(x.size).permutation(len(specials))[:k]
    x[:k] = [specials[i] for i in picked]


def in_range(x: np.ndarray, dst: np.dtype) -> np.ndarray:
    t = np.trunc(x.astype(np.float64))
    lo, hi = int_bounds(dst)
    return np.where((t >= lo) & (t < hi), x, np.zeros_like(x))


def astype(x: np.ndarray, dst: np.dtype) -> np.ndarray:
    with np.errstate(all="ignore"):
        return x.astype(dst)


@pytest.mark.parametrize("src", ALL, ids=str)
def test_every_cast_pair_is_numpy_astype(src):
    rng = np.random.default_rng(6)
    targets = [t for t in ALL if t != src]
    inputs = [values_for(src, dst, 96, rng) for dst in targets]
    program = build(
        [(x.shape, src) for x in inputs],
        lambda gb, *args: [gb(g.CastOp, a, to=dtypes.from_numpy_dtype(t)) for a, t in zip(args, targets)],
    )
    expected = [astype(x, dst) for x, dst in zip(inputs, targets)]
    unfused = run_cpu(program, inputs)
    fused, _ = run_fused(program, inputs)
    for got_all, how in ((unfused, "unfused"), (fused, "fused")):
        for got, want, dst in zip(got_all, expected, targets):
            assert_bits_equal(got, want, f"{how} {src} -> {dst}")


@settings(max_examples=12, deadline=None, phases=NO_SHRINK)
@given(st.sampled_from(ALL), st.sampled_from(ALL), st.lists(st.integers(1, 9), min_size=0, max_size=3),
       st.integers(0, 2**32 - 1))  # fmt: skip
def test_cast_random_shapes_inside_a_fused_chain(src, dst, shape, seed):
    # select(x != x, x, x) is x (NaN included): the cast is evaluated inside a fused loop region
    rng = np.random.default_rng(seed)
    x = values_for(src, dst, max(1, int(np.prod(shape))), rng).reshape(shape)

    def body(gb, a):
        kept = gb(g.SelectOp, gb(g.NeOp, a, a), a, a)
        return gb(g.CastOp, kept, to=dtypes.from_numpy_dtype(dst))

    program = build([(x.shape, src)], body)
    (got,), schedule = run_fused(program, [x])
    assert len(schedule) == 1, schedule
    assert_bits_equal(got, astype(x, dst), f"{src} -> {dst}")


def test_bf16_through_every_op_family():
    # data movement copies bits; pooling, conv, resize, top_k and reductions compute in f32
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 6, 7, 4)).astype(BF16)
    w = rng.standard_normal((3, 3, 2, 6)).astype(BF16)
    idx = rng.integers(-7, 7, (5,)).astype(np.int32)
    pool = dict(window=g.ints_attr((3, 2)), strides=g.ints_attr((2, 1)), pads=g.ints_attr((1, 1, 0, 1)))

    def body(gb, v):
        return [
            gb(g.TransposeOp, v, perm=g.ints_attr((0, 3, 1, 2))),
            gb(g.PadOp, v, low=g.ints_attr((0, 1, 0, 2)), high=g.ints_attr((0, 0, 2, 0)),
               interior=g.ints_attr((0, 1, 0, 0)), mode=g.str_attr("constant"), value=g.float_attr(-1.5)),  # fmt: skip
            gb(g.ConcatOp, v, v, axis=g.int_attr(3)),
            gb(g.SliceOp, v, starts=g.ints_attr((0, 1, 0, 1)), limits=g.ints_attr((2, 6, 7, 4)),
               strides=g.ints_attr((1, 2, 3, 1))),  # fmt: skip
            gb(g.GatherOp, v, gb.const(idx, "idx"), axis=g.int_attr(2), batch_dims=g.int_attr(0)),
            gb(g.MaxPoolOp, v, **pool, dilations=g.ints_attr((2, 1))),
            gb(g.AvgPoolOp, v, **pool),
            gb(g.Conv2DOp, v, gb.const(w), strides=g.ints_attr((1, 1)), dilations=g.ints_attr((1, 1)),
               pads=g.ints_attr((1, 1, 1, 1)), groups=g.int_attr(2)),  # fmt: skip
            gb(g.ResizeOp, v, size=g.ints_attr((9, 5)), mode=g.str_attr("bilinear"),
               coordinates=g.str_attr("half_pixel"), nearest_mode=g.str_attr("floor"),
               cubic_coeff=g.float_attr(-0.75), exclude_outside=g.int_attr(0)),  # fmt: skip
            *gb(g.TopKOp, v, k=g.int_attr(2), index_type=dtypes.i64),
            gb(g.ReduceMaxOp, v, axes=g.ints_attr((1, 2)), keepdims=g.int_attr(1)),
            gb(g.ReduceProdOp, v, axes=g.ints_attr((3,)), keepdims=g.int_attr(0)),
            gb(g.CumprodOp, v, axis=g.int_attr(2), exclusive=g.int_attr(1), reverse=g.int_attr(0)),
            gb(g.ReverseOp, v, axes=g.ints_attr((1, 3))),
        ]

    program = build([(x.shape, BF16)], body)
    # data movement, max pool, gather, top_k and max are exact (outputs 0-5, 9-11, 14); the others
    # sum or multiply a few f32 products before rounding to bf16
    check_both_ways(program, [x], exact=[0, 1, 2, 3, 4, 5, 9, 10, 11, 14])


def test_inline_bf16_constants_become_bf16_tables():
    # `dense<...> : tensor<4xbf16>` written in IR (graphc itself keeps bf16 weights as resources):
    # a constant global unfused, a constant table inside a fused region; both hold bf16 bits
    from xdsl.dialects.builtin import DenseIntOrFPElementsAttr

    values = [1.5, -0.0078125, 2.0**127, 0.333984375]  # all exact in bf16
    attr = DenseIntOrFPElementsAttr.from_list(dtypes.tensor((4,), dtypes.bf16), values)
    x = np.asarray([[1.0, 2.0, -3.0, 0.5]] * 3, BF16)

    def body(gb, v):
        c = gb(g.ConstantOp, value=attr)
        return [gb(g.MulOp, v, c), gb(g.AddOp, gb(g.CastOp, c, to=dtypes.f32), gb.const(np.zeros((3, 4), np.float32)))]

    program = build([(x.shape, BF16)], body)
    check_both_ways(program, [x], exact=[0, 1])
    np.testing.assert_array_equal(reference(program, [x])[1][0], np.asarray(values, np.float32))


def test_bf16_and_shift_kernels_vectorize():
    """bf16 loads/stores are i16 vectors widened to f32 vectors (bit operations, no libcalls);
    shifts are packed integer shifts with selects for the out-of-range amounts."""
    import re

    from graphc.backends.cpu.codegen import compile_llvm_ir
    from graphc.backends.cpu.emit_llvm import emit_llvm
    from graphc.backends.cpu.lower_to_loops import lower_program

    def body(gb, a, bias, n, s):
        return [gb(g.TanhOp, gb(g.AddOp, gb(g.MulOp, a, bias), bias)), gb(g.ShiftRightOp, gb(g.ShiftLeftOp, n, s), s)]

    program = build([((64, 256), BF16), ((256,), BF16), ((64, 256), np.int32), ((256,), np.int32)], body)
    llvm_module, _ = emit_llvm(lower_program(program).module)
    optimized = compile_llvm_ir(str(llvm_module), keep_optimized_ir=True).optimized_ir
    kernels = {re.search(r'@"?([\w.]+)"?\(', c).group(1): c for c in optimized.split("\ndefine ")[1:]}
    for name in ("mul_0", "add_0", "tanh_0"):
        text = kernels[name]
        assert re.search(r"load <\d+ x i16>", text) and re.search(r"<\d+ x float>", text), f"{name} did not vectorize"
        assert not re.search(r"call [^@\n]*@(?!llvm\.)", text), f"{name} calls a function (not an intrinsic)"
    for name in ("shift_left_0", "shift_right_0"):
        assert re.search(r"(shl|ashr) <\d+ x i32>", kernels[name]), f"{name} did not vectorize"
