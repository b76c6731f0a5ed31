"""The reduction template: a `reduction` region, one program per block of rows, looping over long rows.

Takes a region with `shape` and `reduce_axes` (any axes: a softmax's last axis, a global pool's
H and W, a batch norm's N); leaves a kernel over tiles of BLOCK_M rows × BLOCK_R reduced elements.
Two layouts of the same loop nest: reduced axes trailing (softmax, layer norm: reduce along the
tile's second axis, rows contiguous in memory) and other axes (a kept axis is innermost: reduce
along the first axis so that loads stay contiguous across rows). Per stage of
`fusion.reduction_plan` one pass over the row accumulates every reduction of that stage in a tile
of partial results (masked tails fill with the identity), then reduces the tile; row values and
row results follow, and a last pass evaluates and stores the full results. Online softmax and
Welford merges are not used: a stage re-reads the row instead (same results up to rounding).
"""

from __future__ import annotations

from math import prod

from graphc.backends.triton.expressions import NAN_ALL
from graphc.backends.triton.kernel import Kernel, KernelBuilder
from graphc.backends.triton.source import is_float, is_half, pow2_at_least, tl_type, to_register, type_max, type_min
from graphc.dialects import dtypes
from graphc.dialects import fusion
from graphc.dialects import graph as g

AUTOTUNE = [
    {"BLOCK_M": 1, "BLOCK_R": 1024, "num_warps": 4},
    {"BLOCK_M": 4, "BLOCK_R": 256, "num_warps": 4},
    {"BLOCK_M": 16, "BLOCK_R": 64, "num_warps": 4},
]


class Layout:
    """Where rows and reduced elements sit in the tile."""

    def __init__(self, reduce_last: bool):
        self.reduce_axis = 1 if reduce_last else 0
        self.tile = "[BLOCK_M, BLOCK_R]" if reduce_last else "[BLOCK_R, BLOCK_M]"
        self.row_tile = "[BLOCK_M, 1]" if reduce_last else "[1, BLOCK_M]"
        self.row_vec = "[:, None]" if reduce_last else "[None, :]"
        self.red_vec = "[None, :]" if reduce_last else "[:, None]"


def compile_reduction(region: fusion.RegionOp) -> Kernel:
    plan = fusion.reduction_plan(region)
    shape, axes = plan.shape, plan.axes
    kept = [i for i in range(len(shape)) if i not in axes]
    rows = prod(shape[i] for i in kept)
    red = prod(shape[i] for i in axes)
    inner_kept = prod(shape[i] for i in range(max(axes) + 1, len(shape)))
    layout = Layout(reduce_last=inner_kept == 1)
    kb = KernelBuilder(region)
    em, ev = kb.em, kb.ev
    em.comment(f"{rows} rows of {red} elements: shape {list(shape)} reduced over axes {list(axes)}")
    kb.block_var("rows", f"{kb.program_id(0)} * BLOCK_M + tl.arange(0, BLOCK_M){layout.row_vec}")
    kb.block_var("row_mask", f"rows < {rows}")
    row_idx = ev.delinearize("rows", [shape[i] for i in kept])

    def full_index(r: str) -> tuple[str, ...]:
        red_idx = iter(ev.delinearize(r, [shape[i] for i in axes]))
        kept_idx = iter(row_idx)
        return tuple(next(red_idx) if i in axes else next(kept_idx) for i in range(len(shape)))

    def sweep(label: str):
        r0 = em.fresh("r0_")
        block = em.block(f"for {r0} in range(0, {red}, BLOCK_R)")
        block.__enter__()
        em.comment(label)
        r = kb.block_var(em.fresh("red"), f"{r0} + tl.arange(0, BLOCK_R){layout.red_vec}")
        mask = ev.and_mask("row_mask", f"{r} < {red}")
        return block, full_index(r), mask

    stage_of = _stages(region)
    for stage in sorted(set(stage_of.values())):
        members = [op for op in plan.reductions if stage_of[op] == stage]
        accs = {op: _init(em, op, layout) for op in members}
        block, idx, mask = sweep(f"pass {stage}: {', '.join(op.name.removeprefix('graph.') for op in members)}")
        for op in members:
            v = ev.at(op.operands[0], idx, mask)
            em.line(_update(op, accs[op], v, mask))
        block.__exit__(None, None, None)
        for op in members:
            ev.overrides[op.results[0]] = _finish(em, op, accs[op], layout, red)

    full = [i for i, v in enumerate(kb.results) if g.shape_of(v.type) == shape]
    for i, value in enumerate(kb.results):
        if i in full:
            continue
        vshape = g.shape_of(value.type)
        if len(vshape) == len(shape):
            it = iter(row_idx)
            idx = tuple("0" if k in axes else next(it) for k in range(len(shape)))
        else:
            idx = tuple(row_idx)
        kb.store(i, "rows", ev.at(value, idx, "row_mask"), "row_mask", layout.row_tile)
    if full:
        block, idx, mask = sweep("full results")
        offset = ev.bind(ev.linear(idx, shape), "o")
        for i in full:
            kb.store(i, offset, ev.at(kb.results[i], idx, mask), mask, layout.tile)
        block.__exit__(None, None, None)

    blocks = _blocks(rows, red, 1024, 2048)
    interpret = _blocks(rows, red, 8192, 65536)
    return kb.finish("reduction" if layout.reduce_axis == 1 else "reduction (other axes)", ["BLOCK_M", "BLOCK_R"],
                     [f"cdiv({rows}, BLOCK_M)"], blocks, interpret, AUTOTUNE)  # fmt: skip


