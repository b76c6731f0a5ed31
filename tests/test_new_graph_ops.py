"""The graph ops and attributes added for the ONNX front end: they print and parse back as MLIR
text, their verifiers reject what they do not define, and their numpy and jax.numpy readings
(`graphc.dialects.semantics`: constant folding and the reference backend) agree.

New ops: tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, is_inf, rem, shift_left,
shift_right, cumprod, gather_elements, scatter_elements, scatter_nd; new attributes:
`select_last_index` on argmax/argmin, `dilations` on max_pool/avg_pool; not/and/or/xor on integers;
bf16 everywhere.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xdsl.utils.exceptions import VerifyException

from graphc.backends.reference.executor import jit_program
from graphc.context import parse_module
from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects.builder import ProgramBuilder
from graphc.dialects.semantics import evaluate_program

F32, I32, BF16 = np.float32, np.int32, np.dtype(ml_dtypes.bfloat16)
TRIG = [g.TanOp, g.AsinOp, g.AcosOp, g.AtanOp, g.SinhOp, g.CoshOp, g.AsinhOp, g.AcoshOp, g.AtanhOp]


def every_new_op() -> ProgramBuilder:
    b = ProgramBuilder({"x": ((2, 6, 6, 3), F32), "i": ((2, 6, 6, 3), I32), "k": ((2, 2, 6, 3), np.int64),
                        "h": ((4, 3), BF16)})  # fmt: skip
    x, i, k, h = b.inputs
    outs = {op.name: b.op(op, x) for op in TRIG}
    outs["is_inf"] = b.op(g.IsInfOp, x)
    outs["rem"] = b.op(g.RemOp, x, x)
    outs["rem_int"] = b.op(g.RemOp, i, i)
    outs["shl"] = b.op(g.ShiftLeftOp, i, i)
    outs["shr"] = b.op(g.ShiftRightOp, i, i)
    outs["not_int"] = b.op(g.NotOp, i)
    outs["and_int"] = b.op(g.AndOp, i, i)
    outs["cumprod"] = b.op(g.CumprodOp, x, axis=g.int_attr(1), exclusive=g.int_attr(1), reverse=g.int_attr(0))
    outs["argmax_last"] = b.op(g.ArgMaxOp, x, axis=g.int_attr(3), index_type=dtypes.i64,
                               select_last_index=g.int_attr(1))  # fmt: skip
    outs["argmin"] = b.op(g.ArgMinOp, x, axis=g.int_attr(3), index_type=dtypes.i64)
    pool = dict(window=g.ints_attr((2, 2)), strides=g.ints_attr((1, 1)), pads=g.ints_attr((1, 0, 0, 1)))
    outs["max_pool"] = b.op(g.MaxPoolOp, x, **pool, dilations=g.ints_attr((2, 3)))
    outs["avg_pool"] = b.op(g.AvgPoolOp, x, **pool)
    outs["gather_elements"] = b.op(g.GatherElementsOp, x, k, axis=g.int_attr(1))
    updates = b.op(g.GatherElementsOp, x, k, axis=g.int_attr(1))
    outs["scatter_elements"] = b.op(g.ScatterElementsOp, x, k, updates, axis=g.int_attr(1), reduction=g.str_attr("add"))
    nd = b.op(g.ReshapeOp, b.op(g.SliceOp, k, starts=g.ints_attr((0, 0, 0, 0)), limits=g.ints_attr((2, 2, 2, 1)),
                                strides=g.ints_attr((1, 1, 1, 1))), shape=g.ints_attr((4, 2)))  # fmt: skip
    nd = b.op(g.FloorModOp, nd, b.const(np.array([2, 6], np.int64)))
    first_rows = b.op(g.SliceOp, x, starts=g.ints_attr((0, 0, 0, 0)), limits=g.ints_attr((1, 4, 6, 3)),
                      strides=g.ints_attr((1, 1, 1, 1)))  # fmt: skip
    nd_updates = b.op(g.ReshapeOp, first_rows, shape=g.ints_attr((4, 6, 3)))
    outs["scatter_nd"] = b.op(g.ScatterNdOp, x, nd, nd_updates, reduction=g.str_attr("none"))
    outs["bf16_tan"] = b.op(g.TanOp, h)
    outs["to_bf16"] = b.op(g.CastOp, x, to=dtypes.bf16)
    return b


def test_every_new_op_prints_and_parses_back():
    program = every_new_op().build({})
    text = str(program.module)
    for name in [op.name for op in TRIG] + ["graph.is_inf", "graph.rem", "graph.shift_left", "graph.shift_right",
                                            "graph.cumprod", "graph.gather_elements", "graph.scatter_elements",
                                            "graph.scatter_nd", "select_last_index = 1", "dilations = array<i64: 2, 3>",
                                            'reduction = "add"', "bf16"]:  # fmt: skip
        assert name in text, name
    again = parse_module(text, "new_ops.mlir")
    again.verify()
    assert str(again) == text


def _collect(b: ProgramBuilder) -> dict:
    ops = [op for op in b.block.ops if op.results and not isinstance(op, g.ConstantOp)]
    return {f"v{k}": op.results[0] for k, op in enumerate(ops)}


def test_numpy_and_jax_agree_on_every_new_op():
    b = every_new_op()
    program = b.build(_collect(b))
    rng = np.random.default_rng(0)
    inputs = {
        "x": rng.uniform(0.05, 0.95, (2, 6, 6, 3)).astype(F32),  # in every function's domain but acosh's
        "i": rng.integers(-40, 40, (2, 6, 6, 3)).astype(I32),
        "k": rng.integers(-6, 6, (2, 2, 6, 3)).astype(np.int64),
        "h": rng.uniform(-1, 1, (4, 3)).astype(BF16),
    }
    eager = evaluate_program(program, inputs, np)
    jitted = dict(zip(program.output_names, jit_program(program)([inputs[n] for n in program.input_names])))
    for name, value in eager.items():
        other = np.asarray(jitted[name])
        assert value.dtype == other.dtype, name
        if value.dtype.kind in "biu":
            np.testing.assert_array_equal(value, other, err_msg=name)
        else:
            rtol = 1e-2 if value.dtype == BF16 else 2e-6  # bf16: one ulp (XLA may skip a rounding)
            np.testing.assert_allclose(value.astype(np.float64), other.astype(np.float64), rtol=rtol, atol=1e-6,
                                       err_msg=name)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64]),
       st.integers(0, 2**32 - 1))
def test_shifts_rem_and_bitwise_agree_between_numpy_and_xla(dtype, seed):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    bits = np.dtype(dtype).itemsize * 8
    a = rng.integers(info.min, info.max, 24, endpoint=True, dtype=dtype)
    s = rng.integers(max(info.min, -bits), min(info.max, 2 * bits), 24, endpoint=True).astype(dtype)
    d = rng.integers(max(info.min, -3), min(info.max, 3), 24, endpoint=True).astype(dtype)
    a[:2] = [info.min, info.max]
    b = ProgramBuilder({"a": ((24,), dtype), "s": ((24,), dtype), "d": ((24,), dtype)})
    a_, s_, d_ = b.inputs
    program = b.build({"shl": b.op(g.ShiftLeftOp, a_, s_), "shr": b.op(g.ShiftRightOp, a_, s_),
                       "rem": b.op(g.RemOp, a_, d_), "div": b.op(g.DivOp, a_, d_), "fdiv": b.op(g.FloorDivOp, a_, d_),
                       "not": b.op(g.NotOp, a_), "xor": b.op(g.XorOp, a_, s_)})  # fmt: skip
    inputs = {"a": a, "s": s, "d": d}
    eager = evaluate_program(program, inputs, np)
    jitted = dict(zip(program.output_names, jit_program(program)([a, s, d])))
    for name in ("shl", "shr", "rem", "div", "fdiv", "not", "xor"):
        np.testing.assert_array_equal(eager[name], np.asarray(jitted[name]), err_msg=name)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(eager["shl"], np.left_shift(a, s))
        np.testing.assert_array_equal(eager["shr"], np.right_shift(a, s))
        np.testing.assert_array_equal(eager["rem"], np.fmod(a, d))
    assert np.all(eager["div"][d == 0] == 0) and np.all(eager["fdiv"][d == 0] == 0)


def test_scatter_with_duplicates_is_deterministic_under_xla():
    # "none" with duplicate positions: the last update wins in both readings (XLA leaves it open)
    x = np.zeros((3, 5), F32)
    idx = np.array([[0, 1, 2, 0, 1], [0, 1, 2, 0, 1], [0, 0, 0, 0, 0]], np.int64)
    upd = np.arange(15, dtype=F32).reshape(3, 5)
    b = ProgramBuilder({"x": ((3, 5), F32), "i": ((3, 5), np.int64), "u": ((3, 5), F32)})
    program = b.build({"y": b.op(g.ScatterElementsOp, *b.inputs, axis=g.int_attr(0), reduction=g.str_attr("none"))})
    eager = evaluate_program(program, {"x": x, "i": idx, "u": upd})["y"]
    jitted = np.asarray(jit_program(program)([x, idx, upd])[0])
    want = np.array([[10, 11, 12, 13, 14], [0, 6, 0, 0, 9], [0, 0, 7, 0, 0]], F32)
    np.testing.assert_array_equal(eager, want)
    np.testing.assert_array_equal(jitted, want)


def _verify_error(build) -> str:
    b = ProgramBuilder({"f": ((4, 3), F32), "i": ((4, 3), I32), "p": ((4, 3), np.bool_), "k": ((4, 3), np.int64),
                        "img": ((1, 5, 5, 2), F32)})  # fmt: skip
    with pytest.raises(VerifyException) as err:
        build(b, *b.inputs)
    return str(err.value)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda b, f, i, p, k, img: b.op(g.ShiftLeftOp, f, f), "needs integer tensors"),
        (lambda b, f, i, p, k, img: b.op(g.ShiftRightOp, p, p), "needs integer tensors"),
        (lambda b, f, i, p, k, img: b.op(g.AndOp, f, f), "needs i1 or integer"),
        (lambda b, f, i, p, k, img: b.op(g.NotOp, f), "needs i1 or an integer"),
        (lambda b, f, i, p, k, img: b.op(g.RemOp, p, p), "not defined on i1"),
        (lambda b, f, i, p, k, img: b.op(g.TanOp, i), "needs a floating-point"),
        (lambda b, f, i, p, k, img: b.op(g.GatherElementsOp, f, b.op(g.ReshapeOp, k, shape=g.ints_attr((12,))),
                                         axis=g.int_attr(0)), "rank"),  # fmt: skip
        (lambda b, f, i, p, k, img: b.op(g.GatherElementsOp, f, f, axis=g.int_attr(0)), "indices must be integers"),
        (lambda b, f, i, p, k, img: b.op(g.ScatterElementsOp, f, k, f, axis=g.int_attr(1),
                                         reduction=g.str_attr("sum")), "reduction must be one of"),  # fmt: skip
        (lambda b, f, i, p, k, img: b.op(g.ScatterElementsOp, f, k, i, axis=g.int_attr(1),
                                         reduction=g.str_attr("add")), "differ in element type"),  # fmt: skip
        (lambda b, f, i, p, k, img: b.op(g.ScatterNdOp, f, k, f, reduction=g.str_attr("none")), "bad operands"),
        (lambda b, f, i, p, k, img: b.op(g.MaxPoolOp, img, window=g.ints_attr((2, 2)), strides=g.ints_attr((1, 1)),
                                         pads=g.ints_attr((0, 0, 0, 0)), dilations=g.ints_attr((0, 1))),
         "must be positive"),  # fmt: skip
        (lambda b, f, i, p, k, img: b.op(g.AvgPoolOp, img, window=g.ints_attr((3, 3)), strides=g.ints_attr((1, 1)),
                                         pads=g.ints_attr((0, 0, 0, 0)), dilations=g.ints_attr((3, 1))),
         "empty output"),  # fmt: skip
        (lambda b, f, i, p, k, img: b.op(g.CumprodOp, f, axis=g.int_attr(2), exclusive=g.int_attr(0),
                                         reverse=g.int_attr(0)), "graph.cumprod: axis out of range"),  # fmt: skip
    ],
)
def test_verifiers_reject_what_the_ops_do_not_define(build, message):
    assert message in _verify_error(build)


def test_dilated_pool_output_size():
    b = ProgramBuilder({"x": ((1, 10, 9, 2), F32)})
    y = b.op(g.MaxPoolOp, b.inputs[0], window=g.ints_attr((3, 2)), strides=g.ints_attr((2, 1)),
             pads=g.ints_attr((1, 1, 0, 0)), dilations=g.ints_attr((2, 4)))  # fmt: skip
    # H: (10 + 2 - ((3 - 1)·2 + 1)) // 2 + 1 = 4; W: (9 - ((2 - 1)·4 + 1)) // 1 + 1 = 5
    assert g.shape_of(y.type) == (1, 4, 5, 2)


def test_fold_constants_evaluates_new_ops():
    from graphc.pipeline import run_pipeline

    b = ProgramBuilder({"x": ((3,), I32)})
    c = b.const(np.array([1, -8, 300], I32))
    shifted = b.op(g.ShiftLeftOp, c, b.const(np.array([2, 1, 40], I32)))
    folded = b.op(g.ShiftRightOp, shifted, b.const(np.array([1, 1, 1], I32)))
    program = b.build({"y": b.op(g.AddOp, b.inputs[0], b.op(g.RemOp, folded, b.const(np.array([3, 5, 7], I32))))})
    run_pipeline(program, "fold-constants")
    ops = [op.name for op in program.main.body.block.ops]
    assert ops == ["graph.constant", "graph.add", "func.return"], ops
    y = evaluate_program(program, {"x": np.zeros(3, I32)})["y"]
    shifted = np.right_shift(np.left_shift(np.array([1, -8, 300], I32), np.array([2, 1, 40], I32)), 1)
    np.testing.assert_array_equal(shifted, [2, -8, 0])  # int32: a shift by 40 shifts everything out
    np.testing.assert_array_equal(y, np.fmod(shifted, [3, 5, 7]))
