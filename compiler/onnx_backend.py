"""graphc as an ONNX backend (`onnx.backend.base.Backend`): `graphc.onnx_backend.GraphcBackend`.

What the ONNX backend test suite and other ONNX tooling drive:

    rep = GraphcBackend.prepare(model)          # checks support, compiles when shapes are static
    outputs = rep.run([x, y])                   # a list in the order of the graph outputs

Models are compiled through the front end (`graphc.frontends.onnx`), the graph and fusion
pipelines and the CPU backend (never the reference backend). graphc compiles for static shapes, so
`run` specialises: on the inputs' shapes, and on the values of inputs that shape-determining
operands are computed from (a Reshape's shape fed by a graph input, a NonZero of an input, ...),
the way tf2xla treats must-be-constant inputs. Compiled programs are cached per specialisation.

`prepare` raises `unittest.SkipTest` with the reason when the model uses anything graphc cannot
convert (op types, op forms, element types) or the CPU backend cannot compile; never
`BackendIsNotSupposedToImplementIt`, which the test runner would count as a pass.
"""

from __future__ import annotations

import unittest
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import ModelProto, NodeProto, helper
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

from graphc.backends.cpu.elements import UnsupportedOnCpu
from graphc.backends.registry import get_backend
from graphc.driver import CompiledModel, compile_program
from graphc.frontends.onnx import (
    ConstantInputsNeeded,
    OnnxUnsupportedError,
    import_onnx,
    unsupported_nodes,
)
from graphc.frontends.onnx_context import NodeError, element_type

__all__ = ["GraphcBackend", "GraphcBackendRep", "prepare", "run_model", "run_node", "supports_device"]

_MAX_SPECIALISATION_ROUNDS = 8


class GraphcBackendRep(BackendRep):
    """A prepared model: compiles on first use per specialisation key, then runs natively."""

    def __init__(self, model: ModelProto, source: str = "<model>"):
        self.model = model
        self.source = source
        initializers = {t.name for t in model.graph.initializer} | {s.values.name for s in model.graph.sparse_initializer}
        self.input_names = [vi.name for vi in model.graph.input if vi.name not in initializers]
        self.output_names = [vi.name for vi in model.graph.output]
        self.constant_inputs: list[str] = []
        """Inputs the model needs at compile time; learnt from the front end's errors."""
        self._compiled: dict[tuple, CompiledModel] = {}
        self._cpu = get_backend("cpu")

    # -- running -------------------------------------------------------------------------------

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        values = self._bind(inputs)
        compiled = self._compiled.get(self._key(values))
        if compiled is None:
            compiled = self._compile(values)
        outputs = compiled.run({name: values[name] for name in compiled.input_names})
        return tuple(outputs[name] for name in self.output_names)

    def _bind(self, inputs: Any) -> dict[str, np.ndarray]:
        if isinstance(inputs, Mapping):
            values = {name: np.asarray(inputs[name]) for name in self.input_names if name in inputs}
        else:
            if isinstance(inputs, np.ndarray):
                inputs = [inputs]
            values = {name: np.asarray(v) for name, v in zip(self.input_names, inputs)}
        missing = [n for n in self.input_names if n not in values]
        if missing:
            raise ValueError(f"{self.source}: missing inputs {missing}")
        return values

    def _key(self, values: Mapping[str, np.ndarray]) -> tuple:
        shapes = tuple((n, values[n].shape, values[n].dtype.str) for n in self.input_names)
        constants = tuple((n, values[n].tobytes()) for n in self.constant_inputs)
        return shapes, constants

    # -- compiling -----------------------------------------------------------------------------

    def _compile(self, values: Mapping[str, np.ndarray]) -> CompiledModel:
        for _ in range(_MAX_SPECIALISATION_ROUNDS):
            shapes = {n: values[n].shape for n in self.input_names if n not in self.constant_inputs}
            constants = {n: values[n] for n in self.constant_inputs}
            try:
                program = import_onnx(self.model, source=self.source, input_shapes=shapes, constant_inputs=constants)
            except ConstantInputsNeeded as err:
                new = [n for n in err.inputs if n not in self.constant_inputs]
                if not new:
                    raise
                self.constant_inputs.extend(new)
                continue
            except OnnxUnsupportedError as err:
                raise unittest.SkipTest(str(err)) from None
            compiled = self.compile_program(program)
            self._compiled[self._key(values)] = compiled
            return compiled
        raise RuntimeError(f"{self.source}: could not find the inputs to specialise on")

    def compile_program(self, program) -> CompiledModel:
        try:
            return compile_program(program, self._cpu)
        except UnsupportedOnCpu as err:
            raise unittest.SkipTest(str(err)) from None

    def compile_static(self) -> None:
        """Compiles now when every input's shape and type are declared (as in the node tests)."""
        shapes: dict[str, tuple[int, ...]] = {}
        dtypes_: dict[str, np.dtype] = {}
        for vi in self.model.graph.input:
            if vi.name not in self.input_names:
                continue
            tt = vi.type.tensor_type
            if not tt.HasField("shape") or any(not d.HasField("dim_value") for d in tt.shape.dim):
                return
            shapes[vi.name] = tuple(int(d.dim_value) for d in tt.shape.dim)
            dtypes_[vi.name] = _numpy_dtype(tt.elem_type)
        try:
            program = import_onnx(self.model, source=self.source, input_shapes=shapes)
        except ConstantInputsNeeded:
            return  # specialised on the input values at run time
        except OnnxUnsupportedError as err:
            raise unittest.SkipTest(str(err)) from None
        key = (tuple((n, shapes[n], dtypes_[n].str) for n in self.input_names), ())
        self._compiled[key] = self.compile_program(program)


