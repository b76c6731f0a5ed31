"""The `fusion` dialect: a `fusion.region` is one kernel, on every backend.

The fusion passes (`graphc.passes.fuse_*`, run as `FUSION_PIPELINE`) group `graph` ops into regions;
backends that declare `supports_fusion` compile each region to exactly one kernel, choosing a
template by the region's `kind`. The region is the contract between the middle end and the backends
("a fusion is always one kernel"), so this docstring states it precisely and `RegionOp.verify_`
enforces it (a region that verifies fits its kind's template).

    %y, %s = fusion.region "fusion_3" kind "reduction"(%x, %gamma) {shape = array<i64: 64, 1024>,
                 reduce_axes = array<i64: 1>, sweeps = 2 : i64} : (tensor<64x1024xf32>, tensor<1024xf32>)
                 -> (tensor<64x1024xf32>, tensor<64x1xf32>) {
    ^bb0(%x_1: tensor<64x1024xf32>, %gamma_1: tensor<1024xf32>):
      ... graph ops ...
      fusion.yield %out, %sum : tensor<64x1024xf32>, tensor<64x1xf32>
    }

## Contract with backends

Structure (all checked by the verifier):
1. Operands are tensors, each a dense row-major buffer the kernel only reads. The body is one block
   whose arguments correspond 1:1, with the same types, to the operands (the passes order operands
   by first use in the body, without duplicates). The region is `IsolatedFromAbove`.
2. The body holds `graph` ops in a valid order and ends with `fusion.yield`, whose operands (values
   defined in the body, in program order, without duplicates) are the region's results. Every
   result is a new dense row-major buffer the kernel writes completely; results never alias
   operands. A region has at least one result and no dead ops.
3. `graph.constant` inside a body is always an inline `dense<...>` value: a splat (of any shape) or at
   most 16 elements — an immediate (or a tiny table) for the kernel. Weights (`dense_resource`) are
   never inside a body; they arrive as operands.
4. Attributes: `name` = `fusion_0`, `fusion_1`, … in program order (kernel names in reports,
   schedules and symbols); `kind` ∈ {loop, reduction, matmul, conv, opaque}; `shape`,
   `reduce_axes`, `sweeps` as below. They are derived from the body (`analyze`) and must match it.
5. Outside regions, after the full fusion pipeline, `@main` holds only `graph.constant`, free
   `graph.reshape` ops and `func.return`. A reshape outside a region is a view, not a kernel: its
   result aliases its operand's buffer (both are dense row-major, so only the shape changes). It
   may read a function argument or feed the return (then the runtime copies as it would for any
   output that aliases an input).

Elemental evaluation (shared by all templates). Every op of `ELEMENTAL_OPS` can be evaluated one
output element at a time: given an index into the op's result shape, its value comes from operand
elements at derived indices —
- elementwise ops (`ELEMENTWISE_OPS`): numpy broadcasting (an operand dimension of size 1, or a
  missing leading dimension, is read at index 0), semantics as in `graphc.dialects.semantics`.
  `quant.quantize` / `quant.dequantize` / `quant.requantize` are elementwise too: their per-axis
  parameters are immediates indexed by the element's coordinate along `axis`;
- views (`VIEW_OPS`): the inverse index map — `reshape` linearises row-major then delinearises;
  `transpose`, `broadcast_to`, `slice` (start + i·stride), `reverse`; `pad` gives the pad value out
  of bounds and between interior elements (mirror modes reflect); `concat` picks the input by the
  concatenated coordinate;
- windows (`WINDOW_OPS`: `max_pool`, `avg_pool`): a loop over the kh×kw window of the operand;
  padding never counts (max ignores it, avg divides by the in-bounds count).
A value inside a region never touches memory unless it is a result. A backend may cache values
(evaluate an op once per inner loop when its value does not change along it) or keep a row in a
scratch buffer; it must not change results beyond rounding.

Kinds and templates:
- `loop` — ops ⊆ `ELEMENTAL_OPS`. `shape` = the iteration space = the first result's shape. Every
  result has exactly prod(shape) elements: at iteration point i (row-major linear index l) the
  kernel stores element l of every result (a result whose shape differs from `shape` is a reshape of
  it and shares the linear index). Elementwise chains with their broadcasts, transposes, slices, pads,
  concats, and pools with their producers land here.
- `reduction` — ≥ 1 op of `REDUCTION_OPS`, all reducing the same input shape `shape` over the same
  `reduce_axes` (sorted; not necessarily trailing — a global average pool over H, W of NHWC reduces
  axes 1, 2; `keepdims` may differ), plus ops of `ELEMENTWISE_OPS` and `VIEW_OPS`. The row shapes
  are `shape` with the reduced axes set to 1 (keepdims) or removed. Every value that depends on a
  reduction, and every result, is either full (shape == `shape`: evaluated at each point of the
  iteration space) or a row value (a row shape: evaluated once per row, i.e. per point of the
  non-reduced axes). Values that depend on no reduction may have any shape (side values such as a
  broadcast gamma) and are evaluated elementally where used. The template: per row, run the
  reductions in stages (a reduction of a value depending on another reduction comes a stage later),
  then compute the row values, then store the row results and evaluate and store the full results.
  `sweeps` is the fewest passes over a row the math allows: one per stage, plus one after the last
  reduction a full result depends on; two patterns share a pass with their partner —
  `reduce_sum(exp(x - reduce_max(x)))` (online softmax: running max, rescaled running sum) and
  `reduce_mean((x - m) * (x - m))` with `m = reduce_mean(x)` (Welford). It is a bound, not an
  order: a backend may re-read an L1/L2-resident row instead (`reduction_plan(region)` gives each
  reduction's stage and merge partner). Softmax and layer norm are 2 sweeps, a lone reduction 1.
- `matmul` / `conv` — exactly one root, `graph.matmul` / `graph.conv2d` (NHWC input, HWIO filter,
  any groups: depthwise included) or their int8 forms `quant.matmul` / `quant.conv2d` (i8 operands,
  optional i32 bias operand, i32 accumulators; see `graphc.dialects.quant`), and three other kinds
  of ops, separated by `epilogue_plan(region)`:
  - prologue: chains of `graph.reshape`/`transpose`/`broadcast_to`/`slice` from block arguments (or
    inline constants) to the root's operands, used by nothing else — operand views the backend
    reads through (e.g. while packing: a transposed K of attention, a time step sliced out of a
    sequence). Never materialise them as a separate kernel; copying into a scratch buffer inside
    the kernel is fine;
  - epilogue: the ops that depend on the root result, each from `ELEMENTWISE_OPS` or a
    `graph.reshape`, each result with exactly as many elements as the root result, reading
    root-derived values of that same element count. They run per root output element at the same
    row-major linear index, in registers, before the store: bias add, batch-norm multiply-add, relu,
    relu6 (`relu` + `min` with 6), sigmoid/tanh/erf/gelu chains, residual add (the residual is an
    operand read at the output's index), clamps. A reshape in the epilogue only renames the shape.
    After a `quant` root the epilogue is integer/quantized: `quant.requantize` (i32 → i8 with its
    per-channel multipliers and fused activation clamp), `quant.dequantize` (i32 or i8 → f32) and
    any elementwise integer or float ops, by the same rules;
  - side ops: elemental ops that depend neither on the root nor feed it and compute epilogue
    operands (e.g. `broadcast_to` of a bias), evaluated elementally at the index the epilogue reads.
  `shape` = the root result's shape. Every result is the root result or an epilogue value, stored
  at the root's linear index (so several results cost one extra store each, no extra pass).
- `opaque` — exactly one non-constant op without a fusion template (gather, gather_nd,
  gather_elements, scatter_elements, scatter_nd, top_k, resize, cumsum/cumprod, argmax/argmin, …),
  possibly with several results: run the op's ordinary kernel.
  No extra attributes.

The executable meaning of a region is its body (`graphc.dialects.semantics` evaluates it; the
reference backend thus runs fused IR); `unfuse` inlines regions back into plain graph ops.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from math import prod

from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
)
from xdsl.ir import Attribute, Block, Dialect, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    attr_def,
    irdl_op_definition,
    lazy_traits_def,
    opt_attr_def,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator, Pure
from xdsl.utils.exceptions import VerifyException

from graphc.dialects import graph as g
from graphc.dialects import quant as q

KINDS = ("loop", "reduction", "matmul", "conv", "opaque")

ELEMENTWISE_OPS: tuple[type[Operation], ...] = (
    g.ElementwiseUnary, g.ElementwiseBinary, g.SelectOp, g.CastOp, q.QuantizeOp, q.DequantizeOp, q.RequantizeOp,
)  # fmt: skip
"""One output element from the same-index (broadcast) element of each operand."""

VIEW_OPS: tuple[type[Operation], ...] = (
    g.ReshapeOp, g.TransposeOp, g.BroadcastToOp, g.SliceOp, g.ReverseOp, g.PadOp, g.ConcatOp,
)  # fmt: skip
"""Data movement: each output element is one input element (or the pad value); no arithmetic."""

WINDOW_OPS: tuple[type[Operation], ...] = (g.MaxPoolOp, g.AvgPoolOp)
ELEMENTAL_OPS = ELEMENTWISE_OPS + VIEW_OPS + WINDOW_OPS
REDUCTION_OPS: tuple[type[Operation], ...] = (
    g.ReduceSumOp, g.ReduceMeanOp, g.ReduceMaxOp, g.ReduceMinOp, g.ReduceProdOp, g.ReduceAllOp, g.ReduceAnyOp,
)  # fmt: skip
PROLOGUE_OPS: tuple[type[Operation], ...] = (g.ReshapeOp, g.TransposeOp, g.BroadcastToOp, g.SliceOp)
ROOT_OPS: dict[str, tuple[type[Operation], ...]] = {
    "matmul": (g.MatMulOp, q.MatMulOp),
    "conv": (g.Conv2DOp, q.Conv2DOp),
}
"""The root op types of each kind: the float op and its int8 `quant` form (`graphc.dialects.quant`)."""
ROOT_TYPES: tuple[type[Operation], ...] = tuple(t for types in ROOT_OPS.values() for t in types)

INLINE_CONSTANT_LIMIT = 16
"""Inline constants with at most this many elements (or splats) are copied into region bodies."""


# ---------------------------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------------------------


@irdl_op_definition
class RegionOp(IRDLOperation):
    """One kernel: graph ops over the operands (block arguments), yielding the results."""

    name = "fusion.region"
    inputs = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)
    kernel_name = attr_def(StringAttr, attr_name="name")
    kind = attr_def(StringAttr)
    shape = opt_attr_def(DenseArrayBase)
    reduce_axes = opt_attr_def(DenseArrayBase)
    sweeps = opt_attr_def(IntegerAttr)
    body = region_def("single_block")
    traits = traits_def(IsolatedFromAbove(), Pure())

    assembly_format = (
        "$name `kind` $kind `(` $inputs `)` attr-dict `:` functional-type($inputs, $outputs) $body"
    )

    @property
    def kind_name(self) -> str:
        return self.kind.data

    @property
    def region_name(self) -> str:
        return self.kernel_name.data

    @property
    def block(self) -> Block:
        return self.body.block

    def body_ops(self) -> list[Operation]:
        """The graph ops of the body (inline constants included), without the yield."""
        return [op for op in self.block.ops if not isinstance(op, YieldOp)]

    def compute_ops(self) -> list[Operation]:
        """The body's graph ops that compute (no constants, no yield)."""
        return [op for op in self.body_ops() if not isinstance(op, g.ConstantOp)]

    @property
    def yield_op(self) -> YieldOp:
        last = self.block.last_op
        assert isinstance(last, YieldOp)
        return last

    def verify_(self) -> None:
        block = self.block
        if len(block.args) != len(self.inputs):
            raise VerifyException(
                f"fusion.region: {len(block.args)} block arguments for {len(self.inputs)} operands"
            )
        for arg, operand in zip(block.args, self.inputs):
            if arg.type != operand.type:
                raise VerifyException(f"fusion.region: block argument type {arg.type} differs from operand {operand.type}")
        last = block.last_op
        if not isinstance(last, YieldOp):
            raise VerifyException("fusion.region: the body must end with fusion.yield")
        if [v.type for v in last.values] != [r.type for r in self.outputs]:
            raise VerifyException("fusion.region: fusion.yield types differ from the region's result types")
        if not self.outputs:
            raise VerifyException("fusion.region: a region must have at least one result")
        for op in self.body_ops():
            if not isinstance(op, g.GraphOp):
                raise VerifyException(f"fusion.region: {op.name} is not a graph op")
            if isinstance(op, g.ConstantOp) and not is_inline_constant(op):
                raise VerifyException(
                    "fusion.region: constants inside a region must be small inline dense values; "
                    "weights are operands"
                )
            if not any(r.uses for r in op.results):
                raise VerifyException(f"fusion.region: {op.name} in the body is dead (a region has no dead ops)")
        if self.kind.data not in KINDS:
            raise VerifyException(f"fusion.region: unknown kind '{self.kind.data}' (kinds: {', '.join(KINDS)})")
        try:
            expected = analyze(self.kind.data, self.body_ops(), list(last.values))
        except VerifyException as err:
            raise VerifyException(f"fusion.region {self.kernel_name.data} ({self.kind.data}): {err}") from err
        for key in ("shape", "reduce_axes", "sweeps"):
            if self.attributes.get(key) != expected.get(key):
                raise VerifyException(
                    f"fusion.region {self.kernel_name.data}: attribute {key} is {self.attributes.get(key)}, "
                    f"the body implies {expected.get(key)}"
                )


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Ends a `fusion.region` body; its operands become the region's results."""

    name = "fusion.yield"
    values = var_operand_def(TensorType)
    traits = lazy_traits_def(lambda: (IsTerminator(), HasParent(RegionOp), Pure()))
    assembly_format = "($values^ `:` type($values))? attr-dict"


