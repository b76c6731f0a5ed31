"""Opaque regions: one op without a fusion template, as its own Triton kernel (or a named fallback).

Takes an `opaque` region; leaves
- arg-reductions (`argmax`/`argmin`): one program per block of rows, a loop over the axis keeping the
  running extreme and its index (first index on ties, or last with `select_last_index`; NaN is the
  extreme, as in the reference);
- scans (`cumsum`/`cumprod`): one program per block of lines, a loop over the axis with
  `tl.cumsum`/`tl.associative_scan` and a carried total; `exclusive` reads the previous element,
  `reverse` reads and writes mirrored positions;
- gathers and resize are elemental (indexed loads) and go through the pointwise template (see
  `backend.py`);
- `top_k`: one program per row ranks every element by counting the elements ahead of it, and
  stores the first k at their ranks (rows up to `TOP_K_ROW_LIMIT`);
- scatters (`scatter_elements`, `scatter_nd`, every reduction): a gather over the output, each
  element combining the updates aimed at it in order (deterministic, no atomics), up to
  `SCATTER_WORK_LIMIT` elements x updates;
- longer top_k rows and larger scatters: `fallback_meta` describes them for
  `graphc.runtime.triton_fallbacks`, which runs them with torch (top_k) or numpy (the scatters,
  with the reference's deterministic last-update-wins rule); `--report` lists them.
"""

from __future__ import annotations

from math import prod

from graphc.backends.triton.elemental import INDEXED_OPS
from graphc.backends.triton.kernel import Kernel, KernelBuilder
from graphc.backends.triton.expressions import NAN_ALL
from graphc.backends.triton.source import (
    is_float,
    is_half,
    pow2_at_least,
    register_type,
    tl_type,
    to_register,
    type_max,
    type_min,
)
from graphc.dialects import dtypes
from graphc.dialects import fusion
from graphc.dialects import graph as g
from graphc.dialects.resources import WeightStore, constant_value

FALLBACK_OPS = (g.ScatterElementsOp, g.ScatterNdOp)
FALLBACK_RUNNERS = {"top_k": "torch", "scatter_elements": "numpy", "scatter_nd": "numpy"}
KERNEL_OPS = (g.ArgMaxOp, g.ArgMinOp, g.CumsumOp, g.CumprodOp)

AUTOTUNE = [{"BLOCK_M": 1, "BLOCK_R": 1024, "num_warps": 4}, {"BLOCK_M": 16, "BLOCK_R": 64, "num_warps": 4}]


def opaque_problem(op) -> str | None:
    if isinstance(op, INDEXED_OPS + KERNEL_OPS + FALLBACK_OPS + (g.TopKOp,)):
        return None
    return f"{op.name} has no triton kernel"


def fallback_meta(op) -> dict:
    """What the executor's fallback needs: the op, its attributes, and any inline constant operands."""
    attrs = {}
    if isinstance(op, g.TopKOp):
        attrs = {"k": g.get_int(op.attrs(), "k")}
    elif isinstance(op, g.ScatterElementsOp):
        attrs = {"axis": g.get_int(op.attrs(), "axis"), "reduction": g.get_str(op.attrs(), "reduction")}
    elif isinstance(op, g.ScatterNdOp):
        attrs = {"reduction": g.get_str(op.attrs(), "reduction")}
    region = op.parent_op()
    args = list(region.block.args)
    operands = []
    for v in op.operands:
        if v in args:
            operands.append({"arg": args.index(v)})
        else:
            array = constant_value(v.owner, WeightStore())
            operands.append({"const": array.reshape(-1).tolist(), "dtype": array.dtype.name, "shape": list(array.shape)})
    return {"op": op.name.removeprefix("graph."), "attrs": attrs, "operands": operands}


SCATTER_WORK_LIMIT = 1 << 26
"""Largest elements x updates product the scatter kernel takes; larger scatters use the fallback."""
TOP_K_ROW_LIMIT = 1 << 14
"""Longest top_k row the rank kernel takes (the row is one block); longer rows use the fallback."""


