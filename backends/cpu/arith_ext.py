"""Standard MLIR ops that xDSL 0.74 lacks but the loop level needs, and the parsing context.

`arith.remf` (MLIR's floating-point remainder, C `fmod`) is missing from xDSL's `arith` dialect;
it is declared here with MLIR's own name and syntax, so loop-level text stays standard MLIR.
`loop_context()` is an xDSL context that parses every loop-level dump this backend prints.
"""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import arith
from xdsl.dialects.arith import FloatingPointLikeBinaryOperation
from xdsl.irdl import irdl_op_definition, traits_def
from xdsl.traits import Pure


@irdl_op_definition
class RemFOp(FloatingPointLikeBinaryOperation):
    """`arith.remf`: the remainder of a truncating division, with the sign of the dividend."""

    name = "arith.remf"
    traits = traits_def(Pure())


def loop_context() -> Context:
    from xdsl.dialects import builtin, func, math, memref, scf

    ctx = Context()
    for dialect in (builtin.Builtin, func.Func, arith.Arith, math.Math, memref.MemRef, scf.Scf):
        ctx.load_dialect(dialect)
    ctx.load_op(RemFOp)
    return ctx
