"""3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3), in one kernel.

Takes a `graph.conv2d` for which `takes_winograd` holds (f32, 3×3 filter, stride 1, no dilation,
one group, enough channels; a lone op or the root of a `fusion.region`, with the epilogue callback
of `lower_matmul_conv`). Leaves loop-level IR (scf, memref, arith, vector), like the direct
convolution it replaces.

Why: a 3×3 convolution spends 9 multiply-adds per output pixel, input channel and filter; F(2×2,
3×3) computes a 2×2 output tile from a 4×4 input tile with 16, i.e. 4 per pixel instead of 9 — the
2.25× fewer FLOPs that take a ResNet's 3×3 convolutions (85% of its work) below what a direct
convolution at the same FMA rate can reach. Lavin & Gray, "Fast Algorithms for Convolutional
Neural Networks" (2016); the transforms are theirs:

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A      g: 3×3 filter, d: 4×4 input tile, Y: 2×2 output tile

    Bᵀ = [1  0 -1  0]    G = [1    0    0  ]    Aᵀ = [1  1  1  0]
         [0  1  1  0]        [1/2  1/2  1/2]         [0  1 -1 -1]
         [0 -1  1  0]        [1/2 -1/2  1/2]
         [0  1  0 -1]        [0    0    1  ]

Summed over input channels, the element-wise product becomes 16 independent GEMMs, one per
transformed position ξ: M[ξ](tiles × co) = V[ξ](tiles × ci) @ U[ξ](ci × co).

The kernel, per call:
1. filter transform U = G g Gᵀ for every (ci, co), into a stack buffer in the panel-major layout
   of `lower_matmul_conv` (per ξ, a packed ci × co B operand). It is recomputed each call — about 16
   FLOP per transformed weight, ~1% of the convolution's time — because the transformed filter has
   16/9 of the filter's elements and no honest tensor type in the region's operand list; `U_LIMIT_BYTES`
   bounds the buffer (larger convolutions take the direct path);
2. per row of output tiles (chunks of rows split across cores like the direct convolution), per
   block of up to `tile_block` tiles along the row:
   - input transform: each tile's 4×4×ci input patch → V (16 × block × ci, per-thread stack scratch),
     channels in vectors; a tile wholly inside the image reads without checks, a border tile reads
     clamped addresses and selects zero for the padding;
   - 16 GEMMs with `lower_matmul_conv`'s register-tiled micro-kernel (the block's tiles are the
     tile rows) into M (16 × block × co, stack scratch);
   - output transform: Y = Aᵀ M A per tile and channel vector, then the region's epilogue (bias,
     batch norm, activation, residual) in registers and the store; the second output row/column of
     a tile is stored only when it is inside the output (odd output sizes).

Rounding differs from the direct convolution (the transforms add and subtract input values before
the multiply), within float32 tolerances: measured error is a few ulps of the sum of |terms|.
"""

from __future__ import annotations

from math import ceil

from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import Float32Type
from xdsl.ir import Operation, SSAValue

from graphc.backends.cpu import parallel
from graphc.backends.cpu.arith_ext import SelectOp
from graphc.backends.cpu.elements import ElemKind, kind_of, shape_of
from graphc.backends.cpu.loop_builder import Index, KernelBuilder
from graphc.backends.cpu.lower_matmul_conv import (
    MAX_ROWS,
    RHS_ATTR,
    Epilogue,
    Window,
    _chunk_loop,
    _divmod,
    _micro_kernel,
    _Panels,
    _row_chunks,
    _Single,
    _store_tile,
    _tile_for,
    _Vec,
    _when,
    lanes_of,
    panel_width,
    panels,
    windows,
)
from graphc.dialects.graph import Conv2DOp, get_int, get_ints

