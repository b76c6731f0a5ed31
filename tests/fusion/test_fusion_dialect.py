"""The fusion dialect: regions build, verify (structure and each kind's template), print, parse,
inline back, and mean their body."""

import numpy as np
import pytest
from xdsl.utils.exceptions import VerifyException

from graphc.context import parse_module
from graphc.dialects import fusion as f
from graphc.dialects import graph as g
from graphc.dialects.builder import ProgramBuilder
from graphc.dialects.semantics import evaluate_program

F32 = np.float32
ROW = dict(axes=g.ints_attr([1]), keepdims=g.int_attr(1))


def softmax_program(rows=4, cols=16):
    b = ProgramBuilder({"x": ((rows, cols), F32)})
    x = b.args["x"]
    m = b.op(g.ReduceMaxOp, x, **ROW)
    e = b.op(g.ExpOp, b.op(g.SubOp, x, m))
    s = b.op(g.ReduceSumOp, e, **ROW)
    return b.build({"y": b.op(g.DivOp, e, s), "s": s})


def compute_ops(program):
    block = program.main.body.block
    return [op for op in block.ops if not isinstance(op, g.ConstantOp) and op is not block.last_op]


def test_outline_builds_a_region_that_round_trips_and_evaluates_the_same():
    program = softmax_program()
    x = np.random.default_rng(0).normal(size=(4, 16)).astype(F32)
    before = evaluate_program(program, {"x": x})
    region = f.outline(compute_ops(program), "reduction", "fusion_0")
    program.module.verify()
    assert region.kind_name == "reduction" and region.region_name == "fusion_0"
    assert [str(t) for t in region.result_types] == ["tensor<4x1xf32>", "tensor<4x16xf32>"]  # program order
    assert g.get_ints(region.attributes, "shape") == (4, 16)
    assert g.get_ints(region.attributes, "reduce_axes") == (1,)
    assert region.sweeps.value.data == 2
    text = str(program.module)
    assert str(parse_module(text, "dump.mlir")) == text
    after = evaluate_program(program, {"x": x})
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])
    f.inline(region)
    program.module.verify()
    assert not any(isinstance(op, f.RegionOp) for op in program.main.body.block.ops)
    np.testing.assert_array_equal(evaluate_program(program, {"x": x})["y"], before["y"])


def test_reduction_plan_merges_online_softmax_and_welford():
    program = softmax_program()
    region = f.outline(compute_ops(program), "reduction")
    plan = f.reduction_plan(region)
    max_op, sum_op = plan.reductions
    assert plan.merged == {sum_op: ("online_softmax", max_op)}
    assert plan.sweep == {max_op: 1, sum_op: 1} and plan.sweeps == 2

    b = ProgramBuilder({"x": ((3, 8), F32)})
    x = b.args["x"]
    mean = b.op(g.ReduceMeanOp, x, **ROW)
    d = b.op(g.SubOp, x, mean)
    var = b.op(g.ReduceMeanOp, b.op(g.MulOp, d, d), **ROW)
    program = b.build({"y": b.op(g.MulOp, d, b.op(g.RsqrtOp, var))})
    region = f.outline(compute_ops(program), "reduction")
    plan = f.reduction_plan(region)
    assert plan.merged[plan.reductions[1]] == ("welford", plan.reductions[0]) and plan.sweeps == 2


def test_epilogue_plan_separates_prologue_epilogue_and_side_ops():
    b = ProgramBuilder({"x": ((4, 8), F32), "w": ((6, 8), F32), "bias": ((6,), F32)})
    wt = b.op(g.TransposeOp, b.args["w"], perm=g.ints_attr([1, 0]))
    mm = b.op(g.MatMulOp, b.args["x"], wt)
    bias = b.op(g.BroadcastToOp, b.args["bias"], shape=g.ints_attr([4, 6]))
    y = b.op(g.ReluOp, b.op(g.AddOp, mm, bias))
    program = b.build({"y": y})
    region = f.outline(compute_ops(program), "matmul")
    plan = f.epilogue_plan(region)
    assert [op.name for op in plan.prologue] == ["graph.transpose"]
    assert [op.name for op in plan.epilogue] == ["graph.add", "graph.relu"]
    assert [op.name for op in plan.side] == ["graph.broadcast_to"]
    assert isinstance(plan.root, g.MatMulOp)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("loop", "cannot be in a loop region"),
        ("matmul", "exactly one graph.matmul"),
        ("conv", "exactly one graph.conv2d"),
        ("opaque", "exactly one op"),
        ("fancy", "unknown kind"),
    ],
)
def test_a_body_that_does_not_fit_the_kind_is_rejected(kind, message):
    program = softmax_program()
    with pytest.raises(VerifyException, match=message):
        if kind == "fancy":
            region = f.outline(compute_ops(program)[:1], "opaque")
            region.attributes["kind"] = g.str_attr(kind)
            region.verify()
        else:
            f.outline(compute_ops(program), kind)


def test_loop_results_must_share_the_iteration_space():
    b = ProgramBuilder({"x": ((4, 8), F32)})
    e = b.op(g.ExpOp, b.args["x"])
    s = b.op(g.SliceOp, e, starts=g.ints_attr([0, 0]), limits=g.ints_attr([2, 8]), strides=g.ints_attr([1, 1]))
    program = b.build({"e": e, "s": s})
    with pytest.raises(VerifyException, match="must all have 32 elements"):
        f.outline(compute_ops(program), "loop")


def test_structure_is_verified():
    text = """
    func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
      %r = fusion.region "fusion_0" kind "loop"(%x) {shape = array<i64: 4>} : (tensor<4xf32>) -> tensor<4xf32> {
      ^bb0(%a: tensor<4xi32>):
        %0 = graph.abs %a : (tensor<4xi32>) -> tensor<4xi32>
        fusion.yield %0 : tensor<4xi32>
      }
      func.return %r : tensor<4xf32>
    }"""
    module = parse_module(text, "bad.mlir")
    with pytest.raises(VerifyException, match="block argument type"):
        module.verify()
    isolated = """
    func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
      %r = fusion.region "fusion_0" kind "loop"(%x) {shape = array<i64: 4>} : (tensor<4xf32>) -> tensor<4xf32> {
      ^bb0(%a: tensor<4xf32>):
        %0 = graph.add %a, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
        fusion.yield %0 : tensor<4xf32>
      }
      func.return %r : tensor<4xf32>
    }"""
    with pytest.raises(VerifyException):
        parse_module(isolated, "bad.mlir").verify()


def test_weights_are_never_inside_a_region():
    b = ProgramBuilder({"x": ((64,), F32)})
    w = b.const(np.arange(64, dtype=F32), "w")
    program = b.build({"y": b.op(g.MulOp, b.args["x"], w)})
    region = f.outline(compute_ops(program), "loop")
    assert len(region.inputs) == 2 and isinstance(region.inputs[1].owner, g.ConstantOp)
    small = ProgramBuilder({"x": ((4,), F32)})
    c = small.const(np.asarray(2.0, F32))
    program = small.build({"y": small.op(g.MulOp, small.args["x"], c)})
    region = f.outline(compute_ops(program), "loop")
    assert len(region.inputs) == 1 and isinstance(region.body_ops()[0], g.ConstantOp)
