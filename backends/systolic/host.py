"""Compiling the host segments: the CPU backend, or the reference backend where the CPU cannot.

Takes one host segment (`GraphProgram`); gives the backend that compiles it, its output, and the
reason when it is not the CPU backend. The CPU backend is used whenever it compiles the segment and
is known to compute it correctly. Two cases fall back to the `reference` backend (jax.numpy, the
oracle), so a model still runs, visibly (`--report` and the artifact's placement say why):
- the CPU backend raises its "unsupported" error (a `NotImplementedError`);
- the segment holds `quant.quantize`/`dequantize`/`requantize` and the CPU backend fails a one-time
  probe on those ops (a tiny program compared with `quant_arith`). Before the CPU backend has int8
  kernels it lowers them as plain casts without an error, which would silently give wrong int8 data;
  once it computes them exactly, the probe passes and every segment runs natively.
"""

from __future__ import annotations

import functools

import numpy as np
from xdsl.dialects.builtin import IntegerType

from graphc.backends.registry import get_backend
from graphc.dialects import quant as q
from graphc.dialects.resources import GraphProgram

QUANT_ELEMENTWISE = (q.QuantizeOp, q.DequantizeOp, q.RequantizeOp)


def compile_host(segment: GraphProgram):
    """(backend, output, fallback reason or None) for one host segment."""
    cpu = get_backend("cpu")
    reason = None
    if any(isinstance(op, QUANT_ELEMENTWISE) for op in segment.module.walk()) and not cpu_computes_quant_ops():
        reason = "the CPU backend does not compute quant.quantize/dequantize/requantize exactly yet"
    else:
        try:
            return cpu, cpu.compile(segment), None
        except NotImplementedError as err:  # the CPU backend's "unsupported op" errors
            reason = str(err).split(": ", 1)[-1][:160]
    reference = get_backend("reference")
    return reference, reference.compile(segment), reason


@functools.cache
def cpu_computes_quant_ops() -> bool:
    """Whether the CPU backend compiles quantize → requantize → dequantize bit-exactly (run once)."""
    from graphc.dialects import graph as g
    from graphc.dialects.builder import ProgramBuilder
    from graphc.dialects.semantics import evaluate_program
    from graphc.driver import compile_program
    from graphc.passes import FUSION_PIPELINE
    from graphc.pipeline import run_pipeline

    b = ProgramBuilder({"x": ((2, 16), np.float32)})
    xq = b.op(q.QuantizeOp, b.args["x"], **q.QuantParams(np.float32([0.013]), np.int64([-7])).attributes())
    wide = b.op(g.MulOp, b.op(g.CastOp, xq, to=IntegerType(32)), b.const(np.int32([977])))
    yq = b.op(q.RequantizeOp, wide, **q.RequantizeParams.from_scale([0.0037], 5, -100, 120).attributes())
    y = b.op(q.DequantizeOp, yq, **q.QuantParams(np.float32([0.05]), np.int64([5])).attributes())
    program = b.build({"yq": yq, "y": y})
    x = np.linspace(-2.5, 2.5, 32, dtype=np.float32).reshape(2, 16)
    want = evaluate_program(program.clone(), {"x": x})
    try:
        run_pipeline(program, FUSION_PIPELINE)
        got = compile_program(program, get_backend("cpu")).run({"x": x})
    except Exception:  # noqa: BLE001 — any failure means "not supported"
        return False
    return all(np.array_equal(got[k], np.asarray(want[k])) for k in want)
