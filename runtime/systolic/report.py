"""The per-layer report of a systolic run (`graphc run --report`, `--report-json`).

Device layers: folds, compute cycles (SCALE-Sim's convention), total cycles (DMA and stalls
included), stall cycles, utilization, SRAM and DRAM traffic per operand. Host segments: their
kernels and wall time. Totals: device cycles (and time at the machine's clock), traffic, MACs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.runtime.systolic.simulator import LayerStats


@dataclass
class HostRun:
    kernels: list[str]
    seconds: float
    backend: str = "cpu"


@dataclass
class RunReport:
    machine: dict
    rows: list[LayerStats | HostRun] = field(default_factory=list)

    @property
    def layers(self) -> list[LayerStats]:
        return [r for r in self.rows if isinstance(r, LayerStats)]

    def totals(self) -> dict:
        layers = self.layers
        cycles = sum(s.total_cycles for s in layers)
        macs = sum(s.macs for s in layers)
        pes = self.machine["rows"] * self.machine["cols"]
        return {
            "device_layers": len(layers),
            "host_segments": sum(isinstance(r, HostRun) for r in self.rows),
            "macs": macs,
            "compute_cycles": sum(s.compute_cycles for s in layers),
            "total_cycles": cycles,
            "stall_cycles": sum(s.stall_cycles for s in layers),
            "device_seconds": cycles / float(self.machine["clock_hz"]),
            "utilization": macs / (pes * cycles) if cycles else 0.0,
            "dram_read_bytes": sum(sum(s.dram_reads.values()) for s in layers),
            "dram_write_bytes": sum(sum(s.dram_writes.values()) for s in layers),
            "sram_read_bytes": sum(sum(s.sram_reads.values()) for s in layers),
            "sram_write_bytes": sum(sum(s.sram_writes.values()) for s in layers),
            "host_seconds": sum(r.seconds for r in self.rows if isinstance(r, HostRun)),
        }

    def to_json(self, instructions: bool = True) -> dict:
        rows = []
        for r in self.rows:
            if isinstance(r, HostRun):
                rows.append({"where": "host", "backend": r.backend, "kernels": r.kernels, "seconds": r.seconds})
            else:
                rows.append({"where": "systolic", **r.to_json(instructions)})
        return {"machine": self.machine, "layers": rows, "totals": self.totals()}

    def text(self) -> str:
        m = self.machine
        lines = [f"systolic {m['rows']}x{m['cols']} {m['dataflow']} @ {m['clock_hz'] / 1e6:g} MHz, "
                 f"DRAM {m['dram_bytes_per_cycle']:g} B/cycle"]  # fmt: skip
        head = (f"{'layer':<30}{'where':<9}{'M x N x K':>18}{'folds':>7}{'compute':>10}{'total':>10}{'stalls':>9}"
                f"{'util%':>7}{'UB rd/wr KiB':>15}{'WB rd KiB':>10}{'ACC rd/wr KiB':>15}{'DRAM rd/wr KiB':>16}")  # fmt: skip
        lines.append(head)
        for r in self.rows:
            if isinstance(r, HostRun):
                names = r.kernels[0] if len(r.kernels) == 1 else f"{r.kernels[0]}..{r.kernels[-1]}"
                where = "host" if r.backend == "cpu" else f"host ({r.backend})"
                lines.append(f"{names:<30}{'host':<9}{f'{len(r.kernels)} kernels':>18}{'':>7}"
                             f"{f'{r.seconds * 1e3:.2f} ms wall':>29}   {where}")  # fmt: skip
                continue
            kib = lambda v: f"{v / 1024:.0f}"  # noqa: E731
            mnk = "x".join(map(str, r.gemm))
            lines.append(
                f"{r.name:<30}{'systolic':<9}{mnk:>18}{r.folds:>7}{r.compute_cycles:>10}{r.total_cycles:>10}"
                f"{r.stall_cycles:>9}{100 * r.utilization:>7.1f}"
                f"{kib(r.sram_reads['ub']) + '/' + kib(r.sram_writes['ub']):>15}{kib(r.sram_reads['wb']):>10}"
                f"{kib(r.sram_reads['acc']) + '/' + kib(r.sram_writes['acc']):>15}"
                f"{kib(sum(r.dram_reads.values())) + '/' + kib(sum(r.dram_writes.values())):>16}"
            )
        t = self.totals()
        lines.append(
            f"total: {t['device_layers']} layers on the array, {t['host_segments']} host segments; "
            f"{t['total_cycles']} cycles ({t['compute_cycles']} compute, {t['stall_cycles']} stalls) = "
            f"{t['device_seconds'] * 1e3:.3f} ms at the clock; utilization {100 * t['utilization']:.1f}%; "
            f"DRAM {t['dram_read_bytes'] / 1024:.0f} KiB read, {t['dram_write_bytes'] / 1024:.0f} KiB written; "
            f"host {t['host_seconds'] * 1e3:.2f} ms wall"
        )
        return "\n".join(lines)
