"""`graphc.onnx_backend.GraphcBackend`: the ONNX backend interface over the CPU backend, its skips,
and its specialisation on input shapes and on the values of shape-determining inputs."""

from __future__ import annotations

import unittest

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.backend.test.runner import BackendIsNotSupposedToImplementIt

from graphc.onnx_backend import GraphcBackend

from onnx_testing import F32, model

RNG = np.random.default_rng(3)


def test_supports_only_the_cpu():
    assert GraphcBackend.supports_device("CPU")
    assert not GraphcBackend.supports_device("CUDA")


def test_prepare_skips_unsupported_ops_with_the_reason():
    m = model([helper.make_node("Det", ["x"], ["y"])], [("x", F32, [2, 2])], [("y", F32, [])])
    with pytest.raises(unittest.SkipTest) as info:
        GraphcBackend.prepare(m)
    assert not isinstance(info.value, BackendIsNotSupposedToImplementIt)  # the runner would count it as a pass
    assert "Det (opset 21)" in str(info.value)


def test_prepare_skips_unsupported_types():
    m = model([helper.make_node("Identity", ["x"], ["y"])], [("x", TensorProto.STRING, [2])], [("y", TensorProto.STRING, [2])])
    with pytest.raises(unittest.SkipTest, match="STRING"):
        GraphcBackend.prepare(m)


def test_run_node():
    node = helper.make_node("Gemm", ["a", "b"], ["y"], transB=1, alpha=2.0)
    a, b = RNG.standard_normal((3, 4)).astype(np.float32), RNG.standard_normal((5, 4)).astype(np.float32)
    (y,) = GraphcBackend.run_node(node, [a, b])
    np.testing.assert_allclose(y, 2.0 * a @ b.T, rtol=1e-5, atol=1e-5)


def test_symbolic_shapes_are_specialised_per_run_and_cached():
    m = model([helper.make_node("Softmax", ["x"], ["y"], axis=-1)], [("x", F32, ["n", 4])], [("y", F32, ["n", 4])])
    rep = GraphcBackend.prepare(m)
    for n in (2, 5, 2):
        x = RNG.standard_normal((n, 4)).astype(np.float32)
        (y,) = rep.run([x])
        e = np.exp(x - x.max(axis=1, keepdims=True))
        np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)
    assert len(rep._compiled) == 2  # (2, 4) and (5, 4)


def test_shape_inputs_are_specialised_on_their_values():
    m = model([helper.make_node("Reshape", ["x", "shape"], ["y"])], [("x", F32, [2, 6]), ("shape", TensorProto.INT64, [2])],
              [("y", F32, None)])  # fmt: skip
    rep = GraphcBackend.prepare(m)
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    for shape in ([3, 4], [4, 3], [3, 4]):
        (y,) = rep.run([x, np.array(shape, np.int64)])
        np.testing.assert_array_equal(y, x.reshape(shape))
    assert rep.constant_inputs == ["shape"]
    assert len(rep._compiled) == 2
    (y,) = GraphcBackend.run_model(m, [x, np.array([12, 1], np.int64)])
    assert y.shape == (12, 1)
