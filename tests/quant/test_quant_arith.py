"""`graphc.dialects.quant_arith`, THE integer reference, against TFLite's C code and plain numpy.

The fixed-point functions are checked against a line-by-line transcription of gemmlowp/TFLite in
Python integers (an independent second reading); conv/matmul against float64 arithmetic on the
zero-point-shifted values; the jax.numpy reading against the numpy one, bit for bit.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphc.backends.reference.executor import enable_jax_x64
from graphc.dialects import graph as g
from graphc.dialects import quant_arith as qa
from graphc.dialects.builder import ProgramBuilder
from graphc.dialects.semantics import evaluate_program

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def c_div(a: int, b: int) -> int:
    """C integer division (toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def c_srdhm(a: int, b: int) -> int:
    if a == b == I32_MIN:
        return I32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return c_div(ab + nudge, 1 << 31)


def c_rdbpot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def c_wrap(x: int) -> int:
    return (x + 2**31) % 2**32 - 2**31


def c_mbqm(x: int, multiplier: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    return c_rdbpot(c_srdhm(c_wrap(x * (1 << left)), multiplier), right)


int32s = st.one_of(st.integers(I32_MIN, I32_MAX), st.sampled_from([I32_MIN, I32_MAX, 0, -1, 1, 1 << 30]))


@given(st.lists(st.tuples(int32s, int32s), min_size=1, max_size=40))
def test_srdhm_matches_gemmlowp(pairs):
    a = np.array([p[0] for p in pairs], np.int32)
    b = np.array([p[1] for p in pairs], np.int32)
    got = qa.saturating_rounding_doubling_high_mul(a, b)
    assert got.tolist() == [c_srdhm(int(x), int(y)) for x, y in zip(a, b)]


@given(st.lists(st.tuples(int32s, st.integers(0, 31)), min_size=1, max_size=40))
def test_rounding_divide_by_pot_matches_gemmlowp(pairs):
    x = np.array([p[0] for p in pairs], np.int64)
    e = np.array([p[1] for p in pairs], np.int64)
    assert qa.rounding_divide_by_pot(x, e).tolist() == [c_rdbpot(int(v), int(k)) for v, k in zip(x, e)]


def test_rounding_divide_by_pot_ties_go_away_from_zero():
    assert qa.rounding_divide_by_pot(np.array([5, -5, 6, -6, 7, -7]), 1).tolist() == [3, -3, 3, -3, 4, -4]


@pytest.mark.parametrize(
    "real, expected",
    [(0.5, (1 << 30, 0)), (1.0, (1 << 30, 1)), (0.75, (3 << 29, 0)), (0.1, (1717986918, -3)), (0.0, (0, 0)),
     (2.0**-40, (0, 0)), (1 - 2.0**-33, (1 << 30, 1))],
)  # fmt: skip
def test_quantize_multiplier_known_values(real, expected):
    assert qa.quantize_multiplier(real) == expected


@given(st.floats(1e-6, 100.0))
def test_quantize_multiplier_encodes_the_real_value(real):
    m, s = qa.quantize_multiplier(real)
    assert 1 << 30 <= m < 1 << 31
    assert abs(m * 2.0 ** (s - 31) - real) <= real * 2.0**-30


def test_quantize_multiplier_rejects_negative_and_huge():
    with pytest.raises(ValueError):
        qa.quantize_multiplier(-0.5)
    with pytest.raises(ValueError):
        qa.quantize_multiplier(2.0**31)


@given(st.lists(int32s, min_size=1, max_size=40), st.floats(1e-6, 4.0))
def test_multiply_by_quantized_multiplier_matches_tflite(values, real):
    m, s = qa.quantize_multiplier(real)
    x = np.array(values, np.int32)
    assert qa.multiply_by_quantized_multiplier(x, m, s).tolist() == [c_mbqm(int(v), m, s) for v in x]


def test_requantize_per_channel_clamps_and_adds_zero_point():
    acc = np.array([[1000, -1000, 40000], [-3, 3, 0]], np.int32)
    scales = [0.01, 0.5, 0.001]
    mult, shift = qa.quantize_multipliers(scales)
    got = qa.requantize(acc, mult, shift, output_zero_point=-5, clamp_min=-5, clamp_max=127, axis=1)
    expected = [[max(-5, min(127, c_mbqm(int(a), m, s) - 5)) for a, m, s in zip(row, mult, shift)] for row in acc]
    assert got.dtype == np.int8 and got.tolist() == expected
    assert got.tolist() == [[5, -5, 35], [-5, -3, -5]]


def test_quantize_rounds_half_to_even_saturates_and_maps_nan_to_zero_point():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 1000.0, -1000.0, np.nan], np.float32)
    assert qa.quantize(x, [1.0], [3]).tolist() == [3, 5, 5, 3, 1, 127, -128, 3]


def test_dequantize_per_axis():
    q = np.array([[-128, 0, 127], [1, 2, 3]], np.int8)
    got = qa.dequantize(q, [0.5, 0.25], [0, 1], axis=0)
    np.testing.assert_array_equal(got, np.array([[-64, 0, 63.5], [0, 0.25, 0.5]], np.float32))


