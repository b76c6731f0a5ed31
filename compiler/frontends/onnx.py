"""ONNX front end: an ONNX model (`.onnx`) -> a `GraphProgram` in the `graph` dialect.

Parsed with the `onnx` package. The import runs in fixed steps, each of which can reject the model
with a one-line `FrontendError`:

1. load the model (a path, bytes or a `ModelProto`); tensors kept in external-data files are read
   from the model's folder;
2. scan every node for op types, domains and schema versions graphc cannot convert and report all of
   them at once (`OnnxUnsupportedError`, one line: node names, op types, opsets);
3. make the signature: graph inputs that are also initializers (IR version 3 files) are weights,
   not inputs; symbolic dimensions are specialised with `input_shapes`; inputs listed in
   `constant_inputs` become constants of the given values (how tf2xla treats "must be constant"
   inputs: specialise on their values);
4. convert the nodes in order. Converters per op type and schema version live in `onnx_ops_*.py`;
   an op without a converter whose schema defines it as a function (Celu, Gelu, Attention, ...) is
   expanded into the function's body. Shape-determining operands (Reshape's shape, Slice's starts,
   Resize's scales, ...) must be compile-time constants: initializers, `Constant` nodes, or anything
   computed from those and static shapes (evaluated with the ops' numpy semantics); otherwise the
   error names the input (`ConstantInputsNeeded` lists the graph inputs it depends on).

Types graphc has (f16, bf16, f32, f64, i8..i64, u8..u64, bool) are kept as they are; others
(string, float8, int4, complex, ...) are rejected with a reason.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import onnx
import onnx.inliner
from onnx import ModelProto, NodeProto, TensorProto, TypeProto, helper
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Block, Region, SSAValue
from xdsl.utils.exceptions import VerifyException

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects.resources import GraphProgram, WeightStore, set_io_names
from graphc.frontends.errors import FrontendError
from graphc.frontends.onnx_context import (
    CONVERTERS,
    ConstantNeeded,
    NodeError,
    OnnxConverter,
    OnnxNode,
    Unsupported,
    dtype_name,
    element_type,
    find_converter,
    onnx_elem_type,
    sparse_to_dense,
    tensor_to_array,
)

# The op modules register their converters on import.
from graphc.frontends import (  # noqa: F401,E402
    onnx_ops_elementwise,
    onnx_ops_linalg,
    onnx_ops_nn,
    onnx_ops_quant,
    onnx_ops_reduce,
    onnx_ops_resize,
    onnx_ops_rnn,
    onnx_ops_shape,
    onnx_ops_tensor,
)

__all__ = [
    "ConstantInputsNeeded",
    "OnnxUnsupportedError",
    "import_onnx",
    "inspect_onnx",
    "load_onnx",
    "looks_like_onnx",
    "unsupported_nodes",
]

DEFAULT_DOMAINS = ("", "ai.onnx")
MIN_OPSET = 1
"""Converters declare the schema versions they handle; opsets 7 and later are the supported range,
older ones work where the op's schema did not change (many `pytorch-converted` models are opset 6)."""

_MAX_FUNCTION_DEPTH = 16


class OnnxUnsupportedError(FrontendError):
    """The model uses ops, op forms or element types graphc cannot convert (not a bug in the model)."""


class ConstantInputsNeeded(FrontendError):
    """A shape-determining operand depends on graph inputs; `inputs` names them."""

    def __init__(self, source: str, message: str, inputs: Sequence[str], *, node=None, op=None):
        super().__init__(source, message, node=node, op=op)
        self.inputs = list(inputs)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def looks_like_onnx(data: bytes) -> bool:
    """ONNX files begin with field 1 (ir_version, a varint), TensorFlow GraphDefs never do."""
    if len(data) < 4 or data[0] != 0x08:
        return False
    try:
        model = ModelProto.FromString(data)
    except Exception:  # noqa: BLE001 - protobuf implementations raise various things
        return False
    return model.ir_version > 0 and model.HasField("graph")


