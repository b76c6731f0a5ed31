"""`graphc.testing.tolerance_violation` on the 16-bit floats: about two ulps relative plus one ulp of
the output's scale, from each type's machine epsilon (bfloat16 2^-7, float16 2^-10)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from graphc.testing import tolerance_violation

BF16 = np.dtype(ml_dtypes.bfloat16)


def _ulps_away(ref: np.ndarray, ulps: int) -> np.ndarray:
    """`ref` moved up by `ulps` representable steps of its own type (through the bit patterns)."""
    bits = {2: np.uint16, 4: np.uint32}[ref.dtype.itemsize]
    return (ref.view(bits) + np.asarray(ulps, bits)).view(ref.dtype)


@pytest.mark.parametrize("dtype", [BF16, np.dtype(np.float16)], ids=["bf16", "f16"])
def test_two_ulps_pass_and_many_fail(dtype):
    ref = np.array([1.0, 1.5, -3.25, 100.0, 0.375], np.float32).astype(dtype)
    assert tolerance_violation(ref.copy(), ref) is None
    # Two ulps toward larger magnitude on every element: within 2·eps relative.
    assert tolerance_violation(_ulps_away(ref, 2), ref) is None
    # Sixteen ulps on the element of largest magnitude: far outside.
    far = ref.copy()
    far[3] = _ulps_away(ref[3:4], 16)[0]
    violation = tolerance_violation(far, ref)
    assert violation is not None and "1 of 5 elements" in violation


def test_bf16_is_not_compared_bit_exactly():
    """One bf16 ulp at 1.0 is 2^-7: exact comparison (the old behaviour) would reject it, the f32
    tolerance would too, and the bf16 tolerance accepts it."""
    ref = np.array([1.0, 2.0, 0.5], np.float32).astype(BF16)
    got = (ref.astype(np.float32) + np.float32(2.0**-7)).astype(BF16)
    assert not np.array_equal(got.astype(np.float32), ref.astype(np.float32))
    assert tolerance_violation(got, ref) is None
    assert tolerance_violation(got.astype(np.float32), ref.astype(np.float32)) is not None


def test_bf16_nan_and_inf_positions_must_match():
    ref = np.array([np.nan, np.inf, 1.0], np.float32).astype(BF16)
    assert tolerance_violation(ref.copy(), ref) is None
    assert tolerance_violation(np.array([1.0, np.inf, 1.0], np.float32).astype(BF16), ref) == "NaN positions differ"
    assert tolerance_violation(np.array([np.nan, -np.inf, 1.0], np.float32).astype(BF16), ref) == "infinities differ"


def test_f32_and_integers_keep_their_rules():
    ref = np.array([1.0, -2.0], np.float32)
    assert tolerance_violation(ref * np.float32(1 + 5e-4), ref) is None
    assert tolerance_violation(ref * np.float32(1 + 5e-3), ref) is not None
    ints = np.array([1, 2, 3], np.int32)
    assert tolerance_violation(ints + np.array([0, 0, 1], np.int32), ints) == "1 of 3 elements differ"