Fusion = Dialect("fusion", [RegionOp, YieldOp], [])


# ---------------------------------------------------------------------------------------------
# Analysis: what a group of ops means for a template (shared by the verifier, passes, backends)
# ---------------------------------------------------------------------------------------------


def shape_of(value: SSAValue) -> tuple[int, ...]:
    return g.shape_of(value.type)


def numel(value: SSAValue) -> int:
    return prod(shape_of(value))


def is_inline_constant(op: Operation) -> bool:
    """A constant small enough to be an immediate inside a kernel (copied into every region)."""
    if not isinstance(op, g.ConstantOp) or not isinstance(op.value, DenseIntOrFPElementsAttr):
        return False
    count = len(op.value.get_values())
    return count == 1 or count <= INLINE_CONSTANT_LIMIT


def analyze(kind: str, ops: Sequence[Operation], outputs: Sequence[SSAValue]) -> dict[str, Attribute]:
    """The kind-specific attributes of a region made of `ops` (in order) yielding `outputs`.

    Raises `VerifyException` when the ops do not fit the kind's template. Passes call this on
    candidate groups before they build a region, so they never build one that does not verify.
    """
    compute = [op for op in ops if not isinstance(op, g.ConstantOp)]
    if not outputs:
        raise VerifyException("a fusion region needs at least one result")
    if kind == "opaque":
        if len(compute) != 1:
            raise VerifyException(f"an opaque region holds exactly one op, not {len(compute)}")
        return {}
    if kind == "loop":
        for op in compute:
            if not isinstance(op, ELEMENTAL_OPS):
                raise VerifyException(f"{op.name} cannot be in a loop region")
        shape = shape_of(outputs[0])
        for v in outputs:
            if numel(v) != prod(shape):
                raise VerifyException(
                    f"loop region results must all have {prod(shape)} elements (the iteration space {list(shape)}), "
                    f"not {list(shape_of(v))}"
                )
        return {"shape": g.ints_attr(shape)}
    if kind == "reduction":
        plan = _plan_reduction(compute, outputs)
        return {
            "shape": g.ints_attr(plan.shape),
            "reduce_axes": g.ints_attr(plan.axes),
            "sweeps": g.int_attr(plan.sweeps),
        }
    if kind in ROOT_OPS:
        plan = _plan_epilogue(kind, compute, outputs)
        return {"shape": g.ints_attr(shape_of(plan.root.results[0]))}
    raise VerifyException(f"unknown fusion kind '{kind}'")


