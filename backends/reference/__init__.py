"""The reference backend: the graph dialect evaluated with jax.numpy under `jax.jit`.

It is the oracle every other backend is tested against (its op meanings are
`graphc.dialects.semantics`, shared with constant folding), and the XLA peer in benchmarks. Its
artifact section is the graph-dialect IR text; weights stay in the artifact's weight table and are
passed to the jitted function as arguments (so XLA does not bake them in as constants).
"""

from __future__ import annotations

from graphc.backends.base import BackendOutput
from graphc.dialects import graph as g
from graphc.dialects.resources import GraphProgram


class ReferenceBackend:
    name = "reference"
    executor = "graphc.backends.reference.executor:ReferenceExecutor"

    def compile(self, program: GraphProgram) -> BackendOutput:
        text = str(program.module).encode()
        schedule = [
            op.name for op in program.main.body.block.ops if isinstance(op, g.GraphOp) and not isinstance(op, g.ConstantOp)
        ]
        return BackendOutput(meta={}, sections={"graph.mlir": text}, schedule=schedule)
