"""Helpers for CPU tests that go through graphc's whole default pipeline (fusion included).

`cpu_testing.run_cpu` compiles a program as it is (one kernel per op); `run_fused` runs the
middle end first, so ops land in `fusion.region`s and are lowered by `lower_fusion`, and returns
the kernel schedule too, so tests can check what was fused. The oracle is still
`cpu_testing.reference` on the unfused program.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from cpu_testing import assert_close, reference, run_cpu

from graphc.backends.registry import get_backend
from graphc.dialects.resources import GraphProgram
from graphc.driver import compile_program

TOL = {"float64": 1e-12, "float32": 1e-5, "float16": 2e-3, "bfloat16": 1.6e-2}
"""Relative (and, scaled by max(1, max|ref|), absolute) tolerance per float dtype for results
that are not exactly rounded (libm-class functions, sums in another order): a few ulps for f32 and
f64, two ulps of f16 (2**-10 each) and of bf16 (2**-7 each) — those compute in f32 and round
once, so they differ from numpy only when the f32 results straddle a rounding boundary."""


def tolerance(dtype) -> float:
    return TOL.get(np.dtype(dtype).name, 0.0)


def run_fused(program: GraphProgram, arrays: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[str]]:
    """Compiles `program` (a clone: the pipeline edits what it compiles) with the default pipeline
    for the CPU backend; returns its outputs on `arrays` and its kernel schedule."""
    model = compile_program(program.clone(), get_backend("cpu"))
    named = model.run(dict(zip(program.input_names, arrays)))
    return [named[n] for n in program.output_names], list(model.artifact.schedule)


def check_both_ways(
    program: GraphProgram, arrays: Sequence[np.ndarray], tol: float | dict[int, float] | None = None, exact=()
):
    """Runs `program` unfused (`run_cpu`) and through the fusion pipeline; compares both with the
    oracle: outputs listed in `exact` (indices) exactly (same values, NaNs and infinities; the
    sign of a zero aside), the others at `tol` (one value, or {output index: tolerance}; default:
    by dtype). Integer and boolean outputs always match exactly. Returns the fused schedule."""
    ref = reference(program, arrays)
    unfused = run_cpu(program, arrays)
    fused, schedule = run_fused(program, arrays)
    for how, got in (("unfused", unfused), ("fused", fused)):
        for i, (a, r) in enumerate(zip(got, ref)):
            where = f"{how} output {i} ({program.output_names[i]})"
            t = tol.get(i) if isinstance(tol, dict) else tol
            t = 0.0 if i in exact else t
            t = tolerance(r.dtype) if t is None else t
            try:
                assert_close(a, r, rtol=t, atol=t)
            except AssertionError as err:
                raise AssertionError(f"{where}: {err}") from err
    return schedule


def assert_bits_equal(got: np.ndarray, ref: np.ndarray, where: str = "") -> None:
    """Same dtype, shape and values; floats compare by value with NaN equal to NaN (any payload)."""
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype and got.shape == ref.shape, (where, got.dtype, ref.dtype, got.shape, ref.shape)
    if ref.dtype.kind in "biu":
        bad = got != ref
    else:
        g, r = got.astype(np.float64), ref.astype(np.float64)
        bad = ~((g == r) & (np.signbit(g) == np.signbit(r)) | (np.isnan(g) & np.isnan(r)))
    assert not bad.any(), f"{where}: {int(bad.sum())} of {ref.size} differ, e.g. got {got[bad][:5]} want {ref[bad][:5]}"