def is_fallback(op) -> bool:
    if isinstance(op, g.TopKOp):
        return g.shape_of(op.operands[0].type)[-1] > TOP_K_ROW_LIMIT
    if isinstance(op, FALLBACK_OPS):  # scatter as gather is O(elements x updates): large ones fall back
        x, idx = op.operands[0], op.operands[1]
        positions = prod(g.shape_of(idx.type)) // (1 if isinstance(op, g.ScatterElementsOp) else g.shape_of(idx.type)[-1])
        return prod(g.shape_of(x.type)) * positions > SCATTER_WORK_LIMIT
    return False


def compile_opaque(region: fusion.RegionOp) -> Kernel:
    (op,) = region.compute_ops()
    if isinstance(op, g.ArgMaxOp | g.ArgMinOp):
        return _arg_reduction(region, op)
    if isinstance(op, g.TopKOp):
        return _top_k(region, op)
    if isinstance(op, g.ScatterElementsOp | g.ScatterNdOp):
        return _scatter(region, op)
    return _scan(region, op)


def _scatter(region: fusion.RegionOp, op) -> Kernel:
    """Scatter as a gather over the output: each output element starts from the input and loops
    over the update positions in order, combining the updates aimed at it ("none": the last one
    wins). Deterministic (no atomics, no write races) and one kernel; O(elements x updates), so
    it suits the small scatters of real models (index updates, masks)."""
    kb = KernelBuilder(region)
    em, ev = kb.em, kb.ev
    x, idx, upd = op.operands
    xs = g.shape_of(x.type)
    n = prod(xs)
    is_elements = isinstance(op, g.ScatterElementsOp)
    ishape = g.shape_of(idx.type)
    pshape = ishape if is_elements else ishape[:-1]
    count = prod(pshape)
    reduction = g.get_str(op.attrs(), "reduction")
    t = x.type.element_type
    em.comment(f"{op.name.removeprefix('graph.')} ({reduction}) of {count} update(s) into {list(xs)}: "
               "each output element combines the updates aimed at it, in order")  # fmt: skip
    kb.block_var("offs", f"{kb.program_id(0)} * BLOCK + tl.arange(0, BLOCK)[:, None]")
    kb.block_var("mask", f"offs < {n}")
    o = ev.delinearize("offs", xs)
    base = ev.at(x, o, "mask")
    logical = dtypes.is_bool(t)
    rt = "tl.int32" if logical else register_type(t)
    if reduction == "none":
        em.line("winner = tl.full([BLOCK, 1], -1, tl.int32)")
    else:
        em.line(f"acc = tl.where(mask, {base}, {base}).to({rt})")
    with em.block(f"for p0 in range(0, {count}, BLOCK_P)"):
        kb.block_var("p", "p0 + tl.arange(0, BLOCK_P)[None, :]")
        pmask = ev.and_mask("mask", f"p < {count}")
        pidx = ev.delinearize("p", pshape)
        conds = []
        if is_elements:
            axis = g.get_int(op.attrs(), "axis")
            k = _wrapped_index(ev, idx, pidx, pmask, xs[axis])
            conds.append(f"({k} >= 0) & ({k} < {xs[axis]}) & ({k} == {o[axis]})")
            conds += [f"({pidx[d]} == {o[d]})" for d in range(len(xs)) if d != axis and xs[d] > 1]
            value_idx = pidx
        else:
            depth = ishape[-1]
            for j in range(depth):
                k = _wrapped_index(ev, idx, (*pidx, str(j)), pmask, xs[j])
                conds.append(f"({k} >= 0) & ({k} < {xs[j]}) & ({k} == {o[j]})")
            value_idx = (*pidx, *o[depth:])
        match = ev.and_mask(pmask, " & ".join(conds) or "p >= 0")
        if reduction == "none":
            em.line(f"winner = tl.maximum(winner, tl.max(tl.where({match}, p, -1), axis=1)[:, None])")
        else:
            u = ev.at(upd, value_idx, match)
            # tl.sum widens small integers: keep the loop-carried accumulator's type
            em.line(f"acc = ({_combine_updates(reduction, logical, t, match, f'{u}.to({rt})')}).to({rt})")
    if reduction == "none":
        chosen = ev.bind("mask & (winner >= 0)", "m")
        w = ev.bind("tl.maximum(winner, 0)", "w")
        widx = ev.delinearize(w, pshape)
        u = ev.at(upd, widx if is_elements else (*widx, *o[ishape[-1]:]), chosen)
        result = em.assign(f"tl.where({chosen}, {u}, {base})", "r")
    else:
        result = em.assign("acc != 0" if logical else f"acc{to_register(t)}", "r")
    kb.store(0, "offs", result, "mask", "[BLOCK, 1]")
    blocks = {"BLOCK": pow2_at_least(n, 16, 128), "BLOCK_P": pow2_at_least(count, 16, 64)}
    interpret = {"BLOCK": pow2_at_least(n, 16, 1024), "BLOCK_P": pow2_at_least(count, 16, 512)}
    return kb.finish("scatter (as gather)", ["BLOCK", "BLOCK_P"], [f"cdiv({n}, BLOCK)"], blocks, interpret)


