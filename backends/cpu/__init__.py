"""The CPU backend: graph dialect → loops (scf/memref/arith/math) → LLVM IR (llvmlite) → native code.

`compile_program(program) -> CpuCode`; `graphc.runtime.native` runs the result, and `backend`
plugs it into graphc's driver and artifacts. Stages, one module each: `memory_plan` (schedule,
arena), `lower_to_loops` (+ the per-family `lower_*` modules for single graph ops, and
`lower_fusion` for `fusion.region`s — one kernel per region, every kind; built with
`loop_builder`, `scalar_ops`, `vector_math` (vectorizable f32 exp/log/tanh/erf/sigmoid) and
`elements`), `emit_llvm`, `codegen`; `driver` runs them in order.
"""

from graphc.backends.cpu.code import CpuCode
from graphc.backends.cpu.driver import compile_program
from graphc.backends.cpu.elements import UnsupportedOnCpu

__all__ = ["CpuCode", "compile_program", "UnsupportedOnCpu"]
