"""`graphc debug` (graphc.debug.find_divergence): a backend with a planted bug, and one without."""

import os

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import DenseResourceAttr
from xdsl.rewriter import Rewriter

from graphc import cli
from graphc.backends.cpu.backend import CpuBackend
from graphc.debug import expose_intermediates, find_divergence
from graphc.dialects import graph as g
from graphc.frontends import import_model
from graphc.pipeline import run_pipeline
from graphc.testing import load_fixture

MLP = os.path.join(os.path.dirname(__file__), "fixtures", "tf", "mlp")


class ReluBecomesAbs(CpuBackend):
    """The CPU backend with a planted bug: the first `graph.relu` is compiled as `graph.abs`."""

    name = "planted-relu"

    def compile(self, program):
        relu = next(op for op in program.main.body.block.ops if isinstance(op, g.ReluOp))
        Rewriter.replace_op(relu, g.AbsOp(operands=[relu.operands[0]], result_types=[relu.result.type]))
        return super().compile(program)


class PerturbedWeight(CpuBackend):
    """The CPU backend with a planted bug: 0.5 is added to the second weight (a dense layer's bias)."""

    name = "planted-weight"

    def compile(self, program):
        weights = [op for op in program.main.body.block.ops
                   if isinstance(op, g.ConstantOp) and isinstance(op.value, DenseResourceAttr)]  # fmt: skip
        name = weights[1].value.resource_handle.data
        program.weights.arrays[name] = program.weights.arrays[name] + np.float32(0.5)  # a new array, not in place
        return super().compile(program)


@pytest.fixture(scope="module")
def mlp():
    fixture = load_fixture(MLP)
    program = import_model(fixture.model_path, input_shapes=fixture.input_shapes)
    run_pipeline(program)
    ops = [op for op in program.main.body.block.ops if not isinstance(op, func.ReturnOp)]
    return fixture, program, ops


def test_a_correct_backend_has_no_divergence(mlp):
    fixture, _, ops = mlp
    report = find_divergence(fixture.model_path, fixture.inputs, target="cpu")
    assert report.first is None
    assert report.compared == len(ops)
    assert report.format().startswith("no divergence")


def test_the_planted_relu_bug_is_named(mlp):
    fixture, _, ops = mlp
    relu_index = next(i for i, op in enumerate(ops) if isinstance(op, g.ReluOp))
    report = find_divergence(fixture.model_path, fixture.inputs, target=ReluBecomesAbs())
    first = report.first
    assert first is not None
    assert (first.index, first.op_name) == (relu_index, "graph.relu")
    assert first.operands_agree  # the relu itself is wrong, not its input
    assert first.got.min > 0 and first.expected.min == 0  # |x| vs max(x, 0)
    assert first.max_abs_error > 0.1 and first.got.nan == 0
    assert first.type == "tensor<4x64xf32>"
    # everything downstream diverges too, inherited
    assert len(report.divergences) > 1 and not any(d.operands_agree for d in report.divergences[1:])
    text = report.format()
    assert f"first divergence: op #{relu_index} graph.relu" in text
    assert "planted-relu:" in text and "reference:" in text and "next divergent ops" in text


def test_a_perturbed_weight_is_named(mlp):
    fixture, program, ops = mlp
    report = find_divergence(program, fixture.inputs, target=PerturbedWeight())
    first = report.first
    assert first is not None and first.op_name == "graph.constant"
    assert first.node is not None and first.node.startswith("weight ")
    weight_indices = [i for i, op in enumerate(ops)
                      if isinstance(op, g.ConstantOp) and isinstance(op.value, DenseResourceAttr)]  # fmt: skip
    assert first.index == weight_indices[1]
    # the consumer (the bias add) is the next divergence; the reference's weights were untouched
    assert report.divergences[1].op_name == "graph.add"
    assert find_divergence(program, fixture.inputs, target="cpu").first is None


def test_expose_intermediates_returns_every_result(mlp):
    _, program, ops = mlp
    augmented, keys = expose_intermediates(program)
    augmented.module.verify()
    assert len(keys) == len(ops)
    assert augmented.output_names[: len(program.output_names)] == program.output_names
    assert len(augmented.output_names) == len(set(augmented.output_names)) == len(ops)  # the output is an op result too
    assert len(list(program.main.function_type.outputs)) == 1  # the original is untouched


def test_cli_names_the_planted_op(mlp, tmp_path, monkeypatch, capsys):
    fixture, _, ops = mlp
    import graphc.debug

    real = graphc.debug.get_backend
    monkeypatch.setattr(graphc.debug, "get_backend", lambda name: ReluBecomesAbs() if name == "planted" else real(name))
    inputs = tmp_path / "x.npz"
    np.savez(inputs, **fixture.inputs)
    relu_index = next(i for i, op in enumerate(ops) if isinstance(op, g.ReluOp))
    assert cli.main(["debug", fixture.model_path, "--inputs", str(inputs), "--target", "planted"]) == 1
    out = capsys.readouterr().out
    assert f"first divergence: op #{relu_index} graph.relu" in out
    assert cli.main(["debug", fixture.model_path, "--inputs", str(inputs)]) == 0
    assert "no divergence" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    inputs = tmp_path / "wrong.npz"
    np.savez(inputs, x=np.zeros((4, 20), np.float64))
    assert cli.main(["debug", MLP + ".pb", "--inputs", str(inputs)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "float64" in err
    assert cli.main(["debug", MLP + ".pb", "--inputs", str(tmp_path / "nope.npz")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err
    assert cli.main(["debug", MLP + ".pb", "--inputs", MLP + ".npz", "--target", "tpu9000"]) == 1
    assert "unknown target 'tpu9000'" in capsys.readouterr().err
