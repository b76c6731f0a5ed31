"""Graph passes: each keeps the program's values and does the rewrite it promises."""

import numpy as np

from graphc.dialects.builder import ProgramBuilder
from graphc.context import parse_module
from graphc.dialects import graph as g
from graphc.dialects.resources import GraphProgram
from graphc.dialects.semantics import evaluate_program
from graphc.pipeline import run_pipeline

F32 = np.float32


def ops_of(program):
    return [op.name for op in program.main.body.block.ops]


def keras_batchnorm_program():
    """BatchNorm the way Keras 3 freezes it: weight arithmetic at run time, then x*a + b."""
    rng = np.random.default_rng(0)
    C = 32
    b = ProgramBuilder({"x": ((2, 3, 3, C), F32)})
    gamma, beta = b.const(rng.normal(size=C).astype(F32), "gamma"), b.const(rng.normal(size=C).astype(F32), "beta")
    mean, var = b.const(rng.normal(size=C).astype(F32), "mean"), b.const(rng.uniform(0.5, 2, size=C).astype(F32), "var")
    eps = b.const(np.asarray(1e-3, F32))
    a = b.op(g.MulOp, b.op(g.RsqrtOp, b.op(g.AddOp, var, eps)), gamma)
    shift = b.op(g.SubOp, beta, b.op(g.MulOp, mean, a))
    y = b.op(g.AddOp, b.op(g.MulOp, b.args["x"], a), shift)
    return b.build({"y": y})


def test_fold_constants_removes_all_weight_only_arithmetic():
    program = keras_batchnorm_program()
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 32)).astype(F32)
    before = evaluate_program(program, {"x": x})["y"]
    run_pipeline(program, "fold-constants")
    names = ops_of(program)
    assert names.count("graph.mul") == 1 and names.count("graph.add") == 1
    assert "graph.rsqrt" not in names and "graph.sub" not in names
    assert set(program.weights.arrays) and all(a.shape == (32,) for a in program.weights.arrays.values())
    np.testing.assert_allclose(evaluate_program(program, {"x": x})["y"], before, rtol=1e-6, atol=1e-6)


def test_fold_constants_does_not_blow_up_broadcasts():
    b = ProgramBuilder({"x": ((256, 256), F32)})
    big = b.op(g.BroadcastToOp, b.const(np.asarray(2.0, F32)), shape=g.ints_attr([256, 256]))
    program = b.build({"y": b.op(g.MulOp, b.args["x"], big)})
    run_pipeline(program, "fold-constants")
    assert "graph.broadcast_to" in ops_of(program)


def test_decompose_then_fold_leaves_one_multiply_add_for_batch_norm():
    rng = np.random.default_rng(2)
    b = ProgramBuilder({"x": ((1, 2, 2, 3), F32)})
    params = [b.const(rng.uniform(0.5, 1.5, size=3).astype(F32), n) for n in ("s", "o", "m", "v")]
    y = b.op(g.BatchNormOp, b.args["x"], *params, epsilon=g.float_attr(1e-3))
    program = b.build({"y": b.op(g.SoftmaxOp, y, axis=g.int_attr(3))})
    x = rng.normal(size=(1, 2, 2, 3)).astype(F32)
    before = evaluate_program(program, {"x": x})["y"]
    run_pipeline(program, "decompose,fold-constants,eliminate-dead-code")
    names = ops_of(program)
    assert "graph.batch_norm" not in names and "graph.softmax" not in names
    assert names.count("graph.mul") == 1
    np.testing.assert_allclose(evaluate_program(program, {"x": x})["y"], before, rtol=1e-5, atol=1e-6)


def test_canonicalize_merges_transposes_and_drops_identities():
    b = ProgramBuilder({"x": ((2, 3, 4), F32)})
    t1 = b.op(g.TransposeOp, b.args["x"], perm=g.ints_attr([0, 2, 1]))
    t2 = b.op(g.TransposeOp, t1, perm=g.ints_attr([0, 2, 1]))
    r = b.op(g.ReshapeOp, b.op(g.ReshapeOp, t2, shape=g.ints_attr([6, 4])), shape=g.ints_attr([2, 12]))
    program = b.build({"y": r})
    run_pipeline(program, "canonicalize-graph,eliminate-dead-code")
    assert ops_of(program) == ["graph.reshape", "func.return"]


def test_infer_shapes_follows_an_edited_signature():
    b = ProgramBuilder({"x": ((1, 4), F32)})
    y = b.op(g.ReduceSumOp, b.op(g.ExpOp, b.args["x"]), axes=g.ints_attr([1]), keepdims=g.int_attr(0))
    text = str(b.build({"y": y}).module).replace("1x4xf32", "8x4xf32")
    module = parse_module(text.replace("tensor<1xf32>", "tensor<8xf32>"), "edited.mlir")
    program = GraphProgram(module, b.weights)
    run_pipeline(program, "infer-shapes")
    module.verify()
    assert [int(d) for d in program.main.function_type.outputs.data[0].get_shape()] == [8]


def test_every_stage_prints_and_parses_back():
    program = keras_batchnorm_program()

    def reparse(index, module_pass, module):
        text = str(module)
        assert "dense_resource" in text and str(parse_module(text, "dump.mlir")) == text

    run_pipeline(program, verify_each=True, after_pass=reparse)
