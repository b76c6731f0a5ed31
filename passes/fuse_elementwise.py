"""fuse-elementwise: loop fusion of elementwise, broadcast and data-movement chains.

Takes: `graph` dialect, possibly with `fusion.region`s. Leaves: chains of ops from
`graphc.dialects.fusion.ELEMENTAL_OPS` (elementwise ops, reshape/transpose/broadcast/slice/reverse/
pad/concat, pooling) merged into `loop` regions, highest cost-model priority first (XLA's priority
fusion), producer into consumer. A producer with several consumers is fused when they all land in
the region (otherwise it would become an extra result, which the loop template allows only at the
same iteration-space size). A producer smaller than its consumer's iteration space (it is
broadcast) is recomputed at every point, so it is fused only when it is pure data movement or
small. Ops that fuse with nothing stay plain here (`fuse-remaining` gives them their own region);
a plain reshape stays a free view. MLIR equivalent: linalg elementwise-op fusion.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.dialects import fusion as f
from graphc.passes.fuse_common import FusionPass, FusionState, Group, Node, is_view_only
from graphc.passes.fusion_cost_model import is_free, numel


@dataclass(frozen=True)
class FuseElementwisePass(FusionPass):
    name = "fuse-elementwise"

    def fuse(self, state: FusionState) -> None:
        def loop_capable(node: Node) -> bool:
            return node.kind == "loop" if isinstance(node, Group) else isinstance(node, f.ELEMENTAL_OPS)

        def space(node: Node) -> int:
            outputs = state.outputs(state.ops_of(node))
            return numel(outputs[0]) if outputs else 0

        def allowed(producer: Node, consumer: Node) -> bool:
            """A producer smaller than its consumer's space is recomputed at every point."""
            small = space(producer)
            return small >= space(consumer) or is_view_only(state.ops_of(producer)) or small <= self.small_elements

        def candidates(node: Node):
            if not loop_capable(node):
                return
            for consumer in state.users(node):
                if loop_capable(consumer) and allowed(node, consumer):
                    yield node, consumer, "loop"
            for producer in state.producers(node):
                if loop_capable(producer) and allowed(producer, node):
                    yield producer, node, "loop"

        nodes = [n for n in state.groups() if loop_capable(n)] + [op for op in state.plain_ops() if loop_capable(op)]
        state.fuse_greedily(candidates, nodes, accept_zero=lambda a, b: _free(a) or _free(b))


def _free(node: Node) -> bool:
    return not isinstance(node, Group) and is_free(node)
