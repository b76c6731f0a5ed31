"""The ONNX front end's import rules: weights, signatures, dtypes, static operands, errors, functions,
opset dispatch, and the format switch that sends `.onnx` files (or ONNX bytes) to it."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from xdsl.dialects.builtin import DenseResourceAttr

import graphc
from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.frontends import detect_format, import_model
from graphc.frontends.errors import FrontendError
from graphc.frontends.onnx import ConstantInputsNeeded, OnnxUnsupportedError, import_onnx, inspect_onnx

from onnx_testing import F32, assert_matches, check_against_onnxruntime, graphc_outputs, model, onnxruntime_outputs, ops_of

RNG = np.random.default_rng(7)


def _mlp(ir_version: int | None = None, inputs_include_weights: bool = False):
    w = RNG.standard_normal((8, 16)).astype(np.float32)
    b = RNG.standard_normal(16).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["h2"]),
             helper.make_node("Relu", ["h2"], ["y"])]  # fmt: skip
    inputs = [("x", F32, ["batch", 8])]
    if inputs_include_weights:
        inputs += [("w", F32, [8, 16]), ("b", F32, [16])]
    return model(nodes, inputs, [("y", F32, ["batch", 16])], [("w", w), ("b", b)], ir_version=ir_version), w, b


# ---------------------------------------------------------------------------------------------
# Weights and signature
# ---------------------------------------------------------------------------------------------


def test_initializers_become_weight_resources():
    m, w, _ = _mlp()
    program = import_onnx(m, input_shapes={"x": (2, 8)})
    assert program.input_names == ["x"]
    handles = [op.value for op in program.main.body.block.ops if isinstance(op, g.ConstantOp)]
    resources = [h.resource_handle.data for h in handles if isinstance(h, DenseResourceAttr)]
    assert "w" in resources  # 128 elements: a weight, never inline IR text
    np.testing.assert_array_equal(program.weights["w"], w)


def test_ir_v3_inputs_that_are_initializers_are_weights():
    m, _, _ = _mlp(ir_version=3, inputs_include_weights=True)
    program = import_onnx(m, input_shapes={"x": (3, 8)})
    assert program.input_names == ["x"]
    x = RNG.standard_normal((3, 8)).astype(np.float32)
    assert_matches(graphc_outputs(m, {"x": x}, input_shapes={"x": (3, 8)}), onnxruntime_outputs(m, {"x": x}))


def test_external_data_is_read_from_the_model_folder(tmp_path):
    m, w, _ = _mlp()
    path = tmp_path / "mlp.onnx"
    onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="mlp.data",
                    size_threshold=0)  # fmt: skip
    assert (tmp_path / "mlp.data").exists()
    program = import_onnx(str(path), input_shapes={"x": (1, 8)})
    np.testing.assert_array_equal(program.weights["w"], w)
    # Through the generic entry point (bytes are read, the folder is the file's).
    program = import_model(str(path), input_shapes={"x": (1, 8)})
    np.testing.assert_array_equal(program.weights["w"], w)


def test_external_data_without_a_folder_is_a_clear_error(tmp_path):
    m, _, _ = _mlp()
    path = tmp_path / "mlp.onnx"
    onnx.save_model(m, str(path), save_as_external_data=True, location="mlp.data", size_threshold=0)
    with pytest.raises(FrontendError, match="external file"):
        import_onnx(path.read_bytes(), source="mlp.onnx", input_shapes={"x": (1, 8)})


def test_symbolic_dimensions_need_input_shape():
    m, _, _ = _mlp()
    with pytest.raises(FrontendError) as info:
        import_onnx(m, source="mlp.onnx")
    message = str(info.value)
    assert message.startswith("mlp.onnx: input 'x' has symbolic dimensions [batch, 8]")
    assert "--input-shape x=1x8" in message and "\n" not in message
    with pytest.raises(FrontendError, match="does not match the input's declared shape"):
        import_onnx(m, source="mlp.onnx", input_shapes={"x": (2, 9)})
    with pytest.raises(FrontendError, match="not an input of the model"):
        import_onnx(m, source="mlp.onnx", input_shapes={"y": (2, 8)})


@pytest.mark.parametrize(
    "elem, dtype",
    [(TensorProto.FLOAT16, np.float16), (TensorProto.DOUBLE, np.float64), (TensorProto.INT8, np.int8),
     (TensorProto.UINT8, np.uint8), (TensorProto.INT64, np.int64), (TensorProto.UINT16, np.uint16),
     (TensorProto.INT32, np.int32), (TensorProto.BFLOAT16, None)],
)  # fmt: skip
def test_element_types_are_kept(elem, dtype):
    m = model([helper.make_node("Add", ["a", "b"], ["y"])], [("a", elem, [4]), ("b", elem, [4])], [("y", elem, [4])])
    program = import_onnx(m)
    expected = dtypes.bf16 if elem == TensorProto.BFLOAT16 else dtypes.from_numpy_dtype(dtype)
    assert [a.type.element_type for a in program.main.args] == [expected, expected]
    assert program.main.function_type.outputs.data[0].element_type == expected
    assert "graph.cast" not in ops_of(program)


def test_unsupported_element_types_are_rejected_with_the_reason():
    m = model([helper.make_node("Identity", ["a"], ["y"])], [("a", TensorProto.FLOAT8E4M3FN, [4])],
              [("y", TensorProto.FLOAT8E4M3FN, [4])])  # fmt: skip
    with pytest.raises(OnnxUnsupportedError, match="FLOAT8E4M3FN is not supported"):
        import_onnx(m, source="f8.onnx")
    m = model([helper.make_node("Cast", ["a"], ["y"], to=TensorProto.STRING)], [("a", F32, [4])],
              [("y", TensorProto.STRING, [4])])  # fmt: skip
    with pytest.raises(OnnxUnsupportedError, match="node 'Cast_0' \\(Cast\\): element type STRING"):
        import_onnx(m, source="s.onnx")


@pytest.mark.parametrize(
    "attr, value, expected",
    [("value", numpy_helper.from_array(np.arange(6, dtype=np.int32).reshape(2, 3)), np.arange(6, dtype=np.int32).reshape(2, 3)),
     ("value_float", 2.5, np.float32(2.5)), ("value_floats", [1.0, -2.0], np.array([1, -2], np.float32)),
     ("value_int", 7, np.int64(7)), ("value_ints", [3, 4], np.array([3, 4], np.int64)),
     ("sparse_value", helper.make_sparse_tensor(numpy_helper.from_array(np.array([5.0, 6.0], np.float32)),
                                                numpy_helper.from_array(np.array([1, 4], np.int64)), [2, 3]),
      np.array([[0, 5, 0], [0, 6, 0]], np.float32))],
)  # fmt: skip
def test_constant_nodes_in_every_attribute_form(attr, value, expected):
    node = helper.make_node("Constant", [], ["c"], **{attr: value})
    out_type = helper.np_dtype_to_tensor_dtype(np.asarray(expected).dtype)
    m = model([node, helper.make_node("Identity", ["c"], ["y"])], [], [("y", out_type, list(np.shape(expected)))])
    got = graphc_outputs(m, {})
    np.testing.assert_array_equal(got[0], expected)
    assert got[0].dtype == np.asarray(expected).dtype


# ---------------------------------------------------------------------------------------------
# Compile-time operands
# ---------------------------------------------------------------------------------------------


def _reshape_by_shape_subgraph():
    """Reshape x [B, 4, 6] to [B, 24] with a shape computed by Shape -> Slice -> Concat."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "zero", "one"], ["batch"]),
        helper.make_node("Concat", ["batch", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = [("zero", np.array([0], np.int64)), ("one", np.array([1], np.int64)), ("minus_one", np.array([-1], np.int64))]
    return model(nodes, [("x", F32, ["B", 4, 6])], [("y", F32, ["B", 24])], inits)


def test_shape_subgraphs_are_evaluated_at_compile_time():
    m = _reshape_by_shape_subgraph()
    program = import_onnx(m, input_shapes={"x": (3, 4, 6)})
    assert ops_of(program) == ["graph.reshape", "func.return"]
    x = RNG.standard_normal((3, 4, 6)).astype(np.float32)
    assert_matches(graphc_outputs(m, {"x": x}, input_shapes={"x": (3, 4, 6)}), onnxruntime_outputs(m, {"x": x}))


def _reshape_by_input():
    return model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="Reshape_3")],
                 [("x", F32, [2, 6]), ("shape", TensorProto.INT64, [2])], [("y", F32, [None, None])])  # fmt: skip


