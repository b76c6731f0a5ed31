"""Comparing graphc's outputs with a framework's stored outputs: the fixture format and tolerances.

A fixture is `STEM.pb` (the model), `STEM.npz` (keys `input:<name>` and `output:<name>`: the fixed
inputs and the framework's own outputs) and `STEM.json` (`input_shapes` to specialise unknown
dimensions, and a description). ONNX fixtures are `STEM.onnx` instead of `STEM.pb` (their JSON says
`"format": "onnx"`; load them with `load_fixture(stem, ".onnx")`).

Tolerance for float32 (issue 2): |got − ref| ≤ 1e-4·max(1, max|ref|) + 1e-3·|ref|. float32 carries
~7 significant digits; models accumulate thousands of products in different orders than
TensorFlow does, so errors of a few ulps of the output's scale are expected, never more. Integer and
boolean outputs must match exactly.

The 16-bit floats get the same form with their own machine epsilon: |got − ref| ≤ eps·max(1, max|ref|)
+ 2·eps·|ref|, eps rounded up to one significant digit. An output rounded to 16 bits is already
±½ ulp off the exact value; graphc and the framework may also round intermediate values at
different points (a fused kernel keeps f32 between ops where an unfused run rounds after each op),
each such rounding adding up to ½ ulp, so a correct result is within about two ulps (2·eps
relative) of the reference, plus one ulp of the output's scale for values that cancelled. float16
(10-bit mantissa, eps 2^-10 = 9.8e-4): 1e-3·max(1, max|ref|) + 2e-3·|ref|. bfloat16 (8 significant
bits, 7 stored; eps 2^-7 = 7.8e-3): 8e-3·max(1, max|ref|) + 1.6e-2·|ref|. bfloat16 arrays are
ml_dtypes' `bfloat16`, which numpy does not count as `np.floating`: they are recognised by name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np


@dataclass
class Fixture:
    stem: str
    model_path: str
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    input_shapes: dict[str, tuple[int, ...]]
    meta: dict

    @property
    def name(self) -> str:
        return os.path.basename(self.stem)


def is_quantized_fixture(stem: str) -> bool:
    """Whether the fixture's model is quantized (TensorFlow FakeQuant* ops, or an ONNX model from
    onnxruntime's quantizer). graphc requantizes with TFLite's fixed-point multiplier where the
    framework uses float arithmetic, so such outputs may differ by one quantization step: they are
    checked by their own tests (`tests/frontends/test_*quant*.py`), not at the float tolerance."""
    with open(stem + ".json") as f:
        meta = json.load(f)
    return "quantizer" in meta or any(op.startswith("FakeQuant") for op in meta.get("op_types", []))


def load_fixture(stem: str, model_suffix: str = ".pb") -> Fixture:
    with open(stem + ".json") as f:
        meta = json.load(f)
    with np.load(stem + ".npz", allow_pickle=False) as data:
        inputs = {k[len("input:") :]: data[k] for k in data.files if k.startswith("input:")}
        outputs = {k[len("output:") :]: data[k] for k in data.files if k.startswith("output:")}
    shapes = {k: tuple(v) for k, v in meta.get("input_shapes", {}).items()}
    return Fixture(stem, stem + model_suffix, inputs, outputs, shapes, meta)


FLOAT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float32": (1e-4, 1e-3),
    "float16": (1e-3, 2e-3),
    "bfloat16": (8e-3, 1.6e-2),
}
"""(absolute, relative) per float dtype name, derived in the module docstring; float64 outputs
use float32's (graphc's f64 kernels are not held to more than what its f32 ones are)."""


def is_float_dtype(dtype: np.dtype) -> bool:
    """numpy floats and ml_dtypes' bfloat16 (which is not an `np.floating` subtype)."""
    return np.issubdtype(dtype, np.floating) or dtype.name == "bfloat16"


def tolerance_violation(got: np.ndarray, ref: np.ndarray) -> str | None:
    """None when `got` matches `ref` within the dtype's tolerance, else a one-line description."""
    got, ref = np.asarray(got), np.asarray(ref)
    if got.shape != ref.shape:
        return f"shape {got.shape} != expected {ref.shape}"
    if not is_float_dtype(ref.dtype):
        if got.dtype != ref.dtype:
            return f"dtype {got.dtype} != expected {ref.dtype}"
        mismatches = int(np.count_nonzero(got != ref))
        return None if mismatches == 0 else f"{mismatches} of {ref.size} elements differ"
    absolute, relative = FLOAT_TOLERANCES.get(ref.dtype.name, FLOAT_TOLERANCES["float32"])
    r, g = ref.astype(np.float64), got.astype(np.float64)
    nan_r = np.isnan(r)
    if not np.array_equal(nan_r, np.isnan(g)):
        return "NaN positions differ"
    inf_r = np.isinf(r)
    if not np.array_equal(r[inf_r], g[inf_r]):
        return "infinities differ"
    finite = ~(nan_r | inf_r)
    bound = absolute * max(1.0, float(np.max(np.abs(r[finite]), initial=0.0))) + relative * np.abs(r[finite])
    err = np.abs(g[finite] - r[finite])
    bad = err > bound
    if not bad.any():
        return None
    worst = int(np.argmax(err - bound))
    return f"{int(bad.sum())} of {ref.size} elements out of tolerance; worst |got-ref|={err[worst]:.3g} > {bound[worst]:.3g}"


def compare_outputs(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> list[str]:
    problems = []
    for name, ref in expected.items():
        if name not in got:
            problems.append(f"{name}: missing (got {sorted(got)})")
            continue
        violation = tolerance_violation(got[name], ref)
        if violation:
            problems.append(f"{name}: {violation}")
    return problems
