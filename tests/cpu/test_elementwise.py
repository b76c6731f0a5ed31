"""CPU backend: elementwise ops (unary, binary, comparisons, select, cast, broadcast_to)."""

from __future__ import annotations

import numpy as np
import pytest
from cpu_testing import assert_close, build, reference, run_cpu
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.dialects import dtypes
from graphc.dialects import graph as g

FLOATS = [np.float32, np.float64, np.float16]
INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]

UNARY_FLOAT = [
    g.NegOp, g.AbsOp, g.SignOp, g.ExpOp, g.Expm1Op, g.LogOp, g.Log1pOp, g.SqrtOp, g.RsqrtOp, g.SinOp,
    g.CosOp, g.TanhOp, g.SigmoidOp, g.ErfOp, g.FloorOp, g.CeilOp, g.RoundOp, g.ReluOp, g.IsNanOp,
]  # fmt: skip
UNARY_INT = [g.NegOp, g.AbsOp, g.SignOp, g.ReluOp, g.IsNanOp]
BINARY_NUMBER = [
    g.AddOp, g.SubOp, g.MulOp, g.DivOp, g.FloorDivOp, g.FloorModOp, g.PowOp, g.MaxOp, g.MinOp,
    g.EqOp, g.NeOp, g.LtOp, g.LeOp, g.GtOp, g.GeOp,
]  # fmt: skip
BINARY_BITS = [g.AndOp, g.OrOp, g.XorOp]

# f16: the backend computes in f32 and rounds once; numpy does the same for most ops, but its
# f16 math functions may differ by an ulp of f16 (2**-11 relative).
TOL = {np.float32: 1e-5, np.float64: 1e-12, np.float16: 2e-3}


def float_data(dtype, shape, rng) -> np.ndarray:
    x = rng.standard_normal(shape) * 3
    flat = x.reshape(-1)
    specials = [np.nan, np.inf, -np.inf, -0.0, 0.0, 0.5, 1.5, 2.5, -2.5, 1.0, -1.0, 40.0, -40.0]
    flat[: min(len(specials), flat.size)] = specials[: flat.size]
    return x.astype(dtype)


def int_data(dtype, shape, rng) -> np.ndarray:
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    flat = x.reshape(-1)
    specials = [0, 1, -1, info.min, info.max, 7, -7, 2, 3]
    specials = [s for s in specials if info.min <= s <= info.max]
    flat[: len(specials)] = specials
    return x


def check(program, arrays, tol=1e-5):
    got = run_cpu(program, arrays)
    ref = reference(program, arrays)
    for i, (a, r) in enumerate(zip(got, ref)):
        try:
            assert_close(a, r, rtol=tol, atol=tol)
        except AssertionError as err:
            raise AssertionError(f"output {i} ({program.output_names[i]}): {err}") from err


@pytest.mark.parametrize("dtype", FLOATS)
def test_unary_float(dtype):
    rng = np.random.default_rng(0)
    x = float_data(dtype, (5, 33), rng)
    program = build([(x.shape, dtype)], lambda gb, a: [gb(op, a) for op in UNARY_FLOAT])
    check(program, [x], TOL[dtype])


@pytest.mark.parametrize("dtype", INTS)
def test_unary_int(dtype):
    rng = np.random.default_rng(1)
    x = int_data(dtype, (3, 17), rng)
    program = build([(x.shape, dtype)], lambda gb, a: [gb(op, a) for op in UNARY_INT])
    check(program, [x])


def test_bool_ops():
    rng = np.random.default_rng(2)
    a = rng.random((4, 9)) < 0.5
    b = rng.random((9,)) < 0.5
    program = build(
        [(a.shape, np.bool_), (b.shape, np.bool_)],
        lambda gb, x, y: [gb(g.NotOp, x), gb(g.AndOp, x, y), gb(g.OrOp, x, y), gb(g.XorOp, x, y),
                          gb(g.EqOp, x, y), gb(g.NeOp, x, y), gb(g.LtOp, x, y), gb(g.MaxOp, x, y),
                          gb(g.MinOp, x, y), gb(g.SelectOp, y, x, y), gb(g.AbsOp, x), gb(g.ReluOp, x)],
    )  # fmt: skip
    check(program, [a, b])


@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_float(dtype):
    rng = np.random.default_rng(3)
    a = float_data(dtype, (6, 1, 20), rng)
    b = float_data(dtype, (5, 1), rng)[::-1].copy()
    b[0, 0], b[1, 0] = 0.0, -0.0  # division and remainder by zero
    program = build([(a.shape, dtype), (b.shape, dtype)], lambda gb, x, y: [gb(op, x, y) for op in BINARY_NUMBER])
    check(program, [a, b], TOL[dtype])


