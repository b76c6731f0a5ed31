"""N-d sliding windows for the ONNX ops the 2-d NHWC graph ops do not cover: pooling over three
spatial dimensions (or LpPool with ceil_mode), and 3-d convolution.

Pooling is a reduction over the window's taps: each tap (one offset inside the window) is a strided
slice of the padded NC... input, so max/sum pooling is a chain of `graph.max`/`graph.add` over
kernel-volume slices (exact; the averaging count per output position is computed at compile
time). Max pooling pads with -inf for floats (the identity of max, so a window whose real elements
are all -inf gives -inf) and with the lowest value for integers, by concatenating constant blocks
(a -inf pad value could not be spelled in the IR text). A 3-d convolution becomes one 2-d convolution: the depth taps are stacked into
the channels ([N*D_out, C*kD, H, W], channel c*kD + kd, which keeps groups contiguous) and the
filter [M, C/g, kD, kH, kW] is read as [M, C/g*kD, kH, kW].
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from xdsl.ir import SSAValue

from graphc.dialects import graph as g
from graphc.frontends.onnx_context import NodeError, OnnxConverter, Unsupported


def window_output_size(size: int, window: int, stride: int, dilation: int, begin: int, end: int) -> int:
    return (size + begin + end - ((window - 1) * dilation + 1)) // stride + 1


def pool_taps(ctx: OnnxConverter, x: SSAValue, kind: str, kernel: Sequence[int], strides: Sequence[int],
              dilations: Sequence[int], begin: Sequence[int], end: Sequence[int], extra: Sequence[int],
              count_include_pad: bool = False) -> SSAValue:  # fmt: skip
    """`kind` "max", "avg" or "sum" pooling of N x C x D1 x ... `x`. `begin`/`end` are the
    declared pads; `extra` rows at the end (ceil_mode) never count toward an average."""
    shape = ctx.shape(x)
    spatial = len(kernel)
    dtype = ctx.np_dtype(x)
    if int(np.prod(kernel)) > MAX_TAPS:
        raise Unsupported(f"a {'x'.join(map(str, kernel))} window with dilations {list(dilations)} has too many taps")
    ends = [e + x_ for e, x_ in zip(end, extra)]
    low, high = [0, 0, *begin], [0, 0, *ends]
    padded = x
    if kind == "max":
        padded = pad_with_max_identity(ctx, x, low, high)
    elif any(low) or any(high):
        padded = ctx.op(g.PadOp, [x], low=g.ints_attr(low), high=g.ints_attr(high), interior=g.ints_attr([0] * len(shape)),
                        mode=g.str_attr("constant"), value=g.float_attr(0.0))  # fmt: skip
    out = [window_output_size(shape[2 + i], kernel[i], strides[i], dilations[i], begin[i], ends[i]) for i in range(spatial)]
    if any(o < 1 for o in out):
        raise NodeError(f"the window does not fit the input {list(shape)}")
    total = None
    for offsets in itertools.product(*(range(k) for k in kernel)):
        starts = [0, 0] + [o * d for o, d in zip(offsets, dilations)]
        limits = list(shape[:2]) + [s + (n - 1) * st + 1 for s, n, st in zip(starts[2:], out, strides)]
        tap = ctx.slice(padded, starts, limits, [1, 1, *strides])
        if total is None:
            total = tap
        else:
            total = ctx.op(g.MaxOp if kind == "max" else g.AddOp, [total, tap])
    if kind != "avg":
        return total
    # How many taps of each window fall on counted positions (real input, or declared padding too).
    counted = np.zeros([shape[2 + i] + begin[i] + ends[i] for i in range(spatial)], np.float64)
    inner = tuple(slice(0 if count_include_pad else b, (b + shape[2 + i] + (e if count_include_pad else 0)))
                  for i, (b, e) in enumerate(zip(begin, end)))  # fmt: skip
    counted[inner] = 1.0
    counts = np.zeros(out, np.float64)
    for offsets in itertools.product(*(range(k) for k in kernel)):
        view = tuple(slice(o * d, o * d + (n - 1) * st + 1, st) for o, d, n, st in zip(offsets, dilations, out, strides))
        counts += counted[view]
    return ctx.op(g.DivOp, [total, ctx.const(counts.astype(dtype).reshape([1, 1, *out]))])


MAX_TAPS = 125
"""Windows with more taps than this are rejected (a chain of that many slices is already long)."""


def pad_with_max_identity(ctx: OnnxConverter, x: SSAValue, low: Sequence[int], high: Sequence[int]) -> SSAValue:
    """`x` padded by `low`/`high` elements per axis with -inf (floats) or the type's lowest value
    (integers): blocks of that constant concatenated on each side, one axis at a time."""
    dtype = ctx.np_dtype(x)
    fill = ctx.const(np.asarray(-np.inf if dtype.kind == "f" else np.iinfo(dtype).min, dtype))
    for axis, (before, after) in enumerate(zip(low, high)):
        if not before and not after:
            continue
        shape = list(ctx.shape(x))
        pieces = []
        if before:
            pieces.append(ctx.broadcast_to(fill, shape[:axis] + [before] + shape[axis + 1 :]))
        pieces.append(x)
        if after:
            pieces.append(ctx.broadcast_to(fill, shape[:axis] + [after] + shape[axis + 1 :]))
        x = ctx.concat(pieces, axis)
    return x


def conv3d(ctx: OnnxConverter, x: SSAValue, w: SSAValue, bias: SSAValue | None, strides, dilations, begin, end,
           groups: int, conv2d) -> SSAValue:  # fmt: skip
    """N x C x D x H x W (*) M x C/g x kD x kH x kW through one 2-d convolution (`conv2d(x, w, bias,
    strides, dilations, pads)` over NCHW) of the depth taps stacked into the channels."""
    n, c, depth, h, wd = ctx.shape(x)
    m, cg, kd, kh, kw = ctx.shape(w)
    if begin[0] or end[0]:
        low, high = [0, 0, begin[0], 0, 0], [0, 0, end[0], 0, 0]
        x = ctx.op(g.PadOp, [x], low=g.ints_attr(low), high=g.ints_attr(high), interior=g.ints_attr([0] * 5),
                   mode=g.str_attr("constant"), value=g.float_attr(0.0))  # fmt: skip
        depth = ctx.shape(x)[2]
    d_out = window_output_size(depth, kd, strides[0], dilations[0], 0, 0)
    if d_out < 1:
        raise NodeError("the filter is deeper than the padded input")
    taps = []
    for k in range(kd):
        start = k * dilations[0]
        tap = ctx.slice(x, [0, 0, start, 0, 0], [n, c, start + (d_out - 1) * strides[0] + 1, h, wd], [1, 1, strides[0], 1, 1])
        taps.append(ctx.reshape(tap, [n, c, 1, d_out, h, wd]))
    stacked = ctx.concat(taps, 2)  # [N, C, kD, D_out, H, W]
    stacked = ctx.transpose(stacked, [0, 3, 1, 2, 4, 5])
    stacked = ctx.reshape(stacked, [n * d_out, c * kd, h, wd])
    w2 = ctx.reshape(w, [m, cg * kd, kh, kw])
    y = conv2d(stacked, w2, bias, list(strides[1:]), list(dilations[1:]), [begin[1], end[1], begin[2], end[2]], groups)
    _, _, ho, wo = ctx.shape(y)
    y = ctx.reshape(y, [n, d_out, m, ho, wo])
    return ctx.transpose(y, [0, 2, 1, 3, 4])
