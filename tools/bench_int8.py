"""int8 CPU benchmark: graphc's int8 kernels against graphc float32 and onnxruntime's int8, in one process.

    python tools/bench_int8.py [--runs 20] [--only NAME ...]

Rows
- `conv3x3_56x64`, `conv3x3_28x128`, `conv3x3_14x256`: one 3×3 stride-1 convolution, NHWC,
  batch 1. int8: `quant.conv2d` (int8 input, per-channel int8 filter, int32 bias) + `quant.requantize`
  (per channel, ReLU clamp) built in the IR, i.e. what `--quantize int8` leaves for a conv layer;
  it runs on the AVX-512 VNNI kernel where the host has it. f32: the same conv + ReLU in float32
  (graphc runs these with Winograd F(2×2,3×3)). No onnxruntime column: the layers are built in
  graphc's IR.
- `depthwise3x3_56x64`: the same for a depthwise convolution (the portable int8 kernel).
- `resnet_qdq_onnx`: the QDQ ResNet of `tests/fixtures/onnx/resnet_nchw_qdq.onnx`
  (`tools/quantize_onnx_models.py`) re-declared at 1×3×224×224. graphc imports the QDQ pattern as
  int8 ops; onnxruntime (default session options) runs the same file with its int8 kernels; the
  f32 column is graphc on the float model it was quantized from (`resnet_nchw.onnx`, same size).
- `mobilenet_v2`: the TF fixture compiled with `--quantize int8` (percentile observer, 8 seeded
  standard-normal calibration samples) vs the same fixture in float32.

Every peer's result is checked before timing: the synthetic layers bit for bit against the
reference semantics (`graphc.dialects.semantics`); graphc's QDQ ResNet against onnxruntime's within
2 quantization steps of the output (both compute the same integers up to rounding ties);
MobileNetV2 int8 within 0.05 of the float probabilities. ✗ marks a wrong result.

Timing is `tools/bench_cpu.py`'s: warm-up calls, then rounds of blocks of calls per peer in rotating
order with a pause after each block; medians (and minimums) of per-call times. The machine is
shared: compare columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_cpu import Timing, time_peers  # noqa: E402
from bench_workloads import BENCH_CACHE, ROOT, with_input_shape  # noqa: E402

ONNX = os.path.join(ROOT, "tests", "fixtures", "onnx")
TF = os.path.join(ROOT, "tests", "fixtures", "tf")


@dataclass
class Row:
    name: str
    description: str
    peers: dict[str, Callable[[], object]] = field(default_factory=dict)
    wrong: dict[str, str] = field(default_factory=dict)
    timings: dict[str, Timing] = field(default_factory=dict)


# -- single layers -----------------------------------------------------------------------------


def _layer_programs(h: int, c: int, co: int, groups: int, seed: int = 0):
    """(int8 program, its input, f32 program, its input) for a 3×3 stride-1 SAME conv."""
    from graphc.dialects import graph as g
    from graphc.dialects import quant as q
    from graphc.dialects.builder import ProgramBuilder

    rng = np.random.default_rng(seed)
    conv = dict(strides=g.ints_attr([1, 1]), dilations=g.ints_attr([1, 1]), pads=g.ints_attr([1, 1, 1, 1]),
                groups=g.int_attr(groups))  # fmt: skip
    b = ProgramBuilder({"x": ((1, h, h, c), np.int8)})
    acc = b.op(q.Conv2DOp, b.args["x"], b.const(rng.integers(-127, 128, (3, 3, c // groups, co), dtype=np.int8)),
               b.const(rng.integers(-5000, 5000, co, dtype=np.int32), "bias"), input_zero_point=g.int_attr(-7),
               **conv)  # fmt: skip
    params = q.RequantizeParams.from_scale(rng.uniform(1e-4, 2e-3, co), -5, -5, 127, axis=3)
    int8 = b.build({"y": b.op(q.RequantizeOp, acc, **params.attributes())})
    x8 = {"x": rng.integers(-128, 128, (1, h, h, c), dtype=np.int8)}

    fb = ProgramBuilder({"x": ((1, h, h, c), np.float32)})
    y = fb.op(g.Conv2DOp, fb.args["x"], fb.const(rng.standard_normal((3, 3, c // groups, co)).astype(np.float32)), **conv)
    f32 = fb.build({"y": fb.op(g.ReluOp, y)})
    x32 = {"x": rng.standard_normal((1, h, h, c)).astype(np.float32)}
    return int8, x8, f32, x32


def layer_row(name: str, h: int, c: int, co: int, groups: int) -> Row:
    from graphc.backends.registry import get_backend
    from graphc.dialects.semantics import evaluate_program
    from graphc.driver import compile_program

    kind = "depthwise" if groups == c else "conv"
    row = Row(name, f"{kind} 3×3 1×{h}×{h}×{c}→{co} NHWC: int8 + requantize vs f32 + ReLU")
    int8, x8, f32, x32 = _layer_programs(h, c, co, groups)
    want = evaluate_program(int8, x8)
    q8 = compile_program(int8, get_backend("cpu"))
    fp = compile_program(f32, get_backend("cpu"))
    if not np.array_equal(q8.run(x8)["y"], want["y"]):
        row.wrong["graphc int8"] = "differs from the reference semantics"
    row.peers = {"graphc int8": lambda: q8.run(x8), "graphc f32": lambda: fp.run(x32)}
    return row


# -- models ------------------------------------------------------------------------------------


def resnet_row(size: int = 224) -> Row:
    import graphc

    row = Row("resnet_qdq_onnx", f"QDQ ResNet (ONNX, tests/fixtures/onnx/resnet_nchw_qdq.onnx) at 1×3×{size}×{size}")
    shape = (1, 3, size, size)
    qdq = with_input_shape(os.path.join(ONNX, "resnet_nchw_qdq.onnx"), shape,
                           os.path.join(BENCH_CACHE, f"resnet_nchw_qdq_{size}.onnx"))  # fmt: skip
    fp = with_input_shape(os.path.join(ONNX, "resnet_nchw.onnx"), shape, os.path.join(BENCH_CACHE, f"resnet_nchw_{size}.onnx"))
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    q8 = graphc.compile(qdq, target="cpu")
    f32 = graphc.compile(fp, target="cpu")
    feed = {q8.input_names[0]: x}
    row.peers = {"graphc int8": lambda: q8.run(feed), "graphc f32": lambda: f32.run({f32.input_names[0]: x})}
    try:
        import onnxruntime as ort
    except ImportError:
        return row
    session = ort.InferenceSession(qdq, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    ours, theirs = next(iter(q8.run(feed).values())), session.run(None, {name: x})[0]
    step = _output_step(qdq)
    if np.abs(ours - theirs).max() > 2 * step + 1e-6:
        row.wrong["graphc int8"] = f"differs from onnxruntime by {np.abs(ours - theirs).max():.3g} (> 2 steps of {step:.3g})"
    row.peers["ort int8"] = lambda: session.run(None, {name: x})
    return row


def _output_step(path: str) -> float:
    """The scale of the last DequantizeLinear before the graph output (one quantization step)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    return float(np.max(inits[dq[-1].input[1]]))


