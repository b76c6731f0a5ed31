"""int8 kernels of the CPU backend: the `quant` dialect's ops as native integer code.

Takes: `quant` ops inside fusion regions (`graphc.dialects.quant`; the region contract is
`graphc.dialects.fusion`'s). Leaves: kernel IR (scf/memref/arith) computing exactly
`graphc.dialects.quant_arith`'s integers — the tests compare bit for bit.

- `elementwise(b, op, x, idx)`: one element of `quant.quantize` (f32 division, round half to even,
  zero point, saturation, NaN → zero point), `quant.dequantize` (f32(q − zp)·s) or
  `quant.requantize` (TFLite's `MultiplyByQuantizedMultiplier` in i64: the i32 left shift wraps,
  `SaturatingRoundingDoublingHighMul` with its nudge and truncating division by 2^31, then
  `RoundingDivideByPOT`, the output zero point and the activation clamp). Per-axis parameters
  are constant tables read at the element's coordinate along `axis`. `Elemental` calls it, so
  these ops run fused in loop regions and in conv/matmul epilogues alike.
- `lower_quant_root(b, epilogue, outs)`: a `conv`/`matmul` region whose root is `quant.conv2d` /
  `quant.matmul`. Per output pixel (conv) or row (matmul) the i32 accumulators of all output
  channels live in a row of a stack scratch buffer; the reduction loop broadcasts one
  zero-point-corrected activation (i8 → i32) and multiply-adds it into the row with the
  contiguous i8 weights of that input channel (HWIO / [K, N] keep output channels innermost),
  a unit-stride i32 loop LLVM vectorizes (`vpmovsxbd` + `vpmulld`/`vpaddd`, 16 lanes on
  AVX-512). Padding contributes nothing (x − zx = 0 there, so the tap is skipped). The bias and
  then the region's epilogue (requantize → i8, dequantize, …) run per element on the finished
  row before the store, so the i32 accumulators never reach memory outside the kernel. Output
  rows are independent: a kernel worth splitting (`parallel.worth_splitting`) runs chunks of them
  on both cores, each thread with its own accumulator row; the weights are read-only and shared.
  That is the portable kernel; on hosts with AVX-512 VNNI, ungrouped convolutions and matmuls
  whose right operand is 2-D with zero point 0 take `lower_quant_root_vnni` instead (register
  tiles of `vpdpbusd`, see there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from math import prod

import numpy as np
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import i32
from xdsl.ir import Operation, SSAValue

from graphc.backends.cpu import parallel, scalar_ops
from graphc.backends.cpu.arith_ext import CmpiOp, SelectOp
from graphc.backends.cpu.elements import elem_kind, kind_of
from graphc.backends.cpu.loop_builder import Index, KernelBuilder
from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects import quant as q

QUANT_ELEMENTWISE = (q.QuantizeOp, q.DequantizeOp, q.RequantizeOp)
I8, I32, I64, F32 = (elem_kind(t) for t in (dtypes.i8, dtypes.i32, dtypes.i64, dtypes.f32))


def _param(b: KernelBuilder, values: np.ndarray, axis: int | None, idx: Sequence[Index], kind) -> SSAValue:
    """A per-tensor parameter as an immediate, a per-axis one read from a table at idx[axis]."""
    values = np.asarray(values).reshape(-1)
    if axis is None or len(set(values.tolist())) == 1:
        return scalar_ops.const(b, kind, values[0].item())
    table = b.table([v.item() for v in values], kind.storage)
    return b.load(table, [idx[axis]])


def elementwise(b: KernelBuilder, op: Operation, x: SSAValue, idx: Sequence[Index]) -> SSAValue:
    if isinstance(op, q.QuantizeOp):
        return _quantize(b, op, x, idx)
    if isinstance(op, q.DequantizeOp):
        p = q.quant_params(op)
        src = I8 if op.input.type.element_type == dtypes.i8 else I32
        centred = scalar_ops.binary(b, "sub", I64, scalar_ops.cast(b, x, src, I64),
                                    _param(b, p.zero_point, p.axis, idx, I64))  # fmt: skip
        return scalar_ops.binary(b, "mul", F32, scalar_ops.cast(b, centred, I64, F32),
                                 _param(b, p.scale, p.axis, idx, F32))  # fmt: skip
    return _requantize(b, op, x, idx)


def _quantize(b: KernelBuilder, op: q.QuantizeOp, x: SSAValue, idx) -> SSAValue:
    p = q.quant_params(op)
    src = elem_kind(op.input.type.element_type)
    xf = scalar_ops.cast(b, x, src, F32) if src.compute != F32.compute else x
    zero = _param(b, p.zero_point.astype(np.float32), p.axis, idx, F32)
    scaled = scalar_ops.binary(b, "div", F32, xf, _param(b, p.scale, p.axis, idx, F32))
    rounded = scalar_ops.binary(b, "add", F32, scalar_ops.unary(b, "round", F32, scaled), zero)
    is_nan = scalar_ops.compare(b, "ne", F32, rounded, rounded)
    value = b.emit(SelectOp(is_nan, zero, rounded))
    value = scalar_ops.minimum(b, F32, scalar_ops.maximum(b, F32, value, scalar_ops.const(b, F32, -128.0)),
                               scalar_ops.const(b, F32, 127.0))  # fmt: skip
    return scalar_ops.cast(b, scalar_ops.cast(b, value, F32, I32), I32, I8)


def _requantize(b: KernelBuilder, op: q.RequantizeOp, acc: SSAValue, idx) -> SSAValue:
    p = q.requantize_params(op)

    def c64(v: int) -> SSAValue:
        return scalar_ops.const(b, I64, v)

    def emit(name: str, x: SSAValue, y: SSAValue) -> SSAValue:
        return scalar_ops.binary(b, name, I64, x, y)

    left = _param(b, np.maximum(p.shift, 0).astype(np.int32), p.axis, idx, I32)
    right = _param(b, np.maximum(-p.shift, 0), p.axis, idx, I64)
    multiplier = _param(b, p.multiplier, p.axis, idx, I64)
    shifted = b.emit(arith.ShLIOp(acc, left))  # i32: wraps like the reference (left < 31)
    a = scalar_ops.cast(b, shifted, I32, I64)
    # SaturatingRoundingDoublingHighMul; its one saturating case (a = b = INT32_MIN) cannot occur:
    # multipliers are in [0, 2^31).
    ab = emit("mul", a, multiplier)
    nonneg = b.emit(CmpiOp(ab, c64(0), "sge"))
    nudged = emit("add", ab, b.emit(SelectOp(nonneg, c64(1 << 30), c64(1 - (1 << 30)))))
    magnitude = b.emit(arith.ShRSIOp(b.emit(SelectOp(b.emit(CmpiOp(nudged, c64(0), "sge")), nudged,
                                                     emit("sub", c64(0), nudged))), c64(31)))  # fmt: skip
    high = b.emit(SelectOp(b.emit(CmpiOp(nudged, c64(0), "sge")), magnitude, emit("sub", c64(0), magnitude)))
    # RoundingDivideByPOT(high, right)
    mask = emit("sub", b.emit(arith.ShLIOp(c64(1), right)), c64(1))
    remainder = b.emit(arith.AndIOp(high, mask))
    negative = scalar_ops.cast(b, b.emit(CmpiOp(high, c64(0), "slt")), elem_kind(dtypes.i1), I64)
    threshold = emit("add", b.emit(arith.ShRSIOp(mask, c64(1))), negative)
    round_up = scalar_ops.cast(b, b.emit(CmpiOp(remainder, threshold, "sgt")), elem_kind(dtypes.i1), I64)
    scaled = emit("add", b.emit(arith.ShRSIOp(high, right)), round_up)
    out = emit("add", scaled, c64(p.output_zero_point))
    out = scalar_ops.minimum(b, I64, scalar_ops.maximum(b, I64, out, c64(p.clamp_min)), c64(p.clamp_max))
    return scalar_ops.cast(b, out, I64, I8)


# -- conv / matmul roots ---------------------------------------------------------------------------


def lower_quant_root(b: KernelBuilder, epilogue, outs: Sequence[SSAValue]) -> None:
    """The root of an int8 `conv`/`matmul` region into per-row i32 accumulators, then bias and
    epilogue per element (see the module docstring)."""
    if vnni_plan(epilogue.plan.root) is not None:
        lower_quant_root_vnni(b, epilogue, outs)
        return
    root = epilogue.plan.root
    ev = epilogue.ev
    shape = epilogue.shape
    channels = shape[-1]
    row = None  # each thread's i32 accumulators, allocated per chunk of output rows
    zero = scalar_ops.const(b, I32, 0)

    def new_row() -> SSAValue:
        nonlocal row
        row = b.emit(memref.AllocaOp.get(i32, 64, [channels]))
        return row
    bias = root.operands[2] if len(root.operands) > 2 else None

    def finish(idx: list[Index]) -> None:
        with b.nest([channels]) as (oc,), ev.scope():
            acc = b.load(row, [oc])
            if bias is not None:
                acc = scalar_ops.binary(b, "add", I32, acc, ev.at(bias, [oc]))
            full = [*idx, oc]
            epilogue.store(epilogue(acc, full), outs, full)

    def clear() -> None:
        with b.nest([channels]) as (oc,):
            b.store(zero, row, [oc])

    def accumulate(xv: SSAValue, w_index) -> None:
        """row[oc] += xv · w[..., oc] over the output channels."""
        with b.nest([channels]) as (oc,), ev.scope():
            wv = scalar_ops.cast(b, ev.at(root.operands[1], w_index(oc)), I8, I32)
            if w_zero:
                wv = scalar_ops.binary(b, "sub", I32, wv, scalar_ops.const(b, I32, w_zero))
            product = scalar_ops.binary(b, "mul", I32, xv, wv)
            b.store(scalar_ops.binary(b, "add", I32, b.load(row, [oc]), product), row, [oc])

    if isinstance(root, q.MatMulOp):
        params = q.matmul_params(root)
        w_zero = params["b_zero_point"]
        sa, sb = g.shape_of(root.operands[0].type), g.shape_of(root.operands[1].type)
        flops = 2.0 * prod(shape) * sa[-1]
        with _output_rows(b, shape[:-1], flops, _bytes(root, shape)) as idx, ev.scope():
            batch, i = idx[:-1], idx[-1]
            new_row()
            clear()
            with b.nest([sa[-1]]) as (k,), ev.scope():
                xv = _centred(b, ev.at(root.operands[0], [*_broadcast(batch, sa[:-2]), i, k]), params["a_zero_point"])
                accumulate(xv, lambda oc: [*_broadcast(batch, sb[:-2]), k, oc])
            finish(list(idx))
        return
    from graphc.backends.cpu.lower_matmul_conv import windows

    params = q.conv_params(root)
    w_zero = 0
    xs, ws = g.shape_of(root.operands[0].type), g.shape_of(root.operands[1].type)
    kh, kw, ci, co = ws
    groups = params["groups"]
    cog = co // groups
    wy, wx = windows(root, xs, shape, kh, kw, params["dilations"])
    flops = 2.0 * prod(shape) * kh * kw * ci
    with _output_rows(b, shape[:-1], flops, _bytes(root, shape)) as (n, oy, ox), ev.scope():
        new_row()
        clear()
        with b.nest([kh, kw]) as (ty, tx):
            iy, ix = wy.source(b, oy, ty), wx.source(b, ox, tx)
            with b.if_(b.all_of([wy.inside(b, iy), wx.inside(b, ix)])), ev.scope():
                if groups == 1:
                    with b.nest([ci]) as (c,), ev.scope():
                        xv = _centred(b, ev.at(root.operands[0], [n, iy, ix, c]), params["input_zero_point"])
                        accumulate(xv, lambda oc: [ty, tx, c, oc])
                else:  # grouped / depthwise: channel oc reads input channel (oc // cog)·ci + c
                    with b.nest([ci]) as (c,), ev.scope():
                        with b.nest([channels]) as (oc,), ev.scope():
                            src = b.add(b.mul(b.div_index(oc, cog), ci), c)
                            xv = _centred(b, ev.at(root.operands[0], [n, iy, ix, src]), params["input_zero_point"])
                            wv = scalar_ops.cast(b, ev.at(root.operands[1], [ty, tx, c, oc]), I8, I32)
                            product = scalar_ops.binary(b, "mul", I32, xv, wv)
                            b.store(scalar_ops.binary(b, "add", I32, b.load(row, [oc]), product), row, [oc])
        finish([n, oy, ox])


@contextmanager
def _output_rows(b: KernelBuilder, dims: Sequence[int], flops: float, touched: float) -> Iterator[list[Index]]:
    """One iteration per output row (each index of `dims`: the output shape without its channels),
    as a flat loop cut into chunks that both cores run (`scf.parallel`) when the kernel is worth
    splitting. Yields the row's indices; scratch allocated inside is per thread (allocas are hoisted
    to the entry of each thread's outlined function)."""
    from graphc.backends.cpu.lower_matmul_conv import _chunk_loop, _row_chunks

    rows = prod(dims)
    split = parallel.worth_splitting(flops, touched)
    chunks, per_chunk = _row_chunks(rows, flops, split)
    with _chunk_loop(b, chunks, split and chunks > 1, parallel.cost_ns(flops, touched)) as c:
        start = b.mul(c, per_chunk)
        with b.loop(start, b.min_index(b.add(start, per_chunk), rows)) as loop:
            flat: Index = loop.iv
            idx: list[Index] = []
            for d in reversed(dims[1:]):
                idx.append(b.rem_index(flat, d))
                flat = b.div_index(flat, d)
            yield [flat, *reversed(idx)]


