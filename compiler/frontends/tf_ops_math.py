"""TensorFlow elementwise math, activations, casts, selects, reductions, matmuls, scans and top-k.

Where TensorFlow's meaning differs from the graph op's, the difference is emitted as extra ops
(integer `Div` truncates like `graph.div`, `FloorDiv` maps to `graph.floor_div`, `DivNoNan` adds a
select, `Softplus` uses the overflow-free form, ...).
"""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.frontends.tf_context import (
    Converter,
    NodeError,
    TFNode,
    converts,
    element_type,
    need_inputs,
    normalize_axis,
)

# ---------------------------------------------------------------------------------------------
# Elementwise: direct mappings
# ---------------------------------------------------------------------------------------------

_UNARY: dict[str, type[g.GraphOp]] = {
    "Neg": g.NegOp,
    "Abs": g.AbsOp,
    "Sign": g.SignOp,
    "Exp": g.ExpOp,
    "Expm1": g.Expm1Op,
    "Log": g.LogOp,
    "Log1p": g.Log1pOp,
    "Sqrt": g.SqrtOp,
    "Rsqrt": g.RsqrtOp,
    "Sin": g.SinOp,
    "Cos": g.CosOp,
    "Tanh": g.TanhOp,
    "Sigmoid": g.SigmoidOp,
    "Erf": g.ErfOp,
    "Floor": g.FloorOp,
    "Ceil": g.CeilOp,
    "Round": g.RoundOp,  # TensorFlow rounds half to even, like graph.round
    "Rint": g.RoundOp,
    "Relu": g.ReluOp,
    "LogicalNot": g.NotOp,
    "IsNan": g.IsNanOp,
}

_BINARY: dict[str, type[g.GraphOp]] = {
    "Add": g.AddOp,
    "AddV2": g.AddOp,
    "Sub": g.SubOp,
    "Mul": g.MulOp,
    "RealDiv": g.DivOp,
    "Div": g.DivOp,  # on integers TensorFlow's Div truncates (C semantics), as graph.div does
    "TruncateDiv": g.DivOp,
    "FloorDiv": g.FloorDivOp,
    "FloorMod": g.FloorModOp,
    "Pow": g.PowOp,
    "Maximum": g.MaxOp,
    "Minimum": g.MinOp,
    "LogicalAnd": g.AndOp,
    "LogicalOr": g.OrOp,
    "BitwiseAnd": g.AndOp,
    "BitwiseOr": g.OrOp,
    "BitwiseXor": g.XorOp,
    "Equal": g.EqOp,
    "NotEqual": g.NeOp,
    "Less": g.LtOp,
    "LessEqual": g.LeOp,
    "Greater": g.GtOp,
    "GreaterEqual": g.GeOp,
}

_INTEGER_IDENTITY = {"Round", "Rint", "Floor", "Ceil"}


