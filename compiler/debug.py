"""`graphc debug`: which op is wrong? Layer-by-layer comparison of a target with the reference.

    report = graphc.debug.find_divergence("model.pb", {"x": x}, target="cpu")
    print(report.format())            # first diverging op, both values' statistics, the next few
    report.first                      # a `Divergence`, or None when every op agrees

How it works: the model goes through the front end and the graph pipeline once. A clone of that
program, with every op result appended to `func.return` as an extra output (named
`debug:INDEX:OP:RESULT`), is compiled for the target with fusion disabled, so every intermediate is
a real buffer the target computes and returns. The same (un-augmented) program is evaluated with the
reference semantics (`graphc.dialects.semantics`, numpy), whose observer sees every op's results.
The two are compared op by op in program order with `graphc.testing.tolerance_violation`.

Limits: fusion is off, so a bug that only shows inside a fused kernel is not reproduced (compile the
model normally and compare outputs to see whether fusion matters). Ops are named by their position
in `@main` after the graph pipeline and their operands' producers; the TensorFlow front end does not
record node names on ops, so weights (whose resource names come from TF node names) are the only
link back to the source graph.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DenseResourceAttr, StringAttr, TensorType
from xdsl.ir import BlockArgument, Operation, SSAValue

from graphc.backends.registry import get_backend
from graphc.dialects.graph import ConstantOp
from graphc.dialects.resources import GraphProgram
from graphc.dialects.semantics import evaluate_function
from graphc.errors import GraphcError
from graphc.passes import DEFAULT_PIPELINE
from graphc.pipeline import run_pipeline
from graphc.testing import tolerance_violation

DEBUG_PREFIX = "debug:"


@dataclass
class Stats:
    """Summary of one array: over its finite elements, plus the NaN / infinity counts."""

    min: float
    max: float
    mean: float
    std: float
    nan: int
    inf: int

    @staticmethod
    def of(array: np.ndarray) -> Stats:
        a = np.asarray(array).astype(np.float64)
        finite = a[np.isfinite(a)]
        nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
        if finite.size == 0:
            return Stats(float("nan"), float("nan"), float("nan"), float("nan"), nan, inf)
        return Stats(float(finite.min()), float(finite.max()), float(finite.mean()), float(finite.std()), nan, inf)

    def format(self) -> str:
        text = f"min {self.min:.6g}  max {self.max:.6g}  mean {self.mean:.6g}  std {self.std:.6g}  NaN {self.nan}"
        return text + (f"  inf {self.inf}" if self.inf else "")


@dataclass
class Divergence:
    index: int
    """Position of the op in `@main` (after the graph pipeline), counting from 0."""
    op_name: str
    result: int
    """Which result of the op (most ops have one)."""
    type: str
    """The result type, e.g. `tensor<4x64xf32>`."""
    violation: str
    """`tolerance_violation`'s one-line description."""
    max_abs_error: float
    """Max |got − ref| over elements finite in both (NaN if there are none, or shapes differ)."""
    got: Stats
    expected: Stats
    operands: list[str]
    """Where each operand comes from: `#5 graph.add`, `input 'x'`, `#2 graph.constant (weight W)`."""
    operands_agree: bool
    """True when every operand of the op matched the reference: the op itself computes wrongly.
    False: the divergence may be inherited from an operand."""
    node: str | None = None
    """The source-graph node, when the front end recorded it (weights: the resource name)."""
    near: str | None = None
    """The nearest weight upstream of the op (its resource name is derived from the TF node name of
    the layer's variable): a hint at which layer of the source model the op belongs to."""

    def where(self) -> str:
        result = f" result {self.result}" if self.result else ""
        node = f" (node '{self.node}')" if self.node else ""
        return f"op #{self.index} {self.op_name}{result}{node}"


