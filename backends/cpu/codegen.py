"""LLVM IR text → optimized native object code for the host CPU.

Takes the LLVM IR that `emit_llvm` printed. Leaves the bytes of a relocatable object file (ELF on
Linux) for `llvm.get_host_cpu_name()` with the host's features, after LLVM's new-pass-manager
pipeline at O2 (with loop and SLP vectorization). The runtime loads it without running LLVM's
optimizer again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache

import llvmlite.binding as llvm


@cache
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


@dataclass(frozen=True)
class Target:
    triple: str
    cpu: str
    features: str


def host_target() -> Target:
    _init()
    return Target(llvm.get_process_triple(), llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten())


def target_machine(target: Target | None = None, opt: int = 2) -> llvm.TargetMachine:
    _init()
    target = target or host_target()
    return llvm.Target.from_triple(target.triple).create_target_machine(
        cpu=target.cpu, features=target.features, opt=opt, reloc="pic", codemodel="jitdefault"
    )


@dataclass
class NativeObject:
    object_code: bytes
    target: Target
    seconds: dict[str, float] = field(default_factory=dict)
    optimized_ir: str | None = None
    assembly: str | None = None


def compile_llvm_ir(
    llvm_ir: str,
    opt: int = 2,
    target: Target | None = None,
    keep_optimized_ir: bool = False,
    keep_assembly: bool = False,
) -> NativeObject:
    """`keep_optimized_ir` also returns the IR after optimization, `keep_assembly` the machine
    code as assembly text (to check what vectorized)."""
    target = target or host_target()
    tm = target_machine(target, opt)
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    module = llvm.parse_assembly(llvm_ir)
    module.triple = target.triple
    module.data_layout = str(tm.target_data)
    module.verify()
    t1 = time.perf_counter()
    seconds["llvm_parse_verify"] = t1 - t0

    if opt > 0:
        pto = llvm.create_pipeline_tuning_options(speed_level=opt)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(module, pb)
    t2 = time.perf_counter()
    seconds["llvm_optimize"] = t2 - t1

    optimized = str(module) if keep_optimized_ir else None
    t2 = time.perf_counter()
    obj = tm.emit_object(module)
    seconds["llvm_codegen"] = time.perf_counter() - t2
    assembly = tm.emit_assembly(module) if keep_assembly else None
    return NativeObject(bytes(obj), target, seconds, optimized, assembly)
