#!/usr/bin/env python3
"""Compile-time benchmark: seconds per stage for each TensorFlow fixture, and load + first run.

    python tools/bench_compile.py [--target cpu] [NAME ...]

For every fixture `tests/fixtures/tf/NAME.pb` it prints the stages of `graphc.compile` (parse,
graph passes, backend with its own sub-stages), then saves the artifact and, in a fresh Python
process, times `graphc.load` + the first `run` (what a user waits for after deployment; the
process's import time is shown separately). Targets (issue 2): MobileNetV2 compiles in < 20 s;
load + first inference < 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "tf")

FIRST_RUN_SCRIPT = """
import sys, time, json
t0 = time.perf_counter()
import numpy as np, graphc
t1 = time.perf_counter()
model = graphc.load(sys.argv[1])
t2 = time.perf_counter()
with np.load(sys.argv[2]) as data:
    inputs = {k[len("input:"):]: data[k] for k in data.files if k.startswith("input:")}
model.run(inputs)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first_run": t3 - t2}))
"""


def fixture_names() -> list[str]:
    return sorted(f[:-3] for f in os.listdir(FIXTURES) if f.endswith(".pb"))


def bench(name: str, target: str, workdir: str) -> dict:
    import graphc

    with open(os.path.join(FIXTURES, name + ".json")) as f:
        meta = json.load(f)
    shapes = {k: tuple(v) for k, v in meta.get("input_shapes", {}).items()}
    start = time.perf_counter()
    model = graphc.compile(os.path.join(FIXTURES, name + ".pb"), target=target, input_shapes=shapes)
    total = time.perf_counter() - start
    path = os.path.join(workdir, name + ".gcx")
    model.save(path)
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_RUN_SCRIPT, path, os.path.join(FIXTURES, name + ".npz")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    first = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"name": name, "kernels": len(model.artifact.schedule), "total": total, "stages": model.stats.stages, **first}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="fixture names (default: all)")
    parser.add_argument("--target", default="cpu")
    args = parser.parse_args()
    names = args.names or fixture_names()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in names:
            rows.append(bench(name, args.target, workdir))
    stage_keys = sorted({k for r in rows for k in r["stages"]}, key=lambda k: (k.startswith("backend."), k))
    header = ["fixture", "kernels", *stage_keys, "compile", "import", "load", "1st run", "load+1st"]
    print(f"target: {args.target}; seconds (machine: {os.cpu_count()} cores)")
    print(" | ".join(header))
    for r in rows:
        cells = [r["name"], str(r["kernels"])]
        cells += [f"{r['stages'].get(k, 0.0):.3f}" for k in stage_keys]
        cells += [f"{r['total']:.2f}", f"{r['import']:.2f}", f"{r['load']:.3f}", f"{r['first_run']:.3f}",
                  f"{r['load'] + r['first_run']:.3f}"]  # fmt: skip
        print(" | ".join(cells))
    totals = np.array([r["total"] for r in rows])
    print(f"median compile {np.median(totals):.2f} s, max {totals.max():.2f} s over {len(rows)} fixtures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
