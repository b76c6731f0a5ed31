"""Runs a reference-backend artifact: parse the graph IR, evaluate it with jax.numpy under jit."""

from __future__ import annotations

import numpy as np

from graphc.dialects.resources import GraphProgram, WeightStore


def enable_jax_x64() -> None:
    """int64 tensors must stay int64 (jax defaults to 32-bit types)."""
    import jax

    jax.config.update("jax_enable_x64", True)


class ReferenceExecutor:
    def __init__(self, meta: dict, sections: dict[str, bytes], weights: dict[str, np.ndarray]):
        from graphc.context import parse_module

        module = parse_module(sections["graph.mlir"].decode(), source="graph.mlir")
        self.program = GraphProgram(module, WeightStore(dict(weights)))
        self._fn = jit_program(self.program)

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(o) for o in self._fn(inputs)]


def jit_program(program: GraphProgram):
    """A `fn(inputs: list) -> list` running the program under `jax.jit`, weights as arguments."""
    enable_jax_x64()
    import jax
    import jax.numpy as jnp

    from graphc.dialects import graph as g
    from graphc.dialects.resources import constant_value
    from graphc.dialects.semantics import evaluate_function

    main = program.main
    resource_ops = [op for op in main.body.block.ops if isinstance(op, g.ConstantOp)]
    weights = [jnp.asarray(constant_value(op, program.weights)) for op in resource_ops]

    def body(inputs, weight_values):
        table = dict(zip(resource_ops, weight_values))
        return evaluate_function(main, program.weights, inputs, jnp, constant_loader=table.__getitem__)

    jitted = jax.jit(body)
    return lambda inputs: jitted([jnp.asarray(x) for x in inputs], weights)
