"""The `systolic` dialect: the ISA of graphc's TPU-style systolic-array target.

A `systolic.layer` replaces one int8 `conv`/`matmul` fusion region in `@main` (the host/device split is
visible in the IR: everything else stays a `fusion.region` run by the CPU backend). Its operands are the
layer's host tensors — 0: the int8 activations (NHWC for a conv, [..., M, K] for a matmul), 1: the int8
weights (HWIO, or [K, N]), 2 (optional): the int32 bias [N] — and its result is the int8 output. The
attributes fix the GEMM it computes, A[M×K]·B[K×N] with A the im2col matrix of the input (rows = output
pixels, columns in (kh, kw, cin) order, padded elements = the input zero point) and B the weights as a
K×N matrix, and the requantization epilogue (exactly `quant.requantize`: per-channel or per-tensor
`multiplier`/`shift`, `output_zero_point`, clamp). The body is the program, instructions in issue order:

    %y = systolic.layer "fusion_4" (%x, %w, %b) {array = array<i64: 128, 128>, dataflow = "ws",
             gemm = array<i64: 2304, 16, 27>, conv = array<i64: 96, 96, 3, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1>,
             buffers = array<i64: ub, wb, acc>, input_zero_point = -3 : i64, weight_zero_point = 0 : i64,
             multiplier = array<i64: ...>, shift = array<i64: ...>, output_zero_point = -128 : i64,
             clamp_min = -128 : i64, clamp_max = 127 : i64} : (...) -> tensor<1x48x48x16xi8> {
      systolic.read_host_memory {m_start = 0, m_count = 2048, k_start = 0, k_count = 27, ub_addr = 0}
      systolic.read_weights {k_start = 0, k_count = 27, n_start = 0, n_count = 16, wb_addr = 0}
      systolic.matmul {ub_addr = 0, wb_addr = 0, acc_addr = 0, m = 2048, k = 27, n = 16}
      systolic.activate {acc_addr = 0, m = 2048, n_start = 0, n_count = 16, ub_addr = 55296}
      systolic.write_host_memory {ub_addr = 55296, m_start = 0, m_count = 2048, n_start = 0, n_count = 16}
      ...
      systolic.sync
    }

Instructions (addresses in elements of the buffer: bytes in the unified buffer `ub` and the weight
buffer `wb`, int32 entries in the accumulators `acc`; tiles are row-major):
- `read_host_memory`: DMA A[m_start:+m_count, k_start:+k_count] (gathered through im2col for a conv)
  from host DRAM into ub[ub_addr].
- `read_weights`: DMA B[k_start:+k_count, n_start:+n_count] from DRAM into wb[wb_addr].
- `matmul`: acc[acc_addr] (m×n int32) = (`accumulate`: +=) (A_tile − input_zero_point)·(B_tile −
  weight_zero_point) over the m×k tile at ub[ub_addr] and the k×n tile at wb[wb_addr]. One fold on the
  array: the tile must fit the dataflow's pinned dimensions (ws: k ≤ rows, n ≤ cols; os: m ≤ rows,
  n ≤ cols; is: k ≤ rows, m ≤ cols); the other one streams (`graphc.runtime.systolic.cycles`).
- `activate`: ub[ub_addr] (m×n_count int8) = requantize(acc[acc_addr] + bias[n_start:+n_count]) with the
  layer's parameters for channels n_start.. (clamp = the fused activation).
- `write_host_memory`: DMA ub[ub_addr] (m_count×n_count) to the output's rows m_start.., columns n_start...
- `sync`: wait until every instruction issued before it has finished (DMA, array, activation unit).

The verifier checks every tile against the array, the GEMM bounds and the buffer sizes
(`buffers = [ub bytes, wb bytes, acc entries]`). `graphc.runtime.systolic.simulator` executes the body.
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, IntegerType, StringAttr, TensorType, UnitAttr
from xdsl.ir import Dialect, Operation
from xdsl.irdl import (
    IRDLOperation,
    attr_def,
    irdl_op_definition,
    lazy_traits_def,
    opt_attr_def,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import HasParent, IsolatedFromAbove, NoTerminator
from xdsl.utils.exceptions import VerifyException

DATAFLOWS = ("ws", "os", "is")


class Instruction(IRDLOperation):
    """An ISA instruction: attributes only, inside a `systolic.layer` body."""

    FIELDS: ClassVar[tuple[str, ...]] = ()
    assembly_format = "attr-dict"

    def field(self, name: str) -> int:
        return self.attributes[name].value.data

    def fields(self) -> dict[str, int]:
        return {f: self.field(f) for f in self.FIELDS}

    def verify_(self) -> None:
        for f in self.FIELDS:
            attr = self.attributes.get(f)
            if not isinstance(attr, IntegerAttr):
                raise VerifyException(f"{self.name}: integer attribute '{f}' is missing")
            if attr.value.data < 0:
                raise VerifyException(f"{self.name}: '{f}' must be non-negative, got {attr.value.data}")
        for f in self.FIELDS:
            if f in ("m", "k", "n") or f.endswith("_count"):
                if self.field(f) < 1:
                    raise VerifyException(f"{self.name}: '{f}' must be at least 1")


def _parent_trait():
    return (HasParent(LayerOp),)


@irdl_op_definition
class ReadHostMemoryOp(Instruction):
    name = "systolic.read_host_memory"
    FIELDS: ClassVar[tuple[str, ...]] = ("m_start", "m_count", "k_start", "k_count", "ub_addr")
    traits = lazy_traits_def(_parent_trait)


@irdl_op_definition
class ReadWeightsOp(Instruction):
    name = "systolic.read_weights"
    FIELDS: ClassVar[tuple[str, ...]] = ("k_start", "k_count", "n_start", "n_count", "wb_addr")
    traits = lazy_traits_def(_parent_trait)


@irdl_op_definition
class MatmulOp(Instruction):
    name = "systolic.matmul"
    FIELDS: ClassVar[tuple[str, ...]] = ("ub_addr", "wb_addr", "acc_addr", "m", "k", "n")
    accumulate = opt_attr_def(UnitAttr)
    traits = lazy_traits_def(_parent_trait)


@irdl_op_definition
class ActivateOp(Instruction):
    name = "systolic.activate"
    FIELDS: ClassVar[tuple[str, ...]] = ("acc_addr", "m", "n_start", "n_count", "ub_addr")
    traits = lazy_traits_def(_parent_trait)


@irdl_op_definition
class WriteHostMemoryOp(Instruction):
    name = "systolic.write_host_memory"
    FIELDS: ClassVar[tuple[str, ...]] = ("ub_addr", "m_start", "m_count", "n_start", "n_count")
    traits = lazy_traits_def(_parent_trait)


@irdl_op_definition
class SyncOp(Instruction):
    name = "systolic.sync"
    traits = lazy_traits_def(_parent_trait)


INSTRUCTIONS = (ReadHostMemoryOp, ReadWeightsOp, MatmulOp, ActivateOp, WriteHostMemoryOp, SyncOp)


def int_attr(value: int) -> IntegerAttr:
    return IntegerAttr(int(value), IntegerType(64))


def make_instruction(cls: type[Instruction], accumulate: bool = False, **fields: int) -> Instruction:
    attrs = {k: int_attr(v) for k, v in fields.items()}
    if accumulate:
        attrs["accumulate"] = UnitAttr()
    return cls.create(attributes=attrs)


CONV_FIELDS = ("h", "w", "cin", "kh", "kw", "sh", "sw", "dh", "dw", "pt", "pb", "pl", "pr")


@irdl_op_definition
class LayerOp(IRDLOperation):
    """One int8 GEMM/conv layer with its requantization epilogue, as a program for the array."""

    name = "systolic.layer"
    inputs = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)
    layer_name = attr_def(StringAttr, attr_name="name")
    array = attr_def(DenseArrayBase)
    dataflow = attr_def(StringAttr)
    gemm = attr_def(DenseArrayBase)
    conv = opt_attr_def(DenseArrayBase)
    buffers = attr_def(DenseArrayBase)
    input_zero_point = attr_def(IntegerAttr)
    weight_zero_point = attr_def(IntegerAttr)
    multiplier = attr_def(DenseArrayBase)
    shift = attr_def(DenseArrayBase)
    output_zero_point = attr_def(IntegerAttr)
    clamp_min = attr_def(IntegerAttr)
    clamp_max = attr_def(IntegerAttr)
    body = region_def("single_block")
    traits = traits_def(IsolatedFromAbove(), NoTerminator())

    assembly_format = "$name `(` $inputs `)` attr-dict `:` functional-type($inputs, $outputs) $body"

    def ints(self, key: str) -> tuple[int, ...]:
        return tuple(int(v) for v in self.attributes[key].get_values())

    def int(self, key: str) -> int:
        return self.attributes[key].value.data

    def instructions(self) -> list[Instruction]:
        return list(self.body.block.ops)

    def verify_(self) -> None:
        where = f"systolic.layer {self.layer_name.data}"
        rows, cols = self.ints("array")
        m, n, k = self.ints("gemm")
        ub, wb, acc = self.ints("buffers")
        df = self.dataflow.data
        if df not in DATAFLOWS:
            raise VerifyException(f"{where}: unknown dataflow '{df}' (one of {', '.join(DATAFLOWS)})")
        if min(rows, cols, m, n, k) < 1:
            raise VerifyException(f"{where}: array and gemm dimensions must be positive")
        if len(self.inputs) not in (2, 3) or len(self.outputs) != 1:
            raise VerifyException(f"{where}: takes (input, weights[, bias]) and gives one output")
        types = [v.type for v in self.inputs] + [self.outputs[0].type]
        expected = [8, 8, 32][: len(self.inputs)] + [8]
        for t, width in zip(types, expected):
            el = t.get_element_type()
            if not isinstance(el, IntegerType) or el.width.data != width:
                raise VerifyException(f"{where}: operand/result types must be i8, i8, (i32,) -> i8, got {t}")
        w_elems = _elements(self.inputs[1].type)
        if w_elems != k * n:
            raise VerifyException(f"{where}: weights have {w_elems} elements, the GEMM needs K×N = {k * n}")
        if _elements(self.outputs[0].type) != m * n:
            raise VerifyException(f"{where}: the output has {_elements(self.outputs[0].type)} elements, not M×N = {m * n}")
        if len(self.inputs) == 3 and _elements(self.inputs[2].type) != n:
            raise VerifyException(f"{where}: the bias must have N = {n} elements")
        if self.conv is not None:
            if len(self.ints("conv")) != len(CONV_FIELDS):
                raise VerifyException(f"{where}: conv must list {', '.join(CONV_FIELDS)}")
        elif _elements(self.inputs[0].type) != m * k:
            raise VerifyException(f"{where}: the input has {_elements(self.inputs[0].type)} elements, not M×K = {m * k}")
        for key in ("multiplier", "shift"):
            if len(self.ints(key)) not in (1, n):
                raise VerifyException(f"{where}: {key} must have 1 or N = {n} values")
        if not -128 <= self.int("clamp_min") <= self.int("clamp_max") <= 127:
            raise VerifyException(f"{where}: the clamp must be an int8 range")
        for inst in self.instructions():
            if not isinstance(inst, INSTRUCTIONS):
                raise VerifyException(f"{where}: {inst.name} is not a systolic instruction")
            _verify_instruction(where, inst, df, rows, cols, (m, n, k), (ub, wb, acc))


def _elements(t) -> int:
    count = 1
    for d in t.get_shape():
        count *= d
    return count


def _verify_instruction(where, inst, df, rows, cols, gemm, sizes) -> None:
    m, n, k = gemm
    ub, wb, acc = sizes
    f = inst.fields()

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise VerifyException(f"{where}: {inst.name} {what}")

    if isinstance(inst, ReadHostMemoryOp):
        need(f["m_start"] + f["m_count"] <= m and f["k_start"] + f["k_count"] <= k, "reads outside A[M×K]")
        need(f["ub_addr"] + f["m_count"] * f["k_count"] <= ub, "overflows the unified buffer")
    elif isinstance(inst, ReadWeightsOp):
        need(f["k_start"] + f["k_count"] <= k and f["n_start"] + f["n_count"] <= n, "reads outside B[K×N]")
        need(f["wb_addr"] + f["k_count"] * f["n_count"] <= wb, "overflows the weight buffer")
    elif isinstance(inst, MatmulOp):
        pinned = {"ws": (("k", rows), ("n", cols)), "os": (("m", rows), ("n", cols)), "is": (("k", rows), ("m", cols))}[df]
        for dim, limit in pinned:
            need(f[dim] <= limit, f"tile {dim} = {f[dim]} exceeds the array ({limit}) for dataflow {df}")
        need(f["ub_addr"] + f["m"] * f["k"] <= ub, "reads past the unified buffer")
        need(f["wb_addr"] + f["k"] * f["n"] <= wb, "reads past the weight buffer")
        need(f["acc_addr"] + f["m"] * f["n"] <= acc, "overflows the accumulators")
    elif isinstance(inst, ActivateOp):
        need(f["n_start"] + f["n_count"] <= n, "activates channels outside N")
        need(f["acc_addr"] + f["m"] * f["n_count"] <= acc, "reads past the accumulators")
        need(f["ub_addr"] + f["m"] * f["n_count"] <= ub, "overflows the unified buffer")
    elif isinstance(inst, WriteHostMemoryOp):
        need(f["m_start"] + f["m_count"] <= m and f["n_start"] + f["n_count"] <= n, "writes outside the output")
        need(f["ub_addr"] + f["m_count"] * f["n_count"] <= ub, "reads past the unified buffer")


Systolic = Dialect("systolic", [LayerOp, *INSTRUCTIONS], [])
