"""graph dialect → loop level: one kernel per op or fusion region, and the entry that runs the schedule.

Takes a `GraphProgram` whose `@main` holds `graph.*` ops with static shapes (after constant folding
and `decompose`: no batch_norm, softmax or log_softmax), or, after the fusion passes,
`fusion.region` ops (plus constants and free reshapes). Leaves a `LoopProgram`: a builtin.module
of standard dialects only (func, scf, memref, arith, math; see `arith_ext` for `arith.remf`):

- one private `func.func` per distinct kernel, taking memrefs (operands first, then results) and
  built by the per-family modules (`lower_elementwise`, `lower_reduction`, `lower_matmul_conv`,
  `lower_data_movement`, `lower_misc`, `lower_scatter`) for a graph op, or by `lower_fusion` for a
  region (one
  kernel per region, named after it); identical ops (same name, attributes and types) and
  identical regions (same body) share one kernel, which keeps compile time down on models that
  repeat blocks;
- `memref.global` constants for small inline `dense<...>` constants;
- the public entry `func.func @graphc_main(inputs..., outputs..., weights..., arena: memref<Nxi8>)`
  that calls the kernels in schedule order, with intermediates as `memref.view`s of the arena at the
  offsets of the memory plan and reshapes as `memref.reinterpret_cast`s (no copies). Its attribute
  `graphc.arg_kinds` tells `emit_llvm` which pointer table each argument comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import func, memref
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    MemRefType,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
    i8,
)
from xdsl.ir import Operation, SSAValue

from graphc.backends.cpu import (
    lower_data_movement,
    lower_elementwise,
    lower_fusion,
    lower_matmul_conv,
    lower_misc,
    lower_reduction,
    lower_scatter,
)
from graphc.backends.cpu.elements import UnsupportedOnCpu, buffer_type, kind_of, shape_of
from graphc.backends.cpu.loop_builder import KernelBuilder, entry_function
from graphc.backends.cpu.memory_plan import MemoryPlan, Step, plan_memory
from graphc.dialects.fusion import RegionOp, region_key
from graphc.dialects.graph import ConstantOp
from graphc.dialects.resources import GraphProgram, WeightStore, constant_value

ENTRY = "graphc_main"

Lowering = Callable[[KernelBuilder, Operation, list[SSAValue], list[SSAValue]], None]
"""Builds a kernel body: (builder, graph op, operand memrefs, result memrefs)."""

DECOMPOSED = {"graph.batch_norm", "graph.softmax", "graph.log_softmax"}


def lowerings() -> dict[str, Lowering]:
    table: dict[str, Lowering] = {}
    families = (lower_elementwise, lower_reduction, lower_matmul_conv, lower_data_movement, lower_misc, lower_scatter)
    for family in families:
        table.update(family.LOWERINGS)
    return table


@dataclass
class LoopProgram:
    module: ModuleOp
    plan: MemoryPlan
    kernels: list[str]  # the kernel each step calls, in schedule order
    entry: str = ENTRY


def lower_program(program: GraphProgram) -> LoopProgram:
    main = program.main
    plan = plan_memory(main)
    table = lowerings()
    module_ops: list[Operation] = []

    for i, op in enumerate(plan.globals):
        module_ops.append(_global(f"cst{i}", op))

    kernel_of: dict[str, str] = {}  # dedup key -> kernel name
    kernels: list[str] = []
    counters: dict[str, int] = {}
    for step in plan.steps:
        try:
            key, arg_types, name_hint = _kernel_signature(step)
            name = kernel_of.get(key)
            if name is None:
                if isinstance(step.op, RegionOp) and name_hint not in counters:
                    name = name_hint  # a region names its kernel (fusion_0, fusion_1, ...)
                    counters[name_hint] = 0
                else:
                    n = counters.get(name_hint, 0)
                    counters[name_hint] = n + 1
                    name = f"{name_hint}_{n}"
                kernel_of[key] = name
                module_ops.extend(_build_kernel(name, step, arg_types, table))
        except UnsupportedOnCpu as err:
            raise UnsupportedOnCpu(f"CPU backend: {_describe(step)}: {err}") from None
        kernels.append(name)

    module_ops.append(_build_entry(plan, kernels))
    return LoopProgram(ModuleOp(module_ops), plan, kernels)


# -- kernels -------------------------------------------------------------------------------------


def _kernel_signature(step: Step) -> tuple[str, list[MemRefType], str]:
    if step.kind == "copy":
        t = step.inputs[0].type
        types = [buffer_type(t), buffer_type(t)]
        return f"copy|{t}", types, "copy"
    op = step.op
    assert op is not None
    values = [*step.inputs, *step.outputs]
    types = [buffer_type(v.type) for v in values]
    if isinstance(op, RegionOp):
        return f"region|{region_key(op)}", types, op.region_name
    attrs = ",".join(f"{k}={v}" for k, v in sorted(op.attributes.items()))
    props = ",".join(f"{k}={v}" for k, v in sorted(op.properties.items()))
    key = f"{op.name}|{attrs}|{props}|{[str(v.type) for v in values]}"
    hint = "fill" if isinstance(op, ConstantOp) else op.name.removeprefix("graph.")
    return key, types, hint


def _build_kernel(name: str, step: Step, arg_types: list[MemRefType], table: dict[str, Lowering]) -> list[Operation]:
    """The kernel function, preceded by the constant tables it reads."""
    n_in = len(step.inputs) if step.kind == "op" else 1
    names = [f"in{i}" for i in range(n_in)] + [f"out{i}" for i in range(len(arg_types) - n_in)]
    b = KernelBuilder(name, arg_types, names)
    ins, outs = b.args[:n_in], b.args[n_in:]
    if step.kind == "copy":
        lower_elementwise.lower_copy(b, step.inputs[0].type, ins[0], outs[0])
    else:
        op = step.op
        assert op is not None
        if isinstance(op, ConstantOp):
            lower_elementwise.lower_fill(b, op, outs[0])
        elif isinstance(op, RegionOp):
            lower_fusion.lower_region(b, op, ins, outs, table)
        else:
            lowering = table.get(op.name)
            if lowering is None:
                if op.name in DECOMPOSED:
                    raise UnsupportedOnCpu("it must be decomposed before code generation: run the `decompose` pass")
                raise UnsupportedOnCpu("no lowering for this op")
            lowering(b, op, ins, outs)
    kernel = b.finish()
    return [*b.globals, kernel]


def _describe(step: Step) -> str:
    if step.kind == "copy":
        return f"copy into output {step.output_index}"
    op = step.op
    assert op is not None
    if isinstance(op, RegionOp):
        ops = ", ".join(o.name for o in op.compute_ops())
        return f"fusion region {op.region_name} (kind {op.kind_name}: {ops})"
    operands = ", ".join(str(v.type) for v in op.operands)
    results = ", ".join(str(v.type) for v in op.results)
    return f"{op.name} ({operands}) -> ({results})"


def _global(name: str, op: ConstantOp) -> memref.GlobalOp:
    t = op.result.type
    assert isinstance(t, TensorType)
    kind = kind_of(t)
    array = constant_value(op, WeightStore())
    flat = array.reshape(-1)
    if flat.size > 1:  # print a splat as one value
        bits = flat.view(np.dtype(f"u{flat.itemsize}"))
        if np.all(bits == bits[0]):
            flat = flat[:1]
    if kind.is_float:
        values = [float(v) for v in flat]
    elif kind.is_bool:
        values = [int(v) for v in flat]
    else:  # signless storage: unsigned values as their two's complement bit pattern
        values = [int(v) for v in flat.view(np.dtype(f"i{kind.nbytes}"))]
    storage_tensor = TensorType(kind.storage, shape_of(t))
    init = DenseIntOrFPElementsAttr.from_list(storage_tensor, values)
    return memref.GlobalOp.get(
        StringAttr(name), buffer_type(t), init, StringAttr("private"), constant=UnitAttr(), alignment=64
    )


# -- entry ---------------------------------------------------------------------------------------


def _build_entry(plan: MemoryPlan, kernels: list[str]) -> func.FuncOp:
    weight_types: dict[int, MemRefType] = {}
    for v, s in plan.storage.items():
        if s.kind == "weight" and s.index not in weight_types:
            weight_types[s.index] = buffer_type(v.type)
    arg_types = (
        [buffer_type(v.type) for v in plan.inputs]
        + [buffer_type(v.type) for v in plan.outputs]
        + [weight_types[i] for i in range(len(plan.weight_names))]
        + [MemRefType(i8, [plan.arena_bytes])]
    )
    kinds = (
        ["input"] * len(plan.inputs)
        + ["output"] * len(plan.outputs)
        + ["weight"] * len(plan.weight_names)
        + ["arena"]
    )
    names = (
        [f"in{i}" for i in range(len(plan.inputs))]
        + [f"out{i}" for i in range(len(plan.outputs))]
        + [f"w{i}" for i in range(len(plan.weight_names))]
        + ["arena"]
    )
    b = entry_function(ENTRY, arg_types, kinds)
    for arg, hint in zip(b.args, names):
        arg.name_hint = hint
    n_in, n_out, n_w = len(plan.inputs), len(plan.outputs), len(plan.weight_names)
    tables = {
        "input": b.args[:n_in],
        "output": b.args[n_in : n_in + n_out],
        "weight": b.args[n_in + n_out : n_in + n_out + n_w],
    }
    arena = b.args[-1]
    cache: dict[SSAValue, SSAValue] = {}

    def buffer(value: SSAValue) -> SSAValue:
        if value in cache:
            return cache[value]
        want = buffer_type(value.type)
        root = plan.root[value]
        storage = plan.storage[root]
        if storage.kind == "arena":
            ref = b.emit(memref.ViewOp(arena, b.index(storage.offset), [], want))
        elif storage.kind == "global":
            global_type = buffer_type(plan.globals[storage.index].result.type)
            ref = b.view(b.emit(memref.GetGlobalOp(f"cst{storage.index}", global_type)), want.get_shape())
        else:
            ref = b.view(tables[storage.kind][storage.index], want.get_shape())
        cache[value] = ref
        return ref

    for step, kernel in zip(plan.steps, kernels):
        if step.kind == "copy":
            operands = [buffer(step.inputs[0]), tables["output"][step.output_index]]
        else:
            operands = [buffer(v) for v in (*step.inputs, *step.outputs)]
        b.emit(func.CallOp(kernel, operands, []))
    return b.finish()
