"""x86 instructions the loop level spells directly, as ops (printable like any other op).

`x86.avx512.vpdpbusd` — AVX-512 VNNI's u8×s8 dot product with i32 accumulation: for each of the
16 i32 lanes, acc + Σ_{j<4} u8(a.byte[4·lane + j]) · s8(b.byte[4·lane + j]) (no saturation).
Operands and result are `vector<16xi32>`; `emit_llvm` emits `llvm.x86.avx512.vpdpbusd.512`.
LLVM does not form this instruction from a plain i8 dot-product loop (measured with LLVM 22 on
znver4 and icelake-server: it widens to i32 multiplies), so `lower_int8` uses it explicitly when
the host has `avx512vnni`.
"""

from __future__ import annotations

from xdsl.dialects.builtin import VectorType
from xdsl.irdl import IRDLOperation, irdl_op_definition, operand_def, result_def, traits_def
from xdsl.traits import Pure

INTRINSIC = "llvm.x86.avx512.vpdpbusd.512"


@irdl_op_definition
class VpdpbusdOp(IRDLOperation):
    name = "x86.avx512.vpdpbusd"
    acc = operand_def(VectorType)
    a = operand_def(VectorType)
    b = operand_def(VectorType)
    result = result_def(VectorType)
    traits = traits_def(Pure())

    def __init__(self, acc, a, b):
        super().__init__(operands=[acc, a, b], result_types=[acc.type])
