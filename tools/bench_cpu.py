#!/usr/bin/env python3
"""CPU benchmark: graphc against XLA, numpy and onnxruntime on the same graphs, in one process.

    python tools/bench_cpu.py [--runs N] [--only W1,W2,...] [--quick]

A report, never a test: it prints a table and the issue-3 targets with PASS/FAIL, and exits 0
whatever the numbers are. The workloads are in `tools/bench_workloads.py`.

Peers (all get identical input values; every output is checked against the reference)
- graphc: the CPU backend through the public API, `CompiledModel.run(inputs, out=buffers)` with the
  same output buffers every call (as a serving loop would, like onnxruntime's IO binding; fresh
  outputs would add the page faults of new memory: ~29 ms for W1's 64 MiB). XLA and onnxruntime
  allocate their outputs per call, as they do for their users. IR-built workloads go through
  `graphc.driver.compile_program(program, get_backend("cpu"))`, fixtures through `graphc.compile`.
- XLA: the reference backend, i.e. the same graph after graphc's default graph pipeline (the
  program `graphc.compile(..., target="reference")` would store), run by
  `backends/reference/executor.jit_program` (jax.jit, weights passed as arguments). Inputs are
  placed on the device once, outside the timing; a call is timed to `block_until_ready`. Its
  output is THE REFERENCE every other peer is checked against.
- numpy: a hand-written expression per workload (none for the models). numpy is not the machine's
  peak (see NOTES.md on OPENBLAS_CORETYPE).
- onnxruntime (if importable): an equivalent ONNX graph built with `onnx.helper` (opset 17; convs
  in NCHW, fed a transposed copy of the same input, transposed back for checking, outside the
  timing). The TF models have no ONNX export: n/a. The ONNX model (`resnet_nchw_onnx`, the NCHW
  ResNet exported by torch) is the same file for graphc, XLA (through graphc's import of it) and
  onnxruntime (default session options), all fed the same NCHW input; its target is graphc ≤ 1.0×
  onnxruntime (issue 4).

Timing: `time.perf_counter` around each call. Every peer first gets warm-up calls (JIT compile,
first-touch of its buffers), then the timed calls run in rounds, each round giving every peer
a block of consecutive calls, in rotating order — a load spike on this shared machine then
hits all peers instead of one. After each block the script sleeps SETTLE_SECONDS: onnxruntime's
worker threads keep spin-waiting for about 40 ms after a call (measured: 12 ms of process CPU in
a 10 ms sleep), which takes a core from whichever peer runs next; the pause lets every peer start
its block on an idle machine. Medians and minimums over the timed calls (--runs per peer; 5× as
many on workloads where some peer's call takes under 2 ms). Inputs are 64-byte aligned so that no
peer pays a defensive copy.

Figures
- GB/s (memory-bound workloads W1–W3): bytes of compulsory traffic — inputs + outputs + weights
  (after constant folding), each read or written once — divided by the median time; % against
  the measured copy bandwidth. W2 and W3 move 16 MiB in + 16 MiB out, as much as this CPU's
  32 MiB L3: a peer that reuses its output buffer runs partly from cache and can exceed the DRAM
  copy bandwidth. W1 (64 MiB in + 64 MiB out) cannot. Every peer here allocates (or recycles, as
  onnxruntime's arena does) its outputs its own way, inside the timing: a fresh 64 MiB output costs
  ~29 ms of page faults (NOTES.md), so W1's bandwidth target needs output buffers that are not
  freshly faulted on every call.
- GFLOP/s (matmul/conv workloads and models): 2 × multiply-adds of the matmuls and convolutions,
  over the median; % against the measured sgemm peak. The count is the direct algorithm's: graphc
  runs stride-1 3×3 convolutions with Winograd F(2×2,3×3), 2.25× fewer multiplies, so on models
  with such convolutions the figure is an effective rate and can exceed 100% of the sgemm peak.
- Machine limits, measured in this run, before and after the workloads (the higher counts: the
  machine is shared, and a limit is what it can do at best). Copy bandwidth: `np.copyto` of a
  64 MiB float32 array into a preallocated, already-touched destination (read + write bytes
  counted), with one thread and with two threads copying halves (numpy releases the GIL); the
  better one is the limit. sgemm peak: the better of `jax.jit(matmul)` and numpy `@` on
  2048×2048×2048 float32.
- Kernel counts. graphc: `len(model.artifact.schedule)`. XLA: instructions of the ENTRY
  computation of the optimized HLO (`jax.jit(...).lower(...).compile().as_text()`) that do work —
  every instruction except `parameter`, `constant`, `tuple`, `get-tuple-element`, `bitcast`,
  `after-all`, `add-dependency`, `opt-barrier`, `partition-id`, `replica-id` (which emit no loop);
  so each `fusion` (loop, input, output or library/custom fusion), `custom-call`, `dot`,
  `convolution`, `copy`, `transpose`, unfused `reduce` etc. counts as one kernel, and a `call` counts
  the kernels of the computation it calls.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import statistics
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_workloads  # noqa: E402  (a sibling script module, not an installed package)

SMALL_SECONDS = 2e-3
PEERS = ("graphc", "xla", "numpy", "ort")
ORT_BOUNDS = {"resnet_nchw_onnx": 1.0}
"""graphc/onnxruntime time targets (issue 4: the NCHW ONNX ResNet)."""
NOT_KERNELS = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast", "after-all", "add-dependency",
               "opt-barrier", "partition-id", "replica-id"}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)


def time_once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - start
    del out
    return elapsed


SETTLE_SECONDS = 0.1
"""Pause after each peer's block of calls, so spin-waiting thread pools go idle (see the docstring)."""


