"""CPU backend: shift_left/shift_right, bitwise and/or/xor/not on integers, and rem.

Integer results must equal the oracle (`graphc.dialects.semantics`, numpy) exactly, including the
edge cases numpy defines: shift amounts ≥ the bit width or negative (everything shifted out),
remainders by 0 (0) and MIN rem -1 (0). Float rem is C `fmod`, exact as well. Each op runs
unfused (one kernel per op) and fused (one loop region with its neighbours).
"""

from __future__ import annotations

import numpy as np
import pytest
from cpu_testing import build, reference, run_cpu
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from onnx.reference.ops.op_bitshift import BitShift
from pipeline_testing import check_both_ways, run_fused

from graphc.dialects import graph as g

INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
FLOATS = [np.float16, np.float32, np.float64]
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
"""Each example compiles native code twice: shrinking would take minutes; report as generated."""


def int_values(dtype, shape, rng) -> np.ndarray:
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    flat = x.reshape(-1)
    specials = [v for v in (0, 1, -1, info.min, info.max, 7, -7, 3) if info.min <= v <= info.max]
    k = min(len(specials), flat.size)
    flat[:k] = rng.permutation(specials)[:k]
    return x


def shift_amounts(dtype, shape, rng) -> np.ndarray:
    """Mostly in [0, bits), plus the width itself, beyond it and (signed) negative amounts."""
    bits = np.dtype(dtype).itemsize * 8
    info = np.iinfo(dtype)
    x = rng.integers(0, bits, size=shape).astype(dtype)
    flat = x.reshape(-1)
    edges = (0, bits - 1, bits, bits + 1, 2 * bits, info.max, -1, -bits, info.min)
    edges = [v for v in edges if info.min <= v <= info.max]
    k = min(len(edges), flat.size)
    flat[:k] = rng.permutation(np.array(edges, dtype=dtype))[:k]
    return x


@st.composite
def broadcast_shapes(draw):
    rank = draw(st.integers(0, 3))
    out = draw(st.lists(st.integers(1, 7), min_size=rank, max_size=rank))
    rhs = [d if draw(st.booleans()) else 1 for d in out[rank - draw(st.integers(0, rank)) :]]
    return out, rhs


@settings(max_examples=16, deadline=None, phases=NO_SHRINK)
@given(st.sampled_from(INTS), broadcast_shapes(), st.integers(0, 2**32 - 1))
def test_integer_bit_ops_and_rem_match_numpy(dtype, shapes, seed):
    rng = np.random.default_rng(seed)
    a = int_values(dtype, shapes[0], rng)
    s = shift_amounts(dtype, shapes[1], rng)
    d = int_values(dtype, shapes[1], rng)
    d.reshape(-1)[:1] = 0  # a zero divisor (and -1 often, from the specials)
    ops = [g.ShiftLeftOp, g.ShiftRightOp]
    bitwise = [g.AndOp, g.OrOp, g.XorOp, g.RemOp]

    def body(gb, x, amount, y):
        return [gb(op, x, amount) for op in ops] + [gb(op, x, y) for op in bitwise] + [gb(g.NotOp, x)]

    program = build([(a.shape, dtype), (s.shape, dtype), (d.shape, dtype)], body)
    check_both_ways(program, [a, s, d])