def _numpy_dtype(elem_type: int) -> np.dtype:
    from graphc.dialects import dtypes

    return dtypes.to_numpy_dtype(element_type(elem_type))


class GraphcBackend(Backend):
    """graphc's CPU backend behind ONNX's backend interface."""

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return Device(device).type == DeviceType.CPU

    @classmethod
    def prepare(cls, model: ModelProto, device: str = "CPU", **kwargs: Any) -> GraphcBackendRep:
        if not cls.supports_device(device):
            raise unittest.SkipTest(f"graphc runs on the CPU only, not on {device}")
        source = kwargs.get("source", model.graph.name or "<model>")
        found = unsupported_nodes(model, source)
        if found:
            reasons = sorted({f"{op} (opset {opset}{'' if why == 'no converter' else ': ' + why})" for _, op, opset, why in found})
            raise unittest.SkipTest("unsupported: " + "; ".join(reasons))
        _check_types(model)
        rep = GraphcBackendRep(model, source)
        rep.compile_static()
        return rep

    @classmethod
    def run_model(cls, model: ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info: Sequence[tuple[np.dtype, tuple[int, ...]]] | None = None,
                 **kwargs: Any) -> tuple[np.ndarray, ...]:  # fmt: skip
        """Runs one node: a model is built around it from the inputs' types."""
        arrays = [np.asarray(v) for v in (inputs.values() if isinstance(inputs, Mapping) else inputs)]
        names = [n for n in node.input if n]
        if len(names) != len(arrays):
            raise ValueError(f"node '{node.name}' takes {len(names)} inputs, got {len(arrays)}")
        graph_inputs = [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in zip(names, arrays)
        ]
        graph_outputs = []
        for i, name in enumerate(o for o in node.output if o):
            if outputs_info is not None and i < len(outputs_info):
                dtype, shape = outputs_info[i]
                graph_outputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape))
            else:
                graph_outputs.append(helper.make_empty_tensor_value_info(name))
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        graph = helper.make_graph([node], node.name or node.op_type, graph_inputs, graph_outputs)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        return cls.prepare(model, device).run(arrays)


def _check_types(model: ModelProto) -> None:
    """Graph inputs and outputs must be tensors of element types graphc has."""
    problems = []
    for vi in [*model.graph.input, *model.graph.output]:
        kind = vi.type.WhichOneof("value")
        if kind is None:
            continue
        if kind != "tensor_type":
            problems.append(f"'{vi.name}' is a {kind.removesuffix('_type')}, not a tensor")
            continue
        if vi.type.tensor_type.elem_type == 0:
            continue
        try:
            element_type(vi.type.tensor_type.elem_type)
        except NodeError as err:
            problems.append(f"'{vi.name}': {err}")
    if problems:
        raise unittest.SkipTest("unsupported types: " + "; ".join(problems))


prepare = GraphcBackend.prepare
run_model = GraphcBackend.run_model
run_node = GraphcBackend.run_node
supports_device = GraphcBackend.supports_device