def test_a_runtime_shape_operand_is_a_one_line_error_naming_the_input():
    with pytest.raises(ConstantInputsNeeded) as info:
        import_onnx(_reshape_by_input(), source="model.onnx")
    assert str(info.value) == "model.onnx: node 'Reshape_3' (Reshape): input 'shape' must be a compile-time constant"
    assert info.value.inputs == ["shape"]


def test_constant_inputs_specialise_on_the_given_values():
    m = _reshape_by_input()
    shape = np.array([3, 4], np.int64)
    program = import_onnx(m, constant_inputs={"shape": shape})
    assert program.input_names == ["x"]
    x = RNG.standard_normal((2, 6)).astype(np.float32)
    got = graphc_outputs(m, {"x": x}, constant_inputs={"shape": shape})
    assert_matches(got, onnxruntime_outputs(m, {"x": x, "shape": shape}))


def test_constant_inputs_are_checked_against_the_declaration():
    with pytest.raises(FrontendError, match="is int32, the input is int64"):
        import_onnx(_reshape_by_input(), constant_inputs={"shape": np.array([3, 4], np.int32)})
    with pytest.raises(FrontendError, match="is not an input of the model"):
        import_onnx(_reshape_by_input(), constant_inputs={"nope": np.array([3, 4], np.int64)})


