"""Pre-quantized ONNX models (QDQ and QOperator formats, from onnxruntime's quantizer) compile for
every target and match onnxruntime's stored outputs.

Fixtures: `tests/fixtures/onnx/*_qdq.onnx` / `*_qop.onnx`, written by
`tools/quantize_onnx_models.py` (int8 per-channel weights; int8 activations in QDQ, uint8 in
QOperator).

Tolerance. graphc and onnxruntime do the same integer convolutions and matmuls, but onnxruntime
requantizes an int32 accumulator to int8 with a float multiplier (round(acc · s_x·s_w/s_y)) where
graphc uses TFLite's fixed-point multiplier and shift. The two agree except when acc · M lies
within ~2^-31 relative of a rounding boundary, so an int8 value may differ by one quantization step
(never more). Outputs are therefore compared one step of their grid apart at most: the scale of the
DequantizeLinear that makes the output, or, for a Softmax of dequantized logits with step s, the
bound that moving each logit (a dequantized value, plus a constant bias) by at most s puts on a probability: |Δp| ≤ p·(e^{2s} − 1). The tests
report how many elements differ at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import graphc
from graphc.testing import load_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "onnx"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.onnx") if p.stem.endswith(("_qdq", "_qop")))
TARGETS = ["cpu", "reference"]


def test_the_quantized_fixtures_are_all_there():
    assert {"digits_cnn_qdq", "digits_cnn_qop", "resnet_nchw_qdq"} <= set(NAMES)


def output_grid(model: onnx.ModelProto, output: str) -> tuple[str, float]:
    """('dequantized', step) or ('softmax', step of its dequantized input)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    node = producers[output]
    kind = "dequantized"
    if node.op_type == "Softmax":
        node, kind = producers[node.input[0]], "softmax"
        if node.op_type == "Add":  # + a constant bias: the logits still move by at most one step
            (variable,) = [i for i in node.input if i not in initializers]
            node = producers[variable]
    assert node.op_type == "DequantizeLinear", f"{output} is not made from a quantized tensor ({node.op_type})"
    return kind, float(initializers[node.input[1]].reshape(()))


def check_within_one_step(model: onnx.ModelProto, got: dict, expected: dict) -> list[str]:
    problems = []
    for name, ref in expected.items():
        value = np.asarray(got[name], np.float64)
        kind, step = output_grid(model, name)
        if kind == "dequantized":
            bound = np.full(ref.shape, step * (1 + 1e-5))
        else:
            bound = ref * np.expm1(2 * step) + 1e-6
        error = np.abs(value - ref)
        differ = int(np.count_nonzero(error > 1e-6))
        print(f"{name}: {differ} of {ref.size} elements differ from onnxruntime; worst {error.max():.3g} (bound {bound.max():.3g})")
        if np.any(error > bound):
            problems.append(f"{name}: {int(np.count_nonzero(error > bound))} of {ref.size} elements more than one step off")
    return problems


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", NAMES)
def test_quantized_model_matches_onnxruntime(name, target):
    fx = load_fixture(str(FIXTURES / name), model_suffix=".onnx")
    model = graphc.compile(fx.model_path, target=target, input_shapes=fx.input_shapes)
    assert model.output_names == fx.meta["outputs"]
    problems = check_within_one_step(onnx.load(fx.model_path), model.run(fx.inputs), fx.outputs)
    assert not problems, f"{name} on {target}: " + "; ".join(problems)


# ---------------------------------------------------------------------------------------------
# Small models against onnxruntime
# ---------------------------------------------------------------------------------------------


def _run_both(m, feeds):
    from onnx_testing import graphc_outputs, onnxruntime_outputs

    return graphc_outputs(m, feeds), onnxruntime_outputs(m, feeds)


@pytest.mark.parametrize("qtype", [onnx.TensorProto.UINT8, onnx.TensorProto.INT8])
@pytest.mark.parametrize("axis", [None, 1])
def test_quantize_dequantize_round_trip_is_exact(qtype, axis):
    """uint8 is stored as int8 with the zero point moved by -128: exact, including saturation
    at both ends and ties (x / scale = k + 1/2 rounds to even)."""
    from onnx import helper
    from onnx_testing import model

    np_type = np.uint8 if qtype == onnx.TensorProto.UINT8 else np.int8
    if axis is None:
        scale, zero = np.array(0.5, np.float32), np.array(140 if np_type is np.uint8 else 3, np_type)
    else:
        scale = np.array([0.5, 0.25, 2.0], np.float32)
        zero = np.array([0, 128, 255] if np_type is np.uint8 else [-128, 0, 127], np_type)
    attrs = {} if axis is None else {"axis": axis}
    m = model(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **attrs),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **attrs)],
        [("x", onnx.TensorProto.FLOAT, [2, 3, 4])], [("q", qtype, [2, 3, 4]), ("y", onnx.TensorProto.FLOAT, [2, 3, 4])],
        [("s", scale), ("z", zero)], opset=13,
    )  # fmt: skip
    x = np.linspace(-300, 300, 24, dtype=np.float32).reshape(2, 3, 4)
    x[0, 0, :] = [0.25, 0.75, -0.25, 1.25]  # halves of scale 0.5
    got, ref = _run_both(m, {"x": x})
    for g_, r in zip(got, ref):
        assert g_.dtype == r.dtype
        np.testing.assert_array_equal(g_, r)


def test_qlinear_matmul_per_column_scales_match_onnxruntime():
    from onnx import helper
    from onnx_testing import model

    rng = np.random.default_rng(0)
    b = rng.integers(-127, 128, (6, 5)).astype(np.int8)
    m = model(
        [helper.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])],
        [("a", onnx.TensorProto.UINT8, [3, 6])], [("y", onnx.TensorProto.UINT8, [3, 5])],
        [("sa", np.array(0.02, np.float32)), ("za", np.array(120, np.uint8)), ("b", b),
         ("sb", np.linspace(0.01, 0.03, 5).astype(np.float32)), ("zb", np.zeros(5, np.int8)),
         ("sy", np.array(0.05, np.float32)), ("zy", np.array(100, np.uint8))], opset=21,
    )  # fmt: skip
    a = rng.integers(0, 256, (3, 6)).astype(np.uint8)
    (got,), (ref,) = _run_both(m, {"a": a})
    assert got.dtype == ref.dtype
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1  # one step: see the module docstring