@dataclass
class ReductionPlan:
    """How a reduction region's row computation is staged (see the module docstring)."""

    shape: tuple[int, ...]
    axes: tuple[int, ...]
    reductions: list[Operation]
    sweep: dict[Operation, int] = field(default_factory=dict)
    """1-based pass over the row in which each reduction completes."""
    merged: dict[Operation, tuple[str, Operation]] = field(default_factory=dict)
    """reduction → ("online_softmax" | "welford", the reduction it is computed together with)."""
    sweeps: int = 1

    @property
    def row_shape(self) -> tuple[int, ...]:
        return tuple(1 if i in self.axes else d for i, d in enumerate(self.shape))

    def is_row_shape(self, shape: Sequence[int]) -> bool:
        dropped = tuple(d for i, d in enumerate(self.shape) if i not in self.axes)
        return tuple(shape) in (self.row_shape, dropped)


def reduction_plan(region: RegionOp) -> ReductionPlan:
    return _plan_reduction(region.compute_ops(), list(region.yield_op.values))


def _plan_reduction(compute: Sequence[Operation], outputs: Sequence[SSAValue]) -> ReductionPlan:
    reductions = [op for op in compute if isinstance(op, REDUCTION_OPS)]
    if not reductions:
        raise VerifyException("a reduction region needs at least one reduction")
    shape = shape_of(reductions[0].operands[0])
    axes = g.get_ints(reductions[0].attributes, "axes")
    for r in reductions:
        if shape_of(r.operands[0]) != shape or g.get_ints(r.attributes, "axes") != axes:
            raise VerifyException(
                f"all reductions of a region must reduce the same shape and axes: {r.name} reduces "
                f"{list(shape_of(r.operands[0]))} over {list(g.get_ints(r.attributes, 'axes'))}, "
                f"not {list(shape)} over {list(axes)}"
            )
    plan = ReductionPlan(shape, axes, reductions)
    level: dict[SSAValue, int] = {}
    depends: set[SSAValue] = set()
    for op in compute:
        if isinstance(op, REDUCTION_OPS):
            partner = _merge_partner(op, set(reductions))
            if partner is not None:
                plan.merged[op] = partner
                lvl = level[partner[1].results[0]]
            else:
                lvl = level.get(op.operands[0], 0) + 1
            plan.sweep[op] = lvl
            level[op.results[0]] = lvl
            depends.add(op.results[0])
            continue
        if not isinstance(op, ELEMENTWISE_OPS + VIEW_OPS):
            raise VerifyException(f"{op.name} cannot be in a reduction region")
        lvl = max((level.get(v, 0) for v in op.operands), default=0)
        dependent = any(v in depends for v in op.operands)
        for r in op.results:
            level[r] = lvl
            if dependent:
                depends.add(r)
                if shape_of(r) != shape and not plan.is_row_shape(shape_of(r)):
                    raise VerifyException(
                        f"{op.name} in a reduction region over {list(shape)} (axes {list(axes)}) produces "
                        f"{list(shape_of(r))}: values after a reduction must be full or row shaped"
                    )
    sweeps = max(plan.sweep.values())
    for v in outputs:
        s = shape_of(v)
        if s == shape:
            sweeps = max(sweeps, level.get(v, 0) + 1)
        elif not plan.is_row_shape(s):
            raise VerifyException(
                f"a reduction region over {list(shape)} (axes {list(axes)}) cannot yield a {list(s)} value"
            )
    plan.sweeps = sweeps
    return plan


