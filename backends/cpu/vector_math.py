"""Vectorizable f32 math: exp, expm1, log, log1p, tanh, sigmoid, erf as polynomials in plain ops.

Takes an f32 SSA value inside a kernel being built (`KernelBuilder`), or a vector of f32 inside
`KernelBuilder.vector_lanes` (fusion epilogues of the vector matmul/conv kernels); leaves straight-line
`arith`/`math.fma`/`math.absf`/`math.copysign` ops with no calls and no branches, so LLVM's loop
vectorizer turns them into packed AVX-512/AVX2 instructions (`llvm.exp` and libm calls are
scalarised into `expf`/`tanhf` calls instead: NOTES.md). f64 keeps exact libm (see `scalar_ops`).

Each function reduces its argument to a small interval, evaluates a polynomial there with fused
multiply-adds (Horner), and rebuilds the result; edge cases are selects, not branches.

Max error, in ulps of the correctly rounded f32 result (subnormal results: in units of the smallest
subnormal), measured against float64 numpy/scipy on every 61st f32 bit pattern (70 million
inputs, the whole f32 range) plus the edges; `tests/cpu/test_vector_math.py` checks the bound on
a sparser sample:

| function | method | measured | bound |
|---|---|---|---|
| exp     | x = n·ln2 + r (n from a round-to-nearest "magic number" add, ln2 split in two so r is exact), e^r by Cephes' degree-7 polynomial on |r| ≤ ln2/2, 2^n built in the exponent bits as 2^(n>>1)·2^(n−(n>>1)) so subnormal results come out right | 1.0 | 2 |
| expm1   | |x| < 0.5: x + x²(1/2 + x·P(x)) (degree-5 P, minimax fit); else exp(x) − 1 | 1.8 | 3 |
| log     | x = m·2^e with m in [√½, √2) (subnormal inputs scaled by 2^23 first), log(m) = f − f²/2 + f³·P(f) (Cephes), ln2 split in two | 0.8 | 2 |
| log1p   | u = 1 + x; log(u)·x/(u − 1) (compensates the rounding of u exactly, Goldberg); x where u == 1 | 2.4 | 3 |
| tanh    | |x| < 0.625: x + x³·P(x²) (Cephes); else 1 − 2/(e^{2|x|} + 1); the sign by copysign | 1.3 | 2 |
| sigmoid | e = exp(−|x|) (never overflows); x ≥ 0: 1/(1 + e), x < 0: e/(1 + e) | 2.3 | 3 |
| erf     | |x| < 1: x·P(x²) (degree-11 odd minimax fit); 1 ≤ |x| ≤ 4: 1 − exp(Q(|x| − 2.5)), Q a degree-9 minimax fit of log(erfc); |x| > 4: ±1 | 2.5 | 3 |

Edges (all functions): NaN in → NaN out; exp: +inf and x > 88.72 → +inf, −inf and x < −103.97
→ +0; log: log(±0) = −inf, log(x < 0) = NaN, log(+inf) = +inf; expm1(−inf) = −1; log1p(−1) =
−inf, log1p(x < −1) = NaN; tanh and erf saturate to ±1 (erf(±inf) = ±1, tanh(±inf) = ±1); tanh,
erf, expm1 and log1p keep the sign of zero.

No fast-math flags anywhere: the polynomials are written in the order they must be evaluated.
"""

from __future__ import annotations

import math

from xdsl.dialects import arith
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import Float32Type, IntegerType, VectorType, f32
from xdsl.ir import SSAValue

from graphc.backends.cpu.arith_ext import CmpfOp, SelectOp
from graphc.backends.cpu.loop_builder import KernelBuilder

i32 = IntegerType(32)

FUNCTIONS = ("exp", "expm1", "log", "log1p", "tanh", "sigmoid", "erf")

# -- coefficients ----------------------------------------------------------------------------------

_EXP_P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]
"""Cephes expf: e^r ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2, highest degree first."""
_LN2_HI, _LN2_LO = 0.693359375, -2.12194440e-4
"""ln 2 = _LN2_HI + _LN2_LO; _LN2_HI has 10 significant bits, so n·_LN2_HI is exact for |n| < 2^14."""
_MAGIC = 12582912.0  # 1.5·2^23: adding it rounds to an integer, which lands in the low mantissa bits
_MAGIC_BITS = 0x4B400000
_EXP_HI, _EXP_LO = 88.8, -104.0  # beyond: the result is inf / 0 whatever the polynomial says

_EXPM1_P = [2.4937600849164536e-05, 1.9941656755920471e-04, 1.3888692292096465e-03, 8.333246122015175e-03,
            4.166666739460885e-02, 1.666666674023841e-01]  # fmt: skip
"""(expm1(x) − x − x²/2)/x³ on |x| ≤ 0.5, minimax (Lawson) fit, 1.5e-9 relative."""

_LOG_P = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
          -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]  # fmt: skip
"""Cephes logf: log(1 + f) ≈ f − f²/2 + f³·P(f) on √½ − 1 ≤ f < √2 − 1."""