# ---------------------------------------------------------------------------------------------
# Unsupported ops, functions, opsets
# ---------------------------------------------------------------------------------------------


def test_every_unsupported_op_is_listed_at_once():
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Det", ["a"], ["b"], name="det_1"),
        helper.make_node("RoiAlign", ["a", "rois", "idx"], ["c"], name="roi"),
        helper.make_node("Det", ["a"], ["d"], name="det_2"),
        helper.make_node("Foo", ["a"], ["e"], name="foo", domain="com.example"),
    ]
    m = model(nodes, [("x", F32, [2, 2]), ("rois", F32, [1, 4]), ("idx", TensorProto.INT64, [1])],
              [("b", F32, []), ("c", F32, None), ("d", F32, []), ("e", F32, None)])  # fmt: skip
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(OnnxUnsupportedError) as info:
        import_onnx(m, source="model.onnx")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("model.onnx: 3 unsupported ops: ")
    assert "Det (nodes 'det_1', 'det_2', opset 21)" in message
    assert "RoiAlign (node 'roi', opset 21)" in message
    assert "Foo (node 'foo', opset 1: domain 'com.example' is not supported)" in message


def test_ops_defined_as_functions_are_expanded():
    """MeanVarianceNormalization has no converter: its schema's function body is converted."""
    x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
    m = model([helper.make_node("MeanVarianceNormalization", ["x"], ["y"], axes=[0, 2, 3])],
              [("x", F32, [2, 3, 4, 5])], [("y", F32, [2, 3, 4, 5])], opset=18)  # fmt: skip
    check_against_onnxruntime(m, {"x": x})


def test_model_local_functions_are_inlined():
    body = [helper.make_node("Mul", ["a", "a"], ["sq"]), helper.make_node("Add", ["sq", "a"], ["out"])]
    fn = helper.make_function("local", "SquarePlus", ["a"], ["out"], body, [helper.make_opsetid("", 21)])
    node = helper.make_node("SquarePlus", ["x"], ["y"], domain="local")
    m = model([node], [("x", F32, [5])], [("y", F32, [5])], functions=[fn])
    m.opset_import.append(helper.make_opsetid("local", 1))
    x = RNG.standard_normal(5).astype(np.float32)
    assert_matches(graphc_outputs(m, {"x": x}), [x * x + x])


@pytest.mark.parametrize("opset", [7, 11, 13, 21])
def test_softmax_dispatches_on_the_schema_version(opset):
    """Before opset 13 Softmax normalizes the input flattened to 2-d at `axis`; from 13 on, one axis."""
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    m = model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], [("x", F32, [2, 3, 4])], [("y", F32, [2, 3, 4])],
              opset=opset)  # fmt: skip
    check_against_onnxruntime(m, {"x": x})


