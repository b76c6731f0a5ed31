"""TensorFlow `Einsum` lowered to transposes, reshapes, `graph.matmul` and `graph.reduce_sum`.

Two operands: labels only one operand has and the output does not are summed first; the rest are
batch labels (both operands and the output), contracted labels (both operands, not the output) and
free labels (one operand and the output). Each operand is transposed to [batch, free, contracted]
(the right one to [batch, contracted, free]), its free and contracted labels are flattened, one
batched matmul computes the product (batch dimensions broadcast), and the result is reshaped and
transposed to the output order. Without contracted labels the product is a broadcasting multiply.
More operands are contracted left to right; one operand is a sum plus a transpose. Ellipses are
supported (broadcasting like numpy); repeated labels within one operand (diagonals) are not.
"""

from __future__ import annotations

from xdsl.ir import SSAValue

from graphc.dialects import graph as g
from graphc.frontends.tf_context import Converter, NodeError, TFNode, converts, need_inputs, product


@converts("Einsum")
def _einsum(ctx: Converter, node: TFNode, inputs):
    need_inputs(node, inputs, 1, at_least=True)
    equation = node.get_str("equation")
    terms, output = parse_equation(equation, [ctx.rank(v) for v in inputs])
    return [einsum(ctx, list(inputs), terms, output)]


