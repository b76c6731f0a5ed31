"""THE integer arithmetic of graphc's int8 quantization (TFLite's scheme), written once.

`real = (q − zero_point) · scale`. Every function takes an array namespace `xp` (numpy by default,
`jax.numpy` with x64 enabled under the reference backend) and uses only what both share, so the
semantics of the `quant` dialect, the CPU backend's bit-exact tests and the systolic simulator all
compare against this one implementation. Integer intermediates are int64; results are int32 or
int8 exactly as TFLite's reference kernels compute them (`fixedpoint.h`, `quantization_util.cc`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
WEIGHT_MIN, WEIGHT_MAX = -127, 127
"""Symmetric int8 weights never use −128 (TFLite's rule: the products stay symmetric)."""
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
SHIFT_MIN, SHIFT_MAX = -31, 30


# ---------------------------------------------------------------------------------------------
# Compile-time parameters
# ---------------------------------------------------------------------------------------------


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's `QuantizeMultiplier`: real ≈ multiplier · 2^(shift − 31), multiplier in [2^30, 2^31).

    A real multiplier of 0 (or one too small to represent, shift < −31) gives (0, 0).
    """
    real = float(real)
    if real < 0 or not math.isfinite(real):
        raise ValueError(f"a requantization multiplier must be finite and non-negative, got {real}")
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    fixed = _round_half_away(fraction * (1 << 31))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < SHIFT_MIN:
        return 0, 0
    if shift > SHIFT_MAX:
        raise ValueError(f"requantization multiplier {real} is too large (at most 2^{SHIFT_MAX})")
    return int(fixed), int(shift)


def quantize_multipliers(reals: Sequence[float]) -> tuple[list[int], list[int]]:
    pairs = [quantize_multiplier(r) for r in reals]
    return [m for m, _ in pairs], [s for _, s in pairs]


def _round_half_away(x: float) -> int:
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def choose_activation_params(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 (scale, zero point) for the real range [lo, hi], which always includes 0
    (TFLite's `ChooseQuantizationParams`: zero must be exactly representable, so padding is exact)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi == lo:
        return 1.0, 0
    scale = float(np.float32((hi - lo) / (INT8_MAX - INT8_MIN)))
    zero_from_min = INT8_MIN - lo / scale
    zero_from_max = INT8_MAX - hi / scale
    error_min = abs(INT8_MIN) + abs(lo / scale)
    error_max = abs(INT8_MAX) + abs(hi / scale)
    zero = zero_from_min if error_min < error_max else zero_from_max
    return scale, int(min(max(round(zero), INT8_MIN), INT8_MAX))


def choose_weight_scales(max_abs: np.ndarray) -> np.ndarray:
    """Symmetric int8 scales (zero point 0) from per-channel max |w|; an all-zero channel gets 1."""
    max_abs = np.asarray(max_abs, np.float64)
    return np.where(max_abs > 0, max_abs / WEIGHT_MAX, 1.0).astype(np.float32)


def quantize_weights(w: np.ndarray, scales: np.ndarray, axis: int) -> np.ndarray:
    """Symmetric per-channel int8 weights along `axis`, round half to even, clamped to ±127."""
    s = np.asarray(scales, np.float32).reshape(_axis_shape(w.ndim, axis, len(scales)))
    q = np.rint(np.asarray(w, np.float32) / s)
    return np.clip(q, WEIGHT_MIN, WEIGHT_MAX).astype(np.int8)


def quantize_bias(bias: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> np.ndarray:
    """int32 bias with scale s_in · s_w[c] and zero point 0 (round half to even, saturated)."""
    scale = np.float64(np.float32(input_scale)) * np.asarray(weight_scales, np.float32).astype(np.float64)
    q = np.rint(np.asarray(bias, np.float64) / scale)
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


def _axis_shape(rank: int, axis: int | None, count: int) -> tuple[int, ...]:
    if axis is None:
        return ()
    shape = [1] * rank
    shape[axis] = count
    return tuple(shape)


def _param(xp, values, rank: int, axis: int | None, dtype):
    """A per-tensor scalar or a per-axis array broadcastable against a rank-`rank` tensor."""
    values = np.asarray(values, dtype).reshape(-1)
    if axis is None:
        return xp.asarray(values[0])
    return xp.asarray(values.reshape(_axis_shape(rank, axis, len(values))))


# ---------------------------------------------------------------------------------------------
# Run-time integer arithmetic
# ---------------------------------------------------------------------------------------------


def _truncating_div_pow2(xp, v, bits: int):
    """C's `v / 2^bits` (toward zero) on int64."""
    return xp.where(v >= 0, xp.right_shift(v, bits), -xp.right_shift(-v, bits))


def saturating_rounding_doubling_high_mul(a, b, xp=np):
    """gemmlowp's `SaturatingRoundingDoublingHighMul` on int32 values (int64 in, int64 out)."""
    a = xp.asarray(a).astype(np.int64)
    b = xp.asarray(b).astype(np.int64)
    overflow = (a == b) & (a == INT32_MIN)
    ab = a * b
    nudge = xp.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    high = _truncating_div_pow2(xp, ab + nudge, 31)
    return xp.where(overflow, np.int64(INT32_MAX), high)


def rounding_divide_by_pot(x, exponent, xp=np):
    """gemmlowp's `RoundingDivideByPOT`: x / 2^exponent rounded to nearest, ties away from zero."""
    x = xp.asarray(x).astype(np.int64)
    exponent = xp.asarray(exponent).astype(np.int64)
    mask = xp.left_shift(np.int64(1), exponent) - 1
    remainder = xp.bitwise_and(x, mask)
    threshold = xp.right_shift(mask, 1) + (x < 0).astype(np.int64)
    return xp.right_shift(x, exponent) + (remainder > threshold).astype(np.int64)


def wrap_int32(x, xp=np):
    """Two's-complement wrap of int64 values to int32 (what i32 hardware arithmetic does)."""
    x = xp.asarray(x).astype(np.int64)
    return (xp.bitwise_and(x + (1 << 31), np.int64(0xFFFFFFFF)) - (1 << 31)).astype(np.int32)


def multiply_by_quantized_multiplier(acc, multiplier, shift, xp=np):
    """TFLite's `MultiplyByQuantizedMultiplier` (int32 acc; the left shift wraps as i32 does)."""
    shift = xp.asarray(shift).astype(np.int64)
    left = xp.maximum(shift, 0)
    right = xp.maximum(-shift, 0)
    shifted = wrap_int32(xp.left_shift(xp.asarray(acc).astype(np.int64), left), xp)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier, xp), right, xp)


