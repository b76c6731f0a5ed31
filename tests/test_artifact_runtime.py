"""Artifacts round-trip through a file; the runtime checks inputs and rejects damaged files."""

import numpy as np
import pytest

import graphc
from graphc.dialects.builder import ProgramBuilder
from graphc.backends.registry import get_backend
from graphc.dialects import graph as g
from graphc.dialects.semantics import evaluate_program
from graphc.driver import compile_program
from graphc.runtime import ArtifactError, RuntimeInputError

F32 = np.float32


def small_program():
    rng = np.random.default_rng(0)
    b = ProgramBuilder({"x": ((2, 8), F32)})
    h = b.op(g.MatMulOp, b.args["x"], b.const(rng.normal(size=(8, 32)).astype(F32), "w1"))
    h = b.op(g.ReluOp, b.op(g.AddOp, h, b.const(rng.normal(size=32).astype(F32), "b1")))
    return b.build({"logits": h, "probs": b.op(g.SoftmaxOp, h, axis=g.int_attr(1))})


@pytest.fixture(scope="module")
def saved_reference(tmp_path_factory):
    program = small_program()
    compiled = compile_program(program.clone(), get_backend("reference"))
    path = tmp_path_factory.mktemp("art") / "m.gcx"
    compiled.save(path)
    return program, str(path)


def test_saved_artifact_runs_like_the_semantics(saved_reference):
    program, path = saved_reference
    x = np.random.default_rng(1).normal(size=(2, 8)).astype(F32)
    expected = evaluate_program(program, {"x": x})
    got = graphc.load(path).run({"x": x})
    assert list(got) == ["logits", "probs"]
    for k in expected:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-5, atol=1e-6)


def test_artifact_has_no_pickle_and_keeps_weights_outside_the_ir(saved_reference):
    import zipfile

    _, path = saved_reference
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        ir = z.read("code/graph.mlir").decode()
    assert "manifest.json" in names and any(n.startswith("weights/") for n in names)
    assert "dense_resource<w1>" in ir and "0x" not in ir


@pytest.mark.parametrize(
    "inputs,message",
    [
        ({}, "missing input(s) 'x'"),
        ({"x": np.zeros((2, 8), F32), "z": np.zeros(1)}, "unknown input(s) 'z'"),
        ({"x": np.zeros((3, 8), F32)}, "has shape [3, 8], expected [2, 8]"),
        ({"x": np.zeros((2, 8), np.float64)}, "has dtype float64, expected float32"),
        ([np.zeros((2, 8), F32)], "inputs must be a dict of input name → array (expected x), not a list"),
    ],
)
def test_runtime_rejects_wrong_inputs_with_one_line(saved_reference, inputs, message):
    _, path = saved_reference
    with pytest.raises(RuntimeInputError) as err:
        graphc.load(path).run(inputs)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04garbage", b"hello world\n"])
def test_damaged_artifacts_are_reported(tmp_path, content):
    path = tmp_path / "bad.gcx"
    path.write_bytes(content)
    with pytest.raises(ArtifactError, match="bad.gcx: not a graphc artifact"):
        graphc.load(str(path))


@pytest.mark.parametrize("target", ["cpu", "reference"])
def test_outputs_can_be_written_into_the_callers_arrays(target):
    program = small_program()
    model = compile_program(program.clone(), get_backend(target))
    x = np.random.default_rng(2).normal(size=(2, 8)).astype(F32)
    fresh = model.run({"x": x})
    out = {name: np.empty_like(value) for name, value in fresh.items()}
    got = model.run({"x": x}, out=out)
    for name in fresh:
        assert got[name] is out[name]
        np.testing.assert_array_equal(out[name], fresh[name])
    with pytest.raises(RuntimeInputError, match="output 'probs' is float64"):
        model.run({"x": x}, out={**out, "probs": np.empty((2, 32))})
