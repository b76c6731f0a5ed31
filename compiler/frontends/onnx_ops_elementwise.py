"""ONNX elementwise ops: arithmetic, comparisons, logic, casts and activations.

Each maps onto one `graph` op or a short composition of them with numpy broadcasting (opset 7 and
later); opset 1-6 binary ops with `broadcast=1` align the second operand at `axis`. `Mod` with
fmod=1 is `graph.rem` (C fmod), BitShift is `graph.shift_left/shift_right`, BitwiseNot is `graph.not`
on integers and IsInf is `graph.is_inf` (or a one-sided `graph.eq` with an infinity).
"""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.frontends.onnx_context import (
    NodeError,
    OnnxConverter,
    OnnxNode,
    Unsupported,
    converts,
    element_type,
    need,
)

# ---------------------------------------------------------------------------------------------
# Unary
# ---------------------------------------------------------------------------------------------

_UNARY = {
    "Abs": g.AbsOp,
    "Neg": g.NegOp,
    "Sign": g.SignOp,
    "Exp": g.ExpOp,
    "Log": g.LogOp,
    "Sqrt": g.SqrtOp,
    "Sin": g.SinOp,
    "Cos": g.CosOp,
    "Tanh": g.TanhOp,
    "Sigmoid": g.SigmoidOp,
    "Erf": g.ErfOp,
    "Floor": g.FloorOp,
    "Ceil": g.CeilOp,
    "Round": g.RoundOp,
    "Relu": g.ReluOp,
    "Not": g.NotOp,
    "IsNaN": g.IsNanOp,
    "Tan": g.TanOp,
    "Asin": g.AsinOp,
    "Acos": g.AcosOp,
    "Atan": g.AtanOp,
    "Sinh": g.SinhOp,
    "Cosh": g.CoshOp,
    "Asinh": g.AsinhOp,
    "Acosh": g.AcoshOp,
    "Atanh": g.AtanhOp,
}
_FLOAT_ONLY = {
    "Exp", "Log", "Sqrt", "Sin", "Cos", "Tanh", "Sigmoid", "Erf", "Floor", "Ceil", "Round", "IsNaN",
    "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
}  # fmt: skip


