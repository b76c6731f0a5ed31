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
from graphc.calibration import QuantizeOptions
from graphc.dialects import dtypes
from graphc.dialects.resources import GraphProgram
from graphc.dumps import STAGES, IRDumper, load_stage
from graphc.errors import GraphcError
from graphc.frontends import import_model
from graphc.passes import DEFAULT_PIPELINE, FUSION_PIPELINE, LOWER_QUANT_PIPELINE, QUANTIZE_PIPELINE
from graphc.passes.lower_quant import has_quant_ops
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
    before_pass: Callable | None = None,
    dumper: IRDumper | None = None,
    weights: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
    target_options: Mapping[str, object] | None = None,
    quantize: QuantizeOptions | None = None,
) -> CompiledModel:
    """`fusion`: run `FUSION_PIPELINE` after `pipeline` (default: when the backend supports regions).
    `quantize`: post-training int8 quantization (calibrate on its samples, then `QUANTIZE_PIPELINE`).

    `model` may be a `.mlir` file dumped by `--dump-ir`/`--compile-to` (possibly edited): compilation
    resumes from its stage (`graphc.dumps.load_stage`), with weights from `weights` (an `.npz` keyed by
    resource name; default: the `.weights.npz` beside it). `dumper` prints/dumps the IR around passes.
    `target_options` go to the backend's `configure` (e.g. the systolic target's machine)."""
    stats = CompileStats()
    start = time.perf_counter()
    try:
        backend = get_backend(target)
    except KeyError as err:
        raise GraphcError(str(err.args[0])) from None
    if target_options:
        configure = getattr(backend, "configure", None)
        if configure is None:
            raise GraphcError(f"target '{target}' takes no options (given: {', '.join(target_options)})")
        configure(**target_options)
    if progress is not None:
        progress("import")
    program, stage = load_program(model, input_shapes, inputs=inputs, outputs=outputs, weights=weights)
    stats.stages["parse"] = time.perf_counter() - start
    return compile_program(program, backend, stats, pipeline=pipeline, verify_each=verify_each, after_pass=after_pass,
                           fusion=fusion, before_pass=before_pass, dumper=dumper, stage=stage,
                           progress=progress, quantize=quantize)  # fmt: skip


def is_mlir_input(model) -> bool:
    return isinstance(model, str | os.PathLike) and os.fspath(model).lower().endswith(".mlir")


def load_program(
    model: str | os.PathLike | bytes,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    *,
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
    weights: str | os.PathLike | None = None,
) -> tuple[GraphProgram, str]:
    """The program and its stage: a model through its front end (`import`), or a dumped `.mlir` stage."""
    if is_mlir_input(model):
        if input_shapes or inputs or outputs:
            raise GraphcError("input shapes and input/output names are fixed in a .mlir stage (edit @main to "
                              "change them)", source=os.fspath(model))  # fmt: skip
        return load_stage(os.fspath(model), os.fspath(weights) if weights is not None else None)
    program = import_model(
        model,
        input_shapes={k: tuple(v) for k, v in (input_shapes or {}).items()},
        inputs=inputs,
        outputs=outputs,
    )
    return program, "import"


def compile_to(
    model: str | os.PathLike | bytes,
    stage: str,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    *,
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
    pipeline: str = DEFAULT_PIPELINE,
    verify_each: bool = False,
    before_pass: Callable | None = None,
    after_pass: Callable | None = None,
    dumper: IRDumper | None = None,
    weights: str | os.PathLike | None = None,
    stats: CompileStats | None = None,
    quantize: QuantizeOptions | None = None,
) -> GraphProgram:
    """The program after `stage` (`import`, `graph` or `fusion`; `graphc.dumps.STAGES`), for
    `--compile-to`: print it and save its weights to resume later."""
    if stage not in STAGES:
        raise GraphcError(f"unknown stage '{stage}' (stages: {', '.join(STAGES)})")
    stats = stats if stats is not None else CompileStats()
    start = time.perf_counter()
    program, at = load_program(model, input_shapes, inputs=inputs, outputs=outputs, weights=weights)
    stats.stages["parse"] = time.perf_counter() - start
    if STAGES.index(at) > STAGES.index(stage):
        raise GraphcError(f"the input is already past stage '{stage}' (it is at '{at}')",
                          source=os.fspath(model) if not isinstance(model, bytes) else None)  # fmt: skip
    if quantize is not None and stage == "import":
        raise GraphcError("--quantize needs --compile-to graph or fusion (quantization follows the graph passes)")
    _run_passes(program, at, stage, stats, pipeline=pipeline, verify_each=verify_each, before_pass=before_pass,
                after_pass=after_pass, dumper=dumper, quantize=quantize)  # fmt: skip
    return program


