"""Fusion regions → one loop-nest kernel each ("a fusion is one kernel").

Takes one `fusion.region` (the contract is `graphc.dialects.fusion`'s docstring) with the memrefs of
its operands and results. Leaves the body of its kernel, built by the template its `kind` names.
Values inside the region never touch memory: every one is computed per element, in registers,
by `Elemental`, which evaluates a value of the body at an index (broadcasts, transposes, slices,
reverses, pads, concats and reshapes become index arithmetic on the loads of the region's operands;
pools loop over their window) and caches what it computed in the current loop scope.

- `loop`: one loop nest over the region's `shape`, storing every result at the same linear index.
  A body of elementwise ops only, whose results all have `shape`, is first collapsed like
  `lower_elementwise` does (merged dimensions, size-1 dimensions dropped), so `x[N,H,W,C] + b[C]`
  is two loops with a unit-stride innermost loop. Otherwise the nest is `shape` itself, innermost
  over the last axis (unit stride for every operand read at that axis). A region that is one
  f32/f64 pool of an operand runs `lower_matmul_conv.lower_pool`'s kernel instead (channels in
  vectors, several pixels at once: 1.7× the per-element loop on the ResNet's 3×3/2 max pool).
- `reduction`: loops over the kept dimensions ("rows"); per row, one pass over the reduced
  dimensions per reduction stage (a reduction of a value that depends on another reduction is a
  stage later), then row-shaped results are stored, then one more pass evaluates and stores the
  full-shape results. Reductions of the same stage share their pass. Row values (e.g. 1/sum,
  rsqrt(var + eps)) are evaluated once per row, before the pass that uses them. Softmax is
  max | sum of exp(x − max) | write exp(x − max)/sum, layer norm sum(x) | sum((x − mean)²) | write:
  the extra passes read a row that is in L1/L2 (a 1024-float row is 4 KiB), so memory sees one
  read and one write. We do not merge softmax into an online max+sum pass nor layer norm into
  Welford: those recurrences are not reductions LLVM's vectorizer recognises (they would run
  scalar, 16× slower than the L1 re-read they save), and Welford costs a division per element.
  Accumulators carry `reassoc` fast-math on the combining op only (see `lower_reduction`): LLVM's
  vectorizer then keeps VF×interleave (16×4 for f32 on AVX-512) partial accumulators — lane k
  combines the elements k, k + 64, k + 128, … of the row — and adds them as a tree at the end.
  That is the only reassociation: the reference sums left to right, so sums differ by rounding
  within the usual n·eps bound. A costly value (a transcendental) that the last reduction pass
  computes and the output pass needs again is stored by the reduction pass into the buffer of a
  full result and read back (from L1) by the output pass (`_stash_plan`): softmax computes each
  exp once. Kernels that move ≥ 1 MiB split their row (or outermost) loop across both cores
  (`split_nest`, `scf.parallel`).
- `matmul`/`conv`: the root runs as `lower_matmul_conv`'s tiled kernel (`lower_matmul` /
  `lower_conv2d`, register and cache blocked, both cores), given `Epilogue.callback` as its
  epilogue hook: each accumulator vector (`vector<16xf32>`, masked at row ends) gets the region's
  post-root ops in registers — bias, BN multiply-add, relu/relu6/clamp, sigmoid/tanh/gelu,
  residual adds reading another operand at the same index — before the kernel stores it; other
  results of a multi-output region are stored by the hook at the same index. (If
  `lower_matmul_conv` offers `lower_matmul_region`/`lower_conv_region`, those are called with the
  `Epilogue` instead.) An epilogue with ops the vector form does not cover (casts, integer ops)
  runs as one pass over the stored root result. A root whose operands are computed in the region
  (prologue views), or a region with no result of the root's element type, runs in a register
  form instead (`root_in_registers`): one dot product per output element, operands read through
  `Elemental`, epilogue, store.
- `opaque`: the op's ordinary kernel (`lower_to_loops.lowerings()`); inline constants it reads
  become constant tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from math import prod

import numpy as np
from xdsl.dialects import arith, memref, scf, vector
from xdsl.dialects.builtin import IndexType, VectorType, i64
from xdsl.ir import Block, BlockArgument, Operation, Region, SSAValue

from graphc.backends.cpu import lower_elementwise, lower_int8, lower_matmul_conv, parallel, scalar_ops, vector_math
from graphc.backends.cpu.arith_ext import SelectOp
from graphc.backends.cpu.elements import ElemKind, UnsupportedOnCpu, buffer_type, kind_of, nbytes_of, shape_of
from graphc.backends.cpu.emit_llvm import element_nbytes
from graphc.backends.cpu.loop_builder import REASSOC, Index, KernelBuilder, vector_type
from graphc.backends.cpu.lower_data_movement import mirror_index
from graphc.backends.cpu.lower_misc import round_to_storage
from graphc.backends.cpu.lower_reduction import KINDS as REDUCTION_KINDS
from graphc.backends.cpu.lower_reduction import _Accumulator
from graphc.dialects import fusion
from graphc.dialects import graph as g
from graphc.dialects.graph import get_float, get_int, get_ints, get_str, pool_dilations
from graphc.dialects.resources import WeightStore, constant_value

SCRATCH_LIMIT = 64 << 10
"""Bytes of stack an opaque kernel may use for a result its region does not yield."""

Lowering = Callable[[KernelBuilder, Operation, list[SSAValue], list[SSAValue]], None]


def lower_region(
    b: KernelBuilder,
    region: fusion.RegionOp,
    ins: list[SSAValue],
    outs: list[SSAValue],
    table: dict[str, Lowering],
) -> None:
    kind = region.kind_name
    if kind == "loop" and _lone_vector_pool(region):
        _lower_opaque(b, region, ins, outs, table)  # `lower_pool`'s channel-vector kernel
    elif kind == "loop":
        _lower_loop(b, region, ins, outs)
    elif kind == "reduction":
        _lower_reduction(b, region, ins, outs)
    elif kind in ("matmul", "conv"):
        _lower_root(b, region, ins, outs)
    elif kind == "opaque":
        _lower_opaque(b, region, ins, outs, table)
    else:
        raise UnsupportedOnCpu(f"fusion region kind '{kind}' has no CPU template")


def _lone_vector_pool(region: fusion.RegionOp) -> bool:
    """A region that is one f32/f64 pool of a region operand: `Elemental` would evaluate it one
    element at a time, `lower_matmul_conv.lower_pool` runs it 16 channels per vector."""
    ops = region.compute_ops()
    if len(ops) != 1 or not isinstance(ops[0], (g.MaxPoolOp, g.AvgPoolOp)):
        return False
    source = ops[0].operands[0]
    return source in region.block.args and lower_matmul_conv.lanes_of(kind_of(source.type)) is not None


# -- evaluating values of a region body at an index ------------------------------------------------


def _broadcast_index(idx: Sequence[Index], operand_shape: Sequence[int]) -> list[Index]:
    """The operand's index for result index `idx` under numpy broadcasting."""
    lead = len(idx) - len(operand_shape)
    return [0 if n == 1 else idx[lead + d] for d, n in enumerate(operand_shape)]