@dataclass
class DebugReport:
    target: str
    compared: int
    """How many op results were compared."""
    ops: int
    """How many ops `@main` has (the `func.return` excluded)."""
    divergences: list[Divergence] = field(default_factory=list)

    @property
    def first(self) -> Divergence | None:
        return self.divergences[0] if self.divergences else None

    def format(self, more: int = 5) -> str:
        if not self.divergences:
            return (f"no divergence: all {self.compared} results of {self.ops} ops agree between "
                    f"{self.target} and the reference semantics within tolerance")  # fmt: skip
        d = self.divergences[0]
        lines = [
            f"first divergence: {d.where()} -> {d.type}",
            f"  operands: {', '.join(d.operands) if d.operands else '(none)'}"
            + ("" if d.operands_agree else "  [some operands already diverged]"),
            *([f"  near weight: {d.near}"] if d.near else []),
            f"  {d.violation}",
            f"  max |got-ref|: {d.max_abs_error:.6g}",
            f"  {self.target + ':':<11}{d.got.format()}",
            f"  {'reference:':<11}{d.expected.format()}",
        ]
        rest = self.divergences[1 : 1 + more]
        if rest:
            lines.append(f"next divergent ops ({len(self.divergences) - 1} more in all):")
            for r in rest:
                origin = "its operands agree" if r.operands_agree else "inherited"
                lines.append(f"  {r.where()} -> {r.type}: max |got-ref| {r.max_abs_error:.6g} ({origin})")
        lines.append(f"{len(self.divergences)} of {self.compared} results diverge ({self.ops} ops)")
        return "\n".join(lines)


def find_divergence(
    model: str | os.PathLike | bytes | GraphProgram,
    inputs: Mapping[str, np.ndarray],
    target="cpu",
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    *,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    pipeline: str = DEFAULT_PIPELINE,
) -> DebugReport:
    """Runs `model` on `target` (a registered name or a backend object) and the reference semantics
    op by op on `inputs` ({input name: array}); returns every diverging op result in program order.

    `model` is a model file (or its bytes), imported with `input_shapes` (default: the shapes of
    `inputs`), or a `GraphProgram` (used as is: the pipeline is not run on it)."""
    from graphc.driver import compile_program

    backend = _backend(target)
    target_name = getattr(backend, "name", str(target))
    inputs = {k: np.asarray(v) for k, v in inputs.items()}
    if isinstance(model, GraphProgram):
        program = model.clone()
    else:
        from graphc.frontends import import_model

        shapes = {k: tuple(v) for k, v in (input_shapes or {}).items()}
        for name, array in inputs.items():
            shapes.setdefault(name, tuple(array.shape))
        program = import_model(model, input_shapes=shapes, inputs=input_names, outputs=output_names)
        run_pipeline(program, pipeline)

    main = program.main
    ops = [op for op in main.body.block.ops if not isinstance(op, func.ReturnOp)]
    augmented, keys = expose_intermediates(program)

    compiled = compile_program(augmented, backend, pipeline="", fusion=False)
    got = compiled.run(inputs)  # the runtime checks names, shapes and dtypes (one-line errors)

    expected: dict[tuple[int, int], np.ndarray] = {}
    index_of = {id(op): i for i, op in enumerate(ops)}

    def observe(op: Operation, results: list) -> None:
        for r, value in enumerate(results):
            expected[(index_of[id(op)], r)] = np.asarray(value)

    args = [inputs[name] for name in program.input_names]
    evaluate_function(main, program.weights, args, np, observer=observe)

    producers = {}
    for i, op in enumerate(ops):
        for r, res in enumerate(op.results):
            producers[res] = (i, r)

    bad: set[tuple[int, int]] = set()
    report = DebugReport(target_name, 0, len(ops))
    for i, op in enumerate(ops):
        for r, res in enumerate(op.results):
            key = (i, r)
            name = keys.get(key)
            if name is None or key not in expected:
                continue
            report.compared += 1
            g, e = np.asarray(got[name]), expected[key]
            violation = tolerance_violation(g, e)
            if violation is None:
                continue
            bad.add(key)
            report.divergences.append(Divergence(
                index=i, op_name=op.name, result=r, type=str(res.type), violation=violation,
                max_abs_error=_max_abs_error(g, e), got=Stats.of(g), expected=Stats.of(e),
                operands=[_describe(v, producers, ops, program) for v in op.operands],
                operands_agree=not any(producers.get(v) in bad for v in op.operands),
                node=_node_name(op), near=_nearest_weight(op, producers, ops),
            ))  # fmt: skip
    return report


def expose_intermediates(program: GraphProgram) -> tuple[GraphProgram, dict[tuple[int, int], str]]:
    """A clone of `program` whose `@main` also returns every op result (tensors only), and the output
    name of each (op index, result number). A result that already is an output keeps its name."""
    clone = program.clone()
    main = clone.main
    block = main.body.block
    ret = block.last_op
    assert isinstance(ret, func.ReturnOp)
    names = list(clone.output_names)
    returned = {v: names[i] for i, v in reversed(list(enumerate(ret.arguments)))}
    values = list(ret.arguments)
    keys: dict[tuple[int, int], str] = {}
    ops = [op for op in block.ops if op is not ret]
    for i, op in enumerate(ops):
        for r, res in enumerate(op.results):
            if not isinstance(res.type, TensorType):
                continue
            if res in returned:
                keys[(i, r)] = returned[res]
                continue
            name = f"{DEBUG_PREFIX}{i}:{op.name}:{r}"
            keys[(i, r)] = name
            returned[res] = name
            values.append(res)
            names.append(name)
    new_ret = func.ReturnOp(*values)
    block.insert_op_before(new_ret, ret)
    block.erase_op(ret)
    main.update_function_type()
    main.attributes["graphc.outputs"] = ArrayAttr([StringAttr(n) for n in names])
    return clone, keys


