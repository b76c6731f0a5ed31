"""CPU backend: gather_elements, scatter_elements and scatter_nd (every reduction).

Compared with the oracle (`graphc.dialects.semantics`) and, for indices ONNX allows (in
[-s, s)), with ONNX's reference implementations (`onnx.reference`), which loop over the updates in
order: duplicates included, so "none" must keep the last update and reductions must combine each
one. Integer and boolean results match exactly; float reductions with duplicates are sequential in
both, so they match exactly too (f16/bf16 round after every update in both).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from cpu_testing import assert_close, build, reference, run_cpu
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from onnx.reference.ops.op_gather_elements import GatherElements
from onnx.reference.ops.op_scatter_elements import scatter_elements
from onnx.reference.ops.op_scatternd import _scatter_nd_impl
from pipeline_testing import assert_bits_equal, run_fused

from graphc.dialects import graph as g

REDUCTIONS = ["none", "add", "mul", "max", "min"]
DATA_TYPES = [np.dtype(t) for t in (np.float32, np.float64, np.float16, ml_dtypes.bfloat16, np.int32, np.int8,
                                    np.uint8, np.int64, np.bool_)]  # fmt: skip
INDEX_TYPES = [np.int64, np.int32, np.int16, np.int8, np.uint8]
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


def data(dtype: np.dtype, shape, rng) -> np.ndarray:
    if dtype == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)  # an array even for shape ()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -9), min(info.max, 9), size=shape, endpoint=True).astype(dtype)
    return np.asarray(rng.integers(-8, 9, size=shape) / 4, dtype)  # exact in every float type


def indices(dtype, shape, size: int, rng) -> np.ndarray:
    """Indices in [-size, size) (ONNX's valid range), negative ones only for signed types."""
    lo = -size if np.dtype(dtype).kind == "i" else 0
    return rng.integers(lo, size, size=shape).astype(dtype)


def wrapped(idx: np.ndarray, size: int) -> np.ndarray:
    i = idx.astype(np.int64)
    return np.where(i < 0, i + size, i)


def compare(got: np.ndarray, ref: np.ndarray, where: str) -> None:
    assert_bits_equal(got, ref, where) if ref.dtype.kind in "biu" else assert_close(got, ref, rtol=0, atol=0)


def gather_loop(x: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    out = np.empty(idx.shape, x.dtype)
    for p in np.ndindex(idx.shape):
        q = list(p)
        q[axis] = idx[p]
        out[p] = x[tuple(q)]
    return out


@st.composite
def element_case(draw):
    rank = draw(st.integers(1, 3))
    shape = draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))
    axis = draw(st.integers(0, rank - 1))
    idx_shape = [draw(st.integers(1, 6)) if d == axis else draw(st.integers(1, n)) for d, n in enumerate(shape)]
    return shape, axis, idx_shape


@settings(max_examples=20, deadline=None, phases=NO_SHRINK)
@given(element_case(), st.sampled_from(DATA_TYPES), st.sampled_from(INDEX_TYPES), st.sampled_from(REDUCTIONS),
       st.integers(0, 2**32 - 1))  # fmt: skip
def test_gather_and_scatter_elements(case, dtype, index_type, reduction, seed):
    shape, axis, idx_shape = case
    rng = np.random.default_rng(seed)
    x = data(dtype, shape, rng)
    idx = indices(index_type, idx_shape, shape[axis], rng)
    upd = data(dtype, idx_shape, rng)

    def body(gb, a, i, u):
        return [
            gb(g.GatherElementsOp, a, i, axis=g.int_attr(axis)),
            gb(g.ScatterElementsOp, a, i, u, axis=g.int_attr(axis), reduction=g.str_attr(reduction)),
        ]

    program = build([(x.shape, dtype), (idx.shape, index_type), (upd.shape, dtype)], body)
    arrays = [x, idx, upd]
    ref = reference(program, arrays)
    positive = wrapped(idx, shape[axis])
    compare(ref[0], gather_loop(x, positive, axis), "oracle gather_elements vs its definition")
    if all(i == n for d, (i, n) in enumerate(zip(idx_shape, shape)) if d != axis):  # onnx needs equal sizes
        compare(ref[0], GatherElements.create(axis=axis).run(x, positive)[0], "oracle gather_elements vs onnx")
    onnx_scatter = scatter_elements(x, positive, upd, axis, reduction)
    if dtype != np.bool_ or reduction == "none":  # onnx's loop applies `+`/`*` to numpy bools as or/and too
        compare(ref[1], onnx_scatter.astype(dtype), "oracle scatter_elements vs onnx")
    unfused = run_cpu(program, arrays)
    fused, schedule = run_fused(program, arrays)
    for how, got in (("unfused", unfused), ("fused", fused)):
        for k, name in enumerate(("gather_elements", "scatter_elements")):
            compare(got[k], ref[k], f"{how} {name}")


@st.composite
def nd_case(draw):
    rank = draw(st.integers(1, 4))
    shape = draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))
    depth = draw(st.integers(1, rank))
    lead = draw(st.lists(st.integers(1, 4), min_size=0, max_size=2))
    return shape, depth, lead


