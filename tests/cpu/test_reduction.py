"""CPU backend: reductions, argmax/argmin, cumsum, top_k."""

from __future__ import annotations

import numpy as np
import pytest
from cpu_testing import assert_close, build, reference, run_cpu
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.dialects import dtypes
from graphc.dialects import graph as g

UNIT_ROUNDOFF = {np.float32: 2.0**-24, np.float64: 2.0**-53, np.float16: 2.0**-11}


def assert_sum_close(got, ref, abs_ref, n, dtype):
    """A sum of n terms computed in any order is within n·u·sum|x| of the exact sum (u the unit
    roundoff); two such sums (ours, reassociated for vectorization, and numpy's pairwise one)
    are within twice that of each other. `abs_ref` is the same reduction of |x|."""
    got, ref, abs_ref = (np.asarray(a, np.float64) for a in (got, ref, abs_ref))
    u = UNIT_ROUNDOFF[dtype]
    bound = 2 * max(n, 1) * u * abs_ref + 2 * u * np.abs(ref) + 1e-300
    same_nan = np.isnan(got) == np.isnan(ref)
    assert same_nan.all()
    finite = np.isfinite(ref)
    assert np.all(np.abs(got - ref)[finite] <= bound[finite]), np.max((np.abs(got - ref) - bound)[finite])


AXES = [(0,), (1,), (2,), (0, 2), (1, 2), (0, 1, 2), ()]
REDUCTIONS = [g.ReduceSumOp, g.ReduceMeanOp, g.ReduceMaxOp, g.ReduceMinOp, g.ReduceProdOp]


def _reductions(ops, axes_list, keep=(0, 1)):
    def body(gb, x):
        return [
            gb(op, x, axes=g.ints_attr(axes), keepdims=g.int_attr(k)) for op in ops for axes in axes_list for k in keep
        ]

    return body


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_float_reductions(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 6, 37)).astype(dtype)
    x.reshape(-1)[7] = np.nan  # max/min propagate it
    program = build([(x.shape, dtype)], _reductions(REDUCTIONS, AXES))
    got = run_cpu(program, [x])
    ref = reference(program, [x])
    abs_ref = reference(program, [np.abs(x)])
    i = 0
    for op in REDUCTIONS:
        for axes in AXES:
            for _ in (0, 1):
                n = int(np.prod([x.shape[a] for a in axes]))
                if op in (g.ReduceMaxOp, g.ReduceMinOp):
                    np.testing.assert_array_equal(got[i], ref[i])
                elif op is g.ReduceProdOp:
                    # relative error n·u per product; f16 products also underflow into subnormals
                    # (numpy rounds every partial product to f16, we round once)
                    atol = 2.0**-24 if dtype == np.float16 else 0
                    assert_close(got[i], ref[i], rtol=4 * n * UNIT_ROUNDOFF[dtype], atol=atol)
                else:
                    assert_sum_close(got[i], ref[i], abs_ref[i], n, dtype)
                i += 1


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8])
def test_int_reductions(dtype):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=(3, 4, 9), endpoint=True).astype(dtype)
    program = build([(x.shape, dtype)], _reductions(REDUCTIONS, AXES))
    for got, ref in zip(run_cpu(program, [x]), reference(program, [x])):
        np.testing.assert_array_equal(got, ref)


def test_bool_reductions():
    rng = np.random.default_rng(2)
    x = rng.random((3, 4, 5)) < 0.7
    ops = [g.ReduceAllOp, g.ReduceAnyOp, g.ReduceMaxOp, g.ReduceMinOp]
    program = build([(x.shape, np.bool_)], _reductions(ops, AXES))
    for got, ref in zip(run_cpu(program, [x]), reference(program, [x])):
        np.testing.assert_array_equal(got, ref)


