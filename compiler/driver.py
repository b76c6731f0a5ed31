"""`graphc.compile`: model file → front end → graph passes → backend → artifact, in memory.

The result is a `CompiledModel`: runnable at once (through the same runtime that runs saved
artifacts, so what you test is what you ship) and savable to one file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from xdsl.utils.exceptions import VerifyException

from graphc.backends.base import BackendOutput
from graphc.backends.registry import get_backend
from graphc.dialects import dtypes
from graphc.dialects.resources import GraphProgram
from graphc.errors import GraphcError
from graphc.frontends import import_model
from graphc.passes import DEFAULT_PIPELINE, FUSION_PIPELINE
from graphc.passes.fusion_cost_model import Cost, unfused_cost
from graphc.pipeline import PipelineReport, run_pipeline
from graphc.runtime import LoadedModel
from graphc.runtime.artifact import Artifact, TensorSpec


@dataclass
class CompileStats:
    """Seconds per stage, for `tools/bench_compile.py` and `--timing`."""

    stages: dict[str, float] = field(default_factory=dict)
    passes: PipelineReport | None = None
    unfused: Cost | None = None
    """The cost model's bytes for the graph before fusion, every op its own kernel (`--report`)."""


class CompiledModel:
    def __init__(self, artifact: Artifact, program: GraphProgram | None = None, stats: CompileStats | None = None):
        self.artifact = artifact
        self.program = program
        self.stats = stats or CompileStats()
        self._loaded: LoadedModel | None = None

    @property
    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = LoadedModel(self.artifact, source="<compiled model>")
        return self._loaded

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.artifact.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.artifact.outputs]

    def run(self, inputs: Mapping[str, np.ndarray], out: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """See `graphc.runtime.LoadedModel.run` (`out` reuses the caller's output arrays)."""
        return self.loaded.run(inputs, out)

    def save(self, path: str | os.PathLike) -> None:
        self.artifact.save(os.fspath(path))


def compile(
    model: str | os.PathLike | bytes,
    target: str = "cpu",
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    *,
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
    pipeline: str = DEFAULT_PIPELINE,
    verify_each: bool = False,
    after_pass: Callable | None = None,
    fusion: bool | None = None,
) -> CompiledModel:
    """`fusion`: run `FUSION_PIPELINE` after `pipeline` (default: when the backend supports regions)."""
    stats = CompileStats()
    start = time.perf_counter()
    try:
        backend = get_backend(target)
    except KeyError as err:
        raise GraphcError(str(err.args[0])) from None
    program = import_model(
        model,
        input_shapes={k: tuple(v) for k, v in (input_shapes or {}).items()},
        inputs=inputs,
        outputs=outputs,
    )
    stats.stages["parse"] = time.perf_counter() - start
    return compile_program(program, backend, stats, pipeline=pipeline, verify_each=verify_each, after_pass=after_pass,
                           fusion=fusion)  # fmt: skip


def compile_program(
    program: GraphProgram,
    backend,
    stats: CompileStats | None = None,
    *,
    pipeline: str = DEFAULT_PIPELINE,
    verify_each: bool = False,
    after_pass: Callable | None = None,
    fusion: bool | None = None,
) -> CompiledModel:
    stats = stats or CompileStats()
    start = time.perf_counter()
    stats.passes = run_pipeline(program, pipeline, verify_each=verify_each, after_pass=after_pass)
    if getattr(backend, "supports_fusion", False) if fusion is None else fusion:
        fusion_start = time.perf_counter()
        stats.unfused = unfused_cost(program.main.body.block.ops)
        offset = len(stats.passes.timings)
        shifted = (lambda i, p, m: after_pass(offset + i, p, m)) if after_pass else None
        fused = run_pipeline(program, FUSION_PIPELINE, verify_each=verify_each, after_pass=shifted)
        stats.passes.timings.extend(fused.timings)
        stats.stages["fusion"] = time.perf_counter() - fusion_start
    try:
        program.module.verify()
    except VerifyException as err:
        raise GraphcError(f"internal error: IR does not verify after the graph passes: {err}") from None
    stats.stages["passes"] = time.perf_counter() - start
    start = time.perf_counter()
    output: BackendOutput = backend.compile(program)
    stats.stages["backend"] = time.perf_counter() - start
    for key, seconds in output.meta.get("stage_seconds", {}).items():
        stats.stages[f"backend.{key}"] = seconds
    artifact = Artifact(
        backend=backend.name,
        executor=backend.executor,
        inputs=_specs(program.input_names, [a.type for a in program.main.args]),
        outputs=_specs(program.output_names, list(program.main.function_type.outputs)),
        schedule=output.schedule,
        meta=output.meta,
        sections=output.sections,
        weights=_artifact_weights(program, output.weight_names),
    )
    return CompiledModel(artifact, program, stats)


def _artifact_weights(program: GraphProgram, names: list[str] | None) -> dict[str, np.ndarray]:
    if names is None:
        return dict(program.weights.arrays)
    missing = [n for n in names if n not in program.weights]
    if missing:
        raise GraphcError(f"internal error: the backend needs weights the program lacks: {', '.join(missing)}")
    return {n: program.weights[n] for n in names}


def _specs(names: list[str], types) -> list[TensorSpec]:
    return [
        TensorSpec(name, [int(d) for d in t.get_shape()], dtypes.to_numpy_dtype(t.element_type).name)
        for name, t in zip(names, types)
    ]