def _bytes(root: Operation, shape: Sequence[int]) -> float:
    """Bytes an int8 root touches: its operands once and an i32-sized output (an upper bound)."""
    return sum(prod(g.shape_of(v.type)) * kind_of(v.type).nbytes for v in root.operands) + 4.0 * prod(shape)


def _centred(b: KernelBuilder, x: SSAValue, zero_point: int) -> SSAValue:
    wide = scalar_ops.cast(b, x, I8, I32)
    return scalar_ops.binary(b, "sub", I32, wide, scalar_ops.const(b, I32, zero_point)) if zero_point else wide


def _broadcast(idx: Sequence[Index], shape: Sequence[int]) -> list[Index]:
    idx = list(idx)[len(idx) - len(shape):] if shape else []
    return [0 if d == 1 else i for i, d in zip(idx, shape)]


def is_per_axis(op: Operation) -> bool:
    return isinstance(op, QUANT_ELEMENTWISE) and "axis" in op.attributes


def is_quant_root(op: Operation) -> bool:
    return isinstance(op, q.Conv2DOp | q.MatMulOp)



# -- AVX-512 VNNI ----------------------------------------------------------------------------------

LANES = 16
VNNI_SCRATCH_LIMIT = 1 << 20
"""Bytes of repacked weights (plus two rows) a VNNI kernel may keep on the calling thread's stack,
as Winograd's transformed filters (`lower_winograd`); larger layers use the portable kernel. 1 MiB
holds a 3×3×256×256 filter."""


