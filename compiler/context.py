"""The xDSL context graphc parses with: every dialect that appears at any stage of the pipeline."""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import arith, builtin, func, math, memref, scf
from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Dialect
from xdsl.parser import Parser
from xdsl.utils.exceptions import ParseError

from graphc.dialects.fusion import Fusion
from graphc.dialects.graph import Graph
from graphc.dialects.quant import Quant
from graphc.dialects.systolic import Systolic
from graphc.errors import GraphcError


def make_context() -> Context:
    ctx = Context()
    # xDSL's builtin dialect keeps one resource table for the whole process and renames a handle
    # it has seen before (`w` becomes `w_0`); each parse gets a builtin dialect with its own table,
    # so resource names always read back as written.
    builtin_dialect = Dialect("builtin", list(builtin.Builtin.operations), list(builtin.Builtin.attributes),
                              [OpAsmDialectInterface()])  # fmt: skip
    for dialect in (builtin_dialect, func.Func, arith.Arith, math.Math, memref.MemRef, scf.Scf, Graph, Fusion, Quant, Systolic):
        ctx.load_dialect(dialect)
    return ctx


def parse_module(text: str, source: str = "<string>") -> ModuleOp:
    try:
        module = Parser(make_context(), text, name=source).parse_module()
    except ParseError as err:
        first = str(err).strip().splitlines()
        raise GraphcError(f"not valid MLIR: {first[-1] if first else err}", source=source) from None
    return module
