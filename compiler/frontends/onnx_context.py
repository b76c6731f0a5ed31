"""Shared machinery of the ONNX front end: nodes, attributes, element types, the converter registry.

The op modules (`onnx_ops_*.py`) register one function per ONNX op type and range of schema
versions with `@converts("OpType", since=13)`. A node's schema version is the `since_version` of
the op's schema at the model's opset for the node's domain, so one registration covers every opset
until the op's next revision; a converter that handles several revisions registers once with the
oldest and branches on `node.version`.

A converter receives the `OnnxConverter` (which emits graph ops and evaluates shape operands at
compile time, `tf_context.Converter`'s machinery), the node, and the SSA values of its inputs (None
for omitted optional inputs); it returns one value per node output (None for outputs it does not
produce, which is an error only if something uses them). Problems are raised as `NodeError`;
`Unsupported` marks what graphc does not handle (an attribute value, a type, a mode), which the
backend test harness reports as a skip rather than a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onnx import AttributeProto, NodeProto, TensorProto, helper, numpy_helper
from xdsl.ir import Attribute, Block, Operation, SSAValue

from graphc.dialects import dtypes
from graphc.frontends.tf_context import Converter, NodeError, product

__all__ = [
    "ConstantNeeded",
    "NodeError",
    "OnnxConverter",
    "OnnxNode",
    "Unsupported",
    "converts",
    "element_type",
    "find_converter",
    "product",
    "sparse_to_dense",
    "tensor_to_array",
]


class Unsupported(NodeError):
    """Something graphc cannot convert (an op form, attribute value or element type)."""


class ConstantNeeded(NodeError):
    """A shape-determining operand is not a compile-time constant; `inputs` are the graph inputs it
    is computed from (the values a caller could specialise on)."""

    def __init__(self, message: str, inputs: Sequence[str]):
        super().__init__(message)
        self.inputs = list(inputs)


# ---------------------------------------------------------------------------------------------
# Element types
# ---------------------------------------------------------------------------------------------

_ELEMENT_TYPES: dict[int, Attribute] = {
    TensorProto.FLOAT: dtypes.f32,
    TensorProto.DOUBLE: dtypes.f64,
    TensorProto.FLOAT16: dtypes.f16,
    TensorProto.BFLOAT16: dtypes.bf16,
    TensorProto.BOOL: dtypes.i1,
    TensorProto.INT8: dtypes.i8,
    TensorProto.INT16: dtypes.i16,
    TensorProto.INT32: dtypes.i32,
    TensorProto.INT64: dtypes.i64,
    TensorProto.UINT8: dtypes.ui8,
    TensorProto.UINT16: dtypes.ui16,
    TensorProto.UINT32: dtypes.ui32,
    TensorProto.UINT64: dtypes.ui64,
}


def dtype_name(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(int(elem_type))
    except ValueError:
        return f"data type {elem_type}"


def element_type(elem_type: int) -> Attribute:
    """ONNX `TensorProto.DataType` -> graph element type (`Unsupported` for strings, float8, ...)."""
    try:
        return _ELEMENT_TYPES[int(elem_type)]
    except KeyError:
        if int(elem_type) == TensorProto.UNDEFINED:
            raise NodeError("a tensor has no element type (UNDEFINED)") from None
        raise Unsupported(f"element type {dtype_name(elem_type)} is not supported by graphc") from None


def onnx_elem_type(element: Attribute) -> int:
    for code, attr in _ELEMENT_TYPES.items():
        if attr == element:
            return code
    raise ValueError(f"no ONNX element type for {element}")


MAX_CONSTANT_ELEMENTS = 1 << 30


def tensor_to_array(tensor: TensorProto, base_dir: str | None = None) -> np.ndarray:
    """A TensorProto (raw, typed or external data) as a numpy array of graphc's dtype for it."""
    element = element_type(tensor.data_type)
    dims = [int(d) for d in tensor.dims]
    if any(d < 0 for d in dims) or product(dims) > MAX_CONSTANT_ELEMENTS:
        raise NodeError(f"tensor '{tensor.name}' has a bad or too large shape {dims}")
    if tensor.data_location == TensorProto.EXTERNAL and base_dir is None:
        raise NodeError(
            f"tensor '{tensor.name}' keeps its data in an external file; load the model from its path so "
            "that the file can be found"
        )
    try:
        array = numpy_helper.to_array(tensor, base_dir or "")
    except (ValueError, OSError, TypeError) as err:
        raise NodeError(f"cannot read tensor '{tensor.name}': {err}") from None
    return np.asarray(array).astype(dtypes.to_numpy_dtype(element), copy=False)


