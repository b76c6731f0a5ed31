"""The `graph` dialect: framework-neutral tensor operations with static shapes.

Front ends produce only this dialect; every backend consumes it. Each op declares its operands and
attributes, and a class method `infer(operand_types, attributes)` that computes its result types. The
shared verifier checks that the result types an op carries are exactly the inferred ones, so a graph
that verifies is shape-correct, and `infer-shapes` can recompute every type after an edit.

Conventions (chosen once, for all front ends):
- Numpy broadcasting for every elementwise op with more than one operand.
- Images are NHWC; convolution filters are HWIO with I = input channels / groups.
- Integer division (`graph.div` on integers) truncates toward zero; `graph.floor_div` and
  `graph.floor_mod` round toward negative infinity (Python semantics); `graph.rem` is the
  truncated remainder (C `fmod`). An integer division or remainder by zero gives 0.
- `graph.and/or/xor/not` are logical on i1 and bitwise on integers.
- Weights are `graph.constant` ops whose value is a `dense_resource<name>`; the blobs live in a
  `WeightStore` beside the module, never in the IR text. Small constants may be inline `dense<...>`.

The executable meaning of every op is `graphc.dialects.semantics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    AnyFloat,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    f64,
    i64,
)
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    irdl_op_definition,
    opt_attr_def,
    attr_def,
    operand_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

from graphc.dialects import dtypes

Types = Sequence[TensorType]
Attrs = dict[str, Attribute]


# ---------------------------------------------------------------------------------------------
# Attribute helpers
# ---------------------------------------------------------------------------------------------


def ints_attr(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def int_attr(value: int) -> IntegerAttr:
    return IntegerAttr(int(value), i64)


def float_attr(value: float) -> FloatAttr:
    return FloatAttr(float(value), f64)


def str_attr(value: str) -> StringAttr:
    return StringAttr(value)


def get_ints(attrs: Attrs, name: str) -> tuple[int, ...]:
    attr = attrs[name]
    assert isinstance(attr, DenseArrayBase)
    return tuple(int(v) for v in attr.get_values())


def get_int(attrs: Attrs, name: str) -> int:
    attr = attrs[name]
    assert isinstance(attr, IntegerAttr)
    return int(attr.value.data)


def get_float(attrs: Attrs, name: str) -> float:
    attr = attrs[name]
    assert isinstance(attr, FloatAttr)
    return float(attr.value.data)


def get_str(attrs: Attrs, name: str) -> str:
    attr = attrs[name]
    assert isinstance(attr, StringAttr)
    return attr.data


def shape_of(t: Attribute) -> tuple[int, ...]:
    assert isinstance(t, TensorType), f"expected a tensor type, got {t}"
    return tuple(int(d) for d in t.get_shape())


def element_of(t: Attribute) -> Attribute:
    assert isinstance(t, TensorType)
    return t.element_type


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for s in shapes:
        padded = [1] * (rank - len(s)) + list(s)
        for i, d in enumerate(padded):
            if d == 1:
                continue
            if out[i] not in (1, d):
                raise VerifyException(f"shapes {[tuple(x) for x in shapes]} do not broadcast")
            out[i] = d
    return tuple(out)


def normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise VerifyException(f"axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


# ---------------------------------------------------------------------------------------------
# Base classes
# ---------------------------------------------------------------------------------------------


class GraphOp(IRDLOperation):
    """Common base: printing format, inference-backed verification and construction."""

    assembly_format = "operands attr-dict `:` functional-type(operands, results)"

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        raise NotImplementedError(f"{cls.name} has no shape inference")

    @classmethod
    def make(cls, operands: Sequence[SSAValue | Operation], **attrs: Attribute):
        """Create the op with inferred result types (the way front ends and passes make ops)."""
        values = [SSAValue.get(o) for o in operands]
        attributes = {k: v for k, v in attrs.items() if v is not None}
        result_types = cls.infer([v.type for v in values], attributes)
        return cls.create(
            operands=values,
            result_types=result_types,
            attributes=attributes,
        )

    def attrs(self) -> Attrs:
        return dict(self.attributes)

    def verify_(self) -> None:
        for value in self.operands:
            if not isinstance(value.type, TensorType):
                raise VerifyException(f"{self.name}: operand of type {value.type} is not a tensor")
        try:
            expected = self.infer([v.type for v in self.operands], self.attrs())
        except (AssertionError, KeyError, ValueError, IndexError) as err:
            raise VerifyException(f"{self.name}: invalid operands or attributes: {err}") from err
        actual = [r.type for r in self.results]
        if list(expected) != actual:
            raise VerifyException(
                f"{self.name}: result types {[str(t) for t in actual]} differ from the inferred "
                f"{[str(t) for t in expected]}"
            )


class ElementwiseUnary(GraphOp):
    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())

    FLOAT_ONLY: ClassVar[bool] = True

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        if cls.FLOAT_ONLY and not dtypes.is_float(t.element_type):
            raise VerifyException(f"{cls.name} needs a floating-point tensor, got {t}")
        return [t]


class ElementwiseBinary(GraphOp):
    """Numpy-broadcasting binary op; both operands have the same element type."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())

    RESULT_IS_BOOL: ClassVar[bool] = False

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        a, b = operand_types
        if a.element_type != b.element_type:
            raise VerifyException(f"{cls.name}: element types differ: {a} vs {b}")
        shape = broadcast_shapes(shape_of(a), shape_of(b))
        element = dtypes.i1 if cls.RESULT_IS_BOOL else a.element_type
        return [dtypes.tensor(shape, element)]