MIN_CHANNELS = 8
"""Below this many input or output channels the 16 GEMMs are too thin to pay for the transforms
(the 3-channel stem of a CNN stays direct)."""
U_LIMIT_BYTES = 1 << 20
"""Largest transformed filter (16·ci·co·4 bytes) kept on the kernel's stack."""
SCRATCH_LIMIT_BYTES = 96 * 1024
"""V and M together, per thread, per block of tiles (L1 + a little L2)."""
TILE = 2  # output tile edge: F(2×2, 3×3)
PATCH = 4  # input tile edge
POSITIONS = PATCH * PATCH  # ξ


def takes_winograd(op: Operation) -> bool:
    """Whether `lower_conv2d` runs this convolution as F(2×2, 3×3)."""
    if not isinstance(op, Conv2DOp):
        return False
    x_type, w_type, out_type = op.input.type, op.filter.type, op.result.type
    kind = kind_of(x_type)
    if not isinstance(kind.compute, Float32Type) or lanes_of(kind) is None:
        return False
    kh, kw, ci, co = shape_of(w_type)
    _, oh, ow, _ = shape_of(out_type)
    return (
        (kh, kw) == (3, 3)
        and get_ints(op.attributes, "strides") == (1, 1)
        and get_ints(op.attributes, "dilations") == (1, 1)
        and get_int(op.attributes, "groups") == 1
        and ci >= MIN_CHANNELS
        and co >= MIN_CHANNELS
        and oh >= TILE
        and ow >= TILE
        and POSITIONS * ci * co * kind.nbytes <= U_LIMIT_BYTES
        and RHS_ATTR not in op.attributes  # pack_weights leaves these filters in HWIO
    )


def lower_winograd_conv(
    b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], epilogue: Epilogue | None
) -> None:
    kind = kind_of(op.operands[0].type)
    xs, ws, os_ = (shape_of(v.type) for v in (op.operands[0], op.operands[1], op.results[0]))
    _, _, ci, co = ws
    lanes = lanes_of(kind)
    assert lanes is not None
    vec = _Vec(b, kind.compute, lanes)
    wy, wx = windows(op, xs, os_, 3, 3)
    x, w, out = (b.collapse(v) for v in (ins[0], ins[1], outs[0]))
    nr = panel_width(co, lanes)
    pan = _Panels(co, nr, ci, packed=True, ld_unpacked=co)
    u = _scratch(b, kind, POSITIONS * ci * co)
    _filter_transform(vec, w, u, ci, co, pan)
    _tiles(vec, kind, x, u, out, xs, os_, ci, co, pan, wy, wx, epilogue)


