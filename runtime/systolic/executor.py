"""Runs a systolic-target artifact: host segments through their backend's executor (natively: the CPU
backend's object code through `graphc.runtime.native`), device layers in the simulator, views as numpy reshapes, in schedule order.

Takes the manifest, sections and weights `graphc.backends.systolic.backend` wrote. After each `run`,
`last_report` is the run's `RunReport` (per-layer cycles, utilization, traffic, stalls; host segments
with their wall time), which `graphc run --report` prints.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence

import numpy as np

from graphc.context import parse_module
from graphc.dialects.systolic import LayerOp
from graphc.runtime.errors import ArtifactError
from graphc.runtime.systolic.report import HostRun, RunReport
from graphc.runtime.systolic.simulator import LayerProgram, Simulator


class SystolicExecutor:
    def __init__(self, meta: Mapping, sections: Mapping[str, bytes], weights: Mapping[str, np.ndarray]):
        module = parse_module(sections["program.mlir"].decode(), source="program.mlir")
        self.layers = {op.layer_name.data: LayerProgram.from_op(op) for op in module.walk() if isinstance(op, LayerOp)}
        self.hosts = [_host_executor(i, host, sections, weights) for i, host in enumerate(meta["host"])]
        self.machine = dict(meta["machine"])
        self.simulator = Simulator(self.machine)
        self.steps = list(meta["steps"])
        self.input_ids = list(meta["inputs"])
        self.output_ids = list(meta["outputs"])
        self.constants = {int(k): np.asarray(weights[name]) for k, name in meta["weights"].items()}
        self.last_report: RunReport | None = None

    def run(self, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
        env: dict[int, np.ndarray] = dict(self.constants)
        env.update(zip(self.input_ids, inputs))
        report = RunReport(self.machine)
        for step in self.steps:
            kind = step["op"]
            if kind == "host":
                start = time.perf_counter()
                results = self.hosts[step["segment"]].run([np.ascontiguousarray(env[v]) for v in step["inputs"]])
                env.update(zip(step["outputs"], results))
                report.rows.append(HostRun(step["kernels"], time.perf_counter() - start, step.get("backend", "cpu")))
            elif kind == "device":
                args = [env[v] for v in step["inputs"]]
                bias = args[2] if len(args) > 2 else None
                out, stats = self.simulator.run_layer(self.layers[step["layer"]], args[0], args[1], bias)
                env[step["output"]] = out
                report.rows.append(stats)
            else:
                env[step["output"]] = env[step["input"]].reshape(step["shape"])
        self.last_report = report
        results = [np.array(env[v], copy=True) if v in self.constants or v in self.input_ids else env[v] for v in self.output_ids]
        if outputs is None:
            return results
        for out, result in zip(outputs, results):
            np.copyto(out, result)
        return list(outputs)


def _host_executor(index: int, host: Mapping, sections: Mapping[str, bytes], weights: Mapping[str, np.ndarray]):
    """The executor of one host segment (the CPU backend's, or the reference backend's for a segment the
    CPU backend could not compile), imported by path as the runtime does for whole artifacts."""
    module_name, _, class_name = host["executor"].partition(":")
    try:
        executor_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as err:
        raise ArtifactError(f"host segment {index}: its executor ({host['executor']}) is not available: {err}") from None
    return executor_class(host["meta"], {n: sections[f"host{index}/{n}"] for n in host["sections"]}, weights)
