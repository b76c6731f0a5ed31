"""The workloads `tools/bench_cpu.py` times: graph programs built in the IR, and real-model fixtures.

Each workload is a `Workload`: a factory for its `GraphProgram` (a fresh one per call, since
compiling mutates a program in place), its input arrays (fixed seed, program input order), a
hand-written numpy version, an equivalent ONNX graph for onnxruntime, and the figures the benchmark
reports (FLOPs; bytes of compulsory traffic are computed by the benchmark from the program).

W1–W6 are built op by op from `graphc.dialects.graph`, the way a front end would emit them (see
each builder's docstring for the exact op sequence). Weights are `graph.constant`s, so every peer
gets them as constants/initializers of its own kind, never as per-call inputs. The fixtures are the
TensorFlow-frozen models in `tests/fixtures/tf` (made by `tools/make_tf_fixtures.py`); they have
no ONNX export and no numpy version. `resnet_nchw_onnx` is the torch-exported ONNX ResNet of
`tests/fixtures/onnx` (made by `tools/export_onnx_models.py`) at 1×3×224×224: every peer gets the
same `.onnx` file and the same NCHW input.

This module imports graphc but nothing from `tests/` (tools must run without the test tree on
`sys.path`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from graphc.dialects import graph as g
from graphc.dialects.builder import ProgramBuilder
from graphc.dialects.resources import GraphProgram

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "tf")
F32 = np.float32


# ---------------------------------------------------------------------------------------------
# A small program builder (tests/ has two similar ones; see the note in the report)
# ---------------------------------------------------------------------------------------------


class Builder(ProgramBuilder):
    """graphc's `ProgramBuilder` plus the few composite pieces the workloads share."""

    def conv3x3_same(self, x, w, bias=None):
        y = self.op(g.Conv2DOp, x, self.const(w, "filter"), strides=g.ints_attr([1, 1]),
                    dilations=g.ints_attr([1, 1]), pads=g.ints_attr([1, 1, 1, 1]), groups=g.int_attr(1))  # fmt: skip
        return y if bias is None else self.op(g.AddOp, y, self.const(bias, "bias"))

    def batch_norm(self, x, bn: dict[str, np.ndarray], eps: float):
        params = [self.const(bn[k], f"bn_{k}") for k in ("scale", "offset", "mean", "variance")]
        return self.op(g.BatchNormOp, x, *params, epsilon=g.float_attr(eps))


# ---------------------------------------------------------------------------------------------
# Workload record
# ---------------------------------------------------------------------------------------------