def parse_equation(equation: str, ranks: list[int]) -> tuple[list[list[str]], list[str]]:
    """`"ab,...bc->...ac"` -> per-operand label lists and the output labels (ellipses expanded)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise NodeError(f"equation '{equation}' has {len(terms)} operands, the node has {len(ranks)}")
    ellipsis_dims = 0
    for term, rank in zip(terms, ranks):
        if "..." in term:
            ellipsis_dims = max(ellipsis_dims, rank - (len(term) - 3))
    # Private labels for ellipsis dimensions (outside the letters equations use).
    ell = [chr(0x2460 + i) for i in range(ellipsis_dims)]
    parsed = []
    for term, rank in zip(terms, ranks):
        if "..." in term:
            head, _, tail = term.partition("...")
            count = rank - len(head) - len(tail)
            if count < 0 or "." in head + tail:
                raise NodeError(f"bad equation '{equation}' for operand rank {rank}")
            labels = list(head) + ell[ellipsis_dims - count :] + list(tail)
        else:
            labels = list(term)
        if len(labels) != rank or not all(c.isalpha() or c in ell for c in labels):
            raise NodeError(f"equation term '{term}' does not match an operand of rank {rank}")
        parsed.append(labels)
    if arrow:
        if "..." in rhs:
            head, _, tail = rhs.partition("...")
            out = list(head) + ell + list(tail)
        else:
            out = list(rhs)
        if "." in "".join(c for c in out if c not in ell):
            raise NodeError(f"bad output in equation '{equation}'")
    else:  # implicit output: ellipsis, then labels that appear once, alphabetically
        counts: dict[str, int] = {}
        for labels in parsed:
            for c in labels:
                counts[c] = counts.get(c, 0) + 1
        out = ell + sorted(c for c, n in counts.items() if n == 1 and c not in ell)
    if len(set(out)) != len(out):
        raise NodeError(f"equation '{equation}' repeats a label in the output")
    for labels in parsed:
        if len(set(labels)) != len(labels):
            raise NodeError(f"equation '{equation}' repeats a label within one operand (diagonals are not supported)")
    known = {c for labels in parsed for c in labels}
    missing = [c for c in out if c not in known and c not in ell]
    if missing:
        raise NodeError(f"output labels {missing} of '{equation}' appear in no operand")
    out = [c for c in out if c in known]  # ellipsis labels no operand has (rank-0 ellipses)
    return parsed, out


def einsum(ctx: Converter, values: list[SSAValue], terms: list[list[str]], output: list[str]) -> SSAValue:
    sizes: dict[str, int] = {}
    for value, labels in zip(values, terms):
        for c, d in zip(labels, ctx.shape(value)):
            if sizes.get(c, 1) not in (1, d) and d != 1:
                raise NodeError(f"label '{c}' has sizes {sizes[c]} and {d}")
            sizes[c] = max(sizes.get(c, 1), d)
    current, labels = values[0], terms[0]
    for i in range(1, len(values)):
        later = set(output).union(*[set(t) for t in terms[i + 1 :]])
        keep = [c for c in dict.fromkeys(labels + terms[i]) if c in later]
        current = _contract(ctx, current, labels, values[i], terms[i], keep, sizes)
        labels = keep
    return _single(ctx, current, labels, output)


def _single(ctx: Converter, x: SSAValue, labels: list[str], output: list[str]) -> SSAValue:
    summed = [i for i, c in enumerate(labels) if c not in output]
    x = ctx.reduce(g.ReduceSumOp, x, summed, False)
    labels = [c for c in labels if c in output]
    return ctx.transpose(x, [labels.index(c) for c in output])


def _contract(
    ctx: Converter, a: SSAValue, la: list[str], b: SSAValue, lb: list[str], out: list[str], sizes: dict[str, int]
) -> SSAValue:
    # Sum labels that only one operand has and nobody needs.
    a_only = [c for c in la if c not in lb and c not in out]
    b_only = [c for c in lb if c not in la and c not in out]
    a = _single(ctx, a, la, [c for c in la if c not in a_only])
    la = [c for c in la if c not in a_only]
    b = _single(ctx, b, lb, [c for c in lb if c not in b_only])
    lb = [c for c in lb if c not in b_only]

    contracted = [c for c in la if c in lb and c not in out]
    if not contracted:  # a broadcasting product
        return ctx.op(g.MulOp, [_align(ctx, a, la, out), _align(ctx, b, lb, out)])
    # Size-1 contracted dimensions against larger ones broadcast explicitly.
    a = _expand(ctx, a, la, contracted, sizes)
    b = _expand(ctx, b, lb, contracted, sizes)
    batch = [c for c in out if c in la and c in lb]
    a_free = [c for c in out if c in la and c not in lb]
    b_free = [c for c in out if c in lb and c not in la]
    sa, sb = dict(zip(la, ctx.shape(a))), dict(zip(lb, ctx.shape(b)))
    a2 = ctx.transpose(a, [la.index(c) for c in batch + a_free + contracted])
    a2 = ctx.reshape(a2, [sa[c] for c in batch] + [product(sa[c] for c in a_free), product(sa[c] for c in contracted)])
    b2 = ctx.transpose(b, [lb.index(c) for c in batch + contracted + b_free])
    b2 = ctx.reshape(b2, [sb[c] for c in batch] + [product(sb[c] for c in contracted), product(sb[c] for c in b_free)])
    y = ctx.op(g.MatMulOp, [a2, b2])
    batch_shape = list(ctx.shape(y)[: len(batch)])
    y = ctx.reshape(y, batch_shape + [sa[c] for c in a_free] + [sb[c] for c in b_free])
    order = batch + a_free + b_free
    return ctx.transpose(y, [order.index(c) for c in out])


def _align(ctx: Converter, x: SSAValue, labels: list[str], out: list[str]) -> SSAValue:
    """Transposes `x` to the output's label order and inserts size-1 dimensions for the others."""
    present = [c for c in out if c in labels]
    x = ctx.transpose(x, [labels.index(c) for c in present])
    shape = dict(zip(present, ctx.shape(x)))
    return ctx.reshape(x, [shape.get(c, 1) for c in out])


def _expand(ctx: Converter, x: SSAValue, labels: list[str], contracted: list[str], sizes) -> SSAValue:
    shape = list(ctx.shape(x))
    target = [sizes[c] if c in contracted else d for c, d in zip(labels, shape)]
    return ctx.broadcast_to(x, target) if target != shape else x
