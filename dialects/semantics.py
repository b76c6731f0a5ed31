"""The executable meaning of every `graph` op, written once over an array namespace.

`evaluate_op(op, arrays, xp)` computes an op's results from its operands' values with `xp` being
`numpy` (constant folding, front ends evaluating shape operands) or `jax.numpy` (the reference
backend, under `jax.jit`). Every backend is tested against this module through the reference
backend, so when a question of semantics comes up, the answer is written here.

Only functions that numpy and jax.numpy share are used, except where a jax-specific primitive is
much better (convolution and top-k); those branches are marked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.ir import Operation, SSAValue

from graphc.dialects import dtypes
from graphc.dialects import fusion
from graphc.dialects import graph as g
from graphc.dialects import quant as q
from graphc.dialects import quant_arith as qa
from graphc.dialects.resources import GraphProgram, WeightStore, constant_value

Array = Any
Impl = Callable[[Any, g.GraphOp, list[Array]], list[Array]]
_IMPLS: dict[type[Operation], Impl] = {}


def implements(*op_types: type[Operation]):
    def register(fn: Impl) -> Impl:
        for t in op_types:
            _IMPLS[t] = fn
        return fn

    return register


def is_jax(xp) -> bool:
    return xp.__name__.startswith("jax")


def result_dtype(op: Operation, index: int = 0) -> np.dtype:
    return dtypes.to_numpy_dtype(op.results[index].type.element_type)


def evaluate_op(op: Operation, arrays: Sequence[Array], xp=np) -> list[Array]:
    impl = _IMPLS.get(type(op))
    if impl is None:
        raise NotImplementedError(f"no semantics for {op.name}")
    with np.errstate(all="ignore"):
        results = impl(xp, op, list(arrays))
    return [xp.asarray(r).astype(result_dtype(op, i)) for i, r in enumerate(results)]


def evaluate_function(
    main: func.FuncOp,
    weights: WeightStore,
    inputs: Sequence[Array],
    xp=np,
    constant_loader: Callable[[g.ConstantOp], Array] | None = None,
    observer: Callable[[Operation, list[Array]], None] | None = None,
) -> list[Array]:
    """Runs `main` op by op; `observer` sees every op's results (used by layer-by-layer debugging)."""
    env: dict[SSAValue, Array] = dict(zip(main.args, inputs))
    for op in main.body.block.ops:
        if isinstance(op, func.ReturnOp):
            return [env[v] for v in op.arguments]
        if isinstance(op, g.ConstantOp):
            value = constant_loader(op) if constant_loader else constant_value(op, weights)
            results = [value]
        else:
            results = evaluate_op(op, [env[v] for v in op.operands], xp)
        if observer is not None:
            observer(op, results)
        env.update(zip(op.results, results))
    raise ValueError("@main has no func.return")


@implements(fusion.RegionOp)
def _fusion_region(xp, op, args):
    """A fusion region means its body: the graph ops evaluated in order (one kernel elsewhere)."""
    env: dict[SSAValue, Array] = dict(zip(op.block.args, args))
    for inner in op.body_ops():
        if isinstance(inner, g.ConstantOp):  # always inline inside a region: no weight store needed
            results = [constant_value(inner, WeightStore())]
        else:
            results = evaluate_op(inner, [env[v] for v in inner.operands], xp)
        env.update(zip(inner.results, results))
    return [env[v] for v in op.yield_op.values]


def evaluate_program(program: GraphProgram, inputs: dict[str, Array], xp=np) -> dict[str, Array]:
    """Evaluates a whole program eagerly; inputs and outputs are keyed by their names."""
    args = [xp.asarray(inputs[name]) for name in program.input_names]
    outs = evaluate_function(program.main, program.weights, args, xp)
    return dict(zip(program.output_names, outs))


# ---------------------------------------------------------------------------------------------
# Elementwise
# ---------------------------------------------------------------------------------------------


def _erf(xp, x):
    if is_jax(xp):
        import jax

        return jax.lax.erf(x)
    return np.vectorize(math.erf, otypes=[np.float64])(np.asarray(x, np.float64)).astype(x.dtype)


