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

    def run(
        self, inputs: Mapping[str, np.ndarray], out: Mapping[str, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """Runs the model. With `out` ({output name: array of the output's shape and dtype}), the
        results are written into those arrays, which are returned (like onnxruntime's IO binding):
        reusing them across calls avoids the page faults of fresh memory."""
        arrays = check_inputs(self.artifact.inputs, inputs, self.source)
        if out is None:
            results = self.executor.run(arrays)
        else:
            results = self.executor.run(arrays, check_outputs(self.artifact.outputs, out, self.source))
        return {spec.name: result for spec, result in zip(self.artifact.outputs, results)}


def check_inputs(specs: list[TensorSpec], inputs: Mapping[str, np.ndarray], source: str) -> list[np.ndarray]:
    """The inputs in signature order, or a one-line error naming every mismatch."""
    expected = [s.name for s in specs]
    if not isinstance(inputs, Mapping):
        raise RuntimeInputError(
            f"{source}: inputs must be a dict of input name → array (expected {', '.join(expected)}), "
            f"not a {type(inputs).__name__}"
        )
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
        array = as_bfloat16_if_raw(np.asarray(inputs[spec.name]), spec.dtype)
        if list(array.shape) != spec.shape:
            problems.append(f"input '{spec.name}' has shape {list(array.shape)}, expected {spec.shape}")
        elif array.dtype != np.dtype(spec.dtype):
            problems.append(f"input '{spec.name}' has dtype {array.dtype}, expected {spec.dtype}")
        arrays.append(array)
    if problems:
        raise RuntimeInputError(f"{source}: " + "; ".join(problems))
    return arrays


def as_bfloat16_if_raw(array: np.ndarray, dtype: str) -> np.ndarray:
    """A raw 2-byte void array (`|V2`, what `.npz` files hold for bfloat16, since numpy has no
    bfloat16 of its own) read as ml_dtypes' bfloat16 when `dtype` is "bfloat16"; else `array`."""
    if dtype == "bfloat16" and array.dtype.kind == "V" and array.dtype.itemsize == 2 and array.dtype.fields is None:
        return array.view(np.dtype("bfloat16"))
    return array


def check_outputs(specs: list[TensorSpec], out: Mapping[str, np.ndarray], source: str) -> list[np.ndarray]:
    """The caller's output arrays in signature order, or a one-line error naming every mismatch."""
    problems = [f"missing output array '{s.name}'" for s in specs if s.name not in out]
    problems += [f"unknown output '{k}'" for k in out if k not in {s.name for s in specs}]
    arrays = []
    for spec in specs:
        array = out.get(spec.name)
        if array is None:
            continue
        if not isinstance(array, np.ndarray) or not array.flags.writeable or not array.flags.c_contiguous:
            problems.append(f"output '{spec.name}' must be a writeable C-contiguous numpy array")
        elif list(array.shape) != spec.shape or array.dtype != np.dtype(spec.dtype):
            problems.append(
                f"output '{spec.name}' is {array.dtype}{list(array.shape)}, expected {spec.dtype}{spec.shape}"
            )
        arrays.append(array)
    if problems:
        raise RuntimeInputError(f"{source}: " + "; ".join(problems))
    return arrays


def load(path: str) -> LoadedModel:
    return LoadedModel(Artifact.load(path), source=path)
