"""Record SCALE-Sim 3's cycle counts for GEMM and conv layers, for graphc's systolic cycle model to pin.

Runs SCALE-Sim (in the separate venv made by `tools/scalesim_venv.sh`: it needs numpy<2, so it is never
a graphc dependency) on every layer × array (8×8, 32×32, 128×128) × dataflow (ws, os, is) and writes
SCALE-Sim's "Total Cycles" and "Stall Cycles" per run into `tests/fixtures/systolic/scalesim_cycles.json`,
together with the SCALE-Sim version and the config it ran. `tests/systolic/test_cycle_model.py` reads that
JSON and requires graphc's compute-cycle model to equal every number; the tests never run SCALE-Sim.

Usage:
    tools/scalesim_venv.sh /tmp/venv-scalesim
    python tools/scalesim_compare.py --scalesim-python /tmp/venv-scalesim/bin/python [--jobs 2]

Each run happens in its own temporary folder (SCALE-Sim always writes large traces). The config uses
SCALE-Sim's bandwidth-estimation mode (`InterfaceBandwidth: CALC`) with 1 MiB SRAMs, so the recorded
layers see no stalls: "Total Cycles" is then the pure compute schedule (folds × fill/drain/stream), which is
what graphc's `cycle_model` computes. With graphc importable it also prints the comparison table.

Layer shapes: SCALE-Sim's GEMM row `M,N,K` is A[M×K]·B[K×N]; a conv row (no padding) maps to
M = output pixels, K = kh·kw·cin, N = filters. The layers include MobileNetV2- and digits-CNN-shaped ones,
kept small enough that SCALE-Sim's output/input-stationary runs (quadratic in the folds) finish.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import subprocess
import sys
import tempfile

ARRAYS = [(8, 8), (32, 32), (128, 128)]
DATAFLOWS = ["ws", "os", "is"]
SRAM_KB = 1024

# name, kind, params. gemm: (M, N, K). conv: (H, W, kh, kw, cin, filters, stride) as SCALE-Sim's
# conv topology (no padding: output = (H - kh) // stride + 1).
LAYERS = [
    ("gemm_small", "gemm", (20, 12, 30)),
    ("gemm_square_64", "gemm", (64, 64, 64)),
    ("gemm_tall", "gemm", (200, 24, 40)),
    ("gemm_256", "gemm", (256, 256, 256)),
    ("mlp_dense_1", "gemm", (4, 64, 20)),       # the MLP fixture's first layer, batch 4
    ("mlp_dense_2", "gemm", (4, 10, 64)),
    ("digits_conv1", "conv", (10, 10, 3, 3, 1, 8, 1)),       # digits-CNN-shaped 3x3 convs
    ("digits_conv2", "conv", (8, 8, 3, 3, 8, 16, 1)),
    ("mbv2_stem", "conv", (17, 17, 3, 3, 3, 16, 2)),         # MobileNetV2-shaped (small input)
    ("mbv2_expand_1x1", "conv", (12, 12, 1, 1, 16, 96, 1)),
    ("mbv2_expand_24x24", "conv", (24, 24, 1, 1, 24, 144, 1)),
    ("mbv2_project_1x1", "conv", (6, 6, 1, 1, 96, 24, 1)),
    ("mbv2_head_1x1", "conv", (3, 3, 1, 1, 160, 320, 1)),
]

CONFIG = """[general]
run_name = graphc

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {sram}
FilterSramSzkB: {sram}
OfmapSramSzkB: {sram}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Dataflow: {dataflow}
Bandwidth: 10
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def gemm_dims(kind: str, params: tuple) -> tuple[int, int, int]:
    """(M, N, K) of a layer as SCALE-Sim maps it."""
    if kind == "gemm":
        return tuple(params)
    h, w, kh, kw, cin, filters, stride = params
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    return oh * ow, filters, kh * kw * cin


def topology_csv(kind: str, params: tuple) -> str:
    # Every row needs a trailing comma: SCALE-Sim's parser drops the last field.
    if kind == "gemm":
        m, n, k = params
        return f"Layer,M,N,K,\nl0,{m},{n},{k},\n"
    h, w, kh, kw, cin, filters, stride = params
    return (
        "Layer name,IFMAP Height,IFMAP Width,Filter Height,Filter Width,Channels,Num Filter,Strides,\n"
        f"l0,{h},{w},{kh},{kw},{cin},{filters},{stride},\n"
    )


