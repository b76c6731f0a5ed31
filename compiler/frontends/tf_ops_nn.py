"""TensorFlow neural-network ops: convolutions, pooling, batch norm, bias, softmax, resizing.

The graph dialect is NHWC with HWIO filters; NCHW nodes get transposes around the NHWC op (a later
layout pass removes pairs of them). Padding follows TensorFlow exactly: SAME puts the extra row or
column at the bottom/right (`pad_total = max((out - 1) * stride + effective_kernel - in, 0)`,
`top = pad_total // 2`), EXPLICIT reads `explicit_paddings`.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.ir import SSAValue

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.frontends.tf_context import Converter, NodeError, TFNode, converts, need_inputs
from graphc.frontends.tf_ops_shape import pad

# ---------------------------------------------------------------------------------------------
# Layout and padding helpers
# ---------------------------------------------------------------------------------------------


def data_format(node: TFNode) -> str:
    fmt = node.get_str("data_format", "NHWC")
    if fmt not in ("NHWC", "NCHW"):
        raise NodeError(f"data_format '{fmt}' is not supported")
    return fmt


def to_nhwc(ctx: Converter, x: SSAValue, fmt: str) -> SSAValue:
    if ctx.rank(x) != 4:
        raise NodeError(f"expected a 4-d image tensor, got {x.type}")
    return ctx.transpose(x, [0, 2, 3, 1]) if fmt == "NCHW" else x


def from_nhwc(ctx: Converter, y: SSAValue, fmt: str) -> SSAValue:
    return ctx.transpose(y, [0, 3, 1, 2]) if fmt == "NCHW" else y


def spatial_pair(node: TFNode, key: str, fmt: str, default: Sequence[int] = (1, 1, 1, 1)) -> tuple[int, int]:
    """The (H, W) entries of a 4-element attribute in the node's data format (N and C must be 1)."""
    values = node.get_ints(key, list(default))
    if len(values) == 2:  # some producers write only the spatial entries
        values = [1, values[0], values[1], 1] if fmt == "NHWC" else [1, 1, values[0], values[1]]
    if len(values) != 4:
        raise NodeError(f"attribute '{key}' must have 4 entries, got {values}")
    if fmt == "NHWC":
        n, h, w, c = values
    else:
        n, c, h, w = values
    if n != 1 or c != 1:
        raise NodeError(f"attribute '{key}' = {values}: only the spatial entries may differ from 1")
    if h < 1 or w < 1:
        raise NodeError(f"attribute '{key}' = {values} must be positive")
    return int(h), int(w)