@converts(*_UNARY)
def _unary(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    if node.op_type in _FLOAT_ONLY and not ctx.is_float(x):
        raise NodeError(f"needs a floating-point input, got {x.type}")
    if node.op_type == "Not" and not dtypes.is_bool(ctx.element(x)):
        raise NodeError(f"needs a boolean input, got {x.type}")
    if node.op_type == "Abs" and dtypes.is_unsigned(ctx.element(x)):
        return [x]
    return [ctx.op(_UNARY[node.op_type], [x])]


@converts("Identity")
def _identity(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    return [inputs[0]]


@converts("Reciprocal")
def _reciprocal(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    return [ctx.op(g.DivOp, [ctx.scalar(1, inputs[0]), inputs[0]])]


@converts("IsInf", since=10)
def _is_inf(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    if not ctx.is_float(x):
        raise NodeError(f"needs a floating-point input, got {x.type}")
    positive, negative = node.get_int("detect_positive", 1), node.get_int("detect_negative", 1)
    if positive and negative:
        return [ctx.op(g.IsInfOp, [x])]
    if positive or negative:
        return [ctx.op(g.EqOp, [x, ctx.scalar(np.inf if positive else -np.inf, x)])]
    return [ctx.broadcast_to(ctx.const(np.zeros((), np.bool_)), ctx.shape(x))]


@converts("BitwiseNot", since=18)
def _bitwise_not(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    if not dtypes.is_integer(ctx.element(x)):
        raise NodeError(f"needs an integer input, got {x.type}")
    return [ctx.op(g.NotOp, [x])]


# ---------------------------------------------------------------------------------------------
# Binary
# ---------------------------------------------------------------------------------------------

_BINARY = {
    "Add": g.AddOp,
    "Sub": g.SubOp,
    "Mul": g.MulOp,
    "Div": g.DivOp,
    "And": g.AndOp,
    "Or": g.OrOp,
    "Xor": g.XorOp,
    "Equal": g.EqOp,
    "Less": g.LtOp,
    "Greater": g.GtOp,
    "LessOrEqual": g.LeOp,
    "GreaterOrEqual": g.GeOp,
    "BitwiseAnd": g.AndOp,
    "BitwiseOr": g.OrOp,
    "BitwiseXor": g.XorOp,
}
_LOGICAL = {"And", "Or", "Xor"}
_BITWISE = {"BitwiseAnd", "BitwiseOr", "BitwiseXor"}


def legacy_broadcast(ctx: OnnxConverter, node: OnnxNode, a: SSAValue, b: SSAValue) -> SSAValue:
    """Opset 1-6 `broadcast=1`: B's dimensions line up with A's from `axis` (default: the end)."""
    if node.version >= 7 or not node.get_int("broadcast", 0):
        return b
    ra, rb = ctx.rank(a), ctx.rank(b)
    axis = node.get_int("axis", ra - rb) if node.has("axis") else ra - rb
    axis = axis % ra if ra else 0
    if axis + rb > ra:
        raise NodeError(f"cannot broadcast {b.type} into {a.type} at axis {axis}")
    return ctx.reshape(b, [1] * axis + list(ctx.shape(b)) + [1] * (ra - axis - rb))


@converts(*_BINARY)
def _binary(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    a, b = inputs[0], inputs[1]
    b = legacy_broadcast(ctx, node, a, b)
    if node.op_type in _LOGICAL and not dtypes.is_bool(ctx.element(a)):
        raise NodeError(f"needs boolean inputs, got {a.type}")
    if node.op_type in _BITWISE and not dtypes.is_integer(ctx.element(a)):
        raise NodeError(f"needs integer inputs, got {a.type}")
    if ctx.element(a) != ctx.element(b):
        raise NodeError(f"the inputs' element types differ: {a.type} and {b.type}")
    return [ctx.op(_BINARY[node.op_type], [a, b])]


@converts("Pow")
def _pow(ctx: OnnxConverter, node: OnnxNode, inputs):
    """The result has the base's type; an exponent of another type is converted to it."""
    need(node, inputs, 0, 1)
    x, y = inputs[0], legacy_broadcast(ctx, node, inputs[0], inputs[1])
    if ctx.element(y) != ctx.element(x):
        if not ctx.is_float(x) and ctx.is_float(y):
            # int ** float: numpy computes in float64 and casts back (the ONNX reference does).
            wide = ctx.cast(x, dtypes.f64)
            out = ctx.op(g.PowOp, [wide, ctx.cast(y, dtypes.f64)])
            return [ctx.cast(out, ctx.element(x))]
        y = ctx.cast(y, ctx.element(x))
    return [ctx.op(g.PowOp, [x, y])]


@converts("Mod", since=10)
def _mod(ctx: OnnxConverter, node: OnnxNode, inputs):
    """fmod=0: the remainder has the divisor's sign (graph.floor_mod, numpy's mod; floats are
    allowed from opset 28 on); fmod=1: the dividend's sign (graph.rem, C fmod; exact)."""
    need(node, inputs, 0, 1)
    a, b = inputs[0], inputs[1]
    fmod = node.get_int("fmod", 0)
    if not fmod:
        return [ctx.op(g.FloorModOp, [a, b])]
    return [ctx.op(g.RemOp, [a, b])]


@converts("BitShift", since=11)
def _bit_shift(ctx: OnnxConverter, node: OnnxNode, inputs):
    """Unsigned integers (opset 11), signed ones too (opset 28: right shifts are arithmetic). The
    `graph.shift_*` ops read an amount outside [0, bit width) as shifting every bit out (0, or -1
    for a negative value shifted right), exactly what opset 28 specifies."""
    need(node, inputs, 0, 1)
    x, amount = inputs[0], inputs[1]
    if not dtypes.is_integer(ctx.element(x)) or ctx.element(amount) != ctx.element(x):
        raise NodeError(f"needs two integer inputs of one type, got {x.type} and {amount.type}")
    direction = node.get_str("direction")
    if direction not in ("LEFT", "RIGHT"):
        raise NodeError(f"direction '{direction}' is not 'LEFT' or 'RIGHT'")
    cls = g.ShiftLeftOp if direction == "LEFT" else g.ShiftRightOp
    return [ctx.op(cls, [x, amount])]


# ---------------------------------------------------------------------------------------------
# Variadic
# ---------------------------------------------------------------------------------------------

_VARIADIC = {"Max": g.MaxOp, "Min": g.MinOp, "Sum": g.AddOp, "Mean": g.AddOp}


@converts(*_VARIADIC)
def _variadic(ctx: OnnxConverter, node: OnnxNode, inputs):
    values = [v for v in inputs if v is not None]
    if not values:
        raise NodeError("needs at least one input")
    out = values[0]
    for v in values[1:]:
        if ctx.element(v) != ctx.element(out):
            raise NodeError(f"the inputs' element types differ: {out.type} and {v.type}")
        out = ctx.op(_VARIADIC[node.op_type], [out, v])
    if node.op_type == "Mean":
        if not ctx.is_float(out):
            raise NodeError(f"needs floating-point inputs, got {out.type}")
        out = ctx.op(g.DivOp, [out, ctx.scalar(len(values), out)])
    return [out]


# ---------------------------------------------------------------------------------------------
# Selection, clipping, casts
# ---------------------------------------------------------------------------------------------


@converts("Where", since=9)
def _where(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1, 2)
    return [ctx.op(g.SelectOp, list(inputs[:3]))]


@converts("Clip")
def _clip(ctx: OnnxConverter, node: OnnxNode, inputs):
    """min(max(x, lo), hi): with lo > hi every element becomes hi, as ONNX specifies."""
    need(node, inputs, 0)
    x = inputs[0]
    if node.version < 11:
        lo = node.get_float("min", None)
        hi = node.get_float("max", None)
        lo = None if lo is None else ctx.scalar(lo, x)
        hi = None if hi is None else ctx.scalar(hi, x)
    else:
        lo = inputs[1] if len(inputs) > 1 else None
        hi = inputs[2] if len(inputs) > 2 else None
        for bound in (lo, hi):
            if bound is not None and ctx.size(bound) != 1:
                raise NodeError(f"min and max must be scalars, got {bound.type}")
        lo = None if lo is None else ctx.reshape(lo, [])
        hi = None if hi is None else ctx.reshape(hi, [])
    if lo is not None:
        x = ctx.op(g.MaxOp, [x, lo])
    if hi is not None:
        x = ctx.op(g.MinOp, [x, hi])
    return [x]


@converts("Cast")
def _cast(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    to = node.get_int("to")
    target = element_type(to)
    # float -> integer truncates toward zero (graph.cast); NaN and out-of-range values are
    # undefined in ONNX as well.
    return [ctx.cast(inputs[0], target)]


@converts("CastLike", since=15)
def _cast_like(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    return [ctx.cast(inputs[0], ctx.element(inputs[1]))]


@converts("Dropout")
def _dropout(ctx: OnnxConverter, node: OnnxNode, inputs):
    """Inference: the identity, and a mask of ones. Training mode (a true `training_mode`) is not."""
    need(node, inputs, 0)
    x = inputs[0]
    if node.version >= 12 and len(inputs) > 2 and inputs[2] is not None:
        training = ctx.static(inputs, 2)
        if bool(np.asarray(training).reshape(-1)[0]):
            raise Unsupported("training mode (random dropout) is not supported")
    if node.version < 7 and not node.get_int("is_test", 0):
        raise Unsupported("training mode (is_test=0) is not supported")
    mask = None
    if node.output_used(1):
        mask_dtype = np.bool_ if node.version >= 10 else ctx.np_dtype(x)
        mask = ctx.broadcast_to(ctx.const(np.ones((), mask_dtype)), ctx.shape(x))
    return [x, mask]


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------


def _float_input(ctx: OnnxConverter, node: OnnxNode, inputs) -> SSAValue:
    need(node, inputs, 0)
    if not ctx.is_float(inputs[0]):
        raise NodeError(f"needs a floating-point input, got {inputs[0].type}")
    return inputs[0]


def _exp_minus_one(ctx: OnnxConverter, x: SSAValue) -> SSAValue:
    return ctx.op(g.Expm1Op, [x])


@converts("LeakyRelu")
def _leaky_relu(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = _float_input(ctx, node, inputs)
    alpha = node.get_float("alpha", 0.01)
    negative = ctx.op(g.MulOp, [x, ctx.scalar(alpha, x)])
    return [ctx.op(g.SelectOp, [ctx.op(g.LtOp, [x, ctx.scalar(0, x)]), negative, x])]


@converts("PRelu")
def _prelu(ctx: OnnxConverter, node: OnnxNode, inputs):
    """`slope` broadcasts unidirectionally to x (opset 7+); opset 6 also allowed a per-channel
    slope of shape [C] for an NCHW input."""
    need(node, inputs, 0, 1)
    x, slope = inputs[0], inputs[1]
    if node.version < 7 and ctx.rank(slope) == 1 and ctx.rank(x) > 2 and ctx.shape(slope)[0] == ctx.shape(x)[1] != ctx.shape(x)[-1]:
        slope = ctx.reshape(slope, [ctx.shape(slope)[0]] + [1] * (ctx.rank(x) - 2))
    negative = ctx.op(g.MulOp, [x, slope])
    out = ctx.op(g.SelectOp, [ctx.op(g.LtOp, [x, ctx.scalar(0, x)]), negative, x])
    if ctx.shape(out) != ctx.shape(x):
        raise NodeError(f"slope {slope.type} does not broadcast to {x.type}")
    return [out]


@converts("Elu")
def _elu(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = _float_input(ctx, node, inputs)
    alpha = node.get_float("alpha", 1.0)
    negative = ctx.op(g.MulOp, [_exp_minus_one(ctx, x), ctx.scalar(alpha, x)])
    return [ctx.op(g.SelectOp, [ctx.op(g.LtOp, [x, ctx.scalar(0, x)]), negative, x])]


@converts("Selu")
def _selu(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = _float_input(ctx, node, inputs)
    alpha = node.get_float("alpha", 1.67326319217681884765625)
    gamma = node.get_float("gamma", 1.05070102214813232421875)
    negative = ctx.op(g.SubOp, [ctx.op(g.MulOp, [ctx.op(g.ExpOp, [x]), ctx.scalar(alpha, x)]), ctx.scalar(alpha, x)])
    inner = ctx.op(g.SelectOp, [ctx.op(g.LeOp, [x, ctx.scalar(0, x)]), negative, x])
    return [ctx.op(g.MulOp, [inner, ctx.scalar(gamma, x)])]


@converts("ThresholdedRelu", since=10)
def _thresholded_relu(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = _float_input(ctx, node, inputs)
    alpha = node.get_float("alpha", 1.0)
    return [ctx.op(g.SelectOp, [ctx.op(g.GtOp, [x, ctx.scalar(alpha, x)]), x, ctx.scalar(0, x)])]


@converts("HardSigmoid")
def _hard_sigmoid(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = _float_input(ctx, node, inputs)
    alpha, beta = node.get_float("alpha", 0.2), node.get_float("beta", 0.5)
    y = ctx.op(g.AddOp, [ctx.op(g.MulOp, [x, ctx.scalar(alpha, x)]), ctx.scalar(beta, x)])
    y = ctx.op(g.MaxOp, [y, ctx.scalar(0, x)])
    return [ctx.op(g.MinOp, [y, ctx.scalar(1, x)])]


@converts("HardSwish", since=14)
def _hard_swish(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = _float_input(ctx, node, inputs)
    y = ctx.op(g.AddOp, [ctx.op(g.MulOp, [x, ctx.scalar(1 / 6, x)]), ctx.scalar(0.5, x)])
    y = ctx.op(g.MinOp, [ctx.op(g.MaxOp, [y, ctx.scalar(0, x)]), ctx.scalar(1, x)])
    return [ctx.op(g.MulOp, [x, y])]


def softplus(ctx: OnnxConverter, x: SSAValue) -> SSAValue:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): no overflow for large x."""
    tail = ctx.op(g.Log1pOp, [ctx.op(g.ExpOp, [ctx.op(g.NegOp, [ctx.op(g.AbsOp, [x])])])])
    return ctx.op(g.AddOp, [ctx.op(g.MaxOp, [x, ctx.scalar(0, x)]), tail])


@converts("Softplus")
def _softplus(ctx: OnnxConverter, node: OnnxNode, inputs):
    return [softplus(ctx, _float_input(ctx, node, inputs))]


@converts("Softsign")
def _softsign(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = _float_input(ctx, node, inputs)
    return [ctx.op(g.DivOp, [x, ctx.op(g.AddOp, [ctx.op(g.AbsOp, [x]), ctx.scalar(1, x)])])]


@converts("Mish", since=18)
def _mish(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = _float_input(ctx, node, inputs)
    return [ctx.op(g.MulOp, [x, ctx.op(g.TanhOp, [softplus(ctx, x)])])]


@converts("Gelu", since=20)
def _gelu(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = _float_input(ctx, node, inputs)
    approximate = node.get_str("approximate", "none")
    half = ctx.op(g.MulOp, [x, ctx.scalar(0.5, x)])
    if approximate == "none":
        inner = ctx.op(g.ErfOp, [ctx.op(g.MulOp, [x, ctx.scalar(1 / np.sqrt(2.0), x)])])
    elif approximate == "tanh":
        cube = ctx.op(g.MulOp, [ctx.op(g.MulOp, [x, x]), x])
        poly = ctx.op(g.AddOp, [x, ctx.op(g.MulOp, [cube, ctx.scalar(0.044715, x)])])
        inner = ctx.op(g.TanhOp, [ctx.op(g.MulOp, [poly, ctx.scalar(np.sqrt(2 / np.pi), x)])])
    else:
        raise NodeError(f"approximate '{approximate}' is not 'none' or 'tanh'")
    return [ctx.op(g.MulOp, [half, ctx.op(g.AddOp, [inner, ctx.scalar(1, x)])])]


@converts("Celu", since=12)
def _celu(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = _float_input(ctx, node, inputs)
    alpha = node.get_float("alpha", 1.0)
    scaled = ctx.op(g.DivOp, [x, ctx.scalar(alpha, x)])
    negative = ctx.op(g.MinOp, [ctx.scalar(0, x), ctx.op(g.MulOp, [_exp_minus_one(ctx, scaled), ctx.scalar(alpha, x)])])
    return [ctx.op(g.AddOp, [ctx.op(g.MaxOp, [x, ctx.scalar(0, x)]), negative])]


@converts("Shrink", since=9)
def _shrink(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    lambd, bias = node.get_float("lambd", 0.5), node.get_float("bias", 0.0)
    low = ctx.op(g.AddOp, [x, ctx.scalar(bias, x)])
    high = ctx.op(g.SubOp, [x, ctx.scalar(bias, x)])
    zero = ctx.scalar(0, x)
    out = ctx.op(g.SelectOp, [ctx.op(g.GtOp, [x, ctx.scalar(lambd, x)]), high, zero])
    return [ctx.op(g.SelectOp, [ctx.op(g.LtOp, [x, ctx.scalar(-lambd, x)]), low, out])]


@converts("Swish", since=24)
def _swish(ctx: OnnxConverter, node: OnnxNode, inputs):
    x = _float_input(ctx, node, inputs)
    alpha = node.get_float("alpha", 1.0)
    return [ctx.op(g.MulOp, [x, ctx.op(g.SigmoidOp, [ctx.op(g.MulOp, [x, ctx.scalar(alpha, x)])])])]
