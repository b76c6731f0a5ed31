"""algebraic-simplify: removes arithmetic identities (x*1, x+0, x-0, x/1, neg(neg(x)), transposes that cancel).

Takes and leaves: `graph` dialect (ops inside `fusion.region`s are simplified too). An op is replaced
by its operand `x` only when the result has exactly `x`'s type: `x * ones(4, 8)` with `x` of shape
(8,) broadcasts `x` and is kept. Constants are recognised when every element is the identity
(splats and dense values, and weights bound through graphc's weight store).
Note: like XLA, `x + 0` → `x` does not preserve the sign of a negative zero `x`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from graphc.dialects import graph as g
from graphc.dialects.resources import constant_value
from graphc.passes.weights_context import current_weights

__all__ = ["AlgebraicSimplifyPass", "simplify"]

MAX_CONSTANT_ELEMENTS = 1 << 20
"""Larger constants are not inspected (reading them costs more than the rewrite saves)."""


@dataclass(frozen=True)
class AlgebraicSimplifyPass(ModulePass):
    name = "algebraic-simplify"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        changed = True
        orphans: list[Operation] = []
        while changed:
            changed = False
            for node in list(op.walk()):
                if node.parent is None:  # erased in this sweep
                    continue
                replacement = simplify(node)
                if replacement is not None:
                    orphans.extend(o.owner for o in node.operands if isinstance(o.owner, Operation))
                    node.results[0].replace_all_uses_with(replacement)
                    node.parent_block().erase_op(node)
                    changed = True
        # Operands left without users by the rewrites (the inner transpose, the constant 1, ...).
        _erase_dead(orphans)


def simplify(node: Operation) -> SSAValue | None:
    """The value that `node`'s single result can be replaced by, or None."""
    if not isinstance(node, g.GraphOp) or len(node.results) != 1:
        return None
    result_type = node.results[0].type

    def same(value: SSAValue) -> SSAValue | None:
        return value if value.type == result_type else None

    if isinstance(node, g.MulOp):
        lhs, rhs = node.operands
        if _is_constant(rhs, 1):
            return same(lhs)
        if _is_constant(lhs, 1):
            return same(rhs)
    elif isinstance(node, g.AddOp):
        lhs, rhs = node.operands
        if _is_constant(rhs, 0):
            return same(lhs)
        if _is_constant(lhs, 0):
            return same(rhs)
    elif isinstance(node, g.SubOp):
        lhs, rhs = node.operands
        if _is_constant(rhs, 0):
            return same(lhs)
    elif isinstance(node, g.DivOp):
        lhs, rhs = node.operands
        if _is_constant(rhs, 1):
            return same(lhs)
    elif isinstance(node, g.NegOp):
        inner = node.operands[0].owner
        if isinstance(inner, g.NegOp):
            return same(inner.operands[0])
    elif isinstance(node, g.TransposeOp):
        inner = node.operands[0].owner
        if isinstance(inner, g.TransposeOp):
            first = g.get_ints(inner.attrs(), "perm")
            second = g.get_ints(node.attrs(), "perm")
            # out[i] = mid[second[i]] = in[first[second[i]]]: identity iff first[second[i]] == i
            if all(first[p] == i for i, p in enumerate(second)):
                return same(inner.operands[0])
    return None


def _is_constant(value: SSAValue, scalar: float) -> bool:
    owner = value.owner
    if not isinstance(owner, g.ConstantOp):
        return False
    shape = g.shape_of(value.type)
    if int(np.prod(shape, dtype=np.int64)) > MAX_CONSTANT_ELEMENTS:
        return False
    try:
        array = constant_value(owner, current_weights())
    except (KeyError, LookupError, RuntimeError):  # a weight that is not bound: cannot tell
        return False
    return bool(np.all(array == scalar))


def _erase_dead(candidates: list[Operation]) -> None:
    while candidates:
        node = candidates.pop()
        if isinstance(node, g.GraphOp) and node.parent is not None and all(not r.uses for r in node.results):
            candidates.extend(o.owner for o in node.operands if isinstance(o.owner, Operation))
            node.parent_block().erase_op(node)
