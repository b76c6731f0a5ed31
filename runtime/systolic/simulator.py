"""The systolic-array simulator: executes `systolic.layer` programs bit-exactly and counts cycles.

Takes a decoded layer program (`LayerProgram.from_op`, from the `systolic` dialect's `systolic.layer`)
and the layer's host tensors; gives the int8 output and a `LayerStats`. Values: the unified buffer and
the weight buffer are int8 byte arrays, the accumulators an int32 array; every instruction moves or
computes a whole tile with numpy (one matrix product per `matmul`, never a loop over PEs). The integer
semantics are `graphc.dialects.quant_arith`'s (the contract's one reference): products summed exactly,
int32 wrap-around, TFLite's requantization.

Timing: three engines run concurrently — one DMA engine (host memory ↔ buffers, `dram_bytes_per_cycle`),
the array (one fold per `matmul`, `cycles.fold_cycles`) and the activation unit (`cols` values per cycle).
Instructions issue in program order; each starts when its engine is free and its operands are ready
(read-after-write) and its destination is no longer being read (write-after-read), tracked per tile
address (the backend gives every tile a fixed slot, double-buffered). The array's waits for operands are
its stall cycles. A layer reports `compute_cycles` (Σ fold cycles − 1: SCALE-Sim's "Total Cycles"
convention) and `total_cycles` (until its last instruction finishes, DMA and stalls included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from graphc.dialects.quant_arith import requantize, wrap_int32
from graphc.runtime.systolic.cycles import STREAMED, fold_cycles

OPCODES = ("read_host_memory", "read_weights", "matmul", "activate", "write_host_memory", "sync")


@dataclass
class LayerProgram:
    """A `systolic.layer`, decoded to plain data for the simulator."""

    name: str
    rows: int
    cols: int
    dataflow: str
    m: int
    n: int
    k: int
    conv: tuple[int, ...] | None
    buffers: tuple[int, int, int]
    input_zero_point: int
    weight_zero_point: int
    multiplier: np.ndarray
    shift: np.ndarray
    output_zero_point: int
    clamp_min: int
    clamp_max: int
    output_shape: tuple[int, ...]
    instructions: list[tuple[str, dict[str, int]]]

    @staticmethod
    def from_op(op) -> LayerProgram:
        insts = []
        for inst in op.instructions():
            fields = inst.fields()
            if inst.name == "systolic.matmul":
                fields["accumulate"] = int("accumulate" in inst.attributes)
            insts.append((inst.name.removeprefix("systolic."), fields))
        m, n, k = op.ints("gemm")
        return LayerProgram(
            name=op.layer_name.data, rows=op.ints("array")[0], cols=op.ints("array")[1], dataflow=op.dataflow.data,
            m=m, n=n, k=k, conv=op.ints("conv") if op.conv is not None else None, buffers=op.ints("buffers"),
            input_zero_point=op.int("input_zero_point"), weight_zero_point=op.int("weight_zero_point"),
            multiplier=np.array(op.ints("multiplier"), np.int64), shift=np.array(op.ints("shift"), np.int64),
            output_zero_point=op.int("output_zero_point"), clamp_min=op.int("clamp_min"), clamp_max=op.int("clamp_max"),
            output_shape=tuple(op.outputs[0].type.get_shape()), instructions=insts,
        )  # fmt: skip


@dataclass
class InstructionStats:
    opcode: str
    start: int
    cycles: int
    stall: int = 0
    utilization: float | None = None
    """matmul only: MACs done / (rows · cols · cycles)."""


@dataclass
class LayerStats:
    name: str
    array: tuple[int, int]
    dataflow: str
    gemm: tuple[int, int, int]
    macs: int = 0
    folds: int = 0
    compute_cycles: int = 0
    total_cycles: int = 0
    stall_cycles: int = 0
    sram_reads: dict[str, int] = field(default_factory=lambda: {"ub": 0, "wb": 0, "acc": 0})
    sram_writes: dict[str, int] = field(default_factory=lambda: {"ub": 0, "wb": 0, "acc": 0})
    """Bytes per on-chip buffer: unified buffer, weight buffer, accumulators."""
    dram_reads: dict[str, int] = field(default_factory=lambda: {"ifmap": 0, "weights": 0, "bias": 0})
    dram_writes: dict[str, int] = field(default_factory=lambda: {"ofmap": 0})
    instructions: list[InstructionStats] = field(default_factory=list)

    @property
    def utilization(self) -> float:
        """MACs / (PEs · total cycles): what the layer got out of the array, stalls included."""
        rows, cols = self.array
        return self.macs / (rows * cols * max(self.total_cycles, 1))

    @property
    def compute_utilization(self) -> float:
        """MACs / (PEs · compute cycles): the mapping's efficiency, stalls excluded."""
        rows, cols = self.array
        return self.macs / (rows * cols * max(self.compute_cycles + 1, 1))

    def to_json(self, instructions: bool = True) -> dict:
        data = {
            "name": self.name, "array": list(self.array), "dataflow": self.dataflow, "gemm_mnk": list(self.gemm),
            "macs": self.macs, "folds": self.folds, "compute_cycles": self.compute_cycles,
            "total_cycles": self.total_cycles, "stall_cycles": self.stall_cycles,
            "utilization": self.utilization, "compute_utilization": self.compute_utilization,
            "sram_reads": dict(self.sram_reads), "sram_writes": dict(self.sram_writes),
            "dram_reads": dict(self.dram_reads), "dram_writes": dict(self.dram_writes),
        }  # fmt: skip
        if instructions:
            data["instructions"] = [vars(i) for i in self.instructions]
        return data


