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

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import graphc
from graphc.driver import load_program
from graphc.pipeline import run_pipeline
from graphc.testing import is_quantized_fixture, load_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "onnx"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.onnx") if is_quantized_fixture(str(p.with_suffix(""))))
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


def graph_ops(path: str, input_shapes) -> Counter:
    """Op names after the graph pipeline (where recognize-qdq runs)."""
    program, _ = load_program(path, input_shapes)
    run_pipeline(program)
    return Counter(op.name for op in program.module.walk())


@pytest.mark.parametrize("name", NAMES)
def test_every_quantized_conv_and_matmul_runs_as_int8(name):
    """QDQ: each DequantizeLinear → Conv/MatMul/Gemm → QuantizeLinear is one quant.conv2d /
    quant.matmul with its requantize; QOperator: each QLinearConv/QLinearMatMul is. No float
    convolution or matmul is left."""
    fx = load_fixture(str(FIXTURES / name), model_suffix=".onnx")
    counts = fx.meta["op_counts"]
    ops = graph_ops(fx.model_path, fx.input_shapes)
    convs = counts.get("Conv", 0) + counts.get("QLinearConv", 0)
    matmuls = counts.get("MatMul", 0) + counts.get("Gemm", 0) + counts.get("QLinearMatMul", 0)
    assert (ops["quant.conv2d"], ops["quant.matmul"]) == (convs, matmuls)
    assert ops["quant.requantize"] >= convs + matmuls
    assert ops["graph.conv2d"] == ops["graph.matmul"] == 0


# ---------------------------------------------------------------------------------------------
# Small models against onnxruntime
# ---------------------------------------------------------------------------------------------


def _run_both(m, feeds, target):
    from onnx_testing import onnxruntime_outputs

    from graphc.backends.registry import get_backend
    from graphc.driver import compile_program
    from graphc.frontends.onnx import import_onnx

    compiled = compile_program(import_onnx(m, source="model.onnx"), get_backend(target))
    got = compiled.run(feeds)
    return [got[o.name] for o in m.graph.output], onnxruntime_outputs(m, feeds)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("qtype", [onnx.TensorProto.UINT8, onnx.TensorProto.INT8])
@pytest.mark.parametrize("axis", [None, 1])
def test_quantize_dequantize_round_trip_is_exact(qtype, axis, target):
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
    got, ref = _run_both(m, {"x": x}, target)
    for g_, r in zip(got, ref):
        assert g_.dtype == r.dtype
        np.testing.assert_array_equal(g_, r)


@pytest.mark.parametrize("target", TARGETS)
def test_qlinear_matmul_per_column_scales_match_onnxruntime(target):
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
    (got,), (ref,) = _run_both(m, {"a": a}, target)
    assert got.dtype == ref.dtype
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1  # one step: see the module docstring


@pytest.mark.parametrize("target", TARGETS)
def test_uint8_qdq_convolution_runs_as_int8_and_matches_onnxruntime(target):
    """A QDQ layer with uint8 activations (onnxruntime's CPU default): the uint8 tensors are int8
    in the IR (zero points moved by -128), the layer is recognised, and the result is within one
    step of onnxruntime's."""
    from onnx import helper
    from onnx_testing import model

    rng = np.random.default_rng(1)
    w = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    w_scale = np.array([0.01, 0.02, 0.015, 0.005], np.float32)
    bias = rng.integers(-300, 300, 4).astype(np.int32)
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xf"]),
        helper.make_node("DequantizeLinear", ["w", "sw", "zw"], ["wf"], axis=0),
        helper.make_node("DequantizeLinear", ["b", "sb", "zb"], ["bf"], axis=0),
        helper.make_node("Conv", ["xf", "wf", "bf"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("QuantizeLinear", ["r", "sy", "zy"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"]),
    ]
    m = model(nodes, [("x", onnx.TensorProto.FLOAT, [1, 3, 6, 6])], [("y", onnx.TensorProto.FLOAT, [1, 4, 6, 6])],
              [("sx", np.array(0.02, np.float32)), ("zx", np.array(131, np.uint8)), ("w", w), ("sw", w_scale),
               ("zw", np.zeros(4, np.int8)), ("b", bias), ("sb", (np.float32(0.02) * w_scale).astype(np.float32)),
               ("zb", np.zeros(4, np.int32)), ("sy", np.array(0.05, np.float32)), ("zy", np.array(7, np.uint8))],
              opset=13)  # fmt: skip
    x = rng.normal(0, 1, (1, 3, 6, 6)).astype(np.float32)
    (got,), (ref,) = _run_both(m, {"x": x}, target)
    assert np.abs(got - ref).max() <= 0.05 * (1 + 1e-5)  # one step of y's grid (module docstring)
    from graphc.frontends.onnx import import_onnx

    program = import_onnx(m, source="model.onnx")
    run_pipeline(program)
    ops = Counter(op.name for op in program.module.walk())
    assert ops["quant.conv2d"] == 1 and ops["graph.conv2d"] == 0
