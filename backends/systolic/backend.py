"""The systolic-array target as a plugin (`--target systolic`).

Takes a `GraphProgram` after the fusion pipeline; leaves a `BackendOutput` whose sections are the split
program (`program.mlir`: `@main` with every device layer as a `systolic.layer` holding its ISA
program, host regions as `fusion.region`s) and one object file per host segment (`hostN.o`, compiled
by the `cpu` backend, found through the backend registry like any plugin). The manifest carries the
machine description, the schedule of host/device/view steps and the CPU backend's manifest per
segment. `graphc.runtime.systolic.executor:SystolicExecutor` runs it: host code natively, device layers
in the simulator.

Options (`configure`, from `--systolic-config FILE`, `--systolic-array RxC`, `--dataflow ws|os|is`):
the machine; flags override the file, the file overrides the 128×128 weight-stationary default.
"""

from __future__ import annotations

import time

from graphc.backends.base import BackendOutput
from graphc.backends.registry import get_backend
from graphc.backends.systolic.machine import DEFAULT, Machine, resolve_machine
from graphc.backends.systolic.partition import split_program
from graphc.dialects.resources import GraphProgram

PROGRAM_SECTION = "program.mlir"


def host_section(index: int) -> str:
    return f"host{index}.o"


class SystolicBackend:
    name = "systolic"
    executor = "graphc.runtime.systolic.executor:SystolicExecutor"
    supports_fusion = True
    options = ("systolic_config", "systolic_array", "dataflow")

    def __init__(self, machine: Machine = DEFAULT):
        self.machine = machine

    def configure(self, systolic_config: str | None = None, systolic_array: str | None = None, dataflow: str | None = None) -> None:
        self.machine = resolve_machine(systolic_config, systolic_array, dataflow)

    def compile(self, program: GraphProgram) -> BackendOutput:
        seconds = {}
        start = time.perf_counter()
        split = split_program(program, self.machine)
        seconds["split"] = time.perf_counter() - start
        start = time.perf_counter()
        cpu = get_backend("cpu")
        hosts = [cpu.compile(segment) for segment in split.segments]
        seconds["host"] = time.perf_counter() - start
        sections = {PROGRAM_SECTION: str(split.module).encode()}
        for i, host in enumerate(hosts):
            sections[host_section(i)] = host.sections["object.o"]
        schedule = []
        for step in split.steps:
            if step["op"] == "host":
                schedule.extend(step["kernels"])
            elif step["op"] == "device":
                schedule.append(f"{step['layer']} [systolic]")
        meta = {
            "machine": self.machine.to_dict(),
            "steps": split.steps,
            "inputs": split.inputs,
            "outputs": split.outputs,
            "weights": {str(k): v for k, v in split.weights.items()},
            "host": [host.meta for host in hosts],
            "placement": split.placement,
            "stage_seconds": seconds,
        }
        return BackendOutput(meta=meta, sections=sections, schedule=schedule, weight_names=sorted(set(split.weights.values())))