def float_conv(x, w, zx, strides, dilations, pads, groups):
    """graph.conv2d's semantics (numpy, float64) on the zero-point-shifted input: a second reading."""
    b = ProgramBuilder({"x": (x.shape, np.float64)})
    y = b.op(g.Conv2DOp, b.args["x"], b.const(w.astype(np.float64)), strides=g.ints_attr(strides),
             dilations=g.ints_attr(dilations), pads=g.ints_attr(pads), groups=g.int_attr(groups))  # fmt: skip
    return evaluate_program(b.build({"y": y}), {"x": x.astype(np.float64) - zx})["y"]


conv_cases = st.tuples(
    st.integers(1, 2), st.integers(1, 7), st.integers(1, 7), st.integers(1, 3), st.integers(1, 5),
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2),
    st.tuples(*[st.integers(0, 2)] * 4), st.booleans(), st.integers(-128, 127), st.integers(0, 2**31 - 1),
)  # fmt: skip


@given(conv_cases)
def test_conv2d_is_the_exact_integer_convolution(case):
    n, h, w, groups, cpg, kh, kw, stride, dilation, pads, depthwise, zx, seed = case
    c = groups * cpg
    co = c if depthwise else groups * 2
    groups = c if depthwise else groups
    if (h + pads[0] + pads[1] - (kh - 1) * dilation - 1) < 0 or (w + pads[2] + pads[3] - (kw - 1) * dilation - 1) < 0:
        return
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (n, h, w, c), dtype=np.int8)
    wt = rng.integers(-127, 128, (kh, kw, c // groups, co), dtype=np.int8)
    bias = rng.integers(-(2**20), 2**20, co, dtype=np.int32)
    args = dict(strides=(stride, stride), dilations=(dilation, dilation), pads=pads, groups=groups)
    got = qa.conv2d(x, wt, bias, zx, **args)
    expected = float_conv(x, wt, zx, **args) + bias
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected.astype(np.int64))


@given(st.integers(1, 5), st.integers(1, 9), st.integers(1, 6), st.integers(-128, 127), st.integers(-128, 127),
       st.booleans(), st.integers(0, 2**31 - 1))  # fmt: skip
def test_matmul_is_the_exact_integer_product(m, k, n, za, zb, batched, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, ((2,) if batched else ()) + (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    bias = rng.integers(-1000, 1000, n, dtype=np.int32)
    got = qa.matmul(a, b, bias, za, zb)
    expected = (a.astype(np.float64) - za) @ (b.astype(np.float64) - zb) + bias
    np.testing.assert_array_equal(got, expected.astype(np.int64))


def test_int32_accumulators_wrap():
    a = np.full((1, 1 << 16), -128, np.int8)
    b = np.full((1 << 16, 1), -128, np.int8)
    assert qa.matmul(a, b, None, 127, 0)[0, 0] == c_wrap((1 << 16) * 255 * 128)


def test_jax_reading_is_bit_exact():
    enable_jax_x64()
    import jax.numpy as jnp

    rng = np.random.default_rng(7)
    acc = rng.integers(-(2**31), 2**31, (3, 5, 4), dtype=np.int64).astype(np.int32)
    mult, shift = qa.quantize_multipliers([0.3, 1.7, 1e-4, 0.5])
    for axis, m, s in ((2, mult, shift), (None, mult[:1], shift[:1])):
        np.testing.assert_array_equal(
            np.asarray(qa.requantize(acc, m, s, 7, -100, 120, axis, xp=jnp)), qa.requantize(acc, m, s, 7, -100, 120, axis)
        )
    x = (rng.standard_normal((2, 6, 5, 4)) * 3).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(qa.quantize(x, [0.05], [-7], xp=jnp)), qa.quantize(x, [0.05], [-7]))
    xq = qa.quantize(x, [0.05], [-7])
    np.testing.assert_array_equal(np.asarray(qa.dequantize(xq, [0.05], [-7], xp=jnp)), qa.dequantize(xq, [0.05], [-7]))
    w = rng.integers(-127, 128, (3, 3, 1, 4), dtype=np.int8)
    args = dict(strides=(2, 1), dilations=(1, 2), pads=(1, 0, 2, 1), groups=4)
    np.testing.assert_array_equal(np.asarray(qa.conv2d(xq, w, None, -7, xp=jnp, **args)), qa.conv2d(xq, w, None, -7, **args))


def test_activation_params_make_zero_exact_and_cover_the_range():
    scale, zp = qa.choose_activation_params(-1.0, 3.0)
    assert zp == round(-128 + 1.0 / scale) and abs(scale - 4.0 / 255) < 1e-7
    assert qa.quantize(np.float32(0.0), [scale], [zp]) == zp
    assert qa.choose_activation_params(0.0, 6.0)[1] == -128
    assert qa.choose_activation_params(0.0, 0.0) == (1.0, 0)