def _wrapped_index(ev, indices, idx, mask: str, size: int) -> str:
    k = ev.at(indices, idx, mask)
    wide = ev.bind(f"{k}.to(tl.int64)", "k")
    return ev.bind(f"tl.where({wide} < 0, {wide} + {size}, {wide})", "k")


def _combine_updates(reduction: str, logical: bool, t, match: str, u: str) -> str:
    if logical:
        fn = "max" if reduction in ("add", "max") else "min"
        ident = "0" if fn == "max" else "1"
        return f"tl.{'maximum' if fn == 'max' else 'minimum'}(acc, tl.{fn}(tl.where({match}, {u}, {ident}), axis=1)[:, None])"
    if reduction == "add":
        return f"acc + tl.sum(tl.where({match}, {u}, 0), axis=1)[:, None]"
    if reduction == "mul":
        return f"acc * tl.reduce(tl.where({match}, {u}, 1), 1, _mul_combine)[:, None]"
    fn = "maximum" if reduction == "max" else "minimum"
    red = "max" if reduction == "max" else "min"
    ident = ("NEG_INF" if red == "max" else "POS_INF") if is_float(t) else str(type_min(t) if red == "max" else type_max(t))
    part = f"tl.{red}(tl.where({match}, {u}, {ident}), axis=1)[:, None]"
    if is_float(t):  # a NaN update wins, as in the reference's sequential maximum/minimum
        nan = f"tl.max(({match} & ({u} != {u})).to(tl.int32), axis=1)[:, None] > 0"
        return f"tl.where({nan}, NAN, tl.{fn}(acc, {part}, {NAN_ALL}))"
    return f"tl.{fn}(acc, {part})"


def _top_k(region: fusion.RegionOp, op) -> Kernel:
    """One program per row: each element's rank is the number of elements ahead of it (larger, or
    equal with a lower index; NaN ahead of everything); ranks < k are stored at their rank, so
    the stores never collide and ties keep the lower index first, as `graph.top_k` says."""
    kb = KernelBuilder(region)
    em, ev = kb.em, kb.ev
    x = op.operands[0]
    shape = g.shape_of(x.type)
    n, k = shape[-1], g.get_int(op.attrs(), "k")
    rows = prod(shape[:-1])
    t = x.type.element_type
    vt = "tl.float32" if is_half(t) else "tl.int32" if dtypes.is_bool(t) else tl_type(t)
    em.comment(f"top {k} of {n} along the last axis, {rows} rows: rank by counting, store at the rank")
    em.line(f"row = {kb.program_id(0)}")
    kb.block_var("i", "tl.arange(0, BLOCK_N)")
    mask = ev.bind(f"i < {n}", "m")
    row_idx = ev.delinearize("row", shape[:-1])
    xi = em.assign(f"{ev.at(x, (*row_idx, 'i'), mask)}.to({vt})", "xi")
    em.line("rank = tl.zeros([BLOCK_N], dtype=tl.int32)")
    with em.block(f"for j0 in range(0, {n}, BLOCK_C)"):
        kb.block_var("j", "j0 + tl.arange(0, BLOCK_C)")
        cmask = ev.bind(f"j < {n}", "m")
        xj = em.assign(f"{ev.at(x, (*row_idx, 'j'), cmask)}.to({vt})", "xj")
        a, b = f"{xj}[None, :]", f"{xi}[:, None]"
        ahead = f"({a} > {b}) | (({a} == {b}) & (j[None, :] < i[:, None]))"
        if is_float(t):
            ahead = (f"(({a} != {a}) & (({b} == {b}) | (j[None, :] < i[:, None]))) | "
                     f"(({b} == {b}) & ({ahead}))")  # fmt: skip
        em.line(f"rank = rank + tl.sum((({ahead}) & {cmask}[None, :]).to(tl.int32), axis=1)")
    keep = ev.bind(f"{mask} & (rank < {k})", "m")
    offset = ev.bind(f"row * {k} + rank", "o")
    index_t = tl_type(op.results[1].type.element_type)
    value = ev.at(x, (*row_idx, "i"), mask)
    for i, result in enumerate(kb.results):
        stored = value if result is op.results[0] else f"i.to({index_t})"
        kb.store(i, offset, stored, keep, "[BLOCK_N]")
    blocks = {"BLOCK_N": pow2_at_least(n, 16), "BLOCK_C": pow2_at_least(n, 16, 64)}
    interpret = {"BLOCK_N": pow2_at_least(n, 16), "BLOCK_C": pow2_at_least(n, 16, 1024)}
    return kb.finish("top-k (rank)", ["BLOCK_N", "BLOCK_C"], [str(rows)], blocks, interpret)


