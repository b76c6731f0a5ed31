"""TensorFlow front end: a frozen GraphDef (`.pb`) -> a `GraphProgram` in the `graph` dialect.

TensorFlow is never imported: the GraphDef is parsed with the protobuf runtime and the schema subset
in `tf_graphdef_schema`. The import runs in fixed steps, each of which can reject the model with a
one-line `FrontendError`:

1. parse the bytes (anything that is not a GraphDef is rejected here);
2. index the nodes, dropping control inputs (`^name`), and inline `PartitionedCall` /
   `StatefulPartitionedCall` (and TF1-style calls) into library functions without control flow;
3. pick the outputs (the given ones, or the graph's sinks) and walk back to the inputs (the given
   ones, or the Placeholders something consumes);
4. scan that subgraph for unsupported ops and report all of them at once;
5. convert the nodes in topological order (an iterative sort: graphs can be deep). Pass-through ops
   (Identity, StopGradient, ...) vanish; shape-defining operands (shapes, axes, perms, paddings...)
   are computed at compile time by evaluating the graph ops that produced them in numpy
   (`Converter.constant_of`); `Shape`/`Size`/`Rank` fold to constants since shapes are static.

Converters per op type live in `tf_ops_math`, `tf_ops_nn`, `tf_ops_quant`, `tf_ops_shape` and `tf_einsum`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Region, SSAValue
from xdsl.utils.exceptions import VerifyException

from graphc.dialects import dtypes
from graphc.dialects.resources import GraphProgram, WeightStore, set_io_names
from graphc.frontends import tf_graphdef_schema as schema
from graphc.frontends.errors import FrontendError
from graphc.frontends.tf_context import (
    CONVERTERS,
    STATIC_OPERANDS,
    Converter,
    NodeError,
    TFNode,
    dtype_label,
    element_type,
    parse_input,
    tensor_name,
)

# The op modules register their converters on import.
from graphc.frontends import tf_einsum, tf_ops_math, tf_ops_nn, tf_ops_quant, tf_ops_shape  # noqa: F401,E402
from graphc.frontends.tf_ops_shape import PASS_THROUGH_OPS  # noqa: E402

__all__ = ["import_graphdef", "inspect_graphdef", "supported_ops", "FrontendError"]

CONTROL_FLOW_OPS = frozenset(
    {
        "While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase", "For",
        "Enter", "Exit", "Switch", "Merge", "NextIteration", "LoopCond", "_SwitchN",
        "RefEnter", "RefExit", "RefSwitch", "RefMerge", "RefNextIteration", "ControlTrigger",
    }
)  # fmt: skip
"""Rejected by name: control flow needs regions in the graph dialect (a later issue)."""

CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})

VARIABLE_OPS = frozenset(
    {"VarHandleOp", "ReadVariableOp", "VariableV2", "Variable", "ResourceGather", "AssignVariableOp"}
)
"""Left in graphs that were not frozen: reported with a hint to freeze them."""

INPUT_OPS = frozenset({"Placeholder", "PlaceholderV2"})

NOT_OUTPUTS = frozenset(
    {
        "NoOp", "Const", "Placeholder", "PlaceholderV2", "PlaceholderWithDefault", "Assert", "Print",
        "PrintV2", "VarHandleOp", "VarIsInitializedOp", "VariableV2", "Variable", "ReadVariableOp",
        "AssignVariableOp", "Assign", "SaveV2", "RestoreV2", "MergeV2Checkpoints", "ShardedFilename",
        "StringJoin", "StaticRegexFullMatch",
    }
)  # fmt: skip
"""Ops that are never picked as default outputs when nothing consumes them (graph leftovers)."""

# Output argument layout of multi-output ops, to resolve `node:out_arg:k` inside FunctionDefs.
_OUTPUT_ARGS: dict[str, tuple[str, ...]] = {
    "FusedBatchNorm": ("y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"),
    "FusedBatchNormV2": ("y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"),
    "FusedBatchNormV3": (
        "y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3",
    ),
    "_FusedBatchNormEx": (
        "y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3",
    ),
    "TopKV2": ("values", "indices"),
    "TopK": ("values", "indices"),
    "Unique": ("y", "idx"),
    "UniqueV2": ("y", "idx"),
    "UniqueWithCounts": ("y", "idx", "count"),
    "MaxPoolWithArgmax": ("output", "argmax"),
    "BroadcastGradientArgs": ("r0", "r1"),
}  # fmt: skip

_MAX_INLINED_CALLS = 100_000
_MAX_CALL_DEPTH = 64


def supported_ops() -> list[str]:
    """Every TensorFlow op type the front end converts (pass-throughs and inlined calls included)."""
    return sorted(set(CONVERTERS) | INPUT_OPS | CALL_OPS)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def import_graphdef(
    data: bytes,
    *,
    source: str,
    input_shapes: dict[str, Sequence[int]] | None = None,
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
) -> GraphProgram:
    """Converts a serialized frozen GraphDef to a verified `GraphProgram`.

    `input_shapes` specialises unknown dimensions (name -> dims); `inputs` / `outputs` override the
    default inputs (consumed Placeholders) and outputs (sink nodes); outputs may be `name:k`.
    """
    with _diagnostics(source):
        return _import(data, source, input_shapes, inputs, outputs)


def _import(data, source, input_shapes, inputs, outputs) -> GraphProgram:
    graph = _parse(data, source)
    view = _GraphView(graph, source)
    out_refs = view.resolve_outputs(outputs)
    in_names = view.resolve_inputs(inputs)
    reachable, placeholders = view.reachable(out_refs, in_names)
    if in_names is None:
        in_names = placeholders
    view.check_supported(reachable, set(in_names))
    order = view.topological_order(out_refs, set(in_names))

    weights = WeightStore()
    ctx = Converter(source, weights)
    shapes = _normalize_shape_keys(input_shapes, in_names, source)
    arg_types = [view.input_type(name, shapes.get(name)) for name in in_names]
    block = Block(arg_types=arg_types)
    values: dict[tuple[str, int], SSAValue] = {}
    for name, arg in zip(in_names, block.args):
        values[(name, 0)] = arg

    input_set = set(in_names)
    for name in order:
        if name in input_set:
            continue
        node = view.nodes[name]
        _convert_node(ctx, view, node, values)

    results = []
    for name, index in out_refs:
        value = values.get((name, index))
        if value is None:
            node = view.nodes[name]
            raise FrontendError(
                source, f"output {index} does not exist", node=name, op=node.op
            )
        results.append(value)

    for op in ctx.ops:
        block.add_op(op)
    block.add_op(func.ReturnOp(*results))
    _remove_dead_ops(block)
    main = func.FuncOp("main", (arg_types, [v.type for v in results]), Region([block]))
    set_io_names(main, list(in_names), [tensor_name(n, i) for n, i in out_refs])
    module = ModuleOp([main])
    weights.prune(module)
    try:
        module.verify()
    except VerifyException as err:  # a front-end bug, but still reported as one line
        raise FrontendError(source, f"internal error: the imported graph does not verify: {err}") from None
    return GraphProgram(module, weights)


def inspect_graphdef(data: bytes, source: str) -> dict:
    """What `graphc inspect` shows: inputs, outputs, op histogram, unsupported ops, parameters.

    - `inputs`: the consumed Placeholders with their declared shapes (-1 = unknown dim, None =
      unknown rank) and dtypes; `outputs`: the sink tensors (what `graphc compile` would return).
    - `op_histogram`: TensorFlow op type -> node count over the nodes the outputs depend on, after
      inlining function calls; `nodes`: total nodes in the GraphDef.
    - `unsupported`: op type -> node names, for ops the front end cannot convert.
    - `parameters`: number of elements in floating-point `Const` tensors the outputs depend on that
      feed computation (constants used only as shapes, axes, perms, paddings... are not counted).
    """
    with _diagnostics(source):
        return _inspect(data, source)


def _inspect(data: bytes, source: str) -> dict:
    graph = _parse(data, source)
    view = _GraphView(graph, source)
    out_refs = view.resolve_outputs(None)
    reachable, placeholders = view.reachable(out_refs, None, strict=False)
    inputs = []
    for name in placeholders:
        node = view.nodes[name]
        dt = node.get_type("dtype", 0) if node.has("dtype") else 0
        inputs.append(
            {
                "name": name,
                "shape": view.declared_shape(node),
                "dtype": _dtype_text(dt),
            }
        )
    histogram = Counter(view.nodes[n].op for n in reachable)
    unsupported = view.unsupported(reachable, set(placeholders))
    return {
        "format": "TensorFlow GraphDef",
        "nodes": len(graph.node),
        "functions": len(view.functions),
        "inputs": inputs,
        "outputs": [tensor_name(n, i) for n, i in out_refs],
        "op_histogram": dict(sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0]))),
        "unsupported": {op: names for op, (names, _) in unsupported.items()},
        "parameters": view.parameter_count(reachable),
    }


# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------


@contextmanager
def _diagnostics(source: str):
    """Whatever goes wrong while importing becomes one FrontendError line, never a traceback."""
    try:
        yield
    except FrontendError:
        raise
    except NodeError as err:
        raise FrontendError(source, str(err)) from None
    except RecursionError:
        raise FrontendError(source, "internal error: recursion too deep") from None
    except Exception as err:  # noqa: BLE001 - a front-end bug; still one line for the user
        raise FrontendError(source, f"internal error: {type(err).__name__}: {err}") from None


def _parse(data: bytes, source: str):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FrontendError(source, f"expected the bytes of a GraphDef, got {type(data).__name__}")
    try:
        return schema.parse_graphdef(bytes(data))
    except ValueError as err:
        message = str(err)
        if not message.startswith("not a TensorFlow GraphDef"):
            message = f"not a TensorFlow GraphDef: {message}"
        raise FrontendError(source, message) from None
    except Exception as err:  # noqa: BLE001 - protobuf implementations raise various things
        raise FrontendError(source, f"not a TensorFlow GraphDef: {type(err).__name__}: {err}") from None


def _convert_node(ctx: Converter, view: "_GraphView", node: TFNode, values: dict) -> None:
    source = view.source
    args = []
    for src, index in node.inputs:
        value = values.get((src, index))
        if value is None:
            raise FrontendError(
                source,
                f"input '{tensor_name(src, index)}' does not exist (node '{src}' has no output {index})",
                node=node.name,
                op=node.op,
            )
        args.append(value)
    converter = CONVERTERS[node.op]
    ctx.node = node
    try:
        outs = converter(ctx, node, args)
    except NodeError as err:
        raise FrontendError(source, str(err), node=node.name, op=node.op) from None
    except FrontendError:
        raise
    except RecursionError:
        raise FrontendError(source, "internal error: recursion too deep", node=node.name, op=node.op) from None
    except Exception as err:  # noqa: BLE001 - never a traceback for a bad model
        raise FrontendError(
            source, f"internal error while converting: {type(err).__name__}: {err}", node=node.name, op=node.op
        ) from None
    for i, value in enumerate(outs):
        values[(node.name, i)] = value


def _remove_dead_ops(block: Block) -> None:
    """Drops ops whose results nothing uses (shape arithmetic consumed at compile time)."""
    for op in reversed(list(block.ops)):
        if isinstance(op, func.ReturnOp):
            continue
        if all(not r.uses for r in op.results):
            block.erase_op(op)


def _normalize_shape_keys(input_shapes, in_names: list[str], source: str) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for key, dims in (input_shapes or {}).items():
        name = key[:-2] if key.endswith(":0") else key
        if name not in in_names:
            known = ", ".join(in_names) or "none"
            raise FrontendError(source, f"--input-shape names '{key}', which is not an input of the model (inputs: {known})")
        try:
            shapes[name] = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            raise FrontendError(source, f"--input-shape for '{key}' is not a list of integers: {dims!r}") from None
        if any(d < 0 for d in shapes[name]):
            raise FrontendError(source, f"--input-shape for '{key}' has a negative dimension: {list(dims)}")
    return shapes


def _dtype_text(dt: int) -> str:
    try:
        return str(dtypes.to_numpy_dtype(element_type(dt)))
    except (NodeError, ValueError):
        return dtype_label(dt)


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(d if d >= 0 else 1) for d in shape) if shape else "''"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# ---------------------------------------------------------------------------------------------
# The graph as nodes: inlining, outputs, inputs, reachability, order
# ---------------------------------------------------------------------------------------------


class _GraphView:
    def __init__(self, graph, source: str):
        self.source = source
        self.nodes: dict[str, TFNode] = {}
        for i, nd in enumerate(graph.node):
            if nd.name in self.nodes:
                raise FrontendError(source, f"two nodes are named '{nd.name}'; the GraphDef is invalid")
            self.nodes[nd.name] = _make_node(nd, i)
        self.functions = {f.signature.name: f for f in graph.library.function}
        self.sinks = self._default_outputs()
        self._control_flow_memo: dict[str, str | None] = {}
        self._inline_calls()

    # -- function calls ------------------------------------------------------------------------

    def _callee_name(self, node: TFNode) -> str | None:
        if node.op in CALL_OPS:
            f = node.get_func("f")
            return f.name if f is not None else ""
        if node.op in self.functions:
            return node.op
        return None

    def _function_control_flow(self, fname: str) -> str | None:
        """The control-flow op a function (or a function it calls) contains, if any."""
        if fname in self._control_flow_memo:
            return self._control_flow_memo[fname]
        self._control_flow_memo[fname] = None  # recursion guard
        found = None
        fdef = self.functions.get(fname)
        for nd in fdef.node_def if fdef is not None else []:
            if nd.op in CONTROL_FLOW_OPS:
                found = nd.op
                break
            callee = None
            if nd.op in CALL_OPS and "f" in nd.attr:
                callee = nd.attr["f"].func.name
            elif nd.op in self.functions:
                callee = nd.op
            if callee:
                inner = self._function_control_flow(callee)
                if inner:
                    found = inner
                    break
        self._control_flow_memo[fname] = found
        return found

    def _inline_calls(self) -> None:
        work = [n for n in self.nodes.values() if self._callee_name(n) is not None]
        count = 0
        while work:
            call = work.pop()
            fname = self._callee_name(call)
            if not fname or fname not in self.functions:
                call.note = f"calls function '{fname}', which the GraphDef's library does not define"
                continue
            flow = self._function_control_flow(fname)
            if flow:
                call.note = f"control flow is not supported yet: function '{fname}' contains {flow}"
                continue
            count += 1
            if count > _MAX_INLINED_CALLS:
                raise FrontendError(self.source, f"more than {_MAX_INLINED_CALLS} function calls to inline")
            if call.extra.get("depth", 0) >= _MAX_CALL_DEPTH:
                call.note = f"function calls nest deeper than {_MAX_CALL_DEPTH} levels (recursion?)"
                continue
            try:
                new_nodes = self._instantiate(call, self.functions[fname])
            except NodeError as err:
                call.note = str(err)
                continue
            for n in new_nodes:
                self.nodes[n.name] = n
                if self._callee_name(n) is not None:
                    work.append(n)

    def _instantiate(self, call: TFNode, fdef) -> list[TFNode]:
        """Copies the body of `fdef` into the graph under `call.name/`; the call becomes an IdentityN."""
        sig = fdef.signature
        prefix = call.name + "/"
        n = 1
        while any((prefix + nd.name) in self.nodes for nd in fdef.node_def):
            prefix = f"{call.name}/_inlined_{n}/"
            n += 1
        if len(sig.input_arg) != len(call.inputs) or any(
            a.number_attr or a.type_list_attr for a in sig.input_arg
        ):
            raise NodeError(
                f"calls function '{sig.name}' with {len(call.inputs)} inputs but it takes "
                f"{len(sig.input_arg)} (list arguments are not supported)"
            )
        args = {a.name: ref for a, ref in zip(sig.input_arg, call.inputs)}
        body_ops = {nd.name: nd.op for nd in fdef.node_def}
        bindings = {}
        f = call.get_func("f") if call.op in CALL_OPS else None
        if f is not None:
            bindings.update({k: f.attr[k] for k in f.attr})
        bindings.update({k: v for k, v in call.attr.items() if k != "f"})

        def resolve(text: str) -> tuple[str, int] | None:
            if text.startswith("^"):
                return None
            parts = text.split(":")
            if len(parts) == 1:
                if text in args:
                    return args[text]
                if text in body_ops:
                    return (prefix + text, 0)
                raise NodeError(f"function '{sig.name}' refers to '{text}', which it does not define")
            node_name = parts[0]
            if node_name not in body_ops:
                if node_name in args and len(parts) == 2 and parts[1].isdigit():
                    return args[node_name] if parts[1] == "0" else None
                raise NodeError(f"function '{sig.name}' refers to '{text}', which it does not define")
            if len(parts) == 2:
                if parts[1].isdigit():  # graph-style "node:k"
                    return (prefix + node_name, int(parts[1]))
                out_arg, index = parts[1], 0
            else:
                out_arg, index = parts[1], int(parts[2]) if parts[2].isdigit() else 0
            layout = _OUTPUT_ARGS.get(body_ops[node_name], ())
            offset = layout.index(out_arg) if out_arg in layout else 0
            return (prefix + node_name, offset + index)

        new_nodes = []
        for i, nd in enumerate(fdef.node_def):
            inputs = [r for r in (resolve(s) for s in nd.input) if r is not None]
            attrs = {}
            for key in nd.attr:
                value = nd.attr[key]
                if value.WhichOneof("value") == "placeholder" and value.placeholder in bindings:
                    value = bindings[value.placeholder]
                attrs[key] = value
            node = TFNode(prefix + nd.name, nd.op, inputs, attrs, order=call.order)
            node.extra["inlined_from"] = sig.name
            node.extra["depth"] = call.extra.get("depth", 0) + 1
            new_nodes.append(node)
        rets = []
        for out in sig.output_arg:
            if out.name not in fdef.ret:
                raise NodeError(f"function '{sig.name}' does not define its output '{out.name}'")
            ref = resolve(fdef.ret[out.name])
            if ref is None:
                raise NodeError(f"function '{sig.name}' returns a control edge as '{out.name}'")
            rets.append(ref)
        self.nodes[call.name] = TFNode(call.name, "IdentityN", rets, {}, order=call.order)
        return new_nodes

    # -- outputs and inputs --------------------------------------------------------------------

    def _num_outputs(self, node: TFNode) -> int:
        op = node.op
        try:
            if op in ("Unpack",):
                return node.get_int("num")
            if op in ("Split", "SplitV"):
                return node.get_int("num_split")
            if op in ("TopKV2", "TopK"):
                return 2
            if op == "IdentityN":
                return len(node.inputs)
            if op == "ShapeN":
                return node.get_int("N", len(node.inputs))
            fname = self._callee_name(node)
            if fname and fname in self.functions:
                return len(self.functions[fname].signature.output_arg)
        except NodeError:
            pass
        return 1

    def _default_outputs(self) -> list[tuple[str, int]]:
        """Sinks of the top-level graph: nodes whose outputs nothing consumes, minus leftovers."""
        consumed = {src for node in self.nodes.values() for src, _ in node.inputs}
        sinks, leftovers = [], []
        # GraphDef node order means nothing (files need not even be topologically sorted); sort
        # by name with numbers compared as numbers: Identity, Identity_1, ..., Identity_10.
        for node in sorted(self.nodes.values(), key=lambda n: _natural_key(n.name)):
            if node.name in consumed or node.op in NOT_OUTPUTS:
                continue
            refs = [(node.name, i) for i in range(self._num_outputs(node))]
            (leftovers if self._is_leftover(node) else sinks).extend(refs)
        # A graph that computes nothing (its outputs forward constants or inputs) still has them.
        return sinks or leftovers

    def _is_leftover(self, node: TFNode) -> bool:
        """A pass-through chain that only forwards a constant or a Placeholder computes nothing."""
        seen = set()
        while node.op in PASS_THROUGH_OPS and node.name not in seen:
            seen.add(node.name)
            if not node.inputs or node.inputs[0][0] not in self.nodes:
                return True
            node = self.nodes[node.inputs[0][0]]
        return node.op in NOT_OUTPUTS

    def resolve_outputs(self, outputs: list[str] | None) -> list[tuple[str, int]]:
        if outputs is None:
            if not self.sinks:
                raise FrontendError(self.source, "the graph has no outputs (no node computes anything); pass --outputs")
            return list(self.sinks)
        refs = []
        for text in outputs:
            ref = parse_input(text.strip())
            if ref is None or ref[0] not in self.nodes:
                raise FrontendError(self.source, f"output '{text}' is not a node of the graph")
            refs.append(ref)
        if not refs:
            raise FrontendError(self.source, "the list of outputs is empty")
        return refs

    def resolve_inputs(self, inputs: list[str] | None) -> list[str] | None:
        if inputs is None:
            return None
        names = []
        for text in inputs:
            ref = parse_input(text.strip())
            if ref is None or ref[0] not in self.nodes:
                raise FrontendError(self.source, f"input '{text}' is not a node of the graph")
            if ref[1] != 0:
                raise FrontendError(self.source, f"input '{text}': only output 0 of a node can be an input")
            if ref[0] not in names:
                names.append(ref[0])
        return names

    def declared_shape(self, node: TFNode) -> list[int] | None:
        shape = None
        try:
            if node.has("shape"):
                shape = node.get_shape("shape", None)
            if shape is None and node.has("_output_shapes"):
                shapes = node.attr["_output_shapes"].list.shape
                if shapes:
                    shape = schema.shape_to_list(shapes[0])
        except NodeError as err:
            raise FrontendError(self.source, str(err), node=node.name, op=node.op) from None
        return shape

    def input_type(self, name: str, given: tuple[int, ...] | None):
        node = self.nodes[name]
        try:
            dt = None
            for key in ("dtype", "T", "out_type", "DstT"):
                if node.has(key):
                    dt = node.get_type(key)
                    break
            if dt is None:
                raise NodeError("the input's data type is unknown (no 'dtype' attribute)")
            element = element_type(dt)
        except NodeError as err:
            raise FrontendError(self.source, str(err), node=name, op=node.op) from None
        shape = self.declared_shape(node)
        hint = f"pass --input-shape {name}="
        if shape is None:
            if given is None:
                raise FrontendError(
                    self.source,
                    f"input '{name}' has an unknown rank; pass --input-shape {name}=1x224x224x3 (its real dimensions)",
                )
            shape = list(given)
        elif given is not None:
            if len(given) != len(shape) or any(d >= 0 and d != gd for d, gd in zip(shape, given)):
                raise FrontendError(
                    self.source,
                    f"--input-shape {name}={_shape_text(given)} does not match the input's declared shape "
                    f"{_dims_text(shape)}",
                )
            shape = list(given)
        elif any(d < 0 for d in shape):
            raise FrontendError(
                self.source,
                f"input '{name}' has unknown dimensions {_dims_text(shape)}; {hint}{_shape_text(shape)} "
                "(with its real dimensions)",
            )
        return dtypes.tensor(shape, element)

    # -- reachability, support, order ------------------------------------------------------------

    def reachable(
        self, out_refs: list[tuple[str, int]], in_names: list[str] | None, strict: bool = True
    ) -> tuple[set[str], list[str]]:
        """Nodes the outputs depend on (stopping at inputs) and the Placeholders among them."""
        stops = set(in_names) if in_names is not None else None
        seen: set[str] = set()
        stack = [name for name, _ in out_refs]
        placeholders = []
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            node = self.nodes[name]
            if stops is not None and name in stops:
                continue
            if node.op in INPUT_OPS:
                placeholders.append(name)
                continue
            for src, _ in node.inputs:
                if src not in self.nodes:
                    if not strict:
                        continue
                    raise FrontendError(
                        self.source, f"input '{src}' refers to a node that is not in the graph", node=name, op=node.op
                    )
                if src not in seen:
                    stack.append(src)
        placeholders.sort(key=lambda n: self.nodes[n].order)
        if in_names is not None and placeholders and strict:
            missing = ", ".join(f"'{p}'" for p in placeholders)
            raise FrontendError(
                self.source, f"the outputs depend on Placeholder {missing}, which is not among the given inputs"
            )
        return seen, placeholders

    def unsupported(self, reachable: set[str], inputs: set[str]) -> dict[str, tuple[list[str], str]]:
        found: dict[str, tuple[list[str], str]] = {}
        for name in sorted(reachable, key=lambda n: (self.nodes[n].op, _natural_key(n))):
            node = self.nodes[name]
            if name in inputs or node.op in INPUT_OPS:
                continue
            if node.op in CONVERTERS and not node.note:
                continue
            names, note = found.setdefault(node.op, ([], ""))
            names.append(name)
            if node.note and not note:
                found[node.op] = (names, node.note)
            elif node.op in CONTROL_FLOW_OPS:
                found[node.op] = (names, "control flow is not supported yet")
            elif node.op in VARIABLE_OPS:
                found[node.op] = (
                    names,
                    "the graph still reads variables; freeze it first (convert_variables_to_constants_v2)",
                )
        return found

    def check_supported(self, reachable: set[str], inputs: set[str]) -> None:
        found = self.unsupported(reachable, inputs)
        if not found:
            return
        parts = []
        notes: dict[str, list[str]] = {}  # note -> ops it explains
        for op, (names, note) in found.items():
            shown = ", ".join(f"'{n}'" for n in names[:5])
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            parts.append(f"{op} ({'node' if len(names) == 1 else 'nodes'} {shown}{more})")
            if note:
                notes.setdefault(note, []).append(op)
        message = f"{_plural(len(found), 'unsupported op')}: {', '.join(parts)}"
        for note, ops in notes.items():
            message += f"; {note} ({', '.join(ops)})"
        raise FrontendError(self.source, message)

    def topological_order(self, out_refs: list[tuple[str, int]], inputs: set[str]) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done

        def deps(name: str):
            if name in inputs:
                return iter(())
            return iter(dict.fromkeys(src for src, _ in self.nodes[name].inputs))

        for root, _ in out_refs:
            if root in state:
                continue
            state[root] = 1
            stack = [(root, deps(root))]
            while stack:
                name, it = stack[-1]
                for dep in it:
                    s = state.get(dep)
                    if s is None:
                        state[dep] = 1
                        stack.append((dep, deps(dep)))
                        break
                    if s == 1:
                        node = self.nodes[dep]
                        raise FrontendError(
                            self.source,
                            "the graph has a cycle through this node (control flow is not supported yet)",
                            node=dep,
                            op=node.op,
                        )
                else:
                    stack.pop()
                    state[name] = 2
                    order.append(name)
        return order

    def parameter_count(self, reachable: set[str]) -> int:
        consumers: dict[str, list[tuple[TFNode, int]]] = {}
        for name in reachable:
            node = self.nodes[name]
            for pos, (src, _) in enumerate(node.inputs):
                consumers.setdefault(src, []).append((node, pos))
        total = 0
        for name in reachable:
            node = self.nodes[name]
            if node.op != "Const" or not node.has("value"):
                continue
            tensor = node.attr["value"].tensor
            if tensor.dtype not in (schema.DataType.DT_FLOAT, schema.DataType.DT_DOUBLE,
                                    schema.DataType.DT_HALF, schema.DataType.DT_BFLOAT16):  # fmt: skip
                continue
            if not self._feeds_computation(name, consumers):
                continue
            dims = schema.shape_to_list(tensor.tensor_shape) or []
            total += int(np.prod(dims, dtype=np.int64)) if all(d >= 0 for d in dims) else 0
        return total

    def _feeds_computation(self, name: str, consumers) -> bool:
        stack, seen = [name], set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            for node, pos in consumers.get(current, []):
                if node.op in PASS_THROUGH_OPS:
                    stack.append(node.name)
                elif pos not in {p % len(node.inputs) for p in STATIC_OPERANDS.get(node.op, ())}:
                    return True
        return False


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _make_node(nd, order: int) -> TFNode:
    inputs = [ref for ref in (parse_input(s) for s in nd.input) if ref is not None]
    return TFNode(nd.name, nd.op, inputs, {k: nd.attr[k] for k in nd.attr}, order=order)


def _dims_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in shape) + "]"
