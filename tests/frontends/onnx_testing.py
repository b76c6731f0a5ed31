"""Helpers for the ONNX front-end tests: build small models with `onnx.helper`, run them through
graphc (CPU backend) and onnxruntime, and compare at `graphc.testing`'s tolerances."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from graphc.backends.registry import get_backend
from graphc.driver import compile_program
from graphc.frontends.onnx import import_onnx
from graphc.testing import tolerance_violation

F32 = TensorProto.FLOAT


def model(nodes, inputs, outputs, initializers=(), opset: int = 21, ir_version: int | None = None, functions=()):
    """A ModelProto from nodes and (name, elem_type, shape) inputs/outputs."""
    graph = helper.make_graph(
        list(nodes),
        "test",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=[numpy_helper.from_array(np.asarray(a), name) for name, a in initializers],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], functions=list(functions))
    if ir_version is not None:
        m.ir_version = ir_version
    return m


def onnxruntime_outputs(m, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def graphc_outputs(m, feeds: dict[str, np.ndarray], **kwargs) -> list[np.ndarray]:
    program = import_onnx(m, source="model.onnx", **kwargs)
    compiled = compile_program(program, get_backend("cpu"))
    got = compiled.run({k: v for k, v in feeds.items() if k in compiled.input_names})
    return [got[o.name] for o in m.graph.output]


def assert_matches(got: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> None:
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.dtype == e.dtype, f"output {i}: dtype {g.dtype} != {e.dtype}"
        problem = tolerance_violation(g, e)
        assert problem is None, f"output {i}: {problem}"


def check_against_onnxruntime(m, feeds: dict[str, np.ndarray]) -> None:
    assert_matches(graphc_outputs(m, feeds), onnxruntime_outputs(m, feeds))


def ops_of(program) -> list[str]:
    return [op.name for op in program.main.body.block.ops]