def sparse_to_dense(sparse, base_dir: str | None = None) -> np.ndarray:
    """A SparseTensorProto as a dense array (indices are [NNZ] linearized or [NNZ, rank])."""
    values = tensor_to_array(sparse.values, base_dir).reshape(-1)
    indices = tensor_to_array(sparse.indices, base_dir).astype(np.int64)
    dims = [int(d) for d in sparse.dims]
    if any(d < 0 for d in dims) or product(dims) > MAX_CONSTANT_ELEMENTS:
        raise NodeError(f"sparse tensor has a bad or too large shape {dims}")
    dense = np.zeros(dims, dtype=values.dtype)
    try:
        if indices.ndim == 1:
            dense.reshape(-1)[indices] = values
        else:
            dense[tuple(indices.T)] = values
    except (IndexError, ValueError) as err:
        raise NodeError(f"bad sparse tensor: {err}") from None
    return dense


# ---------------------------------------------------------------------------------------------
# Nodes and attributes
# ---------------------------------------------------------------------------------------------

_MISSING: Any = object()


@dataclass
class OnnxNode:
    """A NodeProto with its attributes by name and the schema version it is converted as."""

    name: str
    op_type: str
    domain: str
    inputs: list[str]  # "" for an omitted optional input
    outputs: list[str]  # "" for an omitted optional output
    attrs: dict[str, AttributeProto]
    version: int  # the schema's since_version at the model's opset
    opset: int  # the model's opset for the node's domain
    formal_inputs: list[str] = field(default_factory=list)  # the schema's input names, for messages

    @classmethod
    def from_proto(cls, proto: NodeProto, name: str, version: int, opset: int, formal_inputs: list[str]) -> OnnxNode:
        return cls(
            name=name,
            op_type=proto.op_type,
            domain=proto.domain,
            inputs=list(proto.input),
            outputs=list(proto.output),
            attrs={a.name: a for a in proto.attribute},
            version=version,
            opset=opset,
            formal_inputs=formal_inputs,
        )

    def input_label(self, index: int) -> str:
        if index < len(self.formal_inputs):
            return self.formal_inputs[index]
        if self.formal_inputs:  # variadic last input
            return f"{self.formal_inputs[-1]}[{index - len(self.formal_inputs) + 1}]"
        return f"#{index}"

    def output_used(self, index: int) -> bool:
        return index < len(self.outputs) and self.outputs[index] != ""

    # -- attribute access --------------------------------------------------------------------

    def has(self, key: str) -> bool:
        return key in self.attrs

    def _get(self, key: str, kinds: tuple[int, ...], default: Any):
        attr = self.attrs.get(key)
        if attr is None:
            if default is _MISSING:
                raise NodeError(f"attribute '{key}' is missing")
            return default
        if attr.type not in kinds:
            expected = " or ".join(AttributeProto.AttributeType.Name(k) for k in kinds)
            raise NodeError(
                f"attribute '{key}' should be {expected}, got {AttributeProto.AttributeType.Name(attr.type)}"
            )
        return helper.get_attribute_value(attr)

    def get_int(self, key: str, default: Any = _MISSING) -> int:
        value = self._get(key, (AttributeProto.INT,), default)
        return value if value is None else int(value)

    def get_float(self, key: str, default: Any = _MISSING) -> float:
        value = self._get(key, (AttributeProto.FLOAT, AttributeProto.INT), default)
        return value if value is None else float(value)

    def get_str(self, key: str, default: Any = _MISSING) -> str:
        value = self._get(key, (AttributeProto.STRING,), default)
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return value

    def get_ints(self, key: str, default: Any = _MISSING) -> list[int] | None:
        value = self._get(key, (AttributeProto.INTS,), default)
        return value if value is None or value is default else [int(v) for v in value]

    def get_floats(self, key: str, default: Any = _MISSING) -> list[float] | None:
        value = self._get(key, (AttributeProto.FLOATS,), default)
        return value if value is None or value is default else [float(v) for v in value]

    def get_strs(self, key: str, default: Any = _MISSING) -> list[str] | None:
        value = self._get(key, (AttributeProto.STRINGS,), default)
        if value is None or value is default:
            return value
        return [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in value]

    def get_tensor(self, key: str, default: Any = _MISSING) -> TensorProto | None:
        return self._get(key, (AttributeProto.TENSOR,), default)


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------

