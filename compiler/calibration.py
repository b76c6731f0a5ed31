"""Calibration for post-training int8 quantization: observe every float tensor's range.

Takes: a float `graph`-dialect program (after `DEFAULT_PIPELINE`) and calibration samples.
Leaves: the same program with the observed real range of every float value written into the IR —
`quant.range = array<f64: lo, hi>` on each op with one float result, and `quant.arg_ranges` (one
such array per argument, `[]` for non-float ones) on `@main` — which the `quantize-int8` pass reads.
Writing the ranges into the IR keeps the stage printable and resumable: a dump after calibration
can be fed to `graphc opt -p quantize-int8` like any other stage.

The float program runs through the reference backend's evaluation (jax.numpy under `jax.jit`, the
oracle), one batch of samples at a time, returning every float intermediate value.

Observers:
- `minmax`: the exact minimum and maximum over all samples.
- `percentile`: the 100−p and p percentiles (p = 99.99 by default) of the values, estimated from a
  deterministic subsample of at most 2^16 elements per tensor per batch, so one outlier does not
  stretch the scale of a whole tensor. The range never goes beyond min/max.

The default is `percentile` (99.99), measured on the fixtures with `tools/quant_accuracy.py`: the
digits CNN keeps its float accuracy with either observer (98.67 %), while percentile raises the
SQNR of MobileNetV2 from 28.3 to 30.3 dB and of the transformer block from 35.8 to 36.6 dB — a few
rare large activations (after residual adds, in attention) otherwise stretch a tensor's scale and
cost every other value resolution; clipping those few costs less.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ArrayAttr, DenseArrayBase, f64
from xdsl.ir import SSAValue

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects.resources import GraphProgram
from graphc.errors import GraphcError

OBSERVERS = ("minmax", "percentile")
DEFAULT_OBSERVER = "percentile"
DEFAULT_PERCENTILE = 99.99
RANGE_ATTR = "quant.range"
ARG_RANGES_ATTR = "quant.arg_ranges"
_SUBSAMPLE = 1 << 16


@dataclass
class Observer:
    """Running statistics of one tensor over the calibration batches."""

    percentile: float | None = None
    lo: float = np.inf
    hi: float = -np.inf
    samples: list[np.ndarray] = field(default_factory=list)

    def update(self, values: np.ndarray, rng: np.random.Generator) -> None:
        flat = np.asarray(values, np.float64).reshape(-1)
        flat = flat[np.isfinite(flat)]
        if flat.size == 0:
            return
        self.lo = min(self.lo, float(flat.min()))
        self.hi = max(self.hi, float(flat.max()))
        if self.percentile is not None:
            self.samples.append(flat if flat.size <= _SUBSAMPLE else rng.choice(flat, _SUBSAMPLE, replace=False))

    def range(self) -> tuple[float, float]:
        if self.lo > self.hi:  # never saw a finite value
            return 0.0, 0.0
        if self.percentile is None:
            return self.lo, self.hi
        values = np.concatenate(self.samples)
        lo = float(np.percentile(values, 100.0 - self.percentile))
        hi = float(np.percentile(values, self.percentile))
        return max(lo, self.lo), min(hi, self.hi)


def load_samples(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise GraphcError(f"cannot read calibration samples: {err}", source=path) from None


def batches(program: GraphProgram, samples: Mapping[str, np.ndarray], source: str = "calibration samples") -> list[list[np.ndarray]]:
    """The samples cut into inputs of the program's (static) input shapes.

    Each input's array is either a stack of whole inputs (`N × input shape`) or a stack of single
    items of the batch dimension (`N × input shape[1:]`), grouped `batch` at a time; a last partial
    group is filled up with the first items (it repeats samples, never invents them).
    """
    types = [a.type for a in program.main.args]
    missing = [n for n in program.input_names if n not in samples]
    if missing:
        raise GraphcError(f"no samples for input(s) {', '.join(missing)} (keys: {', '.join(samples) or 'none'})",
                          source=source)  # fmt: skip
    per_input = []
    for name, t in zip(program.input_names, types):
        shape = g.shape_of(t)
        dtype = dtypes.to_numpy_dtype(t.element_type)
        arr = np.asarray(samples[name])
        if arr.shape[1:] == shape:
            per_input.append([a.astype(dtype) for a in arr])
        elif shape and arr.shape[1:] == shape[1:]:
            b = shape[0]
            count = -(-len(arr) // b)
            padded = np.concatenate([arr, arr[: count * b - len(arr)]]) if len(arr) % b else arr
            per_input.append([padded[i * b : (i + 1) * b].astype(dtype) for i in range(count)])
        else:
            raise GraphcError(f"samples for '{name}' have shape {list(arr.shape)}: expected N×{list(shape)} or "
                              f"N×{list(shape[1:])}", source=source)  # fmt: skip
        if not per_input[-1]:
            raise GraphcError(f"no samples for '{name}'", source=source)
    count = min(len(p) for p in per_input)
    return [[p[i] for p in per_input] for i in range(count)]


def _float_values(program: GraphProgram) -> list[SSAValue]:
    values: list[SSAValue] = [a for a in program.main.args if _is_float(a)]
    for op in program.main.body.block.ops:
        if isinstance(op, g.GraphOp) and not isinstance(op, g.ConstantOp):
            values.extend(r for r in op.results if _is_float(r))
    return values


def _is_float(value: SSAValue) -> bool:
    return isinstance(value.type, g.TensorType) and dtypes.is_float(value.type.element_type)


def observe(program: GraphProgram, inputs: Iterable[list[np.ndarray]], observer: str = DEFAULT_OBSERVER,
            percentile: float = DEFAULT_PERCENTILE) -> dict[SSAValue, tuple[float, float]]:  # fmt: skip
    """The range of every float value of `@main` over the input batches."""
    if observer not in OBSERVERS:
        raise GraphcError(f"unknown calibration observer '{observer}' (observers: {', '.join(OBSERVERS)})")
    from graphc.backends.reference.executor import enable_jax_x64

    enable_jax_x64()
    import jax
    import jax.numpy as jnp

    from graphc.dialects.resources import constant_value
    from graphc.dialects.semantics import evaluate_function

    main = program.main
    watched = _float_values(program)
    constants = [op for op in main.body.block.ops if isinstance(op, g.ConstantOp)]
    weights = [jnp.asarray(constant_value(op, program.weights)) for op in constants]

    def run(args, weight_values):
        table = dict(zip(constants, weight_values))
        env: dict[SSAValue, object] = dict(zip(main.args, args))
        evaluate_function(main, program.weights, args, jnp, constant_loader=table.__getitem__,
                          observer=lambda op, results: env.update(zip(op.results, results)))  # fmt: skip
        return [env[v] for v in watched]

    jitted = jax.jit(run)
    rng = np.random.default_rng(0)
    observers = {v: Observer(percentile if observer == "percentile" else None) for v in watched}
    for batch in inputs:
        for v, value in zip(watched, jitted([jnp.asarray(x) for x in batch], weights)):
            observers[v].update(np.asarray(value), rng)
    return {v: o.range() for v, o in observers.items()}


def annotate(program: GraphProgram, ranges: Mapping[SSAValue, tuple[float, float]]) -> None:
    """Writes `ranges` into the IR (see the module docstring)."""
    main = program.main
    main.attributes[ARG_RANGES_ATTR] = ArrayAttr(
        [_range_attr(ranges[a]) if a in ranges else _range_attr(None) for a in main.args]
    )
    for op in main.body.block.ops:
        if len(op.results) == 1 and op.results[0] in ranges:
            op.attributes[RANGE_ATTR] = _range_attr(ranges[op.results[0]])


def _range_attr(r: tuple[float, float] | None) -> DenseArrayBase:
    return DenseArrayBase.from_list(f64, [] if r is None else [float(r[0]), float(r[1])])


def range_of(value: SSAValue) -> tuple[float, float] | None:
    """The calibrated range written by `annotate`, or None."""
    owner = value.owner
    if isinstance(owner, g.GraphOp):
        attr = owner.attributes.get(RANGE_ATTR)
    else:
        func_op = owner.parent_op() if hasattr(owner, "parent_op") else None
        arg_ranges = func_op.attributes.get(ARG_RANGES_ATTR) if func_op is not None else None
        attr = arg_ranges.data[value.index] if arg_ranges is not None else None
    if not isinstance(attr, DenseArrayBase):
        return None
    values = attr.get_values()
    return (float(values[0]), float(values[1])) if len(values) == 2 else None


@dataclass(frozen=True)
class QuantizeOptions:
    """`--quantize int8 --calibration samples.npz [--calibration-observer …]` for `graphc.compile`."""

    samples: str | Mapping[str, np.ndarray]
    """An `.npz` path or a dict keyed by input name (see `batches` for the shapes)."""
    observer: str = DEFAULT_OBSERVER
    percentile: float = DEFAULT_PERCENTILE
    scheme: str = "int8"

    def __post_init__(self) -> None:
        if self.scheme != "int8":
            raise GraphcError(f"unknown quantization scheme '{self.scheme}' (schemes: int8)")
        if self.observer not in OBSERVERS:
            raise GraphcError(f"unknown calibration observer '{self.observer}' (observers: {', '.join(OBSERVERS)})")

    def calibrate(self, program: GraphProgram) -> None:
        calibrate(program, self.samples, self.observer, self.percentile)


def calibrate(program: GraphProgram, samples: Mapping[str, np.ndarray] | str, observer: str = DEFAULT_OBSERVER,
              percentile: float = DEFAULT_PERCENTILE) -> None:  # fmt: skip
    """Runs the float program over `samples` (a dict or an `.npz` path) and annotates the ranges."""
    source = samples if isinstance(samples, str) else "calibration samples"
    data = load_samples(samples) if isinstance(samples, str) else samples
    annotate(program, observe(program, batches(program, data, source), observer, percentile))