@converts(*_UNARY)
def _unary(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    x = inputs[0]
    if node.op in _INTEGER_IDENTITY and dtypes.is_integer(ctx.element(x)):
        return [x]
    return [ctx.op(_UNARY[node.op], [x])]


@converts(*_BINARY)
def _binary(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    return [ctx.op(_BINARY[node.op], list(inputs))]


# ---------------------------------------------------------------------------------------------
# Elementwise: compositions
# ---------------------------------------------------------------------------------------------


def _float_input(ctx: Converter, node: TFNode, inputs) -> SSAValue:
    need_inputs(node, inputs, 1)
    if not ctx.is_float(inputs[0]):
        raise NodeError(f"needs a floating-point input, got {inputs[0].type}")
    return inputs[0]


@converts("TruncateMod", "Mod")
def _truncate_mod(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    x, y = inputs
    if ctx.is_float(x):  # fmod: x - trunc(x / y) * y
        q = ctx.op(g.DivOp, [x, y])
        zero = ctx.scalar(0, x)
        t = ctx.op(g.SelectOp, [ctx.op(g.LtOp, [q, zero]), ctx.op(g.CeilOp, [q]), ctx.op(g.FloorOp, [q])])
    else:
        t = ctx.op(g.DivOp, [x, y])
    return [ctx.op(g.SubOp, [x, ctx.op(g.MulOp, [t, y])])]


@converts("DivNoNan", "MulNoNan")
def _no_nan(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    x, y = inputs
    zero = ctx.scalar(0, x)
    value = ctx.op(g.DivOp if node.op == "DivNoNan" else g.MulOp, [x, y])
    return [ctx.op(g.SelectOp, [ctx.op(g.EqOp, [y, zero]), zero, value])]


@converts("Xdivy", "Xlogy", "Xlog1py")
def _x_op_y(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    x, y = inputs
    zero = ctx.scalar(0, x)
    if node.op == "Xdivy":
        value = ctx.op(g.DivOp, [x, y])
    else:
        log = ctx.op(g.LogOp if node.op == "Xlogy" else g.Log1pOp, [y])
        value = ctx.op(g.MulOp, [x, log])
    return [ctx.op(g.SelectOp, [ctx.op(g.EqOp, [x, zero]), zero, value])]


@converts("SquaredDifference")
def _squared_difference(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    d = ctx.op(g.SubOp, list(inputs))
    return [ctx.op(g.MulOp, [d, d])]


@converts("Square")
def _square(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    return [ctx.op(g.MulOp, [inputs[0], inputs[0]])]


@converts("Reciprocal", "Inv")
def _reciprocal(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    return [ctx.op(g.DivOp, [ctx.scalar(1, inputs[0]), inputs[0]])]


@converts("Erfc")
def _erfc(ctx: Converter, node: TFNode, inputs):
    x = _float_input(ctx, node, inputs)
    return [ctx.op(g.SubOp, [ctx.scalar(1, x), ctx.op(g.ErfOp, [x])])]


@converts("Tan")
def _tan(ctx: Converter, node: TFNode, inputs):
    x = _float_input(ctx, node, inputs)
    return [ctx.op(g.DivOp, [ctx.op(g.SinOp, [x]), ctx.op(g.CosOp, [x])])]


@converts("IsInf")
def _is_inf(ctx: Converter, node: TFNode, inputs):
    x = _float_input(ctx, node, inputs)
    return [ctx.op(g.EqOp, [ctx.op(g.AbsOp, [x]), ctx.scalar(np.inf, x)])]


@converts("IsFinite")
def _is_finite(ctx: Converter, node: TFNode, inputs):
    x = _float_input(ctx, node, inputs)  # x - x is NaN exactly for NaN and ±inf
    return [ctx.op(g.NotOp, [ctx.op(g.IsNanOp, [ctx.op(g.SubOp, [x, x])])])]


@converts("Relu6")
def _relu6(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    x = inputs[0]
    return [ctx.op(g.MinOp, [ctx.op(g.ReluOp, [x]), ctx.scalar(6, x)])]


@converts("LeakyRelu")
def _leaky_relu(ctx: Converter, node: TFNode, inputs):
    x = _float_input(ctx, node, inputs)
    alpha = node.get_float("alpha", 0.2)
    positive = ctx.op(g.GtOp, [x, ctx.scalar(0, x)])
    return [ctx.op(g.SelectOp, [positive, x, ctx.op(g.MulOp, [x, ctx.scalar(alpha, x)])])]


@converts("Elu", "Selu")
def _elu(ctx: Converter, node: TFNode, inputs):
    x = _float_input(ctx, node, inputs)
    negative = ctx.op(g.LtOp, [x, ctx.scalar(0, x)])
    em1 = ctx.op(g.Expm1Op, [x])
    if node.op == "Elu":
        return [ctx.op(g.SelectOp, [negative, em1, x])]
    scale, alpha = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
    neg = ctx.op(g.MulOp, [em1, ctx.scalar(scale * alpha, x)])
    pos = ctx.op(g.MulOp, [x, ctx.scalar(scale, x)])
    return [ctx.op(g.SelectOp, [negative, neg, pos])]


@converts("Softplus")
def _softplus(ctx: Converter, node: TFNode, inputs):
    x = _float_input(ctx, node, inputs)  # max(x, 0) + log1p(exp(-|x|)): no overflow for large |x|
    tail = ctx.op(g.Log1pOp, [ctx.op(g.ExpOp, [ctx.op(g.NegOp, [ctx.op(g.AbsOp, [x])])])])
    return [ctx.op(g.AddOp, [ctx.op(g.ReluOp, [x]), tail])]


@converts("Softsign")
def _softsign(ctx: Converter, node: TFNode, inputs):
    x = _float_input(ctx, node, inputs)
    denominator = ctx.op(g.AddOp, [ctx.op(g.AbsOp, [x]), ctx.scalar(1, x)])
    return [ctx.op(g.DivOp, [x, denominator])]


@converts("ClipByValue")
def _clip_by_value(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3)
    x, lo, hi = inputs
    return [ctx.op(g.MinOp, [ctx.op(g.MaxOp, [x, lo]), hi])]


@converts("AddN")
def _add_n(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1, at_least=True)
    total = inputs[0]
    for v in inputs[1:]:
        total = ctx.op(g.AddOp, [total, v])
    return [total]


@converts("Cast")
def _cast(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    return [ctx.cast(inputs[0], element_type(node.get_type("DstT")))]


@converts("Select")
def _select_v1(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3)
    cond, a, b = inputs
    cshape, ashape = ctx.shape(cond), ctx.shape(a)
    if len(cshape) == 1 and len(ashape) > 1:  # a vector condition picks rows
        if cshape[0] != ashape[0]:
            raise NodeError(f"condition of length {cshape[0]} does not match {list(ashape)}")
        cond = ctx.reshape(cond, [cshape[0]] + [1] * (len(ashape) - 1))
    elif cshape and cshape != ashape:
        raise NodeError(f"condition {list(cshape)} does not match {list(ashape)}")
    return [ctx.op(g.SelectOp, [cond, a, b])]


@converts("SelectV2")
def _select_v2(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3)
    return [ctx.op(g.SelectOp, list(inputs))]


# ---------------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------------

_REDUCTIONS: dict[str, type[g.GraphOp]] = {
    "Mean": g.ReduceMeanOp,
    "Sum": g.ReduceSumOp,
    "Max": g.ReduceMaxOp,
    "Min": g.ReduceMinOp,
    "Prod": g.ReduceProdOp,
    "All": g.ReduceAllOp,
    "Any": g.ReduceAnyOp,
    "EuclideanNorm": g.ReduceSumOp,
}


def reduction_axes(ctx: Converter, inputs, index: int = 1) -> list[int]:
    rank = ctx.rank(inputs[0])
    axes = ctx.static_ints(inputs, index, "reduction_indices")
    if rank == 0:
        if axes and any(a not in (0, -1) for a in axes):
            raise NodeError(f"axes {axes} are out of range for a scalar")
        return []
    return sorted({normalize_axis(a, rank) for a in axes})


@converts(*_REDUCTIONS, static=(1,))
def _reduce(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    x = inputs[0]
    axes = reduction_axes(ctx, inputs)
    keep = node.get_bool("keep_dims", False)
    if node.op == "EuclideanNorm":
        squared = ctx.op(g.MulOp, [x, x])
        total = ctx.reduce(g.ReduceSumOp, squared, axes, keep)
        return [ctx.op(g.SqrtOp, [total])] if axes else [x if not ctx.is_float(x) else ctx.op(g.AbsOp, [x])]
    return [ctx.reduce(_REDUCTIONS[node.op], x, axes, keep)]


@converts("ArgMax", "ArgMin", static=(1,))
def _arg_reduce(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    x = inputs[0]
    axis = normalize_axis(ctx.static_int(inputs, 1, "dimension"), ctx.rank(x))
    index_type = element_type(node.get_type("output_type")) if node.has("output_type") else dtypes.i64
    cls = g.ArgMaxOp if node.op == "ArgMax" else g.ArgMinOp
    return [ctx.op(cls, [x], axis=g.int_attr(axis), index_type=index_type)]


# ---------------------------------------------------------------------------------------------
# Matrix products
# ---------------------------------------------------------------------------------------------


def swap_last(ctx: Converter, x: SSAValue) -> SSAValue:
    rank = ctx.rank(x)
    return ctx.transpose(x, list(range(rank - 2)) + [rank - 1, rank - 2])


def matmul(ctx: Converter, a: SSAValue, b: SSAValue, ta: bool = False, tb: bool = False) -> SSAValue:
    if ctx.rank(a) < 2 or ctx.rank(b) < 2:
        raise NodeError(f"matrix products need rank >= 2, got {a.type} and {b.type}")
    if ta:
        a = swap_last(ctx, a)
    if tb:
        b = swap_last(ctx, b)
    return ctx.op(g.MatMulOp, [a, b])


@converts("MatMul")
def _matmul(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    a, b = inputs
    if ctx.rank(a) != 2 or ctx.rank(b) != 2:
        raise NodeError(f"MatMul needs matrices, got {a.type} and {b.type}")
    return [matmul(ctx, a, b, node.get_bool("transpose_a", False), node.get_bool("transpose_b", False))]


@converts("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def _batch_matmul(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    a, b = inputs
    if node.op == "BatchMatMulV3" and node.has("Tout"):
        out = element_type(node.get_type("Tout"))
        a, b = ctx.cast(a, out), ctx.cast(b, out)
    return [matmul(ctx, a, b, node.get_bool("adj_x", False), node.get_bool("adj_y", False))]


# ---------------------------------------------------------------------------------------------
# Scans and selection
# ---------------------------------------------------------------------------------------------


@converts("Cumsum", static=(1,))
def _cumsum(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    x = inputs[0]
    axis = normalize_axis(ctx.static_int(inputs, 1, "axis"), ctx.rank(x))
    return [
        ctx.op(
            g.CumsumOp,
            [x],
            axis=g.int_attr(axis),
            exclusive=g.int_attr(int(node.get_bool("exclusive", False))),
            reverse=g.int_attr(int(node.get_bool("reverse", False))),
        )
    ]


@converts("TopKV2", "TopK", static=(1,))
def _top_k(ctx: Converter, node: TFNode, inputs):
    x = inputs[0] if inputs else None
    if node.op == "TopK":
        need_inputs(node, inputs, 1)
        k = node.get_int("k")
    else:
        need_inputs(node, inputs, 2)
        k = ctx.static_int(inputs, 1, "k")
    shape = ctx.shape(x)
    if not shape or not 0 <= k <= shape[-1]:
        raise NodeError(f"k={k} does not fit the last dimension of {list(shape)}")
    index_type = element_type(node.get_type("index_type")) if node.has("index_type") else dtypes.i32
    op = ctx.emit(g.TopKOp, [x], k=g.int_attr(k), index_type=index_type)
    return list(op.results)


@converts("MatrixBandPart", static=(1, 2))
def _matrix_band_part(ctx: Converter, node: TFNode, inputs):
    """Keeps a band around the diagonal of the last two axes: 0 <= i - j <= lower (unless lower
    < 0) and 0 <= j - i <= upper (unless upper < 0); the rest becomes 0. Masks come from small
    iota constants, never an [M, N] weight."""
    need_inputs(node, inputs, 3)
    x = inputs[0]
    if ctx.rank(x) < 2:
        raise NodeError(f"needs a tensor of rank >= 2, got {x.type}")
    lower = ctx.static_int(inputs, 1, "num_lower")
    upper = ctx.static_int(inputs, 2, "num_upper")
    m, n = ctx.shape(x)[-2:]
    rows = ctx.const(np.arange(m, dtype=np.int64).reshape(m, 1), hint=node.name + "_rows")
    cols = ctx.const(np.arange(n, dtype=np.int64).reshape(1, n), hint=node.name + "_cols")
    diff = ctx.op(g.SubOp, [rows, cols])  # i - j
    keep = None
    if lower >= 0:
        keep = ctx.op(g.LeOp, [diff, ctx.const(np.int64(lower))])
    if upper >= 0:
        upper_ok = ctx.op(g.GeOp, [diff, ctx.const(np.int64(-upper))])
        keep = upper_ok if keep is None else ctx.op(g.AndOp, [keep, upper_ok])
    if keep is None:
        return [x]
    return [ctx.op(g.SelectOp, [keep, x, ctx.scalar(0, x)])]
