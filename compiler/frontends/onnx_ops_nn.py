"""ONNX convolutions, pooling and normalizations (NCHW) onto the graph dialect's NHWC ops.

Every NCHW image op becomes `transpose(0,2,3,1)` -> the NHWC graph op -> `transpose(0,3,1,2)`;
filters OIHW become HWIO through `transpose(2,3,1,0)` (folded into the constant at compile time).
The layout pass cancels the transpose pairs between neighbouring image ops. 1-d convolutions and
pools are 2-d ones over a height of 1 (dilated pools included: the graph pools take `dilations`);
3-d pools and convolutions go through `onnx_windows`.

Padding follows ONNX: explicit `pads` are [begin..., end...]; SAME_UPPER puts the odd extra row at
the end, SAME_LOWER at the beginning; `ceil_mode` adds rows at the end that the window may overhang
(they hold -inf for max pooling and never count toward an average).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.ir import SSAValue

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.frontends.onnx_context import (
    NodeError,
    OnnxConverter,
    OnnxNode,
    Unsupported,
    converts,
    need,
    normalize_axis,
)
from graphc.frontends.onnx_windows import conv3d, pool_taps

NCHW_TO_NHWC = [0, 2, 3, 1]
NHWC_TO_NCHW = [0, 3, 1, 2]
OIHW_TO_HWIO = [2, 3, 1, 0]


# ---------------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------------


def _spatial_rank(ctx: OnnxConverter, x: SSAValue, what: str, most: int = 2) -> int:
    rank = ctx.rank(x) - 2
    if rank > most and rank <= 3:
        raise Unsupported(f"3-d {what} is not supported")
    if not 1 <= rank <= most:
        raise NodeError(f"{what} needs an N x C x D1 x ... input with 1 to {most} spatial dimensions, got {x.type}")
    return rank


def _to_2d(ctx: OnnxConverter, x: SSAValue) -> SSAValue:
    """N x C x L -> N x C x 1 x L (1-d ops run as 2-d ones over a height of 1)."""
    n, c, length = ctx.shape(x)
    return ctx.reshape(x, [n, c, 1, length])


def _pair(values: Sequence[int] | None, spatial: int, default: int, what: str) -> list[int]:
    if values is None:
        return [default, default]
    values = [int(v) for v in values]
    if len(values) != spatial:
        raise NodeError(f"'{what}' has {len(values)} entries, the op has {spatial} spatial dimensions")
    return [default] + values if spatial == 1 else values


def _explicit_pads(node: OnnxNode, spatial: int) -> list[int]:
    """(top, bottom, left, right) from ONNX's [begin..., end...] pads."""
    pads = node.get_ints("pads", None)
    if pads is None:
        return [0, 0, 0, 0]
    if len(pads) != 2 * spatial:
        raise NodeError(f"'pads' has {len(pads)} entries, expected {2 * spatial}")
    if any(p < 0 for p in pads):
        raise NodeError(f"negative pads {pads}")
    if spatial == 1:
        return [0, 0, pads[0], pads[1]]
    return [pads[0], pads[2], pads[1], pads[3]]


