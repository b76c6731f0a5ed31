"""TensorFlow FakeQuant* ops: TF's nudging, the fixtures compiled for every target, bad attributes.

Fixtures (written by `tools/make_tf_fixtures.py` with TensorFlow's own outputs): `op_fakequant`
(each FakeQuant op with num_bits 4-8, narrow_range, nudged ranges, per channel) and `fakequant_cnn`
(a quantization-aware-training style CNN: fake-quantized input, per-channel weights, activations).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import graphc
from graphc.driver import load_program
from graphc.frontends.errors import FrontendError
from graphc.frontends.tensorflow import import_graphdef
from graphc.frontends.tf_ops_quant import nudge
from graphc.pipeline import run_pipeline
from graphc.testing import load_fixture

from graphdef_builder import GraphBuilder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
TARGETS = ["cpu", "reference"]


@pytest.mark.parametrize(
    "low, high, bits, narrow, nudged_low, nudged_high, scale",
    [  # the cases of TensorFlow's fake_quant_ops_test.cc
        (-10.0, 53.75, 8, False, -10.0, 53.75, 0.25),  # no nudging
        (-0.1, 63.65, 8, False, 0.0, 63.75, 0.25),  # nudged down
        (-0.125, 63.625, 8, False, -0.25, 63.5, 0.25),  # nudged up
        (-0.1, 63.4, 8, True, 0.0, 63.5, 0.25),  # narrow range, nudged down
        (-0.1, 3.65, 4, False, 0.0, 3.75, 0.25),  # 4 bits
        (-0.125, 3.625, 4, False, -0.25, 3.5, 0.25),
        (0.1, 0.3, 8, False, 0.0, 0.2, 0.2 / 255),  # a range above zero is shifted down to include it
    ],
)
def test_nudge_is_tensorflows(low, high, bits, narrow, nudged_low, nudged_high, scale):
    got_scale, zero_point, got_low, got_high = nudge(np.float32(low), np.float32(high), bits, narrow)
    np.testing.assert_allclose([got_low, got_high], [nudged_low, nudged_high], rtol=1e-6, atol=1e-6)
    quant_min = 1 if narrow else 0
    assert quant_min <= int(zero_point) <= (1 << bits) - 1
    assert got_low == np.float32((quant_min - int(zero_point)) * got_scale)
    assert got_scale == pytest.approx(scale, rel=1e-6)


@pytest.mark.parametrize("target", TARGETS)
def test_op_fakequant_matches_tensorflow(target):
    """Exact, except where x / scale is exactly half-way between two levels: TensorFlow rounds
    floor(v + ½), quantize rounds half to even. The fixture holds one such value on purpose,
    x = -6 with [min, max] = [-6, 6] (scale 12/255, nudged zero point 128: -6/scale = -127.5)."""
    fx = load_fixture(str(FIXTURES / "op_fakequant"))
    model = graphc.compile(fx.model_path, target=target, input_shapes=fx.input_shapes)
    got = model.run(fx.inputs)
    for name, ref in fx.outputs.items():
        differ = np.argwhere(got[name] != ref)
        if name == "Identity":  # FakeQuantWithMinMaxArgs(x, -6, 6)
            assert [tuple(i) for i in differ] == [(0, 0, 0)] and fx.inputs["x"][0, 0, 0] == -6.0
            assert abs(got[name][0, 0, 0] - ref[0, 0, 0]) == pytest.approx(12 / 255, rel=1e-5)
        else:
            assert differ.size == 0, f"{name}: {len(differ)} of {ref.size} elements differ"


def _logits_step() -> float:
    """The grid of the fixture's output: the last FakeQuantWithMinMaxVars's nudged scale."""
    from graphc.frontends import tf_graphdef_schema as schema

    graph = schema.GraphDef()
    graph.ParseFromString((FIXTURES / "fakequant_cnn.pb").read_bytes())
    nodes = {n.name: n for n in graph.node}
    last = nodes[nodes["Identity"].input[0]]
    assert last.op == "FakeQuantWithMinMaxVars"

    def value(name):
        tensor = nodes[name].attr["value"].tensor
        return np.frombuffer(tensor.tensor_content, np.float32)[0] if tensor.tensor_content else tensor.float_val[0]

    scale, *_ = nudge(value(last.input[1]), value(last.input[2]), 8, False)
    return float(scale)


@pytest.mark.parametrize("target", TARGETS)
def test_fakequant_cnn_matches_tensorflow(target):
    """TensorFlow simulates the quantized network in float; graphc runs it as int8 layers whose
    int32 accumulators are requantized with a fixed-point multiplier, and whose float biases are
    rounded to int32 (TFLite's scheme). Each may move a value by one level of its layer's grid, so
    the logits may differ by one quantization step (never more)."""
    fx = load_fixture(str(FIXTURES / "fakequant_cnn"))
    model = graphc.compile(fx.model_path, target=target, input_shapes=fx.input_shapes)
    (name,) = fx.outputs
    got, ref = model.run(fx.inputs)[name], fx.outputs[name]
    step = _logits_step()
    steps = np.abs(got.astype(np.float64) - ref) / step
    assert steps.max() <= 1 + 1e-3, f"{np.count_nonzero(steps > 1e-3)} of {ref.size} differ; worst {steps.max():.2f} steps"


def test_fakequant_cnn_runs_as_int8_layers():
    """Both convolutions and the dense layer become quant.conv2d / quant.matmul with requantize; the
    weights are int8 constants (fake-quantized at import), the only float ops left are the input's
    quantize and the logits' dequantize."""
    fx = load_fixture(str(FIXTURES / "fakequant_cnn"))
    program, _ = load_program(fx.model_path, fx.input_shapes)
    run_pipeline(program)
    ops = Counter(op.name for op in program.module.walk())
    assert (ops["quant.conv2d"], ops["quant.matmul"], ops["quant.requantize"]) == (2, 1, 3)
    assert ops["graph.conv2d"] == ops["graph.matmul"] == 0
    assert (ops["quant.quantize"], ops["quant.dequantize"]) == (1, 1)


def _fake_quant_graph(op: str, **attrs) -> bytes:
    b = GraphBuilder()
    x = b.placeholder("x", [2, 3])
    if op == "FakeQuantWithMinMaxArgs":
        b.node(op, [x], name="y", **attrs)
    else:
        low, high = attrs.pop("min"), attrs.pop("max")
        b.node(op, [x, b.const(low), b.const(high)], name="y", **attrs)
    return b.serialize()


@pytest.mark.parametrize(
    "op, attrs, fragment",
    [
        ("FakeQuantWithMinMaxArgs", {"num_bits": 16}, "num_bits=16"),
        ("FakeQuantWithMinMaxArgs", {"min": 1.0, "max": -1.0}, "must be less than max"),
        ("FakeQuantWithMinMaxVars", {"min": [-1.0, -2.0], "max": [1.0, 2.0]}, "must be scalars"),
        ("FakeQuantWithMinMaxVarsPerChannel", {"min": [-1.0, -2.0], "max": [1.0, 2.0]}, "last dimension's 3 entries"),
    ],
)
def test_bad_fake_quant_is_one_line_naming_the_node(op, attrs, fragment):
    with pytest.raises(FrontendError) as info:
        import_graphdef(_fake_quant_graph(op, **attrs), source="m.pb")
    message = str(info.value)
    assert "\n" not in message and message.startswith("m.pb:") and "'y'" in message and fragment in message, message
