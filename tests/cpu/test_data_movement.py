"""CPU backend: reshape (aliasing), transpose, slice, reverse, concat, pad, gather, gather_nd, resize."""

from __future__ import annotations

import numpy as np
import pytest
from cpu_testing import assert_close, build, reference, run_cpu
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.dialects import graph as g


def check_exact(program, arrays):
    for got, ref in zip(run_cpu(program, arrays), reference(program, arrays)):
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64, np.int8, np.bool_])
def test_movement_ops(dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 3, 4, 5)) * 10).astype(dtype)
    y = (rng.standard_normal((2, 1, 4, 5)) * 10).astype(dtype)

    def body(gb, a, b):
        return [
            gb(g.TransposeOp, a, perm=g.ints_attr((0, 3, 1, 2))),
            gb(g.TransposeOp, a, perm=g.ints_attr((3, 2, 1, 0))),
            gb(g.SliceOp, a, starts=g.ints_attr((0, 1, 0, 1)), limits=g.ints_attr((2, 3, 4, 5)),
               strides=g.ints_attr((1, 1, 2, 3))),
            gb(g.ReverseOp, a, axes=g.ints_attr((1, 3))),
            gb(g.ConcatOp, a, b, a, axis=g.int_attr(1)),
            gb(g.ConcatOp, b, b, axis=g.int_attr(3)),
            gb(g.ReshapeOp, gb(g.TransposeOp, gb(g.ReshapeOp, a, shape=g.ints_attr((6, 20))),
                               perm=g.ints_attr((1, 0))), shape=g.ints_attr((4, 5, 6))),
        ]  # fmt: skip

    check_exact(build([(x.shape, dtype), (y.shape, dtype)], body), [x, y])


PAD_CASES = [
    ("constant", (1, 0, 2), (0, 2, 1), (0, 0, 0)),
    ("constant", (-1, 2, 0), (1, -2, 3), (1, 0, 2)),  # crop and interior padding
    ("reflect", (2, 1, 0), (1, 2, 3), (0, 0, 0)),
    ("symmetric", (3, 0, 1), (0, 3, 4), (0, 0, 0)),
]


@pytest.mark.parametrize("case", PAD_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_])
def test_pad(case, dtype):
    mode, low, high, interior = case
    x = (np.arange(3 * 4 * 5).reshape(3, 4, 5) % 7).astype(dtype)
    program = build(
        [(x.shape, dtype)],
        lambda gb, a: gb(g.PadOp, a, low=g.ints_attr(low), high=g.ints_attr(high), interior=g.ints_attr(interior),
                         mode=g.str_attr(mode), value=g.float_attr(1.0 if dtype == np.bool_ else -2.5)),
    )  # fmt: skip
    check_exact(program, [x])


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64, np.uint8])
def test_gather(index_dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 4)).astype(np.float32)
    idx = np.array([[0, 5, 2], [9, 1, 1]], index_dtype)  # 9: out of range, clamped
    if index_dtype != np.uint8:
        idx[1, 2] = -1  # counts from the end
    bidx = np.array([[2, 0], [5, 4], [-7 if index_dtype != np.uint8 else 3, 1]], index_dtype)

    def body(gb, a, i, bi):
        return [
            gb(g.GatherOp, a, i, axis=g.int_attr(1), batch_dims=g.int_attr(0)),
            gb(g.GatherOp, a, i, axis=g.int_attr(0), batch_dims=g.int_attr(0)),
            gb(g.GatherOp, a, i, axis=g.int_attr(2), batch_dims=g.int_attr(0)),
            gb(g.GatherOp, a, bi, axis=g.int_attr(1), batch_dims=g.int_attr(1)),
        ]

    program = build([(x.shape, np.float32), (idx.shape, index_dtype), (bidx.shape, index_dtype)], body)
    check_exact(program, [x, idx, bidx])


def test_gather_nd():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 100, size=(2, 4, 5, 3)).astype(np.int32)
    idx = np.array([[[1, 2], [3, 4]], [[0, 0], [-1, 9]]], np.int64)  # [2, 2, 2]
    program = build(
        [(x.shape, np.int32), (idx.shape, np.int64)],
        lambda gb, a, i: [gb(g.GatherNdOp, a, i, batch_dims=g.int_attr(0)),
                          gb(g.GatherNdOp, a, i, batch_dims=g.int_attr(1))],
    )  # fmt: skip
    check_exact(program, [x, idx])


