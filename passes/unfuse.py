"""unfuse: inlines every `fusion.region` back into plain graph ops.

Takes: `graph` dialect with `fusion.region`s. Leaves: plain `graph` dialect computing the same
values (region bodies moved in place, block arguments replaced by the operands, results by the
yielded values). For backends that do not consume regions, and for debugging a fusion decision
(`graphc opt dump.mlir -p unfuse`). Inline constants copied into regions stay as plain constants.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from graphc.dialects import fusion as f


@dataclass(frozen=True)
class UnfusePass(ModulePass):
    name = "unfuse"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for region in [node for node in op.walk() if isinstance(node, f.RegionOp)]:
            f.inline(region)
