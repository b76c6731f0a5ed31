"""Tiling one int8 GEMM (A[M×K]·B[K×N] + requantize) to the array and its SRAMs, as a `systolic.layer`.

Takes the layer's operands, result type, GEMM sizes, optional conv geometry and requantization
parameters; leaves a verified `systolic.layer` op whose body is the instruction stream. Tiles:

- the array pins two GEMM dimensions per fold and streams the third (`cycles.fold_shape`): ws folds
  are K≤rows × N≤cols weight tiles streaming M rows, os folds M≤rows × N≤cols output tiles streaming K,
  is folds K≤rows × M≤cols input tiles streaming N;
- the streamed dimension is chunked only as far as the SRAMs require: two A tiles and two output tiles
  in the unified buffer, two B tiles in the weight buffer, two output blocks in the accumulators
  (double buffering: the DMA fills one slot while the array works on the other). So a layer that fits
  runs exactly SCALE-Sim's folds (`cycles.compute_cycles`), and one that does not pays for its extra
  folds honestly.

Output blocks go N-tile-major, K innermost (partial sums stay in the accumulators until the block is
activated). A tile already resident in a slot is not read again. Each block's write-back is issued
after the next block's first reads, so the single DMA queue prefetches ahead of the array.
"""

from __future__ import annotations

from xdsl.dialects.builtin import DenseArrayBase, IntegerType, StringAttr
from xdsl.ir import Block, Region

from graphc.backends.systolic.machine import Machine
from graphc.dialects import systolic as s
from graphc.errors import GraphcError


def tile_sizes(m: int, n: int, k: int, machine: Machine) -> tuple[int, int, int]:
    """(m_step, n_step, k_step): the tile of one `matmul` instruction."""
    rows, cols = machine.rows, machine.cols
    ub, wb, acc = machine.unified_buffer_bytes, machine.weight_buffer_bytes, machine.accumulator_entries
    df = machine.dataflow
    if df == "ws":
        n_step, k_step = min(cols, n), min(rows, k)
        m_step = min(m, acc // (2 * n_step), ub // (2 * (k_step + n_step)))
    elif df == "os":
        m_step, n_step = min(rows, m), min(cols, n)
        k_step = min(k, (ub - 2 * m_step * n_step) // (2 * m_step), wb // (2 * n_step))
    else:
        m_step, k_step = min(cols, m), min(rows, k)
        n_step = min(n, acc // (2 * m_step), wb // (2 * k_step), (ub - 2 * m_step * k_step) // (2 * m_step))
    if min(m_step, n_step, k_step) < 1:
        raise GraphcError(f"systolic: the SRAMs of {machine.name} are too small for a {machine.rows}x{machine.cols} tile")
    return m_step, n_step, k_step


class _Slots:
    """Two slots of one buffer: which tile each holds, and which was used last."""

    def __init__(self, base: int, size: int):
        self.addrs = [base, base + size]
        self.holds: list[tuple | None] = [None, None]
        self.last = 1

    def find(self, key: tuple) -> tuple[int, bool]:
        """(address, already resident) for a tile."""
        if key in self.holds:
            self.last = self.holds.index(key)
            return self.addrs[self.last], True
        self.last = 1 - self.last
        self.holds[self.last] = key
        return self.addrs[self.last], False


def emit_program(m: int, n: int, k: int, machine: Machine) -> list[s.Instruction]:
    m_step, n_step, k_step = tile_sizes(m, n, k, machine)
    a_slots = _Slots(0, m_step * k_step)
    out_slots = _Slots(2 * m_step * k_step, m_step * n_step)
    b_slots = _Slots(0, k_step * n_step)
    acc_slots = _Slots(0, m_step * n_step)
    program: list[s.Instruction] = []
    pending_write: s.Instruction | None = None
    block = 0
    for n0 in range(0, n, n_step):
        nc = min(n_step, n - n0)
        for m0 in range(0, m, m_step):
            mc = min(m_step, m - m0)
            acc_addr, _ = acc_slots.find(("block", block))
            for ki, k0 in enumerate(range(0, k, k_step)):
                kc = min(k_step, k - k0)
                ua, resident = a_slots.find((m0, k0))
                if not resident:
                    program.append(s.make_instruction(s.ReadHostMemoryOp, m_start=m0, m_count=mc, k_start=k0, k_count=kc, ub_addr=ua))
                wa, resident = b_slots.find((k0, n0))
                if not resident:
                    program.append(s.make_instruction(s.ReadWeightsOp, k_start=k0, k_count=kc, n_start=n0, n_count=nc, wb_addr=wa))
                if pending_write is not None:
                    program.append(pending_write)
                    pending_write = None
                program.append(s.make_instruction(s.MatmulOp, accumulate=ki > 0, ub_addr=ua, wb_addr=wa,
                                                  acc_addr=acc_addr, m=mc, k=kc, n=nc))  # fmt: skip
            out_addr, _ = out_slots.find(("block", block))
            program.append(s.make_instruction(s.ActivateOp, acc_addr=acc_addr, m=mc, n_start=n0, n_count=nc, ub_addr=out_addr))
            pending_write = s.make_instruction(s.WriteHostMemoryOp, ub_addr=out_addr, m_start=m0, m_count=mc, n_start=n0, n_count=nc)
            block += 1
    program.append(pending_write)
    program.append(s.SyncOp.create())
    return program


def build_layer(name: str, operands, result_type, gemm: tuple[int, int, int], conv: tuple[int, ...] | None,
                input_zero_point: int, weight_zero_point: int, multiplier, shift, output_zero_point: int,
                clamp: tuple[int, int], machine: Machine) -> s.LayerOp:  # fmt: skip
    m, n, k = gemm
    i64 = IntegerType(64)
    attrs = {
        "name": StringAttr(name),
        "array": DenseArrayBase.from_list(i64, [machine.rows, machine.cols]),
        "dataflow": StringAttr(machine.dataflow),
        "gemm": DenseArrayBase.from_list(i64, [m, n, k]),
        "buffers": DenseArrayBase.from_list(i64, [machine.unified_buffer_bytes, machine.weight_buffer_bytes, machine.accumulator_entries]),
        "input_zero_point": s.int_attr(input_zero_point),
        "weight_zero_point": s.int_attr(weight_zero_point),
        "multiplier": DenseArrayBase.from_list(i64, [int(v) for v in multiplier]),
        "shift": DenseArrayBase.from_list(i64, [int(v) for v in shift]),
        "output_zero_point": s.int_attr(output_zero_point),
        "clamp_min": s.int_attr(clamp[0]),
        "clamp_max": s.int_attr(clamp[1]),
    }
    if conv is not None:
        attrs["conv"] = DenseArrayBase.from_list(i64, list(conv))
    body = Region(Block(emit_program(m, n, k, machine)))
    op = s.LayerOp.create(operands=list(operands), result_types=[result_type], attributes=attrs, regions=[body])
    op.verify()
    return op
