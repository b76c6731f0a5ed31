"""The CPU backend's pipeline: GraphProgram → loop level → LLVM IR → object code (`CpuCode`).

Takes a `GraphProgram` (graph dialect, static shapes, after folding and `decompose`). Leaves a
`CpuCode` and records how long each stage took (`CpuCode.stage_seconds`).
"""

from __future__ import annotations

import time

from graphc.backends.cpu.code import CpuCode
from graphc.backends.cpu.codegen import compile_llvm_ir, host_target, target_machine
from graphc.backends.cpu.elements import kind_of, shape_of
from graphc.backends.cpu.emit_llvm import emit_llvm
from graphc.backends.cpu.lower_to_loops import lower_program
from graphc.backends.cpu.pack_weights import pack_weights
from graphc.backends.cpu.quant_regions import wrap_plain_quant_ops
from graphc.dialects.resources import GraphProgram
from graphc.runtime.native import undefined_symbols


def compile_program(program: GraphProgram, *, opt: int = 2, verify: bool = True) -> CpuCode:
    seconds: dict[str, float] = {}
    t = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal t
        now = time.perf_counter()
        seconds[stage] = now - t
        t = now

    program = pack_weights(wrap_plain_quant_ops(program))  # a clone with weights in the tiled kernels' layout
    lap("pack_weights")
    loops = lower_program(program)
    lap("lower_to_loops")
    if verify:
        loops.module.verify()
        lap("verify_loops")
    loops_ir = str(loops.module)
    lap("print_loops")
    target = host_target()
    data_layout = str(target_machine(target, opt).target_data)
    llvm_module, external = emit_llvm(loops.module, target.triple, data_layout)
    lap("emit_llvm")
    llvm_ir = str(llvm_module)
    lap("print_llvm")
    native = compile_llvm_ir(llvm_ir, opt=opt, target=target)
    seconds.update(native.seconds)

    plan = loops.plan
    weight_types = {}
    for v, s in plan.storage.items():
        if s.kind == "weight":
            weight_types.setdefault(s.index, v.type)
    return CpuCode(
        object_code=native.object_code,
        entry=loops.entry,
        llvm_ir=llvm_ir,
        loops_ir=loops_ir,
        arena_bytes=plan.arena_bytes,
        intermediate_bytes_total=plan.intermediate_bytes_total,
        weight_names=list(plan.weight_names),
        weights=[_describe(name, weight_types[i]) for i, name in enumerate(plan.weight_names)],
        inputs=[_describe(n, v.type) for n, v in zip(program.input_names, plan.inputs)],
        outputs=[_describe(n, v.type) for n, v in zip(program.output_names, plan.outputs)],
        kernels=list(loops.kernels),
        external_symbols=undefined_symbols(native.object_code) or external,
        target={"triple": native.target.triple, "cpu": native.target.cpu, "features": native.target.features},
        stage_seconds=seconds,
    )


def _describe(name: str, tensor_type) -> dict:
    return {"name": name, "shape": list(shape_of(tensor_type)), "dtype": kind_of(tensor_type).numpy.name}