def _owner(value: SSAValue, kind) -> Operation | None:
    owner = value.owner
    return owner if isinstance(owner, kind) else None


def _merge_partner(op: Operation, reductions: set[Operation]) -> tuple[str, Operation] | None:
    """The reduction `op` can be computed in the same pass with (online softmax, Welford)."""
    x = op.operands[0]
    if isinstance(op, g.ReduceSumOp):
        e = _owner(x, g.ExpOp)
        d = _owner(e.operands[0], g.SubOp) if e else None
        m = _owner(d.operands[1], g.ReduceMaxOp) if d else None
        if m is not None and m in reductions and m.operands[0] == d.operands[0]:
            return ("online_softmax", m)
    if isinstance(op, g.ReduceMeanOp):
        q = x.owner
        d = None
        if isinstance(q, g.MulOp) and q.operands[0] == q.operands[1]:
            d = _owner(q.operands[0], g.SubOp)
        m = _owner(d.operands[1], g.ReduceMeanOp) if d else None
        if m is not None and m in reductions and m.operands[0] == d.operands[0]:
            return ("welford", m)
    return None


@dataclass
class EpiloguePlan:
    """The parts of a matmul/conv region (see the module docstring)."""

    root: Operation
    prologue: list[Operation]
    epilogue: list[Operation]
    side: list[Operation]


