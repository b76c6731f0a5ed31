"""Tests of the `c` backend against graphc's reference semantics and TensorFlow's stored outputs."""

from __future__ import annotations

import os

import numpy as np
import pytest

import graphc
from graphc.backends.registry import get_backend
from graphc.dialects import graph as g
from graphc.dialects.builder import ProgramBuilder
from graphc.dialects.semantics import evaluate_program
from graphc.driver import compile_program
from graphc.errors import GraphcError
from graphc.testing import load_fixture

MLP = os.path.join(os.path.dirname(graphc.__file__), os.pardir, "tests", "fixtures", "tf", "mlp")


def compile_c(program):
    return compile_program(program, get_backend("c"))


def test_registered_as_target():
    backend = get_backend("c")
    assert backend.name == "c" and backend.supports_fusion is False


@pytest.mark.skipif(not os.path.exists(MLP + ".pb"), reason="graphc's source tree (MLP fixture) not found")
def test_mlp_matches_tensorflow():
    fixture = load_fixture(MLP)
    model = graphc.driver.compile(MLP + ".pb", target="c", input_shapes={"x": (4, 20)})
    results = model.run(fixture.inputs)
    for name, expected in fixture.outputs.items():
        np.testing.assert_allclose(results[name], expected, rtol=1e-5, atol=1e-6)


def test_broadcasting_reductions_and_matmul_match_reference():
    rng = np.random.default_rng(1)
    b = ProgramBuilder({"x": ((2, 3, 4), np.float32), "y": ((3, 1), np.float32)})
    x, y = b.args["x"], b.args["y"]
    s = b.op(g.AddOp, x, y)  # (2,3,4) + (3,1)
    s = b.op(g.MulOp, b.const(rng.standard_normal(4).astype(np.float32), "scale"), s)  # (4,) * (2,3,4)
    s = b.op(g.TanhOp, b.op(g.SubOp, s, b.const(np.float32(0.5), "half")))
    mx = b.op(g.ReduceMaxOp, s, axes=g.ints_attr([2]), keepdims=g.IntegerAttr(1, 64))
    mean = b.op(g.ReduceMeanOp, s, axes=g.ints_attr([2]), keepdims=g.IntegerAttr(0, 64))
    w = b.const(rng.standard_normal((2, 4, 5)).astype(np.float32), "w")
    mm = b.op(g.MatMulOp, b.op(g.DivOp, s, b.op(g.ExpOp, mx)), w)  # batched (2,3,4) @ (2,4,5)
    program = b.build({"mm": mm, "mean": mean})
    inputs = {"x": rng.standard_normal((2, 3, 4)).astype(np.float32),
              "y": rng.standard_normal((3, 1)).astype(np.float32)}  # fmt: skip
    expected = {k: np.asarray(v) for k, v in evaluate_program(program, inputs).items()}
    results = compile_c(program).run(inputs)
    for name in expected:
        np.testing.assert_allclose(results[name], expected[name], rtol=1e-5, atol=1e-6)


def test_unsupported_op_is_one_line_error():
    b = ProgramBuilder({"x": ((2, 3), np.float32)})
    out = b.op(g.TransposeOp, b.args["x"], perm=g.ints_attr([1, 0]))
    program = b.build({"out": out})
    with pytest.raises(GraphcError, match="unsupported op 'graph.transpose'") as info:
        compile_c(program)
    assert "\n" not in str(info.value)


def test_reduction_over_a_leading_axis_is_rejected():
    b = ProgramBuilder({"x": ((2, 3), np.float32)})
    out = b.op(g.ReduceSumOp, b.args["x"], axes=g.ints_attr([0]), keepdims=g.IntegerAttr(0, 64))
    with pytest.raises(GraphcError, match="only the last axis"):
        compile_c(b.build({"out": out}))


def test_artifact_holds_source_and_library(tmp_path):
    b = ProgramBuilder({"x": ((8,), np.float32)})
    out = b.op(g.ReluOp, b.args["x"])
    model = compile_c(b.build({"out": out}))
    path = tmp_path / "relu.gcx"
    model.save(path)
    loaded = graphc.runtime.load(str(path))
    assert b"graphc_main" in loaded.artifact.sections["kernels.c"]
    x = np.linspace(-1, 1, 8, dtype=np.float32)
    np.testing.assert_array_equal(loaded.run({"x": x})["out"], np.maximum(x, 0))