def _key(i: Index):
    return i if isinstance(i, int) else ("v", id(i))


def delinearize(b: KernelBuilder, linear: Index, shape: Sequence[int]) -> list[Index]:
    out: list[Index] = []
    for d in range(len(shape) - 1, -1, -1):
        n = shape[d]
        if n == 1:
            out.append(0)
        elif d == 0:
            out.append(linear)
        else:
            out.append(b.rem_index(linear, n))
            linear = b.div_index(linear, n)
    return out[::-1]


def linearize(b: KernelBuilder, idx: Sequence[Index], shape: Sequence[int]) -> Index:
    stride, terms = 1, []
    for i, n in zip(reversed(idx), reversed(shape)):
        terms.append((i, stride))
        stride *= n
    return b.linear(terms)


def reshape_index(b: KernelBuilder, idx: Sequence[Index], out_shape, in_shape) -> list[Index]:
    """The input index of a reshape's element `idx`, group by group: runs of dimensions whose sizes
    multiply to the same product map onto each other, so the common case (adding or dropping
    size-1 dimensions, merging or splitting a few) needs little or no division."""
    result: list[Index] = []
    i = j = 0
    while i < len(out_shape) or j < len(in_shape):
        oi, ij = i, j
        po = pi = 1
        # take at least one dimension from each side, then grow the smaller product
        if i < len(out_shape):
            po *= out_shape[i]
            i += 1
        if j < len(in_shape):
            pi *= in_shape[j]
            j += 1
        while po != pi:
            if po < pi and i < len(out_shape):
                po *= out_shape[i]
                i += 1
            elif j < len(in_shape):
                pi *= in_shape[j]
                j += 1
            else:
                po *= out_shape[i]
                i += 1
        # swallow trailing size-1 dimensions on both sides into this group
        while i < len(out_shape) and out_shape[i] == 1 and (j >= len(in_shape) or in_shape[j] != 1):
            i += 1
        while j < len(in_shape) and in_shape[j] == 1 and (i >= len(out_shape) or out_shape[i] != 1):
            j += 1
        o_dims, i_dims = list(out_shape[oi:i]), list(in_shape[ij:j])
        o_idx = list(idx[oi:i])
        if [d for d in o_dims if d != 1] == [d for d in i_dims if d != 1]:  # only size-1 dims differ
            it = iter([x for x, d in zip(o_idx, o_dims) if d != 1])
            result.extend(0 if d == 1 else next(it) for d in i_dims)
        else:
            result.extend(delinearize(b, linearize(b, o_idx, o_dims), i_dims))
    return result