@pytest.mark.parametrize("dtype", INTS)
def test_shift_edges_are_numpy_and_onnx(dtype):
    bits = np.dtype(dtype).itemsize * 8
    info = np.iinfo(dtype)
    values = np.array([v for v in (1, 3, -1, info.min, info.max, 0x55, -0x56) if info.min <= v <= info.max], dtype)
    amounts = [v for v in (0, 1, bits - 1, bits, bits + 5, 255, -1, -bits) if info.min <= v <= info.max]
    amounts = np.array(amounts, dtype)
    a = np.repeat(values, len(amounts))
    s = np.tile(amounts, len(values))
    program = build([(a.shape, dtype), (s.shape, dtype)],
                    lambda gb, x, y: [gb(g.ShiftLeftOp, x, y), gb(g.ShiftRightOp, x, y)])  # fmt: skip
    left, right = run_cpu(program, [a, s])
    np.testing.assert_array_equal(left, np.left_shift(a, s))
    np.testing.assert_array_equal(right, np.right_shift(a, s))
    if np.dtype(dtype).kind == "u":  # ONNX BitShift is defined on unsigned types
        onnx_left = BitShift.create(direction="LEFT").run(a, s)[0]
        onnx_right = BitShift.create(direction="RIGHT").run(a, s)[0]
        np.testing.assert_array_equal(left, onnx_left)
        np.testing.assert_array_equal(right, onnx_right)
    in_range = (s.astype(np.int64) >= 0) & (s.astype(np.int64) < bits)
    assert np.all(left[~in_range] == 0)  # a shift by the width or more shifts everything out
    if np.dtype(dtype).kind == "u":
        assert np.all(right[~in_range] == 0)
    else:
        np.testing.assert_array_equal(right[~in_range], np.where(a[~in_range] < 0, -1, 0))


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint32])
def test_rem_truncates_and_zero_divisor_gives_zero(dtype):
    info = np.iinfo(dtype)
    a = np.array([7, -7, 7, -7, 5, info.min, info.min, info.max, 0], np.int64)
    d = np.array([2, 2, -2, -2, 0, -1, 1, 0, 3], np.int64)
    keep = (a >= info.min) & (a <= info.max) & (d >= info.min)
    a, d = a[keep].astype(dtype), d[keep].astype(dtype)
    program = build([(a.shape, dtype), (d.shape, dtype)], lambda gb, x, y: gb(g.RemOp, x, y))
    (got,) = run_cpu(program, [a, d])
    with np.errstate(all="ignore"):
        expected = np.fmod(a, d)  # numpy gives 0 for a zero divisor
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, reference(program, [a, d])[0])
    if np.dtype(dtype).kind == "i":
        assert got[:4].tolist() == [1, -1, 1, -1]  # the dividend's sign


@settings(max_examples=12, deadline=None, phases=NO_SHRINK)
@given(st.sampled_from(FLOATS), broadcast_shapes(), st.integers(0, 2**32 - 1))
def test_float_rem_is_fmod(dtype, shapes, seed):
    rng = np.random.default_rng(seed)
    a = np.asarray(rng.standard_normal(shapes[0]) * 10.0 ** rng.integers(-2, 4, shapes[0]), dtype)
    b = np.asarray(rng.standard_normal(shapes[1]) * 10.0 ** rng.integers(-2, 2, shapes[1]), dtype)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan]
    a.reshape(-1)[: min(a.size, 5)] = specials[: min(a.size, 5)]
    b.reshape(-1)[: min(b.size, 2)] = [0.0, np.inf][: min(b.size, 2)]
    program = build([(a.shape, dtype), (b.shape, dtype)],
                    lambda gb, x, y: [gb(g.RemOp, x, y), gb(g.AddOp, gb(g.RemOp, x, y), x)])  # fmt: skip
    check_both_ways(program, [a, b], exact=[0])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(reference(program, [a, b])[0], np.fmod(a, b))


def test_bit_ops_fuse_into_one_loop_region():
    rng = np.random.default_rng(7)
    a = int_values(np.uint32, (33, 40), rng)
    s = shift_amounts(np.uint32, (40,), rng)

    def body(gb, x, amount):
        mixed = gb(g.XorOp, gb(g.ShiftLeftOp, x, amount), gb(g.ShiftRightOp, x, amount))
        return gb(g.RemOp, gb(g.NotOp, gb(g.OrOp, mixed, amount)), gb(g.AndOp, x, amount))

    program = build([(a.shape, np.uint32), (s.shape, np.uint32)], body)
    ref = reference(program, [a, s])
    (got,), schedule = run_fused(program, [a, s])
    assert len(schedule) == 1, schedule
    np.testing.assert_array_equal(got, ref[0])


def test_logical_ops_on_bool_unchanged():
    rng = np.random.default_rng(8)
    a, b = rng.random((5, 7)) < 0.5, rng.random((7,)) < 0.5
    program = build([(a.shape, np.bool_), (b.shape, np.bool_)],
                    lambda gb, x, y: [gb(g.AndOp, x, y), gb(g.OrOp, x, y), gb(g.XorOp, x, y),
                                      gb(g.NotOp, x)])  # fmt: skip
    got = run_cpu(program, [a, b])
    for out, want in zip(got, [a & b, a | b, a ^ b, ~a]):
        np.testing.assert_array_equal(out, want)