def load_onnx(model: str | os.PathLike | bytes | ModelProto, source: str | None = None,
              base_dir: str | None = None) -> tuple[ModelProto, str, str | None]:  # fmt: skip
    """(model, source label, folder of external data files or None). For bytes or a ModelProto,
    `base_dir` is where external data files are (default: none can be read)."""
    if isinstance(model, ModelProto):
        return model, source or "<model>", base_dir
    if isinstance(model, bytes | bytearray | memoryview):
        return _parse(bytes(model), source or "<bytes>"), source or "<bytes>", base_dir
    path = os.fspath(model)
    source = source or path
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FrontendError(source, "no such file") from None
    except IsADirectoryError:
        raise FrontendError(source, "is a directory, not a model file") from None
    except OSError as err:
        raise FrontendError(source, f"cannot read: {err.strerror}") from None
    return _parse(data, source), source, os.path.dirname(os.path.abspath(path))


def _parse(data: bytes, source: str) -> ModelProto:
    try:
        model = ModelProto.FromString(data)
    except Exception as err:  # noqa: BLE001 - DecodeError and friends
        raise FrontendError(source, f"not an ONNX model: {type(err).__name__}: {err}") from None
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise FrontendError(source, "not an ONNX model (no IR version or no graph)")
    return model


def _opsets(model: ModelProto, source: str) -> dict[str, int]:
    opsets: dict[str, int] = {}
    for entry in model.opset_import:
        domain = "" if entry.domain in DEFAULT_DOMAINS else entry.domain
        opsets[domain] = int(entry.version)
    if "" not in opsets and model.ir_version < 3:  # IR v1-2 files had no opset_import: opset 1
        opsets[""] = 1
    return opsets


# ---------------------------------------------------------------------------------------------
# Support scan
# ---------------------------------------------------------------------------------------------


def _node_label(proto: NodeProto, index: int) -> str:
    return proto.name or f"{proto.op_type}_{index}"


def _schema(op_type: str, opset: int, domain: str):
    try:
        return onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return None


def _static_function(schema, opset: int):
    versions = [v for v in getattr(schema, "function_opset_versions", []) if v <= opset]
    body = None
    if versions:
        body = schema.get_function_with_opset_version(max(versions))
    elif schema.has_function:
        body = schema.function_body
    if isinstance(body, bytes):
        body = onnx.FunctionProto.FromString(body)
    return body if body is not None and len(body.node) else None


def _has_context_function(schema, opset: int) -> bool:
    versions = [v for v in getattr(schema, "context_dependent_function_opset_versions", []) if v <= opset]
    return bool(versions) or (schema.has_context_dependent_function and not versions and
                               not getattr(schema, "context_dependent_function_opset_versions", []))  # fmt: skip


def _why_unsupported(proto: NodeProto, opsets: dict[str, int], depth: int = 0) -> str | None:
    """None when graphc can convert this node (by a converter or by expanding its function)."""
    domain = "" if proto.domain in DEFAULT_DOMAINS else proto.domain
    if domain not in opsets:
        return f"the model imports no opset of domain '{proto.domain}'"
    if domain:
        return f"domain '{proto.domain}' is not supported"
    opset = opsets[domain]
    schema = _schema(proto.op_type, opset, domain)
    if schema is None:
        return f"no such op in opset {opset}"
    if find_converter(proto.op_type, schema.since_version) is not None:
        return None
    if depth < _MAX_FUNCTION_DEPTH:
        body = _static_function(schema, opset)
        if body is not None:
            body_opsets = _function_opsets(body, opsets)
            for inner in body.node:
                reason = _why_unsupported(inner, body_opsets, depth + 1)
                if reason is not None:
                    return f"its function body uses {inner.op_type}, which is unsupported ({reason})"
            return None
        if _has_context_function(schema, opset):
            return None
    if proto.op_type in CONVERTERS:
        return f"version {schema.since_version} of the op is not supported"
    return "no converter"


def unsupported_nodes(model: ModelProto, source: str = "<model>") -> list[tuple[str, str, int, str]]:
    """(node name, op type, opset, reason) for every top-level node graphc cannot convert."""
    opsets = _opsets(model, source)
    found = []
    for index, proto in enumerate(model.graph.node):
        reason = _why_unsupported(proto, opsets)
        if reason is not None:
            domain = "" if proto.domain in DEFAULT_DOMAINS else proto.domain
            found.append((_node_label(proto, index), proto.op_type, opsets.get(domain, 0), reason))
    return found


