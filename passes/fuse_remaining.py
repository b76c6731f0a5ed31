"""fuse-remaining: gives every op the other fuse passes left alone a region of its own.

Takes: `graph` dialect with `fusion.region`s. Leaves: every graph op in exactly one region: a plain
op becomes a single-op region of its template's kind (`loop` for elemental ops, `reduction`,
`matmul`, `conv`) or `opaque` when no template exists (gather, gather_nd, gather_elements,
scatter_elements, scatter_nd, top_k, resize, cumsum/cumprod, argmax/argmin). Outside regions remain only `graph.constant`, free `graph.reshape` views and
`func.return` — the form backends with `supports_fusion` consume. Run it last.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.dialects import graph as g
from graphc.passes.fuse_common import FusionPass, FusionState, default_kind


@dataclass(frozen=True)
class FuseRemainingPass(FusionPass):
    name = "fuse-remaining"

    def fuse(self, state: FusionState) -> None:
        for op in state.plain_ops():
            if isinstance(op, g.GraphOp) and not isinstance(op, g.ConstantOp | g.ReshapeOp):
                state.new_group(default_kind(op), [op])
