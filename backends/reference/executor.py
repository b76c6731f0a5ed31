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

    def run(self, inputs: list[np.ndarray], outputs: list[np.ndarray] | None = None) -> list[np.ndarray]:
        results = [np.asarray(o) for o in self._fn(inputs)]
        if outputs is None:
            return results
        for out, result in zip(outputs, results):
            np.copyto(out, result)
        return list(outputs)


class JittedProgram:
    """A program under `jax.jit`, weights passed as arguments: call it with the inputs in order.

    `lower(inputs)` gives jax's `Lowered` object (for `.compile().as_text()`: XLA's optimized HLO).
    """

    def __init__(self, program: GraphProgram):
        enable_jax_x64()
        import jax
        import jax.numpy as jnp

        from graphc.dialects import graph as g
        from graphc.dialects.resources import constant_value
        from graphc.dialects.semantics import evaluate_function

        main = program.main
        constants = [op for op in main.body.block.ops if isinstance(op, g.ConstantOp)]
        self.weights = [jnp.asarray(constant_value(op, program.weights)) for op in constants]

        def body(inputs, weight_values):
            table = dict(zip(constants, weight_values))
            return evaluate_function(main, program.weights, inputs, jnp, constant_loader=table.__getitem__)

        self._jnp = jnp
        self.jitted = jax.jit(body)

    def __call__(self, inputs):
        return self.jitted([self._jnp.asarray(x) for x in inputs], self.weights)

    def lower(self, inputs):
        return self.jitted.lower([self._jnp.asarray(x) for x in inputs], self.weights)


def jit_program(program: GraphProgram) -> JittedProgram:
    return JittedProgram(program)
