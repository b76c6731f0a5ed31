"""Runs CPU-backend artifacts: links the object code once, binds weights and the arena once.

Per call: fresh output arrays (the caller keeps them), inputs passed in place when aligned, one
call into native code. The arena persists across calls, so intermediates cost no page faults after
the first run. Calls on one model are serialised (they share the arena).
"""

from __future__ import annotations

import threading

import numpy as np

from graphc.runtime.errors import ArtifactError
from graphc.runtime.native import NativeModule, aligned_copy, aligned_empty


class CpuExecutor:
    def __init__(self, meta: dict, sections: dict[str, bytes], weights: dict[str, np.ndarray]):
        check_host_can_run(meta.get("target", {}))
        self.module = NativeModule.load(sections["model.o"], meta["entry"])
        self.weights = []
        for spec in meta["weights"]:
            name = spec["name"]
            if name not in weights:
                raise ArtifactError(f"the artifact lacks weight '{name}' that its code needs")
            array = np.asarray(weights[name]).astype(spec["dtype"], copy=False).reshape(spec["shape"])
            self.weights.append(aligned_copy(array))
        self.arena = aligned_empty(max(int(meta["arena_bytes"]), 1), np.uint8)
        self.outputs = [(tuple(o["shape"]), np.dtype(o["dtype"])) for o in meta["outputs"]]
        self._lock = threading.Lock()

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        outputs = [aligned_empty(shape, dtype) for shape, dtype in self.outputs]
        with self._lock:
            self.module.run(inputs, outputs, self.weights, self.arena)
        return outputs


def check_host_can_run(target: dict) -> None:
    """The object code uses the instruction-set features it was compiled for; refuse, rather than
    crash with an illegal instruction, on a CPU that lacks any of them."""
    features = target.get("features", "")
    if not features:
        return
    import llvmlite.binding as llvm

    host = llvm.get_host_cpu_features()
    needed = [f[1:] for f in features.split(",") if f.startswith("+")]
    missing = [f for f in needed if not host.get(f, False)]
    if missing:
        raise ArtifactError(
            f"this artifact was compiled for a {target.get('cpu', 'different')} CPU; this machine lacks "
            f"{', '.join(sorted(missing)[:8])}{' …' if len(missing) > 8 else ''}: recompile it here"
        )