_TANH_P = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1]
"""Cephes tanhf: tanh(x) ≈ x + x³·P(x²) on |x| < 0.625."""

_ERF_SMALL = [-0.0005660484894178808, 0.0049248794093728065, -0.02671779692173004, 0.11280415207147598,
              -0.3761235773563385, 1.1283791065216064]  # fmt: skip
"""erf(x)/x as a polynomial in x² on |x| ≤ 1 (minimax fit, 3.9e-8 relative)."""
_ERF_LARGE = [-5.55710485301941e-08, 1.6149497390160645e-06, -1.3028039854730366e-05, 7.73904297764363e-05,
              -0.00042061939626683023, 0.0021651659271446824, -0.010858220201197049, -0.943893642799252,
              -5.352680731170787, -7.80681527687437]  # fmt: skip
"""log(erfc(x)) as a polynomial in u = x − 2.5 on 1 ≤ x ≤ 4 (minimax fit, 5.1e-9 absolute)."""


class _F:
    """Emits f32/i32 scalar ops through a `KernelBuilder` (constants are hoisted and shared)."""

    def __init__(self, b: KernelBuilder):
        self.b = b

    def c(self, value: float) -> SSAValue:
        return self.b.const(value, f32)

    def ci(self, value: int) -> SSAValue:
        return self.b.const(value, i32)

    def add(self, x, y):
        return self.b.emit(arith.AddfOp(x, y))

    def sub(self, x, y):
        return self.b.emit(arith.SubfOp(x, y))

    def mul(self, x, y):
        return self.b.emit(arith.MulfOp(x, y))

    def div(self, x, y):
        return self.b.emit(arith.DivfOp(x, y))

    def fma(self, x, y, z):
        """x·y + z rounded once."""
        return self.b.emit(mathd.FmaOp(x, y, z))

    def horner(self, x, coefficients) -> SSAValue:
        """The polynomial with `coefficients` (highest degree first) at x."""
        acc = self.c(coefficients[0])
        for k in coefficients[1:]:
            acc = self.fma(acc, x, self.c(k))
        return acc

    def cmp(self, predicate: str, x, y):
        return self.b.emit(CmpfOp(x, y, predicate))

    def select(self, cond, x, y):
        return self.b.emit(SelectOp(cond, x, y))

    def abs(self, x):
        return self.b.emit(mathd.AbsFOp(x))

    def copysign(self, magnitude, sign):
        return self.b.emit(mathd.CopySignOp(magnitude, sign))

    def bits(self, x):
        return self.b.emit(arith.BitcastOp(x, self.b.like(x, i32)))

    def from_bits(self, n):
        return self.b.emit(arith.BitcastOp(n, self.b.like(n, f32)))

    def iadd(self, x, y):
        return self.b.emit(arith.AddiOp(x, y))

    def isub(self, x, y):
        return self.b.emit(arith.SubiOp(x, y))

    def iand(self, x, y):
        return self.b.emit(arith.AndIOp(x, y))

    def ior(self, x, y):
        return self.b.emit(arith.OrIOp(x, y))

    def shl(self, x, n: int):
        return self.b.emit(arith.ShLIOp(x, self.ci(n)))

    def ashr(self, x, n: int):
        return self.b.emit(arith.ShRSIOp(x, self.ci(n)))

    def lshr(self, x, n: int):
        return self.b.emit(arith.ShRUIOp(x, self.ci(n)))


# -- the functions ---------------------------------------------------------------------------------


def exp(b: KernelBuilder, x: SSAValue) -> SSAValue:
    f = _F(b)
    # clamp (ordered compares: NaN passes through, and the arithmetic keeps it NaN)
    xc = f.select(f.cmp("ogt", x, f.c(_EXP_HI)), f.c(_EXP_HI), x)
    xc = f.select(f.cmp("olt", xc, f.c(_EXP_LO)), f.c(_EXP_LO), xc)
    # n = round(x / ln2): the fma rounds x·log2(e) + 1.5·2^23 to an integer in the low mantissa bits
    t = f.fma(xc, f.c(1 / math.log(2)), f.c(_MAGIC))
    n = f.sub(t, f.c(_MAGIC))
    r = f.fma(n, f.c(-_LN2_HI), xc)
    r = f.fma(n, f.c(-_LN2_LO), r)
    p = f.horner(r, _EXP_P)
    p = f.add(f.fma(p, f.mul(r, r), r), f.c(1.0))
    # 2^n = 2^n1 · 2^n2 with n1 = n >> 1: each factor is a normal float for n in [-150, 128]
    ni = f.isub(f.bits(t), f.ci(_MAGIC_BITS))
    n1 = f.ashr(ni, 1)
    n2 = f.isub(ni, n1)
    s1 = f.from_bits(f.shl(f.iadd(n1, f.ci(127)), 23))
    s2 = f.from_bits(f.shl(f.iadd(n2, f.ci(127)), 23))
    return f.mul(f.mul(p, s1), s2)