def _run_passes(program: GraphProgram, at: str, upto: str, stats: CompileStats, *, pipeline: str, verify_each: bool,
                before_pass: Callable | None, after_pass: Callable | None, dumper: IRDumper | None,
                progress: Callable[[str], None] | None = None, quantize: QuantizeOptions | None = None) -> None:  # fmt: skip
    """Runs the pipelines that take `program` from stage `at` to stage `upto` (the graph pipeline
    runs again on `graph`-stage IR: its passes are idempotent), numbering passes across them.
    With `quantize`, calibration and `QUANTIZE_PIPELINE` follow the graph pipeline."""
    announce = (lambda index, module_pass, module: progress(module_pass.name)) if progress else None
    befores = [h for h in (before_pass, dumper.before_pass if dumper else None, announce) if h]
    afters = [h for h in (after_pass, dumper.after_pass if dumper else None) if h]
    if dumper is not None:
        dumper.bind_weights(program.weights)
        dumper.start(at, program.module)
    stats.passes = stats.passes or PipelineReport()
    if at == "fusion" and upto != "fusion":  # e.g. --no-fusion or a backend without regions
        pipelines = ["unfuse", pipeline]
    else:
        pipelines = [pipeline] if at != "fusion" and upto != "import" else []
        if upto == "fusion" and at != "fusion":
            pipelines.append(FUSION_PIPELINE)
    if quantize is not None:
        if at == "fusion":
            raise GraphcError("cannot quantize a fusion-stage input: quantize the model or a graph-stage dump")
        if upto != "import":
            pipelines.insert(1, QUANTIZE_PIPELINE)
    for spec in pipelines:
        offset = len(stats.passes.timings)
        if spec == FUSION_PIPELINE:
            stats.unfused = unfused_cost(program.main.body.block.ops)
        if spec == QUANTIZE_PIPELINE:
            calibration_start = time.perf_counter()
            if progress is not None:
                progress("calibration")
            quantize.calibrate(program)
            stats.stages["calibration"] = time.perf_counter() - calibration_start
        hooks = {}
        if befores:
            hooks["before_pass"] = lambda i, p, m, o=offset: [h(o + i, p, m) for h in befores]
        if afters:
            hooks["after_pass"] = lambda i, p, m, o=offset: [h(o + i, p, m) for h in afters]
        fusion_start = time.perf_counter()
        report = run_pipeline(program, spec, verify_each=verify_each, **hooks)
        if spec == FUSION_PIPELINE:
            stats.stages["fusion"] = time.perf_counter() - fusion_start
        stats.passes.timings.extend(report.timings)


def compile_program(
    program: GraphProgram,
    backend,
    stats: CompileStats | None = None,
    *,
    pipeline: str = DEFAULT_PIPELINE,
    verify_each: bool = False,
    after_pass: Callable | None = None,
    fusion: bool | None = None,
    before_pass: Callable | None = None,
    dumper: IRDumper | None = None,
    stage: str = "import",
    progress: Callable[[str], None] | None = None,
    quantize: QuantizeOptions | None = None,
) -> CompiledModel:
    """`stage`: where `program` is (`import`, `graph` or `fusion`, see `compile_to`); `progress` is
    called with each stage's name as it starts (`graphc.progress`)."""
    stats = stats or CompileStats()
    start = time.perf_counter()
    if stage != "fusion" and not getattr(backend, "supports_quant", False) and has_quant_ops(program.module):
        pipeline = f"{pipeline},{LOWER_QUANT_PIPELINE}"  # int8 ops as graph ops for this backend
    use_fusion = getattr(backend, "supports_fusion", False) if fusion is None else fusion
    _run_passes(program, stage, "fusion" if use_fusion else "graph", stats, pipeline=pipeline, verify_each=verify_each,
                before_pass=before_pass, after_pass=after_pass, dumper=dumper, progress=progress,
                quantize=quantize)  # fmt: skip
    try:
        program.module.verify()
    except VerifyException as err:
        raise GraphcError(f"internal error: IR does not verify after the graph passes: {err}") from None
    stats.stages["passes"] = time.perf_counter() - start
    start = time.perf_counter()
    if progress is not None:
        progress(f"backend {backend.name}")
    output: BackendOutput = backend.compile(program)
    stats.stages["backend"] = time.perf_counter() - start
    for key, seconds in output.meta.get("stage_seconds", {}).items():
        stats.stages[f"backend.{key}"] = seconds
    if dumper is not None:
        dumper.finish(backend.name, output.sections, program.weights.arrays)
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
