"""Matmul, convolution and pooling → loop-level kernels, with register and cache blocking.

Takes `graph.matmul`, `graph.conv2d`, `graph.max_pool` or `graph.avg_pool` (a lone op, or the root
of a `fusion.region`, with an epilogue callback: see "Epilogues"). Leaves loop-level IR (scf, memref,
arith, and the standard `vector` dialect for the register tiles).

f32 and f64 matmul and convolution: a register-tiled GEMM
--------------------------------------------------------------
Everything is one kernel shape, C[M, N] (+)= A[M, K] @ B[K, N] (per batch element, per group):
- matmul: A, B, C as given (batch dimensions, with numpy broadcasting, are loops around it);
- 1×1 convolution with stride 1 and no padding: M = N·H·W pixels, K = input channels of a group;
- other convolutions, as an implicit GEMM: M = the output pixels of one output row, K = (kh, kw,
  input channel of the group); the A element of pixel r at tap (ty, tx, c) is read straight from
  the input image (no im2col buffer).

The micro-kernel computes an MR×NR tile of C in registers: NR = NV vectors of 16 f32 lanes (a zmm
register each; 8 lanes for f64), MR rows. For each k it loads the NV vectors of B's row k, and for
each of the MR rows broadcasts A[row, k] and issues NV fused multiply-adds (`vector.fma`; LLVM folds
the broadcast into the FMA's memory operand, `vfmadd231ps zmm, zmm, dword ptr [..]{1to16}`). The
accumulators are loop-carried values of the k loops, so the whole tile lives in registers; only the
finished tile is stored, after the epilogue. Tiles (MR × NV, ≤ 29 of the 32 zmm registers with the
NV B vectors and the broadcast): 6×4, 8×3, 12×2, 16×1 — each keeps ≥ 16 independent FMA chains in
flight (4 cycles of latency × 1 zmm FMA per cycle on Zen 4, whose AVX-512 runs on two 256-bit
pipes; Zen 5's two full-width pipes need 8) and loads ≤ 1 operand per FMA. When A's rows are a
multiple of 4 KiB apart (K = 1024 floats), MR rows would sit in one L1 set: MR is then lowered
until at most 4 rows share a set (`_rows_for`; 256×1024×10 went from 190 to 115 µs). The panel width NR (in vectors,
NV) is chosen per N by `panel_width` to waste the fewest masked lanes; the last panel may be
narrower; the last vector of a row of C is masked when N is not a multiple of 16 (AVX-512 masked
loads/stores: `vector.maskedload/maskedstore`). M remainders use a tile with fewer rows. So any M,
N, K works, down to a 1×1 output, and nothing is ever read or written out of bounds.

Packing: B is read panel by panel, K rows of NR contiguous floats each. Constant B (weights, conv
filters) is re-laid out at compile time by `graphc.backends.cpu.pack_weights`, which marks the op
with `RHS_ATTR` = NR: the panel of columns [p·NR, p·NR + w) is stored as a contiguous K×w block at
offset p·NR·K (per group, groups one after the other), so one micro-kernel call streams through one
contiguous block instead of K rows 4 KiB apart (which alias in the 8-way-per-set L1). The packed
array has exactly the elements of the original (no padding): the tensor type stays the same. A is
not packed: its rows are read in place (each micro-kernel reads MR rows sequentially, which the
hardware prefetchers follow; A blocks stay in L2, see below).

Cache blocking: output rows are cut into row blocks whose A block (rows × K) stays in L2 (≤ 384 KiB
of the 1 MiB L2: `A_BLOCK_BYTES`) while all panels of a panel group pass over it; inside a block
the loop order is panel (outer) then row tile (inner), so each B panel (K·NR·4 bytes: 200 KiB for
K = 784, NR = 64) is reused from L2 by every row tile of the block. (For K beyond ~1500 a panel no
longer fits L2 beside the A block; K is not blocked here, since no model at hand needs it.)

Threads: the chunks (row block × panel group; conv: blocks of output rows) are the iterations of
one loop; when the kernel is worth splitting (`parallel.worth_splitting`) that loop is an
`scf.parallel`, which `emit_llvm`/`parallel` run on both cores, otherwise an `scf.for`. Chunks
write disjoint tiles and each tile's sum is computed by one micro-kernel call: the result is the
same bits whichever thread runs it.

3×3 stride-1 f32 convolutions with at least 8 input and output channels do not come here: they run
as Winograd F(2×2, 3×3) (`lower_winograd`, on this module's micro-kernel), and `pack_weights` leaves
their filters in HWIO for it.

Depthwise convolution (one input channel per group, multiplier 1) is not a GEMM (every channel has
its own filter): it runs channels innermost, 16 lanes per vector, 4 output pixels × up to 4 channel
vectors of accumulators, the kh×kw taps unrolled; filter rows are loaded once per tap and reused by
the 4 pixels.

Padding, for both convolutions, is handled without a test in the inner loops: for each output row
the valid filter rows are a contiguous range [ty0, ty1) (computed once per row, a loop bound); output
pixels are split into the interior (every tap inside the image: full tiles, no checks) and the few
border pixels at either end of a row, whose valid filter columns are computed at compile time.

Other element types (f16, integers) keep the plain loop nests of the first version (f16 accumulates
in f32 and rounds once), with the epilogue applied in a pass over the stored result.

Epilogues
---------
`lower_matmul(b, op, ins, outs, epilogue)` and `lower_conv2d(...)` take an optional callback that
the fusion lowering uses to apply a region's elementwise tail (bias, BN scale/shift, activation,
residual add) to each accumulator before it is stored:

    epilogue(b, acc_values, index_values, mask) -> values

- `acc_values`: one value per root result (a list of one): a `vector<16xf32>` (`vector<8xf64>`)
  holding root-result elements `index_values[:-1] + [index_values[-1] + lane]` for lane = 0..15
  (on the f16/integer paths: a scalar of the compute type, and `mask` is None);
- `index_values`: the index of the first lane in the root result's own shape — matmul
  `[*batch, i, j]`, conv2d `[n, oy, ox, c]`; each a `loop_builder.Index` (a Python int when
  static, an `index` SSA value otherwise);
- `mask`: None when all lanes are inside the result, else a `vector<16xi1>` of the lanes that are
  (only the last vector of a row whose length is not a multiple of 16). Lanes outside the mask hold
  garbage and are never stored; the epilogue must not load memory for them (use
  `vector.maskedload` with this mask for its operands, `vector.load` when mask is None);
- returns one value per output buffer, of the type of the corresponding `outs` element (vector of
  the same length), which the kernel stores (masked) at the same index.
`None` means the identity. The callback is called once per accumulator vector, inside the tile's
store sequence: values it loads per column (bias) are loaded again for each row, and LLVM's GVN
merges those loads.

Pooling: per output pixel and channel, the (possibly dilated) window is reduced in a register;
taps in the padding are skipped (max) or not counted (average). f32 and f64 run channels in
vectors (`_pool_vectors`: up to 4 vectors of channels per pixel, the last one masked; the valid
taps of each pixel are loop bounds, as for the convolutions; output rows split across cores when
the kernel moves ≥ 1 MiB); other types run the scalar loop nest of the first version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from math import ceil

import numpy as np
from xdsl.dialects import arith, scf, vector
from xdsl.dialects.builtin import Float32Type, Float64Type, IndexType, IntegerAttr, VectorType, i1, i64
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from graphc.backends.cpu import parallel, scalar_ops
from graphc.backends.cpu.arith_ext import CmpfOp, SelectOp
from graphc.backends.cpu.elements import ElemKind, UnsupportedOnCpu, kind_of, shape_of
from graphc.backends.cpu.loop_builder import CONTRACT, REASSOC, Index, KernelBuilder
from graphc.dialects.graph import get_int, get_ints, pool_dilations

Epilogue = Callable[[KernelBuilder, list[SSAValue], list[Index], SSAValue | None], list[SSAValue]]
"""The in-register epilogue callback (see "Epilogues" in the module docstring)."""

RHS_ATTR = "graphc.cpu.rhs_panels"
"""On a matmul/conv2d whose constant B operand has been packed (see the module docstring): the
panel width NR in columns (an i64 IntegerAttr)."""

VECTOR_BYTES = 64
MAX_ROWS = {4: 6, 3: 8, 2: 12, 1: 16}
"""Rows of the register tile for a panel of NV vectors."""
L1_SETS = 64  # 32 KiB, 8-way, 64-byte lines (Zen 4; Zen 5's 48 KiB 12-way L1 also has 64 sets)
L1_WAYS_FOR_A = 4
A_BLOCK_BYTES = 384 * 1024
"""A row block (rows × K) kept in L2 while the panels of a chunk pass over it."""
TARGET_CHUNKS = 16
"""Chunks of a parallel kernel: enough for two threads to balance dynamically."""
DEPTHWISE_PIXELS = 4
POOL_VECTORS = 4
"""Channel vectors a pooling kernel reduces at once per output pixel."""
DEPTHWISE_VECTORS = 4


def lanes_of(kind: ElemKind) -> int | None:
    """f32 and f64 take the tiled paths (16 and 8 lanes per 64-byte vector); others do not."""
    if kind.storage != kind.compute:
        return None
    if isinstance(kind.compute, Float32Type):
        return VECTOR_BYTES // 4
    if isinstance(kind.compute, Float64Type):
        return VECTOR_BYTES // 8
    return None


# -- panel layout (shared with pack_weights) -------------------------------------------------------


def panel_width(n: int, lanes: int) -> int:
    """NR in columns for a B with n columns: the panel width (4, 3, 2 or 1 vectors) that needs the
    fewest vector FMAs per row, weighting narrow tiles by their lower efficiency."""
    efficiency = {4: 1.0, 3: 1.0, 2: 0.92, 1: 0.75}
    best, best_cost = lanes, None
    for nv in (4, 3, 2, 1):
        nr = nv * lanes
        cost = 0.0
        for _, width in panels(n, nr):
            vectors = ceil(width / lanes)
            cost += vectors / efficiency[vectors]
        if best_cost is None or cost < best_cost - 1e-9:
            best, best_cost = nr, cost
    return min(best, ceil(n / lanes) * lanes)  # never wider than B


def panels(n: int, nr: int) -> list[tuple[int, int]]:
    """(first column, width) of each panel."""
    return [(c, min(nr, n - c)) for c in range(0, n, nr)]


def pack_panels(matrix: np.ndarray, nr: int) -> np.ndarray:
    """`matrix[..., K, N]` with each K×N matrix re-laid out panel by panel (see the module
    docstring); same shape and elements, different order."""
    *lead, k, n = matrix.shape
    flat = matrix.reshape(-1, k, n)
    blocks = [flat[:, :, c : c + w].reshape(flat.shape[0], k * w) for c, w in panels(n, nr)]
    return np.ascontiguousarray(np.concatenate(blocks, axis=1).reshape(matrix.shape))


def pack_filter(w: np.ndarray, groups: int, nr: int) -> np.ndarray:
    """An HWIO filter as `groups` GEMM B matrices [(kh·kw·ci), co/groups], each packed."""
    kh, kw, ci, co = w.shape
    cog = co // groups
    mats = w.reshape(kh * kw * ci, groups, cog).transpose(1, 0, 2)
    return pack_panels(np.ascontiguousarray(mats), nr).reshape(w.shape)


# -- small builders ------------------------------------------------------------------------------


def _mul_add(b: KernelBuilder, kind: ElemKind, acc: SSAValue, x: SSAValue, y: SSAValue, flags) -> SSAValue:
    return scalar_ops.binary(b, "add", kind, acc, scalar_ops.binary(b, "mul", kind, x, y, flags), flags)


def _zero(b: KernelBuilder, kind: ElemKind) -> SSAValue:
    return scalar_ops.const(b, kind, 0)


def _accumulates_in_memory(kind: ElemKind) -> bool:
    """f16 (stored narrower than computed) accumulates in registers instead."""
    return kind.compute == kind.storage


def _static(v: Index) -> bool:
    return isinstance(v, int)


@dataclass
class _Vec:
    """Vector helpers for one element type."""

    b: KernelBuilder
    element: Attribute
    lanes: int

    @property
    def type(self) -> VectorType:
        return VectorType(self.element, [self.lanes])

    def zero(self) -> SSAValue:
        return self.b.emit(vector.BroadcastOp(self.b.const(0.0, self.element), self.type))

    def mask(self, valid: int) -> SSAValue | None:
        if valid >= self.lanes:
            return None
        return self.b.emit(vector.CreateMaskOp([self.b.index(valid)], VectorType(i1, [self.lanes])))

    def load(self, ref: SSAValue, at: Index, mask: SSAValue | None) -> SSAValue:
        if mask is None:
            return self.b.emit(vector.LoadOp(ref, [self.b.index(at)], self.type))
        return self.b.emit(vector.MaskedLoadOp(ref, [self.b.index(at)], mask, self.zero()))

    def store(self, value: SSAValue, ref: SSAValue, at: Index, mask: SSAValue | None) -> None:
        if mask is None:
            self.b.emit(vector.StoreOp(value, ref, [self.b.index(at)]))
        else:
            self.b.emit(vector.MaskedStoreOp(ref, [self.b.index(at)], mask, value))

    def splat(self, scalar: SSAValue) -> SSAValue:
        return self.b.emit(vector.BroadcastOp(scalar, self.type))

    def fma(self, x: SSAValue, y: SSAValue, acc: SSAValue) -> SSAValue:
        return self.b.emit(vector.FMAOp(x, y, acc))


def _when(b: KernelBuilder, cond: SSAValue | bool):
    """`scf.if` on a dynamic condition; a static one keeps the body or builds it into a block
    that is thrown away."""
    if cond is True:
        return b.if_(None)
    if cond is False:
        return _Discard(b)
    return b.if_(cond)


class _Discard:
    """Builds the body into a detached block (a statically false condition)."""

    def __init__(self, b: KernelBuilder):
        self.b = b

    def __enter__(self):
        self.outer, self.b.block = self.b.block, Block()
        return None

    def __exit__(self, *exc):
        discarded, self.b.block = self.b.block, self.outer
        discarded.erase(safe_erase=False)  # drops its uses of outer values
        return False


def _eq(b: KernelBuilder, x: Index, y: int) -> SSAValue | bool:
    if _static(x):
        return x == y
    return b.cmp_index("eq", x, y)


def _nested(b: KernelBuilder, bounds: Sequence[tuple[Index, Index]], carried: list[SSAValue], body) -> list[SSAValue]:
    """Loops over `bounds` (lo, hi) threading `carried`; `body(ivs, values) -> values`. A loop
    with a static trip count of 1 is not emitted."""
    if not bounds:
        return body([], carried)
    (lo, hi), rest = bounds[0], bounds[1:]
    if _static(lo) and _static(hi):
        if hi <= lo:
            return carried
        if hi - lo == 1:
            return _nested(b, rest, carried, lambda ivs, vals: body([lo, *ivs], vals))
    with b.loop(lo, hi, carried=carried) as loop:
        results = _nested(b, rest, list(loop.carried), lambda ivs, vals: body([loop.iv, *ivs], vals))
        loop.next(*results)
    return loop.results


def _chunk_loop(b: KernelBuilder, count: int, split: bool, cost_ns: int = 0):
    """The loop over a kernel's chunks: `scf.parallel` when `split` (with the kernel's estimated
    single-thread time, `parallel.COST_ATTR`), else `scf.for` (or nothing for a single chunk). A
    context manager yielding the chunk index."""

    @contextmanager
    def cm():
        if count == 1:
            yield 0
            return
        if not split:
            with b.loop(0, count) as loop:
                yield loop.iv
            return
        body = Block(arg_types=[IndexType()])
        op = scf.ParallelOp([b.index(0)], [b.index(count)], [b.index(1)], Region(body))
        op.attributes[parallel.COST_ATTR] = IntegerAttr(max(1, cost_ns), i64)
        b.emit(op)
        outer, b.block = b.block, body
        try:
            yield body.args[0]
        finally:
            b.block = outer
        body.add_op(scf.ReduceOp())

    return cm()


def _divmod(b: KernelBuilder, x: Index, d: int) -> tuple[Index, Index]:
    if d == 1:
        return x, 0
    return b.div_index(x, d), b.rem_index(x, d)


# -- the micro-kernel ------------------------------------------------------------------------------


@dataclass
class _Tile:
    """Static shape of one micro-kernel variant."""

    rows: int
    vectors: int
    last_lanes: int  # valid lanes of the last vector (== lanes when full)


def _micro_kernel(
    vec: _Vec,
    tile: _Tile,
    a_ref: SSAValue,
    b_ref: SSAValue,
    loops: Sequence[tuple[Index, Index]],
    a_index: Callable[[list[Index], int], Index],
    b_index: Callable[[list[Index]], Index],
) -> list[SSAValue]:
    """The tile's accumulators (row-major: rows × vectors) after the reduction over `loops`.
    `a_index(ivs, r)` is the A element of tile row r, `b_index(ivs)` the B element of the first
    column of the panel's row."""
    b = vec.b
    mask = vec.mask(tile.last_lanes)

    def step(ivs: list[Index], accs: list[SSAValue]) -> list[SSAValue]:
        row = b_index(ivs)
        bvec = [
            vec.load(b_ref, b.add(row, v * vec.lanes), mask if v == tile.vectors - 1 else None)
            for v in range(tile.vectors)
        ]
        out = list(accs)
        for r in range(tile.rows):
            a = vec.splat(b.load(a_ref, [a_index(ivs, r)]))
            for v in range(tile.vectors):
                k = r * tile.vectors + v
                out[k] = vec.fma(a, bvec[v], out[k])
        return out

    zero = vec.zero()
    return _nested(b, loops, [zero] * (tile.rows * tile.vectors), step)


