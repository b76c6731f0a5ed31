"""Scalar semantics of the graph ops, as `arith`/`math` ops on one element.

Takes SSA values in an `ElemKind`'s compute type (see `elements`); leaves `arith`/`math` ops that
compute one element of an op's result, matching `graphc.dialects.semantics` (numpy semantics):
integer division truncates, floor_div/floor_mod floor and rem truncates (all give 0 for a zero
divisor, like numpy, instead of trapping; MIN / -1 never traps either); max/min propagate NaN;
round is half-to-even; shifts by an amount outside [0, bits) shift everything out (never LLVM's
poison); not is bitwise on integers; float→int casts truncate; casts to bool mean `!= 0`; casts
to bf16 round through f32.

Transcendentals on f32 (and f16/bf16, computed in f32) are `vector_math`'s polynomials, which
vectorize; f64 keeps exact libm/LLVM intrinsics. tan and the inverse/hyperbolic trigonometric
functions are libm calls on every float type (f32's `tanf`, ...: scalar).

Shared by every lowering that computes on elements (elementwise, reductions, pooling, ...).
"""

from __future__ import annotations

import math

from xdsl.dialects import arith
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import Float16Type, Float32Type, Float64Type, IntegerType, f32, i32, i64
from xdsl.ir import SSAValue

from graphc.backends.cpu import vector_math
from graphc.backends.cpu.arith_ext import CmpfOp, CmpiOp, RemFOp, SelectOp
from graphc.backends.cpu.elements import ElemKind, UnsupportedOnCpu
from graphc.backends.cpu.loop_builder import KernelBuilder


def _bits(kind: ElemKind) -> int:
    return kind.bits


def lowest(kind: ElemKind) -> int | float | bool:
    """The identity of `max` for this kind."""
    if kind.is_float:
        return -math.inf
    if kind.is_bool or kind.is_unsigned:
        return 0
    return -(1 << (_bits(kind) - 1))


def highest(kind: ElemKind) -> int | float | bool:
    """The identity of `min` for this kind."""
    if kind.is_float:
        return math.inf
    if kind.is_bool:
        return 1
    if kind.is_unsigned:
        return (1 << _bits(kind)) - 1
    return (1 << (_bits(kind) - 1)) - 1


def const(b: KernelBuilder, kind: ElemKind, value: int | float | bool) -> SSAValue:
    return b.const(value, kind.compute)


# -- unary ---------------------------------------------------------------------------------------


def unary(b: KernelBuilder, name: str, kind: ElemKind, x: SSAValue) -> SSAValue:
    op = name.removeprefix("graph.")
    if op in vector_math.FUNCTIONS and kind.is_float and isinstance(kind.compute, Float32Type):
        return vector_math.emit(b, op, x)  # polynomials that vectorize (f16 computes in f32 too)
    if op in _FLOAT_MATH:
        _need_float(name, kind)
        return b.emit(_FLOAT_MATH[op](x))
    if op == "neg":
        if kind.is_float:
            return b.emit(arith.NegfOp(x))
        _need_int(name, kind)
        return b.emit(arith.SubiOp(const(b, kind, 0), x))
    if op == "abs":
        if kind.is_float:
            return b.emit(mathd.AbsFOp(x))
        if kind.is_bool or kind.is_unsigned:
            return x
        return b.emit(mathd.AbsIOp(x))
    if op == "sign":
        return _sign(b, kind, x)
    if op == "rsqrt":
        _need_float(name, kind)
        return b.emit(mathd.RsqrtOp(x))
    if op == "sigmoid":
        _need_float(name, kind)
        # e = exp(-|x|) never overflows: x >= 0 ? 1 / (1 + e) : e / (1 + e)
        one = const(b, kind, 1.0)
        e = b.emit(mathd.ExpOp(b.emit(arith.NegfOp(b.emit(mathd.AbsFOp(x))))))
        denominator = b.emit(arith.AddfOp(one, e))
        numerator = b.emit(SelectOp(b.emit(CmpfOp(x, const(b, kind, 0.0), "oge")), one, e))
        return b.emit(arith.DivfOp(numerator, denominator))
    if op == "round":
        _need_float(name, kind)
        return b.emit(mathd.RoundEvenOp(x))
    if op == "relu":
        if kind.is_bool or kind.is_unsigned:
            return x
        return maximum(b, kind, x, const(b, kind, 0))
    if op == "not":
        if kind.is_float:
            raise UnsupportedOnCpu(f"{name} needs i1 or integers, got {kind.element}")
        return b.emit(arith.XOrIOp(x, b.true() if kind.is_bool else const(b, kind, -1)))
    if op == "is_nan":
        if not kind.is_float:
            return b.false()
        return b.emit(CmpfOp(x, x, "uno"))
    if op == "is_inf":
        if not kind.is_float:
            return b.false()
        return b.emit(CmpfOp(b.emit(mathd.AbsFOp(x)), const(b, kind, math.inf), "oeq"))
    if op == "identity":
        return x
    raise UnsupportedOnCpu(f"{name} is not an elementwise unary op the CPU backend knows")


