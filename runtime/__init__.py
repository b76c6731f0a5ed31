"""graphc's runtime: load a compiled artifact, check inputs, run it, return numpy arrays.

It does not need the original model, and does not run graph passes: each backend's executor
(named in the artifact) gets the artifact's sections and weights and runs them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

import numpy as np

from graphc.runtime.artifact import Artifact, TensorSpec
from graphc.runtime.errors import ArtifactError, RuntimeInputError

__all__ = ["Artifact", "ArtifactError", "LoadedModel", "RuntimeInputError", "TensorSpec", "load"]


class LoadedModel:
    """A runnable model: `run({input name: array}) -> {output name: array}`."""

    def __init__(self, artifact: Artifact, source: str = "<artifact>"):
        self.artifact = artifact
        self.source = source
        module_name, _, class_name = artifact.executor.partition(":")
        try:
            executor_class = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as err:
            raise ArtifactError(
                f"{source}: the executor for backend '{artifact.backend}' ({artifact.executor}) is not available: {err}"
            ) from None
        self.executor = executor_class(artifact.meta, artifact.sections, artifact.weights)

    @property
    def inputs(self) -> list[TensorSpec]:
        return self.artifact.inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return self.artifact.outputs

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = check_inputs(self.artifact.inputs, inputs, self.source)
        results = self.executor.run(arrays)
        return {spec.name: result for spec, result in zip(self.artifact.outputs, results)}


def check_inputs(specs: list[TensorSpec], inputs: Mapping[str, np.ndarray], source: str) -> list[np.ndarray]:
    """The inputs in signature order, or a one-line error naming every mismatch."""
    expected = [s.name for s in specs]
    unknown = [k for k in inputs if k not in expected]
    missing = [n for n in expected if n not in inputs]
    problems = []
    if missing:
        problems.append(f"missing input(s) {', '.join(repr(m) for m in missing)}")
    if unknown:
        problems.append(f"unknown input(s) {', '.join(repr(u) for u in unknown)} (expected {', '.join(expected)})")
    arrays = []
    for spec in specs:
        if spec.name not in inputs:
            continue
        array = np.asarray(inputs[spec.name])
        if list(array.shape) != spec.shape:
            problems.append(f"input '{spec.name}' has shape {list(array.shape)}, expected {spec.shape}")
        elif array.dtype != np.dtype(spec.dtype):
            problems.append(f"input '{spec.name}' has dtype {array.dtype}, expected {spec.dtype}")
        arrays.append(array)
    if problems:
        raise RuntimeInputError(f"{source}: " + "; ".join(problems))
    return arrays


def load(path: str) -> LoadedModel:
    return LoadedModel(Artifact.load(path), source=path)
