"""Fusion on every TensorFlow fixture: the fused program still matches TensorFlow's stored outputs,
every op lands in exactly one region, and the real models get the kernels we expect.

The fused IR is evaluated op by op with numpy (`graphc.dialects.semantics`; a region means its
body), independently of tests/test_models.py, which runs the same fused IR through the reference
backend under jax.jit.
"""

import collections
import os

import pytest

from graphc.context import parse_module
from graphc.dialects import fusion as f
from graphc.dialects import graph as g
from graphc.dialects.semantics import evaluate_program
from graphc.frontends import import_model
from graphc.passes import FUSION_PIPELINE
from graphc.pipeline import run_pipeline
from graphc.testing import compare_outputs, is_quantized_fixture, load_fixture

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "tf")
NAMES = sorted(n[:-3] for n in os.listdir(FIXTURES)
               if n.endswith(".pb") and not is_quantized_fixture(os.path.join(FIXTURES, n[:-3])))  # fmt: skip


def fused(name):
    fixture = load_fixture(os.path.join(FIXTURES, name))
    program = import_model(fixture.model_path, input_shapes=fixture.input_shapes)
    run_pipeline(program)
    graph_ops = [op for op in program.main.body.block.ops if isinstance(op, g.GraphOp)]
    run_pipeline(program, FUSION_PIPELINE, verify_each=True)
    return fixture, program, graph_ops


def regions(program):
    return [op for op in program.main.body.block.ops if isinstance(op, f.RegionOp)]


def kernels(program):
    """(kind, [op names]) per region, in order."""
    return [(r.kind_name, [op.name.removeprefix("graph.") for op in r.compute_ops()]) for r in regions(program)]


@pytest.mark.parametrize("name", NAMES)
def test_fused_fixture_matches_tensorflow_and_fuses_every_op(name):
    fixture, program, before = fused(name)
    problems = compare_outputs(evaluate_program(program, fixture.inputs), fixture.outputs)
    assert not problems, "; ".join(problems)
    outside = [op for op in program.main.body.block.ops if not isinstance(op, f.RegionOp)]
    assert all(isinstance(op, g.ConstantOp | g.ReshapeOp) for op in outside[:-1]), [op.name for op in outside]
    names = [r.region_name for r in regions(program)]
    assert names == [f"fusion_{i}" for i in range(len(names))]
    text = str(program.module)
    assert str(parse_module(text, f"{name}.mlir")) == text
    inside = {op.name for r in regions(program) for op in r.compute_ops()}
    plain = {op.name for op in before if not isinstance(op, g.ConstantOp | g.ReshapeOp | g.PadOp)}
    assert plain <= inside  # (identical ops that meet in one region are merged, so counts may drop)


def test_mobilenet_v2_is_one_conv_kernel_per_conv_batchnorm_relu6():
    _, program, _ = fused("mobilenet_v2")
    ks = kernels(program)
    convs = [ops for kind, ops in ks if kind == "conv"]
    assert len(convs) == 52
    for ops in convs:  # BN is one multiply-add after folding; relu6 is relu + min(6); projections add the residual
        assert ops[:3] == ["conv2d", "mul", "add"] and ops[3:] in ([], ["relu", "min"], ["add"]), ops
    assert ks[-3:] == [
        ("reduction", ["reduce_mean"]),
        ("matmul", ["matmul", "add"]),
        ("reduction", ["reduce_max", "sub", "exp", "reduce_sum", "div"]),
    ]
    assert len(ks) == 55
    assert not any(isinstance(op, g.PadOp) for op in program.module.walk())  # pads became conv padding
    softmax = regions(program)[-1]
    assert softmax.sweeps.value.data == 2


def test_digits_cnn_kernels():
    _, program, _ = fused("digits_cnn")
    assert kernels(program) == [
        ("conv", ["conv2d", "add", "relu"]),
        ("loop", ["max_pool"]),
        ("conv", ["conv2d", "add", "relu", "mul", "add"]),
        ("reduction", ["reduce_mean"]),
        ("matmul", ["matmul", "add"]),
        ("reduction", ["reduce_max", "sub", "exp", "reduce_sum", "div"]),
    ]


def test_transformer_block_kernels():
    _, program, _ = fused("transformer_block")
    ks = kernels(program)
    kinds = collections.Counter(kind for kind, _ in ks)
    assert kinds == {"matmul": 8, "reduction": 3}
    layer_norms = [ops for kind, ops in ks if kind == "reduction" and ops.count("reduce_mean") == 2]
    assert len(layer_norms) == 2
    attention_scores = [ops for kind, ops in ks if ops[:3] == ["transpose", "transpose", "matmul"]]
    assert attention_scores, "the transposes of Q and K should be operand views of the score matmul"


@pytest.mark.parametrize("name, most", [("gru", 18), ("lstm", 14), ("mlp", 4)])
def test_recurrent_and_mlp_kernel_counts(name, most):
    _, program, _ = fused(name)
    assert len(regions(program)) <= most
