"""Dilated pooling from ONNX: 1-d and 2-d pools map onto the graph pools' `dilations` attribute;
3-d pools reduce over window taps whose padding is -inf. Windows whose real elements are all -inf
must give -inf (not the lowest finite value), as onnxruntime's dilated pooling and the ONNX
reference do."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from graphc.frontends.onnx import import_onnx
from onnx_testing import F32, assert_matches, graphc_outputs, model, onnxruntime_outputs, ops_of


def _neg_inf_image(shape, seed: int) -> np.ndarray:
    """Mostly -inf with a few finite values, so many windows hold only -inf and padding."""
    rng = np.random.default_rng(seed)
    x = np.full(shape, -np.inf, np.float32)
    finite = rng.random(shape) < 0.15
    x[finite] = rng.standard_normal(int(finite.sum())).astype(np.float32)
    return x


CASES = {
    "1d": dict(shape=[2, 3, 11], kernel_shape=[3], dilations=[2], strides=[1], pads=[2, 2]),
    "1d_ceil": dict(shape=[1, 2, 10], kernel_shape=[2], dilations=[3], strides=[2], pads=[1, 0], ceil_mode=1),
    "2d": dict(shape=[1, 2, 7, 8], kernel_shape=[2, 3], dilations=[2, 2], strides=[1, 1], pads=[1, 2, 1, 2]),
    "2d_stride_not_multiple": dict(shape=[2, 1, 9, 9], kernel_shape=[3, 2], dilations=[2, 3], strides=[3, 2],
                                   pads=[2, 1, 0, 1]),  # fmt: skip
    "2d_ceil": dict(shape=[1, 1, 8, 9], kernel_shape=[2, 2], dilations=[2, 2], strides=[2, 3], pads=[1, 1, 0, 0],
                    ceil_mode=1),  # fmt: skip
    "3d": dict(shape=[1, 2, 5, 6, 5], kernel_shape=[2, 2, 2], dilations=[2, 1, 2], strides=[1, 2, 1],
               pads=[1, 1, 1, 1, 0, 1]),  # fmt: skip
}


def _max_pool_model(case: dict):
    attrs = {k: v for k, v in case.items() if k != "shape"}
    node = helper.make_node("MaxPool", ["x"], ["y"], **attrs)
    return model([node], [("x", F32, case["shape"])], [("y", F32, None)], opset=21)


@pytest.mark.parametrize("name", sorted(CASES))
def test_dilated_max_pool_of_neg_inf_matches_onnxruntime(name):
    case = CASES[name]
    m = _max_pool_model(case)
    x = _neg_inf_image(case["shape"], seed=len(name))
    expected = onnxruntime_outputs(m, {"x": x})
    got = graphc_outputs(m, {"x": x})
    assert np.isneginf(expected[0]).any() and np.isfinite(expected[0]).any()
    assert_matches(got, expected)
    # The ONNX reference implementation agrees (bit for bit: max pooling picks an element).
    np.testing.assert_array_equal(got[0], ReferenceEvaluator(m).run(None, {"x": x})[0])


def test_dilated_same_upper_max_pool_of_neg_inf_matches_the_onnx_reference():
    """Against the reference only: onnxruntime 1.32 sizes dilated SAME pools as if undilated (4
    rows here, where the spec and ONNX's own shape inference say ceil(6 / 1) = 6)."""
    case = dict(shape=[1, 2, 6, 7], kernel_shape=[3, 3], dilations=[2, 1], strides=[1, 2], auto_pad="SAME_UPPER")
    m = _max_pool_model(case)
    x = _neg_inf_image(case["shape"], seed=3)
    expected = ReferenceEvaluator(m).run(None, {"x": x})[0]
    assert expected.shape == (1, 2, 6, 4) and np.isneginf(expected).any()
    np.testing.assert_array_equal(graphc_outputs(m, {"x": x})[0], expected)


@pytest.mark.parametrize("name", ["1d", "2d", "2d_stride_not_multiple"])
def test_dilated_1d_2d_pools_are_single_graph_pools(name):
    case = CASES[name]
    for op_type in ("MaxPool", "AveragePool"):
        attrs = {k: v for k, v in case.items() if k != "shape"}
        m = model([helper.make_node(op_type, ["x"], ["y"], **attrs)], [("x", F32, case["shape"])], [("y", F32, None)])
        ops = ops_of(import_onnx(m, source="model.onnx"))
        pools = [op for op in ops if op in ("graph.max_pool", "graph.avg_pool")]
        assert len(pools) == 1 and "graph.slice" not in ops, ops


@pytest.mark.parametrize("name", ["1d", "2d", "2d_stride_not_multiple", "2d_ceil", "3d"])
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_dilated_average_pool_matches_onnxruntime(name, count_include_pad):
    case = CASES[name]
    attrs = {k: v for k, v in case.items() if k != "shape"}
    node = helper.make_node("AveragePool", ["x"], ["y"], count_include_pad=count_include_pad, **attrs)
    m = model([node], [("x", F32, case["shape"])], [("y", F32, None)], opset=21)
    x = np.random.default_rng(7).standard_normal(case["shape"]).astype(np.float32)
    assert_matches(graphc_outputs(m, {"x": x}), onnxruntime_outputs(m, {"x": x}))