def epilogue_plan(region: RegionOp) -> EpiloguePlan:
    return _plan_epilogue(region.kind_name, region.compute_ops(), list(region.yield_op.values))


def _plan_epilogue(kind: str, compute: Sequence[Operation], outputs: Sequence[SSAValue]) -> EpiloguePlan:
    root_types = ROOT_OPS[kind]
    roots = [op for op in compute if isinstance(op, root_types)]
    if len(roots) != 1:
        names = " or ".join(t.name for t in root_types)
        raise VerifyException(f"a {kind} region has exactly one {names}, not {len(roots)}")
    (root,) = roots
    count = numel(root.results[0])
    inside = set(compute)
    # Prologue: view chains feeding the root's operands.
    prologue: set[Operation] = set()
    stack = [v.owner for v in root.operands if v.owner in inside]
    while stack:
        op = stack.pop()
        if op in prologue:
            continue
        if not isinstance(op, PROLOGUE_OPS):
            raise VerifyException(f"{op.name} cannot compute an operand of the {kind} root (only views can)")
        prologue.add(op)
        stack.extend(v.owner for v in op.operands if v.owner in inside)
    derived = {root.results[0]}
    epilogue: list[Operation] = []
    side: list[Operation] = []
    for op in compute:
        if op is root or op in prologue:
            continue
        if any(v in derived for v in op.operands):
            if not isinstance(op, ELEMENTWISE_OPS + (g.ReshapeOp,)):
                raise VerifyException(f"{op.name} cannot be in a {kind} epilogue (only elementwise ops and reshapes)")
            for v in list(op.operands) + list(op.results):
                if (v in derived or v in op.results) and numel(v) != count:
                    raise VerifyException(
                        f"{op.name} in a {kind} epilogue must keep the root's {count} elements, not {list(shape_of(v))}"
                    )
            derived.update(op.results)
            epilogue.append(op)
        else:
            if not isinstance(op, ELEMENTWISE_OPS + VIEW_OPS):
                raise VerifyException(f"{op.name} cannot be in a {kind} region")
            side.append(op)
    for op in prologue:
        for r in op.results:
            if any(u.operation not in prologue and u.operation is not root for u in r.uses):
                raise VerifyException(f"{op.name} computes an operand view of the {kind} root and nothing else")
    for v in outputs:
        if v not in derived:
            raise VerifyException(f"a {kind} region yields only the root result and epilogue values")
    return EpiloguePlan(root, [op for op in compute if op in prologue], epilogue, side)


