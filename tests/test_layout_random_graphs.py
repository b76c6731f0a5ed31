"""Hypothesis: on random graphs that mix NCHW↔NHWC wrapped convolutions, arbitrary transposes and
every op kind `optimize-layout` moves between layouts (elementwise with broadcasting constants and
inputs, select, casts, reductions with and without keepdims, argmax, softmax, cumsum, concat, pad,
slice, reverse, broadcast_to, reshape), the pass keeps every output's value and never makes the
run-time transposes cost more (bytes moved + one kernel's overhead each, the pass's own measure)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects.builder import ProgramBuilder
from graphc.dialects.semantics import evaluate_program
from graphc.passes.fusion_cost_model import DEFAULT, value_bytes
from graphc.pipeline import run_pipeline
from graphc.testing import compare_outputs

F32 = np.float32
I32, F32_TYPE = dtypes.from_numpy_dtype(np.int32), dtypes.from_numpy_dtype(np.float32)
UNARY = [g.ReluOp, g.NegOp, g.TanhOp, g.AbsOp]
BINARY = [g.AddOp, g.MulOp, g.MaxOp, g.SubOp]
REDUCE = [g.ReduceSumOp, g.ReduceMaxOp, g.ReduceMeanOp]
KINDS = ["conv", "conv", "transpose", "unary", "binary", "binary", "select", "cast", "reduce", "argmax", "softmax",
         "cumsum", "concat", "pad", "slice", "reverse", "broadcast", "reshape"]  # fmt: skip


def ints(values):
    return g.ints_attr(list(values))


@st.composite
def cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=4, max_size=4)))
    steps = [(draw(st.sampled_from(KINDS)), draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6)))
             for _ in range(draw(st.integers(1, 14)))]  # fmt: skip
    outputs = draw(st.lists(st.integers(0, 10**6), min_size=0, max_size=2))
    return shape, steps, outputs


def build(shape, steps, outputs):
    rng = np.random.default_rng(len(steps))
    b = ProgramBuilder({"x": (shape, F32), "bias": (shape[1:2] + (1, 1), F32)})
    values = [b.args["x"]]

    def pick(i, rank=4):
        ranked = [v for v in values if len(g.shape_of(v.type)) == rank]
        return ranked[i % len(ranked)] if ranked else None

    for kind, i, j in steps:
        a = pick(i)
        s = g.shape_of(a.type)
        if kind == "conv":  # the importer's NCHW form: transpose → NHWC conv → transpose back
            w = b.op(g.TransposeOp, b.const(rng.standard_normal((3, s[1], 1, 1)).astype(F32), "w"), perm=ints((2, 3, 1, 0)))
            y = b.op(g.Conv2DOp, b.op(g.TransposeOp, a, perm=ints((0, 2, 3, 1))), w, strides=ints((1, 1)),
                     dilations=ints((1, 1)), pads=ints((0, 0, 0, 0)), groups=g.int_attr(1))  # fmt: skip
            values.append(b.op(g.TransposeOp, y, perm=ints((0, 3, 1, 2))))
        elif kind == "transpose":
            values.append(b.op(g.TransposeOp, a, perm=ints(np.random.default_rng(j).permutation(4))))
        elif kind == "unary":
            values.append(b.op(UNARY[j % len(UNARY)], a))
        elif kind == "binary":
            other = pick(j)
            if g.shape_of(other.type) != s and j % 3 == 0 and s[1] == shape[1]:
                other = b.args["bias"]  # a (C, 1, 1) run-time value broadcast in NCHW
            elif g.shape_of(other.type) != s:  # a broadcasting constant: some axes kept, leading ones dropped
                keep = [(j >> k) & 1 for k in range(4)]
                cshape = tuple(d if k else 1 for d, k in zip(s, keep))[j % 3 :]
                other = b.const(rng.standard_normal(cshape).astype(F32), "c")
            values.append(b.op(BINARY[j % len(BINARY)], a, other))
        elif kind == "select":
            cond = b.op(g.GtOp, a, b.const(np.zeros((1,) * 4, F32)))
            values.append(b.op(g.SelectOp, cond, a, b.op(g.NegOp, a)))
        elif kind == "cast":
            values.append(b.op(g.CastOp, b.op(g.CastOp, a, to=I32), to=F32_TYPE))
        elif kind == "reduce":
            axes = sorted({j % 4, (j // 4) % 4})
            keep = (j // 16) % 2
            r = b.op(REDUCE[j % len(REDUCE)], a, axes=ints(axes), keepdims=g.int_attr(keep))
            values.append(r if keep else b.op(g.ExpOp, b.op(g.TanhOp, r)))
        elif kind == "argmax":
            values.append(b.op(g.CastOp, b.op(g.ArgMaxOp, a, axis=g.int_attr(j % 4), index_type=I32), to=F32_TYPE))
        elif kind == "softmax":
            values.append(b.op(g.SoftmaxOp, a, axis=g.int_attr(j % 4)))
        elif kind == "cumsum":
            values.append(b.op(g.CumsumOp, a, axis=g.int_attr(j % 4), exclusive=g.int_attr(j % 2),
                               reverse=g.int_attr((j // 2) % 2)))  # fmt: skip
        elif kind == "concat":
            values.append(b.op(g.ConcatOp, a, b.op(g.SigmoidOp, a), axis=g.int_attr(j % 4)))
        elif kind == "pad":
            low, high = [(j >> k) % 2 for k in range(4)], [(j >> (k + 4)) % 3 for k in range(4)]
            values.append(b.op(g.PadOp, a, low=ints(low), high=ints(high), interior=ints([0] * 4),
                               mode=g.str_attr("constant"), value=g.float_attr(0.5)))  # fmt: skip
        elif kind == "slice":
            starts = [(j >> k) % d for k, d in enumerate(s)]
            values.append(b.op(g.SliceOp, a, starts=ints(starts), limits=ints(s), strides=ints([1 + j % 2] * 4)))
        elif kind == "reverse":
            values.append(b.op(g.ReverseOp, a, axes=ints(sorted({j % 4, (j // 4) % 4}))))
        elif kind == "broadcast":
            small = b.op(g.ReduceMaxOp, a, axes=ints([j % 4]), keepdims=g.int_attr(1))
            values.append(b.op(g.BroadcastToOp, small, shape=ints(s)))
        else:  # a flatten, which may mix axes
            flat = b.op(g.ReshapeOp, a, shape=ints((s[0], int(np.prod(s[1:])))))
            values.append(b.op(g.ReshapeOp, b.op(g.ReluOp, flat), shape=ints(s)))
    results = {"y": values[-1]}
    for n, i in enumerate(outputs):
        results[f"z{n}"] = values[i % len(values)]
    return b.build(results)


def transpose_cost(program):
    """Bytes moved plus kernel overhead of the distinct run-time transposes."""
    seen = {}
    for op in program.main.body.block.ops:
        if isinstance(op, g.TransposeOp) and not isinstance(op.input.owner, g.ConstantOp):
            seen[(op.input, g.get_ints(op.attrs(), "perm"))] = 2 * value_bytes(op.result) + DEFAULT.kernel_overhead_bytes
    return sum(seen.values())


@settings(max_examples=150, deadline=None)
@given(cases())
def test_layout_keeps_values_and_never_costs_more(case):
    shape, steps, outputs = case
    rng = np.random.default_rng(1)
    inputs = {"x": rng.standard_normal(shape).astype(F32), "bias": rng.standard_normal((shape[1], 1, 1)).astype(F32)}
    expected = evaluate_program(build(*case), inputs)
    program = build(*case)
    before = transpose_cost(program)
    run_pipeline(program, "optimize-layout", verify_each=True)
    assert transpose_cost(program) <= before
    problems = compare_outputs(evaluate_program(program, inputs), expected)
    assert not problems, problems