class Elemental:
    """Evaluates values of a region body at an index, emitting scalar ops into `b`.

    `at(value, index)` returns the element of `value` at `index` (a list with one entry per
    dimension of the value's shape) in its kind's compute type. Results are cached per loop scope
    (`scope()`), so a value used twice at the same index is computed once; `fixed` overrides a
    value's evaluation (a reduction's per-row result, a matmul's accumulator).
    """

    def __init__(self, b: KernelBuilder, block: Block, ins: Sequence[SSAValue]):
        self.b = b
        self.refs: dict[SSAValue, SSAValue] = dict(zip(block.args, ins))
        self.scopes: list[dict] = [{}]
        self.fixed: dict[SSAValue, Callable[[list[Index]], SSAValue]] = {}
        self._tables: dict[Operation, SSAValue] = {}

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Values computed inside the `with` block are forgotten after it (they live in a loop body)."""
        self.scopes.append({})
        try:
            yield
        finally:
            self.scopes.pop()

    def at(self, value: SSAValue, idx: Sequence[Index]) -> SSAValue:
        key = (value, tuple(_key(i) for i in idx))
        for s in reversed(self.scopes):
            if key in s:
                return s[key]
        result = self._compute(value, list(idx))
        if not isinstance(value, BlockArgument) and value not in self.fixed:
            result = round_to_storage(self.b, result, kind_of(value.type))  # f16 rounds after every op
        self.scopes[-1][key] = result
        return result

    def _compute(self, v: SSAValue, idx: list[Index]) -> SSAValue:
        b = self.b
        fixed = self.fixed.get(v)
        if fixed is not None:
            return fixed(idx)
        if isinstance(v, BlockArgument) and v in self.refs:
            return b.load_value(self.refs[v], idx, kind_of(v.type))
        op = v.owner
        assert isinstance(op, Operation)
        out_shape = shape_of(v.type)

        def operand(k: int, index: Sequence[Index] | None = None) -> SSAValue:
            x = op.operands[k]
            return self.at(x, _broadcast_index(idx, shape_of(x.type)) if index is None else index)

        if isinstance(op, g.ConstantOp):
            return self._constant(op, idx)
        if isinstance(op, lower_int8.QUANT_ELEMENTWISE):
            return lower_int8.elementwise(b, op, operand(0), idx)
        if isinstance(op, g.ElementwiseUnary):
            return scalar_ops.unary(b, op.name, kind_of(op.operands[0].type), operand(0))
        if isinstance(op, g.ElementwiseBinary):
            return scalar_ops.binary(b, op.name, kind_of(op.operands[0].type), operand(0), operand(1))
        if isinstance(op, g.SelectOp):
            return b.emit(SelectOp(operand(0), operand(1), operand(2)))
        if isinstance(op, g.CastOp):
            return scalar_ops.cast(b, operand(0), kind_of(op.operands[0].type), kind_of(v.type))
        attrs = op.attributes
        in_shape = shape_of(op.operands[0].type)
        if isinstance(op, g.ReshapeOp):
            return operand(0, reshape_index(b, idx, out_shape, in_shape))
        if isinstance(op, g.BroadcastToOp):
            return operand(0)
        if isinstance(op, g.TransposeOp):
            perm = get_ints(attrs, "perm")
            src: list[Index] = [0] * len(idx)
            for d, p in enumerate(perm):
                src[p] = idx[d]
            return operand(0, src)
        if isinstance(op, g.SliceOp):
            starts, steps = get_ints(attrs, "starts"), get_ints(attrs, "strides")
            return operand(0, [b.add(s, b.mul(i, k)) for i, s, k in zip(idx, starts, steps)])
        if isinstance(op, g.ReverseOp):
            axes = set(get_ints(attrs, "axes"))
            return operand(0, [b.sub(n - 1, i) if d in axes else i for d, (i, n) in enumerate(zip(idx, in_shape))])
        if isinstance(op, g.PadOp):
            return self._pad(op, idx, in_shape, out_shape)
        if isinstance(op, g.ConcatOp):
            return self._concat(op, idx)
        if isinstance(op, g.MaxPoolOp | g.AvgPoolOp):
            return self._pool(op, idx)
        raise UnsupportedOnCpu(f"{op.name} cannot be evaluated per element inside a fused kernel")

    def _constant(self, op: g.ConstantOp, idx: list[Index]) -> SSAValue:
        kind = kind_of(op.result.type)
        shape = shape_of(op.result.type)
        flat = constant_elements(op)
        if _all_same(flat):
            return _scalar(self.b, kind, flat[0])
        if all(isinstance(i, int) for i in idx):
            return _scalar(self.b, kind, flat[int(np.ravel_multi_index(tuple(idx), shape))])
        return self.b.load_value(self.table(op), idx, kind)

    def table(self, op: g.ConstantOp) -> SSAValue:
        """The constant as a memref of its shape (a constant table in the object)."""
        ref = self._tables.get(op)
        if ref is None:
            kind = kind_of(op.result.type)
            shape = shape_of(op.result.type)
            flat = np.broadcast_to(constant_elements(op), (max(1, prod(shape)),)) if _all_same(
                constant_elements(op)
            ) else constant_elements(op)
            if kind.is_bool:
                values = [int(x) for x in flat]
            elif kind.is_float:
                values = [float(x) for x in flat]
            else:
                values = [int(x) for x in np.ascontiguousarray(flat).view(np.dtype(f"i{kind.nbytes}"))]
            ref = self.b.view(self.b.table(values, kind.storage), shape)
            self._tables[op] = ref
        return ref

    def _pad(self, op, idx, in_shape, out_shape) -> SSAValue:
        b = self.b
        attrs = op.attributes
        low, interior = get_ints(attrs, "low"), get_ints(attrs, "interior")
        mode = get_str(attrs, "mode")
        if mode != "constant":
            src = [
                i if (lo == 0 and m == n) else mirror_index(b, b.sub(i, lo), n, mode == "symmetric")
                for i, n, m, lo in zip(idx, in_shape, out_shape, low)
            ]
            return self.at(op.operands[0], src)
        kind = kind_of(op.result.type)
        value = get_float(attrs, "value")
        fill = (b.true() if value else b.false()) if kind.is_bool else scalar_ops.const(
            b, kind, value if kind.is_float else int(value)
        )
        conditions, src = [], []
        for i, n, lo, it in zip(idx, in_shape, low, interior):
            t = b.sub(i, lo)
            if it:
                step = it + 1
                t_nonneg = b.max_index(t, 0)
                conditions.append(b.cmp_index("eq", b.rem_index(t_nonneg, step), 0))
                t = b.div_index(t_nonneg, step)
                conditions.append(b.cmp_index("sge", b.sub(i, lo), 0))
                conditions.append(b.cmp_index("slt", t, n))
            else:
                conditions.append(b.in_range(t, 0, n))
            src.append(b.clamp_index(t, 0, max(n - 1, 0)))
        inside = b.all_of(conditions)
        if n_elements(in_shape) == 0:
            return fill
        x = self.at(op.operands[0], src)
        return x if inside is None else b.emit(SelectOp(inside, x, fill))

    def _concat(self, op, idx) -> SSAValue:
        b = self.b
        axis = get_int(op.attributes, "axis")
        c = idx[axis]
        pieces = []
        start = 0
        for x in op.operands:
            n = shape_of(x.type)[axis]
            if n:
                pieces.append((start, n, x))
            start += n
        if isinstance(c, int):
            for s, n, x in pieces:
                if s <= c < s + n:
                    return self.at(x, [*idx[:axis], c - s, *idx[axis + 1 :]])
        result = None
        for s, n, x in reversed(pieces):  # the last piece is the default; earlier ones select over it
            local = b.clamp_index(b.sub(c, s), 0, n - 1)
            value = self.at(x, [*idx[:axis], local, *idx[axis + 1 :]])
            result = value if result is None else b.emit(SelectOp(b.cmp_index("slt", c, s + n), value, result))
        assert result is not None
        return result

    def _pool(self, op, idx) -> SSAValue:
        """One element of max_pool/avg_pool, as `lower_matmul_conv.lower_pool` computes it."""
        b = self.b
        x = op.operands[0]
        kind = kind_of(x.type)
        xs, os_ = shape_of(x.type), shape_of(op.results[0].type)
        kh, kw = get_ints(op.attributes, "window")
        wy, wx = lower_matmul_conv.windows(op, xs, os_, kh, kw, pool_dilations(op.attributes))
        is_max = isinstance(op, g.MaxPoolOp)
        n, oy, ox, c = idx
        identity = scalar_ops.lowest(kind) if is_max else 0
        with b.reduce_nest([kh, kw], [scalar_ops.const(b, kind, identity), b.index(0)]) as red, self.scope():
            ty, tx = red.ivs
            acc, count = red.carried
            iy, ix = wy.source(b, oy, ty), wx.source(b, ox, tx)
            inside = b.all_of([wy.inside(b, iy), wx.inside(b, ix)])
            iy_safe = iy if inside is None else b.clamp_index(iy, 0, wy.size - 1)
            ix_safe = ix if inside is None else b.clamp_index(ix, 0, wx.size - 1)
            v = self.at(x, [n, iy_safe, ix_safe, c])
            new = scalar_ops.maximum(b, kind, acc, v) if is_max else scalar_ops.binary(b, "add", kind, acc, v)
            if inside is not None:
                new = b.emit(SelectOp(inside, new, acc))
                count = b.emit(SelectOp(inside, b.index(b.add(count, 1)), count))
            else:
                count = b.add(count, 1)
            red.next(new, b.index(count))
        result, taps = red.results
        return result if is_max else _average(b, kind, result, taps)


def n_elements(shape: Sequence[int]) -> int:
    return prod(shape)


def constant_elements(op: g.ConstantOp) -> np.ndarray:
    """An inline constant's elements, flattened (a splat may hold just one)."""
    return np.asarray(constant_value(op, WeightStore())).reshape(-1)


def _all_same(flat: np.ndarray) -> bool:
    """All elements have the same bits (a splat; NaN and -0.0 compare by bits)."""
    bits = flat.view(np.dtype(f"u{flat.itemsize}")) if flat.dtype != np.bool_ else flat
    return flat.size <= 1 or bool(np.all(bits == bits[0]))


def _scalar(b: KernelBuilder, kind: ElemKind, value) -> SSAValue:
    if kind.is_bool:
        return b.true() if bool(value) else b.false()
    if kind.is_float:
        return scalar_ops.const(b, kind, float(value))
    return scalar_ops.const(b, kind, int(value))


