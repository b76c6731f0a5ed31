"""Hypothesis: random elementwise/broadcast/reduction graphs compute the same values fused and
unfused, under the default cost model and under tight limits (many small regions, many chances to
get a cycle or a multi-output region wrong)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.dialects import fusion as f
from graphc.dialects import graph as g
from graphc.dialects.builder import ProgramBuilder
from graphc.dialects.semantics import evaluate_program
from graphc.passes import FUSION_PIPELINE
from graphc.pipeline import run_pipeline

F32 = np.float32
UNARY = [g.NegOp, g.AbsOp, g.TanhOp, g.SigmoidOp, g.ReluOp, g.SinOp, g.ExpOp]
BINARY = [g.AddOp, g.SubOp, g.MulOp, g.MaxOp, g.MinOp]
REDUCE = [g.ReduceSumOp, g.ReduceMaxOp, g.ReduceMeanOp, g.ReduceMinOp]


@st.composite
def graphs(draw):
    rank = draw(st.integers(2, 3))
    full = tuple(draw(st.lists(st.integers(2, 5), min_size=rank, max_size=rank)))
    # Inputs: the full shape and broadcastable variants of it (a row vector, a column, a scalar).
    variants = [full, full[-1:], tuple(1 if i == rank - 1 else d for i, d in enumerate(full)), ()]
    n_inputs = draw(st.integers(1, 3))
    shapes = [full] + [draw(st.sampled_from(variants)) for _ in range(n_inputs - 1)]
    steps = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce", "broadcast"]))
        steps.append((kind, draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))))
    outputs = draw(st.lists(st.integers(0, 10**6), min_size=0, max_size=2))
    return full, shapes, steps, outputs


def build(full, shapes, steps, outputs):
    b = ProgramBuilder({f"x{i}": (s, F32) for i, s in enumerate(shapes)})
    values = list(b.inputs)
    for kind, i, j, k in steps:
        a, c = values[i % len(values)], values[j % len(values)]
        if kind == "unary":
            op = UNARY[k % len(UNARY)]
            values.append(b.op(op, b.op(g.TanhOp, a) if op is g.ExpOp else a))
        elif kind == "binary":
            values.append(b.op(BINARY[k % len(BINARY)], a, c))
        elif kind == "reduce":
            shape = g.shape_of(a.type)
            if len(shape) != len(full):
                continue
            axes = sorted({k % len(full), (k // 7) % len(full)}) if k % 3 == 0 else [len(full) - 1]
            values.append(b.op(REDUCE[k % len(REDUCE)], a, axes=g.ints_attr(axes), keepdims=g.int_attr(1)))
        else:
            values.append(b.op(g.BroadcastToOp, a, shape=g.ints_attr(full)))
    results = {"y": values[-1]}
    for n, i in enumerate(outputs):
        results[f"z{n}"] = values[i % len(values)]
    return b.build(results)


def inputs_for(shapes, seed):
    rng = np.random.default_rng(seed)
    return {f"x{i}": rng.uniform(-2, 2, size=s).astype(F32) for i, s in enumerate(shapes)}


def check(case, pipeline):
    full, shapes, steps, outputs = case
    x = inputs_for(shapes, len(steps))
    expected = evaluate_program(build(*case), x)
    program = build(*case)
    run_pipeline(program, pipeline, verify_each=True)
    block = program.main.body.block
    outside = [op for op in block.ops if not isinstance(op, f.RegionOp)][:-1]
    assert all(isinstance(op, g.ConstantOp | g.ReshapeOp) for op in outside), [op.name for op in outside]
    got = evaluate_program(program, x)
    for name, ref in expected.items():
        np.testing.assert_array_equal(got[name], ref, err_msg=name)


@settings(max_examples=60)
@given(graphs())
def test_fused_equals_unfused(case):
    check(case, FUSION_PIPELINE)


@settings(max_examples=40)
@given(graphs(), st.sampled_from([1, 2, 3]), st.sampled_from([1, 2, 3]))
def test_fused_equals_unfused_under_tight_limits(case, max_ops, max_inputs):
    options = f"{{max-ops={max_ops} max-inputs={max_inputs}}}"
    tight = ",".join(p + options if p.startswith("fuse-") and p != "fuse-pad-into-conv" else p
                     for p in FUSION_PIPELINE.split(","))  # fmt: skip
    check(case, tight)