def _same_pads(size: int, window: int, stride: int, dilation: int, upper: bool) -> tuple[int, int]:
    effective = (window - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    small, large = total // 2, total - total // 2
    return (small, large) if upper else (large, small)


def _pads(node: OnnxNode, spatial: int, in_hw, kernel, strides, dilations) -> list[int]:
    auto_pad = node.get_str("auto_pad", "NOTSET")
    if auto_pad in ("NOTSET", ""):
        return _explicit_pads(node, spatial)
    if auto_pad == "VALID":
        return [0, 0, 0, 0]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        upper = auto_pad == "SAME_UPPER"
        top, bottom = _same_pads(in_hw[0], kernel[0], strides[0], dilations[0], upper)
        left, right = _same_pads(in_hw[1], kernel[1], strides[1], dilations[1], upper)
        return [top, bottom, left, right]
    raise NodeError(f"auto_pad '{auto_pad}' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID")


# ---------------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------------


def conv_nchw(ctx: OnnxConverter, x: SSAValue, w: SSAValue, bias: SSAValue | None, strides, dilations,
              pads, groups: int) -> SSAValue:  # fmt: skip
    """NCHW x OIHW -> NCHW through the NHWC x HWIO graph.conv2d (bias added in NHWC)."""
    xt = ctx.transpose(x, NCHW_TO_NHWC)
    wt = ctx.transpose(w, OIHW_TO_HWIO)
    y = ctx.op(g.Conv2DOp, [xt, wt], strides=g.ints_attr(strides), dilations=g.ints_attr(dilations),
               pads=g.ints_attr(pads), groups=g.int_attr(groups))  # fmt: skip
    if bias is not None:
        y = ctx.op(g.AddOp, [y, bias])
    return ctx.transpose(y, NHWC_TO_NCHW)


@converts("Conv")
def _conv(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    return [conv_operands(ctx, node, inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None)]


def conv_operands(ctx: OnnxConverter, node: OnnxNode, x: SSAValue, w: SSAValue, bias: SSAValue | None,
                  conv2d=None) -> SSAValue:  # fmt: skip
    """An ONNX Conv (attributes of `node`) of NCHW/NCL/NCDHW `x` with OIHW/OIL/OIDHW `w`.

    `conv2d(ctx, x, w, bias, strides, dilations, pads, groups)` makes the 2-d NCHW convolution
    (default `conv_nchw`); with one given, 3-d convolutions are refused (they are sums of 2-d ones)."""
    spatial = _spatial_rank(ctx, x, "convolution", most=3 if conv2d is None else 2)
    if spatial == 3:
        return _conv3d(ctx, node, x, w, bias)
    if ctx.rank(w) != spatial + 2:
        raise NodeError(f"the filter {w.type} does not match a {spatial}-d convolution")
    w_shape = ctx.shape(w)
    if spatial == 1:
        x, w = _to_2d(ctx, x), _to_2d(ctx, w)
    n, c, h, wd = ctx.shape(x)
    m, ci, kh, kw = ctx.shape(w)
    groups = node.get_int("group", 1)
    if groups < 1 or c != ci * groups or m % groups:
        raise NodeError(f"filter {list(w_shape)} does not fit {c} input channels in {groups} groups")
    kernel = node.get_ints("kernel_shape", None)
    if kernel is not None and _pair(kernel, spatial, 1, "kernel_shape") != [kh, kw]:
        raise NodeError(f"kernel_shape {kernel} does not match the filter {list(w_shape)}")
    strides = _pair(node.get_ints("strides", None), spatial, 1, "strides")
    dilations = _pair(node.get_ints("dilations", None), spatial, 1, "dilations")
    pads = _pads(node, spatial, (h, wd), (kh, kw), strides, dilations)
    if bias is not None and ctx.shape(bias) != (m,):
        raise NodeError(f"bias {bias.type} is not of shape [{m}]")
    y = (conv2d or conv_nchw)(ctx, x, w, bias, strides, dilations, pads, groups)
    if spatial == 1:
        y = ctx.reshape(y, [ctx.shape(y)[0], ctx.shape(y)[1], ctx.shape(y)[3]])
    return y


def _conv3d(ctx: OnnxConverter, node: OnnxNode, x: SSAValue, w: SSAValue, bias: SSAValue | None) -> SSAValue:
    if ctx.rank(w) != 5:
        raise NodeError(f"the filter {w.type} does not match a 3-d convolution")
    groups = node.get_int("group", 1)
    c, m, cg = ctx.shape(x)[1], ctx.shape(w)[0], ctx.shape(w)[1]
    if groups < 1 or c != cg * groups or m % groups:
        raise NodeError(f"filter {list(ctx.shape(w))} does not fit {c} input channels in {groups} groups")
    kernel = list(ctx.shape(w)[2:])
    given = node.get_ints("kernel_shape", None)
    if given is not None and list(given) != kernel:
        raise NodeError(f"kernel_shape {given} does not match the filter {list(ctx.shape(w))}")
    strides, dilations, begin, end, _ = _nd_geometry(ctx, node, x, kernel)

    def conv2d(x2, w2, b2, strides2, dilations2, pads2, groups2):
        return conv_nchw(ctx, x2, w2, b2, strides2, dilations2, pads2, groups2)

    return conv3d(ctx, x, w, bias, strides, dilations, begin, end, groups, conv2d)


@converts("ConvTranspose")
def _conv_transpose(ctx: OnnxConverter, node: OnnxNode, inputs):
    """A direct convolution of the stride-dilated input (interior padding), padded by
    `effective_kernel - 1 - pad` on each side, with the spatially flipped filter whose input and
    output channels are swapped (per group)."""
    need(node, inputs, 0, 1)
    x, w = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    spatial = _spatial_rank(ctx, x, "transposed convolution")
    if ctx.rank(w) != spatial + 2:
        raise NodeError(f"the filter {w.type} does not match a {spatial}-d transposed convolution")
    if spatial == 1:
        x, w = _to_2d(ctx, x), _to_2d(ctx, w)
    n, c, h, wd = ctx.shape(x)
    cw, mg, kh, kw = ctx.shape(w)
    groups = node.get_int("group", 1)
    if groups < 1 or cw != c or c % groups:
        raise NodeError(f"filter {list(ctx.shape(w))} does not fit {c} input channels in {groups} groups")
    m = mg * groups
    strides = _pair(node.get_ints("strides", None), spatial, 1, "strides")
    dilations = _pair(node.get_ints("dilations", None), spatial, 1, "dilations")
    out_pad = _pair(node.get_ints("output_padding", None), spatial, 0, "output_padding")
    effective = [(k - 1) * d + 1 for k, d in zip((kh, kw), dilations)]
    full = [s * (i - 1) + op + e for s, i, op, e in zip(strides, (h, wd), out_pad, effective)]
    output_shape = node.get_ints("output_shape", None)
    auto_pad = node.get_str("auto_pad", "NOTSET")
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if output_shape is not None:
            target = _pair(output_shape[-spatial:], spatial, 1, "output_shape")
        else:
            target = [i * s for i, s in zip((h, wd), strides)]
        begin, end = [], []
        for total in (f - t for f, t in zip(full, target)):  # a negative total extends the end
            if auto_pad == "SAME_UPPER":
                begin.append(total // 2)
                end.append(total - total // 2)
            else:
                begin.append(total - total // 2)
                end.append(total // 2)
    elif auto_pad in ("NOTSET", "", "VALID"):
        p = [0, 0, 0, 0] if auto_pad == "VALID" else _explicit_pads(node, spatial)
        begin, end = [p[0], p[2]], [p[1], p[3]]
    else:
        raise NodeError(f"auto_pad '{auto_pad}' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID")
    # Filter [C, M/g, kh, kw] -> OIHW [M, C/g, kh, kw], flipped in space.
    wf = ctx.reshape(w, [groups, c // groups, mg, kh, kw])
    wf = ctx.transpose(wf, [0, 2, 1, 3, 4])
    wf = ctx.reshape(wf, [m, c // groups, kh, kw])
    wf = ctx.op(g.ReverseOp, [wf], axes=g.ints_attr([2, 3]))
    xt = ctx.transpose(x, NCHW_TO_NHWC)
    low = [0] + [e - 1 - b for e, b in zip(effective, begin)] + [0]
    high = [0] + [e - 1 - b2 + op for e, b2, op in zip(effective, end, out_pad)] + [0]
    interior = [0, strides[0] - 1, strides[1] - 1, 0]
    xt = ctx.op(g.PadOp, [xt], low=g.ints_attr(low), high=g.ints_attr(high), interior=g.ints_attr(interior),
                mode=g.str_attr("constant"), value=g.float_attr(0.0))  # fmt: skip
    y = ctx.op(g.Conv2DOp, [xt, ctx.transpose(wf, OIHW_TO_HWIO)], strides=g.ints_attr([1, 1]),
               dilations=g.ints_attr(dilations), pads=g.ints_attr([0, 0, 0, 0]), groups=g.int_attr(groups))  # fmt: skip
    if bias is not None:
        y = ctx.op(g.AddOp, [y, bias])
    y = ctx.transpose(y, NHWC_TO_NCHW)
    if spatial == 1:
        y = ctx.reshape(y, [ctx.shape(y)[0], ctx.shape(y)[1], ctx.shape(y)[3]])
    return [y]


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------


def _ceil_extra(size: int, pad_lo: int, pad_hi: int, window: int, stride: int) -> int:
    """Rows to add at the end so that the floor formula yields ONNX's ceil_mode output size."""
    span = size + pad_lo + pad_hi - window
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_lo:  # the last window would start in the end padding
        out -= 1
    return max((out - 1) * stride + window - (size + pad_lo + pad_hi), 0)


def _pool_geometry(ctx: OnnxConverter, node: OnnxNode, x: SSAValue, spatial: int):
    _, _, h, w = ctx.shape(x)
    kernel = _pair(node.get_ints("kernel_shape"), spatial, 1, "kernel_shape")
    strides = _pair(node.get_ints("strides", None), spatial, 1, "strides")
    dilations = _pair(node.get_ints("dilations", None), spatial, 1, "dilations")
    pads = _pads(node, spatial, (h, w), kernel, strides, dilations)
    ceil_mode = node.get_int("ceil_mode", 0) if node.version >= 10 else 0
    extra = [0, 0]
    if ceil_mode:
        span = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
        extra = [_ceil_extra(h, pads[0], pads[1], span[0], strides[0]),
                 _ceil_extra(w, pads[2], pads[3], span[1], strides[1])]  # fmt: skip
    return kernel, strides, dilations, pads, extra


def _nd_geometry(ctx: OnnxConverter, node: OnnxNode, x: SSAValue, kernel: list[int]):
    """(strides, dilations, begin pads, end pads, ceil_mode extra) for any number of spatial dims."""
    sizes = ctx.shape(x)[2:]
    spatial = len(sizes)
    strides = node.get_ints("strides", None) or [1] * spatial
    dilations = node.get_ints("dilations", None) or [1] * spatial
    if not len(kernel) == len(strides) == len(dilations) == spatial:
        raise NodeError(f"kernel_shape {kernel}, strides {strides} and dilations {dilations} do not match {spatial} spatial dimensions")
    auto_pad = node.get_str("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pairs = [_same_pads(n, k, st, d, auto_pad == "SAME_UPPER") for n, k, st, d in zip(sizes, kernel, strides, dilations)]
        begin, end = [p[0] for p in pairs], [p[1] for p in pairs]
    elif auto_pad == "VALID":
        begin, end = [0] * spatial, [0] * spatial
    elif auto_pad in ("NOTSET", ""):
        pads = node.get_ints("pads", None) or [0] * (2 * spatial)
        if len(pads) != 2 * spatial or any(p < 0 for p in pads):
            raise NodeError(f"bad pads {pads} for {spatial} spatial dimensions")
        begin, end = pads[:spatial], pads[spatial:]
    else:
        raise NodeError(f"auto_pad '{auto_pad}' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID")
    extra = [0] * spatial
    if node.version >= 10 and node.get_int("ceil_mode", 0):
        extra = [_ceil_extra(n, b, e, (k - 1) * d + 1, st) for n, b, e, k, d, st in zip(sizes, begin, end, kernel, dilations, strides)]
    return strides, dilations, begin, end, extra


def _pool_by_taps(ctx: OnnxConverter, node: OnnxNode, x: SSAValue, kind: str, count_include_pad: bool = False) -> SSAValue:
    kernel = node.get_ints("kernel_shape")
    strides, dilations, begin, end, extra = _nd_geometry(ctx, node, x, kernel)
    return pool_taps(ctx, x, kind, kernel, strides, dilations, begin, end, extra, count_include_pad)


def _pool(ctx: OnnxConverter, cls, x: SSAValue, kernel, strides, pads, dilations=(1, 1)) -> SSAValue:
    xt = ctx.transpose(x, NCHW_TO_NHWC)
    attrs = {"dilations": g.ints_attr(dilations)} if any(d != 1 for d in dilations) else {}
    y = ctx.op(cls, [xt], window=g.ints_attr(kernel), strides=g.ints_attr(strides), pads=g.ints_attr(pads), **attrs)
    return ctx.transpose(y, NHWC_TO_NCHW)


def _from_2d(ctx: OnnxConverter, y: SSAValue, spatial: int) -> SSAValue:
    if spatial == 1:
        n, c, _, length = ctx.shape(y)
        return ctx.reshape(y, [n, c, length])
    return y


@converts("MaxPool")
def _max_pool(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    if node.output_used(1):
        raise Unsupported("the Indices output of MaxPool is not supported")
    spatial = _spatial_rank(ctx, x, "max pooling", most=3)
    if spatial == 3:
        return [_pool_by_taps(ctx, node, x, "max")]
    if spatial == 1:
        x = _to_2d(ctx, x)
    kernel, strides, dilations, pads, extra = _pool_geometry(ctx, node, x, spatial)
    pads = [pads[0], pads[1] + extra[0], pads[2], pads[3] + extra[1]]
    return [_from_2d(ctx, _pool(ctx, g.MaxPoolOp, x, kernel, strides, pads, dilations), spatial)]


@converts("AveragePool")
def _average_pool(ctx: OnnxConverter, node: OnnxNode, inputs):
    """graph.avg_pool never counts padding; `count_include_pad` pads with explicit zeros first."""
    need(node, inputs, 0)
    x = inputs[0]
    if not ctx.is_float(x):
        raise NodeError(f"needs a floating-point input, got {x.type}")
    spatial = _spatial_rank(ctx, x, "average pooling", most=3)
    if spatial == 3:
        include = node.version >= 7 and bool(node.get_int("count_include_pad", 0))
        return [_pool_by_taps(ctx, node, x, "avg", include)]
    if spatial == 1:
        x = _to_2d(ctx, x)
    kernel, strides, dilations, pads, extra = _pool_geometry(ctx, node, x, spatial)
    if node.version >= 7 and node.get_int("count_include_pad", 0) and any(pads):
        x = ctx.op(g.PadOp, [x], low=g.ints_attr([0, 0, pads[0], pads[2]]), high=g.ints_attr([0, 0, pads[1], pads[3]]),
                   interior=g.ints_attr([0, 0, 0, 0]), mode=g.str_attr("constant"), value=g.float_attr(0.0))  # fmt: skip
        pads = [0, 0, 0, 0]
    pads = [pads[0], pads[1] + extra[0], pads[2], pads[3] + extra[1]]
    return [_from_2d(ctx, _pool(ctx, g.AvgPoolOp, x, kernel, strides, pads, dilations), spatial)]


@converts("LpPool", since=11)
def _lp_pool(ctx: OnnxConverter, node: OnnxNode, inputs):
    """(sum of |x|^p over the window)^(1/p), padding counted as zeros: explicit zero padding,
    then an unpadded average times the window size."""
    need(node, inputs, 0)
    x = inputs[0]
    spatial = _spatial_rank(ctx, x, "Lp pooling", most=3)
    p = node.get_int("p", 2)
    if spatial == 3 or (node.version >= 18 and node.get_int("ceil_mode", 0)):
        return [_root(ctx, _pool_by_taps(ctx, node, _abs_pow(ctx, x, p), "sum"), p)]
    if spatial == 1:
        x = _to_2d(ctx, x)
    kernel, strides, dilations, pads, extra = _pool_geometry(ctx, node, x, spatial)
    powered = _abs_pow(ctx, x, p)
    if any(pads):
        powered = ctx.op(g.PadOp, [powered], low=g.ints_attr([0, 0, pads[0], pads[2]]),
                         high=g.ints_attr([0, 0, pads[1], pads[3]]), interior=g.ints_attr([0, 0, 0, 0]),
                         mode=g.str_attr("constant"), value=g.float_attr(0.0))  # fmt: skip
    mean = _pool(ctx, g.AvgPoolOp, powered, kernel, strides, [0, 0, 0, 0], dilations)
    total = ctx.op(g.MulOp, [mean, ctx.scalar(kernel[0] * kernel[1], mean)])
    return [_from_2d(ctx, _root(ctx, total, p), spatial)]


def _abs_pow(ctx: OnnxConverter, x: SSAValue, p: int) -> SSAValue:
    if p == 1:
        return ctx.op(g.AbsOp, [x])
    if p == 2:
        return ctx.op(g.MulOp, [x, x])
    return ctx.op(g.PowOp, [ctx.op(g.AbsOp, [x]), ctx.scalar(p, x)])


def _root(ctx: OnnxConverter, x: SSAValue, p: int) -> SSAValue:
    if p == 1:
        return x
    if p == 2:
        return ctx.op(g.SqrtOp, [x])
    return ctx.op(g.PowOp, [x, ctx.scalar(1.0 / p, x)])


@converts("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    axes = list(range(2, ctx.rank(x)))
    cls = g.ReduceMeanOp if node.op_type == "GlobalAveragePool" else g.ReduceMaxOp
    return [ctx.reduce(cls, x, axes, True)]


@converts("GlobalLpPool", since=2)
def _global_lp_pool(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    p = node.get_int("p", 2)
    total = ctx.reduce(g.ReduceSumOp, _abs_pow(ctx, x, p), list(range(2, ctx.rank(x))), True)
    return [_root(ctx, total, p)]


# ---------------------------------------------------------------------------------------------
# Normalizations
# ---------------------------------------------------------------------------------------------


def _channels_last(rank: int) -> list[int]:
    return [0] + list(range(2, rank)) + [1]


@converts("BatchNormalization")
def _batch_norm(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1, 2, 3, 4)
    x, scale, bias, mean, var = inputs[:5]
    if node.version >= 14 and node.get_int("training_mode", 0):
        raise Unsupported("training mode (batch statistics) is not supported")
    if node.version < 9 and not node.get_int("spatial", 1):
        raise Unsupported("spatial=0 (per-activation statistics) is not supported")
    if any(node.output_used(i) for i in range(1, len(node.outputs))):
        raise Unsupported("the running statistics outputs (training) are not supported")
    if not ctx.is_float(x):
        raise NodeError(f"needs a floating-point input, got {x.type}")
    rank = ctx.rank(x)
    if rank < 2:
        raise NodeError(f"needs an input of rank 2 or more, got {x.type}")
    params = [ctx.cast(p, ctx.element(x)) for p in (scale, bias, mean, var)]
    perm = _channels_last(rank)
    y = ctx.op(g.BatchNormOp, [ctx.transpose(x, perm), *params], epsilon=g.float_attr(node.get_float("epsilon", 1e-5)))
    return [ctx.transpose(y, [perm.index(i) for i in range(rank)])]


def _normalize(ctx: OnnxConverter, x: SSAValue, axes: list[int], epsilon: float) -> tuple[SSAValue, SSAValue, SSAValue]:
    """(x - mean) * rsqrt(var + eps), the mean and the inverse standard deviation (kept dims)."""
    mean = ctx.reduce(g.ReduceMeanOp, x, axes, True)
    centered = ctx.op(g.SubOp, [x, mean])
    var = ctx.reduce(g.ReduceMeanOp, ctx.op(g.MulOp, [centered, centered]), axes, True)
    inv = ctx.op(g.RsqrtOp, [ctx.op(g.AddOp, [var, ctx.scalar(epsilon, var)])])
    return ctx.op(g.MulOp, [centered, inv]), mean, inv


@converts("InstanceNormalization", since=6)
def _instance_norm(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1, 2)
    x, scale, bias = inputs[:3]
    rank = ctx.rank(x)
    if rank < 3:
        raise NodeError(f"needs an N x C x D1 x ... input, got {x.type}")
    normalized, _, _ = _normalize(ctx, x, list(range(2, rank)), node.get_float("epsilon", 1e-5))
    per_channel = [ctx.shape(x)[1]] + [1] * (rank - 2)
    y = ctx.op(g.MulOp, [normalized, ctx.reshape(scale, per_channel)])
    return [ctx.op(g.AddOp, [y, ctx.reshape(bias, per_channel)])]


@converts("LayerNormalization", since=17)
def _layer_norm(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    rank = ctx.rank(x)
    axis = normalize_axis(node.get_int("axis", -1), rank)
    stash = node.get_int("stash_type", 1)
    element = ctx.element(x)
    if not ctx.is_float(x):
        raise NodeError(f"needs a floating-point input, got {x.type}")
    compute = dtypes.f32 if stash == 1 else element
    xc = ctx.cast(x, compute)
    normalized, mean, inv = _normalize(ctx, xc, list(range(axis, rank)), node.get_float("epsilon", 1e-5))
    y = ctx.op(g.MulOp, [normalized, ctx.cast(scale, compute)])
    if bias is not None:
        y = ctx.op(g.AddOp, [y, ctx.cast(bias, compute)])
    return [ctx.cast(y, element), mean, inv]


@converts("LpNormalization")
def _lp_norm(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    axis = normalize_axis(node.get_int("axis", -1), ctx.rank(x))
    p = node.get_int("p", 2)
    if p not in (1, 2):
        raise NodeError(f"p must be 1 or 2, got {p}")
    norm = _root(ctx, ctx.reduce(g.ReduceSumOp, _abs_pow(ctx, x, p), [axis], True), p)
    zero = ctx.scalar(0, x)
    return [ctx.op(g.SelectOp, [ctx.op(g.EqOp, [norm, zero]), zero, ctx.op(g.DivOp, [x, norm])])]


@converts("LRN")
def _lrn(ctx: OnnxConverter, node: OnnxNode, inputs):
    """x / (bias + alpha / size * sum of x² over `size` neighbouring channels)^beta."""
    need(node, inputs, 0)
    x = inputs[0]
    rank = ctx.rank(x)
    if rank < 3:
        raise NodeError(f"needs an N x C x D1 x ... input, got {x.type}")
    size = node.get_int("size")
    alpha, beta, bias = node.get_float("alpha", 1e-4), node.get_float("beta", 0.75), node.get_float("bias", 1.0)
    channels = ctx.shape(x)[1]
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    squares = ctx.op(g.MulOp, [x, x])
    low, high = [0] * rank, [0] * rank
    low[1], high[1] = before, after
    padded = ctx.op(g.PadOp, [squares], low=g.ints_attr(low), high=g.ints_attr(high),
                    interior=g.ints_attr([0] * rank), mode=g.str_attr("constant"), value=g.float_attr(0.0))  # fmt: skip
    total = None
    for offset in range(size):
        starts = [0] * rank
        starts[1] = offset
        limits = list(ctx.shape(padded))
        limits[1] = offset + channels
        part = ctx.slice(padded, starts, limits)
        total = part if total is None else ctx.op(g.AddOp, [total, part])
    denominator = ctx.op(g.AddOp, [ctx.op(g.MulOp, [total, ctx.scalar(alpha / size, x)]), ctx.scalar(bias, x)])
    return [ctx.op(g.DivOp, [x, ctx.op(g.PowOp, [denominator, ctx.scalar(beta, x)])])]


