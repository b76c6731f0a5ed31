"""The systolic-array target as a plugin (`--target systolic`).

Takes a `GraphProgram` after the fusion pipeline; leaves a `BackendOutput` whose sections are the split
program (`program.mlir`: `@main` with every device layer as a `systolic.layer` holding its ISA
program, host regions as `fusion.region`s) and the code of each host segment (`hostN/object.o`,
compiled by the `cpu` backend, found through the backend registry like any plugin; a segment the CPU
backend cannot compile runs on the `reference` backend instead, `hostN/graph.mlir`, and says so). The manifest carries the
machine description, the schedule of host/device/view steps and the CPU backend's manifest per
segment. `graphc.runtime.systolic.executor:SystolicExecutor` runs it: host code natively, device layers
in the simulator.

Options (`configure`, from `--systolic-config FILE`, `--systolic-array RxC`, `--dataflow ws|os|is`):
the machine; flags override the file, the file overrides the 128×128 weight-stationary default.
"""

from __future__ import annotations

import time

from graphc.backends.base import BackendOutput
from graphc.backends.systolic.host import compile_host
from graphc.backends.systolic.machine import DEFAULT, Machine, resolve_machine
from graphc.backends.systolic.partition import split_program
from graphc.dialects.resources import GraphProgram

PROGRAM_SECTION = "program.mlir"


HOST_SECTIONS = ("object.o", "graph.mlir")
"""What a host segment needs at run time: the CPU backend's object code (or, for a segment it cannot
compile, the reference backend's graph IR)."""


def host_section(index: int, name: str) -> str:
    return f"host{index}/{name}"


class SystolicBackend:
    name = "systolic"
    executor = "graphc.runtime.systolic.executor:SystolicExecutor"
    supports_fusion = True
    supports_quant = True  # int8 layers go to the array; other quant ops run in CPU-backend host segments
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
        sections = {PROGRAM_SECTION: str(split.module).encode()}
        hosts = []
        for i, segment in enumerate(split.segments):
            backend, output, fallback = compile_host(segment)
            names = [n for n in output.sections if n in HOST_SECTIONS]
            sections.update({host_section(i, n): output.sections[n] for n in names})
            hosts.append({"backend": backend.name, "executor": backend.executor, "meta": output.meta, "sections": names,
                          "fallback": fallback})  # fmt: skip
        seconds["host"] = time.perf_counter() - start
        by_kernel = {}
        for step in split.steps:
            if step["op"] == "host":
                step["backend"] = hosts[step["segment"]]["backend"]
                by_kernel.update({k: hosts[step["segment"]] for k in step["kernels"]})
        for entry in split.placement:
            host = by_kernel.get(entry["name"])
            if host is not None and host["fallback"]:
                entry["why"] += f" [reference backend: {host['fallback']}]"
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
            "host": hosts,
            "placement": split.placement,
            "stage_seconds": seconds,
        }
        return BackendOutput(meta=meta, sections=sections, schedule=schedule, weight_names=sorted(set(split.weights.values())))