def _store_all(b: KernelBuilder, values: Sequence[SSAValue], outs: Sequence[SSAValue], results, idx, shape) -> None:
    """Stores element `idx` (of the iteration `shape`) of every result, at the same linear index."""
    linear = None
    for value, ref, r in zip(values, outs, results):
        r_shape = shape_of(r.type)
        if tuple(r_shape) == tuple(shape):
            where = list(idx)
        else:
            if linear is None:
                linear = linearize(b, idx, shape)
            where = delinearize(b, linear, r_shape)
        b.store_value(value, ref, where, kind_of(r.type))


# -- splitting across cores ------------------------------------------------------------------------

SPLIT_CHUNKS = 16
"""Chunks of a split kernel: enough for the pool's dynamic schedule to balance two threads."""
TRANSCENDENTAL_COST = 24
"""Rough instructions per element of a `vector_math` function (for the splitting estimate)."""


def _work(region: fusion.RegionOp, ins, outs, elements: int) -> tuple[float, float]:
    """(operations, bytes) a region's kernel moves: for `parallel.worth_splitting`."""
    per_element = 0
    for op in region.compute_ops():
        name = op.name.removeprefix("graph.")
        costly = name in vector_math.FUNCTIONS or name in scalar_ops.LIBM_FUNCTIONS
        per_element += TRANSCENDENTAL_COST if costly else 1
    nbytes = sum(_ref_bytes(r) for r in (*ins, *outs))
    return float(per_element * elements), float(nbytes)


def _ref_bytes(ref: SSAValue) -> int:
    t = ref.type
    return prod(t.get_shape()) * max(1, element_nbytes(t.element_type))


