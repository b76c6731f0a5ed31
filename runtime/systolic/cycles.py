"""The systolic array's compute-cycle model, equal to SCALE-Sim 3's on every recorded layer.

A *fold* is one `systolic.matmul` instruction: one mapping of a tile onto the R×C array. Which GEMM
dimensions are pinned to the array and which one streams depends on the dataflow (GEMM A[M×K]·B[K×N]):

| dataflow | pinned to rows × cols | streamed (T) | cycles per fold |
|---|---|---|---|
| ws (weight-stationary) | K × N (a weight tile) | M | T + 2R + C − 2 |
| os (output-stationary) | M × N (an output tile) | K | T + R + C − 2 |
| is (input-stationary)  | K × M (an input tile)  | N | T + 2R + C − 2 |

The constant terms are the pipeline fill and drain SCALE-Sim schedules per fold (weights/inputs
loaded row by row in R cycles, skewed operands through R + C − 1 stages, outputs draining); a fold
always pays for the whole array even when the tile is smaller (the unused PEs idle: utilization). A
layer's compute cycles are the sum over its folds minus one: SCALE-Sim reports the zero-based cycle
of the last output write, and graphc counts the same way so the numbers are comparable as they are.
"""

from __future__ import annotations

import math

STREAMED = {"ws": "m", "os": "k", "is": "n"}
"""The GEMM dimension a fold streams through the array, per dataflow."""


def fold_cycles(dataflow: str, rows: int, cols: int, streamed: int) -> int:
    """Cycles of one fold that streams `streamed` rows/columns (M for ws, K for os, N for is)."""
    if dataflow == "os":
        return streamed + rows + cols - 2
    if dataflow in ("ws", "is"):
        return streamed + 2 * rows + cols - 2
    raise ValueError(f"unknown dataflow '{dataflow}'")


def fold_shape(dataflow: str, rows: int, cols: int) -> tuple[int | None, int | None, int | None]:
    """The largest (m, n, k) a single fold takes; None for the streamed (unbounded) dimension."""
    return {"ws": (None, cols, rows), "os": (rows, cols, None), "is": (cols, None, rows)}[dataflow]


def compute_cycles(m: int, n: int, k: int, rows: int, cols: int, dataflow: str) -> int:
    """Compute cycles of a whole M×N×K GEMM when nothing but the array limits the tiling (SCALE-Sim's
    "Total Cycles" with no memory stalls)."""
    fm, fn, fk = fold_shape(dataflow, rows, cols)
    folds = 1
    for size, limit in ((m, fm), (n, fn), (k, fk)):
        if limit is not None:
            folds *= math.ceil(size / limit)
    streamed = {"m": m, "n": n, "k": k}[STREAMED[dataflow]]
    return folds * fold_cycles(dataflow, rows, cols, streamed) - 1
