"""The fusion cost model on its own: bytes per op and per kernel, recomputation, priorities, limits."""

import numpy as np

from graphc.dialects import graph as g
from graphc.dialects.builder import ProgramBuilder
from graphc.passes import fusion_cost_model as cm

F32 = np.float32


def ops_of(program):
    block = program.main.body.block
    return [op for op in block.ops if not isinstance(op, g.ConstantOp) and op is not block.last_op]


def chain():
    """relu(x * a + b) with x 64x32 and per-column a, b."""
    b = ProgramBuilder({"x": ((64, 32), F32), "a": ((32,), F32), "b": ((32,), F32)})
    m = b.op(g.MulOp, b.args["x"], b.args["a"])
    s = b.op(g.AddOp, m, b.args["b"])
    return b.build({"y": b.op(g.ReluOp, s)})


def test_an_op_alone_reads_its_operands_and_writes_its_results():
    mul, add, relu = ops_of(chain())
    assert cm.value_bytes(mul.results[0]) == 64 * 32 * 4
    cost = cm.op_cost(mul)
    assert (cost.bytes_read, cost.bytes_written, cost.kernels) == (8192 + 128, 8192, 1)
    assert cm.unfused_cost([mul, add, relu]).bytes == 3 * 8192 + 2 * 8192 + 2 * 128 + 8192


def test_a_fused_chain_reads_its_inputs_once_and_writes_its_result_once():
    ops = ops_of(chain())
    cost = cm.group_cost(ops, "loop")
    assert (cost.bytes_read, cost.bytes_written, cost.recompute_flops, cost.kernels) == (8192 + 256, 8192, 0, 1)
    saved = cm.unfused_cost(ops).total() - cost.total()
    assert saved == 4 * 8192 + 2 * cm.DEFAULT.kernel_overhead_bytes
    mul, add, relu = ops
    assert cm.priority([mul], "loop", [add], "loop", [mul, add], "loop") == 2 * 8192 + cm.DEFAULT.kernel_overhead_bytes


def test_a_broadcast_producer_is_recomputed_at_every_consumer_point():
    b = ProgramBuilder({"v": ((1024,), F32), "x": ((1024, 1024), F32)})
    e = b.op(g.ExpOp, b.args["v"])
    y = b.op(g.MulOp, b.args["x"], e)
    program = b.build({"y": y})
    exp, mul = ops_of(program)
    evals = cm.evaluations([exp, mul], "loop")
    assert evals[exp] == 1024 * 1024 and evals[mul] == 1024 * 1024
    cost = cm.group_cost([exp, mul], "loop")
    assert cost.recompute_flops == (1024 * 1024 - 1024) * cm.flops_per_element(exp)
    assert cm.priority([exp], "loop", [mul], "loop", [exp, mul], "loop") < 0  # 20M flops cost more than 8 KiB


def test_row_values_in_a_reduction_are_computed_once_per_row():
    b = ProgramBuilder({"x": ((256, 64), F32)})
    x = b.args["x"]
    s = b.op(g.ReduceSumOp, x, axes=g.ints_attr([1]), keepdims=g.int_attr(1))
    r = b.op(g.RsqrtOp, s)
    program = b.build({"y": b.op(g.MulOp, x, r)})
    ops = ops_of(program)
    assert cm.group_cost(ops, "reduction").recompute_flops == 0
    assert cm.group_cost(ops, "loop").recompute_flops > 0  # a loop template would recompute rsqrt per element


def test_pooling_reads_each_producer_element_once_per_window_tap():
    b = ProgramBuilder({"x": ((1, 8, 8, 4), F32)})
    r = b.op(g.ReluOp, b.args["x"])
    p = b.op(g.MaxPoolOp, r, window=g.ints_attr([3, 3]), strides=g.ints_attr([1, 1]), pads=g.ints_attr([1, 1, 1, 1]))
    relu, pool = ops_of(b.build({"y": p}))
    assert cm.evaluations([relu, pool], "loop")[relu] == 9 * 8 * 8 * 4


def test_free_ops_cost_nothing_and_limits_bound_a_kernel():
    b = ProgramBuilder({"x": ((64, 32), F32)})
    r = b.op(g.ReshapeOp, b.args["x"], shape=g.ints_attr([32, 64]))
    (reshape,) = ops_of(b.build({"y": r}))
    assert cm.op_cost(reshape).total() == 0 and cm.group_cost([reshape], "loop").total() == 0
    ops = ops_of(chain())
    assert cm.within_limits(ops)
    assert not cm.within_limits(ops, cm.CostModel(max_ops=2))
    assert not cm.within_limits(ops, cm.CostModel(max_inputs=2))
