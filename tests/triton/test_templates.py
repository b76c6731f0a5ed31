"""Each triton template on random shapes (hypothesis), including sizes that are not block multiples.

Programs are small graphs whose fusion regions hit one template each; outputs are compared with
`graphc.dialects.semantics` (numpy) at graphc.testing's tolerances, under the interpreter with the
GPU block-size heuristic (`triton_testing.check`).
"""

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from triton_testing import check, floats, ints, one, program

from graphc.dialects import dtypes
from graphc.dialects import graph as g

BF16 = ml_dtypes.bfloat16
FEW = settings(max_examples=6, deadline=None)
dims = st.integers(1, 37)


@FEW
@given(shape=st.lists(dims, min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_pointwise_float_chain_with_broadcast_and_views(shape, seed):
    rng = np.random.default_rng(seed)
    x, row = floats(rng, shape), floats(rng, shape[-1:])
    perm = tuple(reversed(range(len(shape))))

    def body(b, a, r):
        y = b.op(g.SigmoidOp, b.op(g.MulOp, a, r))
        z = b.op(g.TanhOp, b.op(g.SubOp, y, b.op(g.ErfOp, a)))
        low = (1,) + (0,) * (len(shape) - 1)
        padded = b.op(g.PadOp, a, low=ints(low), high=ints((0,) * (len(shape) - 1) + (2,)),
                      interior=ints((1,) + (0,) * (len(shape) - 1)), mode=g.str_attr("constant"),
                      value=g.float_attr(-2.5))  # fmt: skip
        return {
            "z": z,
            "t": b.op(g.TransposeOp, b.op(g.ExpOp, z), perm=ints(perm)),
            "c": b.op(g.ConcatOp, a, b.op(g.ReverseOp, a, axes=ints((0,))), axis=one(len(shape) - 1)),
            "p": b.op(g.Log1pOp, b.op(g.AbsOp, padded)),
        }

    check(program({"x": (shape, np.float32), "r": (shape[-1:], np.float32)}, body), [x, row], "pointwise")


@FEW
@given(n=st.integers(1, 3000), seed=st.integers(0, 2**16))
def test_pointwise_integer_and_half_semantics(n, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-50, 50, n).astype(np.int32)
    d = rng.integers(-4, 5, n).astype(np.int32)  # zeros included: integer division by zero is 0
    h = floats(rng, n, np.float16, 3.0)

    def body(b, x, y, f):
        return {
            "div": b.op(g.DivOp, x, y),
            "floordiv": b.op(g.FloorDivOp, x, y),
            "mod": b.op(g.FloorModOp, x, y),
            "rem": b.op(g.RemOp, x, y),
            "shift": b.op(g.ShiftRightOp, x, y),
            "cmp": b.op(g.AndOp, b.op(g.GtOp, x, y), b.op(g.NotOp, b.op(g.EqOp, y, y))),
            "half": b.op(g.MulOp, b.op(g.ExpOp, b.op(g.NegOp, b.op(g.AbsOp, f))), f),
            "round": b.op(g.RoundOp, f),
            "cast": b.op(g.CastOp, f, to=dtypes.i32),
        }

    shapes = {"x": ((n,), np.int32), "y": ((n,), np.int32), "f": ((n,), np.float16)}
    check(program(shapes, body), [a, d, h], "pointwise")


@pytest.mark.parametrize("dtype", [np.float16, "bfloat16", np.float64, np.int32])
def test_matmul_reduction_and_conv_in_other_dtypes(dtype):
    """f16/bf16 multiply in tl.dot with float32 accumulation; f64 and integers take the
    multiply-sum path (tl.dot does not take them everywhere)."""
    dtype = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    rng = np.random.default_rng(3)
    make = (lambda *s: rng.integers(-3, 4, s).astype(dtype)) if dtype.kind == "i" else (lambda *s: floats(rng, s).astype(dtype))
    x, w, f = make(3, 19, 21), make(21, 17), make(2, 2, 21, 5)

    def body(b, a, m):
        mm = b.op(g.AddOp, b.op(g.MatMulOp, a, m), b.const(make(17)))
        conv = b.op(g.Conv2DOp, b.op(g.ReshapeOp, a, shape=ints((1, 3, 19, 21))), b.const(f),
                    strides=ints((1, 1)), dilations=ints((1, 1)), pads=ints((1, 0, 1, 0)), groups=one(1))  # fmt: skip
        return {"mm": mm, "sum": b.op(g.ReduceSumOp, mm, axes=ints((2,)), keepdims=one(0)),
                "max": b.op(g.ReduceMaxOp, mm, axes=ints((0,)), keepdims=one(1)), "conv": conv}  # fmt: skip

    check(program({"x": ((3, 19, 21), dtype), "w": ((21, 17), dtype)}, body), [x, w], "matmul")


def test_inverse_trig_and_unsigned_types():
    """atan/asin/acos are polynomials here (no libdevice under the interpreter): checked on a grid
    with the edges (±1, ±inf, NaN, the reduction thresholds); unsigned integers wrap like numpy."""
    x = np.concatenate([np.linspace(-1.2, 1.2, 241), [-1, 1, 0, np.inf, -np.inf, np.nan, 1e-8, -40, 1e6, 2.4142, 0.4142]])
    x = x.astype(np.float32)
    u = np.array([0, 1, 7, 65535, 40000], np.uint16)
    w = np.array([0, 1, 2**32 - 1, 12345, 3], np.uint32)

    def body(b, a, p, q):
        return {"atan": b.op(g.AtanOp, b.op(g.MulOp, a, b.const(np.array(7, np.float32)))),
                "asin": b.op(g.AsinOp, a), "acos": b.op(g.AcosOp, a),
                "u16": b.op(g.AddOp, b.op(g.MulOp, p, p), p), "u32": b.op(g.FloorDivOp, b.op(g.SubOp, q, b.const(np.array(5, np.uint32))), q),
                "shift": b.op(g.ShiftRightOp, q, b.const(np.array(3, np.uint32)))}  # fmt: skip

    shapes = {"x": ((x.size,), np.float32), "u": ((5,), np.uint16), "w": ((5,), np.uint32)}
    check(program(shapes, body), [x, u, w], "pointwise")


@FEW
@given(h=st.integers(1, 13), w=st.integers(1, 13), c=st.integers(1, 5), k=st.integers(1, 3),
       s=st.integers(1, 2), pad=st.integers(0, 1), dil=st.integers(1, 2), seed=st.integers(0, 2**16))  # fmt: skip
def test_pooling_windows(h, w, c, k, s, pad, dil, seed):
    rng = np.random.default_rng(seed)
    x = floats(rng, (2, h, w, c))
    pads = (pad, pad, 0, pad)
    attrs = dict(window=ints((k, k)), strides=ints((s, s)), pads=ints(pads), dilations=ints((dil, 1)))
    if (h + 2 * pad - (k - 1) * dil - 1) < 0 or (w + pad - k) < 0:
        return
    body = lambda b, a: {"max": b.op(g.MaxPoolOp, b.op(g.ReluOp, a), **attrs), "avg": b.op(g.AvgPoolOp, a, **attrs)}
    check(program({"x": ((2, h, w, c), np.float32)}, body), [x], "pointwise")


@FEW
@given(rows=st.integers(1, 9), cols=st.integers(1, 3000), seed=st.integers(0, 2**16))
def test_row_reductions_softmax_and_layer_norm(rows, cols, seed):
    rng = np.random.default_rng(seed)
    x, gamma = floats(rng, (rows, cols), scale=3.0), floats(rng, (cols,))

    def body(b, a, gm):
        keep = dict(axes=ints((1,)), keepdims=one(1))
        e = b.op(g.ExpOp, b.op(g.SubOp, a, b.op(g.ReduceMaxOp, a, **keep)))
        softmax = b.op(g.DivOp, e, b.op(g.ReduceSumOp, e, **keep))
        centered = b.op(g.SubOp, a, b.op(g.ReduceMeanOp, a, **keep))
        var = b.op(g.ReduceMeanOp, b.op(g.MulOp, centered, centered), **keep)
        eps = b.const(np.array(1e-5, np.float32))
        norm = b.op(g.MulOp, b.op(g.MulOp, centered, b.op(g.RsqrtOp, b.op(g.AddOp, var, eps))), gm)
        return {"softmax": softmax, "norm": norm, "var": var}

    check(program({"x": ((rows, cols), np.float32), "g": ((cols,), np.float32)}, body), [x, gamma], "reduction")


@FEW
@given(shape=st.lists(st.integers(1, 40), min_size=3, max_size=3), axes=st.sampled_from([(0,), (0, 1), (1,), (0, 2)]),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_reductions_over_other_axes(shape, axes, seed):
    rng = np.random.default_rng(seed)
    x = floats(rng, shape)
    if seed % 3 == 0:
        x.reshape(-1)[seed % x.size] = np.nan  # a NaN anywhere in a row wins max/min

    def body(b, a):
        attrs = dict(axes=ints(axes), keepdims=one(0))
        positive = b.op(g.GtOp, a, b.const(np.array(0, np.float32)))
        return {
            "max": b.op(g.ReduceMaxOp, a, **attrs),
            "min": b.op(g.ReduceMinOp, a, **attrs),
            "mean": b.op(g.ReduceMeanOp, a, **attrs),
            "prod": b.op(g.ReduceProdOp, b.op(g.SigmoidOp, a), **attrs),
            "any": b.op(g.ReduceAnyOp, positive, **attrs),
            "all": b.op(g.ReduceAllOp, positive, **attrs),
        }

    check(program({"x": (shape, np.float32)}, body), [x], "reduction")


@FEW
@given(batch=st.sampled_from([(), (2,), (2, 3)]), m=st.integers(1, 70), k=st.integers(1, 70), n=st.integers(1, 70),
       transposed=st.booleans(), seed=st.integers(0, 2**16))  # fmt: skip
def test_matmul_with_prologue_and_epilogue(batch, m, k, n, transposed, seed):
    rng = np.random.default_rng(seed)
    a = floats(rng, (*batch, m, k))
    w = floats(rng, (n, k) if transposed else (k, n))
    res = floats(rng, (*batch, m, n))
    bias = floats(rng, (n,))

    def body(b, x, r):
        wv = b.const(w)
        if transposed:
            wv = b.op(g.TransposeOp, wv, perm=ints((1, 0)))
        y = b.op(g.AddOp, b.op(g.MatMulOp, x, wv), b.const(bias))
        return {"y": b.op(g.AddOp, b.op(g.ReluOp, y), r)}

    shapes = {"x": ((*batch, m, k), np.float32), "r": ((*batch, m, n), np.float32)}
    check(program(shapes, body), [a, res], "matmul")


@FEW
@given(n=st.integers(1, 2), h=st.integers(1, 11), w=st.integers(1, 11), groups=st.sampled_from([1, 2, "depthwise"]),
       c=st.integers(1, 3), oc=st.integers(1, 3), k=st.integers(1, 3), s=st.integers(1, 2), dil=st.integers(1, 2),
       pad=st.integers(0, 2), seed=st.integers(0, 2**16))  # fmt: skip
def test_conv_implicit_gemm_and_depthwise(n, h, w, groups, c, oc, k, s, dil, pad, seed):
    rng = np.random.default_rng(seed)
    if groups == "depthwise":
        groups, cin, cout = 3 * c, 3 * c, 3 * c * oc
    else:
        cin, cout = groups * c * 4, groups * oc * 5
    if h + 2 * pad < (k - 1) * dil + 1 or w + pad < k:
        return
    x = floats(rng, (n, h, w, cin))
    f = floats(rng, (k, k, cin // groups, cout))
    bias = floats(rng, (cout,))
    attrs = dict(strides=ints((s, s)), dilations=ints((dil, 1)), pads=ints((pad, pad, 0, pad)), groups=one(groups))

    def body(b, v):
        y = b.op(g.AddOp, b.op(g.Conv2DOp, v, b.const(f), **attrs), b.const(bias))
        return {"y": b.op(g.MinOp, b.op(g.ReluOp, y), b.const(np.array(6, np.float32)))}

    check(program({"x": ((n, h, w, cin), np.float32)}, body), [x], "conv")


@FEW
@given(shape=st.lists(st.integers(1, 30), min_size=2, max_size=3), last=st.booleans(), seed=st.integers(0, 2**16))
def test_arg_reductions_with_ties_and_nan(shape, last, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, shape).astype(np.float32)  # many ties
    if seed % 2:
        x.reshape(-1)[seed % x.size] = np.nan
    axis = seed % len(shape)
    attrs = dict(axis=one(axis), index_type=dtypes.i64, select_last_index=one(int(last)))
    body = lambda b, a: {"max": b.op(g.ArgMaxOp, a, **attrs), "min": b.op(g.ArgMinOp, a, **attrs)}
    check(program({"x": (shape, np.float32)}, body), [x], "arg-reduction")


@FEW
@given(lines=st.integers(0, 5), n=st.integers(1, 1500), exclusive=st.booleans(), reverse=st.booleans(),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_scans(lines, n, exclusive, reverse, seed):
    rng = np.random.default_rng(seed)
    shape = [lines, n] if lines else [n]
    x = rng.integers(-3, 4, shape).astype(np.int32)
    f = (1 + floats(rng, shape, scale=0.001)).astype(np.float32)
    attrs = dict(axis=one(len(shape) - 1), exclusive=one(int(exclusive)), reverse=one(int(reverse)))
    body = lambda b, a, y: {"sum": b.op(g.CumsumOp, a, **attrs), "prod": b.op(g.CumprodOp, y, **attrs)}
    check(program({"x": (shape, np.int32), "f": (shape, np.float32)}, body), [x, f], "scan")


@FEW
@given(rows=st.integers(1, 6), n=st.integers(1, 300), k=st.integers(1, 300), seed=st.integers(0, 2**16))
def test_top_k_ties_first_and_nan_ranks_first(rows, n, k, seed):
    rng = np.random.default_rng(seed)
    k = min(k, n)
    x = rng.integers(0, 5, (rows, n)).astype(np.float32)
    if seed % 2:
        x.reshape(-1)[seed % x.size] = np.nan
    body = lambda b, a: dict(zip(("values", "indices"), b.op(g.TopKOp, a, k=one(k), index_type=dtypes.i32)))
    check(program({"x": ((rows, n), np.float32)}, body), [x], "top-k")


@FEW
@given(p=st.integers(1, 20), q=st.integers(1, 20), axis=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_gathers_are_indexed_loads(p, q, axis, seed):
    rng = np.random.default_rng(seed)
    x = floats(rng, (p, q, 3))
    size = x.shape[axis]
    idx = rng.integers(-size, size, (4, 2)).astype(np.int64)  # negative indices count from the end
    nd = np.stack([rng.integers(0, p, 5), rng.integers(0, q, 5)], axis=1).astype(np.int32)
    elems = rng.integers(0, q, (p, 2, 3)).astype(np.int32)

    def body(b, a):
        return {
            "gather": b.op(g.GatherOp, a, b.const(idx), axis=one(axis), batch_dims=one(0)),
            "nd": b.op(g.GatherNdOp, a, b.const(nd), batch_dims=one(0)),
            "elements": b.op(g.GatherElementsOp, a, b.const(elems), axis=one(1)),
        }

    check(program({"x": ((p, q, 3), np.float32)}, body), [x], "pointwise")


@FEW
@given(h=st.integers(1, 9), w=st.integers(1, 9), oh=st.integers(1, 17), ow=st.integers(1, 17),
       mode=st.sampled_from(["nearest", "bilinear", "bicubic"]),
       coords=st.sampled_from(["half_pixel", "align_corners", "asymmetric"]), seed=st.integers(0, 2**16))  # fmt: skip
def test_resize_taps(h, w, oh, ow, mode, coords, seed):
    rng = np.random.default_rng(seed)
    x = floats(rng, (2, h, w, 3))
    attrs = dict(size=ints((oh, ow)), mode=g.str_attr(mode), coordinates=g.str_attr(coords),
                 nearest_mode=g.str_attr("round_prefer_floor"), cubic_coeff=g.float_attr(-0.75),
                 exclude_outside=one(0))  # fmt: skip
    body = lambda b, a: {"y": b.op(g.ResizeOp, a, **attrs)}
    check(program({"x": ((2, h, w, 3), np.float32)}, body), [x], "pointwise")


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_])
def test_scatters_combine_updates_in_order(reduction, dtype):
    """Duplicates (the last update wins for "none"), negative and out-of-range indices, NaN updates."""
    rng = np.random.default_rng(0)
    make = {np.float32: lambda *s: floats(rng, s), np.int32: lambda *s: rng.integers(-9, 9, s).astype(np.int32),
            np.bool_: lambda *s: rng.integers(0, 2, s).astype(bool)}[dtype]  # fmt: skip
    x, upd = make(5, 4), make(3, 4)
    if dtype == np.float32:
        upd[1, 2] = np.nan
    idx = np.array([[1, 0, 3, 1], [4, 1, -5, 0], [1, 7, 0, 0]], np.int64)
    nd = np.array([[1], [3], [1], [-1]], np.int32)
    red = g.str_attr(reduction)

    def body(b, a, u, v):
        return {"elements": b.op(g.ScatterElementsOp, a, b.const(idx), u, axis=one(0), reduction=red),
                "nd": b.op(g.ScatterNdOp, a, b.const(nd), v, reduction=red)}  # fmt: skip

    shapes = {"x": ((5, 4), dtype), "u": ((3, 4), dtype), "v": ((4, 4), dtype)}
    check(program(shapes, body), [x, upd, np.concatenate([upd, upd[:1]])], "scatter")


def test_a_scatter_too_large_for_the_kernel_runs_as_a_listed_fallback(monkeypatch):
    from graphc.backends.triton import template_opaque

    monkeypatch.setattr(template_opaque, "SCATTER_WORK_LIMIT", 0)
    rng = np.random.default_rng(0)
    x, upd = floats(rng, (5, 4)), floats(rng, (2, 4))
    idx = np.array([[1, 0, 3, 1], [4, 1, 0, 0]], np.int64)  # duplicates: the last update wins
    attrs = dict(axis=one(0), reduction=g.str_attr("none"))
    body = lambda b, a, u: {"y": b.op(g.ScatterElementsOp, a, b.const(idx), u, **attrs)}
    prog = program({"x": ((5, 4), np.float32), "u": ((2, 4), np.float32)}, body)
    check(prog, [x, upd], "fallback")


def test_bf16_through_every_template():
    """bfloat16 in memory, float32 in registers (rounded after each op), through every template."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 6, 7, 4)).astype(BF16)
    w = rng.standard_normal((3, 3, 2, 6)).astype(BF16)
    idx = rng.integers(-7, 7, (5,)).astype(np.int32)
    pool = dict(window=g.ints_attr((3, 2)), strides=g.ints_attr((2, 1)), pads=g.ints_attr((1, 1, 0, 1)))
    def body(b, v):
        gb = b.op
        outs = [
            gb(g.TransposeOp, v, perm=g.ints_attr((0, 3, 1, 2))),
            gb(g.PadOp, v, low=g.ints_attr((0, 1, 0, 2)), high=g.ints_attr((0, 0, 2, 0)),
               interior=g.ints_attr((0, 1, 0, 0)), mode=g.str_attr("constant"), value=g.float_attr(-1.5)),
            gb(g.ConcatOp, v, v, axis=g.int_attr(3)),
            gb(g.SliceOp, v, starts=g.ints_attr((0, 1, 0, 1)), limits=g.ints_attr((2, 6, 7, 4)), strides=g.ints_attr((1, 2, 3, 1))),
            gb(g.GatherOp, v, b.const(idx, "idx"), axis=g.int_attr(2), batch_dims=g.int_attr(0)),
            gb(g.MaxPoolOp, v, **pool, dilations=g.ints_attr((2, 1))),
            gb(g.AvgPoolOp, v, **pool),
            gb(g.Conv2DOp, v, b.const(w), strides=g.ints_attr((1, 1)), dilations=g.ints_attr((1, 1)), pads=g.ints_attr((1, 1, 1, 1)), groups=g.int_attr(2)),
            gb(g.ResizeOp, v, size=g.ints_attr((9, 5)), mode=g.str_attr("bilinear"), coordinates=g.str_attr("half_pixel"), nearest_mode=g.str_attr("floor"), cubic_coeff=g.float_attr(-0.75), exclude_outside=g.int_attr(0)),
            *gb(g.TopKOp, v, k=g.int_attr(2), index_type=dtypes.i64),
            gb(g.ReduceMaxOp, v, axes=g.ints_attr((1, 2)), keepdims=g.int_attr(1)),
            gb(g.ReduceProdOp, v, axes=g.ints_attr((3,)), keepdims=g.int_attr(0)),
            gb(g.CumprodOp, v, axis=g.int_attr(2), exclusive=g.int_attr(1), reverse=g.int_attr(0)),
            gb(g.ReverseOp, v, axes=g.ints_attr((1, 3))),
            gb(g.ArgMaxOp, v, axis=g.int_attr(1), index_type=dtypes.i64),
        ]
        return {f"y{i}": o for i, o in enumerate(outs)}
    check(program({"x": (x.shape, BF16)}, body), [x], "")
