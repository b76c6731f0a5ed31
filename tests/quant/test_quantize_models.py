"""`--quantize int8` end to end on real fixtures: the CPU backend's int8 model agrees with the
reference backend's (same quantized IR: integers bit-exact, float edges within f32 tolerance), the
quantized model stays close to the float one, and the CLI reports and errors as promised."""

import os
import subprocess
import sys

import numpy as np
import pytest

import graphc
from graphc.backends.registry import get_backend
from graphc.calibration import QuantizeOptions, batches, observe
from graphc.dialects.resources import GraphProgram
from graphc.driver import compile_program, compile_to
from graphc.passes import QUANTIZE_PIPELINE
from graphc.pipeline import run_pipeline
from graphc.dialects import quant as q
from graphc.errors import GraphcError
from graphc.testing import compare_outputs, load_fixture

TF = os.path.join(os.path.dirname(__file__), "..", "fixtures", "tf")
DIGITS_CALIBRATION = os.path.join(TF, "digits_cnn_calibration.npz")


def synthetic(shape, count, seed=1234):
    """Seeded standard-normal calibration inputs (the fixtures' own inputs are standard normal)."""
    return np.random.default_rng(seed).standard_normal((count, *shape)).astype(np.float32)


def quantized_graph(stem: str, samples, observer="percentile"):
    """The fixture and its program after the graph passes and quantization (one calibration)."""
    fx = load_fixture(os.path.join(TF, stem))
    program = compile_to(fx.model_path, "graph", fx.input_shapes)
    QuantizeOptions(samples, observer).calibrate(program)
    run_pipeline(program, QUANTIZE_PIPELINE, verify_each=True)
    return fx, program


def compile_quantized(program, target: str, **options):
    return compile_program(GraphProgram(program.module.clone(), program.weights), get_backend(target), stage="graph",
                           **options)  # fmt: skip


def compile_both(stem: str, samples, observer="percentile"):
    """The model quantized once (one calibration), compiled for the cpu and reference backends."""
    fx, program = quantized_graph(stem, samples, observer)
    return fx, compile_quantized(program, "cpu"), compile_quantized(program, "reference")


def int8_layers(model) -> tuple[int, int]:
    ops = list(model.program.module.walk())
    quantized = sum(isinstance(o, q.Conv2DOp | q.MatMulOp) for o in ops)
    float_roots = sum(o.name in ("graph.conv2d", "graph.matmul") for o in ops)
    return quantized, float_roots


@pytest.mark.parametrize("stem, layers", [("digits_cnn", 3), ("mlp", 3), ("mobilenet_v2", 53)])
def test_cpu_int8_model_matches_reference(stem, layers):
    fx = load_fixture(os.path.join(TF, stem))
    ((name, x),) = fx.inputs.items()
    samples = DIGITS_CALIBRATION if stem == "digits_cnn" else {name: synthetic(x.shape[1:], 4)}
    fx, cpu, ref = compile_both(stem, samples)
    assert int8_layers(cpu) == (layers, 0)
    got, want = cpu.run(fx.inputs), ref.run(fx.inputs)
    assert compare_outputs(got, want) == []
    # and int8 is close to the framework's float outputs (the probabilities of a softmax)
    assert np.abs(got[fx.meta["outputs"][0]] - fx.outputs[fx.meta["outputs"][0]]).max() < 0.05


@pytest.mark.parametrize("stem", ["digits_cnn", "mobilenet_v2"])
def test_cpu_int8_without_fusion_equals_fused(stem):
    """`--no-fusion`: every quant op is a kernel of its own (the backend gives it a one-op region).
    The integer layers compute the same integers; the float softmax at the end, fused or not, rounds
    differently, so the outputs agree to f32 tolerance."""
    fx = load_fixture(os.path.join(TF, stem))
    ((name, x),) = fx.inputs.items()
    samples = DIGITS_CALIBRATION if stem == "digits_cnn" else {name: synthetic(x.shape[1:], 4)}
    fx, program = quantized_graph(stem, samples)
    fused, unfused = compile_quantized(program, "cpu"), compile_quantized(program, "cpu", fusion=False)
    assert len(unfused.artifact.schedule) > len(fused.artifact.schedule)
    assert int8_layers(unfused)[0] == int8_layers(fused)[0] > 0
    assert compare_outputs(unfused.run(fx.inputs), fused.run(fx.inputs)) == []


def test_digits_int8_accuracy_matches_float():
    fx, cpu, _ = compile_both("digits_cnn", DIGITS_CALIBRATION)
    data = np.load(os.path.join(TF, "digits_cnn_testset.npz"))
    x, y, tf_pred = data["x"], data["y"], data["tf_pred"]
    n = len(x) // 8 * 8
    pred = np.concatenate([cpu.run({"image": x[i : i + 8]})["Identity"].argmax(1) for i in range(0, n, 8)])
    float_accuracy = (tf_pred[:n] == y[:n]).mean()
    assert (pred == y[:n]).mean() >= float_accuracy - 0.005


