"""graphc's compute-cycle model equals SCALE-Sim 3's "Total Cycles" on every recorded run.

The numbers come from `tools/scalesim_compare.py` (SCALE-Sim in its own venv); this test never runs
SCALE-Sim. `test_systolic_simulator.py` checks that the simulator's per-layer count is this model.
"""

import json
import os

import pytest

from graphc.runtime.systolic.cycles import compute_cycles

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "systolic", "scalesim_cycles.json")
RECORDS = json.load(open(FIXTURE))


def test_fixture_covers_every_array_and_dataflow():
    runs = RECORDS["runs"]
    assert {tuple(r["array"]) for r in runs} == {(8, 8), (32, 32), (128, 128)}
    assert {r["dataflow"] for r in runs} == {"ws", "os", "is"}
    assert {r["kind"] for r in runs} == {"gemm", "conv"}
    assert RECORDS["versions"]["scalesim"].startswith("3.")
    assert all(r["stall_cycles"] == 0 for r in runs), "recorded runs must be stall-free (pure compute)"


@pytest.mark.parametrize("run", RECORDS["runs"], ids=lambda r: f"{r['layer']}-{r['array'][0]}x{r['array'][1]}-{r['dataflow']}")
def test_compute_cycles_equal_scalesim(run):
    assert compute_cycles(run["M"], run["N"], run["K"], *run["array"], run["dataflow"]) == run["total_cycles"]
