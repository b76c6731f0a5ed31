"""CPU backend: argmax/argmin with `select_last_index`, cumprod, and dilated max/avg pooling.

Indices and integer results match the oracle exactly; float cumprod rounds after every step like
numpy's `cumprod(dtype=...)` (an exact match for f32/f64 in the same order; f16/bf16 too), and
pools reduce the same taps (max exact; avg within the dtype's tolerance: the sum's order
differs). Pools run alone (`lower_matmul_conv.lower_pool`) and fused after an elementwise producer
(`lower_fusion`'s per-element window).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from cpu_testing import assert_close, build, reference, run_cpu
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from onnx.reference.ops.op_argmax import ArgMax_12
from onnx.reference.ops.op_argmin import ArgMin_12
from pipeline_testing import check_both_ways, run_fused, tolerance

from graphc.backends.cpu import compile_program
from graphc.dialects import dtypes
from graphc.dialects import graph as g

NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
TYPES = [np.dtype(t) for t in (np.float32, np.float16, ml_dtypes.bfloat16, np.float64, np.int32, np.uint8, np.int64)]


def few_values(dtype: np.dtype, shape, rng) -> np.ndarray:
    """Values from a small set, so ties (and, for floats, NaN) are common."""
    x = rng.integers(0, 4, size=shape).astype(np.float64)
    if dtype.kind not in "iub":
        x[rng.random(shape) < 0.1] = np.nan
        x[rng.random(shape) < 0.05] = -np.inf
    return np.asarray(x, dtype)


@settings(max_examples=20, deadline=None, phases=NO_SHRINK)
@given(st.sampled_from(TYPES), st.lists(st.integers(1, 6), min_size=1, max_size=3), st.integers(0, 5),
       st.integers(0, 2**32 - 1))  # fmt: skip
def test_argmax_argmin_first_and_last_index(dtype, shape, axis_seed, seed):
    rng = np.random.default_rng(seed)
    x = few_values(dtype, shape, rng)
    axis = axis_seed % len(shape)

    def body(gb, a):
        outs = []
        for op in (g.ArgMaxOp, g.ArgMinOp):
            outs.append(gb(op, a, axis=g.int_attr(axis), index_type=dtypes.i64))  # today's IR: no attribute
            for last in (0, 1):
                outs.append(gb(op, a, axis=g.int_attr(axis), index_type=dtypes.i32, select_last_index=g.int_attr(last)))
        return outs

    program = build([(x.shape, dtype)], body)
    ref = reference(program, [x])
    if dtype.kind != "V":  # onnx's reference on plain numpy types (and NaN-free, where numpy and onnx agree)
        clean = np.where(np.isnan(x.astype(np.float64)), 0, x).astype(dtype) if dtype.kind == "f" else x
        clean_ref = reference(program, [clean])
        for k, (cls, last) in enumerate([(ArgMax_12, 0), (ArgMax_12, 1), (ArgMin_12, 0), (ArgMin_12, 1)]):
            want = cls.create(axis=axis, keepdims=0, select_last_index=last).run(clean)[0]
            got_index = [1, 2, 4, 5][k]
            np.testing.assert_array_equal(clean_ref[got_index], want.astype(np.int32))
    check_both_ways(program, [x])
    first, last = ref[1].astype(np.int64), ref[2].astype(np.int64)
    np.testing.assert_array_equal(ref[0], first)  # absent attribute = first index
    assert np.all(last >= first)


def test_select_last_index_prefers_the_last_nan():
    x = np.array([[1.0, np.nan, 3.0, np.nan, 0.5], [2.0, 7.0, 7.0, 1.0, 7.0]], np.float32)
    program = build([(x.shape, np.float32)], lambda gb, a: [
        gb(g.ArgMaxOp, a, axis=g.int_attr(1), index_type=dtypes.i64, select_last_index=g.int_attr(1)),
        gb(g.ArgMinOp, a, axis=g.int_attr(1), index_type=dtypes.i64, select_last_index=g.int_attr(1)),
    ])  # fmt: skip
    amax, amin = run_cpu(program, [x])
    np.testing.assert_array_equal(amax, [3, 4])
    np.testing.assert_array_equal(amin, [3, 3])


CUMPROD_TYPES = [np.dtype(t) for t in (np.float32, np.float64, np.float16, ml_dtypes.bfloat16, np.int32, np.int8,
                                       np.uint16, np.int64, np.bool_)]  # fmt: skip


@settings(max_examples=20, deadline=None, phases=NO_SHRINK)
@given(st.sampled_from(CUMPROD_TYPES), st.lists(st.integers(1, 7), min_size=1, max_size=3), st.integers(0, 5),
       st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))  # fmt: skip
def test_cumprod(dtype, shape, axis_seed, exclusive, reverse, seed):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        x = rng.random(shape) < 0.8
    elif dtype.kind in "iu":
        x = rng.integers(-3 if dtype.kind == "i" else 0, 4, size=shape).astype(dtype)  # wraps in int8 often
    else:
        x = np.asarray(rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape), dtype)
    axis = axis_seed % len(shape)
    attrs = dict(axis=g.int_attr(axis), exclusive=g.int_attr(int(exclusive)), reverse=g.int_attr(int(reverse)))
    program = build([(x.shape, dtype)], lambda gb, a: [gb(g.CumprodOp, a, **attrs), gb(g.CumsumOp, a, **attrs)])
    ref = reference(program, [x])
    # the oracle against a loop (the definition), as onnx's CumSum reference would run it for a product
    want = np.ones_like(x) if dtype != np.bool_ else np.ones(x.shape, np.bool_)
    moved, out = np.moveaxis(x, axis, -1), np.moveaxis(want, axis, -1)
    n = moved.shape[-1]
    for lead in np.ndindex(moved.shape[:-1]):
        acc = np.ones((), x.dtype)
        order = range(n - 1, -1, -1) if reverse else range(n)
        for j in order:
            if exclusive:
                out[lead + (j,)] = acc
            with np.errstate(over="ignore"):
                acc = np.asarray(acc * moved[lead + (j,)], x.dtype) if dtype != np.bool_ else acc & moved[lead + (j,)]
            if not exclusive:
                out[lead + (j,)] = acc
    if dtype.kind in "iub":
        np.testing.assert_array_equal(ref[0], want)
    else:
        assert_close(ref[0], want, rtol=tolerance(dtype), atol=tolerance(dtype))
    check_both_ways(program, [x])


@st.composite
def pool_case(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    pads = [draw(st.integers(0, k - 1)) for k in (kh, kh, kw, kw)]
    h = draw(st.integers((kh - 1) * dh + 1, 12))
    w = draw(st.integers((kw - 1) * dw + 1, 12))
    c = draw(st.integers(1, 5))
    return (kh, kw), (sh, sw), (dh, dw), pads, (draw(st.integers(1, 2)), h, w, c)


@settings(max_examples=20, deadline=None, phases=NO_SHRINK)
@given(pool_case(), st.sampled_from([np.float32, np.float16, np.int32]), st.integers(0, 2**32 - 1))
def test_dilated_pools_alone_and_fused(case, dtype, seed):
    window, strides, dilations, pads, shape = case
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.integers(-20, 20, shape) / (4 if dtype != np.int32 else 1), dtype)
    attrs = dict(window=g.ints_attr(window), strides=g.ints_attr(strides), pads=g.ints_attr(pads),
                 dilations=g.ints_attr(dilations))  # fmt: skip

    def body(gb, a):
        pools = [gb(g.MaxPoolOp, a, **attrs), gb(g.AvgPoolOp, a, **attrs)]
        producer = gb(g.AbsOp, a)  # fused: the pools read |x| per tap inside their region
        return pools + [gb(g.MaxPoolOp, producer, **attrs), gb(g.AvgPoolOp, producer, **attrs)]

    program = build([(x.shape, dtype)], body)
    ref = reference(program, [x])
    want_max = _pool_loop(x, window, strides, dilations, pads, np.max)
    np.testing.assert_array_equal(ref[0], want_max)
    assert_close(ref[1], _pool_loop(x, window, strides, dilations, pads, np.mean).astype(dtype),
                 rtol=tolerance(dtype), atol=tolerance(dtype))  # fmt: skip
    check_both_ways(program, [x], exact=[0, 2])


@settings(max_examples=25, deadline=None, phases=NO_SHRINK)
@given(pool_case(), st.integers(1, 150), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_float_pools_run_channels_in_vectors(case, channels, dtype, seed):
    """f32/f64 pools alone take `_pool_vectors` (channel vectors of 16 f32 / 8 f64 lanes, up to 4
    per pixel, the last one masked: 150 f32 channels are two blocks of 4 vectors and a block of a
    full and a masked one), unfused and as a fusion region: every tap range and channel remainder
    against the definition and the reference backend, NaN propagated by max."""
    window, strides, dilations, pads, shape = case
    shape = (*shape[:3], channels)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[rng.integers(0, x.size)] = np.nan
    attrs = dict(window=g.ints_attr(window), strides=g.ints_attr(strides), pads=g.ints_attr(pads),
                 dilations=g.ints_attr(dilations))  # fmt: skip
    program = build([(x.shape, dtype)], lambda gb, a: [gb(g.MaxPoolOp, a, **attrs), gb(g.AvgPoolOp, a, **attrs)])
    got = run_cpu(program, [x])
    (fused_max, fused_avg), _ = run_fused(program, [x])
    ref = reference(program, [x])
    want_max = _pool_loop(x, window, strides, dilations, pads, np.max)
    want_avg = _pool_loop(x, window, strides, dilations, pads, np.mean).astype(dtype)
    for got_max, got_avg in ((got[0], got[1]), (fused_max, fused_avg)):
        np.testing.assert_array_equal(got_max, want_max)  # NaN where the NaN is a tap, like np.max
        assert_close(got_avg, want_avg, rtol=tolerance(dtype), atol=tolerance(dtype))
    np.testing.assert_array_equal(ref[0], want_max)
    assert_close(ref[1], want_avg, rtol=tolerance(dtype), atol=tolerance(dtype))


def test_float_pool_kernels_are_vectorized():
    x_shape = (1, 9, 9, 20)
    attrs = dict(window=g.ints_attr((3, 3)), strides=g.ints_attr((2, 2)), pads=g.ints_attr((1, 1, 1, 1)))
    program = build([(x_shape, np.float32)], lambda gb, a: gb(g.MaxPoolOp, a, **attrs))
    code = compile_program(program)
    assert "vector.maskedload" in code.loops_ir and "arith.cmpf ogt" in code.loops_ir


def _pool_loop(x, window, strides, dilations, pads, reduce):
    """The definition: per output pixel, the in-bounds taps y·s + i·d − pad of the window."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw), (dh, dw), (pt, pb, pl, pr) = window, strides, dilations, pads
    oh = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    ow = (w + pl + pr - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, oh, ow, c), np.float64)
    for y in range(oh):
        for xx in range(ow):
            rows = [y * sh + i * dh - pt for i in range(kh)]
            cols = [xx * sw + j * dw - pl for j in range(kw)]
            taps = [x[:, r, q, :].astype(np.float64) for r in rows for q in cols if 0 <= r < h and 0 <= q < w]
            out[:, y, xx, :] = reduce(np.stack(taps), axis=0)
    return out.astype(x.dtype) if reduce is np.max else out