# ---------------------------------------------------------------------------------------------
# Building and inlining regions
# ---------------------------------------------------------------------------------------------


def outline(ops: Sequence[Operation], kind: str, name: str = "fusion") -> RegionOp:
    """Moves `ops` (in one block, in order) into a new region inserted before the first of them.

    The region's operands are the values the ops use but do not define (inline constants are
    copied in instead), its results the values used outside the ops. The caller keeps the block
    in a valid order (all operands of the region must be defined before its first op).
    """
    ops = list(ops)
    members = set(ops)
    block = ops[0].parent_block()
    assert block is not None
    inputs: list[SSAValue] = []
    constants: list[Operation] = []
    for op in ops:
        for v in op.operands:
            owner = v.owner
            if owner in members or v in inputs:
                continue
            if isinstance(owner, Operation) and is_inline_constant(owner):
                if owner not in constants:
                    constants.append(owner)
                continue
            inputs.append(v)
    outputs = [r for op in ops for r in op.results if any(u.operation not in members for u in r.uses)]
    attrs = analyze(kind, ops, outputs)
    body = Block(arg_types=[v.type for v in inputs])
    for arg, v in zip(body.args, inputs):
        arg.name_hint = v.name_hint
    mapping: dict[SSAValue, SSAValue] = dict(zip(inputs, body.args))
    for c in constants:
        copy = c.clone()
        body.add_op(copy)
        mapping[c.results[0]] = copy.results[0]
    region = RegionOp.create(
        operands=inputs,
        result_types=[v.type for v in outputs],
        attributes={"name": StringAttr(name), "kind": StringAttr(kind), **attrs},
        regions=[Region(body)],
    )
    block.insert_op_before(region, ops[0])
    for v, result in zip(outputs, region.results):
        v.replace_uses_with_if(result, lambda use: use.operation not in members)
    for op in ops:
        op.detach()
        body.add_op(op)
        for i, v in enumerate(op.operands):
            if v in mapping:
                op.operands[i] = mapping[v]
    body.add_op(YieldOp.create(operands=outputs))
    return region


