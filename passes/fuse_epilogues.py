"""fuse-epilogues: a matmul or convolution and the elementwise chain after it, as one region.

Takes: `graph` dialect, possibly with `fusion.region`s. Leaves: every plain `graph.matmul` /
`graph.conv2d` (or int8 `quant.matmul` / `quant.conv2d`, whose `quant.requantize` joins as epilogue)
in a `matmul` / `conv` region (its root), together with the consumers the cost model
says to fuse: elementwise ops and reshapes that keep the root's element count — bias add, batch-norm
scale and shift, relu, relu6 (`max`/`min` clamps), sigmoid/tanh/gelu chains, a residual add. Their
other operands (bias, scale, the residual) become region operands. An epilogue value that is also
used outside becomes an extra result (stored from the same registers). The backend applies the
epilogue to each output tile before storing it. MLIR equivalent: linalg elementwise-op fusion into a
matmul's consumer; XLA's "output fusion" of dot/convolution.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.dialects import fusion as f
from graphc.dialects import graph as g
from graphc.passes.fuse_common import FusionPass, FusionState, Group, Node, default_kind
from graphc.passes.fusion_cost_model import is_free

EPILOGUE_OPS = f.ELEMENTWISE_OPS + (g.ReshapeOp,)


@dataclass(frozen=True)
class FuseEpiloguesPass(FusionPass):
    name = "fuse-epilogues"

    def fuse(self, state: FusionState) -> None:
        for op in state.plain_ops():
            if isinstance(op, f.ROOT_TYPES):
                state.new_group(default_kind(op), [op])

        def candidates(group: Node):
            if isinstance(group, Group) and group.kind in f.ROOT_OPS:
                for user in state.users(group):
                    if not isinstance(user, Group) and isinstance(user, EPILOGUE_OPS):
                        yield group, user, group.kind

        state.fuse_greedily(candidates, state.groups(), accept_zero=lambda a, b: is_free(b))
