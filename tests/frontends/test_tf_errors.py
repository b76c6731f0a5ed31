"""Bad TensorFlow models: each failure is one `FrontendError` line naming the file (and node)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphc.errors import GraphcError
from graphc.frontends.errors import FrontendError
from graphc.frontends.tensorflow import import_graphdef, inspect_graphdef

from graphdef_builder import DT, GraphBuilder

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "bad"


def _expect_error(data: bytes, *fragments: str, source: str = "model.pb", **kwargs) -> str:
    with pytest.raises(FrontendError) as info:
        import_graphdef(data, source=source, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(source + ":"), message
    for fragment in fragments:
        assert fragment in message, message
    assert isinstance(info.value, GraphcError)
    return message


def _small_graph() -> bytes:
    b = GraphBuilder()
    x = b.placeholder("x", [-1, 4])
    w = b.const(np.arange(64, dtype=np.float32).reshape(4, 16))
    b.node("Relu", [b.node("MatMul", [x, w])], name="Identity")
    return b.serialize()


# ---------------------------------------------------------------------------------------------
# Not a GraphDef at all
# ---------------------------------------------------------------------------------------------


def test_empty_file():
    _expect_error(b"", "not a TensorFlow GraphDef", source="empty.pb")


def test_text_file():
    _expect_error(b"this is a text file,\nnot a model\n", "not a TensorFlow GraphDef", source="notes.pb")


def test_random_bytes():
    data = np.random.default_rng(0).integers(0, 256, size=4096, dtype=np.uint8).tobytes()
    _expect_error(data, "not a TensorFlow GraphDef", source="random.pb")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_file(fraction):
    data = _small_graph()
    with pytest.raises(FrontendError) as info:
        import_graphdef(data[: int(len(data) * fraction)], source="cut.pb", input_shapes={"x": (1, 4)})
    assert str(info.value).startswith("cut.pb:") and "\n" not in str(info.value)


def test_zip_file_is_named():
    _expect_error(b"PK\x03\x04" + b"\x00" * 64, "zip", source="model.keras")


def test_not_bytes():
    with pytest.raises(FrontendError):
        import_graphdef("model.pb", source="model.pb")  # type: ignore[arg-type]


def test_inspect_rejects_garbage():
    with pytest.raises(FrontendError, match="not a TensorFlow GraphDef"):
        inspect_graphdef(b"garbage!", source="g.pb")


# ---------------------------------------------------------------------------------------------
# Unsupported ops and control flow
# ---------------------------------------------------------------------------------------------


def test_all_unsupported_ops_in_one_message():
    b = GraphBuilder()
    x = b.placeholder("x", [2, 4])
    m = b.placeholder("m", [3, 3])
    a = b.node("Lgamma", [x], name="a")
    c = b.node("Lgamma", [a], name="b")
    d = b.node("MatrixDeterminant", [m], name="c")
    b.node("Identity", [b.node("AddV2", [c, x])], name="Identity")
    b.node("Identity", [d], name="Identity_1")
    b.node("Sigmoid", [x], name="Identity_2")
    message = _expect_error(b.serialize(), "2 unsupported ops", "Lgamma (nodes 'a', 'b')", "MatrixDeterminant (node 'c')")
    assert "Sigmoid" not in message


def test_unsupported_unreachable_ops_are_ignored():
    b = GraphBuilder()
    x = b.placeholder("x", [2, 4])
    b.node("Lgamma", [x], name="dead")
    b.node("Sigmoid", [x], name="Identity")
    program = import_graphdef(b.serialize(), source="m.pb", outputs=["Identity"])
    assert program.output_names == ["Identity"]


def test_while_rejected_by_name():
    b = GraphBuilder()
    x = b.placeholder("x", [2, 4])
    w = b.node("StatelessWhile", [x], name="while")
    b.node("Identity", [w], name="Identity")
    _expect_error(b.serialize(), "While", "'while'", "control flow is not supported yet")


def test_tf1_loop_rejected_by_name():
    b = GraphBuilder()
    x = b.placeholder("x", [2, 4])
    enter = b.node("Enter", [x], name="loop/Enter")
    merge = b.node("Merge", [enter, "loop/NextIteration"], name="loop/Merge")
    cond = b.node("LoopCond", [b.node("Less", [merge, x])], name="loop/LoopCond")
    switch = b.node("Switch", [merge, cond], name="loop/Switch")
    body = b.node("Tanh", [switch + ":1"], name="loop/body")
    b.node("NextIteration", [body], name="loop/NextIteration")
    exit_ = b.node("Exit", [switch], name="loop/Exit")
    b.node("Identity", [exit_], name="Identity")
    _expect_error(b.serialize(), "Enter", "Merge", "Switch", "Exit", "NextIteration", "LoopCond", "control flow is not supported yet")


def test_call_into_function_with_control_flow_is_rejected():
    b = GraphBuilder()
    x = b.placeholder("x", [2, 4])
    f = b.graph.library.function.add()
    f.signature.name = "loop_fn"
    arg = f.signature.input_arg.add()
    arg.name, arg.type = "x", DT.DT_FLOAT
    out = f.signature.output_arg.add()
    out.name, out.type = "y", DT.DT_FLOAT
    node = f.node_def.add()
    node.name, node.op = "w", "While"
    node.input.append("x")
    f.ret["y"] = "w:output:0"
    call = b.node("StatefulPartitionedCall", [x], name="call", f=("func", "loop_fn"))
    b.node("Identity", [call], name="Identity")
    _expect_error(b.serialize(), "StatefulPartitionedCall", "'call'", "control flow is not supported yet", "While")


@pytest.mark.parametrize("name", ["unsupported_ops", "while_loop", "while_loop_v2"])
def test_bad_fixtures(name):
    path = BAD / f"{name}.pb"
    if not path.exists():
        pytest.skip(f"{path} has not been generated")
    import json

    meta = json.loads(path.with_suffix(".json").read_text())
    with pytest.raises(FrontendError) as info:
        import_graphdef(path.read_bytes(), source=path.name, input_shapes=meta.get("input_shapes"))
    message = str(info.value)
    assert "\n" not in message and message.startswith(path.name)
    if name == "unsupported_ops":
        for op in ("Lgamma", "Digamma", "MatrixDeterminant"):
            assert op in message
    else:
        assert "control flow is not supported yet" in message


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------


def test_missing_input_shape_names_the_input():
    _expect_error(_small_graph(), "input 'x'", "--input-shape x=1x4")


def test_input_shape_mismatch():
    _expect_error(_small_graph(), "--input-shape x=2x5", "does not match", input_shapes={"x": (2, 5)})


def test_input_shape_wrong_rank():
    _expect_error(_small_graph(), "does not match", input_shapes={"x": (2, 4, 1)})


def test_input_shape_for_unknown_input():
    _expect_error(_small_graph(), "'y'", "not an input", input_shapes={"x": (1, 4), "y": (1,)})


def test_unknown_rank_needs_a_shape():
    b = GraphBuilder()
    x = b.placeholder("x", None)
    b.node("Relu", [x], name="Identity")
    _expect_error(b.serialize(), "input 'x'", "unknown rank", "--input-shape")
    program = import_graphdef(b.serialize(), source="m.pb", input_shapes={"x": (3, 2)})
    assert str(program.main.args[0].type) == "tensor<3x2xf32>"


def test_dynamic_shape_operand_is_an_error():
    b = GraphBuilder()
    x = b.placeholder("x", [2, 4])
    shape = b.placeholder("s", [2], dtype=np.int32)
    b.node("Reshape", [x, shape], name="Identity")
    _expect_error(b.serialize(), "node 'Identity' (Reshape)", "compile-time constant")


def test_bad_attribute_is_a_node_error():
    b = GraphBuilder()
    x = b.placeholder("x", [1, 4, 4, 3])
    w = b.const(np.ones((3, 3, 3, 2), np.float32))
    b.node("Conv2D", [x, w], name="conv1", strides=[1, 1, 1, 1], padding="SAME", data_format="NCDHW")
    _expect_error(b.serialize(), "node 'conv1' (Conv2D)", "data_format 'NCDHW' is not supported")


def test_missing_input_node():
    b = GraphBuilder()
    x = b.placeholder("x", [2])
    b.node("AddV2", [x, "ghost"], name="Identity")
    _expect_error(b.serialize(), "'ghost'", "not in the graph")


def test_cycle_without_control_flow_ops():
    b = GraphBuilder()
    x = b.placeholder("x", [2])
    b.node("AddV2", [x, "b"], name="a")
    b.node("Neg", ["a"], name="b")
    b.node("Relu", ["a"], name="Identity")
    _expect_error(b.serialize(), "cycle", outputs=["Identity"])


def test_training_batch_norm_rejected():
    b = GraphBuilder()
    x = b.placeholder("x", [1, 2, 2, 3])
    p = [b.const(np.ones(3, np.float32)) for _ in range(4)]
    b.node("FusedBatchNormV3", [x, *p], name="bn", is_training=True)
    b.node("Identity", ["bn"], name="Identity")
    _expect_error(b.serialize(), "node 'bn' (FusedBatchNormV3)", "is_training")


def test_unknown_output_and_input_names():
    _expect_error(_small_graph(), "output 'nope'", outputs=["nope"], input_shapes={"x": (1, 4)})
    _expect_error(_small_graph(), "input 'nope'", inputs=["nope"])


def test_string_constant_rejected():
    b = GraphBuilder()
    x = b.placeholder("x", [2])
    node = b.graph.node.add()
    node.name, node.op = "s", "Const"
    node.attr["dtype"].type = DT.DT_STRING
    node.attr["value"].tensor.dtype = DT.DT_STRING
    node.attr["value"].tensor.string_val.append(b"hello")
    b.node("AddV2", [x, "s"], name="Identity")
    _expect_error(b.serialize(), "node 's' (Const)", "DT_STRING")


def test_recursive_function_is_rejected():
    b = GraphBuilder()
    x = b.placeholder("x", [2])
    f = b.graph.library.function.add()
    f.signature.name = "rec"
    arg = f.signature.input_arg.add()
    arg.name, arg.type = "x", DT.DT_FLOAT
    out = f.signature.output_arg.add()
    out.name, out.type = "y", DT.DT_FLOAT
    node = f.node_def.add()
    node.name, node.op = "inner", "PartitionedCall"
    node.input.append("x")
    node.attr["f"].func.name = "rec"
    f.ret["y"] = "inner:output:0"
    b.node("Identity", [b.node("PartitionedCall", [x], name="call", f=("func", "rec"))], name="Identity")
    _expect_error(b.serialize(), "PartitionedCall", "nest deeper")