@settings(max_examples=15, deadline=None)
@given(
    shape=st.lists(st.integers(1, 7), min_size=1, max_size=4),
    data=st.data(),
    op=st.sampled_from([g.ReduceSumOp, g.ReduceMaxOp, g.ReduceMeanOp]),
)
def test_reduction_hypothesis(shape, data, op):
    axes = sorted(data.draw(st.sets(st.integers(0, len(shape) - 1))))
    keep = data.draw(st.integers(0, 1))
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    program = build([(x.shape, np.float32)], lambda gb, a: gb(op, a, axes=g.ints_attr(axes), keepdims=g.int_attr(keep)))
    (got,) = run_cpu(program, [x])
    (ref,) = reference(program, [x])
    (abs_ref,) = reference(program, [np.abs(x)])
    assert_sum_close(got, ref, abs_ref, int(np.prod([shape[a] for a in axes])), np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.uint8, np.bool_])
def test_argmax_argmin(dtype):
    rng = np.random.default_rng(4)
    if dtype == np.bool_:
        x = rng.random((4, 5, 6)) < 0.5
    elif np.issubdtype(dtype, np.floating):
        x = rng.integers(-3, 4, size=(4, 5, 6)).astype(dtype)  # many ties: the first one wins
        x[1, 2, 3] = np.nan
        x[2, 0, 1] = np.nan
    else:
        x = rng.integers(0, 5, size=(4, 5, 6)).astype(dtype)

    def body(gb, a):
        outs = []
        for op in (g.ArgMaxOp, g.ArgMinOp):
            for axis in range(3):
                for index_type in (dtypes.i64, dtypes.i32):
                    outs.append(gb(op, a, axis=g.int_attr(axis), index_type=index_type))
        return outs

    program = build([(x.shape, dtype)], body)
    for got, ref in zip(run_cpu(program, [x]), reference(program, [x])):
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.int8])
def test_cumsum(dtype):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3, 7, 4)) * 10).astype(dtype)

    def body(gb, a):
        return [
            gb(g.CumsumOp, a, axis=g.int_attr(axis), exclusive=g.int_attr(ex), reverse=g.int_attr(rev))
            for axis in range(3)
            for ex in (0, 1)
            for rev in (0, 1)
        ]

    program = build([(x.shape, dtype)], body)
    for got, ref in zip(run_cpu(program, [x]), reference(program, [x])):
        if np.issubdtype(dtype, np.floating):
            # a running sum of at most 7 terms, each step rounded like numpy's
            assert_close(got, ref, rtol=1e-5 if dtype == np.float32 else 0, atol=1e-5 if dtype == np.float32 else 0)
        else:
            np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint8, np.float64])
def test_top_k(dtype):
    rng = np.random.default_rng(6)
    x = rng.integers(0, 6, size=(3, 2, 11)).astype(dtype)  # ties: lower index first
    if np.issubdtype(dtype, np.floating):
        x[0, 0, 3] = -0.0
        x[0, 1, 4] = -np.inf
    program = build(
        [(x.shape, dtype)],
        lambda gb, a: [*gb(g.TopKOp, a, k=g.int_attr(4), index_type=dtypes.i32),
                       *gb(g.TopKOp, a, k=g.int_attr(11), index_type=dtypes.i64)],
    )  # fmt: skip
    for got, ref in zip(run_cpu(program, [x]), reference(program, [x])):
        np.testing.assert_array_equal(got, ref)


def test_top_k_nan_ranks_first():
    """NaN ranks above every number, as in argmax and jax.lax.top_k (the reference backend)."""
    x = np.array([[1.0, np.nan, 3.0, -np.inf, np.nan, 3.0, 0.0]], np.float32)
    program = build([(x.shape, np.float32)], lambda gb, a: gb(g.TopKOp, a, k=g.int_attr(7), index_type=dtypes.i32))
    values, indices = run_cpu(program, [x])
    np.testing.assert_array_equal(indices, [[1, 4, 2, 5, 0, 6, 3]])
    np.testing.assert_array_equal(values, x[:, [1, 4, 2, 5, 0, 6, 3]])