@pytest.mark.parametrize("opset", [7, 12, 13])
def test_squeeze_axes_from_attribute_or_input(opset):
    x = RNG.standard_normal((1, 3, 1, 2)).astype(np.float32)
    if opset < 13:
        nodes, inits = [helper.make_node("Squeeze", ["x"], ["y"], axes=[0, 2])], []
    else:
        nodes, inits = [helper.make_node("Squeeze", ["x", "axes"], ["y"])], [("axes", np.array([0, 2], np.int64))]
    m = model(nodes, [("x", F32, [1, 3, 1, 2])], [("y", F32, [3, 2])], inits, opset=opset)
    check_against_onnxruntime(m, {"x": x})


# ---------------------------------------------------------------------------------------------
# The format switch, the Python API and the CLI
# ---------------------------------------------------------------------------------------------


def test_detect_format_by_name_and_content():
    m, _, _ = _mlp()
    data = m.SerializeToString()
    assert detect_format(data, "model.onnx") == "onnx"
    assert detect_format(data, "model.bin") == "onnx"
    assert detect_format(b"\x0a\x03abc", "model.pb") == "tensorflow"


def test_graphc_compile_accepts_onnx(tmp_path):
    m, _, _ = _mlp()
    path = tmp_path / "mlp.onnx"
    onnx.save(m, str(path))
    compiled = graphc.compile(str(path), input_shapes={"x": (4, 8)})
    x = RNG.standard_normal((4, 8)).astype(np.float32)
    assert_matches([compiled.run({"x": x})["y"]], onnxruntime_outputs(m, {"x": x}))


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "graphc.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "GRAPHC_TRACEBACK": ""})  # fmt: skip


def test_cli_compile_run_and_inspect_onnx(tmp_path):
    m, _, _ = _mlp()
    path = tmp_path / "mlp.onnx"
    onnx.save(m, str(path))
    inspected = _cli("inspect", str(path))
    assert inspected.returncode == 0, inspected.stderr
    assert "x: float32 [-1, 8]" in inspected.stdout and "MatMul" in inspected.stdout
    assert "parameters: 144" in inspected.stdout
    compiled = _cli("compile", str(path), "--input-shape", "x=2x8", "-o", str(tmp_path / "mlp.gcx"), "-q")
    assert compiled.returncode == 0, compiled.stderr
    x = RNG.standard_normal((2, 8)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    ran = _cli("run", str(tmp_path / "mlp.gcx"), "--inputs", str(tmp_path / "in.npz"), "--out", str(tmp_path / "out.npz"))
    assert ran.returncode == 0, ran.stderr
    with np.load(tmp_path / "out.npz") as out:
        assert_matches([out["y"]], onnxruntime_outputs(m, {"x": x}))


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    m, _, _ = _mlp()
    path = tmp_path / "mlp.onnx"
    onnx.save(m, str(path))
    missing_shape = _cli("compile", str(path), "-o", str(tmp_path / "a.gcx"))
    assert missing_shape.returncode == 1
    assert missing_shape.stderr.strip().count("\n") == 0 and "Traceback" not in missing_shape.stderr
    assert "input 'x' has symbolic dimensions" in missing_shape.stderr
    (tmp_path / "junk.onnx").write_bytes(b"not a model at all")
    junk = _cli("compile", str(tmp_path / "junk.onnx"))
    assert junk.returncode == 1 and "not an ONNX model" in junk.stderr and "Traceback" not in junk.stderr
    bad = model([helper.make_node("Det", ["x"], ["y"], name="det")], [("x", F32, [2, 2])], [("y", F32, [])])
    onnx.save(bad, str(tmp_path / "det.onnx"))
    unsupported = _cli("compile", str(tmp_path / "det.onnx"))
    assert unsupported.returncode == 1
    assert "1 unsupported op: Det (node 'det', opset 21)" in unsupported.stderr


def test_inspect_lists_unsupported_ops():
    bad = model([helper.make_node("Det", ["x"], ["y"], name="det")], [("x", F32, [2, 2])], [("y", F32, [])])
    info = inspect_onnx(bad.SerializeToString(), source="det.onnx")
    assert info["unsupported"] == {"Det": ["det"]}
    assert info["inputs"] == [{"name": "x", "shape": [2, 2], "dtype": "float32"}]