def _check_supported(model: ModelProto, source: str) -> None:
    found = unsupported_nodes(model, source)
    if not found:
        return
    by_op: dict[tuple[str, int, str], list[str]] = {}
    for name, op_type, opset, reason in found:
        by_op.setdefault((op_type, opset, reason), []).append(name)
    parts = []
    for (op_type, opset, reason), names in by_op.items():
        shown = ", ".join(f"'{n}'" for n in names[:5])
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        word = "node" if len(names) == 1 else "nodes"
        detail = "" if reason == "no converter" else f": {reason}"
        parts.append(f"{op_type} ({word} {shown}{more}, opset {opset}{detail})")
    count = len({op for op, _, _ in by_op})
    noun = "unsupported op" if count == 1 else "unsupported ops"
    raise OnnxUnsupportedError(source, f"{count} {noun}: " + "; ".join(parts))


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def import_onnx(
    model: str | os.PathLike | bytes | ModelProto,
    *,
    source: str | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
    constant_inputs: Mapping[str, np.ndarray] | None = None,
    base_dir: str | None = None,
) -> GraphProgram:
    """Converts an ONNX model to a verified `GraphProgram`.

    `input_shapes` specialises symbolic dimensions (name -> dims); `inputs` picks and orders the
    graph inputs that become arguments (default: every graph input that is not an initializer);
    `outputs` names the values to return (default: the graph outputs; any value name works);
    `constant_inputs` gives values for graph inputs to specialise on (they stop being arguments);
    `base_dir` is the folder of external data files when `model` is bytes or a ModelProto.
    """
    proto, label, base_dir = load_onnx(model, source, base_dir)
    with _diagnostics(label):
        return _Importer(proto, label, base_dir).run(input_shapes, inputs, outputs, constant_inputs)


def inspect_onnx(model: str | os.PathLike | bytes | ModelProto, source: str | None = None) -> dict:  # noqa: C901
    """What `graphc inspect` shows (the same keys as `inspect_graphdef`).

    `inputs` are the graph inputs that are not initializers (-1 = symbolic dimension, None =
    unknown rank); `op_histogram` counts node op types; `unsupported` maps op types to node names;
    `parameters` counts the elements of floating-point initializers.
    """
    proto, label, base_dir = load_onnx(model, source)
    with _diagnostics(label):
        graph = proto.graph
        initializers = {t.name for t in graph.initializer} | {s.values.name for s in graph.sparse_initializer}
        inputs = []
        for vi in graph.input:
            if vi.name in initializers:
                continue
            shape, dtype = _declared(vi)
            inputs.append({"name": vi.name, "shape": shape, "dtype": dtype})
        unsupported: dict[str, list[str]] = {}
        for name, op_type, _, _ in unsupported_nodes(proto, label):
            unsupported.setdefault(op_type, []).append(name)
        parameters = 0
        for t in graph.initializer:
            if t.data_type in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16):
                parameters += int(np.prod([int(d) for d in t.dims], dtype=np.int64))
        histogram = Counter(n.op_type for n in graph.node)
        opsets = _opsets(proto, label)
        return {
            "format": f"ONNX (IR version {proto.ir_version}, opset {opsets.get('', '-')})",
            "nodes": len(graph.node),
            "functions": len(proto.functions),
            "inputs": inputs,
            "outputs": [o.name for o in graph.output],
            "op_histogram": dict(sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0]))),
            "unsupported": unsupported,
            "parameters": parameters,
        }


def _declared(vi) -> tuple[list[int] | None, str]:
    t = vi.type
    if not t.HasField("tensor_type"):
        return None, t.WhichOneof("value") or "unknown"
    tt = t.tensor_type
    try:
        dtype = str(dtypes.to_numpy_dtype(element_type(tt.elem_type)))
    except NodeError:
        dtype = dtype_name(tt.elem_type)
    if not tt.HasField("shape"):
        return None, dtype
    return [int(d.dim_value) if d.HasField("dim_value") else -1 for d in tt.shape.dim], dtype


