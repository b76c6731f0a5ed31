"""CPU backend: tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh and is_inf.

The functions are libm calls (f32's `tanf`, ..., f64's `tan`; f16 and bf16 compute in f32 and
round once); numpy's implementations differ from libm's by a few ulps at most, so results are
compared at the dtype's tolerance (`pipeline_testing.TOL`), with NaN and infinities in the same
places: domain edges included (asin(±1), acosh(1), atanh(±1) = ±inf, NaN outside the domain).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from cpu_testing import assert_close, build, reference, run_cpu
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from pipeline_testing import check_both_ways, run_fused

from graphc.dialects import graph as g

FLOATS = [np.dtype(t) for t in (np.float16, ml_dtypes.bfloat16, np.float32, np.float64)]
INTS = [np.int8, np.int32, np.uint16, np.int64]
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)

# op: (range of typical inputs, edge values including the domain's ends and beyond)
DOMAINS = {
    g.TanOp: ((-1.5, 1.5), [0.0, -0.0, 1.5707964, -3.0, 10.0, np.inf, np.nan]),
    g.AsinOp: ((-1.0, 1.0), [1.0, -1.0, 0.0, -0.0, 1.0001, -2.0, np.inf, np.nan]),
    g.AcosOp: ((-1.0, 1.0), [1.0, -1.0, 0.0, 1.0001, -2.0, np.inf, np.nan]),
    g.AtanOp: ((-20.0, 20.0), [0.0, -0.0, 1e10, -1e10, np.inf, -np.inf, np.nan]),
    g.SinhOp: ((-9.0, 9.0), [0.0, -0.0, 1e-4, 100.0, -100.0, np.inf, np.nan]),
    g.CoshOp: ((-9.0, 9.0), [0.0, -0.0, 1e-4, 100.0, -100.0, -np.inf, np.nan]),
    g.AsinhOp: ((-50.0, 50.0), [0.0, -0.0, 1e-5, 1e10, -1e10, np.inf, np.nan]),
    g.AcoshOp: ((1.0, 50.0), [1.0, 1.0001, 0.999, 0.0, -3.0, 1e10, np.inf, np.nan]),
    g.AtanhOp: ((-0.99, 0.99), [1.0, -1.0, 0.0, -0.0, 0.999, 1.5, -3.0, np.nan]),
}
OPS = list(DOMAINS)


def inputs_for(op, dtype, shape, rng) -> np.ndarray:
    (lo, hi), edges = DOMAINS[op]
    x = rng.uniform(lo, hi, shape)
    flat = x.reshape(-1)
    k = min(len(edges), flat.size)
    flat[:k] = rng.permutation(edges)[:k]
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_every_function_on_its_domain(dtype):
    rng = np.random.default_rng(0)
    arrays = [inputs_for(op, dtype, (7, 37), rng) for op in OPS]
    program = build([(x.shape, dtype) for x in arrays],
                    lambda gb, *xs: [gb(op, x) for op, x in zip(OPS, xs)] + [gb(g.IsInfOp, xs[0])])  # fmt: skip
    check_both_ways(program, arrays, exact=[len(OPS)])


@settings(max_examples=15, deadline=None, phases=NO_SHRINK)
@given(st.sampled_from(OPS), st.sampled_from(FLOATS), st.lists(st.integers(1, 9), min_size=0, max_size=3),
       st.integers(0, 2**32 - 1))  # fmt: skip
def test_random_shapes_unfused_and_fused(op, dtype, shape, seed):
    rng = np.random.default_rng(seed)
    x = inputs_for(op, dtype, shape, rng)
    program = build([(x.shape, dtype)], lambda gb, a: [gb(op, a), gb(g.IsInfOp, gb(op, a))])
    check_both_ways(program, [x], exact=[1])


def test_chain_of_functions_is_one_kernel():
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.9, 0.9, (96, 130)).astype(np.float32)

    def body(gb, a):
        t = gb(g.AddOp, gb(g.AsinOp, a), gb(g.AcosOp, a))  # pi / 2 everywhere
        u = gb(g.MulOp, gb(g.TanOp, gb(g.AtanOp, a)), gb(g.CoshOp, gb(g.AsinhOp, a)))
        v = gb(g.SubOp, gb(g.SinhOp, gb(g.AtanhOp, a)), gb(g.AcoshOp, gb(g.AddOp, t, t)))
        return [gb(g.AddOp, u, v), gb(g.IsInfOp, gb(g.DivOp, u, a))]

    program = build([(x.shape, np.float32)], body)
    schedule = check_both_ways(program, [x])
    assert len(schedule) == 1, schedule


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_is_inf_on_floats(dtype):
    x = np.asarray([np.inf, -np.inf, np.nan, 0.0, -0.0, 1.0, -3e38 if dtype.itemsize > 2 else -6e4], dtype)
    program = build([(x.shape, dtype)], lambda gb, a: gb(g.IsInfOp, a))
    (got,) = run_cpu(program, [x])
    np.testing.assert_array_equal(got, np.isinf(x.astype(np.float64)))


@pytest.mark.parametrize("dtype", INTS)
def test_is_inf_and_is_nan_on_integers_are_false(dtype):
    info = np.iinfo(dtype)
    x = np.array([0, 1, info.max, info.min], dtype)
    program = build([(x.shape, dtype)], lambda gb, a: [gb(g.IsInfOp, a), gb(g.IsNanOp, a)])
    for got, ref in zip(run_cpu(program, [x]), reference(program, [x])):
        np.testing.assert_array_equal(got, np.zeros(4, np.bool_))
        np.testing.assert_array_equal(ref, got)


def test_functions_in_a_matmul_epilogue():
    # an epilogue with libm functions runs in the scalar form (libm has no vector variants)
    rng = np.random.default_rng(2)
    a = rng.standard_normal((20, 48)).astype(np.float32) * 0.1
    w = rng.standard_normal((48, 40)).astype(np.float32) * 0.1

    def body(gb, v):
        m = gb(g.MatMulOp, v, gb.const(w))
        return gb(g.AddOp, gb(g.AtanOp, m), gb(g.SinhOp, m))

    program = build([(a.shape, np.float32)], body)
    ref = reference(program, [a])
    (got,), schedule = run_fused(program, [a])
    assert len(schedule) == 1, schedule
    assert_close(got, ref[0], rtol=1e-4, atol=1e-4)  # a 48-term dot product in another order