def requantize(acc, multiplier, shift, output_zero_point: int, clamp_min: int, clamp_max: int,
               axis: int | None = None, xp=np):  # fmt: skip
    """i32 accumulators → i8: scale by (multiplier, shift) per tensor or per `axis`, add the
    output zero point, clamp to [clamp_min, clamp_max] (the fused activation)."""
    acc = xp.asarray(acc)
    m = _param(xp, multiplier, acc.ndim, axis, np.int64)
    s = _param(xp, shift, acc.ndim, axis, np.int64)
    scaled = multiply_by_quantized_multiplier(acc, m, s, xp) + np.int64(output_zero_point)
    return xp.clip(scaled, clamp_min, clamp_max).astype(np.int8)


def quantize(x, scale, zero_point, axis: int | None = None, xp=np):
    """float → i8: round_half_even(f32(x) / f32(scale)) + zero_point, saturated; NaN → zero_point."""
    x = xp.asarray(x).astype(np.float32)
    s = _param(xp, scale, x.ndim, axis, np.float32)
    z = _param(xp, zero_point, x.ndim, axis, np.float32)
    q = xp.rint(x / s) + z
    q = xp.where(xp.isnan(q), z, q)
    return xp.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize(q, scale, zero_point, axis: int | None = None, xp=np):
    """i8 (or i32) → f32: f32(q − zero_point) · f32(scale)."""
    q = xp.asarray(q).astype(np.int64)
    s = _param(xp, scale, q.ndim, axis, np.float32)
    z = _param(xp, zero_point, q.ndim, axis, np.int64)
    return (q - z).astype(np.float32) * s


