"""Weights as external resources, and the program container every stage passes along.

A `graph.constant` holds either a small inline `dense<...>` value or a `dense_resource<name>` handle
into a `WeightStore`. The IR text never contains weight blobs: dumps stay small, and the artifact
stores the blobs.

A `GraphProgram` is one model: an xDSL module with a single `func.func @main` of graph ops, the
weights it refers to, and the user-facing names of its inputs and outputs (kept on the function as
`graphc.inputs` / `graphc.outputs` so that they survive printing and parsing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    ModuleOp,
    StringAttr,
    TensorType,
)

from graphc.dialects import dtypes
from graphc.dialects.graph import ConstantOp

INLINE_LIMIT = 16
"""Constants with at most this many elements are printed inline (scalars, shapes, small vectors)."""


@dataclass
class WeightStore:
    """Named numpy arrays that `dense_resource<name>` handles refer to."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, array: np.ndarray, hint: str = "w") -> DenseResourceAttr:
        array = np.ascontiguousarray(array)
        base = re.sub(r"[^A-Za-z0-9_]", "_", hint) or "w"
        if base[0].isdigit():
            base = "w_" + base
        name, n = base, 1
        while name in self.arrays:
            name, n = f"{base}_{n}", n + 1
        self.arrays[name] = array
        return DenseResourceAttr.from_params(name, dtypes.tensor_of(array.shape, array.dtype))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __contains__(self, name: str) -> bool:
        return name in self.arrays

    def prune(self, module: ModuleOp) -> None:
        """Drops arrays that no constant of `module` refers to any more."""
        used = {
            op.value.resource_handle.data
            for op in module.walk()
            if isinstance(op, ConstantOp) and isinstance(op.value, DenseResourceAttr)
        }
        for name in list(self.arrays):
            if name not in used:
                del self.arrays[name]

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


def constant_value(op: ConstantOp, weights: WeightStore) -> np.ndarray:
    """The value of a `graph.constant` as a numpy array of the result's dtype and shape."""
    result_type = op.result.type
    assert isinstance(result_type, TensorType)
    dtype = dtypes.to_numpy_dtype(result_type.element_type)
    shape = tuple(result_type.get_shape())
    value = op.value
    if isinstance(value, DenseResourceAttr):
        name = value.resource_handle.data
        if name not in weights:
            raise KeyError(f"weight resource '{name}' is missing from the weight store")
        return weights[name].reshape(shape)
    assert isinstance(value, DenseIntOrFPElementsAttr)
    values = value.get_values()
    array = np.array(values, dtype=dtype if dtype != np.bool_ else np.int64).astype(dtype)
    if array.size == 1 and int(np.prod(shape)) != 1:  # a splat
        return np.full(shape, array.reshape(()), dtype=dtype)
    return array.reshape(shape)


def make_constant(array: np.ndarray, weights: WeightStore, hint: str = "w") -> ConstantOp:
    """A `graph.constant` for `array`: inline when small (and not bf16), a weight resource otherwise."""
    array = np.asarray(array)
    element = dtypes.from_numpy_dtype(array.dtype)
    # Non-finite floats print as hex bit patterns that xDSL reads back as integers: keep them out
    # of the IR text.
    printable = not dtypes.is_float(element) or bool(np.isfinite(array).all())
    if array.size <= INLINE_LIMIT and element not in (dtypes.bf16, dtypes.f16) and printable:
        ttype = dtypes.tensor(array.shape, element)
        flat = array.reshape(-1)
        if dtypes.is_float(element):
            values = [float(v) for v in flat]
        else:
            values = [int(v) for v in flat]
        attr = DenseIntOrFPElementsAttr.from_list(ttype, values)
        return ConstantOp.make([], value=attr)
    return ConstantOp.make([], value=weights.add(array, hint))


@dataclass
class GraphProgram:
    """A model in the graph dialect: module, weights, and input/output names."""

    module: ModuleOp
    weights: WeightStore

    @property
    def main(self) -> func.FuncOp:
        for op in self.module.ops:
            if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
                return op
        raise ValueError("the module has no func.func @main")

    @property
    def input_names(self) -> list[str]:
        return _names(self.main, "graphc.inputs", "input", len(self.main.args))

    @property
    def output_names(self) -> list[str]:
        return _names(self.main, "graphc.outputs", "output", len(self.main.function_type.outputs))

    def clone(self) -> GraphProgram:
        return GraphProgram(self.module.clone(), WeightStore(dict(self.weights.arrays)))


def set_io_names(main: func.FuncOp, inputs: list[str], outputs: list[str]) -> None:
    main.attributes["graphc.inputs"] = ArrayAttr([StringAttr(n) for n in inputs])
    main.attributes["graphc.outputs"] = ArrayAttr([StringAttr(n) for n in outputs])


def _names(main: func.FuncOp, key: str, default: str, count: int) -> list[str]:
    attr = main.attributes.get(key)
    if isinstance(attr, ArrayAttr):
        return [a.data for a in attr.data if isinstance(a, StringAttr)]
    return [f"{default}{i}" for i in range(count)]
