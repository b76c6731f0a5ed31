"""The host/device split: device regions become `systolic.layer` ops, the rest host segments.

Takes a `GraphProgram` after the fusion pipeline and a `Machine`; leaves a `Split`:
- `module`: a copy of the program in which every region `select` accepts is replaced by a
  `systolic.layer` (its instruction stream tiled by `tiling.build_layer`); host regions stay
  `fusion.region`s. This is the IR the artifact carries and `--dump-ir` shows: the split at a glance.
- `segments`: maximal runs of consecutive host regions, each a `GraphProgram` of its own (its @main
  takes the values it reads from outside, returns the ones used later) for the CPU backend.
- `steps`: the schedule the executor follows, over integer value ids — `host` (run a segment),
  `device` (simulate a layer), `view` (a free `graph.reshape`: a numpy reshape).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Region, SSAValue
from xdsl.utils.exceptions import VerifyException

from graphc.backends.systolic.machine import Machine
from graphc.backends.systolic.select import DeviceLayer, select, split_epilogue
from graphc.backends.systolic.tiling import build_layer
from graphc.dialects import graph as g
from graphc.dialects import systolic as s
from graphc.dialects.fusion import RegionOp, analyze, inline, outline
from graphc.dialects.resources import GraphProgram, WeightStore, constant_value, set_io_names
from graphc.errors import GraphcError


@dataclass
class Split:
    module: ModuleOp
    segments: list[GraphProgram] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    weights: dict[int, str] = field(default_factory=dict)
    placement: list[dict] = field(default_factory=list)
    """One entry per region in program order: name, kind, where (`systolic`/`host`), why."""


def replace_device_regions(program: GraphProgram, machine: Machine) -> tuple[ModuleOp, list[dict]]:
    module = program.module.clone()
    main = GraphProgram(module, program.weights).main
    placement = []
    for op in list(main.body.block.ops):
        if not isinstance(op, RegionOp):
            continue
        op, epilogue = _split_epilogue(op)
        chosen = select(op)
        entry = {"name": op.region_name, "kind": op.kind_name}
        if isinstance(chosen, str):
            placement.append({**entry, "where": "host", "why": chosen})
            continue
        operands = []
        for source in chosen.sources:
            if isinstance(source, int):
                operands.append(op.inputs[source])
            else:  # an inline constant of the body (a small bias): copied out in front of the layer
                constant = source.clone()
                main.body.block.insert_op_before(constant, op)
                operands.append(constant.results[0])
        layer = _layer_op(chosen, operands, machine)
        main.body.block.insert_op_before(layer, op)
        op.results[0].replace_all_uses_with(layer.results[0])
        main.body.block.erase_op(op)
        placement.append({**entry, "where": "systolic", "why": "int8 GEMM" if chosen.conv is None else "int8 conv (im2col)"})
        if epilogue is not None:
            placement.append({"name": epilogue.region_name, "kind": "loop", "where": "host", "why": "epilogue past the requantize"})
    return module, placement


def _split_epilogue(region: RegionOp) -> tuple[RegionOp, RegionOp | None]:
    """A quantized layer whose fused epilogue goes on past its requantize becomes two regions: the
    layer (views + root + requantize, for the array) and `<name>_epilogue`, a `loop` region of the
    rest for the host. Regions that do not split that way come back unchanged."""
    parts = split_epilogue(region)
    if parts is None:
        return region, None
    head, tail = parts
    tail_outputs = [r for op in tail for r in op.results if any(u.operation not in tail for u in r.uses)]
    tail_outputs += [v for v in region.yield_op.values if v.owner in tail and v not in tail_outputs]
    try:
        analyze("loop", tail, tail_outputs)
    except VerifyException:
        return region, None
    name, kind = region.region_name, region.kind_name
    block = region.parent_block()
    moved = inline(region)  # the same op objects, now in @main
    layer = outline(head, kind, name)
    epilogue = outline(tail, "loop", f"{name}_epilogue")
    for op in moved:  # inline constants were copied into the new regions
        if isinstance(op, g.ConstantOp) and not any(r.uses for r in op.results):
            block.erase_op(op)
    return layer, epilogue


def _layer_op(layer: DeviceLayer, operands, machine: Machine) -> s.LayerOp:
    region = layer.region
    rq = layer.requantize
    return build_layer(region.region_name, operands, region.results[0].type, layer.gemm, layer.conv,
                       layer.input_zero_point, layer.weight_zero_point, rq.multiplier, rq.shift,
                       rq.output_zero_point, (rq.clamp_min, rq.clamp_max), machine)  # fmt: skip


def split_program(program: GraphProgram, machine: Machine) -> Split:
    module, placement = replace_device_regions(program, machine)
    main = GraphProgram(module, program.weights).main
    split = Split(module, placement=placement)
    ids: dict[SSAValue, int] = {}

    def vid(value: SSAValue) -> int:
        return ids.setdefault(value, len(ids))

    split.inputs = [vid(a) for a in main.args]
    constants: dict[SSAValue, g.ConstantOp] = {}
    open_segment: list[RegionOp] = []
    ops = list(main.body.block.ops)
    position = {op: i for i, op in enumerate(ops)}

    def flush() -> None:
        if open_segment:
            split.steps.append(_host_step(open_segment, constants, program.weights, position, vid, split))
            open_segment.clear()

    for op in ops:
        if isinstance(op, g.ConstantOp):
            name = _resource_name(op)
            if name is None:  # a small inline constant: the executor reads it like a weight
                name = program.weights.add(constant_value(op, program.weights), hint="inline").resource_handle.data
            constants[op.results[0]] = op
            split.weights[vid(op.results[0])] = name
        elif isinstance(op, RegionOp):
            open_segment.append(op)
        elif isinstance(op, s.LayerOp):
            if any(v.owner in open_segment for v in op.operands):
                flush()
            split.steps.append({"op": "device", "layer": op.layer_name.data, "inputs": [vid(v) for v in op.operands],
                                "output": vid(op.results[0])})  # fmt: skip
        elif isinstance(op, g.ReshapeOp):
            if op.operands[0].owner in open_segment:
                flush()
            split.steps.append({"op": "view", "input": vid(op.operands[0]), "shape": list(g.shape_of(op.results[0].type)),
                                "output": vid(op.results[0])})  # fmt: skip
        elif isinstance(op, func.ReturnOp):
            flush()
            split.outputs = [vid(v) for v in op.operands]
        else:
            raise GraphcError(f"systolic: unexpected {op.name} outside fusion regions")
    return split


def _resource_name(op: g.ConstantOp) -> str | None:
    value = op.attributes.get("value")
    handle = getattr(value, "resource_handle", None)
    return handle.data if handle is not None else None


def _host_step(regions: list[RegionOp], constants, weights: WeightStore, position, vid, split: Split) -> dict:
    """A `GraphProgram` for a run of host regions, and the step that runs it."""
    inside = set(regions)
    last = max(position[r] for r in regions)
    inputs: list[SSAValue] = []
    used_constants: list[SSAValue] = []
    for region in regions:
        for v in region.operands:
            if v.owner in inside:
                continue
            target = used_constants if v in constants else inputs
            if v not in target:
                target.append(v)
    outputs = [r for region in regions for r in region.results
               if any(u.operation not in inside and (position.get(u.operation, -1) > last) for u in r.uses)]  # fmt: skip
    block = Block(arg_types=[v.type for v in inputs])
    mapping: dict[SSAValue, SSAValue] = dict(zip(inputs, block.args))
    for v in used_constants:
        clone = constants[v].clone()
        block.add_op(clone)
        mapping[v] = clone.results[0]
    for region in regions:
        clone = region.clone(value_mapper=dict(mapping))
        block.add_op(clone)
        mapping.update(zip(region.results, clone.results))
    block.add_op(func.ReturnOp(*[mapping[v] for v in outputs]))
    main = func.FuncOp("main", ([v.type for v in inputs], [v.type for v in outputs]), Region(block))
    set_io_names(main, [f"v{vid(v)}" for v in inputs], [f"v{vid(v)}" for v in outputs])
    names = {split.weights[vid(v)] for v in used_constants}
    segment = GraphProgram(ModuleOp([main]), WeightStore({n: weights[n] for n in names}))
    split.segments.append(segment)
    return {"op": "host", "segment": len(split.segments) - 1, "kernels": [r.region_name for r in regions],
            "inputs": [vid(v) for v in inputs], "outputs": [vid(v) for v in outputs]}  # fmt: skip
