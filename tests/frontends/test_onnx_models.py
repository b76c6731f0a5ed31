"""Real ONNX models from real exporters compile through graphc and match onnxruntime's outputs.

Fixtures are `tests/fixtures/onnx/NAME.onnx` + `NAME.npz` + `NAME.json` (the `graphc.testing`
format), written by `tools/export_onnx_models.py`: a ResNet-style NCHW CNN and a transformer
encoder layer exported by torch's dynamo exporter, and the TF digits CNN converted by tf2onnx.
The `.npz` holds onnxruntime's outputs; tolerances are `graphc.testing`'s (float32:
1e-4·max(1, max|ref|) + 1e-3·|ref|). New fixtures are picked up automatically.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc
from graphc.testing import compare_outputs, is_quantized_fixture, load_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "onnx"
TF_FIXTURES = FIXTURES.parent / "tf"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.onnx"))
FLOAT_MODELS = [n for n in NAMES if not is_quantized_fixture(str(FIXTURES / n))]  # quantized: test_onnx_quantized.py
TARGETS = ["cpu", "reference"]


def fixture(name: str):
    return load_fixture(str(FIXTURES / name), model_suffix=".onnx")


def test_the_exported_models_are_all_there():
    assert {"digits_cnn", "resnet_nchw", "transformer_encoder"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_stored_outputs_are_onnxruntimes(name):
    """The fixture is self-consistent: onnxruntime, run here on the stored inputs, reproduces the
    stored outputs (so a regenerated or edited .onnx cannot silently keep stale outputs)."""
    import onnxruntime

    fx = fixture(name)
    session = onnxruntime.InferenceSession(fx.model_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert names == fx.meta["outputs"]
    got = dict(zip(names, session.run(names, fx.inputs)))
    problems = compare_outputs(got, fx.outputs)
    assert not problems, "; ".join(problems)


KNOWN_FAILURES: dict[tuple[str, str], str] = {
    # (fixture, target) -> reason; strict xfails, so a fix fails the run until the entry goes.
}


def model_cases():
    for name in FLOAT_MODELS:
        for target in TARGETS:
            reason = KNOWN_FAILURES.get((name, target))
            marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)] if reason else []
            yield pytest.param(name, target, marks=marks, id=f"{name}-{target}")


@pytest.mark.parametrize("name, target", list(model_cases()))
def test_model_matches_onnxruntime(name, target):
    fx = fixture(name)
    model = graphc.compile(fx.model_path, target=target, input_shapes=fx.input_shapes)
    assert model.input_names == list(fx.meta["inputs"])
    assert model.output_names == fx.meta["outputs"]
    problems = compare_outputs(model.run(fx.inputs), fx.outputs)
    assert not problems, f"{name} on {target}: " + "; ".join(problems)


def test_digits_cnn_from_tf2onnx_predicts_like_tensorflow_on_the_test_set():
    """The whole digits test set (450 images) through the tf2onnx file, batch size chosen at compile
    time: graphc's predictions equal TensorFlow's own (stored with the TF fixture)."""
    with np.load(TF_FIXTURES / "digits_cnn_testset.npz") as data:
        x, y, tf_pred = data["x"].astype(np.float32), data["y"], data["tf_pred"]
    model = graphc.compile(str(FIXTURES / "digits_cnn.onnx"), target="cpu", input_shapes={"image": x.shape})
    (probs,) = model.run({"image": x}).values()
    pred = probs.argmax(axis=1)
    np.testing.assert_array_equal(pred, tf_pred)
    assert (pred == y).mean() > 0.9


def test_resnet_through_the_command_line(tmp_path):
    fx = fixture("resnet_nchw")
    inputs, outputs, artifact = tmp_path / "in.npz", tmp_path / "out.npz", tmp_path / "resnet.gcx"
    np.savez(inputs, **fx.inputs)
    cli = [sys.executable, "-m", "graphc.cli"]
    done = subprocess.run([*cli, "compile", fx.model_path, "-o", str(artifact), "-q"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([*cli, "run", str(artifact), "--inputs", str(inputs), "--out", str(outputs)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with np.load(outputs) as got:
        problems = compare_outputs(dict(got), fx.outputs)
    assert not problems, "; ".join(problems)


def boundary_and_interior_transposes(program) -> tuple[list, list]:
    """`graph.transpose` ops split into those at the model boundary (reading a function argument,
    or feeding only the return) and the rest."""
    arguments = set(program.main.args)
    boundary, interior = [], []
    for op in program.module.walk():
        if op.name != "graph.transpose":
            continue
        reads_argument = op.operands[0] in arguments
        uses = list(op.results[0].uses)
        feeds_return = bool(uses) and all(use.operation.name == "func.return" for use in uses)
        (boundary if reads_argument or feeds_return else interior).append(op)
    return boundary, interior


def test_resnet_has_no_transpose_inside_after_the_default_pipeline():
    """The layout pass (issue 4) runs the NCHW CNN in the backend's layout: weight transposes fold
    into constants and activation transposes cancel, leaving at most one per input at the boundary
    (the user's NCHW image); the logits (1, 10) need none."""
    from graphc.driver import compile_to

    fx = fixture("resnet_nchw")
    program = compile_to(fx.model_path, "graph", fx.input_shapes)
    boundary, interior = boundary_and_interior_transposes(program)
    assert not interior, f"{len(interior)} transposes inside the model, e.g. {interior[0]}"
    assert len(boundary) <= len(program.main.args)