def time_peers(fns: dict[str, Callable[[], object]], runs: int, warmup: int, rounds: int) -> dict[str, Timing]:
    """Warm-up calls for each peer, then `rounds` rounds of consecutive calls per peer (rotating
    order). Every peer gets the same number of samples: `runs`, or 5× that when some peer's call
    takes under SMALL_SECONDS (cheap, and short calls are the noisiest)."""
    fastest = min((time_once(fn) for fn in fns.values() for _ in range(max(warmup, 1))), default=1.0)
    total = runs * (5 if fastest < SMALL_SECONDS else 1)
    block = math.ceil(total / rounds)
    timings = {name: Timing() for name in fns}
    order = list(fns)
    for r in range(rounds):
        for name in order[r % len(order) :] + order[: r % len(order)]:
            for _ in range(min(block, total - len(timings[name].samples))):
                timings[name].samples.append(time_once(fns[name]))
            time.sleep(SETTLE_SECONDS)
    return timings


# ---------------------------------------------------------------------------------------------
# Environment and machine limits
# ---------------------------------------------------------------------------------------------


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_environment(ort) -> None:
    import jax
    import llvmlite
    import llvmlite.binding as llvm

    try:
        import xdsl

        xdsl_version = getattr(xdsl, "__version__", "?")
    except ImportError:
        xdsl_version = "missing"
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"CPU: {cpu_name()}; {os.cpu_count()} logical CPUs, {affinity} usable by this process; "
          f"LLVM host cpu '{llvm.get_host_cpu_name()}'; load average {load}")  # fmt: skip
    keys = sorted(k for k in os.environ if re.match(r"(OPENBLAS_|OMP_|MKL_|XLA_|JAX_|NPY_|GOTO_)", k))
    found = ", ".join(f"{k}={os.environ[k]}" for k in keys)
    print("environment: " + (found or "no OPENBLAS_*/OMP_*/MKL_*/XLA_*/JAX_* variables set"))
    blas = "?"
    try:
        import threadpoolctl

        info = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        blas = "; ".join(f"{i.get('internal_api')} {i.get('version')} core '{i.get('architecture')}' "
                         f"{i.get('num_threads')} threads" for i in info) or "none loaded"  # fmt: skip
    except ImportError:
        pass
    if os.environ.get("OPENBLAS_CORETYPE", "").lower() == "haswell":
        blas += " — OPENBLAS_CORETYPE=Haswell is set: numpy sgemm may run below the AVX-512 kernel's rate (NOTES.md)"
    ort_version = ort.__version__ if ort else "not installed (ort column n/a)"
    print(f"versions: python {platform.python_version()}, numpy {np.__version__} (BLAS: {blas}), "
          f"jax {jax.__version__}, onnxruntime {ort_version}, llvmlite {llvmlite.__version__}, "
          f"xdsl {xdsl_version}")  # fmt: skip
    print("NOTE: this machine is shared; absolute times swing by ±50% between runs. Compare peers within one "
          "run (the ratio column), not across runs.")  # fmt: skip


