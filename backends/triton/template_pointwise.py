"""The pointwise template: a `loop` region (and an opaque gather/resize) as a 1-D blocked kernel.

Takes a region whose results all have prod(`shape`) elements; leaves a kernel where program p
covers linear indices [p·BLOCK, (p+1)·BLOCK) of the iteration space (masked tail), evaluates every
result there elementally (`elemental.Elemental`) and stores it at the same linear index.
"""

from __future__ import annotations

from math import prod

from graphc.backends.triton.kernel import Kernel, KernelBuilder
from graphc.backends.triton.source import pow2_at_least
from graphc.dialects import fusion
from graphc.dialects import graph as g

AUTOTUNE = [{"BLOCK": 256, "num_warps": 2}, {"BLOCK": 1024, "num_warps": 4}, {"BLOCK": 2048, "num_warps": 8}]


def compile_pointwise(region: fusion.RegionOp) -> Kernel:
    kb = KernelBuilder(region)
    shape = g.shape_of(kb.results[0].type)
    count = prod(shape)
    em = kb.em
    em.comment(f"iteration space {list(shape)}: {count} elements, one per lane")
    kb.block_var("offs", f"{kb.program_id(0)} * BLOCK + tl.arange(0, BLOCK)")
    kb.block_var("mask", f"offs < {count}")
    for i, value in enumerate(kb.results):
        idx = kb.ev.delinearize("offs", g.shape_of(value.type))
        v = kb.ev.at(value, idx, "mask")
        kb.store(i, "offs", v, "mask", "[BLOCK]")
    blocks = {"BLOCK": pow2_at_least(count, 16, 1024)}
    interpret = {"BLOCK": pow2_at_least(count, 16, 16384)}
    return kb.finish("pointwise", ["BLOCK"], [f"cdiv({count}, BLOCK)"], blocks, interpret, AUTOTUNE)
