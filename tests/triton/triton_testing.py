"""Helpers for the triton template tests: build a program, compile it for triton, compare with the oracle.

`check(program, arrays, template)` runs `program` through the default pipeline (fusion included)
and the triton backend under the interpreter with the GPU heuristic's block sizes (so masked tails
and multi-block loops are exercised, not the interpreter's one-block launches), compares every
output with `graphc.dialects.semantics` (numpy) at `graphc.testing`'s tolerances, and checks that
a kernel of the expected template ran.
"""

from __future__ import annotations

import os

import numpy as np

from graphc.backends.registry import get_backend
from graphc.dialects import graph as g
from graphc.dialects import semantics
from graphc.dialects.builder import ProgramBuilder
from graphc.driver import compile_program
from graphc.testing import compare_outputs


def run_triton(program, arrays, heuristic_blocks: bool = True):
    os.environ["GRAPHC_TRITON_BLOCKS"] = "heuristic" if heuristic_blocks else "interpret"
    try:
        model = compile_program(program.clone(), get_backend("triton"))
        return model.run(dict(zip(program.input_names, arrays))), model.artifact
    finally:
        del os.environ["GRAPHC_TRITON_BLOCKS"]


def check(program, arrays, template: str) -> None:
    got, artifact = run_triton(program, arrays)
    ref = semantics.evaluate_program(program, dict(zip(program.input_names, arrays)))
    problems = compare_outputs(got, {k: np.asarray(v) for k, v in ref.items()})
    assert not problems, "; ".join(problems)
    templates = [k["template"] for k in artifact.meta["kernels"]]
    assert any(t.startswith(template) for t in templates), templates


def program(inputs: dict, body) -> object:
    """inputs: name → (shape, dtype); body(b, *args) returns {output name: value}."""
    b = ProgramBuilder(inputs)
    return b.build(body(b, *b.inputs))


def floats(rng, shape, dtype=np.float32, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


ints = g.ints_attr
one = g.int_attr
