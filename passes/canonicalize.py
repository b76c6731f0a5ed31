"""canonicalize: local simplifications of data-movement ops that front ends leave behind.

Takes: `graph` dialect. Leaves: the same computation with
- reshape/broadcast_to/cast/transpose/slice/reverse/pad that do nothing removed
  (identity permutation, same shape, same type, full slice, no axes, zero padding);
- reshape(reshape(x)) → reshape(x); transpose(transpose(x)) → one transpose (or none);
- concat of a single input removed.
Runs to a fixed point. MLIR equivalent: the ops' canonicalization patterns under `canonicalize`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from graphc.dialects import graph as g


@dataclass(frozen=True)
class CanonicalizePass(ModulePass):
    name = "canonicalize-graph"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        changed = True
        while changed:
            changed = False
            for node in list(op.walk()):
                if node.parent is None:
                    continue
                replacement = simplify(node)
                if replacement is not None:
                    node.results[0].replace_all_uses_with(replacement)
                    node.parent_block().erase_op(node)
                    changed = True


def simplify(node: Operation) -> SSAValue | None:
    """The value `node` can be replaced by, or None. May insert new ops before `node`."""
    if not isinstance(node, g.GraphOp) or len(node.results) != 1 or not node.operands:
        return None
    source = node.operands[0]
    same_type = source.type == node.results[0].type
    attrs = node.attrs()
    if isinstance(node, g.ReshapeOp | g.BroadcastToOp | g.CastOp) and same_type:
        return source
    if isinstance(node, g.ConcatOp) and len(node.operands) == 1:
        return source
    if isinstance(node, g.SliceOp) and same_type and set(g.get_ints(attrs, "strides")) <= {1}:
        return source
    if isinstance(node, g.ReverseOp) and not g.get_ints(attrs, "axes"):
        return source
    if isinstance(node, g.PadOp) and not any(
        g.get_ints(attrs, "low") + g.get_ints(attrs, "high") + g.get_ints(attrs, "interior")
    ):
        return source
    if isinstance(node, g.TransposeOp):
        perm = g.get_ints(attrs, "perm")
        if list(perm) == sorted(perm):
            return source
        inner = source.owner
        if isinstance(inner, g.TransposeOp):
            inner_perm = g.get_ints(inner.attrs(), "perm")
            combined = [inner_perm[p] for p in perm]
            return _insert_before(node, g.TransposeOp.make([inner.input], perm=g.ints_attr(combined)))
    if isinstance(node, g.ReshapeOp) and isinstance(source.owner, g.ReshapeOp):
        return _insert_before(node, g.ReshapeOp.make([source.owner.input], shape=attrs["shape"]))
    return None


def _insert_before(anchor: Operation, new: Operation) -> SSAValue:
    anchor.parent_block().insert_op_before(new, anchor)
    return new.results[0]
