"""The numpy and jax.numpy readings of the op semantics agree (they back folding and the oracle)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from graphc.dialects.builder import ProgramBuilder
from graphc.backends.reference.executor import jit_program
from graphc.dialects import graph as g
from graphc.dialects.semantics import evaluate_program, resize_matrix

F32 = np.float32

UNARY = [g.NegOp, g.AbsOp, g.SignOp, g.ExpOp, g.TanhOp, g.SigmoidOp, g.ErfOp, g.FloorOp, g.CeilOp,
         g.RoundOp, g.ReluOp, g.SinOp, g.CosOp, g.Expm1Op]  # fmt: skip
BINARY = [g.AddOp, g.SubOp, g.MulOp, g.DivOp, g.MaxOp, g.MinOp, g.PowOp, g.FloorDivOp, g.FloorModOp,
          g.LtOp, g.GeOp, g.EqOp]  # fmt: skip


def both(program, inputs):
    eager = evaluate_program(program, inputs, np)
    jitted = jit_program(program)([inputs[n] for n in program.input_names])
    return eager, dict(zip(program.output_names, [np.asarray(v) for v in jitted]))


def assert_close(a, b, rtol=1e-5, atol=1e-6):
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


shapes = hnp.array_shapes(min_dims=1, max_dims=3, max_side=5)
# XLA's CPU backend flushes subnormals to zero (FTZ/DAZ); numpy does not. The two readings are
# compared on normal numbers only.
normal_f32 = dict(width=32, allow_subnormal=False)


@given(st.sampled_from(UNARY), hnp.arrays(F32, shapes, elements=st.floats(-4, 4, **normal_f32)))
def test_unary_numpy_and_jax_agree(op_type, x):
    b = ProgramBuilder({"x": (x.shape, F32)})
    p = b.build({"y": b.op(op_type, b.args["x"])})
    assert_close(*both(p, {"x": x}))


@given(st.sampled_from(BINARY), hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4), st.data())
def test_binary_broadcasting_numpy_and_jax_agree(op_type, shapes, data):
    (sa, sb), _ = shapes
    a = data.draw(hnp.arrays(F32, sa, elements=st.floats(0.5, 4, **normal_f32)))
    c = data.draw(hnp.arrays(F32, sb, elements=st.floats(0.5, 4, **normal_f32)))
    b = ProgramBuilder({"a": (sa, F32), "b": (sb, F32)})
    p = b.build({"y": b.op(op_type, b.args["a"], b.args["b"])})
    assert_close(*both(p, {"a": a, "b": c}), rtol=2e-5)


def test_integer_division_truncates_and_floor_ops_floor():
    a = np.array([7, -7, 7, -7], np.int32)
    d = np.array([2, 2, -2, -2], np.int32)
    b = ProgramBuilder({"a": ((4,), np.int32), "d": ((4,), np.int32)})
    outs = {
        "div": b.op(g.DivOp, b.args["a"], b.args["d"]),
        "floordiv": b.op(g.FloorDivOp, b.args["a"], b.args["d"]),
        "mod": b.op(g.FloorModOp, b.args["a"], b.args["d"]),
    }
    eager, jitted = both(b.build(outs), {"a": a, "d": d})
    for result in (eager, jitted):
        assert result["div"].tolist() == [3, -3, -3, 3]
        assert result["floordiv"].tolist() == [3, -4, -4, 3]
        assert result["mod"].tolist() == [1, 1, -1, -1]


@pytest.mark.parametrize("groups,strides,dilations,pads", [(1, (1, 1), (1, 1), (1, 1, 1, 1)), (2, (2, 1), (1, 2), (0, 1, 2, 0)), (4, (2, 2), (1, 1), (1, 0, 0, 1))])
def test_conv2d_numpy_matches_xla(groups, strides, dilations, pads):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 6, 4)).astype(F32)
    w = rng.normal(size=(3, 3, 4 // groups, 8)).astype(F32)
    b = ProgramBuilder({"x": (x.shape, F32)})
    y = b.op(g.Conv2DOp, b.args["x"], b.const(w), strides=g.ints_attr(strides), dilations=g.ints_attr(dilations),
             pads=g.ints_attr(pads), groups=g.int_attr(groups))  # fmt: skip
    assert_close(*both(b.build({"y": y}), {"x": x}), rtol=1e-4, atol=1e-4)


def test_reductions_top_k_cumsum_gather_agree():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 5)).astype(F32)
    idx = np.array([[0, -1], [4, 9]], np.int32)  # -1 wraps, 9 clamps
    b = ProgramBuilder({"x": (x.shape, F32), "i": (idx.shape, np.int32)})
    xa = b.args["x"]
    outs = {
        "mean": b.op(g.ReduceMeanOp, xa, axes=g.ints_attr([0, 2]), keepdims=g.int_attr(1)),
        "max": b.op(g.ReduceMaxOp, xa, axes=g.ints_attr([1]), keepdims=g.int_attr(0)),
        "argmax": b.op(g.ArgMaxOp, xa, axis=g.int_attr(2), index_type=g.dtypes.i64),
        "topk": b.op(g.TopKOp, xa, k=g.int_attr(3), index_type=g.dtypes.i32)[0],
        "cumsum": b.op(g.CumsumOp, xa, axis=g.int_attr(1), exclusive=g.int_attr(1), reverse=g.int_attr(0)),
        "gather": b.op(g.GatherOp, xa, b.args["i"], axis=g.int_attr(2), batch_dims=g.int_attr(0)),
        "softmax": b.op(g.SoftmaxOp, xa, axis=g.int_attr(2)),
    }
    assert_close(*both(b.build(outs), {"x": x, "i": idx}))


def test_resize_matrices_rows_sum_to_one():
    for mode, coords, coeff, exclude in [
        ("bilinear", "half_pixel", -0.75, 0),
        ("bilinear", "align_corners", -0.75, 0),
        ("bicubic", "half_pixel", -0.5, 1),
        ("bicubic", "asymmetric", -0.75, 0),
        ("nearest", "tf_half_pixel", -0.75, 0),
    ]:
        attrs = {
            "mode": g.str_attr(mode), "coordinates": g.str_attr(coords), "nearest_mode": g.str_attr("floor"),
            "cubic_coeff": g.float_attr(coeff), "exclude_outside": g.int_attr(exclude),
        }  # fmt: skip
        m = resize_matrix(5, 9, attrs)
        np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)


def test_align_corners_bilinear_hits_the_corners():
    attrs = {
        "mode": g.str_attr("bilinear"), "coordinates": g.str_attr("align_corners"),
        "nearest_mode": g.str_attr("floor"), "cubic_coeff": g.float_attr(-0.75), "exclude_outside": g.int_attr(0),
    }  # fmt: skip
    m = resize_matrix(4, 7, attrs)
    assert m[0, 0] == 1 and m[-1, -1] == 1 and m[2, 1] == 1  # 2 * 3/6 = 1.0 exactly