def _backend(target):
    if not isinstance(target, str):
        return target
    try:
        return get_backend(target)
    except KeyError as err:
        raise GraphcError(str(err.args[0])) from None


def _max_abs_error(got: np.ndarray, ref: np.ndarray) -> float:
    if got.shape != ref.shape:
        return float("nan")
    g, r = got.astype(np.float64), ref.astype(np.float64)
    both = np.isfinite(g) & np.isfinite(r)
    return float(np.max(np.abs(g[both] - r[both]), initial=0.0)) if both.any() else float("nan")


def _describe(value: SSAValue, producers, ops, program: GraphProgram) -> str:
    if isinstance(value, BlockArgument):
        names = program.input_names
        return f"input '{names[value.index]}'" if value.index < len(names) else f"argument {value.index}"
    i, r = producers[value]
    op = ops[i]
    text = f"#{i} {op.name}" + (f" result {r}" if r else "")
    node = _node_name(op)
    return text + (f" ({node})" if node else "")


def _nearest_weight(op: Operation, producers, ops, depth: int = 6) -> str | None:
    """Breadth-first upstream from `op` (itself included) for a weight constant."""
    frontier, seen = [op], {id(op)}
    for _ in range(depth + 1):
        following = []
        for o in frontier:
            if isinstance(o, ConstantOp) and isinstance(o.value, DenseResourceAttr):
                return o.value.resource_handle.data
            for v in o.operands:
                if v in producers and id(ops[producers[v][0]]) not in seen:
                    seen.add(id(ops[producers[v][0]]))
                    following.append(ops[producers[v][0]])
        frontier = following
    return None


def _node_name(op: Operation) -> str | None:
    """The source node, where known: a recorded `graphc.node` attribute, or a weight's resource name."""
    attr = op.attributes.get("graphc.node")
    if isinstance(attr, StringAttr):
        return attr.data
    if isinstance(op, ConstantOp) and isinstance(op.value, DenseResourceAttr):
        return f"weight {op.value.resource_handle.data}"
    return None


def read_inputs(path: str) -> dict[str, np.ndarray]:
    """Inputs from an `.npz`: keys are input names (a fixture's `input:NAME` keys work too)."""
    from graphc.cli import _read_npz

    data = _read_npz(path)
    if any(k.startswith("input:") for k in data):
        return {k[len("input:") :]: v for k, v in data.items() if k.startswith("input:")}
    return data


def cmd_debug(args) -> int:
    """`graphc debug MODEL --inputs x.npz [--target cpu] [--input-shape N=DxD]…`; exit 0 when every op
    agrees, 1 when one diverges (the report is on stdout), like `diff`."""
    from graphc.cli import _names, parse_shape_spec

    shapes = dict(parse_shape_spec(s) for s in args.input_shape)
    report = find_divergence(
        args.model,
        read_inputs(args.inputs),
        target=args.target,
        input_shapes=shapes,
        input_names=_names(getattr(args, "input_names", None)),
        output_names=_names(getattr(args, "output_names", None)),
    )
    print(report.format(more=args.more))
    return 0 if report.first is None else 1


def add_parser(sub) -> None:
    p = sub.add_parser("debug", help="find the first op whose output on a target diverges from the reference")
    p.add_argument("model", help="a TensorFlow frozen GraphDef (.pb)")
    p.add_argument("--inputs", required=True, help=".npz whose keys are the input names")
    p.add_argument("--target", default="cpu", help="the target to check against the reference semantics")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=DxDx…",
                   help="specialise an input's shape (default: the shapes of the arrays in --inputs)")  # fmt: skip
    p.add_argument("--input-names", help="comma-separated input names (default: consumed placeholders)")
    p.add_argument("--output-names", help="comma-separated output names (default: the graph's sinks)")
    p.add_argument("--more", type=int, default=5, help="how many divergent ops to list after the first")
    p.set_defaults(fn=cmd_debug)
