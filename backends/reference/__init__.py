"""The reference backend: the graph dialect evaluated with jax.numpy under `jax.jit`.

It is the oracle every other backend is tested against (its op meanings are
`graphc.dialects.semantics`, shared with constant folding), and the XLA peer in benchmarks. Its
artifact section is the graph-dialect IR text; weights stay in the artifact's weight table and are
passed to the jitted function as arguments (so XLA does not bake them in as constants).

It consumes fusion regions (`supports_fusion`): a `fusion.region` means its body
(`graphc.dialects.semantics`), so every test through this backend also checks the fused IR, and its
schedule lists the regions as kernels.
"""

from __future__ import annotations

from graphc.backends.base import BackendOutput
from graphc.dialects import fusion
from graphc.dialects import graph as g
from graphc.dialects.resources import GraphProgram


class ReferenceBackend:
    name = "reference"
    executor = "graphc.backends.reference.executor:ReferenceExecutor"
    supports_fusion = True
    supports_quant = True  # graphc.dialects.semantics runs quant ops (graphc.dialects.quant_arith)

    def compile(self, program: GraphProgram) -> BackendOutput:
        text = str(program.module).encode()
        return BackendOutput(meta={}, sections={"graph.mlir": text}, schedule=schedule_of(program))


def schedule_of(program: GraphProgram) -> list[str]:
    """Kernel names in order: each region by its name, each other op (not a constant, not a
    free reshape view next to regions) by its op name."""
    ops = list(program.main.body.block.ops)
    fused = any(isinstance(op, fusion.RegionOp) for op in ops)
    schedule = []
    for op in ops:
        if isinstance(op, fusion.RegionOp):
            schedule.append(op.region_name)
        elif isinstance(op, g.GraphOp) and not isinstance(op, g.ConstantOp):
            if not (fused and isinstance(op, g.ReshapeOp)):
                schedule.append(op.name)
    return schedule
