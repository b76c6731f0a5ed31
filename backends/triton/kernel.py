"""What every template produces (`Kernel`) and the scaffolding they share (`KernelBuilder`).

Takes a `fusion.region`; leaves, once a template has emitted its body, one Triton module (one
`@triton.jit` function named after the region) and the launch description the executor needs:
the grid as expressions of the block sizes, the block sizes (a heuristic, a larger set for the
interpreter, and an autotune list for real GPUs), and the constant tables the kernel reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import numpy as np

from graphc.backends.triton.elemental import Elemental, needs_int64
from graphc.backends.triton.source import Emitter, kernel_file, pointer_names, signature
from graphc.dialects import dtypes, fusion
from graphc.dialects import graph as g


@dataclass
class Kernel:
    name: str
    kind: str
    template: str
    source: str
    grid: list[str]
    blocks: dict[str, int]
    interpret_blocks: dict[str, int]
    autotune: list[dict[str, int]] = field(default_factory=list)
    tables: list[tuple[str, np.ndarray]] = field(default_factory=list)


class KernelBuilder:
    """Pointers for the region's operands and results, an emitter and an elemental evaluator."""

    def __init__(self, region: fusion.RegionOp):
        self.region = region
        self.em = Emitter()
        self.in_ptrs = pointer_names(region.block.args, "in")
        self.out_ptrs = [f"out{i}_ptr" for i in range(len(region.outputs))]
        self.results = list(region.yield_op.values)
        self.ev = Elemental(self.em, dict(zip(region.block.args, self.in_ptrs)))
        self.wide = needs_int64(region)

    def program_id(self, axis: int) -> str:
        pid = f"tl.program_id({axis})"
        return f"{pid}.to(tl.int64)" if self.wide else pid

    def block_var(self, name: str, expr: str) -> str:
        self.em.line(f"{name} = {expr}")
        self.ev.block_vars.add(name)
        return name

    def store(self, result_index: int, offset: str, value: str, mask: str, tile: str) -> None:
        ptr = self.out_ptrs[result_index]
        if not self.ev.is_block(offset):  # e.g. a size-1 axis: broadcast the offset to the tile
            offset = f"tl.where({mask}, {offset}, 0)"
        if self.results[result_index].type.element_type == dtypes.bf16:  # float32 register → bfloat16 memory
            value = f"{value}.to(tl.bfloat16)"
        self.em.line(f"tl.store({ptr} + {offset}, tl.broadcast_to({value}, {tile}), mask={mask})")

    def finish(self, template: str, constexprs: list[str], grid: list[str], blocks: dict[str, int],
               interpret_blocks: dict[str, int], autotune: list[dict[str, int]] | None = None) -> Kernel:  # fmt: skip
        r = self.region
        tables = [name for name, _ in self.ev.tables]
        head = signature(r.region_name, self.in_ptrs + self.out_ptrs + tables, constexprs)
        ops = ", ".join(op.name.removeprefix("graph.") for op in r.compute_ops())
        shapes = "; ".join(f"{p.removesuffix('_ptr')}: {_describe(v)}" for p, v in zip(self.in_ptrs + self.out_ptrs,
                           list(r.block.args) + self.results))  # fmt: skip
        doc = f'    """{r.region_name} ({r.kind_name}, {template} template): {ops}.\n\n    {shapes}\n    """'
        body = f"{head}\n{doc}\n{self.em.text()}\n"
        title = f"Region {r.region_name}: kind {r.kind_name}, {template} template."
        summary = f"One kernel for the region's {len(r.compute_ops())} ops."
        return Kernel(r.region_name, r.kind_name, template, kernel_file(title, summary, body), grid, blocks,
                      interpret_blocks, autotune or [], list(self.ev.tables))  # fmt: skip


def _describe(value) -> str:
    t = value.type
    return f"{'x'.join(str(d) for d in g.shape_of(t)) or 'scalar'} {t.element_type}"


def numel(value) -> int:
    return prod(g.shape_of(value.type))
