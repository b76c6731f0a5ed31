"""Matmul, convolution and pooling → loop-level kernels (untiled; tiling is the next step).

Takes `graph.matmul`, `graph.conv2d`, `graph.max_pool` or `graph.avg_pool`. Leaves a loop nest
whose innermost loop runs over contiguous memory in every buffer it touches, so LLVM vectorizes it:

- matmul `a[..., M, K] @ b[..., K, N]`: i-k-j order, `out[i, :] += a[i, k] * b[k, :]`, the output
  row accumulating in memory (it stays in L1 for the sizes seen here). For N == 1 (matrix-vector)
  and for f16 the order is i-j-k with the dot product in a register (f16 accumulates in f32 and
  rounds once, instead of rounding the running sum to f16 at every step);
- conv2d NHWC/HWIO: per output pixel, zero its channel vector, then for each filter tap that lands
  inside the image (padding is skipped by `scf.if`, not multiplied by zeros) and each input channel
  `out[pixel, :] += x[tap, ci] * w[kh, kw, ci, :]` over the group's output channels. A depthwise
  convolution (one input channel per group) runs channels innermost instead: `out[pixel, c] +=
  x[tap, c] * w[kh, kw, 0, c]`. f16 uses the register-accumulating form;
- pooling: per output pixel and channel, the window is reduced in a register; taps in the padding
  are skipped (max) or not counted (average: the divisor counts only real taps). LLVM fully unrolls
  small windows, which leaves the channel loop innermost and vectorizable.

Products accumulate with `contract` (fused multiply-add allowed); dot products with `reassoc` too.
"""

from __future__ import annotations

from xdsl.dialects import arith
from xdsl.dialects.builtin import i64
from xdsl.ir import Operation, SSAValue

from graphc.backends.cpu import scalar_ops
from graphc.backends.cpu.elements import ElemKind, UnsupportedOnCpu, kind_of, shape_of
from graphc.backends.cpu.loop_builder import CONTRACT, REASSOC, Index, KernelBuilder
from graphc.dialects.graph import get_int, get_ints


def _mul_add(b: KernelBuilder, kind: ElemKind, acc: SSAValue, x: SSAValue, y: SSAValue, flags) -> SSAValue:
    return scalar_ops.binary(b, "add", kind, acc, scalar_ops.binary(b, "mul", kind, x, y, flags), flags)


def _zero(b: KernelBuilder, kind: ElemKind) -> SSAValue:
    return scalar_ops.const(b, kind, 0)


def _accumulates_in_memory(kind: ElemKind) -> bool:
    """f16 (stored narrower than computed) accumulates in registers instead."""
    return kind.compute == kind.storage


# -- matmul --------------------------------------------------------------------------------------