@dataclass
class Workload:
    name: str
    description: str
    kind: str
    """"memory" (report GB/s against copy bandwidth) or "compute" (GFLOP/s against sgemm peak)."""
    make_program: Callable[[], GraphProgram]
    """A fresh program each call; graphc's compile mutates the one it gets."""
    inputs: list[np.ndarray]
    """In program input order."""
    flops: float = 0.0
    """Multiply-adds ×2 of the matmuls and convolutions (0 for memory-bound workloads)."""
    numpy_fn: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None
    onnx_model: Callable[[], object] | None = None
    """Returns an `onnx.ModelProto`; imports onnx only when called."""
    onnx_feed: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None
    """Maps the inputs to what the ONNX graph takes (NHWC → NCHW for convolutions); default: as is."""
    onnx_fetch: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None
    """Maps onnxruntime's outputs back to the program's layout (NCHW → NHWC)."""
    fixture: tuple[str, dict[str, tuple[int, ...]]] | None = None
    """(model path, input_shapes) when the workload is a model file: graphc compiles the file."""
    expected: list[np.ndarray] | None = None
    """The framework's own outputs for these inputs, when stored (the fixture's .npz): the
    benchmark checks the reference against them."""


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _randn(rng, *shape, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(F32)


# ---------------------------------------------------------------------------------------------
# numpy helpers
# ---------------------------------------------------------------------------------------------


def np_conv3x3_same(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """NHWC × HWIO, stride 1, SAME: im2col through a strided view, one tensordot (BLAS sgemm)."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    patches = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # N,H,W,C,3,3
    return np.tensordot(patches, w.transpose(2, 0, 1, 3), axes=([3, 4, 5], [0, 1, 2])).astype(F32, copy=False)


def np_batch_norm(x: np.ndarray, bn: dict[str, np.ndarray], eps: float) -> np.ndarray:
    inv = bn["scale"] / np.sqrt(bn["variance"] + F32(eps))
    return x * inv + (bn["offset"] - bn["mean"] * inv)


def np_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------------------------------------
# ONNX helpers (onnx imported lazily: it is optional)
# ---------------------------------------------------------------------------------------------


def _onnx_model(nodes, inputs, outputs, initializers: dict[str, np.ndarray]):
    from onnx import helper, numpy_helper, TensorProto

    def info(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))

    graph = helper.make_graph(
        [helper.make_node(op, ins, outs, **attrs) for op, ins, outs, attrs in nodes],
        "bench",
        [info(n, s) for n, s in inputs],
        [info(n, s) for n, s in outputs],
        [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in initializers.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _nchw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def _nhwc(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def _oihw(w_hwio: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w_hwio.transpose(3, 2, 0, 1))


# ---------------------------------------------------------------------------------------------
# W1–W6
# ---------------------------------------------------------------------------------------------


def w1() -> Workload:
    """relu(x*a + b) * sigmoid(x); x 4096×4096, a and b per-column (4096,) weights.
    Ops: mul, add, relu, sigmoid, mul."""
    rng = _rng(1)
    n = 4096
    x, a, b = _randn(rng, n, n), _randn(rng, n), _randn(rng, n)

    def program():
        bld = Builder({"x": ((n, n), F32)})
        (xv,) = bld.inputs
        t = bld.op(g.AddOp, bld.op(g.MulOp, xv, bld.const(a, "a")), bld.const(b, "b"))
        y = bld.op(g.MulOp, bld.op(g.ReluOp, t), bld.op(g.SigmoidOp, xv))
        return bld.build({"y": y})

    def numpy_fn(ins):
        (xx,) = ins
        return [np.maximum(xx * a + b, F32(0)) * np_sigmoid(xx)]

    def onnx_model():
        nodes = [("Mul", ["x", "a"], ["xa"], {}), ("Add", ["xa", "b"], ["t"], {}), ("Relu", ["t"], ["r"], {}),
                 ("Sigmoid", ["x"], ["s"], {}), ("Mul", ["r", "s"], ["y"], {})]  # fmt: skip
        return _onnx_model(nodes, [("x", (n, n))], [("y", (n, n))], {"a": a, "b": b})

    return Workload("W1", "relu(x*a+b)*sigmoid(x), 4096x4096 f32", "memory", program, [x],
                    numpy_fn=numpy_fn, onnx_model=onnx_model)  # fmt: skip


def w2() -> Workload:
    """graph.softmax over the last axis of 4096×1024 (the pipeline decomposes it)."""
    rng = _rng(2)
    shape = (4096, 1024)
    x = _randn(rng, *shape, scale=3.0)

    def program():
        bld = Builder({"x": (shape, F32)})
        return bld.build({"y": bld.op(g.SoftmaxOp, bld.inputs[0], axis=g.int_attr(1))})

    def numpy_fn(ins):
        e = np.exp(ins[0] - ins[0].max(axis=-1, keepdims=True))
        return [e / e.sum(axis=-1, keepdims=True)]

    def onnx_model():
        return _onnx_model([("Softmax", ["x"], ["y"], {"axis": -1})], [("x", shape)], [("y", shape)], {})

    return Workload("W2", "softmax(axis=-1), 4096x1024 f32", "memory", program, [x],
                    numpy_fn=numpy_fn, onnx_model=onnx_model)  # fmt: skip


def w3() -> Workload:
    """Keras LayerNormalization (axis -1, epsilon 1e-3) on 4096×1024, as TensorFlow freezes it
    (`tf.nn.batch_normalization` over `tf.nn.moments`): Mean; SquaredDifference (= sub, mul, as
    the TF front end converts it); Mean; AddV2 eps; Rsqrt; Mul gamma; Mul x·inv; Mul mean·inv;
    Sub beta − mean·inv; AddV2."""
    rng = _rng(3)
    shape, eps = (4096, 1024), 1e-3
    x = _randn(rng, *shape, scale=2.0) + F32(0.5)
    gamma, beta = (1 + _randn(rng, shape[1], scale=0.1)), _randn(rng, shape[1], scale=0.1)

    def program():
        bld = Builder({"x": (shape, F32)})
        (xv,) = bld.inputs
        axes = dict(axes=g.ints_attr([1]), keepdims=g.int_attr(1))
        mean = bld.op(g.ReduceMeanOp, xv, **axes)
        d = bld.op(g.SubOp, xv, mean)
        var = bld.op(g.ReduceMeanOp, bld.op(g.MulOp, d, d), **axes)
        inv = bld.op(g.RsqrtOp, bld.op(g.AddOp, var, bld.const(np.asarray(eps, F32), "eps")))
        inv = bld.op(g.MulOp, inv, bld.const(gamma, "gamma"))
        shift = bld.op(g.SubOp, bld.const(beta, "beta"), bld.op(g.MulOp, mean, inv))
        return bld.build({"y": bld.op(g.AddOp, bld.op(g.MulOp, xv, inv), shift)})

    def numpy_fn(ins):
        (xx,) = ins
        mean = xx.mean(axis=-1, keepdims=True)
        var = np.square(xx - mean).mean(axis=-1, keepdims=True)
        inv = gamma / np.sqrt(var + F32(eps))
        return [xx * inv + (beta - mean * inv)]

    def onnx_model():
        nodes = [("LayerNormalization", ["x", "gamma", "beta"], ["y"], {"axis": -1, "epsilon": eps})]
        return _onnx_model(nodes, [("x", shape)], [("y", shape)], {"gamma": gamma, "beta": beta})

    return Workload("W3", "Keras LayerNormalization, 4096x1024 f32", "memory", program, [x],
                    numpy_fn=numpy_fn, onnx_model=onnx_model)  # fmt: skip


def w4() -> Workload:
    """MLP relu(x@W1 + b1)@W2 + b2; x 256×784, W1 784×1024, W2 1024×10.
    Ops: matmul, add, relu, matmul, add."""
    rng = _rng(4)
    m, k, h, n = 256, 784, 1024, 10
    x = _randn(rng, m, k)
    w1_, b1 = _randn(rng, k, h, scale=k**-0.5), _randn(rng, h, scale=0.1)
    w2_, b2 = _randn(rng, h, n, scale=h**-0.5), _randn(rng, n, scale=0.1)

    def program():
        bld = Builder({"x": ((m, k), F32)})
        t = bld.op(g.AddOp, bld.op(g.MatMulOp, bld.inputs[0], bld.const(w1_, "W1")), bld.const(b1, "b1"))
        y = bld.op(g.AddOp, bld.op(g.MatMulOp, bld.op(g.ReluOp, t), bld.const(w2_, "W2")), bld.const(b2, "b2"))
        return bld.build({"y": y})

    def numpy_fn(ins):
        return [np.maximum(ins[0] @ w1_ + b1, F32(0)) @ w2_ + b2]

    def onnx_model():
        nodes = [("MatMul", ["x", "W1"], ["h0"], {}), ("Add", ["h0", "b1"], ["h1"], {}), ("Relu", ["h1"], ["h2"], {}),
                 ("MatMul", ["h2", "W2"], ["y0"], {}), ("Add", ["y0", "b2"], ["y"], {})]  # fmt: skip
        return _onnx_model(nodes, [("x", (m, k))], [("y", (m, n))], {"W1": w1_, "b1": b1, "W2": w2_, "b2": b2})

    flops = 2.0 * m * k * h + 2.0 * m * h * n
    return Workload("W4", "MLP 256x784 @784x1024 @1024x10", "compute", program, [x], flops=flops,
                    numpy_fn=numpy_fn, onnx_model=onnx_model)  # fmt: skip


def w5() -> Workload:
    """conv 3×3 SAME, NHWC 1×56×56×64 → 64, + bias, relu. Ops: conv2d, add, relu."""
    rng = _rng(5)
    shape, co = (1, 56, 56, 64), 64
    x = _randn(rng, *shape)
    w, bias = _randn(rng, 3, 3, shape[3], co, scale=(9 * shape[3]) ** -0.5), _randn(rng, co, scale=0.1)

    def program():
        bld = Builder({"x": (shape, F32)})
        return bld.build({"y": bld.op(g.ReluOp, bld.conv3x3_same(bld.inputs[0], w, bias))})

    def numpy_fn(ins):
        return [np.maximum(np_conv3x3_same(ins[0], w) + bias, F32(0))]

    out_nchw = (1, co, shape[1], shape[2])

    def onnx_model():
        nodes = [("Conv", ["x", "w", "b"], ["c"], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
                 ("Relu", ["c"], ["y"], {})]  # fmt: skip
        return _onnx_model(nodes, [("x", _nchw(x).shape)], [("y", out_nchw)], {"w": _oihw(w), "b": bias})

    flops = 2.0 * shape[1] * shape[2] * co * 9 * shape[3]
    return Workload("W5", "conv3x3 NHWC 1x56x56x64->64 +bias+relu", "compute", program, [x], flops=flops,
                    numpy_fn=numpy_fn, onnx_model=onnx_model, onnx_feed=lambda ins: [_nchw(ins[0])],
                    onnx_fetch=lambda outs: [_nhwc(outs[0])])  # fmt: skip


def w6() -> Workload:
    """Residual block, batch 1, 1×32×32×16: conv3×3 (no bias) → batch_norm → relu → conv3×3 →
    batch_norm → add the block input → relu. batch_norm is the inference op with random
    statistics (epsilon 1e-3)."""
    rng = _rng(6)
    shape, eps = (1, 32, 32, 16), 1e-3
    c = shape[3]
    x = _randn(rng, *shape)
    ws = [_randn(rng, 3, 3, c, c, scale=(9 * c) ** -0.5) for _ in range(2)]
    bns = [
        {"scale": 1 + _randn(rng, c, scale=0.2), "offset": _randn(rng, c, scale=0.2),
         "mean": _randn(rng, c, scale=0.2), "variance": (0.5 + rng.random(c)).astype(F32)}
        for _ in range(2)
    ]  # fmt: skip

    def program():
        bld = Builder({"x": (shape, F32)})
        (xv,) = bld.inputs
        t = bld.op(g.ReluOp, bld.batch_norm(bld.conv3x3_same(xv, ws[0]), bns[0], eps))
        t = bld.batch_norm(bld.conv3x3_same(t, ws[1]), bns[1], eps)
        return bld.build({"y": bld.op(g.ReluOp, bld.op(g.AddOp, t, xv))})

    def numpy_fn(ins):
        t = np.maximum(np_batch_norm(np_conv3x3_same(ins[0], ws[0]), bns[0], eps), F32(0))
        t = np_batch_norm(np_conv3x3_same(t, ws[1]), bns[1], eps)
        return [np.maximum(t + ins[0], F32(0))]

    nchw = _nchw(x).shape

    def onnx_model():
        conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
        nodes = [("Conv", ["x", "w0"], ["c0"], conv),
                 ("BatchNormalization", ["c0", "s0", "o0", "m0", "v0"], ["n0"], {"epsilon": eps}),
                 ("Relu", ["n0"], ["r0"], {}), ("Conv", ["r0", "w1"], ["c1"], conv),
                 ("BatchNormalization", ["c1", "s1", "o1", "m1", "v1"], ["n1"], {"epsilon": eps}),
                 ("Add", ["n1", "x"], ["a"], {}), ("Relu", ["a"], ["y"], {})]  # fmt: skip
        inits = {f"w{i}": _oihw(ws[i]) for i in range(2)}
        for i, bn in enumerate(bns):
            inits.update({f"s{i}": bn["scale"], f"o{i}": bn["offset"], f"m{i}": bn["mean"], f"v{i}": bn["variance"]})
        return _onnx_model(nodes, [("x", nchw)], [("y", nchw)], inits)

    flops = 2 * (2.0 * shape[1] * shape[2] * c * 9 * c)
    return Workload("W6", "residual block 1x32x32x16 (2x conv3x3+BN)", "compute", program, [x], flops=flops,
                    numpy_fn=numpy_fn, onnx_model=onnx_model, onnx_feed=lambda ins: [_nchw(ins[0])],
                    onnx_fetch=lambda outs: [_nhwc(outs[0])])  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Fixtures (TensorFlow-frozen models)
# ---------------------------------------------------------------------------------------------


def program_flops(program: GraphProgram) -> float:
    """2 × multiply-adds of every matmul and convolution in the program."""
    total = 0.0
    for op in program.main.body.block.ops:
        if isinstance(op, g.MatMulOp):
            a, out = g.shape_of(op.lhs.type), g.shape_of(op.result.type)
            total += 2.0 * float(np.prod(out)) * a[-1]
        elif isinstance(op, g.Conv2DOp):
            kh, kw, ci, _ = g.shape_of(op.filter.type)
            total += 2.0 * float(np.prod(g.shape_of(op.result.type))) * kh * kw * ci
    return total


def fixture_workload(name: str, stem: str, input_shapes: dict[str, tuple[int, ...]], inputs: list[np.ndarray],
                     description: str, expected: list[np.ndarray] | None = None) -> Workload:  # fmt: skip
    from graphc.frontends import import_model

    path = os.path.join(FIXTURES, stem + ".pb")

    def program():
        return import_model(path, input_shapes=input_shapes)

    wl = Workload(name, description, "compute", program, inputs, fixture=(path, input_shapes), expected=expected)
    wl.flops = program_flops(program())
    return wl


def _fixture_meta(stem: str) -> dict:
    with open(os.path.join(FIXTURES, stem + ".json")) as f:
        return json.load(f)


def mobilenet_v2() -> Workload:
    meta = _fixture_meta("mobilenet_v2")
    shapes = {k: tuple(v) for k, v in meta["input_shapes"].items()}
    with np.load(os.path.join(FIXTURES, "mobilenet_v2.npz")) as data:
        inputs = [np.ascontiguousarray(data["input:" + k]) for k in shapes]
        expected = [data["output:" + k] for k in meta["outputs"]]
    return fixture_workload("mobilenet_v2", "mobilenet_v2", shapes, inputs,
                            "MobileNetV2 a=0.35 1x96x96x3 (TF fixture)", expected)  # fmt: skip


def digits_cnn(batch: int) -> Workload:
    with np.load(os.path.join(FIXTURES, "digits_cnn_testset.npz")) as data:
        x = np.ascontiguousarray(data["x"][:batch].astype(F32))
    return fixture_workload(f"digits_cnn_b{batch}", "digits_cnn", {"image": (batch, 8, 8, 1)}, [x],
                            f"digits CNN batch {batch} (TF fixture)")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# ONNX fixtures (real exporters)
# ---------------------------------------------------------------------------------------------

ONNX_FIXTURES = os.path.join(ROOT, "tests", "fixtures", "onnx")
BENCH_CACHE = os.path.join(tempfile.gettempdir(), "graphc-bench")


def with_input_shape(path: str, shape: tuple[int, ...], out_path: str) -> str:
    """Writes the model at `path` with its single input declared as `shape` to `out_path`.

    For a resolution-independent CNN (convolutions, pools, a global mean, a head whose shapes do
    not depend on the image size) this is the same exported graph and weights run on larger
    images: the intermediate shapes the exporter recorded are dropped and re-inferred, strictly."""
    import onnx

    model = onnx.load(path)
    (graph_input,) = model.graph.input
    dims = graph_input.type.tensor_type.shape.dim
    if len(dims) != len(shape):
        raise ValueError(f"{path}: input of rank {len(dims)}, asked for {shape}")
    for dim, size in zip(dims, shape):
        dim.Clear()
        dim.dim_value = size
    del model.graph.value_info[:]
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    onnx.save(model, out_path)
    return out_path


def resnet_nchw_onnx(size: int = 224) -> Workload:
    """The ResNet-style CNN exported by torch (`tests/fixtures/onnx/resnet_nchw.onnx`, NCHW, 64×64 in
    the fixture) at 1×3×size×size, written to a temp folder. graphc compiles the file, XLA runs the
    program graphc imports from it, onnxruntime runs the same file (default session options)."""
    import onnx

    source = os.path.join(ONNX_FIXTURES, "resnet_nchw.onnx")
    shape = (1, 3, size, size)
    path = with_input_shape(source, shape, os.path.join(BENCH_CACHE, f"resnet_nchw_{size}.onnx"))
    x = _randn(_rng(7), *shape)
    wl = onnx_fixture_workload("resnet_nchw_onnx", path, [x],
                               f"NCHW ResNet (ONNX): torch-exported ResNet-style CNN, 1x3x{size}x{size} NCHW "
                               "(tests/fixtures/onnx/resnet_nchw.onnx re-declared at this size)")  # fmt: skip
    wl.onnx_model = lambda: onnx.load(path)
    return wl


def onnx_fixture_workload(name: str, path: str, inputs: list[np.ndarray], description: str) -> Workload:
    from graphc.frontends import import_model

    def program():
        return import_model(path)

    wl = Workload(name, description, "compute", program, inputs, fixture=(path, {}))
    wl.flops = program_flops(program())
    return wl


WORKLOADS: dict[str, Callable[[], Workload]] = {
    "W1": w1,
    "W2": w2,
    "W3": w3,
    "W4": w4,
    "W5": w5,
    "W6": w6,
    "mobilenet_v2": mobilenet_v2,
    "digits_cnn_b1": lambda: digits_cnn(1),
    "digits_cnn_b64": lambda: digits_cnn(64),
    "resnet_nchw_onnx": resnet_nchw_onnx,
}
"""Names in table order; each builds its inputs only when called (W1 alone is 64 MiB)."""