@dataclass
class Limits:
    copy_gbs: float
    copy_detail: str
    sgemm_gflops: float
    sgemm_detail: str


def measure_limits(reps: int) -> Limits:
    import jax
    import jax.numpy as jnp

    n = 16 * 1024 * 1024  # 64 MiB of float32
    src = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    dst = np.empty_like(src)
    dst.fill(1.0)  # touched: no page faults inside the timing
    half = n // 2

    def copy_two_threads():
        worker = threading.Thread(target=np.copyto, args=(dst[half:], src[half:]))
        worker.start()
        np.copyto(dst[:half], src[:half])
        worker.join()

    copies = {}
    for label, fn in (("1 thread", lambda: np.copyto(dst, src)), ("2 threads", copy_two_threads)):
        t = time_peers({label: fn}, reps, 2, 1)[label]
        copies[label] = 2 * src.nbytes / t.median / 1e9
    copy_best = max(copies, key=copies.get)

    m = 2048
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((m, m), dtype=np.float32), rng.standard_normal((m, m), dtype=np.float32)
    ja, jb = jax.device_put(a), jax.device_put(b)
    mm = jax.jit(jnp.matmul)
    flops = 2.0 * m**3
    fns = {"jax.jit matmul": lambda: mm(ja, jb).block_until_ready(), "numpy matmul": lambda: a @ b}
    gemm = {k: flops / t.median / 1e9 for k, t in time_peers(fns, max(3, reps // 2), 2, 1).items()}
    gemm_best = max(gemm, key=gemm.get)
    copy_detail = ", ".join(f"{k} {v:.1f} GB/s" for k, v in copies.items())
    gemm_detail = ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in gemm.items())
    return Limits(
        copies[copy_best], f"{copy_detail} → limit {copies[copy_best]:.1f} GB/s ({copy_best})",
        gemm[gemm_best], f"{gemm_detail} → peak {gemm[gemm_best]:.0f} GFLOP/s ({gemm_best} won)",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# XLA kernel count
# ---------------------------------------------------------------------------------------------

_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*.*?\s([a-z][a-z0-9\-]*)\((.*)$")
_COMPUTATION = re.compile(r"^\s*(ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")


def hlo_kernels(hlo_text: str) -> Counter:
    """Kernels of the ENTRY computation, by kind (the rule is in the module docstring)."""
    bodies: dict[str, list[str]] = {}
    entry, current = None, None
    for line in hlo_text.splitlines():
        header = _COMPUTATION.match(line)
        if header and "=" not in line.split("{")[0]:
            current = header.group(2)
            bodies[current] = []
            if header.group(1):
                entry = current
        elif line.strip() == "}":
            current = None
        elif current is not None:
            bodies[current].append(line)

    def count(name: str, depth: int = 0) -> Counter:
        kinds: Counter = Counter()
        for line in bodies.get(name, []):
            match = _INSTRUCTION.match(line)
            if not match or match.group(1) in NOT_KERNELS:
                continue
            opcode, rest = match.groups()
            if opcode == "call" and depth < 8:
                callee = re.search(r"to_apply=%?([\w.\-]+)", rest)
                if callee:
                    kinds += count(callee.group(1), depth + 1)
                    continue
            if opcode == "fusion":
                kind = re.search(r"kind=(k\w+)", rest)
                custom = re.search(r'"kind":"(\w+)"', rest)
                opcode = f"fusion:{custom.group(1).strip('_') if custom else (kind.group(1) if kind else '?')}"
            kinds[opcode] += 1
        return kinds

    if entry is None:
        raise ValueError("no ENTRY computation in the HLO text")
    return count(entry)


def xla_kernel_count(fn, jax_inputs) -> Counter:
    """`fn` is what `jit_program` returns; its `lower` gives the HLO XLA compiles."""
    return hlo_kernels(fn.lower(list(jax_inputs)).compile().as_text())


# ---------------------------------------------------------------------------------------------
# One workload
# ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    workload: bench_workloads.Workload
    timings: dict[str, Timing] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    """Per peer: "ok", "✗" (wrong result), "n/a" (no such peer for this workload), "err"."""
    problems: list[str] = field(default_factory=list)
    graphc_kernels: int | None = None
    xla_kernels: Counter | None = None
    bytes: int = 0
    compile_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.ratio_to("xla")

    def ratio_to(self, peer: str) -> float | None:
        if "graphc" in self.timings and peer in self.timings:
            return self.timings["graphc"].median / self.timings[peer].median
        return None


def weight_bytes(program) -> int:
    from graphc.dialects import graph as g
    from graphc.dialects.resources import constant_value

    return sum(constant_value(op, program.weights).nbytes for op in program.main.body.block.ops
               if isinstance(op, g.ConstantOp))  # fmt: skip


def check(result: Result, peer: str, got: list[np.ndarray], ref: list[np.ndarray]) -> None:
    from graphc.testing import tolerance_violation

    for i, (out, expected) in enumerate(zip(got, ref)):
        out = np.asarray(out)
        violation = tolerance_violation(out, expected)
        if violation:
            same_shape = out.shape == expected.shape
            err = np.max(np.abs(out.astype(np.float64) - expected.astype(np.float64))) if same_shape else np.nan
            result.status[peer] = "✗"
            result.problems.append(f"{peer} output {i} WRONG: max |err| {err:.3g} (max |ref| "
                                   f"{np.max(np.abs(expected)):.3g}); {violation}")  # fmt: skip
    if len(got) != len(ref):
        result.status[peer] = "✗"
        result.problems.append(f"{peer}: {len(got)} outputs, the reference has {len(ref)}")


def failure(result: Result, peer: str, what: str, err: BaseException) -> None:
    result.status[peer] = "err"
    lines = [line for line in str(err).strip().splitlines() if line.strip()] or [type(err).__name__]
    result.problems.append(f"{peer} {what} failed: {type(err).__name__}: {lines[0][:240]}")
    if os.environ.get("BENCH_TRACEBACK"):
        traceback.print_exc()


def bench(wl: bench_workloads.Workload, runs: int, warmup: int, rounds: int, ort) -> Result:
    import jax

    import graphc
    from graphc.backends.reference.executor import jit_program
    from graphc.backends.registry import get_backend
    from graphc.driver import compile_program
    from graphc.passes import DEFAULT_PIPELINE
    from graphc.pipeline import run_pipeline
    from graphc.runtime.native import aligned_copy

    result = Result(wl)
    inputs = [aligned_copy(np.ascontiguousarray(a)) for a in wl.inputs]
    fns: dict[str, Callable[[], object]] = {}

    # XLA: the reference
    start = time.perf_counter()
    program = wl.make_program()
    run_pipeline(program, DEFAULT_PIPELINE)
    xla_fn = jit_program(program)
    jax_inputs = [jax.device_put(a) for a in inputs]
    ref = [np.asarray(o) for o in jax.block_until_ready(xla_fn(jax_inputs))]
    result.compile_seconds["xla"] = time.perf_counter() - start
    result.bytes = sum(a.nbytes for a in inputs) + sum(r.nbytes for r in ref) + weight_bytes(program)
    fns["xla"] = lambda: jax.block_until_ready(xla_fn(jax_inputs))
    result.status["xla"] = "ok"
    if wl.expected is not None:  # the oracle against the framework that made the model
        check(result, "xla", ref, wl.expected)
        if result.status["xla"] != "ok":
            result.problems.append("the reference disagrees with TensorFlow's stored outputs: every check is suspect")
    try:
        result.xla_kernels = xla_kernel_count(xla_fn, jax_inputs)
    except Exception as err:  # noqa: BLE001 - a report keeps going
        result.problems.append(f"XLA kernel count unavailable: {err}")

    # graphc
    try:
        start = time.perf_counter()
        if wl.fixture:
            path, shapes = wl.fixture
            model = graphc.compile(path, target="cpu", input_shapes=shapes)
        else:
            model = compile_program(wl.make_program(), get_backend("cpu"))
        result.compile_seconds["graphc"] = time.perf_counter() - start
        result.graphc_kernels = len(model.artifact.schedule)
        named = dict(zip(model.input_names, inputs))
        outs = model.run(named)
        result.status["graphc"] = "ok"
        check(result, "graphc", [outs[n] for n in model.output_names], ref)
        reused = {n: aligned_copy(outs[n]) for n in model.output_names}  # the caller's buffers, reused
        fns["graphc"] = lambda: model.run(named, out=reused)
    except Exception as err:  # noqa: BLE001
        failure(result, "graphc", "compile/run", err)

    # numpy
    if wl.numpy_fn is None:
        result.status["numpy"] = "n/a"
    else:
        try:
            result.status["numpy"] = "ok"
            check(result, "numpy", wl.numpy_fn(inputs), ref)
            fns["numpy"] = lambda: wl.numpy_fn(inputs)
        except Exception as err:  # noqa: BLE001
            failure(result, "numpy", "run", err)

    # onnxruntime
    if ort is None or wl.onnx_model is None:
        result.status["ort"] = "n/a"
    else:
        try:
            session = ort.InferenceSession(wl.onnx_model().SerializeToString(), providers=["CPUExecutionProvider"])
            fed = wl.onnx_feed(inputs) if wl.onnx_feed else inputs
            feed = {i.name: a for i, a in zip(session.get_inputs(), fed)}
            outs = session.run(None, feed)
            result.status["ort"] = "ok"
            check(result, "ort", wl.onnx_fetch(outs) if wl.onnx_fetch else outs, ref)
            fns["ort"] = lambda: session.run(None, feed)
        except Exception as err:  # noqa: BLE001
            failure(result, "ort", "build/run", err)

    result.timings = time_peers(fns, runs, warmup, rounds)
    return result


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def time_cell(result: Result, peer: str) -> str:
    status = result.status.get(peer, "n/a")
    if peer not in result.timings:
        return status
    t = result.timings[peer]
    mark = " ✗" if status == "✗" else ""
    return f"{t.median * 1e3:.3f} ({t.min * 1e3:.3f}){mark}"


def throughput(result: Result, limits: Limits) -> tuple[str, float | None]:
    t = result.timings.get("graphc")
    if t is None:
        return "-", None
    if result.workload.kind == "memory":
        rate = result.bytes / t.median / 1e9
        return f"{rate:.1f} GB/s", 100 * rate / limits.copy_gbs
    rate = result.workload.flops / t.median / 1e9
    return f"{rate:.1f} GFLOP/s", 100 * rate / limits.sgemm_gflops


def print_table(results: list[Result], limits: Limits) -> None:
    header = ["workload", "graphc ms", "XLA ms", "numpy ms", "ort ms", "graphc/XLA", "graphc/ort", "graphc rate",
              "% limit", "graphc kern", "XLA kern"]  # fmt: skip
    rows = []
    for r in results:
        rate, pct = throughput(r, limits)
        ratio, ort_ratio = r.ratio, r.ratio_to("ort")
        rows.append([
            r.workload.name, *(time_cell(r, p) for p in PEERS),
            f"{ratio:.2f}x" if ratio is not None else "-", f"{ort_ratio:.2f}x" if ort_ratio is not None else "-", rate,
            (f"{pct:.1f}% {'bw' if r.workload.kind == 'memory' else 'peak'}" if pct is not None else "-"),
            str(r.graphc_kernels) if r.graphc_kernels is not None else "-",
            str(sum(r.xla_kernels.values())) if r.xla_kernels is not None else "?",
        ])  # fmt: skip
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    print(line(header))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    print("times: median (min) in ms of the per-call times; ✗ = wrong result (see below); "
          "n/a = no such peer for this workload; err = failed (see below)")  # fmt: skip


def print_details(results: list[Result]) -> None:
    print("\ndetails")
    for r in results:
        wl = r.workload
        samples = ", ".join(f"{p} {len(t.samples)}" for p, t in r.timings.items())
        compile_s = ", ".join(f"{k} {v:.2f} s" for k, v in r.compile_seconds.items())
        figures = f"{r.bytes / 1e6:.1f} MB compulsory traffic" + (f", {wl.flops / 1e6:.1f} MFLOP" if wl.flops else "")
        xla = ", ".join(f"{k}×{v}" for k, v in sorted(r.xla_kernels.items())) if r.xla_kernels else "?"
        print(f"  {wl.name}: {wl.description}; {figures}; compile+first call {compile_s}; samples {samples}")
        print(f"    XLA kernels: {xla}")
        for p in r.problems:
            print(f"    {'✗ ' if 'WRONG' in p else '! '}{p}")


def print_targets(results: list[Result], limits: Limits, selected: list[str]) -> None:
    by_name = {r.workload.name: r for r in results}
    models = ["mobilenet_v2", "digits_cnn_b1", "digits_cnn_b64"]
    lines = []

    def correct(r: Result) -> bool:
        return r.status.get("graphc") == "ok"

    def ratio_target(name: str, bound: float, extra: Callable[[Result], tuple[bool, str]] | None = None):
        r = by_name[name]
        if r.ratio is None:
            lines.append((f"{name}: graphc/XLA ≤ {bound}x", "FAIL", f"graphc {r.status.get('graphc')}"))
            return
        ok = r.ratio <= bound and correct(r)
        detail = f"{r.ratio:.2f}x" + ("" if correct(r) else " but the result is wrong")
        label = f"{name}: graphc/XLA ≤ {bound}x"
        if extra:
            extra_ok, extra_detail = extra(r)
            ok, detail, label = ok and extra_ok, f"{detail}, {extra_detail}", label + " and ≥ 50% copy bandwidth"
        lines.append((label, "PASS" if ok else "FAIL", detail))

    def w1_bandwidth(r: Result) -> tuple[bool, str]:
        _, pct = throughput(r, limits)
        return pct is not None and pct >= 50, f"{pct:.1f}% of copy bandwidth" if pct is not None else "no time"

    bounds = {"W1": 0.5, "W2": 1.0, "W3": 1.0, "W4": 1.0, "W5": 1.2, "W6": 1.0, **{m: 1.0 for m in models}}
    for name in [n for n in bench_workloads.WORKLOADS if n in by_name and n in bounds]:
        ratio_target(name, bounds[name], w1_bandwidth if name == "W1" else None)
    for name, bound in ORT_BOUNDS.items():
        if name not in by_name:
            continue
        r, label = by_name[name], f"{name}: graphc ≤ {bound}× onnxruntime (issue 4)"
        ort_ratio = r.ratio_to("ort")
        if ort_ratio is None:
            lines.append((label, "FAIL", f"graphc {r.status.get('graphc')}, ort {r.status.get('ort')}"))
        else:
            ok = ort_ratio <= bound and correct(r) and r.status.get("ort") == "ok"
            wrong = [p for p in ("graphc", "ort") if r.status.get(p) != "ok"]
            best = r.timings["graphc"].min / r.timings["ort"].min
            detail = f"{ort_ratio:.2f}x (min/min {best:.2f}x)" + (f" but {' and '.join(wrong)} wrong" if wrong else "")
            lines.append((label, "PASS" if ok else "FAIL", detail))
    for name in [n for n in bench_workloads.WORKLOADS if n in by_name]:
        r = by_name[name]
        label = f"{name}: graphc kernels ≤ XLA kernels" + (" (issue-3 done criterion)" if name in models else "")
        if r.graphc_kernels is None or r.xla_kernels is None:
            lines.append((label, "FAIL" if r.graphc_kernels is None else "?", "count unavailable"))
        else:
            xla = sum(r.xla_kernels.values())
            lines.append((label, "PASS" if r.graphc_kernels <= xla else "FAIL", f"{r.graphc_kernels} vs {xla}"))
    print("\ntargets (issues 3 and 4; from this run's medians; a wrong graphc result fails its time target)")
    width = max(len(label) for label, _, _ in lines)
    for label, verdict, detail in lines:
        print(f"  {label.ljust(width)}  {verdict:7} {detail}")
    skipped = [n for n in bench_workloads.WORKLOADS if n not in selected]
    if skipped:
        print(f"  (not run this time: {', '.join(skipped)})")


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timed calls per peer (default 20; medians need ≥ 20)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(bench_workloads.WORKLOADS)}")
    parser.add_argument("--quick", action="store_true", help="5 runs, 1 warm-up, short limit measurements (smoke test)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress goes to stderr; keep the two in order
    selected = [n.strip() for n in args.only.split(",") if n.strip()] or list(bench_workloads.WORKLOADS)
    unknown = [n for n in selected if n not in bench_workloads.WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(bench_workloads.WORKLOADS)}")
    runs = 5 if args.quick else max(1, args.runs)
    warmup, rounds = (1, 1) if args.quick else (3, 4)

    try:
        import onnxruntime as ort

        ort.set_default_logger_severity(3)
    except ImportError:
        ort = None
    print_environment(ort)
    if runs < 20:
        print(f"NOTE: {runs} runs per peer ({'--quick' if args.quick else '--runs'}): too few for the targets' medians")
    reps = 5 if args.quick else 20
    before = measure_limits(reps)
    print(f"machine limits (before): copy {before.copy_detail}; sgemm 2048³ f32 {before.sgemm_detail}")

    results = []
    for name in selected:
        start = time.perf_counter()
        print(f"running {name} ...", end="", flush=True, file=sys.stderr)
        try:
            results.append(bench(bench_workloads.WORKLOADS[name](), runs, warmup, rounds, ort))
        except Exception as err:  # noqa: BLE001 - the reference itself failed: report and go on
            print(f"\n{name}: the reference (XLA) failed, workload skipped: {type(err).__name__}: {err}")
            if os.environ.get("BENCH_TRACEBACK"):
                traceback.print_exc()
            continue
        print(f" {time.perf_counter() - start:.1f} s", file=sys.stderr)
    after = measure_limits(reps)
    print(f"machine limits (after):  copy {after.copy_detail}; sgemm 2048³ f32 {after.sgemm_detail}")
    limits = Limits(max(before.copy_gbs, after.copy_gbs), "", max(before.sgemm_gflops, after.sgemm_gflops), "")
    print(f"limits used for '% limit' (the higher of before/after): copy {limits.copy_gbs:.1f} GB/s, "
          f"sgemm {limits.sgemm_gflops:.0f} GFLOP/s\n")  # fmt: skip
    print_table(results, limits)
    print_details(results)
    print_targets(results, limits, selected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