def test_percentile_ranges_lie_within_minmax():
    fx = load_fixture(os.path.join(TF, "digits_cnn"))
    program = compile_to(fx.model_path, "graph", fx.input_shapes)
    inputs = batches(program, {"image": np.load(DIGITS_CALIBRATION)["image"][:64]})
    full = observe(program, inputs, "minmax")
    clipped = observe(program, inputs, "percentile")
    assert full.keys() == clipped.keys() and len(full) > 5
    for v, (lo, hi) in full.items():
        assert lo <= clipped[v][0] <= clipped[v][1] <= hi
    assert any(clipped[v] != full[v] for v in full)


def graphc_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "graphc.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_quantize_report_and_ir_dump(tmp_path):
    args = ["compile", os.path.join(TF, "digits_cnn.pb"), "--input-shape", "image=8x8x8x1", "--quantize", "int8",
            "--calibration", DIGITS_CALIBRATION, "--report", "-o", str(tmp_path / "d.gcx"),
            "--print-ir-after", "fold-qdq"]  # fmt: skip
    r = graphc_cli(*args)
    assert r.returncode == 0, r.stderr
    assert "int8: 3 of 3 conv/matmul layers" in r.stdout
    assert "fusion_1  quant.conv2d    int8" in r.stdout
    ir = r.stderr
    assert "quant.quantize" in ir and "scale = array<f32:" in ir and "zero_point = array<i64: -128>" in ir
    assert "quant.requantize" in ir and "multiplier = array<i64:" in ir and "input_zero_point = -128 : i64" in ir
    # only one quantize (the model's input) and one dequantize pair survive folding between the two convs
    assert ir.count("quant.quantize") == 2 and "graph.max_pool" in ir


def test_cli_quantized_graph_stage_resumes(tmp_path):
    """`--compile-to graph --quantize int8` dumps the quantized graph; compiling that dump gives the
    same model as quantizing directly."""
    model = os.path.join(TF, "digits_cnn.pb")
    common = ["--input-shape", "image=8x8x8x1", "--quantize", "int8", "--calibration", DIGITS_CALIBRATION]
    stage = tmp_path / "d.graph.mlir"
    r = graphc_cli("compile", model, *common, "--compile-to", "graph", "-o", str(stage))
    assert r.returncode == 0, r.stderr
    assert "quant.conv2d" in stage.read_text() and "quant.range" in stage.read_text()
    r = graphc_cli("compile", str(stage), "-o", str(tmp_path / "resumed.gcx"))
    assert r.returncode == 0, r.stderr
    r = graphc_cli("compile", model, *common, "-o", str(tmp_path / "direct.gcx"))
    assert r.returncode == 0, r.stderr
    x = load_fixture(os.path.join(TF, "digits_cnn")).inputs
    resumed, direct = graphc.load(str(tmp_path / "resumed.gcx")), graphc.load(str(tmp_path / "direct.gcx"))
    np.testing.assert_array_equal(resumed.run(x)["Identity"], direct.run(x)["Identity"])
    r = graphc_cli("compile", model, *common, "--compile-to", "import", "-o", str(tmp_path / "i.mlir"))
    assert r.returncode == 1 and "--quantize needs --compile-to graph or fusion" in r.stderr


@pytest.mark.parametrize("extra, message", [
    (["--quantize", "int8"], "--quantize int8 needs --calibration"),
    (["--calibration", DIGITS_CALIBRATION], "--calibration needs --quantize int8"),
    (["--quantize", "int8", "--calibration", "missing.npz"], "cannot read calibration samples"),
])  # fmt: skip
def test_cli_quantize_errors_are_one_line(tmp_path, extra, message):
    r = graphc_cli("compile", os.path.join(TF, "digits_cnn.pb"), "--input-shape", "image=8x8x8x1",
                   "-o", str(tmp_path / "d.gcx"), *extra)  # fmt: skip
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1


def test_samples_of_the_wrong_shape_are_a_clear_error():
    fx = load_fixture(os.path.join(TF, "digits_cnn"))
    with pytest.raises(GraphcError, match=r"samples for 'image' have shape \[4, 5\]"):
        graphc.compile(fx.model_path, "reference", fx.input_shapes,
                       quantize=QuantizeOptions({"image": np.zeros((4, 5), np.float32)}))  # fmt: skip
    with pytest.raises(GraphcError, match="no samples for input"):
        graphc.compile(fx.model_path, "reference", fx.input_shapes, quantize=QuantizeOptions({"x": np.zeros(3)}))
    with pytest.raises(GraphcError, match="unknown calibration observer"):
        QuantizeOptions({}, "histogram")