def _stages(region: fusion.RegionOp) -> dict:
    """Each reduction's pass: one after the reductions its input depends on (no online merges)."""
    level: dict = {}
    stage_of = {}
    for op in region.compute_ops():
        lvl = max((level.get(v, 0) for v in op.operands), default=0)
        if isinstance(op, fusion.REDUCTION_OPS):
            stage_of[op] = lvl + 1
            lvl += 1
        for r in op.results:
            level[r] = lvl
    return stage_of


def _blocks(rows: int, red: int, max_r: int, max_tile: int) -> dict[str, int]:
    block_r = pow2_at_least(red, 16, max_r)
    return {"BLOCK_M": pow2_at_least(rows, 1, max(1, max_tile // block_r)), "BLOCK_R": block_r}


def _acc_type(op) -> str:
    t = op.operands[0].type.element_type
    if isinstance(op, g.ReduceAllOp | g.ReduceAnyOp) or dtypes.is_bool(t):
        return "tl.int32"
    if is_half(t):
        return "tl.float32"
    return tl_type(t)


def _identity(op) -> str:
    t = op.operands[0].type.element_type
    if isinstance(op, g.ReduceSumOp | g.ReduceMeanOp | g.ReduceAnyOp):
        return "0"
    if isinstance(op, g.ReduceProdOp | g.ReduceAllOp):
        return "1"
    value = type_min(t) if isinstance(op, g.ReduceMaxOp) else type_max(t)
    if is_float(t):
        return "NEG_INF" if value < 0 else "POS_INF"
    return str(value)


def _init(em, op, layout: Layout) -> str:
    acc = em.fresh("acc")
    em.line(f"{acc} = tl.full({layout.tile}, {_identity(op)}, {_acc_type(op)})")
    return acc


def _update(op, acc: str, v: str, mask: str) -> str:
    t = _acc_type(op)
    x = f"tl.where({mask}, ({v} != 0).to(tl.int32), {_identity(op)})" if t == "tl.int32" and isinstance(
        op, g.ReduceAllOp | g.ReduceAnyOp) else f"tl.where({mask}, {v}.to({t}), {_identity(op)})"  # fmt: skip
    if isinstance(op, g.ReduceSumOp | g.ReduceMeanOp):
        return f"{acc} = {acc} + {x}"
    if isinstance(op, g.ReduceProdOp):
        return f"{acc} = {acc} * {x}"
    nan = f", {NAN_ALL}" if t.startswith("tl.float") else ""
    fn = "maximum" if isinstance(op, g.ReduceMaxOp | g.ReduceAnyOp) else "minimum"
    return f"{acc} = tl.{fn}({acc}, {x}{nan})"


def _finish(em, op, acc: str, layout: Layout, count: int) -> str:
    """The row's result (a row vector of the reduction's result type) from the tile of partials."""
    ax = layout.reduce_axis
    out_t = op.results[0].type.element_type
    if isinstance(op, g.ReduceSumOp | g.ReduceMeanOp):
        total = em.assign(f"tl.sum({acc}, axis={ax}){layout.row_vec}", "s")
        if isinstance(op, g.ReduceMeanOp):
            total = em.assign(f"{total} / {count}" if is_float(out_t) else f"{total} // {count}", "s")
    elif isinstance(op, g.ReduceProdOp):
        total = em.assign(f"tl.reduce({acc}, {ax}, _mul_combine){layout.row_vec}", "s")
    elif isinstance(op, g.ReduceAllOp | g.ReduceAnyOp):
        fn = "min" if isinstance(op, g.ReduceAllOp) else "max"
        return em.assign(f"tl.{fn}({acc}, axis={ax}){layout.row_vec} != 0", "s")
    else:
        fn = "max" if isinstance(op, g.ReduceMaxOp) else "min"
        total = em.assign(f"tl.{fn}({acc}, axis={ax}){layout.row_vec}", "s")
        if is_float(out_t):  # tl.max/min skip NaN; a NaN anywhere in the row wins (as jnp.max)
            total = em.assign(f"tl.where(tl.max(({acc} != {acc}).to(tl.int32), axis={ax}){layout.row_vec} > 0, "
                              f"NAN, {total})", "s")  # fmt: skip
    if dtypes.is_bool(out_t):
        return em.assign(f"{total} != 0", "s")
    return em.assign(f"{total}{to_register(out_t)}", "s")