class Comparison(ElementwiseBinary):
    RESULT_IS_BOOL: ClassVar[bool] = True


class Reduction(GraphOp):
    """Reduces `axes` (sorted, non-negative); `keepdims` keeps them as size-1 dimensions."""

    input = operand_def(TensorType)
    result = result_def(TensorType)
    axes = attr_def(DenseArrayBase)
    keepdims = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        shape = shape_of(t)
        axes = get_ints(attrs, "axes")
        if any(not 0 <= a < len(shape) for a in axes) or list(axes) != sorted(set(axes)):
            raise VerifyException(f"{cls.name}: axes {axes} must be sorted, unique, in [0, {len(shape)})")
        keep = bool(get_int(attrs, "keepdims"))
        out = [1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes]
        return [dtypes.tensor(out, t.element_type)]


# ---------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------


@irdl_op_definition
class ConstantOp(GraphOp):
    """A tensor constant: inline `dense<...>` for small values, `dense_resource<name>` for weights."""

    name = "graph.constant"
    value = attr_def(AnyAttr())
    result = result_def(TensorType)
    traits = traits_def(Pure(), ConstantLike())
    assembly_format = "attr-dict `:` type($result)"

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        value = attrs["value"]
        if isinstance(value, DenseResourceAttr | DenseIntOrFPElementsAttr):
            t = value.get_type()
            assert isinstance(t, TensorType)
            return [t]
        raise VerifyException(f"graph.constant value must be dense or dense_resource, got {value}")


# ---------------------------------------------------------------------------------------------
# Elementwise
# ---------------------------------------------------------------------------------------------


def _unary(op_name: str, class_name: str, float_only: bool = True, doc: str = ""):
    namespace = {
        "name": op_name,
        "FLOAT_ONLY": float_only,
        "__annotations__": {"FLOAT_ONLY": ClassVar[bool]},
        "__doc__": doc,
    }
    cls = type(class_name, (ElementwiseUnary,), namespace)
    return irdl_op_definition(cls)


NegOp = _unary("graph.neg", "NegOp", float_only=False)
AbsOp = _unary("graph.abs", "AbsOp", float_only=False)
SignOp = _unary("graph.sign", "SignOp", float_only=False)
ExpOp = _unary("graph.exp", "ExpOp")
Expm1Op = _unary("graph.expm1", "Expm1Op")
LogOp = _unary("graph.log", "LogOp")
Log1pOp = _unary("graph.log1p", "Log1pOp")
SqrtOp = _unary("graph.sqrt", "SqrtOp")
RsqrtOp = _unary("graph.rsqrt", "RsqrtOp")
SinOp = _unary("graph.sin", "SinOp")
CosOp = _unary("graph.cos", "CosOp")
TanhOp = _unary("graph.tanh", "TanhOp")
SigmoidOp = _unary("graph.sigmoid", "SigmoidOp")
ErfOp = _unary("graph.erf", "ErfOp")
FloorOp = _unary("graph.floor", "FloorOp")
CeilOp = _unary("graph.ceil", "CeilOp")
RoundOp = _unary("graph.round", "RoundOp", doc="Round half to even.")
ReluOp = _unary("graph.relu", "ReluOp", float_only=False)
TanOp = _unary("graph.tan", "TanOp")
AsinOp = _unary("graph.asin", "AsinOp", doc="NaN outside [-1, 1].")
AcosOp = _unary("graph.acos", "AcosOp", doc="NaN outside [-1, 1].")
AtanOp = _unary("graph.atan", "AtanOp")
SinhOp = _unary("graph.sinh", "SinhOp")
CoshOp = _unary("graph.cosh", "CoshOp")
AsinhOp = _unary("graph.asinh", "AsinhOp")
AcoshOp = _unary("graph.acosh", "AcoshOp", doc="NaN below 1.")
AtanhOp = _unary("graph.atanh", "AtanhOp", doc="±inf at ±1, NaN outside [-1, 1].")


@irdl_op_definition
class NotOp(ElementwiseUnary):
    """Logical not on i1, bitwise not (`~x`) on integers."""

    name = "graph.not"

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        if dtypes.is_float(t.element_type):
            raise VerifyException(f"graph.not needs i1 or an integer tensor, got {t}")
        return [t]