_FLOAT_MATH = {
    "exp": mathd.ExpOp,
    "expm1": mathd.ExpM1Op,
    "log": mathd.LogOp,
    "log1p": mathd.Log1pOp,
    "sqrt": mathd.SqrtOp,
    "sin": mathd.SinOp,
    "cos": mathd.CosOp,
    "tanh": mathd.TanhOp,
    "erf": mathd.ErfOp,
    "floor": mathd.FloorOp,
    "ceil": mathd.CeilOp,
    "tan": mathd.TanOp,
    "asin": mathd.AsinOp,
    "acos": mathd.AcosOp,
    "atan": mathd.AtanOp,
    "sinh": mathd.SinhOp,
    "cosh": mathd.CoshOp,
    "asinh": mathd.AsinhOp,
    "acosh": mathd.AcoshOp,
    "atanh": mathd.AtanhOp,
}
LIBM_FUNCTIONS = frozenset({"tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh"})
"""Unary ops that are a scalar libm call on every float type (`emit_llvm.LIBM`): no vector form."""


def _sign(b: KernelBuilder, kind: ElemKind, x: SSAValue) -> SSAValue:
    if kind.is_bool:
        return x
    zero, one = const(b, kind, 0), const(b, kind, 1)
    if kind.is_float:
        # x > 0 ? 1 : x < 0 ? -1 : x == 0 ? +0 : x   (numpy: sign(-0.0) = 0.0, sign(nan) = nan)
        is_zero = b.emit(CmpfOp(x, zero, "oeq"))
        rest = b.emit(SelectOp(is_zero, zero, x))
        rest = b.emit(SelectOp(b.emit(CmpfOp(x, zero, "olt")), const(b, kind, -1), rest))
        return b.emit(SelectOp(b.emit(CmpfOp(x, zero, "ogt")), one, rest))
    if kind.is_unsigned:
        return b.emit(SelectOp(b.emit(CmpiOp(x, zero, "ne")), one, zero))
    rest = b.emit(SelectOp(b.emit(CmpiOp(x, zero, "slt")), const(b, kind, -1), zero))
    return b.emit(SelectOp(b.emit(CmpiOp(x, zero, "sgt")), one, rest))


# -- binary --------------------------------------------------------------------------------------


