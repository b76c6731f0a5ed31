"""`graphc compile --report`: the kernels of a compiled program and the bytes they move.

`kernel_report(program)` lists, in program order, every kernel — each `fusion.region` (name, kind,
the ops in it) and each graph op left outside a region (a kernel of its own; constants and free
reshape views are not kernels) — with the bytes it moves fused (the region reads each input and
writes each result once) and unfused (every op in it as its own kernel), by the fusion cost model
(`graphc.passes.fusion_cost_model`). Totals close the report; when the driver measured the graph
before fusion (`CompileStats.unfused`), the unfused total is that graph's (it includes ops fusion
removed outright, like pads folded into convolutions). `layout_report` says how many run-time
transposes `optimize-layout` removed (the counts it records on `@main`).
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.dialects import fusion as f
from graphc.dialects import graph as g
from graphc.dialects.resources import GraphProgram
from graphc.passes.fusion_cost_model import Cost, group_cost, is_free, op_cost, unfused_cost
from graphc.passes.layout import layout_stats


@dataclass
class KernelRow:
    name: str
    kind: str
    ops: list[str]
    fused: Cost
    unfused: Cost


def kernel_rows(program: GraphProgram) -> list[KernelRow]:
    rows = []
    for op in program.main.body.block.ops:
        if isinstance(op, f.RegionOp):
            ops = op.compute_ops()
            rows.append(KernelRow(op.region_name, op.kind_name, [_short(o) for o in ops],
                                  group_cost(ops, op.kind_name), unfused_cost(ops)))  # fmt: skip
        elif isinstance(op, g.GraphOp) and not is_free(op):
            cost = op_cost(op)
            rows.append(KernelRow(_short(op), "op", [_short(op)], cost, cost))
    return rows


def kernel_report(program: GraphProgram, unfused_total: Cost | None = None) -> str:
    rows = kernel_rows(program)
    width = max([len(r.name) for r in rows] + [6])
    lines = [f"{'kernel':<{width}}  {'kind':<9}  {'fused':>10}  {'unfused':>10}  ops"]
    for r in rows:
        lines.append(
            f"{r.name:<{width}}  {r.kind:<9}  {_bytes(r.fused.bytes):>10}  {_bytes(r.unfused.bytes):>10}  {', '.join(r.ops)}"
        )
    fused = sum(r.fused.bytes for r in rows)
    unfused = unfused_total.bytes if unfused_total is not None else sum(r.unfused.bytes for r in rows)
    op_count = sum(len(r.ops) for r in rows)
    saved = f" ({100 * (unfused - fused) / unfused:.0f}% less)" if unfused else ""
    lines.append(
        f"total: {len(rows)} kernels for {op_count} ops; bytes moved {_bytes(fused)} fused vs {_bytes(unfused)} unfused{saved}"
    )
    return "\n".join(lines)


def memory_report(meta: dict) -> str | None:
    """The backend's memory plan, when it has one: peak arena vs all intermediates without reuse."""
    if "arena_bytes" not in meta or "intermediate_bytes_total" not in meta:
        return None
    arena, total = int(meta["arena_bytes"]), int(meta["intermediate_bytes_total"])
    saved = f" ({100 * (total - arena) / total:.0f}% less)" if total else ""
    return f"memory: arena {_bytes(arena)} (peak, reused across calls) vs {_bytes(total)} for all intermediates{saved}"


def layout_report(program: GraphProgram) -> str | None:
    """What `optimize-layout` did to the run-time transposes, when it ran on a program that had any."""
    stats = layout_stats(program.main)
    if stats is None:
        return None
    before, after = stats
    return f"layout: {before - after} of {before} run-time transposes removed ({after} left)"


def quant_report(program: GraphProgram) -> str | None:
    """Which conv/matmul layers run in int8 (a `quant` root) and which stay float, when any is int8."""
    from graphc.dialects import quant as q

    rows = []
    for op in program.main.body.block.ops:
        roots = [o for o in op.walk() if isinstance(o, f.ROOT_TYPES)]
        for root in roots:
            where = op.region_name if isinstance(op, f.RegionOp) else _short(root)
            rows.append((where, _short(root), isinstance(root, q.Conv2DOp | q.MatMulOp)))
    if not any(int8 for _, _, int8 in rows):
        return None
    width = max(len(r[0]) for r in rows)
    lines = [f"{'layer':<{width}}  {'op':<14}  precision"]
    lines += [f"{w:<{width}}  {name:<14}  {'int8' if int8 else 'float'}" for w, name, int8 in rows]
    lines.append(f"int8: {sum(r[2] for r in rows)} of {len(rows)} conv/matmul layers")
    return "\n".join(lines)


def _short(op) -> str:
    return op.name.removeprefix("graph.")


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