RESIZE_CASES = [
    ("nearest", "asymmetric", "floor", (7, 5)),
    ("nearest", "half_pixel", "round_prefer_ceil", (3, 11)),
    ("nearest", "tf_half_pixel", "floor", (12, 4)),
    ("nearest", "align_corners", "round_prefer_ceil", (9, 9)),
    ("bilinear", "half_pixel", "floor", (11, 3)),
    ("bilinear", "align_corners", "floor", (8, 10)),
    ("bilinear", "asymmetric", "floor", (4, 13)),
    ("bilinear", "tf_half_pixel", "floor", (10, 6)),
    ("bicubic", "half_pixel", "floor", (9, 12)),
    ("bicubic", "align_corners", "floor", (3, 8)),
]


def _resize(gb, a, mode, coords, nearest_mode, size, exclude=0, coeff=-0.75):
    return gb(g.ResizeOp, a, size=g.ints_attr(size), mode=g.str_attr(mode), coordinates=g.str_attr(coords),
              nearest_mode=g.str_attr(nearest_mode), cubic_coeff=g.float_attr(coeff),
              exclude_outside=g.int_attr(exclude))  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.float16])
def test_resize(dtype):
    rng = np.random.default_rng(3)
    x = (rng.random((2, 6, 5, 3)) * 200).astype(dtype)
    program = build(
        [(x.shape, dtype)],
        lambda gb, a: [_resize(gb, a, *case) for case in RESIZE_CASES]
        + [_resize(gb, a, "bicubic", "half_pixel", "floor", (9, 7), exclude=1, coeff=-0.5)],
    )
    got, ref = run_cpu(program, [x]), reference(program, [x])
    for (mode, *_), a, r in zip([*RESIZE_CASES, ("bicubic",)], got, ref):
        if mode == "nearest":
            np.testing.assert_array_equal(a, r)
        elif dtype == np.uint8:  # rounded to integers: a reference value at .5 may round either way
            assert np.max(np.abs(a.astype(int) - r.astype(int))) <= 1
        else:  # a weighted sum of at most 16 terms with weights summing to 1
            tol = 1e-5 if dtype == np.float32 else 2.0**-10
            assert_close(a, r, rtol=tol, atol=tol)


@settings(max_examples=10, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), data=st.data())
def test_transpose_slice_hypothesis(shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    starts = [data.draw(st.integers(0, d - 1)) for d in shape]
    limits = [data.draw(st.integers(s + 1, d)) for s, d in zip(starts, shape)]
    steps = [data.draw(st.integers(1, 3)) for _ in shape]
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    program = build(
        [(x.shape, np.float32)],
        lambda gb, a: [gb(g.TransposeOp, a, perm=g.ints_attr(perm)),
                       gb(g.SliceOp, a, starts=g.ints_attr(starts), limits=g.ints_attr(limits),
                          strides=g.ints_attr(steps))],
    )  # fmt: skip
    check_exact(program, [x])


def test_outputs_that_alias():
    """Outputs that are inputs, weights, constants, reshapes, or the same value twice."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6)).astype(np.float32)
    w = rng.standard_normal((3, 4)).astype(np.float32)

    def body(gb, a):
        e = gb(g.ExpOp, a)
        r = gb(g.ReshapeOp, e, shape=g.ints_attr((3, 4)))
        c = gb.const(w, "w")
        return [a, e, r, e, c, gb(g.ReshapeOp, a, shape=g.ints_attr((12,))), gb(g.AddOp, r, c),
                gb.const(np.float32(2.0).reshape(()))]  # fmt: skip

    program = build([(x.shape, np.float32)], body)
    for got, ref in zip(run_cpu(program, [x]), reference(program, [x])):
        assert_close(got, ref)


def test_cast_index_types_in_gather():
    x = np.arange(10, dtype=np.float32)
    idx = np.array([3, 200, 255], np.uint8)  # 200 and 255 clamp to 9
    program = build([(x.shape, np.float32), (idx.shape, np.uint8)],
                    lambda gb, a, i: gb(g.GatherOp, a, i, axis=g.int_attr(0), batch_dims=g.int_attr(0)))  # fmt: skip
    check_exact(program, [x, idx])
