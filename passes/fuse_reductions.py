"""fuse-reductions: reductions with their elementwise producers and consumers, as one region.

Takes: `graph` dialect, possibly with `fusion.region`s. Leaves: every plain reduction in a
`reduction` region, together with what the cost model says to fuse around it: elementwise and
data-movement producers of its input (computed while reading the row), consumers that produce full
or row-shaped values (the normalised output of a softmax, `rsqrt(var + eps)`), and further
reductions over the same shape and axes (softmax's max and sum, layer norm's mean and variance).
The region records the iteration space (`shape`), the reduced axes (`reduce_axes`) and the
number of passes over a row the math needs (`sweeps`: 2 for softmax and layer norm, with the
online-softmax and Welford merges; see `graphc.dialects.fusion`). MLIR/XLA equivalent: XLA's
reduction fusion with multi-output "row reductions"; Triton's fused softmax/layernorm kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.ir import Operation

from graphc.dialects import fusion as f
from graphc.dialects import graph as g
from graphc.passes.fuse_common import FusionPass, FusionState, Group, Node, is_view_only
from graphc.passes.fusion_cost_model import numel

JOINABLE = f.ELEMENTWISE_OPS + f.VIEW_OPS + f.REDUCTION_OPS


@dataclass(frozen=True)
class FuseReductionsPass(FusionPass):
    name = "fuse-reductions"

    def fuse(self, state: FusionState) -> None:
        for op in state.plain_ops():
            if isinstance(op, f.REDUCTION_OPS):
                state.new_group("reduction", [op])

        def space(group: Group) -> tuple[int, ...]:
            r = next(op for op in group.ops if isinstance(op, f.REDUCTION_OPS))
            return g.shape_of(r.operands[0].type)

        def candidates(group: Node):
            if isinstance(group, Group) and group.kind == "reduction":
                full = space(group)
                for other in state.users(group):
                    if isinstance(other, Group) and other.kind == "reduction" or isinstance(other, JOINABLE):
                        yield group, other, "reduction"
                for other in state.producers(group):
                    if isinstance(other, Group):
                        if other.kind == "reduction":
                            yield group, other, "reduction"
                    elif isinstance(other, JOINABLE) and self._cheap_enough(other, full):
                        yield other, group, "reduction"

        state.fuse_greedily(candidates, state.groups())

    def _cheap_enough(self, producer: Operation, full: tuple[int, ...]) -> bool:
        """A producer smaller than the iteration space is recomputed at every point that reads it:
        only data movement or small tensors may be (the cost model prices the recomputation)."""
        count = numel(producer.results[0])
        return count >= _prod(full) or is_view_only([producer]) or count <= self.small_elements


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out