@contextmanager
def split_nest(b: KernelBuilder, sizes: Sequence[int], split: bool) -> Iterator[list[Index]]:
    """`b.nest(sizes)`, with the outermost loop of more than one iteration cut into chunks run by
    both cores (`scf.parallel`, see `parallel`) when `split`. Chunks are whole ranges of that
    loop; everything inside (and every value computed there) belongs to one chunk."""
    sizes = list(sizes)
    d = next((k for k, n in enumerate(sizes) if n > 1), None)
    if not split or d is None:
        with b.nest(sizes) as ivs:
            yield ivs
        return
    size = sizes[d]
    per = -(-size // min(SPLIT_CHUNKS, size))
    if size >= 64 * SPLIT_CHUNKS:  # long loops: chunks of whole vectors
        per = -(-per // 64) * 64
    chunks = -(-size // per)
    body = Block(arg_types=[IndexType()])
    b.emit(scf.ParallelOp([b.index(0)], [b.index(chunks)], [b.index(1)], Region(body)))
    outer, b.block = b.block, body
    try:
        lo = b.mul(body.args[0], per)
        hi = b.add(lo, per) if size % per == 0 else b.min_index(b.add(lo, per), size)
        with b.loop(lo, hi) as loop, b.nest(sizes[d + 1 :]) as inner:
            yield [*([0] * d), loop.iv, *inner]
    finally:
        b.block = outer
    body.add_op(scf.ReduceOp())


# -- loop regions ----------------------------------------------------------------------------------


def _lower_loop(b: KernelBuilder, region: fusion.RegionOp, ins, outs) -> None:
    shape = tuple(get_ints(region.attributes, "shape"))
    results = list(region.yield_op.values)
    if _is_flat(region, shape):
        _lower_flat(b, region, ins, outs, shape)
        return
    ev = Elemental(b, region.block, ins)
    split = parallel.worth_splitting(*_work(region, ins, outs, prod(shape)))
    with split_nest(b, shape, split) as ivs, ev.scope():
        values = [ev.at(r, _as_index_of(b, ivs, shape, shape_of(r.type))) for r in results]
        _store_all(b, values, outs, results, ivs, shape)


def _as_index_of(b, ivs, shape, r_shape) -> list[Index]:
    if tuple(r_shape) == tuple(shape):
        return list(ivs)
    return delinearize(b, linearize(b, ivs, shape), r_shape)


def _is_flat(region: fusion.RegionOp, shape) -> bool:
    if any(shape_of(r.type) != shape for r in region.yield_op.values):
        return False
    if any(lower_int8.is_per_axis(op) for op in region.compute_ops()):
        return False  # per-axis parameters are read at the element's (uncollapsed) coordinate
    return all(isinstance(op, fusion.ELEMENTWISE_OPS) for op in region.compute_ops())


def _lower_flat(b: KernelBuilder, region: fusion.RegionOp, ins, outs, shape) -> None:
    """An elementwise body over a collapsed iteration space: every value is evaluated at the
    current point, and only the leaves (operands, constant tables) know their strides."""
    results = list(region.yield_op.values)
    # the leaves the results read, found from the results backwards
    needed: list[Operation] = []
    leaves: list[SSAValue] = []
    seen: set[SSAValue] = set()
    stack = list(results)
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        owner = v.owner
        if isinstance(owner, Operation) and not _is_splat(owner):
            if isinstance(owner, g.ConstantOp):
                leaves.append(v)
                continue
            needed.append(owner)
            stack.extend(owner.operands)
        elif isinstance(v, BlockArgument):
            leaves.append(v)
    refs = dict(zip(region.block.args, ins))
    leaf_refs = []
    for v in leaves:
        if isinstance(v, BlockArgument):
            leaf_refs.append(b.collapse(refs[v]))
        else:  # a small non-splat constant: a table
            leaf_refs.append(b.collapse(Elemental(b, region.block, ins).table(v.owner)))
    sizes, strides = lower_elementwise.collapse_broadcast(shape, [shape_of(v.type) for v in leaves] + [shape])
    flat_outs = [b.collapse(r) for r in outs]
    split = parallel.worth_splitting(*_work(region, ins, outs, prod(shape)))
    with split_nest(b, sizes, split) as ivs:
        linear: dict[tuple[int, ...], Index] = {}

        def at(st: Sequence[int]) -> list[Index]:
            key = tuple(st)
            if key not in linear:
                linear[key] = b.linear(list(zip(ivs, st)))
            return [linear[key]]

        values: dict[SSAValue, SSAValue] = {}
        for v, ref, st in zip(leaves, leaf_refs, strides):
            values[v] = b.load_value(ref, at(st) if shape_of(v.type) else [], kind_of(v.type))

        def value(v: SSAValue) -> SSAValue:
            if v in values:
                return values[v]
            op = v.owner
            if isinstance(op, g.ConstantOp):  # a splat
                values[v] = _scalar(b, kind_of(v.type), constant_elements(op)[0])
                return values[v]
            args = [value(x) for x in op.operands]
            if isinstance(op, g.ElementwiseUnary):
                r = scalar_ops.unary(b, op.name, kind_of(op.operands[0].type), args[0])
            elif isinstance(op, g.ElementwiseBinary):
                r = scalar_ops.binary(b, op.name, kind_of(op.operands[0].type), args[0], args[1])
            elif isinstance(op, g.SelectOp):
                r = b.emit(SelectOp(*args))
            elif isinstance(op, lower_int8.QUANT_ELEMENTWISE):  # per tensor here: no index needed
                r = lower_int8.elementwise(b, op, args[0], [])
            else:
                r = scalar_ops.cast(b, args[0], kind_of(op.operands[0].type), kind_of(v.type))
            values[v] = r = round_to_storage(b, r, kind_of(v.type))
            return r

        for r, ref in zip(results, flat_outs):
            b.store_value(value(r), ref, at(strides[-1]) if shape else [], kind_of(r.type))


def _is_splat(op: Operation) -> bool:
    return isinstance(op, g.ConstantOp) and _all_same(constant_elements(op))


# -- reduction regions -----------------------------------------------------------------------------


def _lower_reduction(b: KernelBuilder, region: fusion.RegionOp, ins, outs) -> None:
    plan = fusion.reduction_plan(region)
    shape, axes = tuple(plan.shape), set(plan.axes)
    kept = [d for d in range(len(shape)) if d not in axes]
    reduced = sorted(axes)
    results = list(region.yield_op.values)
    ops = region.compute_ops()

    # stages: a reduction comes one pass after the reductions its input depends on
    stage_of_value: dict[SSAValue, int] = {}
    stage: dict[Operation, int] = {}
    for op in ops:
        level = max((stage_of_value.get(v, 0) for v in op.operands), default=0)
        if isinstance(op, fusion.REDUCTION_OPS):
            stage[op] = level + 1
            level += 1
        for r in op.results:
            stage_of_value[r] = level
    n_stages = max(stage.values())
    depends = _depends_on_reductions(ops)

    ev = Elemental(b, region.block, ins)
    split = parallel.worth_splitting(*_work(region, ins, outs, prod(shape) * (n_stages + 1)))
    with split_nest(b, [shape[d] for d in kept], split) as kept_ivs, ev.scope():

        def full_index(red_ivs: Sequence[Index]) -> list[Index]:
            idx: list[Index] = [0] * len(shape)
            for d, i in zip(kept, kept_ivs):
                idx[d] = i
            for d, i in zip(reduced, red_ivs):
                idx[d] = i
            return idx

        row = full_index([0] * len(reduced))  # the row as an index of the row shape (keepdims)

        def row_index(value_shape: Sequence[int]) -> list[Index]:
            if len(value_shape) == len(shape):
                return [0 if d in axes else i for d, i in enumerate(row)]
            return [row[d] for d in kept]  # keepdims = 0

        row_results = [(k, r) for k, r in enumerate(results) if shape_of(r.type) != shape]
        full_results = [(k, r) for k, r in enumerate(results) if shape_of(r.type) == shape]
        stash = _stash_plan(plan, stage, n_stages, full_results)
        for s in range(1, n_stages + 1):
            group = [op for op in plan.reductions if stage[op] == s]
            _precompute_row_values(ev, ops, depends, stage_of_value, s - 1, plan, row_index)
            accs = [
                _Accumulator(b, REDUCTION_KINDS[op.name], kind_of(op.operands[0].type), _count(shape, reduced))
                for op in group
            ]
            with b.reduce_nest([shape[d] for d in reduced], [a.identity() for a in accs]) as red, ev.scope():
                idx = full_index(red.ivs)
                red.next(*(a.combine(c, ev.at(op.operands[0], idx)) for a, c, op in zip(accs, red.carried, group)))
                for u, k in stash.items():
                    if s == n_stages:
                        b.store_value(ev.at(u, idx), outs[k], idx, kind_of(u.type))
            for a, op, total in zip(accs, group, red.results):
                value = round_to_storage(b, a.finish(total), kind_of(op.results[0].type))  # f16: as stored
                ev.fixed[op.results[0]] = lambda _idx, value=value: value

        _precompute_row_values(ev, ops, depends, stage_of_value, n_stages, plan, row_index)
        for u, k in stash.items():  # the last pass reads the stashed values back (from L1)
            ev.fixed[u] = lambda idx, ref=outs[k], kind=kind_of(u.type): b.load_value(ref, idx, kind)
        for k, r in row_results:
            b.store_value(ev.at(r, row_index(shape_of(r.type))), outs[k], row_index(shape_of(r.type)), kind_of(r.type))
        if full_results:
            with b.nest([shape[d] for d in reduced]) as red_ivs, ev.scope():
                idx = full_index(red_ivs)
                for k, r in full_results:
                    b.store_value(ev.at(r, idx), outs[k], idx, kind_of(r.type))


def _stash_plan(plan, stage, n_stages: int, full_results) -> dict[SSAValue, int]:
    """Values the last reduction pass computes anyway and the output pass needs again, when they
    are costly (a transcendental): the reduction pass also stores them into the buffer of a full
    result of their type, and the output pass reads them back from there (the row is in L1)
    instead of recomputing them. Softmax: e = exp(x − max) is summed and stored in one pass,
    the output pass divides what it reads by the sum. Returns value → index of that result."""
    stash: dict[SSAValue, int] = {}
    for k, r in full_results:
        kind = kind_of(r.type)
        if kind.compute != kind.storage:  # f16 would round what it keeps
            continue
        for op in plan.reductions:
            u = op.operands[0]
            if stage[op] == n_stages and u not in stash and u.type == r.type and _costly(u) and _reaches(r, u):
                stash[u] = k
                break
    return stash


def _costly(v: SSAValue) -> bool:
    """A transcendental op computes `v` (or a value it is made of, short of reductions)."""
    stack, seen = [v], set()
    while stack:
        x = stack.pop()
        op = x.owner
        if x in seen or not isinstance(op, Operation) or isinstance(op, fusion.REDUCTION_OPS):
            continue
        seen.add(x)
        name = op.name.removeprefix("graph.")
        if name in vector_math.FUNCTIONS or name in scalar_ops.LIBM_FUNCTIONS:
            return True
        stack.extend(op.operands)
    return False


def _reaches(r: SSAValue, u: SSAValue) -> bool:
    """`r` is computed from `u`."""
    stack, seen = [r], set()
    while stack:
        x = stack.pop()
        if x is u:
            return True
        op = x.owner
        if x in seen or not isinstance(op, Operation) or isinstance(op, fusion.REDUCTION_OPS):
            continue
        seen.add(x)
        stack.extend(op.operands)
    return False


def _count(shape, reduced) -> int:
    return prod(shape[d] for d in reduced)


def _depends_on_reductions(ops: Sequence[Operation]) -> set[SSAValue]:
    depends: set[SSAValue] = set()
    for op in ops:
        if isinstance(op, fusion.REDUCTION_OPS) or any(v in depends for v in op.operands):
            depends.update(op.results)
    return depends


def _precompute_row_values(ev: Elemental, ops, depends, stage_of_value, done: int, plan, row_index) -> None:
    """Evaluates, once per row, the row-shaped values that depend only on finished reductions
    (1/sum, rsqrt(var + eps), ...), so passes over the row find them computed."""
    if done == 0:
        return
    for op in ops:
        if isinstance(op, fusion.REDUCTION_OPS):
            continue
        for r in op.results:
            s = shape_of(r.type)
            if r in depends and stage_of_value[r] <= done and s != plan.shape and plan.is_row_shape(s):
                ev.at(r, row_index(s))


# -- matmul / conv regions -------------------------------------------------------------------------


class Epilogue:
    """The post-root ops of a matmul/conv region, applied to accumulators in registers.

    Built once per kernel (`Epilogue(b, region, ins)`, before any loop), then called inside the
    loop nest that computes the accumulators:

        values = epilogue(acc, index, mask=None)

    - `acc`: the root result at `index` — a scalar of the root element type's compute type (f32
      for f32 and f16), or a `vector<L x f32>` (`vector<L x f64>`) holding the elements
      `index[:-1] + [index[-1] + lane]` for lane = 0..L-1 of the root result;
    - `index`: indices into the root result's shape (`[*batch, i, j]` for a matmul, `[n, y, x, c]`
      for a conv), ints or `index` values (for a vector: the first lane's);
    - `mask`: for a vector `acc`, None when every lane is inside the result, else a
      `vector<L x i1>` of the lanes that are; operands are then read with masked loads, so lanes
      outside the result never touch memory;
    - returns one value per region result (`region.yield_op.values`, the order of the kernel's
      `outs`), each in its result's compute type, scalar or vector like `acc`: bias adds, BN
      multiply-adds, relu/relu6/clamp, sigmoid/tanh/erf/gelu (`vector_math` polynomials),
      residual adds reading another operand at the same output index. Values that vary along
      the lanes are read with vector loads, the others once as scalars and broadcast; LLVM
      hoists what does not depend on the innermost loop. Nothing is cached beyond one call.

    `store(values, outs, index, mask)` writes them at the root's linear index (results may be
    reshapes of the root). `vectorizable` says whether vector accumulators are supported for this
    region (float ops, broadcasts and reshapes that keep the last dimension); when not, use the
    scalar form (or a pass over the stored root result). `is_identity`: the region yields just the
    root.

    `callback(outs, primary)` adapts this to `lower_matmul_conv`'s epilogue hook
    (`epilogue(b, acc_values, index_values, mask) -> [value for the kernel's one output]`): the
    kernel stores the value of result `primary` (whose buffer it was given, viewed with the root's
    shape); the callback stores every other result itself, at the same index and under the same
    mask.
    """

    def __init__(self, b: KernelBuilder, region: fusion.RegionOp, ins: Sequence[SSAValue]):
        self.b = b
        self.region = region
        self.plan = fusion.epilogue_plan(region)
        self.root = self.plan.root.results[0]
        self.shape = shape_of(self.root.type)
        self.results = list(region.yield_op.values)
        self.refs: dict[SSAValue, SSAValue] = dict(zip(region.block.args, ins))
        self.ev = Elemental(b, region.block, ins)
        self._acc: SSAValue | None = None
        self.ev.fixed[self.root] = lambda _idx: self._current()

    @property
    def is_identity(self) -> bool:
        return all(r is self.root for r in self.results)

    def _current(self) -> SSAValue:
        assert self._acc is not None
        return self._acc

    def __call__(self, acc: SSAValue, index: Sequence[Index], mask: SSAValue | None = None) -> list[SSAValue]:
        b = self.b
        index = list(index)
        if isinstance(acc.type, VectorType):
            lanes = acc.type.get_shape()[0]
            vec = _VectorEval(self, acc, lanes, mask)
            with self.ev.scope():
                values = []
                for r in self.results:
                    r_idx, lane = _reshape_lane(b, index, len(self.shape) - 1, self.shape, shape_of(r.type))
                    values.append(vec.at(r, r_idx, lane))
            return values
        self._acc = round_to_storage(b, acc, kind_of(self.root.type))  # f16: the root as the reference rounds it
        with self.ev.scope():
            values = [self.ev.at(r, _as_index_of(b, index, self.shape, shape_of(r.type))) for r in self.results]
        self._acc = None
        return values

    def store(
        self, values: Sequence[SSAValue], outs: Sequence[SSAValue], index: Sequence[Index], mask: SSAValue | None = None
    ) -> None:
        if values and isinstance(values[0].type, VectorType):
            for value, ref, r in zip(values, outs, self.results):
                _vector_store(self.b, value, ref, r, linearize(self.b, index, self.shape), mask)
            return
        _store_all(self.b, values, outs, self.results, index, self.shape)

    @property
    def vectorizable(self) -> bool:
        return _vectorizable(self)

    def callback(self, outs: Sequence[SSAValue], primary: int):
        def hook(b: KernelBuilder, acc_values, index_values, mask):
            assert b is self.b
            values = self(acc_values[0], index_values, mask)
            others = [k for k in range(len(values)) if k != primary]
            if others:
                linear = linearize(b, index_values, self.shape)
                for k in others:
                    if isinstance(values[k].type, VectorType):
                        _vector_store(b, values[k], outs[k], self.results[k], linear, mask)
                    else:
                        r_shape = shape_of(self.results[k].type)
                        b.store_value(values[k], outs[k], delinearize(b, linear, r_shape), kind_of(self.results[k].type))
            return [values[primary]]

        return hook


def _reshape_lane(b: KernelBuilder, idx, lane: int | None, out_shape, in_shape) -> tuple[list[Index], int | None]:
    """The index (and lane dimension) in `in_shape` of element `idx` (lane `lane`) of a value of
    `out_shape` with the same elements (a reshape, or a result stored at the root's index)."""
    if tuple(out_shape) == tuple(in_shape):
        return list(idx), lane
    new = reshape_index(b, idx, out_shape, in_shape)
    if lane is None:
        return new, None
    assert in_shape and out_shape[-1] == in_shape[-1] and lane == len(out_shape) - 1  # `_vectorizable` checked
    return new, len(in_shape) - 1


def _vectorizable(ep: Epilogue) -> bool:
    """Float ops, broadcasts and last-dimension-preserving reshapes only, every value f32/f64 like
    the root (so vectors keep one element type), operands of that type too."""
    element = ep.root.type.element_type
    if kind_of(ep.root.type).compute != element:
        return False
    seen: set[SSAValue] = set()
    stack = list(ep.results)
    while stack:
        v = stack.pop()
        if v in seen or v is ep.root:
            continue
        seen.add(v)
        t = v.type.element_type
        owner = v.owner
        if isinstance(v, BlockArgument):
            if t != element:
                return False
            continue
        if isinstance(owner, g.ConstantOp):
            if t != element:
                return False
            continue
        if isinstance(owner, g.ReshapeOp):
            a, r = shape_of(owner.operands[0].type), shape_of(v.type)
            if not a or not r or a[-1] != r[-1]:
                return False
        elif isinstance(owner, g.Comparison):
            if owner.operands[0].type.element_type != element:
                return False
        elif isinstance(owner, g.SelectOp):
            if t != element:
                return False
        elif isinstance(owner, g.ElementwiseUnary | g.ElementwiseBinary | g.BroadcastToOp):
            if t != element or isinstance(owner, g.NotOp | g.Predicate):
                return False
            if owner.name.removeprefix("graph.") in _NOT_VECTOR:
                return False
        else:
            return False
        stack.extend(owner.operands)
    for v in ep.results:
        r = shape_of(v.type)
        if v is not ep.root and (not r or r[-1] != ep.shape[-1]):
            return False
    return bool(ep.shape)


_NOT_VECTOR = {
    "floor_mod", "floor_div", "rem", "and", "or", "xor", "pow", "sin", "cos", "sign", "round", "floor", "ceil",
    *scalar_ops.LIBM_FUNCTIONS,
}  # fmt: skip
"""Float ops whose scalar helpers are not written for vectors (or scalarise anyway)."""


class _VectorEval:
    """Evaluates epilogue values as vectors of `lanes` consecutive elements along the last axis."""

    def __init__(self, ep: Epilogue, acc: SSAValue, lanes: int, mask: SSAValue | None):
        self.ep, self.b, self.acc, self.lanes, self.mask = ep, ep.b, acc, lanes, mask
        self.cache: dict = {}

    def vtype(self, element):
        return vector_type(element, self.lanes)

    def splat(self, scalar: SSAValue) -> SSAValue:
        if isinstance(scalar.type, VectorType):
            return scalar
        return self.b.emit(vector.BroadcastOp(scalar, self.vtype(scalar.type)))

    def at(self, v: SSAValue, idx: list[Index], lane: int | None) -> SSAValue:
        """A vector if `lane` (the dimension of `v` the lanes run along) is set, else a scalar."""
        if lane is None:
            return self.ep.ev.at(v, idx)
        key = (v, tuple(_key(i) for i in idx), lane)
        if key not in self.cache:
            self.cache[key] = self._compute(v, idx, lane)
        return self.cache[key]

    def _compute(self, v: SSAValue, idx: list[Index], lane: int) -> SSAValue:
        b = self.b
        if v is self.ep.root:
            return self.acc
        shape = shape_of(v.type)
        kind = kind_of(v.type)
        if isinstance(v, BlockArgument):
            ref = b.collapse(self.ep.refs[v])
            return self._load(ref, linearize(b, idx, shape), kind)
        op = v.owner
        if isinstance(op, g.ConstantOp):
            flat = constant_elements(op)
            if _all_same(flat):
                with b.vector_lanes(self.lanes):
                    return _scalar(b, kind, flat[0])
            return self._load(b.collapse(self.ep.ev.table(op)), linearize(b, idx, shape), kind)
        if isinstance(op, g.ReshapeOp):
            new, new_lane = _reshape_lane(b, idx, lane, shape, shape_of(op.operands[0].type))
            return self.at(op.operands[0], new, new_lane)
        operands = []
        for x in op.operands:
            xs = shape_of(x.type)
            lead = len(shape) - len(xs)
            x_lane = lane - lead if lane - lead >= 0 and xs[lane - lead] != 1 else None
            operands.append(self.at(x, _broadcast_index(idx, xs), x_lane))
        if isinstance(op, g.BroadcastToOp):
            return self.splat(operands[0])
        operands = [self.splat(x) for x in operands]
        with b.vector_lanes(self.lanes):
            if isinstance(op, g.ElementwiseUnary):
                return scalar_ops.unary(b, op.name, kind_of(op.operands[0].type), operands[0])
            if isinstance(op, g.ElementwiseBinary):
                return scalar_ops.binary(b, op.name, kind_of(op.operands[0].type), operands[0], operands[1])
            assert isinstance(op, g.SelectOp)
            return b.emit(SelectOp(*operands))

    def _load(self, ref: SSAValue, at: Index, kind: ElemKind) -> SSAValue:
        b = self.b
        t = self.vtype(kind.storage)
        if self.mask is None:
            value = b.emit(vector.LoadOp(ref, [b.index(at)], t))
        else:
            with b.vector_lanes(self.lanes):
                zero = scalar_ops.const(b, kind, 0.0) if kind.storage == kind.compute else None
            if zero is None:
                zero = b.emit(vector.BroadcastOp(b.const(0.0, kind.storage), t))
            value = b.emit(vector.MaskedLoadOp(ref, [b.index(at)], self.mask, zero))
        if kind.compute != kind.storage:
            value = b.emit(arith.ExtFOp(value, self.vtype(kind.compute)))
        return value


def _vector_store(b: KernelBuilder, value: SSAValue, ref: SSAValue, result: SSAValue, linear: Index, mask) -> None:
    kind = kind_of(result.type)
    if kind.compute != kind.storage:
        value = b.emit(arith.TruncFOp(value, vector_type(kind.storage, value.type.get_shape()[0])))
    flat = b.collapse(ref)
    if mask is None:
        b.emit(vector.StoreOp(value, flat, [b.index(linear)]))
    else:
        b.emit(vector.MaskedStoreOp(flat, [b.index(linear)], mask, value))


def emit_epilogue(
    b: KernelBuilder,
    region: fusion.RegionOp,
    ins: Sequence[SSAValue],
    acc: SSAValue,
    index: Sequence[Index],
    mask: SSAValue | None = None,
) -> list[SSAValue]:
    """`Epilogue(b, region, ins)(acc, index, mask)`: the values to store, one per region result."""
    return Epilogue(b, region, ins)(acc, index, mask)


def _lower_root(b: KernelBuilder, region: fusion.RegionOp, ins, outs) -> None:
    epilogue = Epilogue(b, region, ins)
    if lower_int8.is_quant_root(epilogue.plan.root):  # int8 conv/matmul (`lower_int8`)
        lower_int8.lower_quant_root(b, epilogue, outs)
        return
    entry = getattr(
        lower_matmul_conv, "lower_matmul_region" if region.kind_name == "matmul" else "lower_conv_region", None
    )
    if entry is not None:  # the tiled kernels, with this epilogue
        entry(b, region, ins, outs, epilogue)
        return
    root = epilogue.plan.root
    if not root_takes_tiled_kernel(region, root):
        root_in_registers(b, epilogue, outs)
        return
    refs = dict(zip(region.block.args, ins))
    operands = [refs[v] if v in refs else epilogue.ev.table(v.owner) for v in root.operands]
    element = epilogue.root.type.element_type
    primary = next(k for k, r in enumerate(epilogue.results) if r.type.element_type == element)
    kind = kind_of(epilogue.root.type)
    lower = lower_matmul_conv.LOWERINGS[root.name]
    target = b.view(outs[primary], epilogue.shape)
    if epilogue.is_identity and len(outs) == 1:
        lower(b, root, operands, [target])
        return
    if _takes_epilogue(lower) and (epilogue.vectorizable or lower_matmul_conv.lanes_of(kind) is None):
        lower(b, root, operands, [target], epilogue.callback(outs, primary))
        return
    # the root into the primary result's buffer, then one pass: read, epilogue, store every result
    lower(b, root, operands, [target])
    with b.nest(epilogue.shape) as idx:
        values = epilogue(b.load_value(target, idx, kind), idx)
        epilogue.store(values, outs, idx)


def root_takes_tiled_kernel(region: fusion.RegionOp, root: Operation) -> bool:
    """Whether a matmul/conv region's root runs in its tiled kernel (which reads packed weights,
    see `pack_weights`) rather than `root_in_registers` (which reads every operand in its logical
    layout): its operands come straight from the region's arguments or constants (no prologue
    views), some region result has the root's element type, and it is not boolean."""
    args = set(region.block.args)
    if any(v not in args and not isinstance(v.owner, g.ConstantOp) for v in root.operands):
        return False
    element = root.results[0].type.element_type
    if not any(r.type.element_type == element for r in region.yield_op.values):
        return False
    return not kind_of(root.results[0].type).is_bool


def _takes_epilogue(lower) -> bool:
    import inspect

    return "epilogue" in inspect.signature(lower).parameters


def root_in_registers(b: KernelBuilder, epilogue: Epilogue, outs) -> None:
    """A matmul/conv region as one dot product per root element, its operands read through
    `Elemental` (so prologue views cost nothing), the epilogue applied, every result stored.
    Untiled: the fallback for regions the tiled kernels do not take."""
    root = epilogue.plan.root
    ev = epilogue.ev
    kind = kind_of(root.operands[0].type)
    zero = scalar_ops.const(b, kind, 0)
    if isinstance(root, g.MatMulOp):
        sa, sb = shape_of(root.operands[0].type), shape_of(root.operands[1].type)
        k = sa[-1]
        with b.nest(epilogue.shape) as idx, ev.scope():
            batch = idx[:-2]
            i, j = idx[-2], idx[-1]
            with b.reduce_nest([k], [zero]) as red, ev.scope():
                (kk,) = red.ivs
                x = ev.at(root.operands[0], [*_broadcast_index(batch, sa[:-2]), i, kk])
                y = ev.at(root.operands[1], [*_broadcast_index(batch, sb[:-2]), kk, j])
                red.next(_mul_add(b, kind, red.carried[0], x, y))
            epilogue.store(epilogue(red.results[0], idx), outs, idx)
        return
    xs, ws = shape_of(root.operands[0].type), shape_of(root.operands[1].type)
    kh, kw, ci, _ = ws
    cog = ws[3] // get_int(root.attributes, "groups")
    wy, wx = lower_matmul_conv.windows(root, xs, epilogue.shape, kh, kw, get_ints(root.attributes, "dilations"))
    with b.nest(epilogue.shape) as idx, ev.scope():
        n, oy, ox, oc = idx
        grp = b.div_index(oc, cog)
        with b.reduce_nest([kh, kw, ci], [zero]) as red, ev.scope():
            ty, tx, cc = red.ivs
            iy, ix = wy.source(b, oy, ty), wx.source(b, ox, tx)
            inside = b.all_of([wy.inside(b, iy), wx.inside(b, ix)])
            iy_safe = iy if inside is None else b.clamp_index(iy, 0, wy.size - 1)
            ix_safe = ix if inside is None else b.clamp_index(ix, 0, wx.size - 1)
            xv = ev.at(root.operands[0], [n, iy_safe, ix_safe, b.add(b.mul(grp, ci), cc)])
            if inside is not None:
                xv = b.emit(SelectOp(inside, xv, zero))
            wv = ev.at(root.operands[1], [ty, tx, cc, oc])
            red.next(_mul_add(b, kind, red.carried[0], xv, wv))
        epilogue.store(epilogue(red.results[0], idx), outs, idx)


_root_in_registers = root_in_registers  # the name `lower_matmul_conv` used first


# -- opaque regions --------------------------------------------------------------------------------


def _lower_opaque(b: KernelBuilder, region: fusion.RegionOp, ins, outs, table: dict[str, Lowering]) -> None:
    (op,) = region.compute_ops()
    refs = dict(zip(region.block.args, ins))
    ev = Elemental(b, region.block, ins)
    operands = []
    for v in op.operands:
        if v in refs:
            operands.append(refs[v])
            continue
        const = v.owner
        if not isinstance(const, g.ConstantOp):
            raise UnsupportedOnCpu(f"an opaque region's {op.name} reads {const.name}, not an operand or constant")
        ref = ev.table(const)
        operands.append(ref)
    results = list(region.yield_op.values)
    result_refs = []
    for r in op.results:
        if r in results:
            result_refs.append(outs[results.index(r)])
        elif nbytes_of(r.type) <= SCRATCH_LIMIT:  # a result nobody reads (top_k's indices): stack scratch
            t = buffer_type(r.type)
            result_refs.append(b.emit(memref.AllocaOp.get(t.element_type, 64, t.get_shape())))
        else:
            raise UnsupportedOnCpu(f"an opaque region must yield every large result of its {op.name}")
    lowering = table.get(op.name)
    if lowering is None:
        raise UnsupportedOnCpu(f"no lowering for {op.name}")
    lowering(b, op, operands, result_refs)
    # a result yielded twice is stored into each of its buffers
    for k, r in enumerate(results):
        first = results.index(r)
        if first != k:
            t = r.type
            lower_elementwise.lower_copy(b, t, outs[first], outs[k])


def _average(b: KernelBuilder, kind: ElemKind, total: SSAValue, taps: SSAValue) -> SSAValue:
    """total / taps (integers: exact 64-bit division, truncating)."""
    count = b.emit(arith.IndexCastOp(taps, i64))
    if kind.is_float:
        return b.emit(arith.DivfOp(total, b.emit(arith.SIToFPOp(count, kind.compute))))
    if kind.bits < 64:
        total = b.emit((arith.ExtUIOp if kind.is_unsigned else arith.ExtSIOp)(total, i64))
    quotient = b.emit((arith.DivUIOp if kind.is_unsigned else arith.DivSIOp)(total, count))
    return quotient if kind.bits == 64 else b.emit(arith.TruncIOp(quotient, kind.compute))


def _mul_add(b: KernelBuilder, kind: ElemKind, acc: SSAValue, x: SSAValue, y: SSAValue) -> SSAValue:
    """acc + x·y, reassociable (a dot product LLVM may vectorize)."""
    product = scalar_ops.binary(b, "mul", kind, x, y, REASSOC)
    return scalar_ops.binary(b, "add", kind, acc, product, REASSOC)
