"""optimize-layout: NCHW CNNs in the form an ONNX importer emits run without inner transposes, and
compute what they computed before — on the CPU backend and the reference backend, against the
reference backend on the program without the pass (float32 tolerances of `graphc.testing`)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from graphc.backends.registry import get_backend
from graphc.dialects import graph as g
from graphc.dialects.builder import ProgramBuilder
from graphc.driver import compile_program
from graphc.passes import DEFAULT_PIPELINE
from graphc.pipeline import run_pipeline
from graphc.report import layout_report
from graphc.testing import compare_outputs

F32 = np.float32
TO_NHWC, TO_NCHW, OIHW_TO_HWIO = (0, 2, 3, 1), (0, 3, 1, 2), (2, 3, 1, 0)
WITHOUT_LAYOUT = ",".join(p for p in DEFAULT_PIPELINE.split(",") if p != "optimize-layout")


def ints(*values):
    return g.ints_attr(values)


class NchwBuilder(ProgramBuilder):
    """NCHW layers the way an ONNX importer writes them for the NHWC `graph` dialect."""

    def __init__(self, inputs, seed=0):
        super().__init__(inputs)
        self.rng = np.random.default_rng(seed)

    def conv(self, x, out_channels, kernel=3, stride=1):
        in_channels = g.shape_of(x.type)[1]
        w = (self.rng.standard_normal((out_channels, in_channels, kernel, kernel)) / (in_channels * kernel)).astype(F32)
        filt = self.op(g.TransposeOp, self.const(w, "conv_w"), perm=ints(*OIHW_TO_HWIO))
        pad = kernel // 2
        y = self.op(g.Conv2DOp, self.op(g.TransposeOp, x, perm=ints(*TO_NHWC)), filt, strides=ints(stride, stride),
                    dilations=ints(1, 1), pads=ints(pad, pad, pad, pad), groups=g.int_attr(1))  # fmt: skip
        y = self.op(g.TransposeOp, y, perm=ints(*TO_NCHW))
        bias = self.rng.standard_normal((1, out_channels, 1, 1)).astype(F32)  # ONNX Conv's B, broadcast in NCHW
        return self.op(g.AddOp, y, self.const(bias, "conv_b"))

    def batch_norm(self, x):
        c = g.shape_of(x.type)[1]
        params = [self.const(self.rng.uniform(0.5, 1.5, c).astype(F32), n) for n in ("scale", "offset", "mean", "var")]
        y = self.op(g.BatchNormOp, self.op(g.TransposeOp, x, perm=ints(*TO_NHWC)), *params, epsilon=g.float_attr(1e-5))
        return self.op(g.TransposeOp, y, perm=ints(*TO_NCHW))

    def max_pool(self, x):
        y = self.op(g.MaxPoolOp, self.op(g.TransposeOp, x, perm=ints(*TO_NHWC)),
                    window=ints(3, 3), strides=ints(2, 2), pads=ints(1, 1, 1, 1))  # fmt: skip
        return self.op(g.TransposeOp, y, perm=ints(*TO_NCHW))


def resnet_block(n=2, c=8, hw=12, classes=10, with_features=True):
    """conv+bn+relu ×2 with a residual add, max pool, global average pool, flatten, dense head."""
    b = NchwBuilder({"image": ((n, c, hw, hw), F32)})
    x = b.args["image"]
    y = b.op(g.ReluOp, b.batch_norm(b.conv(x, c)))
    y = b.batch_norm(b.conv(y, c))
    features = b.max_pool(b.op(g.ReluOp, b.op(g.AddOp, y, x)))
    pooled = b.op(g.ReduceMeanOp, features, axes=ints(2, 3), keepdims=g.int_attr(1))
    flat = b.op(g.ReshapeOp, pooled, shape=ints(n, c))
    dense = b.const(b.rng.standard_normal((c, classes)).astype(F32), "dense_w")
    logits = b.op(g.AddOp, b.op(g.MatMulOp, flat, dense), b.const(b.rng.standard_normal(classes).astype(F32), "dense_b"))
    outputs = {"logits": logits, "features": features} if with_features else {"logits": logits}
    return b.build(outputs)


def transposes(program):
    return [op for op in program.main.body.block.ops if isinstance(op, g.TransposeOp)]


def is_at_boundary(op, program):
    """Reads a model input, or is a model output (the user's NCHW layout is kept)."""
    reads_input = op.input in program.main.args
    returned = any(use.operation is program.main.body.block.last_op for use in op.result.uses)
    return reads_input or returned


@pytest.mark.parametrize("with_features", [False, True])
def test_resnet_block_keeps_transposes_only_at_the_boundary(with_features):
    program = resnet_block(with_features=with_features)
    assert len(transposes(program)) == 12  # 5 NCHW layers × 2 activations + 2 filters, before any pass
    run_pipeline(program, DEFAULT_PIPELINE, verify_each=True)
    left = transposes(program)
    assert all(is_at_boundary(op, program) for op in left), [str(op) for op in left]
    assert len(left) == (2 if with_features else 1)
    assert sum(op.input in program.main.args for op in left) == 1  # the input is converted once
    assert layout_report(program) == f"layout: {10 - len(left)} of 10 run-time transposes removed ({len(left)} left)"
    assert len(program.weights.arrays) == 3  # two folded HWIO filters and the dense weights


def test_without_the_pass_the_transposes_stay():
    program = resnet_block()
    run_pipeline(program, WITHOUT_LAYOUT)
    assert len(transposes(program)) == 10


@pytest.mark.parametrize("with_features", [False, True])
@pytest.mark.parametrize("target", ["cpu", "reference"])
def test_resnet_block_numerics_before_and_after(target, with_features):
    rng = np.random.default_rng(7)
    inputs = {"image": rng.standard_normal((2, 8, 12, 12)).astype(F32)}
    block = lambda: resnet_block(with_features=with_features)  # noqa: E731
    expected = compile_program(block(), get_backend("reference"), pipeline=WITHOUT_LAYOUT).run(inputs)
    before = compile_program(block(), get_backend(target), pipeline=WITHOUT_LAYOUT).run(inputs)
    after_model = compile_program(block(), get_backend(target))
    assert layout_report(after_model.program).endswith(f"({1 + with_features} left)")
    after = after_model.run(inputs)
    assert not compare_outputs(before, expected)
    assert not compare_outputs(after, expected), compare_outputs(after, expected)


def test_nhwc_program_is_left_exactly_as_it_was():
    b = ProgramBuilder({"x": ((1, 6, 6, 4), F32)})
    w = b.const(np.random.default_rng(0).standard_normal((3, 3, 4, 4)).astype(F32), "w")
    y = b.op(g.Conv2DOp, b.args["x"], w, strides=ints(1, 1), dilations=ints(1, 1), pads=ints(1, 1, 1, 1),
             groups=g.int_attr(1))  # fmt: skip
    y = b.op(g.ReduceMeanOp, b.op(g.ReluOp, y), axes=ints(1, 2), keepdims=g.int_attr(0))
    program = b.build({"y": y})
    text = str(program.module)
    run_pipeline(program, "optimize-layout", verify_each=True)
    assert str(program.module) == text
    assert layout_report(program) is None


def test_report_counts_the_transposes_removed_from_a_tensorflow_nchw_model(tmp_path):
    """TensorFlow's NCHW Conv2D fixture: eight convolutions, each between transposes of the one NCHW
    input and back to an NCHW output. The input is converted once; the eight outputs keep theirs."""
    model = os.path.join(os.path.dirname(__file__), "fixtures", "tf", "op_conv2d_nchw.pb")
    r = subprocess.run([sys.executable, "-m", "graphc.cli", "compile", model, "--input-shape", "x=2x3x8x10",
                        "--report", "-q", "-o", str(tmp_path / "m.gcx")], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "layout: 7 of 16 run-time transposes removed (9 left)" in r.stdout.splitlines()