class Predicate(ElementwiseUnary):
    """An i1 per element: a property of a float value; false for every integer element."""

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        return [dtypes.tensor(shape_of(t), dtypes.i1)]


@irdl_op_definition
class IsNanOp(Predicate):
    name = "graph.is_nan"


@irdl_op_definition
class IsInfOp(Predicate):
    """True for +inf and -inf (a one-sided test is `graph.eq` with an infinite constant)."""

    name = "graph.is_inf"


@irdl_op_definition
class CastOp(GraphOp):
    """Converts the element type like numpy's `astype`: float→int truncates toward zero (out of
    range is undefined), to-bool means `!= 0` (NaN is true), and a conversion to bf16 rounds
    through f32 (round to nearest even twice, as ml_dtypes, XLA and ONNX's reference do)."""

    name = "graph.cast"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    to = attr_def(Attribute)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        return [dtypes.tensor(shape_of(t), attrs["to"])]


class BitwiseBinary(ElementwiseBinary):
    """Logical on i1, bitwise on integers; not defined on floats."""

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        if dtypes.is_float(operand_types[0].element_type):
            raise VerifyException(f"{cls.name} needs i1 or integer tensors, got {operand_types[0]}")
        return super().infer(operand_types, attrs)


class IntegerBinary(ElementwiseBinary):
    """Integers only (neither i1 nor floats)."""

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        if not dtypes.is_integer(operand_types[0].element_type):
            raise VerifyException(f"{cls.name} needs integer tensors, got {operand_types[0]}")
        return super().infer(operand_types, attrs)


class NumericBinary(ElementwiseBinary):
    """Integers and floats (not i1)."""

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        if dtypes.is_bool(operand_types[0].element_type):
            raise VerifyException(f"{cls.name} is not defined on i1, got {operand_types[0]}")
        return super().infer(operand_types, attrs)


def _binary(op_name: str, class_name: str, base=ElementwiseBinary, doc: str = ""):
    return irdl_op_definition(type(class_name, (base,), {"name": op_name, "__doc__": doc}))


AddOp = _binary("graph.add", "AddOp")
SubOp = _binary("graph.sub", "SubOp")
MulOp = _binary("graph.mul", "MulOp")
DivOp = _binary("graph.div", "DivOp", doc="True division on floats, truncating on integers.")
FloorDivOp = _binary("graph.floor_div", "FloorDivOp")
FloorModOp = _binary(
    "graph.floor_mod",
    "FloorModOp",
    doc="Result has the sign of the divisor (numpy's mod). For floats, like TensorFlow, this is not "
    "exactly a − floor_div(a, b)·b: floor_div is floor(a / b) after rounding the quotient.",
)
PowOp = _binary("graph.pow", "PowOp")
MaxOp = _binary("graph.max", "MaxOp", doc="NaN-propagating maximum.")
MinOp = _binary("graph.min", "MinOp", doc="NaN-propagating minimum.")
RemOp = _binary(
    "graph.rem",
    "RemOp",
    NumericBinary,
    doc="Truncated remainder, with the sign of the dividend (C `fmod`): a − trunc(a / b)·b, exact. "
    "On integers a divisor of 0 gives 0 (and MIN rem -1 is 0); on floats it gives NaN.",
)
AndOp = _binary("graph.and", "AndOp", BitwiseBinary)
OrOp = _binary("graph.or", "OrOp", BitwiseBinary)
XorOp = _binary("graph.xor", "XorOp", BitwiseBinary)
ShiftLeftOp = _binary(
    "graph.shift_left",
    "ShiftLeftOp",
    IntegerBinary,
    doc="`a << b`, wrapping. A shift amount outside [0, bit width) (read as unsigned) gives 0 "
    "(numpy's `left_shift`, ONNX's BitShift reference).",
)
ShiftRightOp = _binary(
    "graph.shift_right",
    "ShiftRightOp",
    IntegerBinary,
    doc="`a >> b`: logical on unsigned, arithmetic on signed integers. A shift amount outside "
    "[0, bit width) (read as unsigned) gives 0, or -1 for a negative signed `a` (numpy's "
    "`right_shift`).",
)
EqOp = _binary("graph.eq", "EqOp", Comparison)
NeOp = _binary("graph.ne", "NeOp", Comparison)
LtOp = _binary("graph.lt", "LtOp", Comparison)
LeOp = _binary("graph.le", "LeOp", Comparison)
GtOp = _binary("graph.gt", "GtOp", Comparison)
GeOp = _binary("graph.ge", "GeOp", Comparison)