def run_one(python: str, kind: str, params: tuple, rows: int, cols: int, dataflow: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="scalesim_") as tmp:
        with open(os.path.join(tmp, "cfg.cfg"), "w") as f:
            f.write(CONFIG.format(rows=rows, cols=cols, sram=SRAM_KB, dataflow=dataflow))
        with open(os.path.join(tmp, "topo.csv"), "w") as f:
            f.write(topology_csv(kind, params))
        with open(os.path.join(tmp, "layout.csv"), "w") as f:
            f.write("Layer,\n")  # -l must name an existing file; a header-only CSV works
        cmd = [python, "-m", "scalesim.scale", "-c", "cfg.cfg", "-t", "topo.csv", "-l", "layout.csv",
               "-p", "out", "-i", "gemm" if kind == "gemm" else "conv", "-s", "N"]
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        report = os.path.join(tmp, "out", "graphc", "COMPUTE_REPORT.csv")
        if done.returncode != 0 or not os.path.exists(report):
            raise RuntimeError(f"SCALE-Sim failed on {kind} {params} {rows}x{cols} {dataflow}:\n{done.stderr[-2000:]}")
        with open(report) as f:
            rows_ = list(csv.reader(f))
    header = [h.strip() for h in rows_[0]]
    values = [v.strip() for v in rows_[1]]
    rec = dict(zip(header, values))
    return {"total_cycles": int(rec["Total Cycles"]), "stall_cycles": int(rec["Stall Cycles"])}


def scalesim_version(python: str) -> str:
    code = "import importlib.metadata as m; print(m.version('scalesim'), m.version('numpy'), m.version('pandas'))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {"scalesim": out[0], "numpy": out[1], "pandas": out[2]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalesim-python", help="python of the venv made by tools/scalesim_venv.sh")
    parser.add_argument("--table-only", action="store_true", help="print the comparison for the recorded JSON, run nothing")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "systolic", "scalesim_cycles.json"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.table_only:
        with open(args.out) as f:
            return print_table(json.load(f)["runs"])
    if not args.scalesim_python:
        parser.error("--scalesim-python is required (make the venv with tools/scalesim_venv.sh)")

    jobs = [(name, kind, params, r, c, df) for name, kind, params in LAYERS for (r, c) in ARRAYS for df in DATAFLOWS]
    records = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run_one, args.scalesim_python, kind, params, r, c, df): (name, kind, params, r, c, df)
                   for name, kind, params, r, c, df in jobs}
        for fut in concurrent.futures.as_completed(futures):
            name, kind, params, r, c, df = futures[fut]
            m, n, k = gemm_dims(kind, params)
            records.append({"layer": name, "kind": kind, "params": list(params), "M": m, "N": n, "K": k,
                            "array": [r, c], "dataflow": df, **fut.result()})
            print(f"{name:18s} {r}x{c} {df}: {records[-1]['total_cycles']}", file=sys.stderr, flush=True)
    order = {j[:1] + j[3:]: i for i, j in enumerate(jobs)}
    records.sort(key=lambda rec: order[(rec["layer"], *rec["array"], rec["dataflow"])])
    fixture = {
        "versions": scalesim_version(args.scalesim_python),
        "config": CONFIG.format(rows="R", cols="C", sram=SRAM_KB, dataflow="DATAFLOW"),
        "mapping": "GEMM row M,N,K = A[MxK]·B[KxN]; conv (no padding): M = output pixels, K = kh*kw*cin, N = filters",
        "runs": records,
    }
    with open(args.out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {len(records)} runs", file=sys.stderr)
    return print_table(records)


def print_table(records: list[dict]) -> int:
    """The comparison with graphc's cycle model (when graphc is importable); 1 if any differs."""
    try:
        from graphc.runtime.systolic.cycles import compute_cycles
    except ImportError:
        return 0
    print(f"| layer | M×N×K | array | dataflow | SCALE-Sim cycles | graphc cycles |\n|---|---|---|---|---|---|")
    differ = 0
    for rec in records:
        mine = compute_cycles(rec["M"], rec["N"], rec["K"], *rec["array"], rec["dataflow"])
        differ += mine != rec["total_cycles"]
        print(f"| {rec['layer']} | {rec['M']}×{rec['N']}×{rec['K']} | {'×'.join(map(str, rec['array']))} | {rec['dataflow']} "
              f"| {rec['total_cycles']} | {mine} |")  # fmt: skip
    print(f"{len(records) - differ} of {len(records)} equal", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