def binary(b: KernelBuilder, name: str, kind: ElemKind, x: SSAValue, y: SSAValue, flags=None) -> SSAValue:
    """One element of a binary op; `flags` are fast-math flags for add/mul (accumulations)."""
    op = name.removeprefix("graph.")
    fl = flags if flags is not None else arith.FastMathFlagsAttr("none")
    if op == "add":
        if kind.is_float:
            return b.emit(arith.AddfOp(x, y, fl))
        return b.emit((arith.OrIOp if kind.is_bool else arith.AddiOp)(x, y))
    if op == "sub":
        _need_number(name, kind)
        return b.emit(arith.SubfOp(x, y) if kind.is_float else arith.SubiOp(x, y))
    if op == "mul":
        if kind.is_float:
            return b.emit(arith.MulfOp(x, y, fl))
        return b.emit((arith.AndIOp if kind.is_bool else arith.MuliOp)(x, y))
    if op == "div":
        _need_number(name, kind)
        return b.emit(arith.DivfOp(x, y)) if kind.is_float else _int_div(b, kind, x, y, floor=False)
    if op == "floor_div":
        _need_number(name, kind)
        if kind.is_float:  # floor(x / y), as graphc.dialects.semantics defines it
            return b.emit(mathd.FloorOp(b.emit(arith.DivfOp(x, y))))
        return _int_div(b, kind, x, y, floor=True)
    if op == "floor_mod":
        _need_number(name, kind)
        return _float_floor_mod(b, kind, x, y) if kind.is_float else _int_floor_mod(b, kind, x, y)
    if op == "rem":
        _need_number(name, kind)
        return b.emit(RemFOp(x, y)) if kind.is_float else _int_rem(b, kind, x, y)
    if op in ("shift_left", "shift_right"):
        _need_int(name, kind)
        return _shift(b, kind, x, y, left=op == "shift_left")
    if op == "pow":
        _need_number(name, kind)
        return b.emit(mathd.PowFOp(x, y)) if kind.is_float else _int_pow(b, kind, x, y)
    if op == "max":
        return maximum(b, kind, x, y, flags)
    if op == "min":
        return minimum(b, kind, x, y, flags)
    if op in ("and", "or", "xor"):
        if kind.is_float:
            raise UnsupportedOnCpu(f"{name} needs integers or booleans, got {kind.element}")
        cls = {"and": arith.AndIOp, "or": arith.OrIOp, "xor": arith.XOrIOp}[op]
        return b.emit(cls(x, y))
    if op in _COMPARE:
        return compare(b, op, kind, x, y)
    raise UnsupportedOnCpu(f"{name} is not an elementwise binary op the CPU backend knows")


_COMPARE = {
    # op: (float predicate, signed predicate, unsigned predicate)
    "eq": ("oeq", "eq", "eq"),
    "ne": ("une", "ne", "ne"),
    "lt": ("olt", "slt", "ult"),
    "le": ("ole", "sle", "ule"),
    "gt": ("ogt", "sgt", "ugt"),
    "ge": ("oge", "sge", "uge"),
}


def is_comparison(name: str) -> bool:
    return name.removeprefix("graph.") in _COMPARE


def compare(b: KernelBuilder, op: str, kind: ElemKind, x: SSAValue, y: SSAValue) -> SSAValue:
    fp, sp, up = _COMPARE[op.removeprefix("graph.")]
    if kind.is_float:
        return b.emit(CmpfOp(x, y, fp))
    return b.emit(CmpiOp(x, y, up if (kind.is_unsigned or kind.is_bool) else sp))


def maximum(b: KernelBuilder, kind: ElemKind, x: SSAValue, y: SSAValue, flags=None) -> SSAValue:
    """NaN-propagating maximum (numpy `maximum`)."""
    if kind.is_float:
        return b.emit(arith.MaximumfOp(x, y, flags))
    if kind.is_bool:
        return b.emit(arith.OrIOp(x, y))
    return b.emit((arith.MaxUIOp if kind.is_unsigned else arith.MaxSIOp)(x, y))


def minimum(b: KernelBuilder, kind: ElemKind, x: SSAValue, y: SSAValue, flags=None) -> SSAValue:
    """NaN-propagating minimum (numpy `minimum`)."""
    if kind.is_float:
        return b.emit(arith.MinimumfOp(x, y, flags))
    if kind.is_bool:
        return b.emit(arith.AndIOp(x, y))
    return b.emit((arith.MinUIOp if kind.is_unsigned else arith.MinSIOp)(x, y))


