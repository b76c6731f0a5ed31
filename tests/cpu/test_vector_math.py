"""CPU backend: the polynomial f32 math of `vector_math` — accuracy over the whole f32 range against
float64 numpy, the edge cases, and that it compiles to packed vector code with no libm calls."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from cpu_testing import build, run_code

from graphc.backends.cpu import compile_program
from graphc.backends.cpu.codegen import compile_llvm_ir
from graphc.backends.cpu.emit_llvm import emit_llvm
from graphc.backends.cpu.lower_to_loops import lower_program
from graphc.dialects import graph as g

_erf64 = np.frompyfunc(math.erf, 1, 1)


def _sigmoid64(x):
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


# op, float64 reference, max error in ulps (the bounds stated in vector_math's docstring)
FUNCTIONS = {
    "exp": (g.ExpOp, np.exp, 2),
    "expm1": (g.Expm1Op, np.expm1, 3),
    "log": (g.LogOp, np.log, 2),
    "log1p": (g.Log1pOp, np.log1p, 3),
    "tanh": (g.TanhOp, np.tanh, 2),
    "sigmoid": (g.SigmoidOp, _sigmoid64, 3),
    "erf": (g.ErfOp, lambda x: _erf64(x).astype(np.float64), 3),
}
EDGES = [
    0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 0.625, -0.625, 4.0, -4.0, 3.9, 9.0, -9.0,
    88.72, 88.7228, 88.73, 89.0, -87.3, -88.0, -100.0, -103.9, -103.98, -104.5, 1e-45, -1e-45, 1e-38,
    1.1754943e-38, 3.4028235e38, -3.4028235e38, 1e-7, -1e-7, -0.9999999, -1.0000001,
]  # fmt: skip


def _samples() -> np.ndarray:
    """Every 4099th f32 bit pattern (a million values spread over the whole range) and the edges."""
    patterns = np.arange(0, 2**32, 4099, dtype=np.uint64).astype(np.uint32).view(np.float32)
    return np.concatenate([patterns[np.isfinite(patterns)], np.float32(EDGES)])


X = _samples()


def _run(op_class, x: np.ndarray) -> np.ndarray:
    program = build([(x.shape, np.float32)], lambda gb, v: gb(op_class, v))
    (got,) = run_code(compile_program(program), program, [x])
    return got


def ulps(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got − ref| in units of the f32 spacing at the rounded reference (finite references only)."""
    spacing = np.spacing(np.abs(ref.astype(np.float32))).astype(np.float64)
    return np.abs(got.astype(np.float64) - ref) / np.maximum(spacing, 2.0**-149)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_max_error_over_the_f32_range(name):
    op_class, reference, bound = FUNCTIONS[name]
    got = _run(op_class, X)
    with np.errstate(all="ignore"):
        ref = reference(X.astype(np.float64))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{name}: NaN positions")
    overflow = np.abs(ref) > np.finfo(np.float32).max * (1 + 2.0**-25)  # rounds to ±inf in f32
    infinite = ~np.isnan(ref) & (np.isinf(ref) | overflow)
    np.testing.assert_array_equal(got[infinite], np.sign(ref[infinite]) * np.inf, err_msg=f"{name}: infinities")
    finite = ~np.isnan(ref) & ~infinite
    err = ulps(got[finite], ref[finite])
    worst = int(np.argmax(err))
    assert err[worst] <= bound, (
        f"{name}: {err[worst]:.2f} ulp at x={X[finite][worst]!r}: got {got[finite][worst]!r}, ref {ref[finite][worst]!r}"
    )


def test_edges():
    x = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, -2.0, 100.0, -200.0, 5.0, -5.0])
    got = {name: _run(FUNCTIONS[name][0], x) for name in FUNCTIONS}
    inf, nan = np.inf, np.nan
    expected = {
        "exp": [1, 1, inf, 0, nan, math.exp(-1), math.exp(-2), inf, 0, math.exp(5), math.exp(-5)],
        "expm1": [0, -0.0, inf, -1, nan, math.expm1(-1), math.expm1(-2), inf, -1, math.expm1(5), math.expm1(-5)],
        "log": [-inf, -inf, inf, nan, nan, nan, nan, math.log(100), nan, math.log(5), nan],
        "log1p": [0, -0.0, inf, nan, nan, -inf, nan, math.log1p(100), nan, math.log1p(5), nan],
        "tanh": [0, -0.0, 1, -1, nan, math.tanh(-1), math.tanh(-2), 1, -1, math.tanh(5), math.tanh(-5)],
        "sigmoid": [0.5, 0.5, 1, 0, nan, 1 / (1 + math.e), 1 / (1 + math.exp(2)), 1, 0, 1 / (1 + math.exp(-5)),
                    1 / (1 + math.exp(5))],  # fmt: skip
        "erf": [0, -0.0, 1, -1, nan, math.erf(-1), math.erf(-2), 1, -1, math.erf(5), math.erf(-5)],
    }
    for name, values in expected.items():
        want = np.float32(values)
        np.testing.assert_allclose(got[name], want, rtol=3e-7, atol=0, err_msg=name)
        zeros = want == 0
        np.testing.assert_array_equal(np.signbit(got[name][zeros]), np.signbit(want[zeros]), err_msg=f"{name}: sign of 0")


def test_subnormal_results_and_inputs():
    x = np.float32([-87.5, -90.0, -95.0, -100.0, -103.0])
    np.testing.assert_allclose(_run(g.ExpOp, x), np.exp(x.astype(np.float64)).astype(np.float32), rtol=1e-6, atol=2e-45)
    tiny = np.float32([1e-45, 1e-42, 1e-40, 1e-39, 1.1e-38])
    np.testing.assert_allclose(_run(g.LogOp, tiny), np.log(tiny.astype(np.float64)), rtol=2e-7)


def _assembly(program) -> str:
    llvm_module, _ = emit_llvm(lower_program(program).module)
    native = compile_llvm_ir(str(llvm_module), keep_assembly=True)
    assert native.assembly is not None
    return native.assembly


def test_math_kernels_compile_to_packed_code_without_libm_calls():
    def body(gb, x):
        return [gb(op_class, x) for op_class in (g.ExpOp, g.TanhOp, g.SigmoidOp, g.LogOp, g.ErfOp)]

    asm = _assembly(build([((64, 1024), np.float32)], body))
    assert re.search(r"\bvfmadd\w*ps\s+%(zmm|ymm)", asm), "no packed fused multiply-adds"
    assert re.search(r"\bvmulps\s+%(zmm|ymm)", asm), "no packed multiplies"
    calls = re.findall(r"\bcall\w*\s+\S+", asm)
    assert not [c for c in calls if re.search(r"expf|tanhf|logf|erff|exp|tanh|log|erf", c)], calls