def inline(region: RegionOp) -> list[Operation]:
    """Replaces `region` by its body's ops (before it); returns the moved ops."""
    block = region.parent_block()
    assert block is not None
    body = region.block
    for arg, operand in zip(body.args, region.inputs):
        arg.replace_all_uses_with(operand)
    yielded = list(region.yield_op.values)
    moved = []
    for op in list(body.ops):
        if isinstance(op, YieldOp):
            continue
        op.detach()
        block.insert_op_before(op, region)
        moved.append(op)
    for result, value in zip(region.results, yielded):
        result.replace_all_uses_with(value)
    body.erase_op(region.yield_op)
    block.erase_op(region)
    return moved


def region_key(region: RegionOp) -> str:
    """A structural key: equal for regions that compute the same thing on the same types (such
    regions share one kernel). Names of values and of the region do not matter."""
    number: dict[SSAValue, str] = {a: f"a{i}" for i, a in enumerate(region.block.args)}
    parts = [region.kind_name, ",".join(str(v.type) for v in region.inputs)]
    for k, op in enumerate(region.block.ops):
        for j, r in enumerate(op.results):
            number[r] = f"v{k}.{j}"
        attrs = ",".join(f"{n}={v}" for n, v in sorted(op.attributes.items()))
        props = ",".join(f"{n}={v}" for n, v in sorted(op.properties.items()))
        operands = ",".join(number[v] for v in op.operands)
        types = ",".join(str(r.type) for r in op.results)
        parts.append(f"{op.name}({operands}){{{attrs}|{props}}}:{types}")
    return ";".join(parts)


def regions_of(ops: Iterable[Operation]) -> list[RegionOp]:
    return [op for op in ops if isinstance(op, RegionOp)]