def im2col(x: np.ndarray, conv: tuple[int, ...], zero_point: int) -> np.ndarray:
    """The M×K matrix a conv multiplies: rows = output pixels (n, oh, ow), columns (kh, kw, cin);
    padded elements are the input zero point. What the DMA engine gathers from the NHWC input."""
    h, w, cin, kh, kw, sh, sw, dh, dw, pt, pb, pl, pr = conv
    batch = x.shape[0]
    oh = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    ow = (w + pl + pr - (kw - 1) * dw - 1) // sw + 1
    if (kh, kw, sh, sw, pt, pb, pl, pr) == (1, 1, 1, 1, 0, 0, 0, 0):
        return x.reshape(batch * h * w, cin)
    padded = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=zero_point)
    cols = np.empty((batch, oh, ow, kh, kw, cin), np.int8)
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            cols[:, :, :, i, j, :] = padded[:, y0 : y0 + sh * (oh - 1) + 1 : sh, x0 : x0 + sw * (ow - 1) + 1 : sw, :]
    return cols.reshape(batch * oh * ow, kh * kw * cin)


class Simulator:
    """One device: its buffers persist across layers (as on hardware); `run_layer` executes one program."""

    def __init__(self, machine: dict):
        self.machine = machine
        self.rows, self.cols = machine["rows"], machine["cols"]
        self.dram_bpc = float(machine["dram_bytes_per_cycle"])
        self.ub = np.zeros(machine["unified_buffer_bytes"], np.int8)
        self.wb = np.zeros(machine["weight_buffer_bytes"], np.int8)
        self.acc = np.zeros(machine["accumulator_bytes"] // 4, np.int32)

    def run_layer(self, prog: LayerProgram, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, LayerStats]:
        if (prog.rows, prog.cols) != (self.rows, self.cols) or prog.buffers != (self.ub.size, self.wb.size, self.acc.size):
            raise ValueError(f"layer {prog.name} was compiled for another machine")
        a = im2col(x, prog.conv, prog.input_zero_point) if prog.conv is not None else x.reshape(prog.m, prog.k)
        b = w.reshape(prog.k, prog.n)
        out = np.empty((prog.m, prog.n), np.int8)
        stats = LayerStats(prog.name, (self.rows, self.cols), prog.dataflow, (prog.m, prog.n, prog.k))
        per_channel = prog.multiplier.size > 1
        ub, wb, acc = self.ub, self.wb, self.acc
        # Timeline: engine free times and per-tile ready (RAW) / last-read (WAR) times.
        dma_free = array_free = act_free = 0
        ready: dict[tuple[str, int], int] = {}
        read_until: dict[tuple[str, int], int] = {}
        fold_total = 0
        streamed = STREAMED[prog.dataflow]

        def dma(nbytes: int) -> int:
            return max(1, math.ceil(nbytes / self.dram_bpc))

        for opcode, f in prog.instructions:
            if opcode == "read_host_memory":
                mc, kc, addr = f["m_count"], f["k_count"], f["ub_addr"]
                tile = a[f["m_start"] : f["m_start"] + mc, f["k_start"] : f["k_start"] + kc]
                ub[addr : addr + mc * kc] = tile.reshape(-1)
                start = max(dma_free, read_until.get(("ub", addr), 0))
                cycles = dma(mc * kc)
                dma_free = ready[("ub", addr)] = start + cycles
                stats.dram_reads["ifmap"] += mc * kc
                stats.sram_writes["ub"] += mc * kc
            elif opcode == "read_weights":
                kc, nc, addr = f["k_count"], f["n_count"], f["wb_addr"]
                wb[addr : addr + kc * nc] = b[f["k_start"] : f["k_start"] + kc, f["n_start"] : f["n_start"] + nc].reshape(-1)
                start = max(dma_free, read_until.get(("wb", addr), 0))
                cycles = dma(kc * nc)
                dma_free = ready[("wb", addr)] = start + cycles
                stats.dram_reads["weights"] += kc * nc
                stats.sram_writes["wb"] += kc * nc
            elif opcode == "matmul":
                m, k, n = f["m"], f["k"], f["n"]
                ua, wa, aa = f["ub_addr"], f["wb_addr"], f["acc_addr"]
                lhs = ub[ua : ua + m * k].reshape(m, k).astype(np.float64) - prog.input_zero_point
                rhs = wb[wa : wa + k * n].reshape(k, n).astype(np.float64) - prog.weight_zero_point
                product = (lhs @ rhs).astype(np.int64)  # exact: |Σ| ≤ k·255² ≪ 2^53
                tile = acc[aa : aa + m * n]
                if f["accumulate"]:
                    tile[:] = wrap_int32(tile.astype(np.int64) + product.reshape(-1))
                    stats.sram_reads["acc"] += 4 * m * n
                else:
                    tile[:] = wrap_int32(product.reshape(-1))
                operands = max(ready.get(("ub", ua), 0), ready.get(("wb", wa), 0), read_until.get(("acc", aa), 0))
                start = max(array_free, operands)
                cycles = fold_cycles(prog.dataflow, self.rows, self.cols, {"m": m, "n": n, "k": k}[streamed])
                stall = start - array_free
                array_free = start + cycles
                ready[("acc", aa)] = array_free
                read_until[("ub", ua)] = max(read_until.get(("ub", ua), 0), array_free)
                read_until[("wb", wa)] = max(read_until.get(("wb", wa), 0), array_free)
                fold_total += cycles
                stats.folds += 1
                stats.macs += m * n * k
                stats.stall_cycles += stall
                stats.sram_reads["ub"] += m * k
                stats.sram_reads["wb"] += k * n
                stats.sram_writes["acc"] += 4 * m * n
                stats.instructions.append(InstructionStats(opcode, start, cycles, stall, m * n * k / (self.rows * self.cols * cycles)))
                continue
            elif opcode == "activate":
                m, n0, nc, aa, ua = f["m"], f["n_start"], f["n_count"], f["acc_addr"], f["ub_addr"]
                values = acc[aa : aa + m * nc].reshape(m, nc).astype(np.int64)
                if bias is not None:
                    values = wrap_int32(values + bias[n0 : n0 + nc].astype(np.int64))
                    stats.dram_reads["bias"] += 4 * nc
                mult = prog.multiplier[n0 : n0 + nc] if per_channel else prog.multiplier
                shift = prog.shift[n0 : n0 + nc] if per_channel else prog.shift
                q = requantize(values, mult, shift, prog.output_zero_point, prog.clamp_min, prog.clamp_max,
                               axis=1 if per_channel else None)  # fmt: skip
                ub[ua : ua + m * nc] = q.reshape(-1)
                start = max(act_free, ready.get(("acc", aa), 0), read_until.get(("ub", ua), 0))
                cycles = math.ceil(m * nc / self.cols)
                act_free = ready[("ub", ua)] = start + cycles
                read_until[("acc", aa)] = act_free
                stats.sram_reads["acc"] += 4 * m * nc
                stats.sram_writes["ub"] += m * nc
            elif opcode == "write_host_memory":
                mc, nc, ua = f["m_count"], f["n_count"], f["ub_addr"]
                out[f["m_start"] : f["m_start"] + mc, f["n_start"] : f["n_start"] + nc] = ub[ua : ua + mc * nc].reshape(mc, nc)
                start = max(dma_free, ready.get(("ub", ua), 0))
                cycles = dma(mc * nc)
                dma_free = start + cycles
                read_until[("ub", ua)] = max(read_until.get(("ub", ua), 0), dma_free)
                stats.sram_reads["ub"] += mc * nc
                stats.dram_writes["ofmap"] += mc * nc
            elif opcode == "sync":
                start = max(dma_free, array_free, act_free)
                cycles = 0
                dma_free = array_free = act_free = start
            else:
                raise ValueError(f"unknown instruction {opcode}")
            stats.instructions.append(InstructionStats(opcode, start, cycles))
        stats.compute_cycles = fold_total - 1
        stats.total_cycles = max(dma_free, array_free, act_free)
        return out.reshape(prog.output_shape), stats
