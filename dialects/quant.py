"""The `quant` dialect: int8 quantized tensors and ops (TFLite's scheme) — the quantized-IR contract.

Shared by the quantization passes, the ONNX/TF importers of pre-quantized models, the CPU backend's
int8 kernels and the systolic-array backend. Changes to this contract are additive only and are
announced in commit messages starting `quant contract:`.

Scheme: `real = (q − zero_point) · scale`.

Storage. Quantized tensors are ordinary `i8` tensors (`tensor<1x28x28x8xi8>`); accumulators and
biases are `i32` tensors. The parameters are attributes of the ops that make and consume them, so
a dump shows every scale and zero point:
- `scale`: `array<f32: …>` on quantize/dequantize (f32, as TFLite and ONNX store them); the
  arithmetic uses exactly these f32 values. On requantize, `scale` is `array<f64: …>`: the real
  multiplier s_in·s_w[c]/s_out, kept for readers and checked against (multiplier, shift).
- `zero_point`: `array<i64: …>`; other zero points and clamps are `i64` integer attributes.
- Per tensor: one-element arrays and no `axis`. Per axis: `axis = k : i64` (non-negative) and one
  entry per index of dimension k.

Conventions (what the quantize pass produces; importers should too):
- Weights: int8 symmetric (zero point 0), per output channel (per tensor where the op allows only
  that), values in [−127, 127]. Filters are HWIO, so conv weights are per channel along axis 3;
  matmul weights `b[K, N]` along their last axis. The filter's zero point is always 0 (there is
  no filter zero point attribute).
- Activations: int8 asymmetric per tensor, [−128, 127], zero exactly representable.
- Bias: i32 with scale s_in · s_w[c] and zero point 0, one per output channel / column.

Ops (all are graph-level ops: `GraphOp` subclasses with `infer`, printed in the generic graph form
`quant.op operands {attrs} : (types) -> type`):

    %xq = quant.quantize %x {scale = array<f32: 0.0235>, zero_point = array<i64: -3>}
            : (tensor<1x28x28x1xf32>) -> tensor<1x28x28x1xi8>
    %acc = quant.conv2d %xq, %wq, %bq {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>,
             pads = array<i64: 1, 1, 1, 1>, groups = 1 : i64, input_zero_point = -3 : i64}
             : (tensor<1x28x28x1xi8>, tensor<3x3x1x8xi8>, tensor<8xi32>) -> tensor<1x28x28x8xi32>
    %yq = quant.requantize %acc {axis = 3 : i64, multiplier = array<i64: …>, shift = array<i64: …>,
            scale = array<f64: …>, output_zero_point = -128 : i64, clamp_min = -128 : i64,
            clamp_max = 127 : i64} : (tensor<1x28x28x8xi32>) -> tensor<1x28x28x8xi8>
    %y = quant.dequantize %yq {scale = array<f32: 0.05>, zero_point = array<i64: -128>}
            : (tensor<1x28x28x8xi8>) -> tensor<1x28x28x8xf32>

- `quant.quantize %x {scale, zero_point, axis?}`: float → i8:
  `clamp(round_half_even(f32(x) / scale) + zero_point, −128, 127)` (ONNX QuantizeLinear, in f32);
  NaN gives the zero point.
- `quant.dequantize %q {scale, zero_point, axis?}`: i8, or i32 with zero point 0 → f32:
  `f32(q − zero_point) · scale`.
- `quant.conv2d %x, %w[, %bias] {strides, dilations, pads, groups, input_zero_point}`: i8 NHWC ×
  i8 HWIO (I = C / groups) [+ i32 bias[Cout]] → i32 NHWC `Σ (x − zx)·w + bias`. Padded input
  elements count as zx (they contribute 0). Attributes and output shape as `graph.conv2d`
  (depthwise: groups = C).
- `quant.matmul %a, %b[, %bias] {a_zero_point, b_zero_point}`: i8[…, M, K] × i8[…, K, N]
  [+ i32 bias[N]] → i32 `Σ (a − za)(b − zb) + bias`; batch dimensions broadcast as `graph.matmul`.
- Sums in conv2d/matmul are exact and wrap to int32 (two's complement), as i32 hardware does.
- `quant.requantize %acc {multiplier, shift, scale, output_zero_point, clamp_min, clamp_max, axis?}`:
  i32 → i8, exactly TFLite's `MultiplyByQuantizedMultiplier`:
  `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(acc · 2^max(shift, 0), multiplier),
  max(−shift, 0))` (the left shift wraps in i32), then `+ output_zero_point`, then clamp to
  [clamp_min, clamp_max] — the fused activation: none → [−128, 127], relu → [zp_out, 127],
  relu6 → [zp_out, min(127, zp_out + round(6 / s_out))]. `multiplier` ∈ [2^30, 2^31) (or 0),
  `shift` ∈ [−31, 30], and (multiplier, shift) = `quantize_multiplier(scale)` for every entry
  (the verifier checks it).

THE implementation of all this integer arithmetic is `graphc.dialects.quant_arith` (numpy, and
`jax.numpy` under the reference backend): `graphc.dialects.semantics` calls it, and every backend
(CPU int8 kernels, the systolic simulator) is tested bit-exactly against it. Compile-time helpers
live there too: `quantize_multiplier`, `choose_activation_params`, `choose_weight_scales`,
`quantize_weights`, `quantize_bias`.

Fusion (`graphc.dialects.fusion`): `quant.conv2d` / `quant.matmul` are roots of `conv` / `matmul`
regions; `quant.quantize`, `quant.dequantize` and `quant.requantize` are elementwise ops
(`ELEMENTWISE_OPS`), so they can be epilogue ops of those regions (same linear index, in registers)
and members of `loop` regions like any other elementwise op. A quantized layer therefore reads

    %acc = quant.conv2d %xq, %wq, %bq {…}
    %yq = quant.requantize %acc {…relu clamp…}

and fuses into one `conv` region: what the CPU backend runs with int8 kernels and what the systolic
backend lowers to its ISA. Use `quant_params(op)` / `requantize_params(op)` to read the parameters
rather than decoding attributes by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, TensorType, f32, f64, i64
from xdsl.ir import Attribute, Dialect
from xdsl.irdl import (
    attr_def,
    irdl_op_definition,
    operand_def,
    opt_attr_def,
    opt_operand_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.dialects import quant_arith as qa
from graphc.dialects.graph import Attrs, Types

# ---------------------------------------------------------------------------------------------
# Attribute helpers
# ---------------------------------------------------------------------------------------------


def f32_array(values) -> DenseArrayBase:
    return DenseArrayBase.from_list(f32, [float(np.float32(v)) for v in np.asarray(values).reshape(-1)])


def f64_array(values) -> DenseArrayBase:
    return DenseArrayBase.from_list(f64, [float(v) for v in np.asarray(values).reshape(-1)])


def i64_array(values) -> DenseArrayBase:
    return g.ints_attr([int(v) for v in np.asarray(values).reshape(-1)])


def _values(attrs: Attrs, name: str) -> tuple:
    attr = attrs[name]
    if not isinstance(attr, DenseArrayBase):
        raise VerifyException(f"{name} must be a dense array, got {attr}")
    return tuple(attr.get_values())


def _axis(attrs: Attrs) -> int | None:
    return g.get_int(attrs, "axis") if "axis" in attrs else None


@dataclass(frozen=True)
class QuantParams:
    """Scale and zero point per tensor (one entry, axis None) or per index of `axis`."""

    scale: np.ndarray  # float32
    zero_point: np.ndarray  # int64
    axis: int | None = None

    def attributes(self) -> dict[str, Attribute]:
        attrs: dict[str, Attribute] = {"scale": f32_array(self.scale), "zero_point": i64_array(self.zero_point)}
        if self.axis is not None:
            attrs["axis"] = g.int_attr(self.axis)
        return attrs


@dataclass(frozen=True)
class RequantizeParams:
    multiplier: np.ndarray  # int64, values of int32
    shift: np.ndarray  # int64
    scale: np.ndarray  # float64: the real multipliers
    output_zero_point: int
    clamp_min: int
    clamp_max: int
    axis: int | None = None

    @staticmethod
    def from_scale(scale, output_zero_point: int, clamp_min: int = qa.INT8_MIN, clamp_max: int = qa.INT8_MAX,
                   axis: int | None = None) -> RequantizeParams:  # fmt: skip
        """Parameters for real multipliers `scale` (computed with `quant_arith.quantize_multiplier`)."""
        scale = np.asarray(scale, np.float64).reshape(-1)
        multiplier, shift = qa.quantize_multipliers(scale)
        return RequantizeParams(np.asarray(multiplier, np.int64), np.asarray(shift, np.int64), scale,
                                int(output_zero_point), int(clamp_min), int(clamp_max), axis)  # fmt: skip

    def attributes(self) -> dict[str, Attribute]:
        attrs: dict[str, Attribute] = {
            "multiplier": i64_array(self.multiplier),
            "shift": i64_array(self.shift),
            "scale": f64_array(self.scale),
            "output_zero_point": g.int_attr(self.output_zero_point),
            "clamp_min": g.int_attr(self.clamp_min),
            "clamp_max": g.int_attr(self.clamp_max),
        }
        if self.axis is not None:
            attrs["axis"] = g.int_attr(self.axis)
        return attrs


def quant_params(op: g.GraphOp) -> QuantParams:
    """The (scale, zero point, axis) of a `quant.quantize` or `quant.dequantize`."""
    attrs = op.attrs()
    return QuantParams(np.asarray(_values(attrs, "scale"), np.float32),
                       np.asarray(_values(attrs, "zero_point"), np.int64), _axis(attrs))  # fmt: skip


def requantize_params(op: g.GraphOp) -> RequantizeParams:
    attrs = op.attrs()
    return RequantizeParams(
        np.asarray(_values(attrs, "multiplier"), np.int64),
        np.asarray(_values(attrs, "shift"), np.int64),
        np.asarray(_values(attrs, "scale"), np.float64),
        g.get_int(attrs, "output_zero_point"),
        g.get_int(attrs, "clamp_min"),
        g.get_int(attrs, "clamp_max"),
        _axis(attrs),
    )


def _check_int8(name: str, what: str, value: int) -> None:
    if not qa.INT8_MIN <= value <= qa.INT8_MAX:
        raise VerifyException(f"{name}: {what} {value} is outside [-128, 127]")


def _check_axis(name: str, shape: Sequence[int], axis: int | None, count: int) -> None:
    if axis is None:
        if count != 1:
            raise VerifyException(f"{name}: {count} per-axis parameters need an `axis` attribute")
        return
    if not 0 <= axis < len(shape):
        raise VerifyException(f"{name}: axis {axis} is out of range for rank {len(shape)}")
    if count != shape[axis]:
        raise VerifyException(f"{name}: {count} parameters for dimension {axis} of size {shape[axis]}")


def _check_params(name: str, shape: Sequence[int], attrs: Attrs) -> QuantParams:
    scale = np.asarray(_values(attrs, "scale"), np.float64)
    zero = np.asarray(_values(attrs, "zero_point"), np.int64)
    if attrs["scale"].elt_type != f32:
        raise VerifyException(f"{name}: scale must be array<f32: ...>")
    if len(scale) != len(zero):
        raise VerifyException(f"{name}: {len(scale)} scales but {len(zero)} zero points")
    if not np.all(np.isfinite(scale) & (scale > 0)):
        raise VerifyException(f"{name}: scales must be finite and positive, got {list(scale)}")
    axis = _axis(attrs)
    _check_axis(name, shape, axis, len(scale))
    return QuantParams(scale.astype(np.float32), zero, axis)


# ---------------------------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------------------------


class ScaleZeroPointOp(g.GraphOp):
    """A one-operand op with a `scale`/`zero_point` pair, per tensor or per `axis`."""

    input = operand_def(TensorType)
    result = result_def(TensorType)
    scale = attr_def(DenseArrayBase)
    zero_point = attr_def(DenseArrayBase)
    axis = opt_attr_def(IntegerAttr)
    traits = traits_def(Pure())


@irdl_op_definition
class QuantizeOp(ScaleZeroPointOp):
    """float → i8: clamp(round_half_even(x / scale) + zero_point, −128, 127)."""

    name = "quant.quantize"

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        if not dtypes.is_float(t.element_type):
            raise VerifyException(f"quant.quantize needs a floating-point tensor, got {t}")
        params = _check_params(cls.name, g.shape_of(t), attrs)
        for z in params.zero_point:
            _check_int8(cls.name, "zero point", int(z))
        return [dtypes.tensor(g.shape_of(t), dtypes.i8)]


@irdl_op_definition
class DequantizeOp(ScaleZeroPointOp):
    """i8 (or i32 with zero point 0) → f32: (q − zero_point) · scale."""

    name = "quant.dequantize"

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        params = _check_params(cls.name, g.shape_of(t), attrs)
        if t.element_type == dtypes.i8:
            for z in params.zero_point:
                _check_int8(cls.name, "zero point", int(z))
        elif t.element_type == dtypes.i32:
            if np.any(params.zero_point != 0):
                raise VerifyException("quant.dequantize: an i32 input has zero point 0")
        else:
            raise VerifyException(f"quant.dequantize needs an i8 or i32 tensor, got {t}")
        return [dtypes.tensor(g.shape_of(t), dtypes.f32)]


@irdl_op_definition
class RequantizeOp(g.GraphOp):
    """i32 accumulators → i8 with a fixed-point multiplier and shift (TFLite), zero point, clamp."""

    name = "quant.requantize"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    multiplier = attr_def(DenseArrayBase)
    shift = attr_def(DenseArrayBase)
    scale = attr_def(DenseArrayBase)
    output_zero_point = attr_def(IntegerAttr)
    clamp_min = attr_def(IntegerAttr)
    clamp_max = attr_def(IntegerAttr)
    axis = opt_attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        if t.element_type != dtypes.i32:
            raise VerifyException(f"quant.requantize needs an i32 tensor, got {t}")
        multiplier = [int(v) for v in _values(attrs, "multiplier")]
        shift = [int(v) for v in _values(attrs, "shift")]
        scale = [float(v) for v in _values(attrs, "scale")]
        if not len(multiplier) == len(shift) == len(scale):
            raise VerifyException(
                f"quant.requantize: {len(multiplier)} multipliers, {len(shift)} shifts, {len(scale)} scales"
            )
        _check_axis(cls.name, g.shape_of(t), _axis(attrs), len(scale))
        for m, s, real in zip(multiplier, shift, scale):
            try:
                expected = qa.quantize_multiplier(real)
            except ValueError as err:
                raise VerifyException(f"quant.requantize: {err}") from err
            if (m, s) != expected:
                raise VerifyException(
                    f"quant.requantize: (multiplier, shift) = ({m}, {s}) does not encode scale {real!r} "
                    f"(expected {expected})"
                )
        zp, lo, hi = (g.get_int(attrs, k) for k in ("output_zero_point", "clamp_min", "clamp_max"))
        _check_int8(cls.name, "output zero point", zp)
        _check_int8(cls.name, "clamp_min", lo)
        _check_int8(cls.name, "clamp_max", hi)
        if lo > hi:
            raise VerifyException(f"quant.requantize: clamp_min {lo} > clamp_max {hi}")
        return [dtypes.tensor(g.shape_of(t), dtypes.i8)]


def _check_bias(name: str, bias: TensorType | None, channels: int) -> None:
    if bias is not None and (bias.element_type != dtypes.i32 or g.shape_of(bias) != (channels,)):
        raise VerifyException(f"{name}: bias must be tensor<{channels}xi32>, got {bias}")


def _check_i8(name: str, *types: TensorType) -> None:
    for t in types:
        if t.element_type != dtypes.i8:
            raise VerifyException(f"{name} needs i8 operands, got {t}")


@irdl_op_definition
class Conv2DOp(g.GraphOp):
    """i8 NHWC × i8 HWIO [+ i32 bias] → i32: Σ (x − input_zero_point)·w + bias."""

    name = "quant.conv2d"
    input = operand_def(TensorType)
    filter = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    strides = attr_def(DenseArrayBase)
    dilations = attr_def(DenseArrayBase)
    pads = attr_def(DenseArrayBase)
    groups = attr_def(IntegerAttr)
    input_zero_point = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        x, w, *bias = operand_types
        _check_i8(cls.name, x, w)
        _check_int8(cls.name, "input zero point", g.get_int(attrs, "input_zero_point"))
        conv_attrs = {k: attrs[k] for k in ("strides", "dilations", "pads", "groups")}
        (out,) = g.Conv2DOp.infer([x, w], conv_attrs)
        _check_bias(cls.name, bias[0] if bias else None, g.shape_of(w)[3])
        return [dtypes.tensor(g.shape_of(out), dtypes.i32)]


@irdl_op_definition
class MatMulOp(g.GraphOp):
    """i8[…, M, K] × i8[…, K, N] [+ i32 bias[N]] → i32: Σ (a − za)(b − zb) + bias."""

    name = "quant.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    a_zero_point = attr_def(IntegerAttr)
    b_zero_point = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        a, b, *bias = operand_types
        _check_i8(cls.name, a, b)
        _check_int8(cls.name, "a_zero_point", g.get_int(attrs, "a_zero_point"))
        _check_int8(cls.name, "b_zero_point", g.get_int(attrs, "b_zero_point"))
        (out,) = g.MatMulOp.infer([a, b], {})
        _check_bias(cls.name, bias[0] if bias else None, g.shape_of(b)[-1])
        return [dtypes.tensor(g.shape_of(out), dtypes.i32)]


QUANT_OPS = [QuantizeOp, DequantizeOp, RequantizeOp, Conv2DOp, MatMulOp]
Quant = Dialect("quant", QUANT_OPS, [])


def conv_params(op: Conv2DOp) -> dict:
    """Keyword arguments of `quant_arith.conv2d` for a `quant.conv2d`."""
    attrs = op.attrs()
    return {
        "input_zero_point": g.get_int(attrs, "input_zero_point"),
        "strides": g.get_ints(attrs, "strides"),
        "dilations": g.get_ints(attrs, "dilations"),
        "pads": g.get_ints(attrs, "pads"),
        "groups": g.get_int(attrs, "groups"),
    }


def matmul_params(op: MatMulOp) -> dict:
    attrs = op.attrs()
    return {"a_zero_point": g.get_int(attrs, "a_zero_point"), "b_zero_point": g.get_int(attrs, "b_zero_point")}