def _store_tile(
    vec: _Vec,
    tile: _Tile,
    accs: list[SSAValue],
    out_ref: SSAValue,
    out_index: Callable[[Index], Index],
    result_index: Callable[[Index, Index], list[Index]] | None,
    epilogue: Epilogue | None,
) -> None:
    """Stores the tile (row r, vector v at out_index(r) + v·lanes), after the epilogue.
    `result_index(r, j)` is the root-result index of the tile's element (row r, column j)."""
    b = vec.b
    mask = vec.mask(tile.last_lanes)
    for r in range(tile.rows):
        base = out_index(r)
        for v in range(tile.vectors):
            m = mask if v == tile.vectors - 1 else None
            value = accs[r * tile.vectors + v]
            if epilogue is not None:
                assert result_index is not None
                (value,) = epilogue(b, [value], result_index(r, v * vec.lanes), m)
            vec.store(value, out_ref, b.add(base, v * vec.lanes), m)


# -- GEMM over row tiles × panels ------------------------------------------------------------------


@dataclass
class _Panels:
    """Column panels of a B operand (per group)."""

    n: int
    nr: int
    k: int
    packed: bool
    ld_unpacked: int  # row stride of B when not packed

    @property
    def full(self) -> int:
        return self.n // self.nr

    @property
    def last_width(self) -> int:
        return self.n % self.nr

    @property
    def count(self) -> int:
        return len(panels(self.n, self.nr))

    def base(self, b: KernelBuilder, p: Index, group_base: Index) -> Index:
        """B element of (k = 0, first column) of panel p."""
        return b.add(group_base, b.mul(p, self.nr * self.k if self.packed else self.nr))

    def ld(self, width: int) -> int:
        return width if self.packed else self.ld_unpacked