@irdl_op_definition
class SelectOp(GraphOp):
    """`cond ? on_true : on_false`, all three broadcast together."""

    name = "graph.select"
    cond = operand_def(TensorType)
    on_true = operand_def(TensorType)
    on_false = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        c, a, b = operand_types
        if not dtypes.is_bool(c.element_type):
            raise VerifyException(f"graph.select condition must be i1, got {c}")
        if a.element_type != b.element_type:
            raise VerifyException(f"graph.select branches differ: {a} vs {b}")
        shape = broadcast_shapes(shape_of(c), shape_of(a), shape_of(b))
        return [dtypes.tensor(shape, a.element_type)]


# ---------------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------------


def _reduction(op_name: str, class_name: str):
    return irdl_op_definition(type(class_name, (Reduction,), {"name": op_name}))


ReduceSumOp = _reduction("graph.reduce_sum", "ReduceSumOp")
ReduceMeanOp = _reduction("graph.reduce_mean", "ReduceMeanOp")
ReduceMaxOp = _reduction("graph.reduce_max", "ReduceMaxOp")
ReduceMinOp = _reduction("graph.reduce_min", "ReduceMinOp")
ReduceProdOp = _reduction("graph.reduce_prod", "ReduceProdOp")
ReduceAllOp = _reduction("graph.reduce_all", "ReduceAllOp")
ReduceAnyOp = _reduction("graph.reduce_any", "ReduceAnyOp")


class ArgReduction(GraphOp):
    """Index of the first extreme value along `axis` (removed from the shape); NaN counts as extreme.

    With `select_last_index = 1` the last extreme value wins instead (absent or 0: the first).
    """

    input = operand_def(TensorType)
    result = result_def(TensorType)
    axis = attr_def(IntegerAttr)
    index_type = attr_def(Attribute)
    select_last_index = opt_attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        shape = shape_of(t)
        axis = get_int(attrs, "axis")
        if not 0 <= axis < len(shape):
            raise VerifyException(f"{cls.name}: axis {axis} out of range for {t}")
        out = [d for i, d in enumerate(shape) if i != axis]
        return [dtypes.tensor(out, attrs["index_type"])]


@irdl_op_definition
class ArgMaxOp(ArgReduction):
    name = "graph.argmax"


@irdl_op_definition
class ArgMinOp(ArgReduction):
    name = "graph.argmin"


class Normalization(GraphOp):
    """Softmax-like ops along one `axis`; the result has the input's type."""

    input = operand_def(TensorType)
    result = result_def(TensorType)
    axis = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        if not 0 <= get_int(attrs, "axis") < len(shape_of(t)):
            raise VerifyException(f"{cls.name}: axis out of range")
        return [t]


@irdl_op_definition
class SoftmaxOp(Normalization):
    name = "graph.softmax"


@irdl_op_definition
class LogSoftmaxOp(Normalization):
    name = "graph.log_softmax"


class Cumulative(GraphOp):
    """Running sum or product along `axis`, in the element type (integers wrap; f16/bf16 round
    after every step). `exclusive`: element i combines elements before i only (the first is the
    identity); `reverse`: runs from the end of the axis."""

    input = operand_def(TensorType)
    result = result_def(TensorType)
    axis = attr_def(IntegerAttr)
    exclusive = attr_def(IntegerAttr)
    reverse = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        if not 0 <= get_int(attrs, "axis") < len(shape_of(t)):
            raise VerifyException(f"{cls.name}: axis out of range")
        return [t]


@irdl_op_definition
class CumsumOp(Cumulative):
    name = "graph.cumsum"


@irdl_op_definition
class CumprodOp(Cumulative):
    name = "graph.cumprod"


@irdl_op_definition
class TopKOp(GraphOp):
    """Largest `k` along the last axis, sorted descending; ties keep the lower index first."""

    name = "graph.top_k"
    input = operand_def(TensorType)
    values = result_def(TensorType)
    indices = result_def(TensorType)
    k = attr_def(IntegerAttr)
    index_type = attr_def(Attribute)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        shape = list(shape_of(t))
        k = get_int(attrs, "k")
        if not shape or not 0 <= k <= shape[-1]:
            raise VerifyException(f"graph.top_k: k={k} does not fit {t}")
        shape[-1] = k
        return [dtypes.tensor(shape, t.element_type), dtypes.tensor(shape, attrs["index_type"])]


# ---------------------------------------------------------------------------------------------
# Linear algebra, convolution, pooling, normalization
# ---------------------------------------------------------------------------------------------


@irdl_op_definition
class MatMulOp(GraphOp):
    """`a[..., M, K] @ b[..., K, N]` with numpy broadcasting of the batch dimensions."""

    name = "graph.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        a, b = operand_types
        sa, sb = shape_of(a), shape_of(b)
        if len(sa) < 2 or len(sb) < 2 or sa[-1] != sb[-2] or a.element_type != b.element_type:
            raise VerifyException(f"graph.matmul: incompatible {a} and {b}")
        batch = broadcast_shapes(sa[:-2], sb[:-2])
        return [dtypes.tensor((*batch, sa[-2], sb[-1]), a.element_type)]