def mobilenet_row() -> Row:
    import graphc
    from graphc.calibration import QuantizeOptions
    from graphc.testing import load_fixture

    row = Row("mobilenet_v2", "MobileNetV2 a=0.35 1×96×96×3 (TF fixture): --quantize int8 vs float32")
    fx = load_fixture(os.path.join(TF, "mobilenet_v2"))
    ((name, x),) = fx.inputs.items()
    samples = {name: np.random.default_rng(1234).standard_normal((8, *x.shape[1:])).astype(np.float32)}
    q8 = graphc.compile(fx.model_path, "cpu", fx.input_shapes, quantize=QuantizeOptions(samples, "percentile"))
    f32 = graphc.compile(fx.model_path, "cpu", fx.input_shapes)
    out = fx.meta["outputs"][0]
    if np.abs(q8.run(fx.inputs)[out] - fx.outputs[out]).max() > 0.05:
        row.wrong["graphc int8"] = "more than 0.05 from TensorFlow's float probabilities"
    row.peers = {"graphc int8": lambda: q8.run(fx.inputs), "graphc f32": lambda: f32.run(fx.inputs)}
    return row


ROWS: dict[str, Callable[[], Row]] = {
    "conv3x3_56x64": lambda: layer_row("conv3x3_56x64", 56, 64, 64, 1),
    "conv3x3_28x128": lambda: layer_row("conv3x3_28x128", 28, 128, 128, 1),
    "conv3x3_14x256": lambda: layer_row("conv3x3_14x256", 14, 256, 256, 1),
    "depthwise3x3_56x64": lambda: layer_row("depthwise3x3_56x64", 56, 64, 64, 64),
    "resnet_qdq_onnx": resnet_row,
    "mobilenet_v2": mobilenet_row,
}
PEERS = ("graphc int8", "graphc f32", "ort int8")


def _cell(row: Row, peer: str) -> str:
    t = row.timings.get(peer)
    if t is None:
        return "n/a"
    return f"{t.median * 1e3:.3f} ({t.min * 1e3:.3f}){' ✗' if peer in row.wrong else ''}"


def _ratio(row: Row, a: str, b: str) -> str:
    if a not in row.timings or b not in row.timings:
        return "-"
    return f"{row.timings[a].median / row.timings[b].median:.2f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed calls per peer and row (default 20)")
    parser.add_argument("--only", nargs="+", choices=list(ROWS), help="rows to run (default: all)")
    args = parser.parse_args(argv)
    from graphc.backends.cpu.lower_int8 import host_has_vnni

    print(f"int8 kernels: {'AVX-512 VNNI (vpdpbusd)' if host_has_vnni() else 'portable (no avx512vnni on this host)'}")
    print("NOTE: this machine is shared; compare the columns of one run (the ratios), not runs.")
    rows = []
    for name in args.only or list(ROWS):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        row = ROWS[name]()
        row.timings = time_peers(row.peers, args.runs, warmup=3, rounds=4)
        rows.append(row)
    header = f"{'row':<19}| {'graphc int8 ms':>16} | {'graphc f32 ms':>16} | {'ort int8 ms':>16} | int8/f32 | int8/ort"
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = " | ".join(f"{_cell(row, p):>16}" for p in PEERS)
        print(f"{row.name:<19}| {cells} | {_ratio(row, 'graphc int8', 'graphc f32'):>8} | "
              f"{_ratio(row, 'graphc int8', 'ort int8'):>8}")  # fmt: skip
    print("times: median (min) in ms per call; ✗ = wrong result (below); n/a = no such peer")
    for row in rows:
        print(f"  {row.name}: {row.description}")
        for peer, why in row.wrong.items():
            print(f"    ✗ {peer}: {why}")
    return 1 if any(row.wrong for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
