"""Standard MLIR ops that xDSL 0.74 lacks or restricts, and the loop level's parsing context.

- `arith.remf` (MLIR's floating-point remainder, C `fmod`) is missing from xDSL's `arith` dialect.
- `arith.cmpf`, `arith.cmpi` and `arith.select` exist, but xDSL 0.74 allows only a scalar `i1`
  condition/result; MLIR allows vectors (`vector<16xi1>`), which the vectorized fusion epilogues
  need. `CmpfOp`, `CmpiOp` and `SelectOp` here are the same ops (same names, same syntax, same
  scalar behaviour) with MLIR's vector forms: a comparison of vectors gives a vector of i1 (printed
  `arith.cmpf olt, %a, %b : vector<16xf32>`, as MLIR does), and a select with a vector condition
  prints both types (`arith.select %c, %a, %b : vector<16xi1>, vector<16xf32>`).
Loop-level text stays standard MLIR. `loop_context()` is an xDSL context that parses every
loop-level dump this backend prints (with these ops in place of xDSL's).
"""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import arith
from xdsl.dialects.arith import FloatingPointLikeBinaryOperation
from xdsl.dialects.builtin import IntegerAttr, IntegerType, VectorType, i1
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import IRDLOperation, irdl_op_definition, operand_def, prop_def, result_def, traits_def
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import Pure


@irdl_op_definition
class RemFOp(FloatingPointLikeBinaryOperation):
    """`arith.remf`: the remainder of a truncating division, with the sign of the dividend."""

    name = "arith.remf"
    traits = traits_def(Pure())


def bool_like(t: Attribute) -> Attribute:
    """i1, or a vector of i1 with the shape of the vector type `t`."""
    return VectorType(i1, t.get_shape()) if isinstance(t, VectorType) else i1


@irdl_op_definition
class CmpfOp(IRDLOperation):
    """`arith.cmpf` on scalars or vectors (xDSL's syntax: the predicate, operands, operand type)."""

    name = "arith.cmpf"
    predicate = prop_def(IntegerAttr)
    lhs = operand_def(arith.floatingPointLike)
    rhs = operand_def(arith.floatingPointLike)
    fastmath = prop_def(arith.FastMathFlagsAttr, default_value=arith.FastMathFlagsAttr("none"))
    result = result_def(arith.boolLike)
    traits = traits_def(Pure())
    parse = classmethod(arith.CmpfOp.parse.__func__)
    print = arith.CmpfOp.print

    def __init__(self, operand1, operand2, arg: int | str, fastmath=arith.FastMathFlagsAttr("none")):
        operand1, operand2 = SSAValue.get(operand1), SSAValue.get(operand2)
        if isinstance(arg, str):
            arg = arith.CMPF_COMPARISON_OPERATIONS.index(arg)
        IRDLOperation.__init__(
            self,
            operands=[operand1, operand2],
            result_types=[bool_like(operand1.type)],
            properties={"predicate": IntegerAttr(arg, 64), "fastmath": fastmath},
        )


@irdl_op_definition
class CmpiOp(IRDLOperation):
    """`arith.cmpi` on scalars or vectors."""

    name = "arith.cmpi"
    predicate = prop_def(IntegerAttr)
    lhs = operand_def(arith.signlessIntegerLike)
    rhs = operand_def(arith.signlessIntegerLike)
    result = result_def(arith.boolLike)
    traits = traits_def(Pure())
    parse = classmethod(arith.CmpiOp.parse.__func__)
    print = arith.CmpiOp.print

    def __init__(self, operand1, operand2, arg: int | str):
        operand1, operand2 = SSAValue.get(operand1), SSAValue.get(operand2)
        if isinstance(arg, str):
            arg = arith.CMPI_COMPARISON_OPERATIONS.index(arg)
        IRDLOperation.__init__(
            self,
            operands=[operand1, operand2],
            result_types=[bool_like(operand1.type)],
            properties={"predicate": IntegerAttr(arg, 64)},
        )


@irdl_op_definition
class SelectOp(IRDLOperation):
    """`arith.select` with a scalar or vector condition."""

    name = "arith.select"
    cond = operand_def(arith.boolLike)
    lhs = operand_def()
    rhs = operand_def()
    result = result_def()
    traits = traits_def(Pure())

    def __init__(self, cond: Operation | SSAValue, lhs: Operation | SSAValue, rhs: Operation | SSAValue):
        lhs = SSAValue.get(lhs)
        super().__init__(operands=[cond, lhs, rhs], result_types=[lhs.type])

    def verify_(self) -> None:
        if self.lhs.type != self.rhs.type or self.result.type != self.lhs.type:
            raise ValueError("arith.select: both values and the result must have the same type")
        if isinstance(self.cond.type, VectorType) and self.cond.type.get_shape() != self.lhs.type.get_shape():
            raise ValueError("arith.select: a vector condition must have the shape of the values")

    @classmethod
    def parse(cls, parser: Parser) -> SelectOp:
        cond = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        lhs = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        rhs = parser.parse_unresolved_operand()
        attrs = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        first = parser.parse_type()
        if parser.parse_optional_punctuation(","):
            cond_type, value_type = first, parser.parse_type()
        else:
            cond_type, value_type = IntegerType(1), first
        operands = parser.resolve_operands([cond, lhs, rhs], [cond_type, value_type, value_type], parser.pos)
        op = cls(*operands)
        op.attributes.update(attrs)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_list([self.cond, self.lhs, self.rhs], printer.print_operand)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        if isinstance(self.cond.type, VectorType):
            printer.print_attribute(self.cond.type)
            printer.print_string(", ")
        printer.print_attribute(self.result.type)


REPLACED = {"arith.cmpf": CmpfOp, "arith.cmpi": CmpiOp, "arith.select": SelectOp}


def loop_context() -> Context:
    from xdsl.dialects import builtin, func, math, memref, scf, vector

    ctx = Context()
    for dialect in (builtin.Builtin, func.Func, math.Math, memref.MemRef, scf.Scf, vector.Vector):
        ctx.load_dialect(dialect)
    ops = [op for op in arith.Arith.operations if op.name not in REPLACED]
    ctx.load_dialect(Dialect("arith", [*ops, RemFOp, *REPLACED.values()], list(arith.Arith.attributes)))
    return ctx