@pytest.mark.parametrize("dtype", INTS)
def test_binary_int(dtype):
    rng = np.random.default_rng(4)
    a = int_data(dtype, (4, 31), rng)
    b = int_data(dtype, (31,), rng)
    b[3] = 0
    ops = [*BINARY_NUMBER, *BINARY_BITS]
    ops.remove(g.PowOp)  # tested below with non-negative exponents
    program = build([(a.shape, dtype), (b.shape, dtype)], lambda gb, x, y: [gb(op, x, y) for op in ops])
    check(program, [a, b])


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8])
def test_int_pow(dtype):
    rng = np.random.default_rng(5)
    a = rng.integers(-5 if dtype != np.uint8 else 0, 6, size=(40,)).astype(dtype)
    b = rng.integers(0, 13, size=(40,)).astype(dtype)
    program = build([(a.shape, dtype), (b.shape, dtype)], lambda gb, x, y: gb(g.PowOp, x, y))
    check(program, [a, b])


CAST_TYPES = [
    np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
    np.uint64, np.bool_,
]  # fmt: skip


@pytest.mark.parametrize("src", CAST_TYPES)
def test_cast(src):
    rng = np.random.default_rng(6)
    if np.issubdtype(src, np.floating):
        x = (rng.standard_normal(64) * 50).astype(src)  # in range of every target (int8 included)
        x[:6] = [0.0, -0.0, 0.5, -0.5, 1.99, -1.99]
    elif src == np.bool_:
        x = rng.random(64) < 0.5
    else:
        x = int_data(src, (64,), rng)
    targets = [t for t in CAST_TYPES if t != src]
    program = build(
        [(x.shape, src)], lambda gb, a: [gb(g.CastOp, a, to=dtypes.from_numpy_dtype(t)) for t in targets]
    )
    check(program, [x])


def test_cast_f64_to_f16_rounds_once():
    # values halfway between f16 neighbours after rounding to f32 first: double rounding would fail
    rng = np.random.default_rng(7)
    base = rng.standard_normal(200).astype(np.float16).astype(np.float64)
    ulp = np.spacing(base.astype(np.float16)).astype(np.float64)
    x = np.concatenate([base + ulp / 2 + 1e-12, base + ulp / 2 - 1e-12, base + ulp / 2, [1e6, -1e6, 65520.0]])
    program = build([(x.shape, np.float64)], lambda gb, a: gb(g.CastOp, a, to=dtypes.f16))
    (got,) = run_cpu(program, [x])
    with np.errstate(over="ignore"):
        expected = x.astype(np.float16)
    np.testing.assert_array_equal(got, expected)


def test_select_broadcast():
    rng = np.random.default_rng(8)
    c = rng.random((3, 1, 5)) < 0.5
    a = rng.standard_normal((4, 1)).astype(np.float32)
    b = rng.standard_normal((1, 4, 5)).astype(np.float32)
    program = build([(c.shape, np.bool_), (a.shape, np.float32), (b.shape, np.float32)],
                    lambda gb, x, y, z: gb(g.SelectOp, x, y, z))  # fmt: skip
    check(program, [c, a, b])


def test_broadcast_to_and_constants():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 1)).astype(np.float32)

    def body(gb, a):
        big = gb.const(np.full((3, 200), 2.5, np.float32))  # large splat: a fill kernel
        small = gb.const(np.array([1.0, -2.0, 3.0, 0.5], np.float32).reshape(1, 4))  # a global
        w = gb.const(rng.standard_normal((3, 4)).astype(np.float32), "w")  # a weight
        return [
            gb(g.BroadcastToOp, a, shape=g.ints_attr((2, 3, 5))),
            gb(g.MulOp, gb(g.BroadcastToOp, a, shape=g.ints_attr((3, 200))), big),
            gb(g.AddOp, gb(g.MulOp, a, small), w),
        ]

    check(build([(x.shape, np.float32)], body), [x])


# -- hypothesis: shapes and broadcasting ---------------------------------------------------------


@st.composite
def broadcast_pair(draw):
    rank = draw(st.integers(0, 4))
    out = draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank))

    def operand():
        keep = draw(st.integers(0, rank))
        shape = out[rank - keep :]
        return [d if draw(st.booleans()) else 1 for d in shape]

    return operand(), operand()


@settings(max_examples=15, deadline=None)
@given(shapes=broadcast_pair(), op=st.sampled_from([g.AddOp, g.SubOp, g.MulOp, g.MaxOp, g.LtOp]))
def test_broadcasting_hypothesis(shapes, op):
    sa, sb = shapes
    rng = np.random.default_rng(10)
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    program = build([(a.shape, np.float32), (b.shape, np.float32)], lambda gb, x, y: gb(op, x, y))
    check(program, [a, b])