def _is_jax(xp) -> bool:
    return xp.__name__.startswith("jax")


def conv2d(x, w, bias, input_zero_point: int, strides, dilations, pads, groups: int, xp=np):
    """i8 NHWC × i8 HWIO (+ i32 bias[Cout]) → i32: Σ (x − zx)·w + bias, padding counts as zx.

    The sums are exact integers (int64 on numpy; under jax, float64 whose integer sums are exact
    far beyond any conv's |Σ| < 2^53), wrapped to int32 at the end.
    """
    xs = xp.asarray(x).astype(np.int64) - np.int64(input_zero_point)
    (pt, pb, pl, pr), (sh, sw), (dh, dw) = pads, strides, dilations
    if _is_jax(xp):  # XLA's f64 convolution: exact on these integers and far faster than s64 loops
        import jax

        acc = jax.lax.conv_general_dilated(
            xs.astype(np.float64), xp.asarray(w).astype(np.float64), window_strides=(sh, sw),
            padding=[(pt, pb), (pl, pr)], rhs_dilation=(dh, dw), dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=groups, precision=jax.lax.Precision.HIGHEST,
        ).astype(np.int64)  # fmt: skip
    else:
        acc = _conv2d_numpy(xs, np.asarray(w, np.int64), (sh, sw), (dh, dw), (pt, pb, pl, pr), groups)
    if bias is not None:
        acc = acc + xp.asarray(bias).astype(np.int64)
    return wrap_int32(acc, xp)


def _conv2d_numpy(xs, w, strides, dilations, pads, groups):
    n, h, wd, c = xs.shape
    kh, kw, ci, co = w.shape
    (sh, sw), (dh, dw), (pt, pb, pl, pr) = strides, dilations, pads
    oh = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    ow = (wd + pl + pr - (kw - 1) * dw - 1) // sw + 1
    padded = np.pad(xs, ((0, 0), (pt, pb), (pl, pr), (0, 0)))  # x − zx of a padded element is 0
    wg = w.reshape(kh, kw, ci, groups, co // groups)
    acc = np.zeros((n, oh, ow, groups, co // groups), np.int64)
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            view = padded[:, y0 : y0 + sh * (oh - 1) + 1 : sh, x0 : x0 + sw * (ow - 1) + 1 : sw, :]
            acc += np.einsum("nhwgc,cgo->nhwgo", view.reshape(n, oh, ow, groups, ci), wg[i, j])
    return acc.reshape(n, oh, ow, co)


def matmul(a, b, bias, a_zero_point: int, b_zero_point: int, xp=np):
    """i8[..., M, K] × i8[..., K, N] (+ i32 bias[N]) → i32: Σ (a − za)(b − zb) + bias, batch
    dimensions broadcast as numpy's matmul; exact sums wrapped to int32."""
    a64 = xp.asarray(a).astype(np.int64) - np.int64(a_zero_point)
    b64 = xp.asarray(b).astype(np.int64) - np.int64(b_zero_point)
    if _is_jax(xp):  # f64 products and sums are exact here, as in `conv2d`
        import jax

        acc = xp.matmul(a64.astype(np.float64), b64.astype(np.float64), precision=jax.lax.Precision.HIGHEST)
        acc = acc.astype(np.int64)
    else:
        acc = np.matmul(a64, b64)
    if bias is not None:
        acc = acc + xp.asarray(bias).astype(np.int64)
    return wrap_int32(acc, xp)
