"""`graphc run` with bfloat16: `.npz` files hold bfloat16 as raw 2-byte void arrays (`|V2`), so
`run` accepts those for bfloat16 inputs and writes bfloat16 outputs the same way."""

from __future__ import annotations

import ml_dtypes
import numpy as np
from onnx import TensorProto, helper

from graphc.testing import tolerance_violation
from tests.test_cli import graphc

BF16 = np.dtype(ml_dtypes.bfloat16)


def _bf16_model(path) -> None:
    """y = x * x + x, all bfloat16."""
    nodes = [helper.make_node("Mul", ["x", "x"], ["sq"]), helper.make_node("Add", ["sq", "x"], ["y"])]
    graph = helper.make_graph(nodes, "bf16", [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [2, 8])])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())


def test_run_reads_and_writes_bfloat16_as_raw_two_byte_arrays(tmp_path):
    model, art = tmp_path / "bf16.onnx", tmp_path / "bf16.gcx"
    _bf16_model(model)
    r = graphc("compile", str(model), "-o", str(art), "-q")
    assert r.returncode == 0, r.stderr
    x = np.linspace(-3, 3, 16, dtype=np.float32).reshape(2, 8).astype(BF16)
    np.savez(tmp_path / "in.npz", x=x)
    with np.load(tmp_path / "in.npz") as stored:
        assert stored["x"].dtype == np.dtype("V2")  # what numpy writes for bfloat16
    r = graphc("run", str(art), "--inputs", str(tmp_path / "in.npz"), "--out", str(tmp_path / "out.npz"))
    assert r.returncode == 0, r.stderr
    assert "y [2, 8] bfloat16" in r.stdout
    with np.load(tmp_path / "out.npz") as out:
        raw = out["y"]
    assert raw.dtype == np.dtype("V2")
    y = raw.view(BF16)
    # Reference: each op rounded to bfloat16, as the ONNX model specifies.
    sq = (x.astype(np.float32) * x.astype(np.float32)).astype(BF16)
    ref = (sq.astype(np.float32) + x.astype(np.float32)).astype(BF16)
    assert tolerance_violation(y, ref) is None
    # The output file is accepted back as a bfloat16 input.
    np.savez(tmp_path / "y_as_x.npz", x=raw)
    r = graphc("run", str(art), "--inputs", str(tmp_path / "y_as_x.npz"), "--out", str(tmp_path / "again.npz"))
    assert r.returncode == 0, r.stderr


def test_run_rejects_raw_bytes_of_another_width_for_bfloat16(tmp_path):
    model, art = tmp_path / "bf16.onnx", tmp_path / "bf16.gcx"
    _bf16_model(model)
    assert graphc("compile", str(model), "-o", str(art), "-q").returncode == 0
    np.savez(tmp_path / "in.npz", x=np.zeros((2, 8), np.float32).view("V4"))
    r = graphc("run", str(art), "--inputs", str(tmp_path / "in.npz"), "--out", str(tmp_path / "out.npz"))
    assert r.returncode == 1 and "bfloat16" in r.stderr and len(r.stderr.strip().splitlines()) == 1