def _tile_for(lanes: int, width: int, rows: int) -> _Tile:
    vectors = ceil(width / lanes)
    return _Tile(rows, vectors, width - (vectors - 1) * lanes)


def _rows_for(vectors: int, row_bytes: int) -> int:
    """Rows of the register tile for `vectors` per row, when consecutive A rows are `row_bytes`
    apart: at most `L1_WAYS_FOR_A` of the rows may start in the same L1 set (a broadcast-form
    micro-kernel keeps one line of every row live for 16 k steps; rows 4 KiB apart all map to one
    set of the 8-way L1 and would evict each other on every step)."""
    rows = MAX_ROWS[min(vectors, 4)]
    while rows > L1_WAYS_FOR_A:
        sets = [(r * row_bytes // 64) % L1_SETS for r in range(rows)]
        if max(sets.count(x) for x in sets) <= L1_WAYS_FOR_A:
            break
        rows -= 1
    return rows


@dataclass
class _RowPlan:
    """Rows [0, m) as full tiles of `mr` rows, cut into row blocks of `per_block` tiles; the
    remainder tile (m % mr rows) belongs to the last block."""

    m: int
    mr: int
    per_block: int

    @property
    def full(self) -> int:
        return self.m // self.mr

    @property
    def rest(self) -> int:
        return self.m % self.mr

    @property
    def blocks(self) -> int:
        return max(1, ceil(self.full / self.per_block)) if self.full else 1


def _row_plan(m: int, mr: int, k: int, elem_bytes: int, min_blocks: int = 1) -> _RowPlan:
    full = m // mr
    per_block = max(1, A_BLOCK_BYTES // max(1, mr * k * elem_bytes))
    if full:
        blocks = max(ceil(full / per_block), min(min_blocks, full))
        per_block = ceil(full / blocks)
    return _RowPlan(m, mr, max(1, per_block))


def _gemm(
    vec: _Vec,
    *,
    m: int,
    pan: _Panels,
    a_ref: SSAValue,
    a_row: Callable[[Index], Index],
    b_ref: SSAValue,
    b_group_base: Index,
    out_ref: SSAValue,
    out_row: Callable[[Index], Index],
    result_index: Callable[[Index, Index], list[Index]] | None,
    epilogue: Epilogue | None,
    chunk: Index,
    rows: _RowPlan,
    panel_groups: int,
) -> None:
    """One chunk of C[m, n] = A @ B: row block `chunk // panel_groups`, panel group
    `chunk % panel_groups`. `a_row(i)` / `out_row(i)` are the A / C elements of (row i, column 0)
    of this group; `result_index(i, j)` the root-result index of C[i, j]."""
    b = vec.b
    g_rows, g_panels = _divmod(b, chunk, panel_groups)
    per_group = ceil(pan.count / panel_groups)
    t0 = b.mul(g_rows, rows.per_block)
    t1 = b.min_index(b.add(t0, rows.per_block), rows.full)
    p0 = b.mul(g_panels, per_group)
    p1 = b.min_index(b.add(p0, per_group), pan.full)
    last_rows = _eq(b, g_rows, rows.blocks - 1)
    last_panels = _eq(b, g_panels, panel_groups - 1)

    def run(tile: _Tile, i0: Index, col0: Index, width: int, pbase: Index) -> None:
        ld = pan.ld(width)
        accs = _micro_kernel(
            vec, tile, a_ref, b_ref, [(0, pan.k)],
            a_index=lambda ivs, r: b.add(a_row(b.add(i0, r)), ivs[0]),
            b_index=lambda ivs: b.add(pbase, b.mul(ivs[0], ld)),
        )  # fmt: skip
        rindex = None
        if result_index is not None:
            rindex = lambda r, j: result_index(b.add(i0, r), b.add(col0, j))  # noqa: E731
        _store_tile(vec, tile, accs, out_ref, lambda r: b.add(out_row(b.add(i0, r)), col0), rindex, epilogue)

    def panel(p: Index, width: int) -> None:
        pbase = pan.base(b, p, b_group_base)
        col0 = b.mul(p, pan.nr)
        full_tile = _tile_for(vec.lanes, width, rows.mr)
        if rows.full:
            with b.loop(t0, t1) as t:
                run(full_tile, b.mul(t.iv, rows.mr), col0, width, pbase)
        if rows.rest:
            with _when(b, last_rows):
                run(_tile_for(vec.lanes, width, rows.rest), rows.full * rows.mr, col0, width, pbase)

    if pan.full:
        with b.loop(p0, p1) as p:
            panel(p.iv, pan.nr)
    if pan.last_width:
        with _when(b, last_panels):
            panel(pan.full, pan.last_width)


def _chunking(rows_blocks: int, panel_count: int, split: bool) -> int:
    """Panel groups per row block: 1 unless the kernel is split and there are too few row blocks
    for `TARGET_CHUNKS`."""
    if not split or rows_blocks >= TARGET_CHUNKS:
        return 1
    return max(1, min(panel_count, ceil(TARGET_CHUNKS / rows_blocks)))


def _packed_nr(op: Operation) -> int | None:
    attr = op.attributes.get(RHS_ATTR)
    return int(attr.value.data) if isinstance(attr, IntegerAttr) else None


# -- matmul --------------------------------------------------------------------------------------


def lower_matmul(
    b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], epilogue: Epilogue | None = None
) -> None:
    a_type, b_type, out_type = op.operands[0].type, op.operands[1].type, op.results[0].type
    kind = kind_of(a_type)
    if kind.is_bool:
        raise UnsupportedOnCpu("matmul on booleans")
    sa, sb, so = shape_of(a_type), shape_of(b_type), shape_of(out_type)
    m, k, n = sa[-2], sa[-1], sb[-1]
    lanes = lanes_of(kind)
    if lanes is None or min(m, n, k) == 0:
        _matmul_loops(b, kind, ins, outs, sa, sb, so)
        _epilogue_pass(b, kind, outs[0], so, epilogue)
        return
    batch = so[:-2]
    vec = _Vec(b, kind.compute, lanes)
    a_ref, b_ref, out = (b.collapse(v) for v in (ins[0], ins[1], outs[0]))
    nr = _packed_nr(op) or panel_width(n, lanes)
    pan = _Panels(n, nr, k, packed=_packed_nr(op) is not None, ld_unpacked=n)
    vectors = ceil(min(nr, n) / lanes)
    mr = _rows_for(vectors, k * kind.nbytes)
    flops = 2.0 * m * n * k
    touched = kind.nbytes * (m * k + k * n + m * n)  # per batch element: the split is inside the batch loop
    split = parallel.worth_splitting(flops, touched)
    rows = _row_plan(m, mr, k, kind.nbytes, min_blocks=TARGET_CHUNKS if split else 1)
    groups_of_panels = _chunking(rows.blocks, pan.count, split)
    chunks = rows.blocks * groups_of_panels
    split = split and chunks > 1

    def strides(shape):  # element offset of batch index ivs in an operand with batch dims `shape`
        own = shape[:-2]
        lead = len(batch) - len(own)
        size = shape[-2] * shape[-1]
        terms = []
        for d in range(len(own) - 1, -1, -1):
            terms.append((d + lead, size if own[d] != 1 else 0))
            size *= own[d]
        return terms

    a_strides, b_strides, o_strides = strides(sa), strides(sb), strides(so)
    with b.nest(batch) as bi:
        a_base = b.linear([(bi[d], s) for d, s in a_strides if s])
        b_base = b.linear([(bi[d], s) for d, s in b_strides if s])
        o_base = b.linear([(bi[d], s) for d, s in o_strides if s])
        with _chunk_loop(b, chunks, split, parallel.cost_ns(flops, touched)) as c:
            _gemm(
                vec, m=m, pan=pan, a_ref=a_ref, a_row=lambda i: b.add(a_base, b.mul(i, k)),
                b_ref=b_ref, b_group_base=b_base, out_ref=out, out_row=lambda i: b.add(o_base, b.mul(i, n)),
                result_index=(lambda i, j: [*bi, i, j]) if epilogue else None, epilogue=epilogue,
                chunk=c, rows=rows, panel_groups=groups_of_panels,
            )  # fmt: skip


def _matmul_loops(b: KernelBuilder, kind: ElemKind, ins, outs, sa, sb, so) -> None:
    """The untiled matmul (f16, integers, empty shapes)."""
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


def _epilogue_pass(b: KernelBuilder, kind: ElemKind, out: SSAValue, shape, epilogue) -> None:
    """Applies the epilogue element by element to a stored result (the untiled paths)."""
    if epilogue is None:
        return
    with b.nest(shape) as idx:
        value = b.load_value(out, idx, kind)
        (value,) = epilogue(b, [value], list(idx), None)
        b.store_value(value, out, idx, kind)


# -- windows (conv and pooling) ------------------------------------------------------------------


class Window:
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

    # valid taps: contiguous ranges, used by the tiled convolutions

    def taps(self, o: int) -> tuple[int, int]:
        """[first, end) of the taps of output position `o` that land inside (static o)."""
        valid = [t for t in range(self.window) if 0 <= o * self.stride + t * self.dilation - self.pad < self.size]
        return (valid[0], valid[-1] + 1) if valid else (0, 0)

    def dynamic_taps(self, b: KernelBuilder, o: Index) -> tuple[Index, Index]:
        """The same for a dynamic o, without division of negative numbers."""
        if _static(o):
            return self.taps(o)
        d = self.dilation
        low_num = b.sub(self.pad, b.mul(o, self.stride))  # first tap = ceil(low_num / d), at least 0
        high_num = b.sub(self.size - 1 + self.pad, b.mul(o, self.stride))  # last tap = floor(high_num / d)
        first = b.max_index(low_num, 0)
        if d > 1:
            first = b.div_index(b.add(first, d - 1), d)
        end = b.max_index(high_num, -1)
        end = b.div_index(b.add(end, d), d) if d > 1 else b.add(end, 1)
        end = b.min_index(end, self.window)
        return first, end

    def interior(self) -> tuple[int, int]:
        """[first, end) of the output positions whose every tap is inside (may be empty)."""
        inside = [o for o in range(self.out) if self.taps(o) == (0, self.window)]
        if not inside:
            return (0, 0)
        return inside[0], inside[-1] + 1


def windows(op: Operation, x_shape, out_shape, kh: int, kw: int, dilations=(1, 1)):
    strides = get_ints(op.attributes, "strides")
    pt, _, pl, _ = get_ints(op.attributes, "pads")
    return (
        Window(x_shape[1], out_shape[1], kh, strides[0], dilations[0], pt),
        Window(x_shape[2], out_shape[2], kw, strides[1], dilations[1], pl),
    )


# -- conv2d --------------------------------------------------------------------------------------


def lower_conv2d(
    b: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], epilogue: Epilogue | None = None
) -> None:
    x_type, w_type, out_type = op.operands[0].type, op.operands[1].type, op.results[0].type
    kind = kind_of(x_type)
    if kind.is_bool:
        raise UnsupportedOnCpu("conv2d on booleans")
    xs, ws, os_ = shape_of(x_type), shape_of(w_type), shape_of(out_type)
    kh, kw, ci, co = ws
    groups = get_int(op.attributes, "groups")
    cog = co // groups
    wy, wx = windows(op, xs, os_, kh, kw, get_ints(op.attributes, "dilations"))
    lanes = lanes_of(kind)
    if lanes is not None and 0 not in (*xs, *ws, *os_):
        from graphc.backends.cpu import lower_winograd  # it builds on this module's micro-kernel

        if lower_winograd.takes_winograd(op):
            lower_winograd.lower_winograd_conv(b, op, ins, outs, epilogue)
            return
        vec = _Vec(b, kind.compute, lanes)
        if ci == 1 and cog == 1 and _packed_nr(op) is None:
            _conv_depthwise(vec, kind, ins, outs, xs, os_, kh, kw, wy, wx, epilogue)
            return
        pointwise = kh == kw == 1 and wy.stride == wx.stride == 1 and wy.always_inside and wx.always_inside
        if pointwise:
            _conv_pointwise(vec, kind, op, ins, outs, xs, os_, ci, groups, cog, epilogue)
        else:
            _conv_implicit_gemm(vec, kind, op, ins, outs, xs, os_, kh, kw, ci, groups, cog, wy, wx, epilogue)
        return
    _conv_loops(b, kind, ins, outs, os_, kh, kw, ci, co, groups, cog, wy, wx)
    _epilogue_pass(b, kind, outs[0], os_, epilogue)


def _conv_pointwise(vec, kind, op, ins, outs, xs, os_, ci, groups, cog, epilogue) -> None:
    """A 1×1, stride-1, unpadded convolution: per group, pixels × ci @ ci × cog."""
    b = vec.b
    x, w, out = (b.collapse(v) for v in (ins[0], ins[1], outs[0]))
    pixels = os_[0] * os_[1] * os_[2]
    c_in, c_out = xs[3], os_[3]
    nr = _packed_nr(op) or panel_width(cog, vec.lanes)
    pan = _Panels(cog, nr, ci, packed=_packed_nr(op) is not None, ld_unpacked=c_out)
    mr = _rows_for(ceil(min(nr, cog) / vec.lanes), c_in * kind.nbytes)
    flops = 2.0 * pixels * ci * c_out
    touched = kind.nbytes * (pixels * (c_in + c_out) + ci * c_out)
    split = parallel.worth_splitting(flops, touched)
    rows = _row_plan(pixels, mr, ci, kind.nbytes, min_blocks=TARGET_CHUNKS if split else 1)
    groups_of_panels = _chunking(rows.blocks * groups, pan.count, split)
    per_group = rows.blocks * groups_of_panels
    chunks = groups * per_group
    hw, w_ = os_[1] * os_[2], os_[2]

    def result_index(g):
        def index(i: Index, j: Index) -> list[Index]:
            n, rest = _divmod(b, i, hw)
            oy, ox = _divmod(b, rest, w_)
            return [n, oy, ox, b.add(b.mul(g, cog), j)]

        return index

    with _chunk_loop(b, chunks, split and chunks > 1, parallel.cost_ns(flops, touched)) as c:
        g, c_in_group = _divmod(b, c, per_group)
        a_col = b.mul(g, ci)
        o_col = b.mul(g, cog)
        b_base = b.mul(g, ci * cog) if pan.packed else b.mul(g, cog)
        _gemm(
            vec, m=pixels, pan=pan, a_ref=x, a_row=lambda i: b.add(b.mul(i, c_in), a_col),
            b_ref=w, b_group_base=b_base, out_ref=out, out_row=lambda i: b.add(b.mul(i, c_out), o_col),
            result_index=result_index(g) if epilogue else None, epilogue=epilogue,
            chunk=c_in_group, rows=rows, panel_groups=groups_of_panels,
        )  # fmt: skip


def _row_chunks(rows: int, flops: float, split: bool) -> tuple[int, int]:
    """(chunks, rows per chunk) for a loop over output rows."""
    if not split:
        return 1, rows
    count = parallel.chunk_count(rows, flops, most=max(TARGET_CHUNKS, 4))
    per = ceil(rows / count)
    return ceil(rows / per), per


def _conv_implicit_gemm(vec, kind, op, ins, outs, xs, os_, kh, kw, ci, groups, cog, wy, wx, epilogue) -> None:
    """Per output row: for each group and panel, tiles of output pixels × panel columns, the
    reduction over (valid filter rows, filter columns, input channels of the group)."""
    b = vec.b
    x, w, out = (b.collapse(v) for v in (ins[0], ins[1], outs[0]))
    batch, oh, ow, c_out = os_
    _, h, w_in, c_in = xs
    k = kh * kw * ci
    nr = _packed_nr(op) or panel_width(cog, vec.lanes)
    packed = _packed_nr(op) is not None
    pan = _Panels(cog, nr, k, packed=packed, ld_unpacked=c_out)
    mr_max = _rows_for(ceil(min(nr, cog) / vec.lanes), wx.stride * c_in * kind.nbytes)
    flops = 2.0 * batch * oh * ow * c_out * k
    touched = kind.nbytes * (batch * (h * w_in * c_in + oh * ow * c_out) + k * c_out)
    split = parallel.worth_splitting(flops, touched)
    chunks, per_chunk = _row_chunks(batch * oh, flops, split)
    x0, x1 = wx.interior()

    with _chunk_loop(b, chunks, split and chunks > 1, parallel.cost_ns(flops, touched)) as c:
        r0 = b.mul(c, per_chunk)
        r1 = b.min_index(b.add(r0, per_chunk), batch * oh)
        with b.loop(r0, r1) if (chunks > 1 or batch * oh > 1) else _Single(0) as row:
            n, oy = _divmod(b, row.iv, oh)
            ty0, ty1 = wy.dynamic_taps(b, oy)
            iy0 = b.sub(b.mul(oy, wy.stride), wy.pad)  # input row of filter row 0 (may be outside)
            for g in range(groups) if groups <= 4 else [None]:
                with (_Single(g) if g is not None else b.loop(0, groups)) as gl:
                    gi = gl.iv

                    def tile_at(ox0: int | Index, rows: int, tx0: int, tx1: int, p: Index, width: int) -> None:
                        tile = _tile_for(vec.lanes, width, rows)
                        ld = pan.ld(width)
                        pbase = pan.base(b, p, b.mul(gi, k * cog) if packed else b.mul(gi, cog))
                        col0 = b.mul(p, pan.nr)
                        ix0 = b.sub(b.mul(ox0, wx.stride), wx.pad)
                        # the A element of pixel r, tap (ty, tx), channel c: pix + iy·W·C + tx·d·C + c + r·s·C
                        pix = b.add(b.mul(n, h * w_in * c_in), b.mul(ix0, c_in), b.mul(gi, ci))

                        def a_index(ivs, r):
                            ty, tx, cc = ivs
                            iy = b.add(iy0, b.mul(ty, wy.dilation))
                            return b.add(pix, b.mul(iy, w_in * c_in), b.mul(tx, wx.dilation * c_in), cc,
                                         r * wx.stride * c_in)  # fmt: skip

                        def b_index(ivs):
                            ty, tx, cc = ivs
                            kk = b.add(b.mul(ty, kw * ci), b.mul(tx, ci), cc)
                            return b.add(pbase, b.mul(kk, ld))

                        accs = _micro_kernel(vec, tile, x, w, [(ty0, ty1), (tx0, tx1), (0, ci)], a_index, b_index)
                        pixel = b.add(b.mul(n, oh * ow), b.mul(oy, ow), ox0)
                        o_col = b.add(b.mul(gi, cog), col0)
                        rindex = None
                        if epilogue is not None:
                            rindex = lambda r, j: [n, oy, b.add(ox0, r), b.add(o_col, j)]  # noqa: E731
                        out_at = lambda r: b.add(b.mul(b.add(pixel, r), c_out), o_col)  # noqa: E731
                        _store_tile(vec, tile, accs, out, out_at, rindex, epilogue)

                    def one_panel(p: Index, width: int) -> None:
                        for ox in range(0, x0):  # left border pixels
                            tile_at(ox, 1, *wx.taps(ox), p, width)
                        span = x1 - x0
                        if span > 0:
                            mr = min(mr_max, span)
                            full, rest = divmod(span, mr)
                            if full > 1:
                                with b.loop(0, full) as t:
                                    tile_at(b.add(b.mul(t.iv, mr), x0), mr, 0, kw, p, width)
                            elif full == 1:
                                tile_at(x0, mr, 0, kw, p, width)
                            if rest:
                                tile_at(x0 + full * mr, rest, 0, kw, p, width)
                        for ox in range(max(x1, x0), ow):  # right border pixels
                            tile_at(ox, 1, *wx.taps(ox), p, width)

                    if pan.full == 1:
                        one_panel(0, pan.nr)
                    elif pan.full > 1:
                        with b.loop(0, pan.full) as pl:
                            one_panel(pl.iv, pan.nr)
                    if pan.last_width:
                        one_panel(pan.full, pan.last_width)


class _Single:
    """Stands in for a loop of one iteration (`.iv` is the static index)."""

    def __init__(self, iv: int):
        self.iv = iv

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _conv_depthwise(vec, kind, ins, outs, xs, os_, kh, kw, wy: Window, wx: Window, epilogue) -> None:
    """out[n, oy, ox, c] = Σ taps x[n, iy, ix, c]·w[ty, tx, 0, c], channels in vectors."""
    b = vec.b
    x, w, out = (b.collapse(v) for v in (ins[0], ins[1], outs[0]))
    batch, oh, ow, channels = os_
    _, h, w_in, _ = xs
    flops = 2.0 * batch * oh * ow * channels * kh * kw
    touched = kind.nbytes * (batch * (h * w_in + oh * ow) * channels + kh * kw * channels)
    split = parallel.worth_splitting(flops, touched)
    chunks, per_chunk = _row_chunks(batch * oh, flops, split)
    x0, x1 = wx.interior()
    nvec = ceil(channels / vec.lanes)
    cv = min(DEPTHWISE_VECTORS, nvec)
    full_blocks, rest_vectors = divmod(nvec, cv)
    last_lanes = channels - (nvec - 1) * vec.lanes

    with _chunk_loop(b, chunks, split and chunks > 1, parallel.cost_ns(flops, touched)) as c:
        r0 = b.mul(c, per_chunk)
        r1 = b.min_index(b.add(r0, per_chunk), batch * oh)
        with b.loop(r0, r1) if (chunks > 1 or batch * oh > 1) else _Single(0) as row:
            n, oy = _divmod(b, row.iv, oh)
            ty0, ty1 = wy.dynamic_taps(b, oy)
            iy0 = b.sub(b.mul(oy, wy.stride), wy.pad)
            image = b.mul(n, h * w_in * channels)

            def tile(ox0: Index, pixels: int, taps_x: list[tuple[int, int]], c0: Index, vectors: int, masked: bool):
                """`pixels` outputs from ox0 × `vectors` channel vectors from c0; taps_x[r] are the
                valid filter columns of pixel r."""
                mask = vec.mask(last_lanes) if masked else None

                def masks(v):
                    return mask if (masked and v == vectors - 1) else None

                def step(ivs, accs):
                    (ty,) = ivs
                    iy = b.add(iy0, b.mul(ty, wy.dilation))
                    row_base = b.add(image, b.mul(iy, w_in * channels), c0)
                    out_accs = list(accs)
                    for tx in range(kw):
                        users = [r for r in range(pixels) if taps_x[r][0] <= tx < taps_x[r][1]]
                        if not users:
                            continue
                        wrow = b.add(b.mul(b.add(b.mul(ty, kw), tx), channels), c0)
                        wv = [vec.load(w, b.add(wrow, v * vec.lanes), masks(v)) for v in range(vectors)]
                        for r in users:
                            ix = b.add(b.mul(b.add(ox0, r), wx.stride), tx * wx.dilation - wx.pad)
                            at = b.add(row_base, b.mul(ix, channels))
                            for v in range(vectors):
                                xv = vec.load(x, b.add(at, v * vec.lanes), masks(v))
                                k = r * vectors + v
                                out_accs[k] = vec.fma(xv, wv[v], out_accs[k])
                    return out_accs

                accs = _nested(b, [(ty0, ty1)], [vec.zero()] * (pixels * vectors), step)
                pixel = b.add(b.mul(n, oh * ow), b.mul(oy, ow), ox0)
                shape = _Tile(pixels, vectors, last_lanes if masked else vec.lanes)
                rindex = None
                if epilogue is not None:
                    rindex = lambda r, j: [n, oy, b.add(ox0, r), b.add(c0, j)]  # noqa: E731
                out_at = lambda r: b.add(b.mul(b.add(pixel, r), channels), c0)  # noqa: E731
                _store_tile(vec, shape, accs, out, out_at, rindex, epilogue)

            def channel_block(c0: Index, vectors: int, masked: bool) -> None:
                for ox in range(0, x0):
                    tile(ox, 1, [wx.taps(ox)], c0, vectors, masked)
                span = x1 - x0
                if span > 0:
                    px = min(DEPTHWISE_PIXELS, span)
                    full, rest = divmod(span, px)
                    if full > 1:
                        with b.loop(0, full) as t:
                            tile(b.add(b.mul(t.iv, px), x0), px, [(0, kw)] * px, c0, vectors, masked)
                    elif full == 1:
                        tile(x0, px, [(0, kw)] * px, c0, vectors, masked)
                    if rest:
                        tile(x0 + full * px, rest, [(0, kw)] * rest, c0, vectors, masked)
                for ox in range(max(x1, x0), ow):
                    tile(ox, 1, [wx.taps(ox)], c0, vectors, masked)

            # channel blocks of cv vectors; the block holding the last (maybe partial) vector is separate
            partial = last_lanes != vec.lanes
            plain_blocks = full_blocks - (1 if (partial and rest_vectors == 0) else 0)
            if plain_blocks == 1:
                channel_block(0, cv, False)
            elif plain_blocks > 1:
                with b.loop(0, plain_blocks) as cb:
                    channel_block(b.mul(cb.iv, cv * vec.lanes), cv, False)
            if partial and rest_vectors == 0:
                channel_block(plain_blocks * cv * vec.lanes, cv, True)
            elif rest_vectors:
                channel_block(full_blocks * cv * vec.lanes, rest_vectors, partial)


def _conv_loops(b, kind, ins, outs, os_, kh, kw, ci, co, groups, cog, wy: Window, wx: Window) -> None:
    """The untiled convolution (f16, integers)."""
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


def _conv_in_registers(b, kind, x, w, out, os_, kh, kw, ci, cog, wy: Window, wx: Window) -> None:
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
    wy, wx = windows(op, xs, os_, kh, kw, pool_dilations(op.attributes))
    is_max = op.name == "graph.max_pool"
    if not is_max and kind.is_bool:
        raise UnsupportedOnCpu("avg_pool on booleans")
    identity = scalar_ops.lowest(kind) if is_max else 0
    lanes = lanes_of(kind)
    if lanes is not None and 0 not in (*xs, *os_):
        _pool_vectors(_Vec(b, kind.compute, lanes), kind, is_max, ins[0], outs[0], xs, os_, wy, wx)
        return
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


def _pool_vectors(vec: _Vec, kind: ElemKind, is_max: bool, x, out, xs, os_, wy: Window, wx: Window) -> None:
    """f32/f64 pooling, channels innermost in vectors, `POOL_VECTORS` accumulators at once (4
    interior pixels × 1 vector of channels, 2 × 2 or 1 × 4; the last vector of a pixel masked):
    independent chains of max/add instead of one. The valid taps of a pixel are a static range
    of filter columns (border pixels, computed at compile time; all of them in the interior) and
    a range of filter rows computed once per output row, so no tap is tested."""
    b = vec.b
    x, out = b.collapse(x), b.collapse(out)
    batch, oh, ow, channels = os_
    _, h, w_in, _ = xs
    work = float(batch * oh * ow * channels * wy.window * wx.window)
    touched = kind.nbytes * batch * (h * w_in + oh * ow) * channels
    split = parallel.worth_splitting(work, touched)
    chunks, per_chunk = _row_chunks(batch * oh, work, split)
    full, rest = divmod(channels, vec.lanes)
    mask = vec.mask(rest) if rest else None
    per_pixel = min(POOL_VECTORS, max(1, full))  # channel vectors per pixel in a block
    group = max(1, POOL_VECTORS // min(POOL_VECTORS, ceil(channels / vec.lanes)))  # interior pixels at once
    start = vec.splat(b.const(scalar_ops.lowest(kind) if is_max else 0.0, vec.element))
    x0, x1 = wx.interior()

    with _chunk_loop(b, chunks, split and chunks > 1, parallel.cost_ns(work, touched)) as c:
        r0 = b.mul(c, per_chunk)
        r1 = b.min_index(b.add(r0, per_chunk), batch * oh)
        with b.loop(r0, r1) if (chunks > 1 or batch * oh > 1) else _Single(0) as row:
            n, oy = _divmod(b, row.iv, oh)
            ty0, ty1 = wy.dynamic_taps(b, oy)
            iy0 = b.sub(b.mul(oy, wy.stride), wy.pad)
            image = b.mul(n, h * w_in * channels)
            first_pixel = b.add(b.mul(n, oh * ow), b.mul(oy, ow))

            def pixels(ox0: Index, count: int, tx0: int, tx1: int) -> None:
                """`count` output pixels from ox0 whose valid filter columns are [tx0, tx1)."""
                taps = None
                if not is_max:
                    number = b.emit(arith.IndexCastOp(b.index(b.mul(b.sub(ty1, ty0), tx1 - tx0)), i64))
                    taps = vec.splat(b.emit(arith.SIToFPOp(number, vec.element)))

                def block(c0: Index, vectors: int, masked: bool) -> None:
                    def masks(v):
                        return mask if masked and v == vectors - 1 else None

                    def step(ivs, accs):
                        ty, tx = ivs
                        iy = b.add(iy0, b.mul(ty, wy.dilation))
                        row_at = b.add(image, b.mul(iy, w_in * channels), c0)
                        new = list(accs)
                        for r in range(count):
                            ix = b.add(b.mul(b.add(ox0, r), wx.stride), b.mul(tx, wx.dilation), -wx.pad)
                            at = b.add(row_at, b.mul(ix, channels))
                            for v in range(vectors):
                                k = r * vectors + v
                                xv = vec.load(x, b.add(at, v * vec.lanes), masks(v))
                                new[k] = _max_keeping_nan(b, new[k], xv) if is_max else b.emit(arith.AddfOp(new[k], xv))
                        return new

                    accs = _nested(b, [(ty0, ty1), (tx0, tx1)], [start] * (count * vectors), step)
                    for r in range(count):
                        at = b.add(b.mul(b.add(first_pixel, b.add(ox0, r)), channels), c0)
                        for v in range(vectors):
                            acc = accs[r * vectors + v]
                            value = acc if is_max else b.emit(arith.DivfOp(acc, taps))
                            vec.store(value, out, b.add(at, v * vec.lanes), masks(v))

                blocks, left = divmod(full, per_pixel)
                if blocks == 1:
                    block(0, per_pixel, False)
                elif blocks > 1:
                    with b.loop(0, blocks) as cb:
                        block(b.mul(cb.iv, per_pixel * vec.lanes), per_pixel, False)
                if left or rest:
                    block(blocks * per_pixel * vec.lanes, left + (1 if rest else 0), bool(rest))

            for ox in range(0, x0):  # border pixels: their valid filter columns, at compile time
                pixels(ox, 1, *wx.taps(ox))
            span = x1 - x0
            if span > 0:
                px = min(group, span)
                full_groups, left_pixels = divmod(span, px)
                if full_groups > 1:
                    with b.loop(0, full_groups) as t:
                        pixels(b.add(b.mul(t.iv, px), x0), px, 0, wx.window)
                else:
                    pixels(x0, px, 0, wx.window)
                if left_pixels:
                    pixels(x0 + full_groups * px, left_pixels, 0, wx.window)
            for ox in range(max(x1, x0), ow):
                pixels(ox, 1, *wx.taps(ox))


def _max_keeping_nan(b: KernelBuilder, acc: SSAValue, x: SSAValue) -> SSAValue:
    """max(acc, x) for a running maximum, NaN-propagating like numpy's `max`: `x > acc ? x : acc`
    (one `vmaxps`, which keeps acc when either is NaN, so a NaN in acc stays), then x where x is
    NaN. Three instructions instead of the six of `arith.maximumf`'s lowering, which also orders -0 below
    +0 (here max(-0, +0) is whichever came first: equal values, as numpy's `max` may return)."""
    bigger = b.emit(SelectOp(b.emit(CmpfOp(x, acc, "ogt")), x, acc))
    return b.emit(SelectOp(b.emit(CmpfOp(x, x, "uno")), x, bigger))


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