def lower_matmul(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    a_type, b_type, out_type = op.operands[0].type, op.operands[1].type, op.results[0].type
    kind = kind_of(a_type)
    if kind.is_bool:
        raise UnsupportedOnCpu("matmul on booleans")
    sa, sb, so = shape_of(a_type), shape_of(b_type), shape_of(out_type)
    m, k, n = sa[-2], sa[-1], sb[-1]
    batch = so[:-2]
    a_ref, b_ref, out = ins[0], ins[1], outs[0]

    def batch_index(shape, ivs) -> list[Index]:
        own = shape[:-2]
        lead = len(batch) - len(own)
        return [0 if d == 1 else iv for d, iv in zip(own, ivs[lead:])]

    with b.nest(batch) as bi:
        ai, bj, oi = batch_index(sa, bi), batch_index(sb, bi), list(bi)
        if n == 1 or not _accumulates_in_memory(kind):
            with b.nest([m, n]) as (i, j):
                with b.reduce_nest([k], [_zero(b, kind)]) as red:
                    (kk,) = red.ivs
                    x = b.load_value(a_ref, [*ai, i, kk], kind)
                    y = b.load_value(b_ref, [*bj, kk, j], kind)
                    red.next(_mul_add(b, kind, red.carried[0], x, y, REASSOC))
                b.store_value(red.results[0], out, [*oi, i, j], kind)
            return
        with b.nest([m]) as (i,):
            with b.nest([n]) as (j,):
                b.store_value(_zero(b, kind), out, [*oi, i, j], kind)
            with b.nest([k]) as (kk,):
                x = b.load_value(a_ref, [*ai, i, kk], kind)
                with b.nest([n]) as (j,):
                    acc = b.load_value(out, [*oi, i, j], kind)
                    y = b.load_value(b_ref, [*bj, kk, j], kind)
                    b.store_value(_mul_add(b, kind, acc, x, y, CONTRACT), out, [*oi, i, j], kind)


# -- windows (conv and pooling) ------------------------------------------------------------------


class _Window:
    """Maps output positions and filter taps to input positions along one spatial axis."""

    def __init__(self, size: int, out: int, window: int, stride: int, dilation: int, pad: int):
        self.size, self.out, self.window = size, out, window
        self.stride, self.dilation, self.pad = stride, dilation, pad
        lowest = -pad
        highest = (out - 1) * stride + (window - 1) * dilation - pad
        self.check_low, self.check_high = lowest < 0, highest >= size  # which edges padding reaches
        self.always_inside = not (self.check_low or self.check_high)

    def source(self, b: KernelBuilder, o: Index, tap: Index) -> Index:
        return b.add(b.mul(o, self.stride), b.mul(tap, self.dilation), -self.pad)

    def inside(self, b: KernelBuilder, i: Index) -> SSAValue | None:
        """`0 <= i < size`, testing only the edges the padding reaches (None: always inside)."""
        if isinstance(i, int):
            return None if 0 <= i < self.size else b.false()
        low = b.cmp_index("sge", i, 0) if self.check_low else None
        high = b.cmp_index("slt", i, self.size) if self.check_high else None
        return b.all_of([low, high])


def _windows(op: Operation, x_shape, out_shape, kh: int, kw: int, dilations=(1, 1)):
    strides = get_ints(op.attributes, "strides")
    pt, _, pl, _ = get_ints(op.attributes, "pads")
    return (
        _Window(x_shape[1], out_shape[1], kh, strides[0], dilations[0], pt),
        _Window(x_shape[2], out_shape[2], kw, strides[1], dilations[1], pl),
    )


# -- conv2d --------------------------------------------------------------------------------------


def lower_conv2d(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    x_type, w_type, out_type = op.operands[0].type, op.operands[1].type, op.results[0].type
    kind = kind_of(x_type)
    if kind.is_bool:
        raise UnsupportedOnCpu("conv2d on booleans")
    xs, ws, os_ = shape_of(x_type), shape_of(w_type), shape_of(out_type)
    kh, kw, ci, co = ws
    groups = get_int(op.attributes, "groups")
    cog = co // groups
    wy, wx = _windows(op, xs, os_, kh, kw, get_ints(op.attributes, "dilations"))
    x, w, out = ins[0], ins[1], outs[0]

    if not _accumulates_in_memory(kind):
        _conv_in_registers(b, kind, x, w, out, os_, kh, kw, ci, cog, wy, wx)
        return
    with b.nest(os_[:3]) as (n, oy, ox):
        with b.nest([co]) as (c,):
            b.store_value(_zero(b, kind), out, [n, oy, ox, c], kind)
        with b.nest([kh]) as (ty,):
            iy = wy.source(b, oy, ty)
            with b.if_(wy.inside(b, iy)):
                with b.nest([kw]) as (tx,):
                    ix = wx.source(b, ox, tx)
                    with b.if_(wx.inside(b, ix)):
                        if ci == 1:  # depthwise: channels innermost
                            with b.nest([cog, groups]) as (j, g):
                                oc = b.add(b.mul(g, cog), j)
                                acc = b.load_value(out, [n, oy, ox, oc], kind)
                                xv = b.load_value(x, [n, iy, ix, g], kind)
                                wv = b.load_value(w, [ty, tx, 0, oc], kind)
                                b.store_value(_mul_add(b, kind, acc, xv, wv, CONTRACT), out, [n, oy, ox, oc], kind)
                        else:
                            with b.nest([groups, ci]) as (g, cc):
                                xv = b.load_value(x, [n, iy, ix, b.add(b.mul(g, ci), cc)], kind)
                                with b.nest([cog]) as (j,):
                                    oc = b.add(b.mul(g, cog), j)
                                    acc = b.load_value(out, [n, oy, ox, oc], kind)
                                    wv = b.load_value(w, [ty, tx, cc, oc], kind)
                                    b.store_value(
                                        _mul_add(b, kind, acc, xv, wv, CONTRACT), out, [n, oy, ox, oc], kind
                                    )


def _conv_in_registers(b, kind, x, w, out, os_, kh, kw, ci, cog, wy: _Window, wx: _Window) -> None:
    """Each output element as one dot product in the compute type (f16 accumulates in f32)."""
    with b.nest(os_) as (n, oy, ox, oc):
        g = b.div_index(oc, cog)
        with b.reduce_nest([kh, kw, ci], [_zero(b, kind)]) as red:
            ty, tx, cc = red.ivs
            iy, ix = wy.source(b, oy, ty), wx.source(b, ox, tx)
            inside = b.all_of([wy.inside(b, iy), wx.inside(b, ix)])
            iy_safe = iy if inside is None else b.clamp_index(iy, 0, wy.size - 1)
            ix_safe = ix if inside is None else b.clamp_index(ix, 0, wx.size - 1)
            xv = b.load_value(x, [n, iy_safe, ix_safe, b.add(b.mul(g, ci), cc)], kind)
            if inside is not None:
                xv = b.emit(arith.SelectOp(inside, xv, _zero(b, kind)))
            wv = b.load_value(w, [ty, tx, cc, oc], kind)
            red.next(_mul_add(b, kind, red.carried[0], xv, wv, REASSOC))
        b.store_value(red.results[0], out, [n, oy, ox, oc], kind)


# -- pooling -------------------------------------------------------------------------------------


def lower_pool(b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    x_type, out_type = op.operands[0].type, op.results[0].type
    kind = kind_of(x_type)
    xs, os_ = shape_of(x_type), shape_of(out_type)
    kh, kw = get_ints(op.attributes, "window")
    wy, wx = _windows(op, xs, os_, kh, kw)
    is_max = op.name == "graph.max_pool"
    if not is_max and kind.is_bool:
        raise UnsupportedOnCpu("avg_pool on booleans")
    identity = scalar_ops.lowest(kind) if is_max else 0
    x, out = ins[0], outs[0]
    with b.nest(os_) as (n, oy, ox, c):
        with b.reduce_nest([kh, kw], [scalar_ops.const(b, kind, identity), b.index(0)]) as red:
            ty, tx = red.ivs
            acc, count = red.carried
            iy, ix = wy.source(b, oy, ty), wx.source(b, ox, tx)
            inside = b.all_of([wy.inside(b, iy), wx.inside(b, ix)])
            iy_safe = iy if inside is None else b.clamp_index(iy, 0, wy.size - 1)
            ix_safe = ix if inside is None else b.clamp_index(ix, 0, wx.size - 1)
            v = b.load_value(x, [n, iy_safe, ix_safe, c], kind)
            if is_max:
                new = scalar_ops.maximum(b, kind, acc, v)
            else:
                new = scalar_ops.binary(b, "add", kind, acc, v)
            if inside is not None:
                new = b.emit(arith.SelectOp(inside, new, acc))
                count = b.emit(arith.SelectOp(inside, b.add(count, 1), count))
            else:
                count = b.add(count, 1)
            red.next(new, b.index(count))
        result, taps = red.results
        if not is_max:
            result = _average(b, kind, result, taps)
        b.store_value(result, out, [n, oy, ox, c], kind)


def _average(b: KernelBuilder, kind: ElemKind, total: SSAValue, taps: SSAValue) -> SSAValue:
    """total / taps; integers divide exactly in 64 bits and truncate (as the float division of
    the definition followed by a cast does)."""
    count = b.emit(arith.IndexCastOp(taps, i64))
    if kind.is_float:
        return b.emit(arith.DivfOp(total, b.emit(arith.SIToFPOp(count, kind.compute))))
    if kind.bits < 64:
        total = b.emit((arith.ExtUIOp if kind.is_unsigned else arith.ExtSIOp)(total, i64))
    quotient = b.emit((arith.DivUIOp if kind.is_unsigned else arith.DivSIOp)(total, count))
    return quotient if kind.bits == 64 else b.emit(arith.TruncIOp(quotient, kind.compute))


LOWERINGS = {
    "graph.matmul": lower_matmul,
    "graph.conv2d": lower_conv2d,
    "graph.max_pool": lower_pool,
    "graph.avg_pool": lower_pool,
}
