"""CPU backend: matmul, conv2d (grouped, depthwise, strided, dilated, padded) and pooling."""

from __future__ import annotations

import numpy as np
import pytest
from cpu_testing import assert_close, build, reference, run_cpu
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.dialects import graph as g

UNIT_ROUNDOFF = {np.float32: 2.0**-24, np.float64: 2.0**-53, np.float16: 2.0**-11}


def assert_dot_close(program, arrays, got, dtype, length):
    """Each output is a sum of `length` products. Computed in any order it is within about
    length·u·sum|a·b| of the exact value; our order (sequential, or fused multiply-adds) and the
    reference's differ by at most twice that. sum|a·b| is the same program run on |inputs|."""
    ref = reference(program, arrays)
    abs_ref = reference(program, [np.abs(a) for a in arrays])
    u = UNIT_ROUNDOFF[dtype]
    for out, r, ar in zip(got, ref, abs_ref):
        assert out.dtype == r.dtype
        err = np.abs(out.astype(np.float64) - r.astype(np.float64))
        bound = 2 * (length + 1) * u * ar.astype(np.float64) + 2 * u * np.abs(r.astype(np.float64))
        assert np.all(err <= bound), float(np.max(err - bound))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_matmul_float(dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 1, 7, 33)).astype(dtype)
    b = rng.standard_normal((3, 33, 20)).astype(dtype)
    v = rng.standard_normal((33, 1)).astype(dtype)
    program = build([(a.shape, dtype), (b.shape, dtype), (v.shape, dtype)],
                    lambda gb, x, y, z: [gb(g.MatMulOp, x, y), gb(g.MatMulOp, x, z)])  # fmt: skip
    arrays = [a, b, v]
    assert_dot_close(program, arrays, run_cpu(program, arrays), dtype, 33)


@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.int64])
def test_matmul_int(dtype):
    rng = np.random.default_rng(1)
    a = rng.integers(-100, 100, size=(5, 9)).astype(dtype)
    b = rng.integers(-100, 100, size=(9, 6)).astype(dtype)
    program = build([(a.shape, dtype), (b.shape, dtype)], lambda gb, x, y: gb(g.MatMulOp, x, y))
    np.testing.assert_array_equal(run_cpu(program, [a, b])[0], reference(program, [a, b])[0])


@settings(max_examples=12, deadline=None)
@given(m=st.integers(1, 9), k=st.integers(1, 40), n=st.integers(1, 35), batch=st.sampled_from([(), (2,), (2, 1)]))
def test_matmul_hypothesis(m, k, n, batch):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((*batch, m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    program = build([(a.shape, np.float32), (b.shape, np.float32)], lambda gb, x, y: gb(g.MatMulOp, x, y))
    assert_dot_close(program, [a, b], run_cpu(program, [a, b]), np.float32, k)


CONV_CASES = [
    # (input NHWC, filter HWIO, strides, dilations, pads, groups)
    ((1, 9, 11, 3), (3, 3, 3, 8), (1, 1), (1, 1), (1, 1, 1, 1), 1),
    ((2, 10, 10, 4), (3, 3, 4, 6), (2, 2), (1, 1), (0, 1, 0, 1), 1),
    ((1, 8, 8, 6), (3, 3, 2, 9), (1, 2), (1, 1), (1, 1, 2, 0), 3),  # grouped
    ((1, 12, 12, 8), (3, 3, 1, 8), (1, 1), (1, 1), (1, 1, 1, 1), 8),  # depthwise
    ((1, 12, 12, 8), (3, 3, 1, 8), (2, 2), (1, 1), (0, 1, 0, 1), 8),  # depthwise, strided
    ((1, 7, 7, 4), (3, 3, 1, 8), (1, 1), (1, 1), (1, 1, 1, 1), 4),  # depth multiplier 2
    ((1, 13, 13, 2), (3, 3, 2, 5), (1, 1), (2, 3), (2, 2, 3, 3), 1),  # dilated
    ((2, 6, 6, 16), (1, 1, 16, 24), (1, 1), (1, 1), (0, 0, 0, 0), 1),  # pointwise
]


def _conv_program(x_shape, w_shape, strides, dilations, pads, groups, dtype, w):
    return build(
        [(x_shape, dtype)],
        lambda gb, x: gb(g.Conv2DOp, x, gb.const(w, "filter"), strides=g.ints_attr(strides),
                         dilations=g.ints_attr(dilations), pads=g.ints_attr(pads), groups=g.int_attr(groups)),
    )  # fmt: skip


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_conv2d(case, dtype):
    x_shape, w_shape, strides, dilations, pads, groups = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    program = _conv_program(x_shape, w_shape, strides, dilations, pads, groups, dtype, w)
    got = run_cpu(program, [x])
    ref = reference(program, [x])
    # the reference accumulates in f64 and rounds once: a dot product of KH·KW·CI terms
    u = UNIT_ROUNDOFF[dtype]
    length = w_shape[0] * w_shape[1] * w_shape[2]
    w_abs = np.abs(w)
    program_abs = _conv_program(x_shape, w_shape, strides, dilations, pads, groups, dtype, w_abs)
    (abs_ref,) = reference(program_abs, [np.abs(x)])
    err = np.abs(got[0].astype(np.float64) - ref[0].astype(np.float64))
    bound = (length + 1) * u * abs_ref.astype(np.float64) + u * np.abs(ref[0].astype(np.float64))
    assert got[0].dtype == ref[0].dtype
    assert np.all(err <= bound), float(np.max(err - bound))


def test_conv2d_int():
    rng = np.random.default_rng(4)
    x = rng.integers(-20, 20, size=(1, 6, 6, 4)).astype(np.int32)
    w = rng.integers(-5, 5, size=(3, 3, 2, 4)).astype(np.int32)
    program = _conv_program(x.shape, w.shape, (1, 1), (1, 1), (1, 1, 1, 1), 2, np.int32, w)
    np.testing.assert_array_equal(run_cpu(program, [x])[0], reference(program, [x])[0])


POOL_CASES = [
    # (window, strides, pads)
    ((2, 2), (2, 2), (0, 0, 0, 0)),
    ((3, 3), (2, 2), (1, 1, 1, 1)),
    ((3, 2), (1, 2), (0, 2, 1, 0)),
    ((5, 5), (1, 1), (2, 2, 2, 2)),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.uint8])
def test_pooling(case, dtype):
    window, strides, pads = case
    rng = np.random.default_rng(5)
    if np.issubdtype(dtype, np.floating):
        x = rng.standard_normal((2, 9, 8, 5)).astype(dtype)
        x[0, 1, 1, 1] = np.nan
    else:
        x = rng.integers(0, 100, size=(2, 9, 8, 5)).astype(dtype)
    attrs = dict(window=g.ints_attr(window), strides=g.ints_attr(strides), pads=g.ints_attr(pads))
    program = build([(x.shape, dtype)], lambda gb, a: [gb(g.MaxPoolOp, a, **attrs), gb(g.AvgPoolOp, a, **attrs)])
    got = run_cpu(program, [x])
    ref = reference(program, [x])
    np.testing.assert_array_equal(got[0], ref[0])
    # an average of at most 25 terms; the reference sums f16 in f16, we sum in f32
    tol = {np.float32: 1e-6 * 25, np.float16: 2.0**-11 * 25}.get(dtype, 0)
    assert_close(got[1], ref[1], rtol=tol, atol=tol)