def host_has_vnni() -> bool:
    from graphc.backends.cpu.codegen import host_target

    return "+avx512vnni" in host_target().features.split(",")


@dataclass(frozen=True)
class VnniPlan:
    """The reduction of one output row as (taps × k4 groups of 4 bytes) × (column blocks of 16)."""

    taps: tuple[int, int]  # (kh, kw); (1, 1) for a matmul
    k: int  # reduction length per tap (input channels / K)
    k4: int  # ceil(k / 4)
    columns: int  # output channels / N
    padded: int  # columns rounded up to 16

    @property
    def words(self) -> int:
        return self.taps[0] * self.taps[1] * self.k4 * self.padded


def vnni_plan(root: Operation) -> VnniPlan | None:
    """How `root` runs on `vpdpbusd`, or None (no VNNI on the host, grouped convolutions, a
    matmul with a batched or zero-pointed right operand, or weights too large to repack)."""
    if isinstance(root, q.Conv2DOp):
        if q.conv_params(root)["groups"] != 1:
            return None
        kh, kw, ci, co = g.shape_of(root.operands[1].type)
        plan = VnniPlan((kh, kw), ci, -(-ci // 4), co, -(-co // LANES) * LANES)
    elif isinstance(root, q.MatMulOp):
        sb = g.shape_of(root.operands[1].type)
        if len(sb) != 2 or q.matmul_params(root)["b_zero_point"] != 0:
            return None
        plan = VnniPlan((1, 1), sb[0], -(-sb[0] // 4), sb[1], -(-sb[1] // LANES) * LANES)
    else:
        return None
    if plan.words * 4 + plan.padded * 8 > VNNI_SCRATCH_LIMIT or not host_has_vnni():
        return None
    return plan


def lower_quant_root_vnni(b: KernelBuilder, epilogue, outs: Sequence[SSAValue]) -> None:
    """The int8 root on `vpdpbusd` (u8 × s8 → i32, 64 multiply-adds per instruction).

    vpdpbusd multiplies unsigned bytes by signed ones, so the activations are biased: x + 128 is
    x's byte with the top bit flipped. Σ (x − zx)·w = Σ (x + 128)·w − (128 + zx)·Σ w, and the
    second term is folded into the bias once per call (`corr`). A padded tap reads the byte of zx
    (it then contributes (zx + 128)·w, which the correction removes: padding adds nothing, as in
    the reference). Once per call the kernel also repacks the weights into i32 words of 4
    consecutive reduction bytes, [tap][k4][column] (columns padded to 16 with zero words, the
    reduction to a multiple of 4 with zero bytes): one 64-byte load per 16 columns.

    Register tiles, as the f32 micro-kernel's: a tile of `points` output points (consecutive
    pixels of an output row, or rows of a matmul) × up to 4 blocks of 16 columns keeps its i32
    accumulators in vector registers (≤ 16 of them) through the whole reduction; each step loads
    the 4 weight vectors of one (tap, k4) once and, per point, broadcasts one word of 4 activation
    bytes into 4 vpdpbusd. Accumulators start from `corr` and go to a per-thread scratch row
    once per tile, where the bias-corrected sums meet the epilogue element by element. Tiles
    (output rows × tiles of points) are the units `_output_rows` splits across threads.
    """
    from graphc.backends.cpu.lower_matmul_conv import windows
    from xdsl.dialects import vector

    from graphc.backends.cpu.loop_builder import vector_type
    from graphc.backends.cpu.x86_ops import VpdpbusdOp

    root = epilogue.plan.root
    ev = epilogue.ev
    plan = vnni_plan(root)
    assert plan is not None
    shape = epilogue.shape
    conv = isinstance(root, q.Conv2DOp)
    zx = q.conv_params(root)["input_zero_point"] if conv else q.matmul_params(root)["a_zero_point"]
    kh, kw = plan.taps
    vt = vector_type(i32, LANES)
    packed = b.emit(memref.AllocaOp.get(i32, 64, [plan.words]))
    corr = b.emit(memref.AllocaOp.get(i32, 64, [plan.padded]))
    zero = scalar_ops.const(b, I32, 0)
    bias = root.operands[2] if len(root.operands) > 2 else None

    def weight(tap_y: Index, tap_x: Index, c: Index, o: Index) -> SSAValue:
        index = [tap_y, tap_x, c, o] if conv else [c, o]
        return ev.at(root.operands[1], index)

    def byte_word(values: Sequence[SSAValue]) -> SSAValue:
        """Four i8 values as the bytes (little-endian) of one i32."""
        word = None
        for j, v in enumerate(values):
            byte = b.emit(arith.AndIOp(scalar_ops.cast(b, v, I8, I32), scalar_ops.const(b, I32, 0xFF)))
            if j:
                byte = b.emit(arith.ShLIOp(byte, scalar_ops.const(b, I32, 8 * j)))
            word = byte if word is None else b.emit(arith.OrIOp(word, byte))
        return word

    # once per call: repacked weights and the bias with the −(128 + zx)·Σw correction
    with b.nest([plan.words]) as (i,):
        b.store(zero, packed, [i])
    with b.nest([kh, kw, plan.k4, plan.columns]) as (ty, tx, k4, o), ev.scope():
        taps = [b.min_index(b.add(b.mul(k4, 4), j), plan.k - 1) for j in range(4)]
        real = [b.cmp_index("slt", b.add(b.mul(k4, 4), j), plan.k) for j in range(4)]
        values = [b.emit(SelectOp(ok, weight(ty, tx, c, o), scalar_ops.const(b, I8, 0))) for c, ok in zip(taps, real)]
        at = b.add(b.mul(b.add(b.mul(b.add(b.mul(ty, kw), tx), plan.k4), k4), plan.padded), o)
        b.store(byte_word(values), packed, [at])
    with b.nest([plan.padded]) as (o,):
        b.store(zero, corr, [o])
    with b.nest([plan.columns]) as (o,), ev.scope():
        with b.reduce_nest([kh, kw, plan.k], [zero]) as red, ev.scope():
            ty, tx, c = red.ivs
            w = scalar_ops.cast(b, weight(ty, tx, c, o), I8, I32)
            red.next(scalar_ops.binary(b, "add", I32, red.carried[0], w))
        total = scalar_ops.binary(b, "mul", I32, red.results[0], scalar_ops.const(b, I32, 128 + zx))
        start = ev.at(bias, [o]) if bias is not None else zero
        b.store(scalar_ops.binary(b, "sub", I32, start, total), corr, [o])
    pad_word = scalar_ops.const(b, I32, int.from_bytes(bytes([(zx + 128) & 0xFF] * 4), "little", signed=True))
    flip_word = scalar_ops.const(b, I32, -0x7F7F7F80)  # 0x80808080: the top bit of each byte
    whole_words = plan.k % 4 == 0

    def activation_word(read: Callable[[Index], SSAValue], k4: Index) -> SSAValue:
        """Bytes 4·k4 … 4·k4+3 of the reduction as one biased word. With k a multiple of 4 they are
        consecutive in memory (LLVM loads them as one i32); otherwise the bytes past k repeat
        byte k−1, which meets zero weights."""
        first = b.mul(k4, 4)
        cs = [b.add(first, j) if whole_words else b.min_index(b.add(first, j), plan.k - 1) for j in range(4)]
        return b.emit(arith.XOrIOp(byte_word([read(c) for c in cs]), flip_word))

    blocks = plan.padded // LANES
    group = min(4, blocks)  # column blocks of 16 per register tile
    points = max(1, min(8, 16 // group))  # output points (pixels / rows) per register tile

    def tile(taps: list[int], words: Callable[[list[Index], Index], list[SSAValue]], rows: SSAValue) -> None:
        """`points` × (group · 16) i32 accumulators in registers through the whole reduction, per
        group of column blocks; then into `rows` ([points][padded], this thread's scratch)."""

        def columns(col0: Index, width: int) -> None:
            inits = [b.emit(vector.LoadOp(corr, [b.index(b.add(col0, j * LANES))], vt)) for j in range(width)]
            with b.reduce_nest([*taps, plan.k4], inits * points) as red, ev.scope():
                *tap_ivs, k4 = red.ivs
                tap = b.add(b.mul(tap_ivs[0], taps[1]), tap_ivs[1]) if len(taps) == 2 else 0
                base = b.add(b.mul(b.add(b.mul(tap, plan.k4), k4), plan.padded), col0)
                wvs = [b.emit(vector.LoadOp(packed, [b.index(b.add(base, j * LANES))], vt)) for j in range(width)]
                updated = []
                for p, word in enumerate(words(tap_ivs, k4)):
                    wide = b.emit(vector.BroadcastOp(word, vt))
                    updated += [b.emit(VpdpbusdOp(red.carried[p * width + j], wide, wvs[j])) for j in range(width)]
                red.next(*updated)
            for p in range(points):
                for j in range(width):
                    at = b.index(b.add(p * plan.padded, b.add(col0, j * LANES)))
                    b.emit(vector.StoreOp(red.results[p * width + j], rows, [at]))

        full, rest = divmod(blocks, group)
        if full > 1:
            with b.loop(0, full) as gl:
                columns(b.mul(gl.iv, group * LANES), group)
        elif full == 1:
            columns(0, group)
        if rest:
            columns(full * group * LANES, rest)

    def finish(rows: SSAValue, p: int, idx: list[Index]) -> None:
        with b.nest([plan.columns]) as (oc,), ev.scope():
            full_idx = [*idx, oc]
            epilogue.store(epilogue(b.load(rows, [b.add(p * plan.padded, oc)]), full_idx), outs, full_idx)

    def tiles_along(extent: int, outer: Sequence[int], flops: float):
        """Units of work: each index of `outer` × each tile of `points` consecutive positions of a
        dimension of `extent`; yields (outer indices, the tile's positions clamped into range,
        whether each is real). The last tile of a ragged extent recomputes position extent−1."""

        @contextmanager
        def cm():
            count = -(-extent // points)
            with _output_rows(b, [*outer, count], flops, _bytes(root, shape)) as idx, ev.scope():
                start = b.mul(idx[-1], points)
                ragged = extent % points != 0
                at = [b.min_index(b.add(start, p), extent - 1) if ragged else b.add(start, p) for p in range(points)]
                real = [b.cmp_index("slt", b.add(start, p), extent) if ragged and p else None for p in range(points)]
                yield idx[:-1], at, real

        return cm()

    def finish_all(rows: SSAValue, outer: list[Index], at: list[Index], real: list) -> None:
        for p in range(points):
            with b.if_(real[p]), ev.scope():
                finish(rows, p, [*outer, at[p]])

    if not conv:
        sa = g.shape_of(root.operands[0].type)
        flops = 2.0 * prod(shape) * plan.k
        with tiles_along(shape[-2], shape[:-2], flops) as (batch, at, real):
            rows = b.emit(memref.AllocaOp.get(i32, 64, [points * plan.padded]))
            a_batch = _broadcast(batch, sa[:-2])

            def matmul_words(_taps: list[Index], k4: Index) -> list[SSAValue]:
                return [activation_word(lambda c, i=i: ev.at(root.operands[0], [*a_batch, i, c]), k4) for i in at]

            tile([], matmul_words, rows)
            finish_all(rows, list(batch), at, real)
        return
    params = q.conv_params(root)
    xs = g.shape_of(root.operands[0].type)
    wy, wx = windows(root, xs, shape, kh, kw, params["dilations"])
    flops = 2.0 * prod(shape) * kh * kw * plan.k
    with tiles_along(shape[2], shape[:2], flops) as ((n, oy), at, real):
        rows = b.emit(memref.AllocaOp.get(i32, 64, [points * plan.padded]))

        def conv_words(taps: list[Index], k4: Index) -> list[SSAValue]:
            ty, tx = taps
            iy = wy.source(b, oy, ty)
            inside_y = wy.inside(b, iy)
            iy_safe = iy if inside_y is None else b.clamp_index(iy, 0, wy.size - 1)
            words = []
            for ox in at:
                ix = wx.source(b, ox, tx)
                inside = b.all_of([inside_y, wx.inside(b, ix)])
                ix_safe = ix if inside is None else b.clamp_index(ix, 0, wx.size - 1)
                word = activation_word(lambda c, ix_safe=ix_safe: ev.at(root.operands[0], [n, iy_safe, ix_safe, c]), k4)
                words.append(word if inside is None else b.emit(SelectOp(inside, word, pad_word)))
            return words

        tile([kh, kw], conv_words, rows)
        finish_all(rows, [n, oy], at, real)
