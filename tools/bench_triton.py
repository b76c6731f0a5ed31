"""graphc's triton target vs torch eager vs torch.compile on a CUDA GPU: medians and ratios.

    python tools/bench_triton.py [--runs 50] [--only W1,W5,...]

Workloads are `tools/bench_workloads.py`'s (the CPU benchmark's W1–W6, MobileNetV2, the digits CNN
at batch 1 and 64, the NCHW ONNX ResNet). graphc compiles each for `--target triton`; the peers
run the same graph program written in torch ops (`TorchProgram`: each graph op as its torch
equivalent, NHWC convolutions and pools through NCHW permutes), eagerly and under
`torch.compile` (TorchInductor, whose own code generator also emits Triton). Every peer gets the
same inputs already on the GPU and is timed with `torch.cuda.synchronize()` around each call;
graphc through `TritonExecutor.run_tensors` (device tensors in and out, no host copies). The
first calls (autotuning, compilation) are warm-up. Outputs are checked against each other before
timing.

Without a CUDA device it says so and exits 0 (Triton's interpreter is a correctness tool, not a
timing one). `--device cpu` runs the whole script on CPU tensors under the interpreter, to check
that the script itself works (smallest workloads only; the times mean nothing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--only", default="", help="comma-separated workload names")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    args = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("bench_triton: torch is not installed (pip install 'graphc[triton]'); nothing to time.")
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"bench_triton: no CUDA GPU on this machine (torch {torch.__version__}); nothing to time. "
              "The triton target still runs here under TRITON_INTERPRET=1 (tests/triton).")  # fmt: skip
        return 0
    if args.device == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    from bench_workloads import WORKLOADS

    names = [n for n in (args.only.split(",") if args.only else WORKLOADS)]
    if args.device == "cpu" and not args.only:
        names = ["digits_cnn_b1"]
    device = torch.device(args.device)
    print(f"device: {torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu (interpreter: smoke run)'}; "
          f"torch {torch.__version__}")  # fmt: skip
    print(f"{'workload':<18} {'graphc-triton':>14} {'torch eager':>12} {'torch.compile':>14} "
          f"{'eager/graphc':>13} {'compile/graphc':>15}  kernels")  # fmt: skip
    for name in names:
        wl = WORKLOADS[name]()
        row = bench_workload(torch, wl, device, args.runs, args.warmup)
        print(row, flush=True)
    return 0


def bench_workload(torch, wl, device, runs: int, warmup: int) -> str:
    import graphc
    from graphc.backends.registry import get_backend
    from graphc.driver import compile_program

    if wl.fixture is not None:
        path, shapes = wl.fixture
        model = graphc.compile(path, target="triton", input_shapes=shapes)
    else:
        model = compile_program(wl.make_program(), get_backend("triton"))
    executor = model.loaded.executor
    inputs = [torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in wl.inputs]
    torch_fn = TorchProgram(wl.make_program(), torch, device)
    peers = {"graphc": lambda: executor.run_tensors(inputs), "eager": lambda: torch_fn(inputs)}
    try:
        compiled = torch.compile(torch_fn)
        peers["compile"] = lambda: compiled(inputs)
    except Exception as err:  # torch.compile is optional for the comparison
        print(f"  torch.compile unavailable for {wl.name}: {err}")
    reference = [o.float().cpu().numpy() for o in peers["eager"]()]
    got = [o.float().cpu().numpy() for o in peers["graphc"]()]
    for a, b in zip(got, reference):
        if not np.allclose(a, b, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(b).max(initial=0)))):
            return f"{wl.name:<18} graphc and torch disagree (max |diff| {np.abs(a - b).max():.3g}); not timed"
    times = {k: median_seconds(torch, fn, device, runs, warmup) for k, fn in peers.items()}
    g = times["graphc"]
    eager, comp = times["eager"], times.get("compile")
    comp_text = f"{comp * 1e3:11.3f} ms" if comp else f"{'n/a':>14}"
    ratio = f"{comp / g:14.2f}x" if comp else f"{'n/a':>15}"
    return (f"{wl.name:<18} {g * 1e3:11.3f} ms {eager * 1e3:9.3f} ms {comp_text} {eager / g:12.2f}x {ratio}  "
            f"{len(model.artifact.schedule)}")  # fmt: skip


def median_seconds(torch, fn, device, runs: int, warmup: int) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


class TorchProgram:
    """A graph program (graph dialect, before graphc's passes) as a function of torch tensors."""

    def __init__(self, program, torch, device):
        from graphc.dialects import graph as g
        from graphc.dialects.resources import constant_value

        self.torch, self.g = torch, g
        self.main = program.main
        self.constants = {}
        for op in self.main.body.block.ops:
            if isinstance(op, g.ConstantOp):
                array = np.array(constant_value(op, program.weights), copy=True)
                self.constants[op.result] = torch.from_numpy(array).to(device)

    def __call__(self, inputs):
        from xdsl.dialects import func

        env = dict(zip(self.main.args, inputs))
        env.update(self.constants)
        for op in self.main.body.block.ops:
            if isinstance(op, func.ReturnOp):
                return [env[v] for v in op.arguments]
            if op.results and op.results[0] in env:
                continue
            results = self.evaluate(op, [env[v] for v in op.operands])
            env.update(zip(op.results, results))
        raise ValueError("@main has no return")

    def evaluate(self, op, args):
        torch, g = self.torch, self.g
        F = torch.nn.functional
        a = op.attrs()
        unary = {g.NegOp: torch.neg, g.AbsOp: torch.abs, g.ExpOp: torch.exp, g.LogOp: torch.log, g.SqrtOp: torch.sqrt,
                 g.RsqrtOp: torch.rsqrt, g.TanhOp: torch.tanh, g.SigmoidOp: torch.sigmoid, g.ErfOp: torch.erf,
                 g.ReluOp: torch.relu, g.FloorOp: torch.floor, g.CeilOp: torch.ceil}  # fmt: skip
        binary = {g.AddOp: torch.add, g.SubOp: torch.sub, g.MulOp: torch.mul, g.DivOp: torch.div,
                  g.MaxOp: torch.maximum, g.MinOp: torch.minimum, g.PowOp: torch.pow, g.GtOp: torch.gt,
                  g.LtOp: torch.lt, g.EqOp: torch.eq, g.GeOp: torch.ge, g.LeOp: torch.le}  # fmt: skip
        reductions = {g.ReduceSumOp: torch.sum, g.ReduceMeanOp: torch.mean, g.ReduceMaxOp: torch.amax,
                      g.ReduceMinOp: torch.amin}  # fmt: skip
        t = type(op)
        if t in unary:
            return [unary[t](args[0])]
        if t in binary:
            return [binary[t](args[0], args[1])]
        if t in reductions:
            return [reductions[t](args[0], dim=g.get_ints(a, "axes"), keepdim=bool(g.get_int(a, "keepdims")))]
        if t is g.SelectOp:
            return [torch.where(*args)]
        if t is g.CastOp:
            from graphc.dialects import dtypes

            return [args[0].to(getattr(torch, dtypes.to_numpy_dtype(op.result.type.element_type).name))]
        if t is g.ReshapeOp:
            return [args[0].reshape(g.get_ints(a, "shape"))]
        if t is g.TransposeOp:
            return [args[0].permute(g.get_ints(a, "perm"))]
        if t is g.BroadcastToOp:
            return [args[0].expand(g.get_ints(a, "shape"))]
        if t is g.ConcatOp:
            return [torch.cat(args, dim=g.get_int(a, "axis"))]
        if t is g.SliceOp:
            starts, limits, steps = (g.get_ints(a, k) for k in ("starts", "limits", "strides"))
            return [args[0][tuple(slice(s, lim, st) for s, lim, st in zip(starts, limits, steps))]]
        if t is g.PadOp and g.get_str(a, "mode") == "constant" and not any(g.get_ints(a, "interior")):
            pads = [p for lo, hi in zip(reversed(g.get_ints(a, "low")), reversed(g.get_ints(a, "high"))) for p in (lo, hi)]
            return [F.pad(args[0], pads, value=g.get_float(a, "value"))]
        if t is g.MatMulOp:
            return [torch.matmul(*args)]
        if t is g.SoftmaxOp:
            return [torch.softmax(args[0], dim=g.get_int(a, "axis"))]
        if t is g.BatchNormOp:
            x, scale, offset, mean, var = args
            return [(x - mean) * (scale * torch.rsqrt(var + g.get_float(a, "epsilon"))) + offset]
        if t is g.Conv2DOp:
            x, w = args
            pt, pb, pl, pr = g.get_ints(a, "pads")
            x = F.pad(x.permute(0, 3, 1, 2), (pl, pr, pt, pb))
            y = F.conv2d(x, w.permute(3, 2, 0, 1), stride=g.get_ints(a, "strides"), dilation=g.get_ints(a, "dilations"),
                         groups=g.get_int(a, "groups"))  # fmt: skip
            return [y.permute(0, 2, 3, 1)]
        if t in (g.MaxPoolOp, g.AvgPoolOp):
            pt, pb, pl, pr = g.get_ints(a, "pads")
            window, strides, dil = g.get_ints(a, "window"), g.get_ints(a, "strides"), g.pool_dilations(a)
            x = args[0].permute(0, 3, 1, 2)
            if t is g.MaxPoolOp:
                y = F.max_pool2d(F.pad(x, (pl, pr, pt, pb), value=float("-inf")), window, strides, dilation=dil)
            else:
                total = F.avg_pool2d(F.pad(x, (pl, pr, pt, pb)), window, strides, divisor_override=1)
                ones = F.pad(torch.ones_like(x[:1, :1]), (pl, pr, pt, pb))
                y = total / F.avg_pool2d(ones, window, strides, divisor_override=1)
            return [y.permute(0, 2, 3, 1)]
        raise NotImplementedError(f"bench_triton's torch peer has no {op.name}")


if __name__ == "__main__":
    sys.exit(main())
