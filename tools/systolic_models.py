"""Done-means check for the systolic target on the real fixtures, and the simulation-speed number.

For the digits CNN, MobileNetV2 (96×96) and the MLP: compile with `--quantize int8` for the `cpu`
target and for `--target systolic` (same calibration, so the same quantized IR), run both on the
fixture's inputs and require the int8 model's outputs to be EXACTLY equal (same quantization, same
integer math; the split puts int8 conv/matmul layers on the simulated array and the rest on the host).
Prints per model: layers on the array vs the host, device cycles and utilization, and the wall time
of one simulated inference. The MobileNetV2 128×128 time is the number to keep under 30 s.

Usage: python tools/systolic_models.py [--array 128x128] [--dataflow ws] [--models mobilenet_v2,...]
Calibration: `tests/fixtures/tf/<model>_calibration.npz` when it exists, else the fixture's own inputs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import graphc
from graphc.calibration import QuantizeOptions

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "tf")
MODELS = {"digits_cnn": None, "mobilenet_v2": {"image": (1, 96, 96, 3)}, "mlp": {"x": (4, 20)}}


def fixture_inputs(name: str) -> dict[str, np.ndarray]:
    with np.load(os.path.join(FIXTURES, f"{name}.npz")) as data:
        return {k.removeprefix("input:"): data[k] for k in data.files if k.startswith("input:")}


def calibration(name: str):
    path = os.path.join(FIXTURES, f"{name}_calibration.npz")
    return path if os.path.exists(path) else fixture_inputs(name)


def check(name: str, array: str, dataflow: str) -> dict:
    model_path = os.path.join(FIXTURES, f"{name}.pb")
    inputs = fixture_inputs(name)
    shapes = MODELS[name] or {k: v.shape for k, v in inputs.items()}
    quantize = QuantizeOptions(calibration(name))
    start = time.perf_counter()
    cpu = graphc.compile(model_path, target="cpu", input_shapes=shapes, quantize=quantize)
    systolic = graphc.compile(model_path, target="systolic", input_shapes=shapes, quantize=quantize,
                              target_options={"systolic_array": array, "dataflow": dataflow})  # fmt: skip
    compile_seconds = time.perf_counter() - start
    want = cpu.run(inputs)
    systolic.run(inputs)  # the first run loads the host code
    start = time.perf_counter()
    got = systolic.run(inputs)
    seconds = time.perf_counter() - start
    for key in want:
        if not np.array_equal(want[key], got[key]):
            diff = np.max(np.abs(want[key].astype(np.float64) - got[key].astype(np.float64)))
            raise SystemExit(f"{name}: output {key} differs from the CPU backend's int8 output (max |diff| {diff})")
    report = systolic.loaded.executor.last_report
    placement = systolic.artifact.meta["placement"]
    totals = report.totals()
    return {
        "model": name, "array": array, "dataflow": dataflow, "exact": True,
        "on_array": sum(p["where"] == "systolic" for p in placement), "on_host": sum(p["where"] == "host" for p in placement),
        "cycles": totals["total_cycles"], "utilization": totals["utilization"], "run_seconds": seconds,
        "compile_seconds": compile_seconds, "host_seconds": totals["host_seconds"],
        "host_kinds": sorted({p["why"] for p in placement if p["where"] == "host"}),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--array", default="128x128")
    parser.add_argument("--dataflow", default="ws", choices=["ws", "os", "is"])
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    print(f"{'model':<14}{'array':>9}{'df':>4}{'exact':>7}{'array/host':>12}{'cycles':>11}{'util%':>7}{'run ms':>8}{'host s':>8}{'compile s':>11}")
    for name in args.models.split(","):
        r = check(name, args.array, args.dataflow)
        print(f"{r['model']:<14}{r['array']:>9}{r['dataflow']:>4}{'yes':>7}{str(r['on_array']) + '/' + str(r['on_host']):>12}"
              f"{r['cycles']:>11}{100 * r['utilization']:>7.1f}{r['run_seconds'] * 1e3:>8.1f}{r['host_seconds']:>8.3f}"
              f"{r['compile_seconds']:>11.1f}")  # fmt: skip
        print(f"{'':<14}host regions: {'; '.join(r['host_kinds'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