@settings(max_examples=20, deadline=None, phases=NO_SHRINK)
@given(nd_case(), st.sampled_from(DATA_TYPES), st.sampled_from(INDEX_TYPES), st.sampled_from(REDUCTIONS),
       st.integers(0, 2**32 - 1))  # fmt: skip
def test_scatter_nd(case, dtype, index_type, reduction, seed):
    shape, depth, lead = case
    rng = np.random.default_rng(seed)
    x = data(dtype, shape, rng)
    idx = np.stack([indices(index_type, lead, shape[j], rng) for j in range(depth)], axis=-1)
    upd = data(dtype, [*lead, *shape[depth:]], rng)
    program = build([(x.shape, dtype), (idx.shape, index_type), (upd.shape, dtype)],
                    lambda gb, a, i, u: gb(g.ScatterNdOp, a, i, u, reduction=g.str_attr(reduction)))  # fmt: skip
    arrays = [x, idx, upd]
    (ref,) = reference(program, arrays)
    positive = np.stack([wrapped(idx[..., j], shape[j]) for j in range(depth)], axis=-1)
    onnx = _scatter_nd_impl(x, positive, upd, None if reduction == "none" else reduction)
    if dtype != np.bool_ or reduction == "none":
        compare(ref, onnx.astype(dtype), "oracle scatter_nd vs onnx")
    (unfused,) = run_cpu(program, arrays)
    (fused,), _ = run_fused(program, arrays)
    compare(unfused, ref, "unfused scatter_nd")
    compare(fused, ref, "fused scatter_nd")


def test_duplicates_last_update_wins_and_reductions_accumulate():
    x = np.zeros((3, 4), np.float32)
    idx = np.array([[1, 1, 0, 2], [1, 2, 0, 2], [1, 0, 0, 2]], np.int64)
    upd = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
    for reduction, expected_col0 in (("none", [0, 9, 0]), ("add", [0, 1 + 5 + 9, 0]), ("mul", [0, 0, 0])):
        program = build([(x.shape, np.float32), (idx.shape, np.int64), (upd.shape, np.float32)],
                        lambda gb, a, i, u: gb(g.ScatterElementsOp, a, i, u, axis=g.int_attr(0),
                                               reduction=g.str_attr(reduction)))  # fmt: skip
        (got,) = run_cpu(program, [x, idx, upd])
        np.testing.assert_array_equal(got[:, 0], expected_col0, err_msg=reduction)
        np.testing.assert_array_equal(got, scatter_elements(x, idx, upd, 0, reduction), err_msg=reduction)


def test_out_of_range_indices_gather_clamps_scatter_drops():
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    idx = np.array([[7, -9, 2], [-1, 5, -6]], np.int64)  # for size 5: 7, -9 (→ -4), 5, -6 (→ -1) are out
    upd = np.full((2, 3), 100, np.float32)
    pairs = np.array([[1, -9], [-2, -1], [2, 0]], np.int64)  # for 2 x 5: (1, -4) and (2, 0) are out

    def body(gb, a, i, u, p):
        return [
            gb(g.GatherElementsOp, a, i, axis=g.int_attr(1)),
            gb(g.ScatterElementsOp, a, i, u, axis=g.int_attr(1), reduction=g.str_attr("none")),
            gb(g.ScatterNdOp, a, p, gb.const(np.full((3,), 7.0, np.float32)), reduction=g.str_attr("add")),
        ]

    arrays = [x, idx, upd, pairs]
    program = build([(x.shape, np.float32), (idx.shape, np.int64), (upd.shape, np.float32), (pairs.shape, np.int64)],
                    body)  # fmt: skip
    got = run_cpu(program, arrays)
    np.testing.assert_array_equal(got[0], [[4, 0, 2], [9, 9, 5]])  # wrapped, then clamped into [0, 4]
    scattered = x.copy()
    scattered[0, 2] = scattered[1, 4] = 100  # only the in-range updates land
    np.testing.assert_array_equal(got[1], scattered)
    added = x.copy()
    added[0, 4] += 7  # (-2, -1) wraps to (0, 4); the other two pairs are dropped
    np.testing.assert_array_equal(got[2], added)
    for a, r in zip(got, reference(program, arrays)):
        np.testing.assert_array_equal(a, r)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_scatter_max_min_propagate_nan(dtype):
    x = np.array([1.0, np.nan, 3.0, 4.0], dtype)
    idx = np.array([0, 2, 1, 3, 3], np.int32)
    upd = np.array([np.nan, 5.0, 2.0, -1.0, 9.0], dtype)
    for reduction in ("max", "min"):
        program = build([(x.shape, dtype), (idx.shape, np.int32), (upd.shape, dtype)],
                        lambda gb, a, i, u: gb(g.ScatterElementsOp, a, i, u, axis=g.int_attr(0),
                                               reduction=g.str_attr(reduction)))  # fmt: skip
        (got,) = run_cpu(program, [x, idx, upd])
        (ref,) = reference(program, [x, idx, upd])
        assert np.isnan(got[0]) and np.isnan(got[1])
        compare(got, ref, reduction)
