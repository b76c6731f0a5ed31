"""Elementwise `graph` ops as Triton expressions over already-evaluated operands.

Takes an elementwise op (`fusion.ELEMENTWISE_OPS`) and the variable names holding its operands'
values at one block of indices; leaves the lines computing its result in the `Emitter` and returns
the result's variable. The meanings are `graphc.dialects.semantics`' (integer division by zero is 0,
`max`/`min` propagate NaN, `round` is half to even, …). 16-bit floats are computed in float32 and
rounded back after each op, as on the CPU backend. Only `tl` primitives are used (no libdevice), so
the same source runs compiled on a GPU and under `TRITON_INTERPRET=1`.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Operation

from graphc.backends.triton.source import Emitter, is_float, is_half, is_signed, literal, to_register
from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.errors import GraphcError

NAN_ALL = "propagate_nan=tl.PropagateNan.ALL"

Unary = Callable[[Emitter, str], str]


def _expm1(em: Emitter, x: str) -> str:
    # Kahan's trick: exact where exp(x) rounds to 1, accurate to a few ulp elsewhere.
    u = em.assign(f"tl.exp({x})", "u")
    return f"tl.where({u} == 1.0, {x}, tl.where({u} - 1.0 == -1.0, -1.0, ({u} - 1.0) * {x} / tl.log({u})))"


def _log1p(em: Emitter, x: str) -> str:
    u = em.assign(f"1.0 + {x}", "u")
    return f"tl.where({u} == 1.0, {x}, tl.log({u}) * {x} / ({u} - 1.0))"


def _tanh(em: Emitter, x: str) -> str:
    e = em.assign(_expm1(em, f"-2.0 * tl.abs({x})"), "e")
    r = em.assign(f"-{e} / (2.0 + {e})", "r")
    return f"tl.where({x} < 0, -{r}, {r})"


def _round_half_even(em: Emitter, x: str) -> str:
    f = em.assign(f"tl.floor({x})", "f")
    d = em.assign(f"{x} - {f}", "d")
    return f"tl.where({d} > 0.5, {f} + 1.0, tl.where({d} < 0.5, {f}, tl.where({f} % 2.0 == 0.0, {f}, {f} + 1.0)))"


def _atan(em: Emitter, x: str) -> str:
    # Cephes' atanf: reduce |x| to [0, tan(pi/8)] with atan(x) = pi/2 - atan(1/x) and
    # pi/4 + atan((x-1)/(x+1)), then a degree-9 odd polynomial (~1 ulp on float32).
    a = em.assign(f"tl.abs({x})", "a")
    big = em.assign(f"{a} > 2.414213562373095", "big")
    mid = em.assign(f"{a} > 0.4142135623730950", "mid")
    base = em.assign(f"tl.where({big}, 1.5707963267948966, tl.where({mid}, 0.7853981633974483, 0.0))", "base")
    r = em.assign(f"tl.where({big}, -1.0 / {a}, tl.where({mid}, ({a} - 1.0) / ({a} + 1.0), {a}))", "r")
    z = em.assign(f"{r} * {r}", "z")
    poly = f"(((8.05374449538e-2 * {z} - 1.38776856032e-1) * {z} + 1.99777106478e-1) * {z} - 3.33329491539e-1)"
    y = em.assign(f"{base} + ({poly} * {z} * {r} + {r})", "y")
    return f"tl.where({x} < 0, -{y}, tl.where({x} != {x}, {x}, {y}))"


def _asin(em: Emitter, x: str) -> str:
    # asin(x) = atan(x / sqrt((1 - x)(1 + x))): ±pi/2 at ±1 (x/0 = ±inf), NaN outside [-1, 1].
    return _atan(em, em.assign(f"{x} / tl.sqrt((1.0 - {x}) * (1.0 + {x}))", "q"))


FLOAT_UNARY: dict[type[Operation], Unary] = {
    g.NegOp: lambda em, x: f"-{x}",
    g.AbsOp: lambda em, x: f"tl.abs({x})",
    g.SignOp: lambda em, x: f"tl.where({x} > 0, 1.0, tl.where({x} < 0, -1.0, {x}))",
    g.ExpOp: lambda em, x: f"tl.exp({x})",
    g.Expm1Op: _expm1,
    g.LogOp: lambda em, x: f"tl.log({x})",
    g.Log1pOp: _log1p,
    g.SqrtOp: lambda em, x: f"tl.sqrt({x})",
    g.RsqrtOp: lambda em, x: f"1.0 / tl.sqrt({x})",
    g.SinOp: lambda em, x: f"tl.sin({x})",
    g.CosOp: lambda em, x: f"tl.cos({x})",
    g.TanOp: lambda em, x: f"tl.sin({x}) / tl.cos({x})",
    g.TanhOp: _tanh,
    g.SigmoidOp: lambda em, x: f"1.0 / (1.0 + tl.exp(-{x}))",
    g.ErfOp: lambda em, x: f"tl.erf({x})",
    g.FloorOp: lambda em, x: f"tl.floor({x})",
    g.CeilOp: lambda em, x: f"tl.ceil({x})",
    g.RoundOp: _round_half_even,
    g.ReluOp: lambda em, x: f"tl.maximum({x}, 0.0, {NAN_ALL})",
    g.AtanOp: _atan,
    g.AsinOp: _asin,
    g.AcosOp: lambda em, x: f"1.5707963267948966 - {em.assign(_asin(em, x), 'as')}",
    g.SinhOp: lambda em, x: f"(tl.exp({x}) - tl.exp(-{x})) * 0.5",
    g.CoshOp: lambda em, x: f"(tl.exp({x}) + tl.exp(-{x})) * 0.5",
    g.AsinhOp: lambda em, x: f"tl.where({x} < 0, -1.0, 1.0) * tl.log(tl.abs({x}) + tl.sqrt({x} * {x} + 1.0))",
    g.AcoshOp: lambda em, x: f"tl.log({x} + tl.sqrt({x} * {x} - 1.0))",
    g.AtanhOp: lambda em, x: f"0.5 * tl.log((1.0 + {x}) / (1.0 - {x}))",
    g.IsNanOp: lambda em, x: f"{x} != {x}",
    g.IsInfOp: lambda em, x: f"({x} == {x}) & ({x} - {x} != {x} - {x})",
}

INT_UNARY: dict[type[Operation], Unary] = {
    g.NegOp: lambda em, x: f"-{x}",
    g.AbsOp: lambda em, x: f"tl.abs({x})",
    g.SignOp: lambda em, x: f"tl.where({x} > 0, 1, tl.where({x} < 0, -1, 0))",
    g.ReluOp: lambda em, x: f"tl.maximum({x}, 0)",
    g.NotOp: lambda em, x: f"~{x}",
    g.IsNanOp: lambda em, x: f"{x} != {x}",
    g.IsInfOp: lambda em, x: f"{x} != {x}",
}

BOOL_UNARY: dict[type[Operation], Unary] = {
    g.NotOp: lambda em, x: f"{x} == 0",
    g.ReluOp: lambda em, x: x,
    g.AbsOp: lambda em, x: x,
    g.IsNanOp: lambda em, x: f"{x} != {x}",
    g.IsInfOp: lambda em, x: f"{x} != {x}",
}

Binary = Callable[[Emitter, str, str, object], str]


def _int_div(em: Emitter, a: str, b: str, t) -> str:
    safe = em.assign(f"tl.where({b} == 0, 1, {b})", "b")
    return f"tl.where({b} == 0, 0, {a} // {safe})"


def _int_floor_div(em: Emitter, a: str, b: str, t) -> str:
    safe = em.assign(f"tl.where({b} == 0, 1, {b})", "b")
    q = em.assign(f"{a} // {safe}", "q")
    if not is_signed(t):
        return f"tl.where({b} == 0, 0, {q})"
    r = em.assign(f"{a} % {safe}", "r")
    return f"tl.where({b} == 0, 0, tl.where(({r} != 0) & (({r} < 0) != ({safe} < 0)), {q} - 1, {q}))"


def _int_floor_mod(em: Emitter, a: str, b: str, t) -> str:
    safe = em.assign(f"tl.where({b} == 0, 1, {b})", "b")
    r = em.assign(f"{a} % {safe}", "r")
    if not is_signed(t):
        return f"tl.where({b} == 0, 0, {r})"
    return f"tl.where({b} == 0, 0, tl.where(({r} != 0) & (({r} < 0) != ({safe} < 0)), {r} + {safe}, {r}))"


def _int_rem(em: Emitter, a: str, b: str, t) -> str:
    safe = em.assign(f"tl.where({b} == 0, 1, {b})", "b")
    return f"tl.where({b} == 0, 0, {a} % {safe})"


def _float_floor_mod(em: Emitter, a: str, b: str, t) -> str:
    r = em.assign(f"{a} % {b}", "r")
    return f"tl.where(({r} != 0) & (({r} < 0) != ({b} < 0)), {r} + {b}, {r})"


def _float_pow(em: Emitter, a: str, b: str, t) -> str:
    m = em.assign(f"tl.exp2({b} * tl.log2(tl.abs({a})))", "p")
    whole = em.assign(f"tl.floor({b}) == {b}", "w")
    odd = em.assign(f"{whole} & (tl.abs({b}) % 2.0 == 1.0)", "o")
    signed = f"tl.where({a} < 0, tl.where({whole}, tl.where({odd}, -{m}, {m}), NAN), {m})"
    return f"tl.where({b} == 0.0, 1.0, {signed})"


def _shift(left: bool) -> Binary:
    def emit(em: Emitter, a: str, b: str, t) -> str:
        width = t.width.data
        ok = em.assign(f"({b} >= 0) & ({b} < {width})" if is_signed(t) else f"{b} < {width}", "s")
        amount = em.assign(f"tl.where({ok}, {b}, 0)", "s")
        if left:
            return f"tl.where({ok}, {a} << {amount}, 0)"
        out = f"tl.where({a} < 0, -1, 0)" if is_signed(t) else "0"
        return f"tl.where({ok}, {a} >> {amount}, {out})"

    return emit


def _infix(symbol: str) -> Binary:
    return lambda em, a, b, t: f"{a} {symbol} {b}"


COMMON_BINARY: dict[type[Operation], Binary] = {
    g.AddOp: _infix("+"),
    g.SubOp: _infix("-"),
    g.MulOp: _infix("*"),
    g.EqOp: _infix("=="),
    g.NeOp: _infix("!="),
    g.LtOp: _infix("<"),
    g.LeOp: _infix("<="),
    g.GtOp: _infix(">"),
    g.GeOp: _infix(">="),
    g.AndOp: _infix("&"),
    g.OrOp: _infix("|"),
    g.XorOp: _infix("^"),
}

FLOAT_BINARY: dict[type[Operation], Binary] = {
    g.DivOp: _infix("/"),
    g.FloorDivOp: lambda em, a, b, t: f"tl.floor({a} / {b})",
    g.FloorModOp: _float_floor_mod,
    g.RemOp: _infix("%"),
    g.PowOp: _float_pow,
    g.MaxOp: lambda em, a, b, t: f"tl.maximum({a}, {b}, {NAN_ALL})",
    g.MinOp: lambda em, a, b, t: f"tl.minimum({a}, {b}, {NAN_ALL})",
}

INT_BINARY: dict[type[Operation], Binary] = {
    g.DivOp: _int_div,
    g.FloorDivOp: _int_floor_div,
    g.FloorModOp: _int_floor_mod,
    g.RemOp: _int_rem,
    g.MaxOp: lambda em, a, b, t: f"tl.maximum({a}, {b})",
    g.MinOp: lambda em, a, b, t: f"tl.minimum({a}, {b})",
    g.ShiftLeftOp: _shift(left=True),
    g.ShiftRightOp: _shift(left=False),
}

BOOL_BINARY: dict[type[Operation], Binary] = {
    g.MaxOp: _infix("|"),
    g.MinOp: _infix("&"),
    g.AddOp: _infix("|"),
    g.MulOp: _infix("&"),
}


def unsupported(op: Operation, why: str = "") -> GraphcError:
    return GraphcError(f"triton backend: {op.name} is not supported{why}")


def element(value) -> object:
    return value.type.element_type


def elementwise(em: Emitter, op: Operation, args: list[str]) -> str:
    """The variable holding `op`'s result, given its operands' variables (already broadcast)."""
    out_t = element(op.results[0])
    if isinstance(op, g.SelectOp):
        return em.assign(f"tl.where({args[0]}, {args[1]}, {args[2]})")
    if isinstance(op, g.CastOp):
        return em.assign(cast(args[0], element(op.operands[0]), out_t))
    in_t = element(op.operands[0])
    compute = args
    if is_half(in_t):  # compute in float32, round to the 16-bit type after the op
        compute = [em.assign(f"{a}.to(tl.float32)", "h") for a in args]
    if isinstance(op, g.ElementwiseUnary):
        table = FLOAT_UNARY if is_float(in_t) else BOOL_UNARY if dtypes.is_bool(in_t) else INT_UNARY
        fn = table.get(type(op))
        if fn is None:
            raise unsupported(op, f" on {in_t}")
        expr = fn(em, compute[0])
    else:
        if dtypes.is_bool(in_t):
            fn = BOOL_BINARY.get(type(op)) or COMMON_BINARY.get(type(op))
        else:
            fn = COMMON_BINARY.get(type(op)) or (FLOAT_BINARY if is_float(in_t) else INT_BINARY).get(type(op))
        if fn is None:
            raise unsupported(op, f" on {in_t}")
        expr = fn(em, compute[0], compute[1], in_t)
    result = em.assign(expr)
    if dtypes.is_bool(out_t) or (out_t == in_t and is_float(in_t) and not is_half(in_t)):
        return result
    return em.assign(f"{result}{to_register(out_t)}")


def cast(x: str, from_t, to_t) -> str:
    if dtypes.is_bool(to_t):
        return f"{x} != 0"
    if from_t == to_t:
        return x
    if is_half(from_t) and not is_float(to_t):
        x = f"{x}.to(tl.float32)"
    return f"{x}{to_register(to_t)}"


def check_supported(op: Operation) -> str | None:
    """Why `op` cannot be compiled (None when it can): checked for every op before emitting."""
    if not isinstance(op, g.ElementwiseUnary | g.ElementwiseBinary):
        return None
    t = element(op.operands[0])
    if isinstance(op, g.ElementwiseUnary):
        table = FLOAT_UNARY if is_float(t) else BOOL_UNARY if dtypes.is_bool(t) else INT_UNARY
        return None if type(op) in table else f"{op.name} on {t}"
    if type(op) in COMMON_BINARY or (dtypes.is_bool(t) and type(op) in BOOL_BINARY):
        return None
    table = FLOAT_BINARY if is_float(t) else INT_BINARY
    return None if type(op) in table else f"{op.name} on {t}"


def scalar(value, element_type) -> str:
    return literal(value, element_type)
