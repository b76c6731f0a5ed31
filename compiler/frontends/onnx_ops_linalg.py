"""ONNX linear algebra: MatMul (numpy semantics, 1-d operands promoted and squeezed), Gemm
(alpha·A'·B' + beta·C), and Einsum (the TensorFlow front end's decomposition into transposes,
reshapes, `graph.matmul` and `graph.reduce_sum`; a label repeated within one operand first takes
that operand's diagonal).
"""

from __future__ import annotations

from collections import Counter

from xdsl.ir import SSAValue

from graphc.dialects import graph as g
from graphc.frontends.onnx_context import NodeError, OnnxConverter, OnnxNode, converts, need
from graphc.frontends.onnx_ops_shape import slice_axis
from graphc.frontends.tf_einsum import einsum, parse_equation


def matmul(ctx: OnnxConverter, a: SSAValue, b: SSAValue) -> SSAValue:
    """numpy.matmul: a 1-d left operand is a row, a 1-d right operand a column; both are squeezed."""
    if ctx.element(a) != ctx.element(b):
        raise NodeError(f"the operands' element types differ: {a.type} and {b.type}")
    ra, rb = ctx.rank(a), ctx.rank(b)
    if ra == 0 or rb == 0:
        raise NodeError("MatMul operands must have rank 1 or more")
    a2 = ctx.reshape(a, [1, ctx.shape(a)[0]]) if ra == 1 else a
    b2 = ctx.reshape(b, [ctx.shape(b)[0], 1]) if rb == 1 else b
    y = ctx.op(g.MatMulOp, [a2, b2])
    shape = list(ctx.shape(y))
    if rb == 1:
        shape.pop(-1)
    if ra == 1:
        shape.pop(-2 if rb != 1 else -1)
    return ctx.reshape(y, shape)


@converts("MatMul")
def _matmul(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    return [matmul(ctx, inputs[0], inputs[1])]


@converts("Gemm")
def _gemm(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0, 1)
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    if ctx.rank(a) != 2 or ctx.rank(b) != 2:
        raise NodeError(f"A and B must be 2-d, got {a.type} and {b.type}")
    if node.get_int("transA", 0):
        a = ctx.transpose(a, [1, 0])
    if node.get_int("transB", 0):
        b = ctx.transpose(b, [1, 0])
    alpha, beta = node.get_float("alpha", 1.0), node.get_float("beta", 1.0)
    y = ctx.op(g.MatMulOp, [a, b])
    if alpha != 1.0:
        y = ctx.op(g.MulOp, [y, ctx.scalar(alpha, y)])
    if c is not None and beta != 0.0:
        if beta != 1.0:
            c = ctx.op(g.MulOp, [c, ctx.scalar(beta, c)])
        if node.version < 7 and node.get_int("broadcast", 0) == 0 and ctx.shape(c) != ctx.shape(y):
            raise NodeError(f"C {c.type} must have the result's shape when broadcast=0")
        product_shape = ctx.shape(y)
        y = ctx.op(g.AddOp, [y, c])
        if ctx.shape(y) != product_shape:
            raise NodeError(f"C {inputs[2].type} does not broadcast to the product {list(product_shape)}")
    return [y]


@converts("Einsum", since=12)
def _einsum(ctx: OnnxConverter, node: OnnxNode, inputs):
    values = [v for v in inputs if v is not None]
    if not values:
        raise NodeError("needs at least one input")
    equation, values = take_diagonals(ctx, node.get_str("equation"), values)
    terms, output = parse_equation(equation, [ctx.rank(v) for v in values])
    return [einsum(ctx, values, terms, output)]


def take_diagonals(ctx: OnnxConverter, equation: str, values: list[SSAValue]) -> tuple[str, list[SSAValue]]:
    """Rewrites operands with a repeated label (`ii`, `...jj`) into their diagonals: the two axes
    moved last, flattened, and sliced with stride n + 1 (exact). The output becomes explicit, since
    the implicit one depends on how often labels occur."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(values):
        raise NodeError(f"equation '{equation}' has {len(terms)} operands, the node has {len(values)}")
    if all(len(set(t.replace("...", ""))) == len(t.replace("...", "")) for t in terms):
        return equation, values
    if not arrow:
        counts = Counter(c for t in terms for c in t.replace("...", ""))
        ellipsis = "..." if any("..." in t for t in terms) else ""
        rhs = ellipsis + "".join(sorted(c for c, n in counts.items() if n == 1))
    new_terms, new_values = [], []
    for term, value in zip(terms, values):
        head, dots, tail = term.partition("...")
        count = ctx.rank(value) - len(head) - len(tail)
        if count < 0 or (count and not dots):
            raise NodeError(f"equation term '{term}' does not match an operand of rank {ctx.rank(value)}")
        labels = list(head) + ["."] * count + list(tail)
        while True:
            letters = [c for c in labels if c != "."]
            repeated = next((c for c in letters if letters.count(c) > 1), None)
            if repeated is None:
                break
            p, q = [i for i, c in enumerate(labels) if c == repeated][:2]
            shape = ctx.shape(value)
            if shape[p] != shape[q]:
                raise NodeError(f"label '{repeated}' has sizes {shape[p]} and {shape[q]} in one operand")
            n = shape[p]
            perm = [i for i in range(len(labels)) if i not in (p, q)] + [p, q]
            value = ctx.transpose(value, perm)
            labels = [labels[i] for i in perm[:-2]] + [repeated]
            flat = ctx.reshape(value, [*ctx.shape(value)[:-2], n * n])
            value = slice_axis(ctx, flat, ctx.rank(flat) - 1, 0, n * n, n + 1) if n else ctx.reshape(flat, [*ctx.shape(flat)[:-1], 0])
        text = "".join(labels)
        if dots:
            text = "..." + text if count == 0 else text.replace("." * count, "...", 1)
        new_terms.append(text)
        new_values.append(value)
    return ",".join(new_terms) + "->" + rhs, new_values