def test_pool_without_dilations_attribute_is_unchanged():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 9, 9, 3)).astype(np.float32)
    plain = dict(window=g.ints_attr((3, 3)), strides=g.ints_attr((2, 2)), pads=g.ints_attr((1, 1, 1, 1)))
    program = build([(x.shape, np.float32)], lambda gb, a: [
        gb(g.MaxPoolOp, a, **plain), gb(g.MaxPoolOp, a, **plain, dilations=g.ints_attr((1, 1))),
        gb(g.AvgPoolOp, a, **plain), gb(g.AvgPoolOp, a, **plain, dilations=g.ints_attr((1, 1))),
    ])  # fmt: skip
    got = run_cpu(program, [x])
    np.testing.assert_array_equal(got[0], got[1])
    np.testing.assert_array_equal(got[2], got[3])


@pytest.mark.parametrize("op", [g.ArgMaxOp, g.ArgMinOp])
def test_select_last_index_is_opaque_in_fusion(op):
    x = np.array([[1, 5, 5, 0], [3, 3, 1, 1]], np.int32)
    program = build([(x.shape, np.int32)], lambda gb, a: gb(
        op, gb(g.NegOp, a), axis=g.int_attr(1), index_type=dtypes.i64, select_last_index=g.int_attr(1)))  # fmt: skip
    (got,), schedule = run_fused(program, [x])
    want = {g.ArgMaxOp: [3, 3], g.ArgMinOp: [2, 1]}[op]
    np.testing.assert_array_equal(got, want)
    assert len(schedule) == 2, schedule  # the negation's loop, then the arg reduction's opaque kernel