@contextmanager
def _diagnostics(source: str):
    """Whatever goes wrong while importing becomes one FrontendError line, never a traceback."""
    try:
        yield
    except FrontendError:
        raise
    except Unsupported as err:
        raise OnnxUnsupportedError(source, str(err)) from None
    except NodeError as err:
        raise FrontendError(source, str(err)) from None
    except RecursionError:
        raise FrontendError(source, "internal error: recursion too deep") from None
    except Exception as err:  # noqa: BLE001 - a front-end bug; still one line for the user
        raise FrontendError(source, f"internal error: {type(err).__name__}: {err}") from None


# ---------------------------------------------------------------------------------------------
# The importer
# ---------------------------------------------------------------------------------------------


class _Missing:
    """An optional node output the converter does not produce; an error only when used."""

    def __init__(self, node: OnnxNode, index: int):
        self.node, self.index = node, index


class _Importer:
    def __init__(self, model: ModelProto, source: str, base_dir: str | None):
        if model.functions:  # model-local functions: inline them first
            model = onnx.inliner.inline_local_functions(model)
        self.model = model
        self.graph = model.graph
        self.source = source
        self.base_dir = base_dir
        self.opsets = _opsets(model, source)
        self.weights = WeightStore()
        self.ctx = OnnxConverter(source, self.weights)
        self.values: dict[str, SSAValue | _Missing] = {}
        self._fresh = 0

    # -- signature -------------------------------------------------------------------------------

    def run(self, input_shapes, inputs, outputs, constant_inputs) -> GraphProgram:
        _check_supported(self.model, self.source)
        graph = self.graph
        for subgraph_attr in (a for n in graph.node for a in n.attribute if a.type in (5, 10)):  # GRAPH(S)
            raise OnnxUnsupportedError(self.source, f"subgraph attribute '{subgraph_attr.name}' (control flow) is not supported")
        initializer_names = self._load_initializers()
        graph_inputs = [vi for vi in graph.input if vi.name not in initializer_names]
        by_name = {vi.name: vi for vi in graph_inputs}
        constant_inputs = dict(constant_inputs or {})
        for name in constant_inputs:
            if name not in by_name:
                raise FrontendError(self.source, f"constant input '{name}' is not an input of the model")
        if inputs is None:
            arg_names = [vi.name for vi in graph_inputs if vi.name not in constant_inputs]
        else:
            arg_names = []
            for name in inputs:
                if name not in by_name:
                    known = ", ".join(by_name) or "none"
                    raise FrontendError(self.source, f"input '{name}' is not an input of the model (inputs: {known})")
                if name not in arg_names:
                    arg_names.append(name)
        shapes = self._normalize_shapes(input_shapes, by_name)
        arg_types = [self._input_type(by_name[name], shapes.get(name)) for name in arg_names]
        block = Block(arg_types=arg_types)
        for name, arg in zip(arg_names, block.args):
            self.values[name] = arg
            self.ctx.arg_names[arg] = name
        for name, array in constant_inputs.items():
            self.values[name] = self._constant_input(by_name[name], np.asarray(array))

        for index, proto in enumerate(graph.node):
            self._convert(proto, _node_label(proto, index), self.opsets, depth=0)

        out_names = [o.name for o in graph.output] if outputs is None else list(outputs)
        if not out_names:
            raise FrontendError(self.source, "the model has no outputs")
        declared = {o.name: o for o in graph.output}
        results = []
        for name in out_names:
            value = self._lookup(name, None, what="output")
            if name in declared:
                self._check_output_type(declared[name], value)
            results.append(value)

        for op in self.ctx.ops:
            block.add_op(op)
        block.add_op(func.ReturnOp(*results))
        _remove_dead_ops(block)
        main = func.FuncOp("main", (arg_types, [v.type for v in results]), Region([block]))
        set_io_names(main, list(arg_names), out_names)
        module = ModuleOp([main])
        self.weights.prune(module)
        try:
            module.verify()
        except VerifyException as err:  # a front-end bug, but still reported as one line
            raise FrontendError(self.source, f"internal error: the imported graph does not verify: {err}") from None
        return GraphProgram(module, self.weights)

    def _load_initializers(self) -> set[str]:
        names = set()
        for tensor in self.graph.initializer:
            try:
                array = tensor_to_array(tensor, self.base_dir)
            except NodeError as err:
                cls = OnnxUnsupportedError if isinstance(err, Unsupported) else FrontendError
                raise cls(self.source, f"initializer '{tensor.name}': {err}") from None
            self.values[tensor.name] = self.ctx.const(array, tensor.name)
            names.add(tensor.name)
        for sparse in self.graph.sparse_initializer:
            try:
                array = sparse_to_dense(sparse, self.base_dir)
            except NodeError as err:
                raise FrontendError(self.source, f"sparse initializer '{sparse.values.name}': {err}") from None
            self.values[sparse.values.name] = self.ctx.const(array, sparse.values.name)
            names.add(sparse.values.name)
        return names

    def _normalize_shapes(self, input_shapes, by_name) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for key, dims in (input_shapes or {}).items():
            if key not in by_name:
                known = ", ".join(by_name) or "none"
                raise FrontendError(self.source, f"--input-shape names '{key}', which is not an input of the model (inputs: {known})")
            try:
                shapes[key] = tuple(int(d) for d in dims)
            except (TypeError, ValueError):
                raise FrontendError(self.source, f"--input-shape for '{key}' is not a list of integers: {dims!r}") from None
            if any(d < 0 for d in shapes[key]):
                raise FrontendError(self.source, f"--input-shape for '{key}' has a negative dimension: {list(dims)}")
        return shapes

    def _input_type(self, vi, given: tuple[int, ...] | None) -> TensorType:
        name = vi.name
        t = vi.type
        kind = t.WhichOneof("value")
        if kind != "tensor_type":
            raise OnnxUnsupportedError(self.source, f"input '{name}' is a {kind or 'value of unknown type'}; graphc supports tensors only")
        tt = t.tensor_type
        try:
            element = element_type(tt.elem_type)
        except NodeError as err:
            cls = OnnxUnsupportedError if isinstance(err, Unsupported) else FrontendError
            raise cls(self.source, f"input '{name}': {err}") from None
        declared = None
        if tt.HasField("shape"):
            declared = [int(d.dim_value) if d.HasField("dim_value") else -1 for d in tt.shape.dim]
        if declared is None:
            if given is None:
                raise FrontendError(self.source, f"input '{name}' has an unknown rank; pass --input-shape {name}=1x3x224x224 (its real dimensions)")
            return dtypes.tensor(given, element)
        if given is not None:
            if len(given) != len(declared) or any(d >= 0 and d != gd for d, gd in zip(declared, given)):
                raise FrontendError(self.source, f"--input-shape {name}={_shape_text(given)} does not match the input's declared shape {_dims_text(declared, tt)}")
            return dtypes.tensor(given, element)
        if any(d < 0 for d in declared):
            raise FrontendError(self.source, f"input '{name}' has symbolic dimensions {_dims_text(declared, tt)}; pass --input-shape {name}={_shape_text(declared)} (with its real dimensions)")
        return dtypes.tensor(declared, element)

    def _constant_input(self, vi, array: np.ndarray) -> SSAValue:
        tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if tt is None:
            raise OnnxUnsupportedError(self.source, f"input '{vi.name}' is not a tensor")
        try:
            element = element_type(tt.elem_type)
        except NodeError as err:
            raise OnnxUnsupportedError(self.source, f"input '{vi.name}': {err}") from None
        dtype = dtypes.to_numpy_dtype(element)
        if array.dtype != dtype:
            raise FrontendError(self.source, f"the value given for input '{vi.name}' is {array.dtype}, the input is {dtype}")
        if tt.HasField("shape"):
            declared = [int(d.dim_value) if d.HasField("dim_value") else -1 for d in tt.shape.dim]
            if len(declared) != array.ndim or any(d >= 0 and d != s for d, s in zip(declared, array.shape)):
                raise FrontendError(self.source, f"the value given for input '{vi.name}' has shape {list(array.shape)}, the input is declared {_dims_text(declared, tt)}")
        return self.ctx.const(array, vi.name)

    def _check_output_type(self, vi, value: SSAValue) -> None:
        if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.elem_type:
            return
        try:
            declared = element_type(vi.type.tensor_type.elem_type)
        except NodeError:
            return
        actual = value.type.element_type
        if actual != declared:
            raise FrontendError(self.source, f"internal error: output '{vi.name}' is {actual}, the model declares {declared}")

    # -- nodes -------------------------------------------------------------------------------------

    def _lookup(self, name: str, node: OnnxNode | None, what: str = "input") -> SSAValue:
        value = self.values.get(name)
        if isinstance(value, _Missing):
            producer = value.node
            raise Unsupported(f"{what} '{name}' is output {value.index} of node '{producer.name}' ({producer.op_type}), "
                              "which graphc does not compute")  # fmt: skip
        if value is None:
            where = f" of node '{node.name}' ({node.op_type})" if node else ""
            raise NodeError(f"{what} '{name}'{where} is not computed by any earlier node, initializer or graph input")
        return value

    def _convert(self, proto: NodeProto, label: str, opsets: dict[str, int], depth: int) -> None:
        domain = "" if proto.domain in DEFAULT_DOMAINS else proto.domain
        opset = opsets.get(domain)
        schema = _schema(proto.op_type, opset, domain) if opset is not None else None
        if schema is None:
            raise Unsupported(f"node '{label}' ({proto.op_type}): no such op in opset {opset}")
        formal = [i.name for i in schema.inputs]
        node = OnnxNode.from_proto(proto, label, schema.since_version, opset, formal)
        try:
            args = [self._lookup(name, node) if name else None for name in node.inputs]
            registration = find_converter(node.op_type, node.version)
            if registration is None:
                self._expand_function(node, proto, schema, args, depth)
                return
            self.ctx.onnx_node = node
            self.ctx.node = node
            outs = list(registration.fn(self.ctx, node, args))
        except ConstantNeeded as err:
            raise ConstantInputsNeeded(self.source, str(err), err.inputs, node=node.name, op=node.op_type) from None
        except Unsupported as err:
            raise OnnxUnsupportedError(self.source, str(err), node=node.name, op=node.op_type) from None
        except NodeError as err:
            raise FrontendError(self.source, str(err), node=node.name, op=node.op_type) from None
        except FrontendError:
            raise
        except RecursionError:
            raise FrontendError(self.source, "internal error: recursion too deep", node=node.name, op=node.op_type) from None
        except Exception as err:  # noqa: BLE001 - never a traceback for a bad model
            raise FrontendError(self.source, f"internal error while converting: {type(err).__name__}: {err}",
                                node=node.name, op=node.op_type) from None  # fmt: skip
        for index, name in enumerate(node.outputs):
            if not name:
                continue
            value = outs[index] if index < len(outs) else None
            if value is not None and _is_empty(value) and not isinstance(value.owner, g.ConstantOp):
                # A tensor with no elements is fully known: nothing computes it at run time.
                value = self.ctx.const(np.zeros(value.type.get_shape(), dtypes.to_numpy_dtype(value.type.element_type)))
            self.values[name] = _Missing(node, index) if value is None else value

    # -- functions ----------------------------------------------------------------------------------

    def _expand_function(self, node: OnnxNode, proto: NodeProto, schema, args, depth: int) -> None:
        """Converts `node` as the body of its schema's function (static or context-dependent)."""
        if depth >= _MAX_FUNCTION_DEPTH:
            raise NodeError(f"function bodies nest deeper than {_MAX_FUNCTION_DEPTH} levels")
        body = _static_function(schema, node.opset)
        if body is None:
            body = self._context_function(node, proto, schema, args)
        if body is None:
            raise Unsupported("no converter")
        body_opsets = _function_opsets(body, self.opsets)
        self._fresh += 1
        prefix = f"{node.name}/{self._fresh}/"
        renames: dict[str, str] = {}
        for i, formal in enumerate(body.input):
            renames[formal] = node.inputs[i] if i < len(node.inputs) else ""
        for i, formal in enumerate(body.output):
            renames[formal] = node.outputs[i] if i < len(node.outputs) else ""
        defaults = {a.name: a for a in body.attribute_proto}
        for index, inner in enumerate(body.node):
            inner_proto = NodeProto()
            inner_proto.CopyFrom(inner)
            del inner_proto.input[:]
            del inner_proto.output[:]
            for name in inner.input:
                inner_proto.input.append(renames.get(name, prefix + name) if name else "")
            for name in inner.output:
                if name in renames:
                    inner_proto.output.append(renames[name])
                else:
                    inner_proto.output.append(prefix + name if name else "")
            _bind_attributes(inner_proto, proto, defaults, schema)
            label = f"{node.name}/{inner.name or inner.op_type + '_' + str(index)}"
            self._convert(inner_proto, label, body_opsets, depth + 1)

    def _context_function(self, node: OnnxNode, proto: NodeProto, schema, args):
        versions = [v for v in getattr(schema, "context_dependent_function_opset_versions", []) if v <= node.opset]
        if not versions and not schema.has_context_dependent_function:
            return None
        types = [_type_proto(a) for a in args]
        try:
            if versions:
                data = schema.get_context_dependent_function_with_opset_version(
                    max(versions), proto.SerializeToString(), [t.SerializeToString() for t in types]
                )
            else:
                data = schema.get_context_dependent_function(proto.SerializeToString(), [t.SerializeToString() for t in types])
        except Exception as err:  # noqa: BLE001 - onnx's C++ builders raise on unsupported forms
            raise Unsupported(f"cannot expand the op's function: {err}") from None
        if not data:
            return None
        body = onnx.FunctionProto.FromString(data) if isinstance(data, bytes) else data
        return body if len(body.node) else None


