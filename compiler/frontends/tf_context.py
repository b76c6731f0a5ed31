"""Shared machinery of the TensorFlow front end: nodes, attributes, the converter, the op registry.

The op modules (`tf_ops_math`, `tf_ops_nn`, `tf_ops_shape`, `tf_einsum`) register one function per
TensorFlow op type with `@converts("OpType", ...)`. A converter receives the `Converter` (which
emits graph ops and answers "is this value a compile-time constant, and what is it?"), the node,
and the graph SSA values of the node's data inputs; it returns the SSA values of the node's outputs.
Converters report problems with `NodeError(message)`; the driver adds the file, node and op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.utils.exceptions import VerifyException

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects.resources import WeightStore, constant_value, make_constant
from graphc.frontends import tf_graphdef_schema as schema


class NodeError(Exception):
    """A problem with the node being converted; the driver turns it into a `FrontendError`."""


OpConverter = Callable[["Converter", "TFNode", list[SSAValue]], Sequence[SSAValue]]
CONVERTERS: dict[str, OpConverter] = {}
"""TensorFlow op type -> converter."""

STATIC_OPERANDS: dict[str, tuple[int, ...]] = {}
"""TensorFlow op type -> positions of operands that must be compile-time constants (shapes, axes...)."""


def converts(*op_types: str, static: Sequence[int] = ()):
    """Registers a converter for `op_types`; `static` lists its operands that define shapes/axes."""

    def register(fn: OpConverter) -> OpConverter:
        for t in op_types:
            CONVERTERS[t] = fn
            STATIC_OPERANDS[t] = tuple(static)
        return fn

    return register


# ---------------------------------------------------------------------------------------------
# Nodes and attributes
# ---------------------------------------------------------------------------------------------

_MISSING: Any = object()


@dataclass
class TFNode:
    """A NodeDef with its data inputs parsed into (producer, output index); control inputs dropped."""

    name: str
    op: str
    inputs: list[tuple[str, int]]
    attr: dict[str, Any]  # name -> tensorflow.AttrValue
    order: int = 0  # position in the GraphDef, for stable orderings
    note: str = ""  # why an op is rejected, if it is (e.g. a call into a function with control flow)
    extra: dict[str, Any] = field(default_factory=dict)

    # -- attribute access --------------------------------------------------------------------

    def has(self, key: str) -> bool:
        return key in self.attr and self.attr[key].WhichOneof("value") is not None

    def _get(self, key: str, kind: str, default: Any):
        if not self.has(key):
            if default is _MISSING:
                raise NodeError(f"attribute '{key}' is missing")
            return default
        value = self.attr[key]
        actual = value.WhichOneof("value")
        if actual != kind:
            if kind == "list" and actual is not None:
                raise NodeError(f"attribute '{key}' should be a list, got {actual}")
            if actual == "list" and not _list_fields(value.list):
                return default if default is not _MISSING else []
            raise NodeError(f"attribute '{key}' should be of kind {kind}, got {actual}")
        return getattr(value, kind)

    def get_int(self, key: str, default: Any = _MISSING) -> int:
        return int(self._get(key, "i", default))

    def get_float(self, key: str, default: Any = _MISSING) -> float:
        return float(self._get(key, "f", default))

    def get_bool(self, key: str, default: Any = _MISSING) -> bool:
        return bool(self._get(key, "b", default))

    def get_str(self, key: str, default: Any = _MISSING) -> str:
        value = self._get(key, "s", default)
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return value

    def get_type(self, key: str, default: Any = _MISSING) -> int:
        return int(self._get(key, "type", default))

    def get_shape(self, key: str, default: Any = _MISSING) -> list[int] | None:
        value = self._get(key, "shape", _MISSING if default is _MISSING else None)
        if value is None:
            return default
        return schema.shape_to_list(value)

    def get_tensor(self, key: str):
        return self._get(key, "tensor", _MISSING)

    def get_ints(self, key: str, default: Any = _MISSING) -> list[int]:
        value = self._get(key, "list", default)
        if value is default:
            return default
        return [int(v) for v in value.i]

    def get_floats(self, key: str, default: Any = _MISSING) -> list[float]:
        value = self._get(key, "list", default)
        if value is default:
            return default
        return [float(v) for v in value.f]

    def get_strs(self, key: str, default: Any = _MISSING) -> list[str]:
        value = self._get(key, "list", default)
        if value is default:
            return default
        return [v.decode("utf-8", errors="replace") for v in value.s]

    def get_types(self, key: str, default: Any = _MISSING) -> list[int]:
        value = self._get(key, "list", default)
        if value is default:
            return default
        return [int(v) for v in value.type]

    def get_func(self, key: str):
        return self._get(key, "func", None)


def _list_fields(lst) -> list[str]:
    return [f.name for f, _ in lst.ListFields()]


def parse_input(text: str) -> tuple[str, int] | None:
    """`"name"` / `"name:k"` -> (name, k); control inputs `"^name"` -> None."""
    if text.startswith("^"):
        return None
    name, sep, index = text.rpartition(":")
    if sep and index.isdigit():
        return name, int(index)
    return text, 0


def tensor_name(name: str, index: int) -> str:
    return name if index == 0 else f"{name}:{index}"


# ---------------------------------------------------------------------------------------------
# Data types
# ---------------------------------------------------------------------------------------------

_DT = schema.DataType
_ELEMENT_TYPES: dict[int, Attribute] = {
    _DT.DT_FLOAT: dtypes.f32,
    _DT.DT_DOUBLE: dtypes.f64,
    _DT.DT_HALF: dtypes.f16,
    _DT.DT_BFLOAT16: dtypes.bf16,
    _DT.DT_BOOL: dtypes.i1,
    _DT.DT_INT8: dtypes.i8,
    _DT.DT_INT16: dtypes.i16,
    _DT.DT_INT32: dtypes.i32,
    _DT.DT_INT64: dtypes.i64,
    _DT.DT_UINT8: dtypes.ui8,
    _DT.DT_UINT16: dtypes.ui16,
    _DT.DT_UINT32: dtypes.ui32,
    _DT.DT_UINT64: dtypes.ui64,
}


def dtype_label(dt: int) -> str:
    try:
        return schema.dtype_name(dt)
    except ValueError:
        return f"DataType {dt}"


def element_type(dt: int) -> Attribute:
    """TensorFlow DataType number -> graph element type (NodeError for strings, complex, ...)."""
    dt = int(dt)
    if dt > 100:  # reference types (TF1 variables) carry the same values
        dt -= 100
    try:
        return _ELEMENT_TYPES[dt]
    except KeyError:
        raise NodeError(f"data type {dtype_label(dt)} is not supported") from None


MAX_CONSTANT_ELEMENTS = 1 << 30
"""Larger constants are rejected: 4 GiB of float32 is beyond any model graphc targets."""


def tensor_value(tensor) -> np.ndarray:
    """A TensorProto as a numpy array of the dtype graphc uses for it (bfloat16 stays bfloat16)."""
    dims = schema.shape_to_list(tensor.tensor_shape)
    if dims is not None and all(d >= 0 for d in dims) and product(dims) > MAX_CONSTANT_ELEMENTS:
        raise NodeError(f"constant of shape {dims} is too large ({product(dims)} elements)")
    try:
        array = schema.tensor_to_numpy(tensor)
    except (ValueError, MemoryError) as err:
        raise NodeError(f"bad constant: {err}") from None
    element = element_type(tensor.dtype)
    return np.asarray(array).astype(dtypes.to_numpy_dtype(element))


# ---------------------------------------------------------------------------------------------
# The converter
# ---------------------------------------------------------------------------------------------


class Converter:
    """Emits graph ops in order and evaluates shape-defining subgraphs at compile time."""

    def __init__(self, source: str, weights: WeightStore):
        self.source = source
        self.weights = weights
        self.ops: list[Operation] = []
        self.node: TFNode | None = None
        self._known: dict[SSAValue, np.ndarray | None] = {}

    # -- building ----------------------------------------------------------------------------

    def emit(self, cls: type[g.GraphOp], operands: Sequence[SSAValue], **attrs: Attribute) -> Operation:
        try:
            op = cls.make(list(operands), **attrs)
        except (VerifyException, AssertionError, KeyError, ValueError, IndexError) as err:
            types = ", ".join(str(v.type) for v in operands)
            raise NodeError(f"cannot build {cls.name} from ({types}): {err}") from None
        self.ops.append(op)
        return op

    def op(self, cls: type[g.GraphOp], operands: Sequence[SSAValue], **attrs: Attribute) -> SSAValue:
        """Emits a single-result op and returns its result."""
        return self.emit(cls, operands, **attrs).results[0]

    def const(self, array, hint: str | None = None) -> SSAValue:
        array = np.asarray(array)
        try:
            dtypes.from_numpy_dtype(array.dtype)
        except ValueError:
            raise NodeError(f"constants of numpy type {array.dtype} are not supported") from None
        hint = hint or (self.node.name if self.node else "w")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            # xDSL prints NaN/inf inline as hex bit patterns (0x7fc00000) but parses them back as
            # integers (2.14e9): keep non-finite constants out of the IR text.
            op = g.ConstantOp.make([], value=self.weights.add(array, hint))
        else:
            op = make_constant(array, self.weights, hint)
        self.ops.append(op)
        self._known[op.results[0]] = array
        return op.results[0]

    def scalar(self, value, like: SSAValue | Attribute) -> SSAValue:
        """A rank-0 constant with the element type of `like` (a value or an element type)."""
        element = like if not isinstance(like, SSAValue) else self.element(like)
        return self.const(np.asarray(value).astype(dtypes.to_numpy_dtype(element)))

    # -- types -------------------------------------------------------------------------------

    @staticmethod
    def shape(value: SSAValue) -> tuple[int, ...]:
        t = value.type
        assert isinstance(t, TensorType)
        return tuple(int(d) for d in t.get_shape())

    def rank(self, value: SSAValue) -> int:
        return len(self.shape(value))

    @staticmethod
    def element(value: SSAValue) -> Attribute:
        t = value.type
        assert isinstance(t, TensorType)
        return t.element_type

    def np_dtype(self, value: SSAValue) -> np.dtype:
        return dtypes.to_numpy_dtype(self.element(value))

    def is_float(self, value: SSAValue) -> bool:
        return dtypes.is_float(self.element(value))

    # -- common ops --------------------------------------------------------------------------

    def reshape(self, value: SSAValue, shape: Sequence[int]) -> SSAValue:
        shape = tuple(int(d) for d in shape)
        if shape == self.shape(value):
            return value
        return self.op(g.ReshapeOp, [value], shape=g.ints_attr(shape))

    def transpose(self, value: SSAValue, perm: Sequence[int]) -> SSAValue:
        perm = [int(p) for p in perm]
        if perm == list(range(len(perm))):
            return value
        return self.op(g.TransposeOp, [value], perm=g.ints_attr(perm))

    def cast(self, value: SSAValue, element: Attribute) -> SSAValue:
        if self.element(value) == element:
            return value
        return self.op(g.CastOp, [value], to=element)

    def broadcast_to(self, value: SSAValue, shape: Sequence[int]) -> SSAValue:
        shape = tuple(int(d) for d in shape)
        if shape == self.shape(value):
            return value
        return self.op(g.BroadcastToOp, [value], shape=g.ints_attr(shape))

    def tile(self, value: SSAValue, multiples: Sequence[int]) -> SSAValue:
        """Tile as reshape (a size-1 axis before each tiled one) + broadcast_to + reshape."""
        shape = self.shape(value)
        if all(m == 1 for m in multiples):
            return value
        expanded, broadcast, final = [], [], []
        for d, m in zip(shape, multiples):
            if m != 1:
                expanded += [1, d]
                broadcast += [m, d]
            else:
                expanded.append(d)
                broadcast.append(d)
            final.append(d * m)
        y = self.reshape(value, expanded)
        y = self.broadcast_to(y, broadcast)
        return self.reshape(y, final)

    def slice(self, value: SSAValue, starts, limits, strides=None) -> SSAValue:
        shape = self.shape(value)
        strides = list(strides) if strides is not None else [1] * len(shape)
        if list(starts) == [0] * len(shape) and list(limits) == list(shape) and set(strides) <= {1}:
            return value
        return self.op(
            g.SliceOp,
            [value],
            starts=g.ints_attr(starts),
            limits=g.ints_attr(limits),
            strides=g.ints_attr(strides),
        )

    def concat(self, values: Sequence[SSAValue], axis: int) -> SSAValue:
        if len(values) == 1:
            return values[0]
        return self.op(g.ConcatOp, list(values), axis=g.int_attr(axis))

    def reduce(self, cls: type[g.GraphOp], value: SSAValue, axes: Sequence[int], keepdims: bool) -> SSAValue:
        axes = sorted(set(int(a) for a in axes))
        if not axes:
            return value
        return self.op(cls, [value], axes=g.ints_attr(axes), keepdims=g.int_attr(int(keepdims)))

    # -- compile-time values -----------------------------------------------------------------

    def constant_of(self, value: SSAValue) -> np.ndarray | None:
        """The value of `value` if it depends on constants only (evaluated in numpy), else None."""
        known = self._known
        if value in known:
            return known[value]
        stack = [value]
        while stack:
            v = stack[-1]
            if v in known:
                stack.pop()
                continue
            owner = v.owner
            if isinstance(owner, Block) or not isinstance(owner, Operation):
                known[v] = None
                stack.pop()
                continue
            if isinstance(owner, g.ConstantOp):
                known[v] = constant_value(owner, self.weights)
                stack.pop()
                continue
            pending = [o for o in owner.operands if o not in known]
            if pending:
                stack.extend(pending)
                continue
            args = [known[o] for o in owner.operands]
            if any(a is None for a in args):
                results: list[np.ndarray | None] = [None] * len(owner.results)
            else:
                results = self._evaluate(owner, args)
            for r, a in zip(owner.results, results):
                known[r] = a
            stack.pop()
        return known[value]

    @staticmethod
    def _evaluate(op: Operation, args: list[np.ndarray]) -> list[np.ndarray | None]:
        from graphc.dialects import semantics  # the oracle; imported late to keep start-up light

        try:
            return [np.asarray(r) for r in semantics.evaluate_op(op, args, xp=np)]
        except Exception:  # noqa: BLE001 - no semantics, or a failure: treat as not constant
            return [None] * len(op.results)

    def static(self, inputs: Sequence[SSAValue], index: int, what: str) -> np.ndarray:
        """The compile-time value of input `index` (shapes, axes, perms...), or a NodeError."""
        if index >= len(inputs):
            raise NodeError(f"missing input {index} ({what})")
        value = self.constant_of(inputs[index])
        if value is None:
            raise NodeError(
                f"input {index} ({what}) must be a compile-time constant, but it is computed at run "
                "time from the model's inputs; graphc needs static shapes"
            )
        return value

    def static_ints(self, inputs: Sequence[SSAValue], index: int, what: str) -> list[int]:
        value = self.static(inputs, index, what)
        if value.dtype.kind not in "iub":
            raise NodeError(f"input {index} ({what}) must be integers, got {value.dtype}")
        return [int(v) for v in value.reshape(-1)]

    def static_int(self, inputs: Sequence[SSAValue], index: int, what: str) -> int:
        values = self.static_ints(inputs, index, what)
        if len(values) != 1:
            raise NodeError(f"input {index} ({what}) must be a single integer, got {len(values)} values")
        return values[0]


# ---------------------------------------------------------------------------------------------
# Small helpers shared by the op modules
# ---------------------------------------------------------------------------------------------


def need_inputs(node: TFNode, inputs: Sequence[SSAValue], count: int, at_least: bool = False) -> None:
    if len(inputs) < count or (not at_least and len(inputs) != count):
        expected = f"at least {count}" if at_least else str(count)
        raise NodeError(f"expected {expected} inputs, got {len(inputs)}")


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise NodeError(f"{what} {axis} is out of range for a tensor of rank {rank}")
    return axis % rank


def product(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out
