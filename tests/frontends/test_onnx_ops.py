"""ONNX op converters against onnxruntime, on small models built with `onnx.helper` and compiled
through the CPU backend, plus the NCHW form convolutions must keep for the layout pass."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from graphc.dialects import graph as g
from graphc.frontends.onnx import import_onnx

from onnx_testing import F32, assert_matches, check_against_onnxruntime, graphc_outputs, model

RNG = np.random.default_rng(11)
I64 = TensorProto.INT64


def _f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _single(op, x_shapes, y_shape, attrs=None, inits=(), opset=21, y_type=F32, x_types=None):
    names = [f"x{i}" for i in range(len(x_shapes))] + [name for name, _ in inits]
    node = helper.make_node(op, names, ["y"], **(attrs or {}))
    x_types = x_types or [F32] * len(x_shapes)
    inputs = [(f"x{i}", t, s) for i, (t, s) in enumerate(zip(x_types, x_shapes))]
    return model([node], inputs, [("y", y_type, y_shape)], inits, opset=opset)


CASES = {
    "conv_same_upper_strided_grouped": lambda: (
        _single("Conv", [(1, 4, 9, 7)], None, {"auto_pad": "SAME_UPPER", "strides": [2, 2], "group": 2},
                [("w", _f32(6, 2, 3, 3)), ("b", _f32(6))]), {"x0": _f32(1, 4, 9, 7)}),
    "conv_1d_dilated_padded": lambda: (
        _single("Conv", [(2, 3, 11)], None, {"dilations": [2], "pads": [1, 2]}, [("w", _f32(5, 3, 3))]),
        {"x0": _f32(2, 3, 11)}),
    "conv_transpose_output_padding": lambda: (
        _single("ConvTranspose", [(1, 3, 5, 4)], None, {"strides": [2, 3], "pads": [1, 0, 1, 1], "output_padding": [1, 2]},
                [("w", _f32(3, 2, 3, 3))]), {"x0": _f32(1, 3, 5, 4)}),
    "max_pool_ceil_mode": lambda: (
        _single("MaxPool", [(1, 2, 7, 7)], None, {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
        {"x0": _f32(1, 2, 7, 7)}),
    "average_pool_count_include_pad": lambda: (
        _single("AveragePool", [(1, 2, 6, 5)], None, {"kernel_shape": [3, 2], "pads": [1, 1, 1, 0], "count_include_pad": 1}),
        {"x0": _f32(1, 2, 6, 5)}),
    "batch_norm_rank3": lambda: (
        _single("BatchNormalization", [(2, 3, 5)], None, {"epsilon": 1e-3},
                [("s", _f32(3)), ("b", _f32(3)), ("m", _f32(3)), ("v", np.abs(_f32(3)) + 0.5)]), {"x0": _f32(2, 3, 5)}),
    "layer_norm_axis1": lambda: (
        _single("LayerNormalization", [(2, 3, 4)], None, {"axis": 1}, [("s", _f32(3, 4)), ("b", _f32(3, 4))]),
        {"x0": _f32(2, 3, 4)}),
    "resize_cubic_half_pixel_scales": lambda: (
        _single("Resize", [(1, 2, 4, 5)], None, {"mode": "cubic"},
                [("roi", np.zeros(0, np.float32)), ("scales", np.array([1, 1, 1.7, 0.6], np.float32))]),
        {"x0": _f32(1, 2, 4, 5)}),
    "resize_nearest_sizes_uint8": lambda: (
        _single("Resize", [(1, 1, 3, 3)], None, {"mode": "nearest", "coordinate_transformation_mode": "asymmetric"},
                [("roi", np.zeros(0, np.float32)), ("scales", np.zeros(0, np.float32)), ("sizes", np.array([1, 1, 7, 5], np.int64))],
                x_types=[TensorProto.UINT8], y_type=TensorProto.UINT8),
        {"x0": RNG.integers(0, 255, (1, 1, 3, 3), dtype=np.uint8)}),
    "gemm_transposed_broadcast_c": lambda: (
        _single("Gemm", [(4, 3), (5, 4)], None, {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0}, [("c", _f32(5))]),
        {"x0": _f32(4, 3), "x1": _f32(5, 4)}),
    "matmul_1d_by_batched": lambda: (_single("MatMul", [(4,), (2, 4, 3)], None), {"x0": _f32(4), "x1": _f32(2, 4, 3)}),
    "einsum_diagonal_and_contraction": lambda: (
        _single("Einsum", [(3, 3, 4), (4, 2)], None, {"equation": "iij,jk->ik"}), {"x0": _f32(3, 3, 4), "x1": _f32(4, 2)}),
    "slice_negative_steps": lambda: (
        _single("Slice", [(5, 6)], None, {}, [("st", np.array([-1, 4], np.int64)), ("en", np.array([-100, 0], np.int64)),
                                              ("ax", np.array([0, 1], np.int64)), ("sp", np.array([-2, -3], np.int64))]),
        {"x0": _f32(5, 6)}),
    "pad_edge": lambda: (_single("Pad", [(2, 3)], None, {"mode": "edge"}, [("p", np.array([1, 2, 0, 1], np.int64))]),
                         {"x0": _f32(2, 3)}),
    "pad_reflect_negative": lambda: (
        _single("Pad", [(4, 5)], None, {"mode": "reflect"}, [("p", np.array([2, -1, -1, 3], np.int64))]), {"x0": _f32(4, 5)}),
    "topk_smallest_axis0": lambda: (
        model([helper.make_node("TopK", ["x0", "k"], ["v", "i"], axis=0, largest=0)], [("x0", F32, [6, 3])],
              [("v", F32, None), ("i", I64, None)], [("k", np.array([4], np.int64))]), {"x0": _f32(6, 3)}),
    "cumsum_exclusive_reverse": lambda: (
        _single("CumSum", [(3, 5)], None, {"exclusive": 1, "reverse": 1}, [("ax", np.array(1, np.int64))]), {"x0": _f32(3, 5)}),
    "gather_elements_negative_indices": lambda: (
        _single("GatherElements", [(3, 4)], None, {"axis": 1}, [("idx", np.array([[0, -1], [2, 1], [-4, 3]], np.int64))]),
        {"x0": _f32(3, 4)}),
    "argmax_select_last_index": lambda: (
        _single("ArgMax", [(3, 4)], None, {"axis": 1, "select_last_index": 1, "keepdims": 0}, y_type=I64),
        {"x0": np.array([[1, 3, 3, 0], [2, 2, 2, 2], [0, 1, 5, 5]], np.float32)}),
    "reduce_log_sum_exp_noop_empty_axes": lambda: (
        _single("ReduceLogSumExp", [(2, 3)], None, {"keepdims": 1}, [("axes", np.array([1], np.int64))], opset=18),
        {"x0": _f32(2, 3) * 50}),
    "quantize_blocked": lambda: (
        model([helper.make_node("QuantizeLinear", ["x0", "s", "z"], ["y"], axis=1, block_size=2)], [("x0", F32, [2, 5])],
              [("y", TensorProto.UINT8, [2, 5])], [("s", np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], np.float32)),
                                                   ("z", np.array([[1, 2, 3], [4, 5, 6]], np.uint8))]), {"x0": _f32(2, 5) * 10}),
    "dequantize_per_axis": lambda: (
        model([helper.make_node("DequantizeLinear", ["x0", "s", "z"], ["y"], axis=0)], [("x0", TensorProto.INT8, [3, 2])],
              [("y", F32, [3, 2])], [("s", np.array([0.5, 2.0, 0.25], np.float32)), ("z", np.array([1, -2, 0], np.int8))]),
        {"x0": RNG.integers(-128, 127, (3, 2), dtype=np.int8)}),
    "depth_to_space_crd": lambda: (
        _single("DepthToSpace", [(1, 8, 2, 3)], None, {"blocksize": 2, "mode": "CRD"}), {"x0": _f32(1, 8, 2, 3)}),
    "one_hot_negative_indices": lambda: (
        model([helper.make_node("OneHot", ["i", "d", "v"], ["y"], axis=0)], [("i", I64, [2, 2])], [("y", F32, None)],
              [("d", np.array(4, np.int64)), ("v", np.array([-1.0, 3.0], np.float32))]),
        {"i": np.array([[0, -1], [3, -4]], np.int64)}),
    "hardmax_opset11_coerced": lambda: (
        _single("Hardmax", [(2, 3, 4)], None, {"axis": 1}, opset=11), {"x0": _f32(2, 3, 4)}),
    "conv_3d_grouped_strided": lambda: (
        _single("Conv", [(1, 4, 5, 6, 5)], None, {"group": 2, "strides": [2, 1, 2], "pads": [1, 0, 1, 1, 1, 0],
                                                  "dilations": [1, 2, 1]}, [("w", _f32(6, 2, 3, 2, 3)), ("b", _f32(6))]),
        {"x0": _f32(1, 4, 5, 6, 5)}),
    "max_pool_dilated_subsampled": lambda: (
        _single("MaxPool", [(1, 2, 30, 28)], None, {"kernel_shape": [4, 3], "dilations": [3, 2], "strides": [3, 4],
                                                    "pads": [2, 1, 2, 1]}), {"x0": _f32(1, 2, 30, 28)}),
    "average_pool_3d_dilated_ceil": lambda: (
        _single("AveragePool", [(1, 1, 7, 6, 6)], None, {"kernel_shape": [2, 3, 2], "dilations": [2, 1, 2],
                                                         "strides": [2, 2, 1], "ceil_mode": 1, "pads": [1, 0, 1, 0, 1, 1]},
                opset=19), {"x0": _f32(1, 1, 7, 6, 6)}),
    "resize_linear_antialias_axes": lambda: (
        _single("Resize", [(2, 9, 7)], None, {"mode": "linear", "antialias": 1, "axes": [1, 2]},
                [("roi", np.zeros(0, np.float32)), ("scales", np.array([0.4, 0.6], np.float32))]), {"x0": _f32(2, 9, 7)}),
    "lstm_bidirectional_peepholes": lambda: (
        model([helper.make_node("LSTM", ["x0", "w", "r", "b", "", "h0", "c0", "p"], ["y", "yh", "yc"], hidden_size=3,
                                direction="bidirectional", clip=2.0)],
              [("x0", F32, [4, 2, 5])], [("y", F32, None), ("yh", F32, None), ("yc", F32, None)],
              [("w", _f32(2, 12, 5)), ("r", _f32(2, 12, 3)), ("b", _f32(2, 24)), ("h0", _f32(2, 2, 3)),
               ("c0", _f32(2, 2, 3)), ("p", _f32(2, 9))]), {"x0": _f32(4, 2, 5)}),
    "gru_linear_before_reset_sequence_lens": lambda: (
        model([helper.make_node("GRU", ["x0", "w", "r", "b", "lens"], ["y", "yh"], hidden_size=4, linear_before_reset=1)],
              [("x0", F32, [5, 3, 2])], [("y", F32, None), ("yh", F32, None)],
              [("w", _f32(1, 12, 2)), ("r", _f32(1, 12, 4)), ("b", _f32(1, 24)), ("lens", np.array([5, 2, 4], np.int32))]),
        {"x0": _f32(5, 3, 2)}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_onnxruntime(case):
    m, feeds = CASES[case]()
    check_against_onnxruntime(m, feeds)


def test_legacy_broadcast_of_opset_6():
    """Opset 1-6 `broadcast=1` aligns B at `axis` (onnxruntime no longer runs opset 6: numpy)."""
    m = _single("Add", [(2, 3, 4), (3,)], None, {"broadcast": 1, "axis": 1}, opset=6)
    x0, x1 = _f32(2, 3, 4), _f32(3)
    assert_matches(graphc_outputs(m, {"x0": x0, "x1": x1}), [x0 + x1.reshape(1, 3, 1)])


def test_nchw_conv_is_nhwc_conv_between_transposes():
    """The form the layout pass relies on: transpose(0,2,3,1) -> conv2d (filter transposed
    (2,3,1,0) from OIHW to HWIO) -> transpose(0,3,1,2), with the bias added in NHWC."""
    m, _ = CASES["conv_same_upper_strided_grouped"]()
    program = import_onnx(m)
    ops = list(program.main.body.block.ops)
    conv = next(op for op in ops if isinstance(op, g.Conv2DOp))
    x_t, w_t = (operand.owner for operand in conv.operands)
    assert isinstance(x_t, g.TransposeOp) and g.get_ints(x_t.attrs(), "perm") == (0, 2, 3, 1)
    assert isinstance(w_t, g.TransposeOp) and g.get_ints(w_t.attrs(), "perm") == (2, 3, 1, 0)
    assert isinstance(w_t.operands[0].owner, g.ConstantOp)
    (use,) = list(conv.result.uses)
    add = use.operation
    assert isinstance(add, g.AddOp)
    (use,) = list(add.result.uses)
    back = use.operation
    assert isinstance(back, g.TransposeOp) and g.get_ints(back.attrs(), "perm") == (0, 3, 1, 2)
