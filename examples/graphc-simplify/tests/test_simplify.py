"""Tests of the algebraic-simplify pass, on hand-written graph IR (run with pytest from this folder)."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.context import Context

from graphc.context import parse_module
from graphc.dialects import graph as g
from graphc.dialects.resources import GraphProgram, WeightStore
from graphc_simplify import AlgebraicSimplifyPass


def run(text: str) -> str:
    module = parse_module(text)
    AlgebraicSimplifyPass().apply(Context(), module)
    module.verify()
    return str(module)


def body(ops: str, arg: str = "tensor<2x4xf32>", result: str = "tensor<2x4xf32>") -> str:
    return f"func.func @main(%x: {arg}) -> {result} {{\n{ops}\n}}"


def const(name: str, value: str, type_: str) -> str:
    return f"  %{name} = graph.constant {{value = dense<{value}> : {type_}}} : {type_}"


@pytest.mark.parametrize(
    "op, value, swap",
    [("mul", "1.0", False), ("mul", "1.0", True), ("add", "0.0", False), ("add", "0.0", True),
     ("sub", "0.0", False), ("div", "1.0", False)],
)  # fmt: skip
def test_identities_are_removed(op, value, swap):
    operands = "%c, %x" if swap else "%x, %c"
    text = body(
        const("c", value, "tensor<4xf32>")
        + f"\n  %y = graph.{op} {operands} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>"
        + "\n  func.return %y : tensor<2x4xf32>"
    )
    if swap:
        text = text.replace("(tensor<2x4xf32>, tensor<4xf32>)", "(tensor<4xf32>, tensor<2x4xf32>)")
    out = run(text)
    assert f"graph.{op}" not in out and "graph.constant" not in out
    assert "func.return %x" in out


@pytest.mark.parametrize("op, value", [("sub", "0.0"), ("div", "1.0")])
def test_non_commutative_left_identity_is_kept(op, value):
    text = body(
        const("c", value, "tensor<2x4xf32>")
        + f"\n  %y = graph.{op} %c, %x : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>"
        + "\n  func.return %y : tensor<2x4xf32>"
    )
    assert f"graph.{op}" in run(text)


def test_non_identity_constant_is_kept():
    text = body(
        const("c", "[1.0, 1.0, 2.0, 1.0]", "tensor<4xf32>")
        + "\n  %y = graph.mul %x, %c : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>"
        + "\n  func.return %y : tensor<2x4xf32>"
    )
    assert "graph.mul" in run(text)


def test_broadcasting_multiply_by_ones_is_kept():
    # x: (4,) * ones(3, 4) gives (3, 4): removing it would change the result's shape.
    text = body(
        const("c", "1.0", "tensor<3x4xf32>")
        + "\n  %y = graph.mul %x, %c : (tensor<4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>"
        + "\n  func.return %y : tensor<3x4xf32>",
        arg="tensor<4xf32>",
        result="tensor<3x4xf32>",
    )
    assert "graph.mul" in run(text)


def test_integer_identity():
    text = body(
        const("c", "0", "tensor<i32>")
        + "\n  %y = graph.add %x, %c : (tensor<2x4xi32>, tensor<i32>) -> tensor<2x4xi32>"
        + "\n  func.return %y : tensor<2x4xi32>",
        arg="tensor<2x4xi32>",
        result="tensor<2x4xi32>",
    )
    assert "graph.add" not in run(text)


def test_double_negation():
    text = body(
        "  %a = graph.neg %x : (tensor<2x4xf32>) -> tensor<2x4xf32>\n"
        "  %b = graph.neg %a : (tensor<2x4xf32>) -> tensor<2x4xf32>\n"
        "  func.return %b : tensor<2x4xf32>"
    )
    out = run(text)
    assert "graph.neg" not in out and "func.return %x" in out


def test_transposes_that_cancel():
    text = (
        "func.func @main(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {\n"
        "  %a = graph.transpose %x {perm = array<i64: 1, 2, 0>} : (tensor<2x3x4xf32>) -> tensor<3x4x2xf32>\n"
        "  %b = graph.transpose %a {perm = array<i64: 2, 0, 1>} : (tensor<3x4x2xf32>) -> tensor<2x3x4xf32>\n"
        "  func.return %b : tensor<2x3x4xf32>\n}"
    )
    out = run(text)
    assert "graph.transpose" not in out and "func.return %x" in out


def test_transposes_that_do_not_cancel():
    # Same shapes in and out (2x2x2), but the permutations compose to (1, 0, 2), not the identity.
    text = (
        "func.func @main(%x: tensor<2x2x2xf32>) -> tensor<2x2x2xf32> {\n"
        "  %a = graph.transpose %x {perm = array<i64: 1, 2, 0>} : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>\n"
        "  %b = graph.transpose %a {perm = array<i64: 1, 2, 0>} : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>\n"
        "  func.return %b : tensor<2x2x2xf32>\n}"
    )
    assert run(text).count("graph.transpose") == 2


def test_shared_operand_stays_when_still_used():
    text = body(
        "  %a = graph.neg %x : (tensor<2x4xf32>) -> tensor<2x4xf32>\n"
        "  %b = graph.neg %a : (tensor<2x4xf32>) -> tensor<2x4xf32>\n"
        "  %c = graph.add %a, %b : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>\n"
        "  func.return %c : tensor<2x4xf32>"
    )
    out = run(text)
    assert out.count("graph.neg") == 1 and "graph.add" in out


def test_chain_simplifies_to_fixpoint():
    text = body(
        const("one", "1.0", "tensor<f32>") + "\n" + const("zero", "0.0", "tensor<f32>")
        + "\n  %a = graph.mul %x, %one : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32>"
        + "\n  %b = graph.add %a, %zero : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32>"
        + "\n  %c = graph.neg %b : (tensor<2x4xf32>) -> tensor<2x4xf32>"
        + "\n  %d = graph.neg %c : (tensor<2x4xf32>) -> tensor<2x4xf32>"
        + "\n  func.return %d : tensor<2x4xf32>"
    )  # fmt: skip
    out = run(text)
    assert "graph." not in out.replace("func.return", "")


def test_semantics_preserved_on_a_built_graph():
    """Built with graphc's ProgramBuilder (weights as resources), evaluated with graphc's reference
    semantics before and after: same values, fewer ops."""
    from graphc.dialects.builder import ProgramBuilder
    from graphc.dialects.semantics import evaluate_program
    from graphc.passes.weights_context import bound_weights

    b = ProgramBuilder({"x": ((3, 4), np.float32), "y": ((4,), np.float32)})
    x, y = b.args["x"], b.args["y"]
    t = b.op(g.TransposeOp, b.op(g.TransposeOp, x, perm=g.ints_attr([1, 0])), perm=g.ints_attr([1, 0]))
    m = b.op(g.MulOp, t, b.const(np.ones((4,), np.float32), "ones"))
    a = b.op(g.AddOp, b.const(np.zeros((3, 4), np.float32), "zeros"), m)
    kept = b.op(g.MulOp, y, b.const(np.ones((3, 4), np.float32), "ones_big"))  # broadcasts y: kept
    program = b.build({"out": a, "bcast": kept})
    rng = np.random.default_rng(0)
    inputs = {"x": rng.standard_normal((3, 4), dtype=np.float32), "y": rng.standard_normal(4, dtype=np.float32)}
    before = evaluate_program(program, inputs)
    with bound_weights(program.weights):
        AlgebraicSimplifyPass().apply(Context(), program.module)
    program.module.verify()
    after = evaluate_program(program, inputs)
    text = str(program.module)
    assert "graph.transpose" not in text and "graph.add" not in text and text.count("graph.mul") == 1
    for name in before:
        np.testing.assert_array_equal(np.asarray(before[name]), np.asarray(after[name]))


def test_registered_with_graphc():
    from graphc.passes import PASSES

    assert "algebraic-simplify" in PASSES