def _sigmoid(xp, x):
    if is_jax(xp):
        import jax

        return jax.nn.sigmoid(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


_UNARY: dict[type[Operation], Callable[[Any, Array], Array]] = {
    g.NegOp: lambda xp, x: xp.negative(x),
    g.AbsOp: lambda xp, x: xp.abs(x),
    g.SignOp: lambda xp, x: xp.sign(x),
    g.ExpOp: lambda xp, x: xp.exp(x),
    g.Expm1Op: lambda xp, x: xp.expm1(x),
    g.LogOp: lambda xp, x: xp.log(x),
    g.Log1pOp: lambda xp, x: xp.log1p(x),
    g.SqrtOp: lambda xp, x: xp.sqrt(x),
    g.RsqrtOp: lambda xp, x: 1 / xp.sqrt(x),
    g.SinOp: lambda xp, x: xp.sin(x),
    g.CosOp: lambda xp, x: xp.cos(x),
    g.TanhOp: lambda xp, x: xp.tanh(x),
    g.SigmoidOp: _sigmoid,
    g.ErfOp: _erf,
    g.FloorOp: lambda xp, x: xp.floor(x),
    g.CeilOp: lambda xp, x: xp.ceil(x),
    g.RoundOp: lambda xp, x: xp.round(x),
    g.ReluOp: lambda xp, x: xp.where(x > 0, x, xp.zeros_like(x)) if not _is_float(x) else xp.maximum(x, 0),
    g.TanOp: lambda xp, x: xp.tan(x),
    g.AsinOp: lambda xp, x: xp.arcsin(x),
    g.AcosOp: lambda xp, x: xp.arccos(x),
    g.AtanOp: lambda xp, x: xp.arctan(x),
    g.SinhOp: lambda xp, x: xp.sinh(x),
    g.CoshOp: lambda xp, x: xp.cosh(x),
    g.AsinhOp: lambda xp, x: xp.arcsinh(x),
    g.AcoshOp: lambda xp, x: xp.arccosh(x),
    g.AtanhOp: lambda xp, x: xp.arctanh(x),
    g.NotOp: lambda xp, x: xp.logical_not(x) if x.dtype == np.bool_ else xp.invert(x),
    g.IsNanOp: lambda xp, x: xp.isnan(x) if _is_float(x) else xp.zeros(x.shape, np.bool_),
    g.IsInfOp: lambda xp, x: xp.isinf(x) if _is_float(x) else xp.zeros(x.shape, np.bool_),
}


def _is_float(x) -> bool:
    return np.issubdtype(np.dtype(x.dtype), np.floating) or str(x.dtype) == "bfloat16"


@implements(*_UNARY)
def _unary(xp, op, args):
    return [_UNARY[type(op)](xp, args[0])]


@implements(g.CastOp)
def _cast(xp, op, args):
    (x,) = args
    target = result_dtype(op)
    if target == np.bool_:
        return [x != 0]
    if _is_float(x) and np.issubdtype(target, np.integer):
        x = xp.trunc(x)
    if target.name == "bfloat16" and x.dtype not in (np.float32, target):
        x = x.astype(np.float32)  # to bf16 through f32: ml_dtypes does so; spelled out for XLA
    return [x.astype(target)]


def _nonzero_divisor(xp, b):
    """`b` with zeros replaced by 1, and where b was 0: integer division by zero gives 0 here (as in
    numpy and on the CPU backend), not a trap nor XLA's own value (x / 0 is -1 there)."""
    if isinstance(b, int):
        return (b or 1), b == 0
    zero = b == 0
    return xp.where(zero, xp.ones_like(b), b), zero


def _truncating_div(xp, a, b):
    b, zero = _nonzero_divisor(xp, b)
    q = a // b
    return xp.where(zero, 0, xp.where((a % b != 0) & ((a < 0) != (b < 0)), q + 1, q))


def _div(xp, a, b):
    return a / b if _is_float(a) else _truncating_div(xp, a, b)


def _floor_div(xp, a, b):
    if _is_float(a):
        return xp.floor(a / b)
    b, zero = _nonzero_divisor(xp, b)
    return xp.where(zero, 0, xp.floor_divide(a, b))


def _rem(xp, a, b):
    """C `fmod`: exact, with the dividend's sign. Integers: x rem 0 = 0, MIN rem -1 = 0."""
    if _is_float(a):
        return xp.fmod(a, b)
    b, zero = _nonzero_divisor(xp, b)
    return xp.where(zero, 0, xp.fmod(a, b))


def _shift(xp, a, b, left: bool):
    """numpy's `left_shift`/`right_shift`, spelled out so XLA agrees: an amount outside
    [0, bit width) (read as unsigned) shifts everything out: 0, or -1 for a negative signed value
    shifted right."""
    width = np.dtype(a.dtype).itemsize * 8
    in_range = (b >= 0) & (b < width)
    amount = xp.where(in_range, b, xp.zeros_like(b))
    if left:
        return xp.where(in_range, xp.left_shift(a, amount), 0)
    shifted_out = xp.where(a < 0, -1, 0) if np.issubdtype(a.dtype, np.signedinteger) else 0
    return xp.where(in_range, xp.right_shift(a, amount), shifted_out)


def _logical_or_bitwise(logical, bitwise):
    def fn(xp, a, b):
        return getattr(xp, logical)(a, b) if a.dtype == np.bool_ else getattr(xp, bitwise)(a, b)

    return fn


_BINARY: dict[type[Operation], Callable[[Any, Array, Array], Array]] = {
    g.AddOp: lambda xp, a, b: a + b,
    g.SubOp: lambda xp, a, b: a - b,
    g.MulOp: lambda xp, a, b: a * b,
    g.DivOp: _div,
    g.FloorDivOp: _floor_div,
    g.FloorModOp: lambda xp, a, b: xp.mod(a, b),
    g.RemOp: _rem,
    g.ShiftLeftOp: lambda xp, a, b: _shift(xp, a, b, left=True),
    g.ShiftRightOp: lambda xp, a, b: _shift(xp, a, b, left=False),
    g.PowOp: lambda xp, a, b: xp.power(a, b),
    g.MaxOp: lambda xp, a, b: xp.maximum(a, b),
    g.MinOp: lambda xp, a, b: xp.minimum(a, b),
    g.AndOp: _logical_or_bitwise("logical_and", "bitwise_and"),
    g.OrOp: _logical_or_bitwise("logical_or", "bitwise_or"),
    g.XorOp: _logical_or_bitwise("logical_xor", "bitwise_xor"),
    g.EqOp: lambda xp, a, b: a == b,
    g.NeOp: lambda xp, a, b: a != b,
    g.LtOp: lambda xp, a, b: a < b,
    g.LeOp: lambda xp, a, b: a <= b,
    g.GtOp: lambda xp, a, b: a > b,
    g.GeOp: lambda xp, a, b: a >= b,
}


@implements(*_BINARY)
def _binary(xp, op, args):
    return [_BINARY[type(op)](xp, args[0], args[1])]


@implements(g.SelectOp)
def _select(xp, op, args):
    return [xp.where(*args)]


# ---------------------------------------------------------------------------------------------
# Reductions and friends
# ---------------------------------------------------------------------------------------------

_REDUCTIONS = {
    g.ReduceSumOp: "sum",
    g.ReduceMeanOp: "mean",
    g.ReduceMaxOp: "max",
    g.ReduceMinOp: "min",
    g.ReduceProdOp: "prod",
    g.ReduceAllOp: "all",
    g.ReduceAnyOp: "any",
}


@implements(*_REDUCTIONS)
def _reduce(xp, op, args):
    (x,) = args
    attrs = op.attrs()
    axes = g.get_ints(attrs, "axes")
    keep = bool(g.get_int(attrs, "keepdims"))
    kind = _REDUCTIONS[type(op)]
    if not axes:
        return [x]
    if kind == "mean" and not _is_float(x):
        count = int(np.prod([x.shape[a] for a in axes]))
        return [_truncating_div(xp, xp.sum(x, axis=axes, keepdims=keep), count)]
    if kind in ("sum", "prod") and not _is_float(x):
        return [getattr(xp, kind)(x, axis=axes, keepdims=keep, dtype=x.dtype)]
    if kind in ("sum", "mean", "prod") and np.dtype(x.dtype).itemsize < 4:
        x = x.astype(np.float32)  # half-precision sums accumulate in float32 (as TF and XLA do)
    return [getattr(xp, kind)(x, axis=axes, keepdims=keep)]


@implements(g.ArgMaxOp, g.ArgMinOp)
def _arg_reduce(xp, op, args):
    (x,) = args
    attrs = op.attrs()
    axis = g.get_int(attrs, "axis")
    fn = xp.argmax if isinstance(op, g.ArgMaxOp) else xp.argmin
    if "select_last_index" in attrs and g.get_int(attrs, "select_last_index"):
        return [x.shape[axis] - 1 - fn(xp.flip(x, axis=axis), axis=axis)]
    return [fn(x, axis=axis)]


@implements(g.SoftmaxOp, g.LogSoftmaxOp)
def _softmax(xp, op, args):
    (x,) = args
    axis = g.get_int(op.attrs(), "axis")
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    e = xp.exp(shifted)
    s = xp.sum(e, axis=axis, keepdims=True)
    if isinstance(op, g.LogSoftmaxOp):
        return [shifted - xp.log(s)]
    return [e / s]


@implements(g.CumsumOp, g.CumprodOp)
def _cumulative(xp, op, args):
    (x,) = args
    attrs = op.attrs()
    axis = g.get_int(attrs, "axis")
    exclusive, reverse = bool(g.get_int(attrs, "exclusive")), bool(g.get_int(attrs, "reverse"))
    is_sum = isinstance(op, g.CumsumOp)
    if reverse:
        x = xp.flip(x, axis=axis)
    out = (xp.cumsum if is_sum else xp.cumprod)(x, axis=axis, dtype=x.dtype)
    if exclusive:
        identity_shape = list(x.shape)
        identity_shape[axis] = 1
        head = [slice(None)] * x.ndim
        head[axis] = slice(0, x.shape[axis] - 1)
        identity = (xp.zeros if is_sum else xp.ones)(identity_shape, x.dtype)
        out = xp.concatenate([identity, out[tuple(head)]], axis=axis)
    if reverse:
        out = xp.flip(out, axis=axis)
    return [out]


@implements(g.TopKOp)
def _top_k(xp, op, args):
    (x,) = args
    k = g.get_int(op.attrs(), "k")
    if is_jax(xp):  # jax-specific: lax.top_k is stable (lower index first on ties)
        import jax

        values, indices = jax.lax.top_k(x, k)
        return [values, indices]
    order = np.argsort(_descending_key(x), axis=-1, kind="stable")
    if _is_float(x):  # NaN ranks above everything, as in lax.top_k and graph.argmax
        nan_last = ~np.isnan(np.take_along_axis(x, order, axis=-1))
        order = np.take_along_axis(order, np.argsort(nan_last, axis=-1, kind="stable"), axis=-1)
    order = order[..., :k]
    return [np.take_along_axis(x, order, axis=-1), order]


def _descending_key(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.bool_:
        return ~x
    if np.issubdtype(x.dtype, np.unsignedinteger):
        return np.iinfo(x.dtype).max - x
    if np.issubdtype(x.dtype, np.integer):
        return -(x.astype(np.int64))
    return np.nan_to_num(-x.astype(np.float64), nan=0.0, posinf=np.inf, neginf=-np.inf)


# ---------------------------------------------------------------------------------------------
# Quantized ops: all arithmetic is `graphc.dialects.quant_arith` (the one integer reference)
# ---------------------------------------------------------------------------------------------


@implements(q.QuantizeOp)
def _quantize(xp, op, args):
    p = q.quant_params(op)
    return [qa.quantize(args[0], p.scale, p.zero_point, p.axis, xp)]


@implements(q.DequantizeOp)
def _dequantize(xp, op, args):
    p = q.quant_params(op)
    return [qa.dequantize(args[0], p.scale, p.zero_point, p.axis, xp)]


@implements(q.RequantizeOp)
def _requantize(xp, op, args):
    p = q.requantize_params(op)
    return [qa.requantize(args[0], p.multiplier, p.shift, p.output_zero_point, p.clamp_min, p.clamp_max, p.axis, xp)]


@implements(q.Conv2DOp)
def _quant_conv2d(xp, op, args):
    x, w, *bias = args
    return [qa.conv2d(x, w, bias[0] if bias else None, xp=xp, **q.conv_params(op))]


@implements(q.MatMulOp)
def _quant_matmul(xp, op, args):
    a, b, *bias = args
    return [qa.matmul(a, b, bias[0] if bias else None, xp=xp, **q.matmul_params(op))]


# ---------------------------------------------------------------------------------------------
# Linear algebra, convolution, pooling, normalization
# ---------------------------------------------------------------------------------------------


def _precision(xp):
    import jax

    return jax.lax.Precision.HIGHEST


@implements(g.MatMulOp)
def _matmul(xp, op, args):
    a, b = args
    if is_jax(xp):
        return [xp.matmul(a, b, precision=_precision(xp))]
    if not _is_float(a):  # numpy's integer matmul is exact; keep the dtype
        return [np.matmul(a, b).astype(a.dtype)]
    return [np.matmul(a, b)]


def _window_taps(x, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int):
    """Yields (i, j, view) where view[n, y, x, c] = x[n, y*sh + i*dh, x*sw + j*dw, c]."""
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            yield i, j, x[:, y0 : y0 + sh * (oh - 1) + 1 : sh, x0 : x0 + sw * (ow - 1) + 1 : sw, :]


def _pad_spatial(xp, x, pads, value):
    pt, pb, pl, pr = pads
    return xp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), mode="constant", constant_values=value)