def _lines(kb: KernelBuilder, shape, axis: int):
    """Rows = every index but `axis` (as [BLOCK_M, 1]); returns (row count, full-index maker)."""
    ev = kb.ev
    rest = [d for i, d in enumerate(shape) if i != axis]
    rows = prod(rest)
    kb.block_var("rows", f"{kb.program_id(0)} * BLOCK_M + tl.arange(0, BLOCK_M)[:, None]")
    kb.block_var("row_mask", f"rows < {rows}")
    row_idx = ev.delinearize("rows", rest)

    def full(pos: str) -> tuple[str, ...]:
        return row_idx[:axis] + (pos,) + row_idx[axis:]

    return rows, full


def _arg_reduction(region: fusion.RegionOp, op) -> Kernel:
    kb = KernelBuilder(region)
    em, ev = kb.em, kb.ev
    x = op.operands[0]
    shape = g.shape_of(x.type)
    axis = g.get_int(op.attrs(), "axis")
    last = "select_last_index" in op.attrs() and bool(g.get_int(op.attrs(), "select_last_index"))
    size = shape[axis]
    t = x.type.element_type
    is_max = isinstance(op, g.ArgMaxOp)
    em.comment(f"{'argmax' if is_max else 'argmin'} over axis {axis} of {list(shape)} "
               f"({'last' if last else 'first'} index of the extreme; NaN is extreme)")  # fmt: skip
    rows, full = _lines(kb, shape, axis)
    vt = "tl.float32" if is_half(t) else "tl.int32" if dtypes.is_bool(t) else tl_type(t)
    worst = ("NEG_INF" if is_max else "POS_INF") if is_float(t) else str(_int_bound(t, not is_max))
    em.line(f"best = tl.full([BLOCK_M], {worst}, {vt})")
    em.line("best_at = tl.full([BLOCK_M], -1, tl.int64)")
    if is_float(t):
        em.line("best_nan = tl.full([BLOCK_M], 0, tl.int32)")
    better = ">" if is_max else "<"
    with em.block(f"for r0 in range(0, {size}, BLOCK_R)"):
        kb.block_var("pos", "r0 + tl.arange(0, BLOCK_R)[None, :]")
        mask = ev.and_mask("row_mask", f"pos < {size}")
        v = em.assign(f"tl.where({mask}, {ev.at(x, full('pos'), mask)}.to({vt}), {worst})", "v")
        pick = "tl.max" if last else "tl.min"
        none = "-1" if last else str(size)
        if is_float(t):
            em.line(f"nan = {mask} & ({v} != {v})")
            em.line(f"nan_at = {pick}(tl.where(nan, pos, {none}), axis=1).to(tl.int64)")
            em.line("has_nan = tl.max(nan.to(tl.int32), axis=1)")
        em.line(f"m = tl.{'max' if is_max else 'min'}({v}, axis=1)")
        em.line(f"m_at = {pick}(tl.where({mask} & ({v} == m[:, None]), pos, {none}), axis=1).to(tl.int64)")
        take = f"(m {better}= best)" if last else f"(m {better} best)"
        em.line(f"take = ({take} | (best_at < 0)) & (m_at >= 0) & (m_at < {size})")
        if is_float(t):
            em.line("take = take & (best_nan == 0)")
            em.line("first_nan = has_nan > 0" if last else "first_nan = (has_nan > 0) & (best_nan == 0)")
            em.line("best_at = tl.where(first_nan, nan_at, tl.where(take, m_at, best_at))")
            em.line("best = tl.where(take, m, best)")
            em.line("best_nan = tl.maximum(best_nan, has_nan)")
        else:
            em.line("best_at = tl.where(take, m_at, best_at)")
            em.line("best = tl.where(take, m, best)")
    out_t = tl_type(op.results[0].type.element_type)
    kb.store(0, "rows", f"best_at[:, None].to({out_t})", "row_mask", "[BLOCK_M, 1]")
    return _finish(kb, "arg-reduction", rows, size)