def _int_div(b: KernelBuilder, kind: ElemKind, x: SSAValue, y: SSAValue, floor: bool) -> SSAValue:
    """Integer division without traps: x/0 = 0 and MIN/-1 = MIN (numpy's results)."""
    zero, one = const(b, kind, 0), const(b, kind, 1)
    y_is_zero = b.emit(CmpiOp(y, zero, "eq"))
    if kind.is_unsigned:
        q = b.emit(arith.DivUIOp(x, b.emit(SelectOp(y_is_zero, one, y))))
        return b.emit(SelectOp(y_is_zero, zero, q))
    minus_one = const(b, kind, -1)
    y_is_m1 = b.emit(CmpiOp(y, minus_one, "eq"))
    safe = b.emit(SelectOp(b.emit(arith.OrIOp(y_is_zero, y_is_m1)), one, y))
    q = b.emit(arith.DivSIOp(x, safe))
    if floor:
        # q -= 1 when the division was inexact and the signs differ
        inexact = b.emit(CmpiOp(b.emit(arith.MuliOp(q, safe)), x, "ne"))
        signs_differ = b.emit(
            CmpiOp(b.emit(CmpiOp(x, zero, "sgt")), b.emit(CmpiOp(safe, zero, "sgt")), "ne")
        )
        adjust = b.emit(arith.AndIOp(inexact, signs_differ))
        q = b.emit(SelectOp(adjust, b.emit(arith.SubiOp(q, one)), q))
    q = b.emit(SelectOp(y_is_m1, b.emit(arith.SubiOp(zero, x)), q))
    return b.emit(SelectOp(y_is_zero, zero, q))


def _int_floor_mod(b: KernelBuilder, kind: ElemKind, x: SSAValue, y: SSAValue) -> SSAValue:
    """Python-style remainder (sign of the divisor); x % 0 = 0 (numpy)."""
    zero, one = const(b, kind, 0), const(b, kind, 1)
    y_is_zero = b.emit(CmpiOp(y, zero, "eq"))
    if kind.is_unsigned:
        r = b.emit(arith.RemUIOp(x, b.emit(SelectOp(y_is_zero, one, y))))
        return b.emit(SelectOp(y_is_zero, zero, r))
    y_is_m1 = b.emit(CmpiOp(y, const(b, kind, -1), "eq"))
    bad = b.emit(arith.OrIOp(y_is_zero, y_is_m1))
    safe = b.emit(SelectOp(bad, one, y))
    r = b.emit(arith.RemSIOp(x, safe))
    r_nonzero = b.emit(CmpiOp(r, zero, "ne"))
    signs_differ = b.emit(
        CmpiOp(b.emit(CmpiOp(r, zero, "slt")), b.emit(CmpiOp(safe, zero, "slt")), "ne")
    )
    adjust = b.emit(arith.AndIOp(r_nonzero, signs_differ))
    r = b.emit(SelectOp(adjust, b.emit(arith.AddiOp(r, safe)), r))
    return b.emit(SelectOp(bad, zero, r))


def _int_rem(b: KernelBuilder, kind: ElemKind, x: SSAValue, y: SSAValue) -> SSAValue:
    """C-style remainder (sign of the dividend). A divisor of 0 or -1 (which traps for MIN on x86)
    is replaced by 1: x rem ±1 = 0, and x rem 0 is defined as 0 (numpy's `fmod`)."""
    one = const(b, kind, 1)
    bad = b.emit(CmpiOp(y, const(b, kind, 0), "eq"))
    if not kind.is_unsigned:
        bad = b.emit(arith.OrIOp(bad, b.emit(CmpiOp(y, const(b, kind, -1), "eq"))))
    safe = b.emit(SelectOp(bad, one, y))
    return b.emit((arith.RemUIOp if kind.is_unsigned else arith.RemSIOp)(x, safe))