def same_padding(size: int, window: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding: output ceil(size / stride), extra padding at the end."""
    effective = (window - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def padding_of(
    node: TFNode, fmt: str, in_hw: Sequence[int], window: Sequence[int], strides: Sequence[int],
    dilations: Sequence[int] = (1, 1),
) -> list[int]:  # fmt: skip
    """(top, bottom, left, right) for the node's `padding` attribute."""
    mode = node.get_str("padding")
    if mode == "VALID":
        return [0, 0, 0, 0]
    if mode == "SAME":
        top, bottom = same_padding(in_hw[0], window[0], strides[0], dilations[0])
        left, right = same_padding(in_hw[1], window[1], strides[1], dilations[1])
        return [top, bottom, left, right]
    if mode == "EXPLICIT":
        explicit = node.get_ints("explicit_paddings", [])
        if len(explicit) != 8:
            raise NodeError(f"explicit_paddings must have 8 entries, got {explicit}")
        pairs = [explicit[0:2], explicit[2:4], explicit[4:6], explicit[6:8]]
        h, w = (pairs[1], pairs[2]) if fmt == "NHWC" else (pairs[2], pairs[3])
        other = (pairs[0], pairs[3]) if fmt == "NHWC" else (pairs[0], pairs[1])
        if any(other[0]) or any(other[1]) or any(p < 0 for p in explicit):
            raise NodeError(f"explicit_paddings {explicit} pad the batch or channel dimension, or are negative")
        return [h[0], h[1], w[0], w[1]]
    raise NodeError(f"padding '{mode}' is not supported")


# ---------------------------------------------------------------------------------------------
# Convolutions
# ---------------------------------------------------------------------------------------------


def conv2d(ctx: Converter, x: SSAValue, w: SSAValue, strides, dilations, pads, groups: int) -> SSAValue:
    return ctx.op(
        g.Conv2DOp,
        [x, w],
        strides=g.ints_attr(strides),
        dilations=g.ints_attr(dilations),
        pads=g.ints_attr(pads),
        groups=g.int_attr(groups),
    )


@converts("Conv2D")
def _conv2d(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    fmt = data_format(node)
    x = to_nhwc(ctx, inputs[0], fmt)
    w = inputs[1]
    if ctx.rank(w) != 4:
        raise NodeError(f"the filter must be 4-d (H, W, I, O), got {w.type}")
    _, h, wd, c = ctx.shape(x)
    kh, kw, ci, co = ctx.shape(w)
    if ci < 1 or c % ci or co % (c // ci):
        raise NodeError(f"filter {list(ctx.shape(w))} does not fit {c} input channels")
    strides = spatial_pair(node, "strides", fmt)
    dilations = spatial_pair(node, "dilations", fmt)
    pads = padding_of(node, fmt, (h, wd), (kh, kw), strides, dilations)
    y = conv2d(ctx, x, w, strides, dilations, pads, c // ci)
    return [from_nhwc(ctx, y, fmt)]


@converts("DepthwiseConv2dNative")
def _depthwise(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    fmt = data_format(node)
    x = to_nhwc(ctx, inputs[0], fmt)
    w = inputs[1]
    if ctx.rank(w) != 4:
        raise NodeError(f"the filter must be 4-d (H, W, C, multiplier), got {w.type}")
    _, h, wd, c = ctx.shape(x)
    kh, kw, wc, m = ctx.shape(w)
    if wc != c:
        raise NodeError(f"filter {list(ctx.shape(w))} does not fit {c} input channels")
    strides = spatial_pair(node, "strides", fmt)
    dilations = spatial_pair(node, "dilations", fmt)
    pads = padding_of(node, fmt, (h, wd), (kh, kw), strides, dilations)
    w = ctx.reshape(w, [kh, kw, 1, c * m])  # output channel c*m + j, as TensorFlow orders them
    y = conv2d(ctx, x, w, strides, dilations, pads, c)
    return [from_nhwc(ctx, y, fmt)]


@converts("Conv2DBackpropInput", static=(0,))
def _conv2d_backprop_input(ctx: Converter, node: TFNode, inputs):
    """Transposed convolution: dilate dy by the stride (interior padding), pad by
    `effective_kernel - 1 - forward_pad` at the start, and convolve with the spatially flipped
    filter whose input/output channels are swapped."""
    need_inputs(node, inputs, 3)
    fmt = data_format(node)
    sizes = ctx.static_ints(inputs, 0, "input_sizes")
    w, dy = inputs[1], to_nhwc(ctx, inputs[2], fmt)
    return [from_nhwc(ctx, _transposed_conv(ctx, node, fmt, sizes, w, dy), fmt)]


@converts("Conv2DBackpropInputV2")
def _conv2d_backprop_input_v2(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 3)
    fmt = data_format(node)
    sizes = list(ctx.shape(inputs[0]))
    w, dy = inputs[1], to_nhwc(ctx, inputs[2], fmt)
    return [from_nhwc(ctx, _transposed_conv(ctx, node, fmt, sizes, w, dy), fmt)]


def _transposed_conv(ctx: Converter, node: TFNode, fmt: str, sizes, w: SSAValue, dy: SSAValue) -> SSAValue:
    if len(sizes) == 2:  # only the spatial sizes given (allowed by TensorFlow)
        sizes = [ctx.shape(dy)[0], *sizes, ctx.shape(w)[2]] if fmt == "NHWC" else [ctx.shape(dy)[0], ctx.shape(w)[2], *sizes]
    if len(sizes) != 4:
        raise NodeError(f"input_sizes {sizes} must have 4 entries")
    n, h, wd, c = sizes if fmt == "NHWC" else (sizes[0], sizes[2], sizes[3], sizes[1])
    if ctx.rank(w) != 4:
        raise NodeError(f"the filter must be 4-d (H, W, in, out), got {w.type}")
    kh, kw, ci, co = ctx.shape(w)
    dn, oh, ow, dc = ctx.shape(dy)
    if ci != c or co != dc or dn != n:
        raise NodeError(
            f"filter {list(ctx.shape(w))}, out_backprop {list(ctx.shape(dy))} and input_sizes {list(sizes)} disagree"
        )
    strides = spatial_pair(node, "strides", fmt)
    dilations = spatial_pair(node, "dilations", fmt)
    fwd = padding_of(node, fmt, (h, wd), (kh, kw), strides, dilations)
    low, high = [0, 0, 0, 0], [0, 0, 0, 0]
    for axis, (size, out, k, s, d, before, after) in enumerate(
        zip((h, wd), (oh, ow), (kh, kw), strides, dilations, fwd[0::2], fwd[1::2]), start=1
    ):
        effective = (k - 1) * d + 1
        expected = (size + before + after - effective) // s + 1
        if expected != out:
            raise NodeError(
                f"out_backprop size {out} does not match the forward output size {expected} of input size {size}"
            )
        low[axis] = effective - 1 - before
        high[axis] = size + effective - 2 - (out - 1) * s - low[axis]
    interior = [0, strides[0] - 1, strides[1] - 1, 0]
    padded = pad(ctx, dy, low, high, 0.0, "constant", interior)
    flipped = ctx.op(g.ReverseOp, [w], axes=g.ints_attr([0, 1]))
    flipped = ctx.transpose(flipped, [0, 1, 3, 2])
    return conv2d(ctx, padded, flipped, (1, 1), dilations, (0, 0, 0, 0), 1)


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------


@converts("MaxPool", "AvgPool")
def _pool(ctx: Converter, node: TFNode, inputs):
    fmt = data_format(node)
    if node.op == "MaxPoolV2":
        need_inputs(node, inputs, 3)
        ksize = ctx.static_ints(inputs, 1, "ksize")
        stride_values = ctx.static_ints(inputs, 2, "strides")
        window = _pair_from(ksize, fmt, "ksize")
        strides = _pair_from(stride_values, fmt, "strides")
    else:
        need_inputs(node, inputs, 1)
        window = spatial_pair(node, "ksize", fmt)
        strides = spatial_pair(node, "strides", fmt)
    x = to_nhwc(ctx, inputs[0], fmt)
    _, h, w, _ = ctx.shape(x)
    pads = padding_of(node, fmt, (h, w), window, strides)
    cls = g.AvgPoolOp if node.op == "AvgPool" else g.MaxPoolOp
    y = ctx.op(cls, [x], window=g.ints_attr(window), strides=g.ints_attr(strides), pads=g.ints_attr(pads))
    return [from_nhwc(ctx, y, fmt)]


def _pair_from(values: list[int], fmt: str, what: str) -> tuple[int, int]:
    if len(values) != 4:
        raise NodeError(f"{what} must have 4 entries, got {values}")
    n, a, b, c = values
    h, w, other = (a, b, (n, c)) if fmt == "NHWC" else (b, c, (n, a))
    if other != (1, 1) or h < 1 or w < 1:
        raise NodeError(f"{what} = {values}: only the spatial entries may differ from 1")
    return h, w


converts("MaxPoolV2", static=(1, 2))(_pool)


# ---------------------------------------------------------------------------------------------
# Normalization, bias, softmax
# ---------------------------------------------------------------------------------------------


@converts("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def _fused_batch_norm(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 5)
    if node.get_bool("is_training", True):
        raise NodeError("is_training=true (training-mode batch norm) is not supported; freeze the model for inference")
    fmt = data_format(node)
    x = to_nhwc(ctx, inputs[0], fmt)
    c = ctx.shape(x)[-1]
    params = []
    for value, what in zip(inputs[1:], ("scale", "offset", "mean", "variance")):
        if ctx.shape(value) != (c,):
            raise NodeError(f"{what} of shape {list(ctx.shape(value))} does not match {c} channels")
        params.append(ctx.cast(value, ctx.element(x)))
    epsilon = node.get_float("epsilon", 1e-4)
    y = ctx.op(g.BatchNormOp, [x, *params], epsilon=g.float_attr(epsilon))
    mean, variance = inputs[3], inputs[4]
    return [from_nhwc(ctx, y, fmt), mean, variance, mean, variance, mean]


@converts("BiasAdd", "BiasAddV1")
def _bias_add(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    x, bias = inputs
    rank = ctx.rank(x)
    if rank < 2 or ctx.rank(bias) != 1:
        raise NodeError(f"BiasAdd needs a rank >= 2 value and a vector bias, got {x.type} and {bias.type}")
    fmt = node.get_str("data_format", "NHWC") if node.op == "BiasAdd" else "NHWC"
    if fmt.startswith("NC"):
        channels = ctx.shape(x)[1]
        bias = ctx.reshape(bias, [ctx.shape(bias)[0]] + [1] * (rank - 2))
    elif fmt.startswith("N") and fmt.endswith("C"):
        channels = ctx.shape(x)[-1]
    else:
        raise NodeError(f"data_format '{fmt}' is not supported")
    if ctx.shape(bias)[0] != channels:
        raise NodeError(f"bias of {ctx.shape(bias)[0]} values does not match {channels} channels")
    return [ctx.op(g.AddOp, [x, bias])]


@converts("Softmax", "LogSoftmax")
def _softmax(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1)
    x = inputs[0]
    if ctx.rank(x) < 1:
        raise NodeError("softmax needs a tensor of rank >= 1")
    cls = g.SoftmaxOp if node.op == "Softmax" else g.LogSoftmaxOp
    return [ctx.op(cls, [x], axis=g.int_attr(ctx.rank(x) - 1))]


# ---------------------------------------------------------------------------------------------
# Resizing
# ---------------------------------------------------------------------------------------------


@converts("ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic", static=(1,))
def _resize(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2)
    x = inputs[0]
    if ctx.rank(x) != 4:
        raise NodeError(f"images must be 4-d NHWC, got {x.type}")
    size = ctx.static_ints(inputs, 1, "size")
    if len(size) != 2 or any(s < 1 for s in size):
        raise NodeError(f"size {size} must be two positive integers")
    align = node.get_bool("align_corners", False)
    half = node.get_bool("half_pixel_centers", False)
    if align and half:
        raise NodeError("align_corners and half_pixel_centers cannot both be true")
    nearest_mode, coeff, exclude = "floor", -0.75, 0
    if node.op == "ResizeNearestNeighbor":
        mode = "nearest"
        if align:  # round(x * (in - 1) / (out - 1)), halves away from zero
            coords, nearest_mode = "align_corners", "round_prefer_ceil"
        elif half:  # floor((x + 0.5) * in / out)
            coords = "tf_half_pixel"
        else:
            coords = "asymmetric"
    else:
        mode = "bilinear" if node.op == "ResizeBilinear" else "bicubic"
        coords = "align_corners" if align else "half_pixel" if half else "asymmetric"
        if mode == "bicubic" and half:  # TF2's Keys cubic: a = -0.5, outside taps dropped
            coeff, exclude = -0.5, 1
        # ResizeBilinear/ResizeBicubic always produce float32
        x = ctx.cast(x, dtypes.f32)
    y = ctx.op(
        g.ResizeOp,
        [x],
        size=g.ints_attr(size),
        mode=g.str_attr(mode),
        coordinates=g.str_attr(coords),
        nearest_mode=g.str_attr(nearest_mode),
        cubic_coeff=g.float_attr(coeff),
        exclude_outside=g.int_attr(exclude),
        # TF's bicubic kernel looks its weights up in a 1024-entry table (resize_bicubic_op.cc)
        cubic_table=g.int_attr(1024) if mode == "bicubic" else None,
    )
    return [y]


# ---------------------------------------------------------------------------------------------
# Grappler's fused ops (graphs exported after TensorFlow's optimizer ran)
# ---------------------------------------------------------------------------------------------


def _fused_epilogue(ctx: Converter, node: TFNode, y: SSAValue, args: list[SSAValue], fmt: str = "NHWC") -> SSAValue:
    """Applies `fused_ops` (BiasAdd, FusedBatchNorm, Add, activations) after the main op."""
    fused = node.get_strs("fused_ops", [])
    args = list(args)

    def take(count: int) -> list[SSAValue]:
        if len(args) < count:
            raise NodeError(f"fused_ops {fused} need more arguments than the node has")
        taken = args[:count]
        del args[:count]
        return taken

    channel_axis = 1 if fmt == "NCHW" and ctx.rank(y) == 4 else ctx.rank(y) - 1

    def per_channel(v: SSAValue) -> SSAValue:
        if channel_axis == ctx.rank(y) - 1:
            return v
        return ctx.reshape(v, [ctx.shape(v)[0]] + [1] * (ctx.rank(y) - 2))

    for i, op in enumerate(fused):
        if op == "BiasAdd":
            (bias,) = take(1)
            y = ctx.op(g.AddOp, [y, per_channel(bias)])
        elif op == "FusedBatchNorm":
            scale, offset, mean, variance = take(4)
            eps = ctx.scalar(node.get_float("epsilon", 1e-4), y)
            inv = ctx.op(g.MulOp, [ctx.op(g.RsqrtOp, [ctx.op(g.AddOp, [variance, eps])]), scale])
            shift = ctx.op(g.SubOp, [offset, ctx.op(g.MulOp, [mean, inv])])
            y = ctx.op(g.AddOp, [ctx.op(g.MulOp, [y, per_channel(inv)]), per_channel(shift)])
        elif op in ("Add", "AddV2"):
            (other,) = take(1)
            y = ctx.op(g.AddOp, [y, other])
        elif op == "Relu":
            y = ctx.op(g.ReluOp, [y])
        elif op == "Relu6":
            y = ctx.op(g.MinOp, [ctx.op(g.ReluOp, [y]), ctx.scalar(6, y)])
        elif op == "Elu":
            negative = ctx.op(g.LtOp, [y, ctx.scalar(0, y)])
            y = ctx.op(g.SelectOp, [negative, ctx.op(g.Expm1Op, [y]), y])
        elif op == "LeakyRelu":
            alpha = ctx.scalar(node.get_float("leakyrelu_alpha", 0.2), y)
            positive = ctx.op(g.GtOp, [y, ctx.scalar(0, y)])
            y = ctx.op(g.SelectOp, [positive, y, ctx.op(g.MulOp, [y, alpha])])
        elif op == "Sigmoid":
            y = ctx.op(g.SigmoidOp, [y])
        elif op == "Tanh":
            y = ctx.op(g.TanhOp, [y])
        elif op == "GeluExact":  # x * (1 + erf(x / sqrt(2))) / 2
            erf = ctx.op(g.ErfOp, [ctx.op(g.MulOp, [y, ctx.scalar(0.7071067811865476, y)])])
            y = ctx.op(g.MulOp, [ctx.op(g.MulOp, [y, ctx.scalar(0.5, y)]), ctx.op(g.AddOp, [erf, ctx.scalar(1, y)])])
        elif op == "GeluApproximate":  # x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) / 2
            cube = ctx.op(g.MulOp, [ctx.op(g.MulOp, [y, y]), y])
            inner = ctx.op(g.AddOp, [y, ctx.op(g.MulOp, [cube, ctx.scalar(0.044715, y)])])
            t = ctx.op(g.TanhOp, [ctx.op(g.MulOp, [inner, ctx.scalar(0.7978845608028654, y)])])
            y = ctx.op(g.MulOp, [ctx.op(g.MulOp, [y, ctx.scalar(0.5, y)]), ctx.op(g.AddOp, [t, ctx.scalar(1, y)])])
        elif op == "Identity":
            pass
        else:
            raise NodeError(f"fused op '{op}' (in fused_ops {fused}) is not supported")
    return y


@converts("_FusedConv2D", "_FusedDepthwiseConv2dNative")
def _fused_conv2d(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 2, at_least=True)
    base = _conv2d if node.op == "_FusedConv2D" else _depthwise
    (y,) = base(ctx, node, list(inputs[:2]))
    return [_fused_epilogue(ctx, node, y, list(inputs[2:]), data_format(node))]


@converts("_FusedMatMul")
def _fused_matmul(ctx: Converter, node: TFNode, inputs):
    from graphc.frontends.tf_ops_math import matmul

    need_inputs(node, inputs, 2, at_least=True)
    y = matmul(ctx, inputs[0], inputs[1], node.get_bool("transpose_a", False), node.get_bool("transpose_b", False))
    return [_fused_epilogue(ctx, node, y, list(inputs[2:]))]


@converts("_FusedBatchNormEx")
def _fused_batch_norm_ex(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 5, at_least=True)
    outs = _fused_batch_norm(ctx, node, list(inputs[:5]))
    y = outs[0]
    side = list(inputs[5:])
    if side:
        y = ctx.op(g.AddOp, [y, side[0]])
    activation = node.get_str("activation_mode", "Identity")
    if activation == "Relu":
        y = ctx.op(g.ReluOp, [y])
    elif activation != "Identity":
        raise NodeError(f"activation_mode '{activation}' is not supported")
    return [y, *outs[1:]]
