"""fuse-siblings: multi-output fusion of kernels that read the same input.

Takes: `graph` dialect with `fusion.region`s (typically after the other fuse passes). Leaves: pairs of
loop/reduction kernels (regions or plain ops that would become one) that read a common value and do
not depend on each other merged into one region with the results of both, when the cost model says
reading the shared input once (and starting one kernel fewer) pays: loop + loop when their iteration
spaces have the same size, reduction + reduction over the same shape and axes, and a loop kernel
into a reduction kernel when its results are full- or row-shaped (e.g. a reduce_sum and an
elementwise op over the same tensor). Matmul/conv regions keep their single root. MLIR/XLA
equivalent: XLA's multi-output (sibling) fusion.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.dialects import fusion as f
from graphc.dialects import graph as g
from graphc.passes.fuse_common import FusionPass, FusionState, Group, Node


@dataclass(frozen=True)
class FuseSiblingsPass(FusionPass):
    name = "fuse-siblings"

    def fuse(self, state: FusionState) -> None:
        def kind(node: Node) -> str | None:
            if isinstance(node, Group):
                return node.kind if node.kind in ("loop", "reduction") else None
            if isinstance(node, f.REDUCTION_OPS):
                return "reduction"
            if isinstance(node, f.ELEMENTAL_OPS) and not isinstance(node, g.ReshapeOp):  # reshapes are free views
                return "loop"
            return None

        def candidates(node: Node):
            if kind(node) is None:
                return
            for v in state.inputs(node):
                for use in v.uses:
                    other = state.node_of(use.operation)
                    if other is node or kind(other) is None:
                        continue
                    first, second = sorted((node, other), key=state.first_position)
                    merged = "reduction" if "reduction" in (kind(node), kind(other)) else "loop"
                    yield first, second, merged

        state.fuse_greedily(candidates, state.groups() + state.plain_ops())