@implements(g.Conv2DOp)
def _conv2d(xp, op, args):
    x, w = args
    attrs = op.attrs()
    strides, dilations = g.get_ints(attrs, "strides"), g.get_ints(attrs, "dilations")
    pads, groups = g.get_ints(attrs, "pads"), g.get_int(attrs, "groups")
    if is_jax(xp):  # jax-specific: XLA's convolution is the reference's fast path
        import jax

        return [
            jax.lax.conv_general_dilated(
                x, w, window_strides=strides, padding=[(pads[0], pads[1]), (pads[2], pads[3])],
                rhs_dilation=dilations, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                feature_group_count=groups, precision=_precision(xp),
            )
        ]  # fmt: skip
    n, oh, ow, co = op.result.type.get_shape()
    kh, kw, ci, _ = w.shape
    xp_ = _pad_spatial(xp, x, pads, 0)
    acc = np.zeros((n, oh, ow, groups, co // groups), np.float64 if _is_float(x) else np.int64)
    wg = w.reshape(kh, kw, ci, groups, co // groups)
    for i, j, view in _window_taps(xp_, kh, kw, *strides, *dilations, oh, ow):
        v = view.reshape(n, oh, ow, groups, ci)
        acc += np.einsum("nhwgc,cgo->nhwgo", v, wg[i, j], dtype=acc.dtype)
    return [acc.reshape(n, oh, ow, co)]


@implements(g.MaxPoolOp, g.AvgPoolOp)
def _pool(xp, op, args):
    (x,) = args
    attrs = op.attrs()
    kh, kw = g.get_ints(attrs, "window")
    sh, sw = g.get_ints(attrs, "strides")
    pads = g.get_ints(attrs, "pads")
    dh, dw = g.pool_dilations(attrs)
    _, oh, ow, _ = op.result.type.get_shape()
    if isinstance(op, g.MaxPoolOp):
        lowest = -np.inf if _is_float(x) else np.iinfo(x.dtype).min
        padded = _pad_spatial(xp, x, pads, lowest)
        out = None
        for _, _, view in _window_taps(padded, kh, kw, sh, sw, dh, dw, oh, ow):
            out = view if out is None else xp.maximum(out, view)
        return [out]
    if _is_float(x) and np.dtype(x.dtype).itemsize < 4:
        x = x.astype(np.float32)  # half-precision averages accumulate in float32
    padded = _pad_spatial(xp, x, pads, 0)
    ones = _pad_spatial(xp, xp.ones((1, *x.shape[1:3], 1), x.dtype), pads, 0)
    total, count = None, None
    for (_, _, view), (_, _, cview) in zip(
        _window_taps(padded, kh, kw, sh, sw, dh, dw, oh, ow),
        _window_taps(ones, kh, kw, sh, sw, dh, dw, oh, ow),
    ):
        total = view if total is None else total + view
        count = cview if count is None else count + cview
    return [total / count]


@implements(g.BatchNormOp)
def _batch_norm(xp, op, args):
    x, scale, offset, mean, variance = args
    eps = g.get_float(op.attrs(), "epsilon")
    inv = 1 / xp.sqrt(variance + np.asarray(eps, variance.dtype))
    return [(x - mean) * (inv * scale) + offset]


# ---------------------------------------------------------------------------------------------
# Data movement
# ---------------------------------------------------------------------------------------------


@implements(g.ReshapeOp)
def _reshape(xp, op, args):
    return [xp.reshape(args[0], g.get_ints(op.attrs(), "shape"))]


@implements(g.TransposeOp)
def _transpose(xp, op, args):
    return [xp.transpose(args[0], g.get_ints(op.attrs(), "perm"))]


@implements(g.BroadcastToOp)
def _broadcast_to(xp, op, args):
    return [xp.broadcast_to(args[0], g.get_ints(op.attrs(), "shape"))]


@implements(g.SliceOp)
def _slice(xp, op, args):
    attrs = op.attrs()
    starts, limits, strides = (g.get_ints(attrs, k) for k in ("starts", "limits", "strides"))
    return [args[0][tuple(slice(s, l, st) for s, l, st in zip(starts, limits, strides))]]


@implements(g.ReverseOp)
def _reverse(xp, op, args):
    axes = g.get_ints(op.attrs(), "axes")
    return [xp.flip(args[0], axis=axes) if axes else args[0]]


@implements(g.ConcatOp)
def _concat(xp, op, args):
    return [xp.concatenate(args, axis=g.get_int(op.attrs(), "axis"))]


@implements(g.PadOp)
def _pad(xp, op, args):
    (x,) = args
    attrs = op.attrs()
    low, high, interior = (g.get_ints(attrs, k) for k in ("low", "high", "interior"))
    mode = g.get_str(attrs, "mode")
    if mode != "constant":
        return [xp.pad(x, list(zip(low, high)), mode=mode)]
    value = np.asarray(g.get_float(attrs, "value")).astype(x.dtype)
    # Interior and non-negative edge padding by placing x into a filled array; then crop negatives.
    grown = [d + max(d - 1, 0) * it + max(lo, 0) + max(hi, 0) for d, lo, hi, it in zip(x.shape, low, high, interior)]
    place = tuple(
        slice(max(lo, 0), max(lo, 0) + d + max(d - 1, 0) * it, it + 1)
        for d, lo, it in zip(x.shape, low, interior)
    )
    if is_jax(xp):
        out = xp.full(grown, value, x.dtype).at[place].set(x)
    else:
        out = np.full(grown, value, x.dtype)
        out[place] = x
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, lo, hi in zip(grown, low, high))
    return [out[crop]]


def _normalize_indices(xp, idx, size: int):
    idx = idx.astype(np.int64) if not is_jax(xp) else idx
    idx = xp.where(idx < 0, idx + size, idx)
    return xp.clip(idx, 0, size - 1)


def _per_batch(xp, batch_dims: int, x, idx, fn):
    """Applies fn(x_b, idx_b) for every combination of the leading batch dimensions."""
    if batch_dims == 0:
        return fn(x, idx)
    batch_shape = x.shape[:batch_dims]
    count = int(np.prod(batch_shape))
    xs = xp.reshape(x, (count, *x.shape[batch_dims:]))
    ids = xp.reshape(idx, (count, *idx.shape[batch_dims:]))
    parts = [fn(xs[b], ids[b]) for b in range(count)]
    out = xp.stack(parts) if parts else xp.zeros((0,), x.dtype)
    return xp.reshape(out, (*batch_shape, *out.shape[1:]))


@implements(g.GatherOp)
def _gather(xp, op, args):
    x, idx = args
    attrs = op.attrs()
    axis, bd = g.get_int(attrs, "axis"), g.get_int(attrs, "batch_dims")
    idx = _normalize_indices(xp, idx, x.shape[axis])
    return [_per_batch(xp, bd, x, idx, lambda xb, ib: xp.take(xb, ib, axis=axis - bd))]


@implements(g.GatherNdOp)
def _gather_nd(xp, op, args):
    x, idx = args
    bd = g.get_int(op.attrs(), "batch_dims")

    def gather(xb, ib):
        k = ib.shape[-1]
        index = tuple(_normalize_indices(xp, ib[..., j], xb.shape[j]) for j in range(k))
        return xb[index]

    return [_per_batch(xp, bd, x, idx, gather)]


def _wrap_indices(xp, idx, size: int):
    """Negative indices count from the end (int64, so wrapping never overflows a narrow type)."""
    idx = idx.astype(np.int64)
    return xp.where(idx < 0, idx + size, idx)


def _index_grid(xp, shape):
    """One index array per dimension of `shape`, each broadcastable to `shape` (an open mesh)."""
    return [xp.arange(n).reshape([n if k == d else 1 for k in range(len(shape))]) for d, n in enumerate(shape)]


@implements(g.GatherElementsOp)
def _gather_elements(xp, op, args):
    x, idx = args
    axis = g.get_int(op.attrs(), "axis")
    index = _index_grid(xp, idx.shape)
    index[axis] = xp.clip(_wrap_indices(xp, idx, x.shape[axis]), 0, max(x.shape[axis] - 1, 0))
    return [x[tuple(index)]]


@implements(g.ScatterElementsOp)
def _scatter_elements(xp, op, args):
    x, idx, updates = args
    axis = g.get_int(op.attrs(), "axis")
    index = [xp.broadcast_to(i, idx.shape) for i in _index_grid(xp, idx.shape)]
    index[axis] = _wrap_indices(xp, idx, x.shape[axis])
    return [_scatter(xp, x, index, updates, g.get_str(op.attrs(), "reduction"))]


@implements(g.ScatterNdOp)
def _scatter_nd(xp, op, args):
    x, idx, updates = args
    depth = idx.shape[-1]
    index = [_wrap_indices(xp, idx[..., j], x.shape[j]) for j in range(depth)]
    return [_scatter(xp, x, index, updates, g.get_str(op.attrs(), "reduction"))]


def _scatter(xp, x, index: list, updates, reduction: str):
    """`x` with `updates[p]` (a slice when `index` names fewer dims than `x` has) written or combined
    at `x[index[0][p], index[1][p], ...]` for every position p of the index arrays, as a sequential
    loop over p in row-major order would (see `graph.Scatter`). Out-of-range positions are dropped;
    for "none", a position written again later is dropped too (the last update wins), so what is
    left has no duplicates and the outcome does not depend on the order XLA scatters in."""
    positions = index[0].shape
    count = int(np.prod(positions, dtype=np.int64))
    dims = x.shape[: len(index)]
    valid = xp.ones(positions, np.bool_)
    for i, n in zip(index, dims):
        valid = valid & (i >= 0) & (i < n)
    if count == 0:
        return x
    if reduction == "none":
        target = xp.zeros(positions, np.int64)
        for i, n in zip(index, dims):  # linear position in x[:len(index)], -1 if dropped
            target = target * n + xp.clip(i, 0, n - 1)
        order = xp.reshape(xp.arange(count, dtype=np.int64), positions)
        target = xp.where(valid, target, -1)
        slots = int(np.prod(dims, dtype=np.int64)) + 1  # one extra slot collects the dropped ones
        last = xp.full((slots,), -1, np.int64)
        if is_jax(xp):
            last = last.at[target].max(order)
        else:
            np.maximum.at(last, target, order)
        valid = valid & (last[target] == order)
    if not is_jax(xp):
        out = x.copy()
        picked = tuple(i[valid] for i in index)
        values = updates[valid]
        if reduction == "none":
            out[picked] = values
        else:
            ufunc = _SCATTER_UFUNCS[reduction]
            if x.dtype == np.bool_:
                ufunc = np.logical_or if reduction in ("add", "max") else np.logical_and
            ufunc.at(out, picked, values)
        return out
    # jax: dropped positions point past the end of the first dimension, and mode="drop" drops them
    index = [xp.where(valid, i, dims[0]) if k == 0 else xp.clip(i, 0, dims[k] - 1) for k, i in enumerate(index)]
    at = x.at[tuple(index)]
    if x.dtype == np.bool_ and reduction != "none":
        reduction = "max" if reduction in ("add", "max") else "min"
    method = {"none": at.set, "add": at.add, "mul": at.multiply, "max": at.max, "min": at.min}[reduction]
    return method(updates, mode="drop")


_SCATTER_UFUNCS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


@implements(g.ResizeOp)
def _resize(xp, op, args):
    (x,) = args
    attrs = op.attrs()
    _, h, w, _ = x.shape
    oh, ow = g.get_ints(attrs, "size")
    wy = resize_matrix(h, oh, attrs)
    wx = resize_matrix(w, ow, attrs)
    compute = x if _is_float(x) else x.astype(np.float32)
    if is_jax(xp):
        out = xp.einsum("oh,nhwc,pw->nopc", wy.astype(np.float32), compute, wx.astype(np.float32),
                        precision=_precision(xp))  # fmt: skip
    else:
        out = np.einsum("oh,nhwc,pw->nopc", wy, compute.astype(np.float64), wx)
    if not _is_float(x):
        out = xp.round(out)
    return [out]


def resize_matrix(in_size: int, out_size: int, attrs: dict) -> np.ndarray:
    """The [out, in] interpolation matrix of one spatial axis (resize is separable)."""
    mode = g.get_str(attrs, "mode")
    coords = g.get_str(attrs, "coordinates")
    nearest_mode = g.get_str(attrs, "nearest_mode")
    a = g.get_float(attrs, "cubic_coeff")
    exclude_outside = bool(g.get_int(attrs, "exclude_outside"))
    dst = np.arange(out_size, dtype=np.float64)
    if coords == "align_corners":
        scale = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        src = dst * scale
    else:
        scale = in_size / out_size
        if coords in ("half_pixel", "tf_half_pixel") and mode != "nearest":
            src = (dst + 0.5) * scale - 0.5
        elif coords == "tf_half_pixel":
            src = (dst + 0.5) * scale
        elif coords == "half_pixel":
            src = (dst + 0.5) * scale - 0.5
        else:
            src = dst * scale
    m = np.zeros((out_size, in_size), np.float64)
    rows = np.arange(out_size)
    if mode == "nearest":
        if nearest_mode == "round_prefer_ceil":
            idx = np.floor(src + 0.5)
        elif nearest_mode == "round_prefer_floor":
            idx = np.ceil(src - 0.5)
        elif nearest_mode == "ceil":
            idx = np.ceil(src)
        else:
            idx = np.floor(src)
        m[rows, np.clip(idx, 0, in_size - 1).astype(int)] = 1.0
        return m
    if mode == "bilinear":
        if coords == "half_pixel":
            src = np.maximum(src, 0.0)
        lo = np.floor(src)
        frac = src - lo
        lo_i = np.clip(lo, 0, in_size - 1).astype(int)
        hi_i = np.clip(lo + 1, 0, in_size - 1).astype(int)
        np.add.at(m, (rows, lo_i), 1 - frac)
        np.add.at(m, (rows, hi_i), frac)
        return m
    base = np.floor(src)
    t = src - base
    if "cubic_table" in attrs:
        entries = g.get_int(attrs, "cubic_table")
        t = np.rint(t * entries) / entries
    for offset in (-1, 0, 1, 2):
        d = np.abs(t - offset)
        weight = np.where(
            d <= 1, ((a + 2) * d - (a + 3)) * d * d + 1, np.where(d < 2, ((a * d - 5 * a) * d + 8 * a) * d - 4 * a, 0.0)
        )
        idx = base + offset
        inside = (idx >= 0) & (idx < in_size)
        if exclude_outside:
            weight = np.where(inside, weight, 0.0)
        np.add.at(m, (rows, np.clip(idx, 0, in_size - 1).astype(int)), weight)
    if exclude_outside:
        m /= m.sum(axis=1, keepdims=True)
    return m