def _shift(b: KernelBuilder, kind: ElemKind, x: SSAValue, y: SSAValue, left: bool) -> SSAValue:
    """x << y or x >> y (arithmetic when signed). An amount outside [0, bits), compared unsigned
    (so negative amounts are out too), shifts every bit out: 0, or the sign for signed >>."""
    zero = const(b, kind, 0)
    in_range = b.emit(CmpiOp(y, const(b, kind, kind.bits), "ult"))
    amount = b.emit(SelectOp(in_range, y, zero))  # LLVM's shifts are poison past the width
    if left:
        return b.emit(SelectOp(in_range, b.emit(arith.ShLIOp(x, amount)), zero))
    if kind.is_unsigned:
        return b.emit(SelectOp(in_range, b.emit(arith.ShRUIOp(x, amount)), zero))
    sign = b.emit(arith.ShRSIOp(x, const(b, kind, kind.bits - 1)))
    return b.emit(SelectOp(in_range, b.emit(arith.ShRSIOp(x, amount)), sign))


def _float_floor_mod(b: KernelBuilder, kind: ElemKind, x: SSAValue, y: SSAValue) -> SSAValue:
    """numpy's `remainder` on floats (`npy_divmod`): the sign of the divisor; x % 0 is NaN."""
    zero = const(b, kind, 0.0)
    mod = b.emit(RemFOp(x, y))
    mod_nonzero = b.emit(CmpfOp(mod, zero, "une"))
    y_neg = b.emit(CmpfOp(y, zero, "olt"))
    mod_neg = b.emit(CmpfOp(mod, zero, "olt"))
    adjust = b.emit(arith.AndIOp(mod_nonzero, b.emit(arith.XOrIOp(y_neg, mod_neg))))
    adjusted = b.emit(SelectOp(adjust, b.emit(arith.AddfOp(mod, y)), mod))
    # a zero remainder takes the divisor's sign; y == 0 keeps fmod's NaN
    signed_zero = b.emit(mathd.CopySignOp(zero, y))
    result = b.emit(SelectOp(mod_nonzero, adjusted, signed_zero))
    return b.emit(SelectOp(b.emit(CmpfOp(y, zero, "oeq")), mod, result))


def _int_pow(b: KernelBuilder, kind: ElemKind, x: SSAValue, y: SSAValue) -> SSAValue:
    """x**y by squaring, wrapping like numpy. A negative exponent (an error in numpy) gives the
    truncated real result: 1 for x == 1, ±1 for x == -1, 0 otherwise."""
    zero, one = const(b, kind, 0), const(b, kind, 1)
    with b.loop(0, kind.bits, carried=[one, x, y]) as lp:
        result, base, exp = lp.carried
        odd = b.emit(CmpiOp(b.emit(arith.AndIOp(exp, one)), zero, "ne"))
        result = b.emit(SelectOp(odd, b.emit(arith.MuliOp(result, base)), result))
        lp.next(result, b.emit(arith.MuliOp(base, base)), b.emit(arith.ShRUIOp(exp, one)))
    result = lp.results[0]
    if kind.is_unsigned:
        return result
    negative = b.emit(CmpiOp(y, zero, "slt"))
    x_is_one = b.emit(CmpiOp(x, one, "eq"))
    x_is_m1 = b.emit(CmpiOp(x, const(b, kind, -1), "eq"))
    y_odd = b.emit(CmpiOp(b.emit(arith.AndIOp(y, one)), zero, "ne"))
    m1_pow = b.emit(SelectOp(y_odd, const(b, kind, -1), one))
    neg_result = b.emit(SelectOp(x_is_one, one, b.emit(SelectOp(x_is_m1, m1_pow, zero))))
    return b.emit(SelectOp(negative, neg_result, result))


# -- casts ---------------------------------------------------------------------------------------