def _is_empty(value: SSAValue) -> bool:
    return any(int(d) == 0 for d in value.type.get_shape())


def _function_opsets(body, outer: dict[str, int]) -> dict[str, int]:
    opsets = dict(outer)
    for entry in body.opset_import:
        domain = "" if entry.domain in DEFAULT_DOMAINS else entry.domain
        opsets[domain] = int(entry.version)
    return opsets


def _bind_attributes(inner: NodeProto, caller: NodeProto, defaults: dict, schema) -> None:
    """Replaces attribute references (`ref_attr_name`) by the caller's attribute or the default."""
    given = {a.name: a for a in caller.attribute}
    kept = []
    for attr in inner.attribute:
        if not attr.ref_attr_name:
            kept.append(attr)
            continue
        source = given.get(attr.ref_attr_name) or defaults.get(attr.ref_attr_name)
        if source is None and attr.ref_attr_name in schema.attributes:
            default = schema.attributes[attr.ref_attr_name].default_value
            if default is not None and default.type != 0:
                source = default
        if source is None:
            continue  # an omitted optional attribute: the inner op's own default applies
        bound = onnx.AttributeProto()
        bound.CopyFrom(source)
        bound.name = attr.name
        kept.append(bound)
    del inner.attribute[:]
    inner.attribute.extend(kept)


def _type_proto(value: SSAValue | None) -> TypeProto:
    if value is None:
        return TypeProto()
    t = value.type
    return helper.make_tensor_type_proto(onnx_elem_type(t.element_type), [int(d) for d in t.get_shape()])


def _remove_dead_ops(block: Block) -> None:
    """Drops ops whose results nothing uses (shape arithmetic consumed at compile time)."""
    for op in reversed(list(block.ops)):
        if isinstance(op, func.ReturnOp):
            continue
        if all(not r.uses for r in op.results):
            block.erase_op(op)


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(d if d >= 0 else 1) for d in shape) if shape else "''"


def _dims_text(shape: Sequence[int], tt=None) -> str:
    names = []
    dims = list(tt.shape.dim) if tt is not None and tt.HasField("shape") else []
    for i, d in enumerate(shape):
        if d >= 0:
            names.append(str(d))
        elif i < len(dims) and dims[i].dim_param:
            names.append(dims[i].dim_param)
        else:
            names.append("?")
    return "[" + ", ".join(names) + "]"