def conv_output_size(size: int, window: int, stride: int, dilation: int, pad_lo: int, pad_hi: int) -> int:
    effective = (window - 1) * dilation + 1
    return (size + pad_lo + pad_hi - effective) // stride + 1


@irdl_op_definition
class Conv2DOp(GraphOp):
    """NHWC input, HWIO filter (I = C / groups); pads are (top, bottom, left, right)."""

    name = "graph.conv2d"
    input = operand_def(TensorType)
    filter = operand_def(TensorType)
    result = result_def(TensorType)
    strides = attr_def(DenseArrayBase)
    dilations = attr_def(DenseArrayBase)
    pads = attr_def(DenseArrayBase)
    groups = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        x, w = operand_types
        n, h, wd, c = shape_of(x)
        kh, kw, ci, co = shape_of(w)
        sh, sw = get_ints(attrs, "strides")
        dh, dw = get_ints(attrs, "dilations")
        pt, pb, pl, pr = get_ints(attrs, "pads")
        groups = get_int(attrs, "groups")
        if groups < 1 or c % groups or ci * groups != c or co % groups:
            raise VerifyException(f"graph.conv2d: {x} and filter {w} do not match groups={groups}")
        oh = conv_output_size(h, kh, sh, dh, pt, pb)
        ow = conv_output_size(wd, kw, sw, dw, pl, pr)
        if oh < 1 or ow < 1:
            raise VerifyException("graph.conv2d: empty output")
        return [dtypes.tensor((n, oh, ow, co), x.element_type)]


class Pool2D(GraphOp):
    """NHWC pooling; pads are (top, bottom, left, right). Padding never counts toward an average.

    Optional `dilations` (dh, dw) space the window's taps (absent: 1, 1), as in a dilated
    convolution: tap (i, j) of output (y, x) reads input (y·sh + i·dh − top, x·sw + j·dw − left).
    """

    input = operand_def(TensorType)
    result = result_def(TensorType)
    window = attr_def(DenseArrayBase)
    strides = attr_def(DenseArrayBase)
    pads = attr_def(DenseArrayBase)
    dilations = opt_attr_def(DenseArrayBase)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (x,) = operand_types
        n, h, w, c = shape_of(x)
        kh, kw = get_ints(attrs, "window")
        sh, sw = get_ints(attrs, "strides")
        pt, pb, pl, pr = get_ints(attrs, "pads")
        dh, dw = pool_dilations(attrs)
        if min(kh, kw, sh, sw, dh, dw) < 1:
            raise VerifyException(f"{cls.name}: window, strides and dilations must be positive")
        oh = conv_output_size(h, kh, sh, dh, pt, pb)
        ow = conv_output_size(w, kw, sw, dw, pl, pr)
        if oh < 1 or ow < 1:
            raise VerifyException(f"{cls.name}: empty output")
        return [dtypes.tensor((n, oh, ow, c), x.element_type)]


def pool_dilations(attrs: Attrs) -> tuple[int, int]:
    """A pool's (dh, dw): its `dilations` attribute, or (1, 1) when absent."""
    if "dilations" not in attrs:
        return (1, 1)
    dh, dw = get_ints(attrs, "dilations")
    return dh, dw


@irdl_op_definition
class MaxPoolOp(Pool2D):
    name = "graph.max_pool"


@irdl_op_definition
class AvgPoolOp(Pool2D):
    name = "graph.avg_pool"