def cast(b: KernelBuilder, x: SSAValue, src: ElemKind, dst: ElemKind) -> SSAValue:
    """Converts a value in `src`'s compute type to `dst`'s compute type (numpy `astype`)."""
    if src.element == dst.element:
        return x
    if dst.is_bool:
        if src.is_float:
            return b.emit(CmpfOp(x, const(b, src, 0.0), "une"))  # nan -> True
        return b.emit(CmpiOp(x, const(b, src, 0), "ne"))
    if src.is_bool:
        if dst.is_float:
            return b.emit(arith.UIToFPOp(x, dst.compute))
        return b.emit(arith.ExtUIOp(x, dst.compute))
    if src.is_float and dst.is_float:
        if isinstance(src.element, Float64Type) and isinstance(dst.element, Float16Type):
            return _f64_to_f32_round_to_odd(b, x)  # f64 -> f16: the store rounds once more, exactly
        # f64 -> bf16 rounds to f32 here and to bf16 on store: twice, as ml_dtypes does
        return _float_resize(b, x, dst.compute)
    if src.is_float:  # float -> int truncates toward zero
        width = dst.bits
        if dst.is_unsigned and width == 64:
            # what C compilers emit on x86 (numpy's behaviour): below 2**63 convert signed (so
            # negative values wrap), above it convert x - 2**63 and set the top bit
            two63 = const(b, src, 2.0**63)
            low = b.emit(arith.FPToSIOp(x, i64))
            high = b.emit(arith.FPToSIOp(b.emit(arith.SubfOp(x, two63)), i64))
            high = b.emit(arith.XOrIOp(high, b.const(-(1 << 63), i64)))
            return b.emit(SelectOp(b.emit(CmpfOp(x, two63, "olt")), low, high))
        # like C on x86 (what numpy does): convert to a wide signed integer, then wrap
        wide = i64 if (dst.is_unsigned or width == 64) else i32
        value = b.emit(arith.FPToSIOp(x, wide))
        return _int_resize(b, value, 64 if wide == i64 else 32, dst, signed=True)
    if dst.is_float:
        cls = arith.UIToFPOp if src.is_unsigned else arith.SIToFPOp
        return b.emit(cls(x, dst.compute))
    return _int_resize(b, x, src.bits, dst, signed=not src.is_unsigned)


def _float_resize(b: KernelBuilder, x: SSAValue, target) -> SSAValue:
    width = {Float32Type: 32, Float64Type: 64}
    have, want = width[type(x.type)], width[type(target)]
    if have == want:
        return x
    return b.emit(arith.ExtFOp(x, target) if want > have else arith.TruncFOp(x, target))


def _int_resize(b: KernelBuilder, x: SSAValue, have: int, dst: ElemKind, signed: bool) -> SSAValue:
    want = dst.bits
    if have == want:
        return x
    if want < have:
        return b.emit(arith.TruncIOp(x, dst.compute))
    return b.emit((arith.ExtSIOp if signed else arith.ExtUIOp)(x, dst.compute))


def _f64_to_f32_round_to_odd(b: KernelBuilder, x: SSAValue) -> SSAValue:
    """Rounds an f64 to f32 toward zero, setting the last bit when inexact ("round to odd").

    Rounding that f32 to f16 then gives the correctly rounded f16 (f32 has more than 11 + 2 bits),
    without the `__truncdfhf2` library call that a direct f64 -> f16 conversion needs.
    """
    t = b.emit(arith.TruncFOp(x, f32))
    back = b.emit(arith.ExtFOp(t, x.type))
    bits = b.emit(arith.BitcastOp(t, IntegerType(32)))
    too_big = b.emit(CmpfOp(b.emit(mathd.AbsFOp(back)), b.emit(mathd.AbsFOp(x)), "ogt"))
    bits = b.emit(SelectOp(too_big, b.emit(arith.SubiOp(bits, b.const(1, IntegerType(32)))), bits))
    inexact = b.emit(CmpfOp(back, x, "une"))
    bits = b.emit(SelectOp(inexact, b.emit(arith.OrIOp(bits, b.const(1, IntegerType(32)))), bits))
    return b.emit(arith.BitcastOp(bits, f32))


# -- checks --------------------------------------------------------------------------------------


def _need_float(name: str, kind: ElemKind) -> None:
    if not kind.is_float:
        raise UnsupportedOnCpu(f"{name} needs a floating-point tensor, got {kind.element}")


def _need_int(name: str, kind: ElemKind) -> None:
    if kind.is_float or kind.is_bool:
        raise UnsupportedOnCpu(f"{name} is not defined on {kind.element}")


def _need_number(name: str, kind: ElemKind) -> None:
    if kind.is_bool:
        raise UnsupportedOnCpu(f"{name} is not defined on booleans (i1)")