def tile_block(ci: int, co: int, nr: int, lanes: int, kind: ElemKind) -> int:
    """Tiles per block: the micro-kernel's row count for the panel width, fewer when V and M
    would outgrow `SCRATCH_LIMIT_BYTES`."""
    rows = MAX_ROWS[min(4, ceil(min(nr, co) / lanes))]
    per_tile = POSITIONS * (ci + co) * kind.nbytes
    return max(1, min(rows, SCRATCH_LIMIT_BYTES // per_tile))


def _scratch(b: KernelBuilder, kind: ElemKind, count: int) -> SSAValue:
    """A 64-byte aligned stack buffer of `count` elements (emit_llvm puts it in the frame of the
    function it ends up in: per thread inside a parallel chunk)."""
    return b.emit(memref.AllocaOp.get(kind.compute, 64, [count]))


def _add(b: KernelBuilder, x: SSAValue, y: SSAValue) -> SSAValue:
    return b.emit(arith.AddfOp(x, y))


def _sub(b: KernelBuilder, x: SSAValue, y: SSAValue) -> SSAValue:
    return b.emit(arith.SubfOp(x, y))


def _mul(b: KernelBuilder, x: SSAValue, y: SSAValue) -> SSAValue:
    return b.emit(arith.MulfOp(x, y))


# -- 1. filter transform ---------------------------------------------------------------------------


def _filter_transform(vec: _Vec, w: SSAValue, u: SSAValue, ci: int, co: int, pan: _Panels) -> None:
    """U[ξ = 4a + b] = (G g Gᵀ)[a, b] for every input channel k and output channel c, stored at
    ξ·ci·co + (panel-major offset of (k, c)); output channels in vectors, the last of a panel masked."""
    b = vec.b
    half = vec.splat(b.const(0.5, vec.element))

    def g_rows(col: list[SSAValue]) -> list[SSAValue]:  # G·col for a 3-vector column
        s = _add(b, col[0], col[2])
        return [col[0], _mul(b, _add(b, s, col[1]), half), _mul(b, _sub(b, s, col[1]), half), col[2]]

    with b.loop(0, ci) as kl:
        k = kl.iv
        for p, (c0, width) in enumerate(panels(co, pan.nr)):
            for v in range(ceil(width / vec.lanes)):
                valid = min(vec.lanes, width - v * vec.lanes)
                mask = vec.mask(valid)
                taps = [
                    [vec.load(w, b.add(b.mul(k, co), ((i * 3 + j) * ci) * co + c0 + v * vec.lanes), mask) for j in range(3)]
                    for i in range(3)
                ]  # fmt: skip
                gi = [g_rows([taps[i][j] for i in range(3)]) for j in range(3)]  # gi[j][a] = (G g)[a, j]
                for a in range(PATCH):
                    row = g_rows([gi[j][a] for j in range(3)])  # (G g Gᵀ)[a, :]
                    for bb in range(PATCH):
                        at = b.add((a * PATCH + bb) * ci * co + p * pan.nr * ci, b.mul(k, width), v * vec.lanes)
                        vec.store(row[bb], u, at, mask)


# -- 2. tiles --------------------------------------------------------------------------------------


def _tiles(vec: _Vec, kind: ElemKind, x, u, out, xs, os_, ci, co, pan: _Panels, wy: Window, wx: Window, epilogue) -> None:
    b = vec.b
    batch, oh, ow, _ = os_
    _, h, w_in, _ = xs
    tiles_y, tiles_x = ceil(oh / TILE), ceil(ow / TILE)
    block = tile_block(ci, co, pan.nr, vec.lanes, kind)
    gemm_flops = 2.0 * POSITIONS * batch * tiles_y * tiles_x * ci * co
    flops = gemm_flops * 1.2  # the transforms
    touched = kind.nbytes * (batch * (h * w_in * ci + oh * ow * co) + POSITIONS * ci * co)
    split = parallel.worth_splitting(flops, touched)
    chunks, per_chunk = _row_chunks(batch * tiles_y, flops, split)
    # tile columns whose 4 input columns are all inside the image (no checks when reading them)
    tx_lo = ceil(wx.pad / TILE)
    tx_hi = max(tx_lo, (w_in - PATCH + wx.pad) // TILE + 1)

    with _chunk_loop(b, chunks, split and chunks > 1, parallel.cost_ns(flops, touched)) as c:
        v_buf = _scratch(b, kind, POSITIONS * block * ci)
        m_buf = _scratch(b, kind, POSITIONS * block * co)
        r0 = b.mul(c, per_chunk)
        r1 = b.min_index(b.add(r0, per_chunk), batch * tiles_y)
        with b.loop(r0, r1) if (chunks > 1 or batch * tiles_y > 1) else _Single(0) as row:
            n, ty = _divmod(b, row.iv, tiles_y)
            rows = _TileRow(b, n, ty, h, w_in, ci, wy)

            def run_block(tx0: Index, count: int) -> None:
                _input_transform(vec, x, v_buf, rows, tx0, count, block, ci, wx, (tx_lo, tx_hi))
                _gemms(vec, v_buf, u, m_buf, count, block, ci, co, pan)
                _output_transform(vec, m_buf, out, n, ty, tx0, count, block, co, oh, ow, epilogue)

            full, rest = divmod(tiles_x, block)
            if full > 1:
                with b.loop(0, full) as bl:
                    run_block(b.mul(bl.iv, block), block)
            elif full == 1:
                run_block(0, block)
            if rest:
                run_block(full * block, rest)


class _TileRow:
    """The four input rows of one row of tiles: their clamped indices and whether each is inside."""

    def __init__(self, b: KernelBuilder, n: Index, ty: Index, h: int, w_in: int, ci: int, wy: Window):
        top = b.sub(b.mul(ty, TILE), wy.pad)
        self.image = b.mul(n, h * w_in * ci)
        self.rows = [b.add(top, i) for i in range(PATCH)]
        self.inside = [b.in_range(r, 0, h) for r in self.rows]
        self.clamped = [b.clamp_index(r, 0, h - 1) for r in self.rows]
        self.all_inside = b.all_of(self.inside)


def _input_transform(vec: _Vec, x, v_buf, rows: _TileRow, tx0: Index, count: int, block: int, ci: int,
                     wx: Window, interior: tuple[int, int]) -> None:  # fmt: skip
    """V[ξ, t, :] = (Bᵀ d B)[ξ] for tiles tx0 .. tx0+count-1 of the row."""
    b = vec.b
    w_in = wx.size
    with b.loop(0, count) if count > 1 else _Single(0) as tl:
        t = tl.iv
        tx = b.add(tx0, t)
        left = b.sub(b.mul(tx, TILE), wx.pad)
        cols = [b.add(left, j) for j in range(PATCH)]
        in_cols = b.all_of([b.cmp_index("sge", tx, interior[0]), b.cmp_index("slt", tx, interior[1])])
        fast = b.all_of([rows.all_inside, in_cols])

        def patch_loader(checked: bool):
            if not checked:
                return lambda i, j, c, mask: vec.load(x, b.add(rows.image, b.mul(rows.rows[i], w_in * ci), b.mul(cols[j], ci), c), mask)
            col_ok = [b.in_range(cj, 0, w_in) for cj in cols]
            col_at = [b.clamp_index(cj, 0, w_in - 1) for cj in cols]
            zero = vec.zero()

            def load(i, j, c, mask):
                value = vec.load(x, b.add(rows.image, b.mul(rows.clamped[i], w_in * ci), b.mul(col_at[j], ci), c), mask)
                ok = b.all_of([rows.inside[i], col_ok[j]])
                return value if ok is None else b.emit(SelectOp(ok, value, zero))

            return load

        def transform(load) -> None:
            def one_vector(c: Index, mask) -> None:
                d = [[load(i, j, c, mask) for j in range(PATCH)] for i in range(PATCH)]
                cols_t = [_bt(b, [d[i][j] for i in range(PATCH)]) for j in range(PATCH)]  # (Bᵀ d)[:, j]
                for a in range(PATCH):
                    v_row = _bt(b, [cols_t[j][a] for j in range(PATCH)])  # (Bᵀ d B)[a, :]
                    for bb in range(PATCH):
                        at = b.add(b.mul(b.add((a * PATCH + bb) * block, t), ci), c)
                        vec.store(v_row[bb], v_buf, at, mask)

            _channel_vectors(vec, ci, one_vector)

        if fast is None:
            transform(patch_loader(False))
        else:
            with b.if_(fast):
                transform(patch_loader(False))
            with b.if_(b.emit(arith.XOrIOp(fast, b.true()))):
                transform(patch_loader(True))


def _bt(b: KernelBuilder, d: list[SSAValue]) -> list[SSAValue]:
    """Bᵀ·d for a 4-vector."""
    return [_sub(b, d[0], d[2]), _add(b, d[1], d[2]), _sub(b, d[2], d[1]), _sub(b, d[1], d[3])]


def _channel_vectors(vec: _Vec, channels: int, body) -> None:
    """body(first channel, mask) over the channels in vectors; the last one masked if partial."""
    b = vec.b
    full, rest = divmod(channels, vec.lanes)
    if full > 1:
        with b.loop(0, full) as cl:
            body(b.mul(cl.iv, vec.lanes), None)
    elif full == 1:
        body(0, None)
    if rest:
        body(full * vec.lanes, vec.mask(rest))


def _gemms(vec: _Vec, v_buf, u, m_buf, count: int, block: int, ci: int, co: int, pan: _Panels) -> None:
    """M[ξ] (count × co) = V[ξ] (count × ci) @ U[ξ] (ci × co) for the 16 positions."""
    b = vec.b
    with b.loop(0, POSITIONS) as xl:
        xi = xl.iv
        a_base = b.mul(xi, block * ci)
        u_base = b.mul(xi, ci * co)
        m_base = b.mul(xi, block * co)

        def panel(p: Index, width: int) -> None:
            tile = _tile_for(vec.lanes, width, count)
            pbase = pan.base(b, p, u_base)
            col0 = b.mul(p, pan.nr)
            accs = _micro_kernel(
                vec, tile, v_buf, u, [(0, ci)],
                a_index=lambda ivs, r: b.add(a_base, r * ci, ivs[0]),
                b_index=lambda ivs: b.add(pbase, b.mul(ivs[0], width)),
            )  # fmt: skip
            _store_tile(vec, tile, accs, m_buf, lambda r: b.add(m_base, r * co, col0), None, None)

        if pan.full > 1:
            with b.loop(0, pan.full) as pl:
                panel(pl.iv, pan.nr)
        elif pan.full == 1:
            panel(0, pan.nr)
        if pan.last_width:
            panel(pan.full, pan.last_width)


def _output_transform(vec: _Vec, m_buf, out, n: Index, ty: Index, tx0: Index, count: int, block: int, co: int,
                      oh: int, ow: int, epilogue: Epilogue | None) -> None:  # fmt: skip
    """Y = Aᵀ M A per tile and channel vector, the epilogue, and the stores of the tile's pixels
    that are inside the output."""
    b = vec.b
    oy0 = b.mul(ty, TILE)
    row_ok = [None, b.cmp_index("slt", b.add(oy0, 1), oh) if oh % TILE else None]
    with b.loop(0, count) if count > 1 else _Single(0) as tl:
        t = tl.iv
        ox0 = b.mul(b.add(tx0, t), TILE)
        col_ok = [None, b.cmp_index("slt", b.add(ox0, 1), ow) if ow % TILE else None]

        def one_vector(c: Index, mask) -> None:
            m = [
                [vec.load(m_buf, b.add(b.mul(b.add((a * PATCH + bb) * block, t), co), c), mask) for bb in range(PATCH)]
                for a in range(PATCH)
            ]  # fmt: skip
            cols_t = [_at(b, [m[a][bb] for a in range(PATCH)]) for bb in range(PATCH)]  # (Aᵀ M)[:, bb]
            for a in range(TILE):
                y_row = _at(b, [cols_t[bb][a] for bb in range(PATCH)])  # (Aᵀ M A)[a, :]
                for bb in range(TILE):
                    oy, ox = b.add(oy0, a), b.add(ox0, bb)
                    inside = b.all_of([row_ok[a], col_ok[bb]])
                    with _when(b, True if inside is None else inside):
                        value = y_row[bb]
                        if epilogue is not None:
                            (value,) = epilogue(b, [value], [n, oy, ox, c], mask)
                        vec.store(value, out, b.add(b.mul(b.add(b.mul(n, oh * ow), b.mul(oy, ow), ox), co), c), mask)

        _channel_vectors(vec, co, one_vector)


def _at(b: KernelBuilder, m: list[SSAValue]) -> list[SSAValue]:
    """Aᵀ·m for a 4-vector."""
    s = _add(b, m[1], m[2])
    return [_add(b, m[0], s), _sub(b, _sub(b, m[1], m[2]), m[3])]

