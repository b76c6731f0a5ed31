"""The CPU backend as a plugin (`graphc.backends.registry` names it "cpu").

Takes a `GraphProgram` after the middle-end pipeline; leaves a `BackendOutput` for the artifact:
`meta` is `CpuCode.manifest()` without the two IR texts, and the sections are the object code
(`object.o`, what runs) and the dumps (`loops.mlir`, `llvm.ll`). The executor that runs it is
`graphc.runtime.native:NativeExecutor`.
"""

from __future__ import annotations

from graphc.backends.base import BackendOutput
from graphc.backends.cpu.driver import compile_program
from graphc.dialects.resources import GraphProgram

OBJECT_SECTION = "object.o"
LOOPS_SECTION = "loops.mlir"
LLVM_SECTION = "llvm.ll"


class CpuBackend:
    name = "cpu"
    executor = "graphc.runtime.native:NativeExecutor"
    supports_fusion = True
    """`lower_fusion` compiles every region kind (loop, reduction, matmul, conv, opaque) to one kernel."""
    supports_quant = True
    """quant.conv2d/quant.matmul are native int8 kernels (`lower_int8`), quantize/dequantize/requantize
    element-wise ops."""

    def compile(self, program: GraphProgram) -> BackendOutput:
        code = compile_program(program)
        meta = code.manifest()
        del meta["llvm_ir"], meta["loops_ir"]
        sections = {
            OBJECT_SECTION: code.object_code,
            LOOPS_SECTION: code.loops_ir.encode(),
            LLVM_SECTION: code.llvm_ir.encode(),
        }
        return BackendOutput(meta=meta, sections=sections, schedule=list(code.kernels), weight_names=list(code.weight_names))