@irdl_op_definition
class BatchNormOp(GraphOp):
    """Inference batch norm over the last axis: (x - mean) * rsqrt(var + epsilon) * scale + offset."""

    name = "graph.batch_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    offset = operand_def(TensorType)
    mean = operand_def(TensorType)
    variance = operand_def(TensorType)
    result = result_def(TensorType)
    epsilon = attr_def(FloatAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        x, *params = operand_types
        c = shape_of(x)[-1]
        for p in params:
            if shape_of(p) != (c,):
                raise VerifyException(f"graph.batch_norm: parameter {p} is not of shape ({c},)")
        return [x]


# ---------------------------------------------------------------------------------------------
# Data movement
# ---------------------------------------------------------------------------------------------


@irdl_op_definition
class ReshapeOp(GraphOp):
    name = "graph.reshape"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    shape = attr_def(DenseArrayBase)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        shape = get_ints(attrs, "shape")
        if _product(shape) != _product(shape_of(t)) or any(d < 0 for d in shape):
            raise VerifyException(f"graph.reshape: cannot reshape {t} to {shape}")
        return [dtypes.tensor(shape, t.element_type)]


@irdl_op_definition
class TransposeOp(GraphOp):
    name = "graph.transpose"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    perm = attr_def(DenseArrayBase)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        perm = get_ints(attrs, "perm")
        shape = shape_of(t)
        if sorted(perm) != list(range(len(shape))):
            raise VerifyException(f"graph.transpose: {perm} is not a permutation of rank {len(shape)}")
        return [dtypes.tensor([shape[p] for p in perm], t.element_type)]


@irdl_op_definition
class BroadcastToOp(GraphOp):
    name = "graph.broadcast_to"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    shape = attr_def(DenseArrayBase)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        shape = get_ints(attrs, "shape")
        if broadcast_shapes(shape_of(t), shape) != tuple(shape):
            raise VerifyException(f"graph.broadcast_to: {t} does not broadcast to {shape}")
        return [dtypes.tensor(shape, t.element_type)]


@irdl_op_definition
class SliceOp(GraphOp):
    """`input[starts[i] : limits[i] : strides[i]]` per axis, with positive strides."""

    name = "graph.slice"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    starts = attr_def(DenseArrayBase)
    limits = attr_def(DenseArrayBase)
    strides = attr_def(DenseArrayBase)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        shape = shape_of(t)
        starts, limits, strides = (get_ints(attrs, k) for k in ("starts", "limits", "strides"))
        if not len(starts) == len(limits) == len(strides) == len(shape):
            raise VerifyException("graph.slice: starts/limits/strides must match the rank")
        out = []
        for d, s, l, st in zip(shape, starts, limits, strides):
            if st < 1 or not 0 <= s <= l <= d:
                raise VerifyException(f"graph.slice: bad slice {s}:{l}:{st} of a dimension of {d}")
            out.append((l - s + st - 1) // st)
        return [dtypes.tensor(out, t.element_type)]


@irdl_op_definition
class ReverseOp(GraphOp):
    name = "graph.reverse"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    axes = attr_def(DenseArrayBase)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        if any(not 0 <= a < len(shape_of(t)) for a in get_ints(attrs, "axes")):
            raise VerifyException("graph.reverse: axis out of range")
        return [t]


@irdl_op_definition
class ConcatOp(GraphOp):
    name = "graph.concat"
    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    axis = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        if not operand_types:
            raise VerifyException("graph.concat needs at least one input")
        axis = get_int(attrs, "axis")
        first = shape_of(operand_types[0])
        if not 0 <= axis < len(first):
            raise VerifyException("graph.concat: axis out of range")
        total = 0
        for t in operand_types:
            s = shape_of(t)
            if len(s) != len(first) or any(a != b for i, (a, b) in enumerate(zip(s, first)) if i != axis):
                raise VerifyException(f"graph.concat: {t} does not match {operand_types[0]}")
            if t.element_type != operand_types[0].element_type:
                raise VerifyException("graph.concat: element types differ")
            total += s[axis]
        out = list(first)
        out[axis] = total
        return [dtypes.tensor(out, operand_types[0].element_type)]


@irdl_op_definition
class PadOp(GraphOp):
    """Pads with `low`/`high` elements per axis and `interior` between elements (constant mode only).

    `mode` is "constant" (fill with `value`), "reflect" (mirror without the edge) or "symmetric"
    (mirror with the edge).
    """

    name = "graph.pad"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    low = attr_def(DenseArrayBase)
    high = attr_def(DenseArrayBase)
    interior = attr_def(DenseArrayBase)
    mode = attr_def(StringAttr)
    value = attr_def(FloatAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (t,) = operand_types
        shape = shape_of(t)
        low, high, interior = (get_ints(attrs, k) for k in ("low", "high", "interior"))
        mode = get_str(attrs, "mode")
        if mode not in ("constant", "reflect", "symmetric"):
            raise VerifyException(f"graph.pad: unknown mode {mode}")
        if not len(low) == len(high) == len(interior) == len(shape):
            raise VerifyException("graph.pad: pads must match the rank")
        if mode != "constant" and (any(interior) or any(p < 0 for p in low + high)):
            raise VerifyException("graph.pad: mirror modes take no interior or negative padding")
        if mode == "reflect" and any(p >= d for p, d in zip(low + high, shape + shape)):
            raise VerifyException("graph.pad: reflect padding must be smaller than the dimension")
        if mode == "symmetric" and any(p > d for p, d in zip(low + high, shape + shape)):
            raise VerifyException("graph.pad: symmetric padding must not exceed the dimension")
        out = [lo + hi + d + max(d - 1, 0) * it for d, lo, hi, it in zip(shape, low, high, interior)]
        if any(d < 0 for d in out):
            raise VerifyException("graph.pad: negative output size")
        return [dtypes.tensor(out, t.element_type)]


@irdl_op_definition
class GatherOp(GraphOp):
    """`numpy.take` along `axis` with `batch_dims` leading batch dimensions (TF GatherV2 semantics).

    Negative indices count from the end; out-of-range indices are clamped.
    """

    name = "graph.gather"
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    result = result_def(TensorType)
    axis = attr_def(IntegerAttr)
    batch_dims = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        x, idx = operand_types
        xs, iss = shape_of(x), shape_of(idx)
        axis, bd = get_int(attrs, "axis"), get_int(attrs, "batch_dims")
        if not dtypes.is_integer(idx.element_type) or not 0 <= bd <= axis < len(xs) or xs[:bd] != iss[:bd]:
            raise VerifyException(f"graph.gather: bad operands {x}, {idx} for axis={axis} batch_dims={bd}")
        out = xs[:axis] + iss[bd:] + xs[axis + 1 :]
        return [dtypes.tensor(out, x.element_type)]


@irdl_op_definition
class GatherNdOp(GraphOp):
    """TF GatherNd: `indices[..., :k]` index the first k dims (after `batch_dims`) of `input`.

    As in `graph.gather`, negative indices count from the end and out-of-range ones are clamped.
    """

    name = "graph.gather_nd"
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    result = result_def(TensorType)
    batch_dims = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        x, idx = operand_types
        xs, iss = shape_of(x), shape_of(idx)
        bd = get_int(attrs, "batch_dims")
        if not iss or not dtypes.is_integer(idx.element_type) or xs[:bd] != iss[:bd]:
            raise VerifyException(f"graph.gather_nd: bad operands {x}, {idx}")
        k = iss[-1]
        if bd + k > len(xs):
            raise VerifyException("graph.gather_nd: index depth exceeds the input rank")
        return [dtypes.tensor(iss[:-1] + xs[bd + k :], x.element_type)]


def _check_index_operand(name: str, idx: TensorType) -> None:
    if not dtypes.is_integer(idx.element_type):
        raise VerifyException(f"{name}: indices must be integers, got {idx}")


@irdl_op_definition
class GatherElementsOp(GraphOp):
    """`result[p] = input[p with p[axis] replaced by indices[p]]` for every index p of `indices`.

    `indices` has the input's rank and, on every axis but `axis`, at most the input's size (ONNX
    GatherElements, `torch.gather`). Negative indices count from the end; out-of-range ones are
    clamped, as in `graph.gather`.
    """

    name = "graph.gather_elements"
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    result = result_def(TensorType)
    axis = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        x, idx = operand_types
        xs, iss = shape_of(x), shape_of(idx)
        axis = get_int(attrs, "axis")
        _check_index_operand(cls.name, idx)
        if len(xs) != len(iss) or not 0 <= axis < len(xs):
            raise VerifyException(f"{cls.name}: {idx} must have the rank of {x}, axis {axis} in range")
        if any(i > d for k, (i, d) in enumerate(zip(iss, xs)) if k != axis):
            raise VerifyException(f"{cls.name}: {idx} is larger than {x} off axis {axis}")
        if xs[axis] == 0 and _product(iss):
            raise VerifyException(f"{cls.name}: cannot gather from an empty axis {axis} of {x}")
        return [dtypes.tensor(iss, x.element_type)]


SCATTER_REDUCTIONS = ("none", "add", "mul", "max", "min")


class Scatter(GraphOp):
    """A copy of `input` into which `updates` are written at positions read from `indices`, in
    row-major order of the update positions. `reduction` "none" stores (with duplicate positions the
    last update wins); "add"/"mul"/"max"/"min" combine with what is there, one update at a time in
    the element type (max/min propagate NaN; on i1 add/max are `or`, mul/min `and`). Negative
    indices count from the end; an update whose index is still out of range is dropped (ONNX calls
    such models invalid; XLA's scatter drops them too)."""

    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    updates = operand_def(TensorType)
    result = result_def(TensorType)
    reduction = attr_def(StringAttr)
    traits = traits_def(Pure())

    @classmethod
    def _check(cls, x: TensorType, idx: TensorType, upd: TensorType, attrs: Attrs) -> None:
        _check_index_operand(cls.name, idx)
        if upd.element_type != x.element_type:
            raise VerifyException(f"{cls.name}: updates {upd} and input {x} differ in element type")
        if get_str(attrs, "reduction") not in SCATTER_REDUCTIONS:
            raise VerifyException(f"{cls.name}: reduction must be one of {', '.join(SCATTER_REDUCTIONS)}")


@irdl_op_definition
class ScatterElementsOp(Scatter):
    """For every index p of `indices` (and of `updates`, which has its shape):
    `result[p with p[axis] replaced by indices[p]] (reduction)= updates[p]` (ONNX ScatterElements).
    `indices` has the input's rank and, off `axis`, at most the input's size."""

    name = "graph.scatter_elements"
    axis = attr_def(IntegerAttr)

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        x, idx, upd = operand_types
        cls._check(x, idx, upd, attrs)
        xs, iss = shape_of(x), shape_of(idx)
        axis = get_int(attrs, "axis")
        if len(xs) != len(iss) or not 0 <= axis < len(xs) or shape_of(upd) != iss:
            raise VerifyException(f"{cls.name}: bad operands {x}, {idx}, {upd} for axis {axis}")
        if any(i > d for k, (i, d) in enumerate(zip(iss, xs)) if k != axis):
            raise VerifyException(f"{cls.name}: {idx} is larger than {x} off axis {axis}")
        return [x]


@irdl_op_definition
class ScatterNdOp(Scatter):
    """`indices[..., :k]` name slices of `input` (its first k dimensions):
    `result[indices[p]] (reduction)= updates[p]` for every index p of `indices.shape[:-1]`, where
    `updates` has the shape `indices.shape[:-1] + input.shape[k:]` (ONNX ScatterND)."""

    name = "graph.scatter_nd"

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        x, idx, upd = operand_types
        cls._check(x, idx, upd, attrs)
        xs, iss = shape_of(x), shape_of(idx)
        if not iss or iss[-1] > len(xs) or shape_of(upd) != iss[:-1] + xs[iss[-1] :]:
            raise VerifyException(f"{cls.name}: bad operands {x}, {idx}, {upd}")
        return [x]


@irdl_op_definition
class ResizeOp(GraphOp):
    """Resizes H and W of an NHWC tensor to the result's.

    `mode`: "nearest", "bilinear" or "bicubic". `coordinates`: "asymmetric", "align_corners",
    "half_pixel" (TF2/ONNX, clamps at 0 for linear) or "tf_half_pixel" (TF1 half_pixel_centers for
    nearest: floor((x+0.5)*scale)). `nearest_mode`: "floor", "ceil", "round_prefer_ceil" or
    "round_prefer_floor".
    `cubic_coeff` is the Keys kernel parameter (-0.5 TF2, -0.75 TF1/ONNX). With `exclude_outside`,
    taps that fall outside the image get weight 0 and the others are renormalized (TF2 bicubic);
    otherwise indices are clamped to the edge. An optional `cubic_table = N` rounds each fractional
    offset to a multiple of 1/N before weighting, as TensorFlow's bicubic kernel does with its
    1024-entry coefficient table; without it the weights are exact (ONNX).
    """

    name = "graph.resize"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    size = attr_def(DenseArrayBase)
    mode = attr_def(StringAttr)
    coordinates = attr_def(StringAttr)
    nearest_mode = attr_def(StringAttr)
    cubic_coeff = attr_def(FloatAttr)
    exclude_outside = attr_def(IntegerAttr)
    cubic_table = opt_attr_def(IntegerAttr)
    traits = traits_def(Pure())

    @classmethod
    def infer(cls, operand_types: Types, attrs: Attrs) -> list[TensorType]:
        (x,) = operand_types
        n, _, _, c = shape_of(x)
        oh, ow = get_ints(attrs, "size")
        if get_str(attrs, "mode") not in ("nearest", "bilinear", "bicubic"):
            raise VerifyException("graph.resize: unknown mode")
        if get_str(attrs, "coordinates") not in ("asymmetric", "align_corners", "half_pixel", "tf_half_pixel"):
            raise VerifyException("graph.resize: unknown coordinates")
        if get_str(attrs, "nearest_mode") not in ("floor", "ceil", "round_prefer_ceil", "round_prefer_floor"):
            raise VerifyException("graph.resize: unknown nearest_mode")
        return [dtypes.tensor((n, oh, ow, c), x.element_type)]


def _product(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


GRAPH_OPS: list[type[GraphOp]] = [
    ConstantOp, NegOp, AbsOp, SignOp, ExpOp, Expm1Op, LogOp, Log1pOp, SqrtOp, RsqrtOp, SinOp, CosOp,
    TanhOp, SigmoidOp, ErfOp, FloorOp, CeilOp, RoundOp, ReluOp, TanOp, AsinOp, AcosOp, AtanOp, SinhOp,
    CoshOp, AsinhOp, AcoshOp, AtanhOp, NotOp, IsNanOp, IsInfOp, CastOp,
    AddOp, SubOp, MulOp, DivOp, FloorDivOp, FloorModOp, RemOp, PowOp, MaxOp, MinOp, AndOp, OrOp, XorOp,
    ShiftLeftOp, ShiftRightOp, EqOp, NeOp, LtOp, LeOp, GtOp, GeOp, SelectOp,
    ReduceSumOp, ReduceMeanOp, ReduceMaxOp, ReduceMinOp, ReduceProdOp, ReduceAllOp, ReduceAnyOp,
    ArgMaxOp, ArgMinOp, SoftmaxOp, LogSoftmaxOp, CumsumOp, CumprodOp, TopKOp,
    MatMulOp, Conv2DOp, MaxPoolOp, AvgPoolOp, BatchNormOp,
    ReshapeOp, TransposeOp, BroadcastToOp, SliceOp, ReverseOp, ConcatOp, PadOp, GatherOp, GatherNdOp,
    GatherElementsOp, ScatterElementsOp, ScatterNdOp, ResizeOp,
]  # fmt: skip

Graph = Dialect("graph", GRAPH_OPS, [])