def expm1(b: KernelBuilder, x: SSAValue) -> SSAValue:
    f = _F(b)
    x2 = f.mul(x, x)
    small = f.fma(f.fma(x, f.horner(x, _EXPM1_P), f.c(0.5)), x2, x)  # x + x²(1/2 + x·P(x))
    large = f.sub(exp(b, x), f.c(1.0))
    result = f.select(f.cmp("olt", f.abs(x), f.c(0.5)), small, large)
    return f.copysign(result, x)  # expm1 has the sign of x (and expm1(-0) = -0)


def log(b: KernelBuilder, x: SSAValue) -> SSAValue:
    f = _F(b)
    tiny = f.cmp("olt", x, f.c(1.1754943508222875e-38))  # subnormal (or ≤ 0: handled at the end)
    xs = f.select(tiny, f.mul(x, f.c(8388608.0)), x)
    bias = f.select(tiny, f.c(-23.0 - 126.0), f.c(-126.0))
    bits = f.bits(xs)
    # x = m·2^e with m in [0.5, 1)
    m = f.from_bits(f.ior(f.iand(bits, f.ci(0x007FFFFF)), f.ci(0x3F000000)))
    # the biased exponent as a float, exactly: bits of 2^23 + E, minus 2^23 (no int→float convert)
    e = f.add(f.sub(f.from_bits(f.ior(f.lshr(bits, 23), f.ci(0x4B000000))), f.c(8388608.0)), bias)
    # m < √½: use 2m − 1 and e − 1, else m − 1 (so f is in [√½ − 1, √2 − 1))
    low = f.cmp("olt", m, f.c(0.70710678118654752440))
    fm = f.sub(f.select(low, f.add(m, m), m), f.c(1.0))
    e = f.select(low, f.sub(e, f.c(1.0)), e)
    z = f.mul(fm, fm)
    y = f.mul(f.mul(f.horner(fm, _LOG_P), fm), z)
    y = f.fma(e, f.c(_LN2_LO), y)
    y = f.fma(z, f.c(-0.5), y)
    result = f.fma(e, f.c(_LN2_HI), f.add(fm, y))
    result = f.select(f.cmp("oeq", x, f.c(math.inf)), f.c(math.inf), result)
    result = f.select(f.cmp("oeq", x, f.c(0.0)), f.c(-math.inf), result)
    return f.select(f.cmp("ult", x, f.c(0.0)), f.c(math.nan), result)  # negative or NaN


def log1p(b: KernelBuilder, x: SSAValue) -> SSAValue:
    f = _F(b)
    u = f.add(f.c(1.0), x)
    d = f.sub(u, f.c(1.0))
    compensated = f.mul(log(b, u), f.div(x, d))
    result = f.select(f.cmp("oeq", d, f.c(0.0)), x, compensated)
    return f.select(f.cmp("oeq", x, f.c(math.inf)), x, result)


def tanh(b: KernelBuilder, x: SSAValue) -> SSAValue:
    f = _F(b)
    z = f.abs(x)
    s = f.mul(z, z)
    small = f.fma(f.mul(f.horner(s, _TANH_P), s), z, z)
    e = exp(b, f.add(z, z))  # +inf for large |x|: 2/inf = 0 saturates to 1
    large = f.sub(f.c(1.0), f.div(f.c(2.0), f.add(e, f.c(1.0))))
    result = f.select(f.cmp("oge", z, f.c(0.625)), large, small)  # NaN takes `small`: NaN
    return f.copysign(result, x)


def sigmoid(b: KernelBuilder, x: SSAValue) -> SSAValue:
    f = _F(b)
    e = exp(b, b.emit(arith.NegfOp(f.abs(x))))
    one = f.c(1.0)
    numerator = f.select(f.cmp("oge", x, f.c(0.0)), one, e)
    return f.div(numerator, f.add(one, e))


def erf(b: KernelBuilder, x: SSAValue) -> SSAValue:
    f = _F(b)
    a = f.abs(x)
    small = f.mul(a, f.horner(f.mul(a, a), _ERF_SMALL))
    clamped = f.select(f.cmp("ogt", a, f.c(4.0)), f.c(4.0), a)
    large = f.sub(f.c(1.0), exp(b, f.horner(f.sub(clamped, f.c(2.5)), _ERF_LARGE)))
    result = f.select(f.cmp("olt", a, f.c(1.0)), small, large)  # NaN takes `large`: NaN
    return f.copysign(result, x)


EMITTERS = {"exp": exp, "expm1": expm1, "log": log, "log1p": log1p, "tanh": tanh, "sigmoid": sigmoid, "erf": erf}


def emit(b: KernelBuilder, name: str, x: SSAValue) -> SSAValue:
    """`name` (one of `FUNCTIONS`) of the f32 value (or vector of f32, inside
    `KernelBuilder.vector_lanes`) `x`."""
    element = x.type.element_type if isinstance(x.type, VectorType) else x.type
    assert isinstance(element, Float32Type), x.type
    return EMITTERS[name](b, x)
