"""Runs pass pipelines on a `GraphProgram`, with the program's weights bound for the passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import VerifyException

from graphc.context import make_context
from graphc.dialects.resources import GraphProgram
from graphc.errors import GraphcError
from graphc.passes import DEFAULT_PIPELINE, PASSES
from graphc.passes.weights_context import bound_weights


@dataclass
class PassTiming:
    name: str
    seconds: float
    ops_after: int
    ops_before: int = 0


@dataclass
class PipelineReport:
    timings: list[PassTiming] = field(default_factory=list)


def run_pipeline(
    program: GraphProgram,
    spec: str = DEFAULT_PIPELINE,
    *,
    verify_each: bool = False,
    after_pass: Callable[[int, ModulePass, ModuleOp], None] | None = None,
    before_pass: Callable[[int, ModulePass, ModuleOp], None] | None = None,
) -> PipelineReport:
    """Applies the passes of `spec` (xDSL pipeline syntax) to `program` in place.

    `before_pass`/`after_pass` are called with the pass's index in `spec`, the pass and the module."""
    report = PipelineReport()
    try:
        pipeline = PassPipeline.parse_spec(PASSES, spec)
    except ValueError as err:
        raise GraphcError(f"bad pass pipeline '{spec}': {err}") from None
    ctx = make_context()
    with bound_weights(program.weights):
        ops = _count_ops(program.module)
        for index, module_pass in enumerate(pipeline.passes):
            if before_pass is not None:
                before_pass(index, module_pass, program.module)
            start = time.perf_counter()
            module_pass.apply(ctx, program.module)
            elapsed = time.perf_counter() - start
            if verify_each:
                try:
                    program.module.verify()
                except VerifyException as err:
                    raise GraphcError(f"IR does not verify after pass '{module_pass.name}': {err}") from None
            ops_before, ops = ops, _count_ops(program.module)
            report.timings.append(PassTiming(module_pass.name, elapsed, ops, ops_before))
            if after_pass is not None:
                after_pass(index, module_pass, program.module)
    return report


def _count_ops(module: ModuleOp) -> int:
    return sum(1 for _ in module.walk())