def _int_bound(t, low: bool) -> int:
    return type_min(t) if low else type_max(t)


def _scan(region: fusion.RegionOp, op) -> Kernel:
    kb = KernelBuilder(region)
    em, ev = kb.em, kb.ev
    x = op.operands[0]
    shape = g.shape_of(x.type)
    attrs = op.attrs()
    axis = g.get_int(attrs, "axis")
    exclusive, reverse = bool(g.get_int(attrs, "exclusive")), bool(g.get_int(attrs, "reverse"))
    size = shape[axis]
    t = x.type.element_type
    is_sum = isinstance(op, g.CumsumOp)
    at = "tl.float32" if is_half(t) else tl_type(t)
    identity = "0" if is_sum else "1"
    em.comment(f"{'cumsum' if is_sum else 'cumprod'} along axis {axis} of {list(shape)}"
               f"{', exclusive' if exclusive else ''}{', reverse' if reverse else ''}: one line per row of the tile")  # fmt: skip
    rows, full = _lines(kb, shape, axis)
    em.line(f"carry = tl.full([BLOCK_M], {identity}, {at})")
    with em.block(f"for r0 in range(0, {size}, BLOCK_R)"):
        kb.block_var("pos", "r0 + tl.arange(0, BLOCK_R)[None, :]")
        mask = ev.and_mask("row_mask", f"pos < {size}")
        src = ev.bind("pos - 1" if exclusive else "pos", "s")
        read = ev.bind(f"{size - 1} - {src}" if reverse else src, "s")
        valid = ev.and_mask(mask, f"{src} >= 0") if exclusive else mask
        clamped = ev.bind(f"tl.minimum(tl.maximum({read}, 0), {size - 1})", "s")
        v = em.assign(f"tl.where({valid}, {ev.at(x, full(clamped), valid)}.to({at}), {identity})", "v")
        if is_sum:
            em.line(f"scanned = tl.cumsum({v}, axis=1) + carry[:, None]")
            em.line(f"carry = carry + tl.sum({v}, axis=1)")
        else:
            em.line(f"scanned = tl.associative_scan({v}, 1, _mul_combine) * carry[:, None]")
            em.line(f"carry = carry * tl.reduce({v}, 1, _mul_combine)")
        write = ev.bind(f"{size - 1} - pos" if reverse else "pos", "w")
        offset = ev.bind(ev.linear(full(write), shape), "o")
        out_t = tl_type(op.results[0].type.element_type)
        kb.store(0, offset, f"scanned.to({out_t})", mask, "[BLOCK_M, BLOCK_R]")
    return _finish(kb, "scan", rows, size)


def _finish(kb: KernelBuilder, template: str, rows: int, size: int) -> Kernel:
    block_r = pow2_at_least(size, 16, 1024)
    blocks = {"BLOCK_M": pow2_at_least(rows, 1, max(1, 2048 // block_r)), "BLOCK_R": block_r}
    block_r = pow2_at_least(size, 16, 8192)
    interpret = {"BLOCK_M": pow2_at_least(rows, 1, max(1, 65536 // block_r)), "BLOCK_R": block_r}
    return kb.finish(template, ["BLOCK_M", "BLOCK_R"], [f"cdiv({rows}, BLOCK_M)"], blocks, interpret, AUTOTUNE)