Inputs = list[SSAValue | None]
OpConverter = Callable[["OnnxConverter", OnnxNode, Inputs], Sequence[SSAValue | None]]


@dataclass(frozen=True)
class Registration:
    fn: OpConverter
    since: int
    until: int | None  # the last schema version handled (inclusive); None = every later one
    static: tuple[int, ...]  # inputs that must be compile-time constants (shapes, axes, ...)

    def handles(self, version: int) -> bool:
        return self.since <= version and (self.until is None or version <= self.until)


CONVERTERS: dict[str, list[Registration]] = {}
"""ONNX op type (default domain) -> converters, each for a range of schema versions."""


def converts(*op_types: str, since: int = 1, until: int | None = None, static: Sequence[int] = ()):
    """Registers a converter for schema versions `since`..`until` of `op_types`."""

    def register(fn: OpConverter) -> OpConverter:
        for op_type in op_types:
            CONVERTERS.setdefault(op_type, []).append(Registration(fn, since, until, tuple(static)))
        return fn

    return register


def find_converter(op_type: str, version: int) -> Registration | None:
    for registration in CONVERTERS.get(op_type, ()):
        if registration.handles(version):
            return registration
    return None


# ---------------------------------------------------------------------------------------------
# The converter
# ---------------------------------------------------------------------------------------------


class OnnxConverter(Converter):
    """`tf_context.Converter` (ops in order, numpy evaluation of constant subgraphs) plus ONNX's
    rules for compile-time operands: their messages name the schema's input, and a value computed
    from graph inputs reports those inputs (`ConstantNeeded`) so a caller can specialise on them."""

    def __init__(self, source: str, weights):
        super().__init__(source, weights)
        self.onnx_node: OnnxNode | None = None
        self.arg_names: dict[SSAValue, str] = {}  # block argument -> graph input name
        self.int8_values: dict[SSAValue, SSAValue] = {}  # uint8 tensor -> the int8 value it stores (q - 128)

    def static(self, inputs: Sequence[SSAValue | None], index: int, what: str | None = None) -> np.ndarray:
        label = what or (self.onnx_node.input_label(index) if self.onnx_node else f"#{index}")
        if index >= len(inputs) or inputs[index] is None:
            raise NodeError(f"input '{label}' is missing")
        value = self.constant_of(inputs[index])
        if value is None:
            needed = self.graph_inputs_of(inputs[index])
            raise ConstantNeeded(f"input '{label}' must be a compile-time constant", needed)
        return value

    def static_ints(self, inputs, index: int, what: str | None = None) -> list[int]:
        value = self.static(inputs, index, what)
        if value.dtype.kind not in "iub":
            label = what or (self.onnx_node.input_label(index) if self.onnx_node else f"#{index}")
            raise NodeError(f"input '{label}' must hold integers, got {value.dtype}")
        return [int(v) for v in value.reshape(-1)]

    def optional_static_ints(self, inputs, index: int, what: str | None = None) -> list[int] | None:
        if index >= len(inputs) or inputs[index] is None:
            return None
        return self.static_ints(inputs, index, what)

    def graph_inputs_of(self, value: SSAValue) -> list[str]:
        """Names of the graph inputs `value` is computed from."""
        found: list[str] = []
        seen: set[SSAValue] = set()
        stack = [value]
        while stack:
            v = stack.pop()
            if v in seen:
                continue
            seen.add(v)
            if isinstance(v.owner, Block):
                name = self.arg_names.get(v)
                if name is not None and name not in found:
                    found.append(name)
            elif isinstance(v.owner, Operation):
                stack.extend(v.owner.operands)
        return found

    # -- small helpers the op modules share -----------------------------------------------------

    def size(self, value: SSAValue) -> int:
        return product(self.shape(value))


def need(node: OnnxNode, inputs: Inputs, *positions: int) -> None:
    """Raises if any of the required input `positions` is missing."""
    for i in positions:
        if i >= len(inputs) or inputs[i] is None:
            raise NodeError(f"input '{node.input_label(i)}' is missing")


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise NodeError(f"{what} {axis} is out of range for a tensor of rank {rank}")
    return axis % rank if rank else 0


def normalize_axes(axes: Sequence[int], rank: int, what: str = "axes") -> list[int]:
    out = [normalize_axis(int(a), rank, what) for a in axes]
    if len(set(out)) != len(out):
        raise NodeError(f"{what} {list(axes)} repeat an axis")
    return out
