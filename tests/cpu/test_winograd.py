"""CPU backend: 3×3 stride-1 convolutions through Winograd F(2×2, 3×3) (`lower_winograd`).

The error bound is the algorithm's own: every term the kernel adds is a product of a transformed
filter value and a transformed input value, each itself a short signed sum, so its rounding error
is at most γ·S with S the same computation on absolute values (|Aᵀ| (|G| |g| |Gᵀ| ⊙ |Bᵀ| |d| |B|) |A|
summed over input channels) and γ ≈ (ci + 8)·u: ci products accumulated, up to 4 + 4 additions in
the input and output transforms and 3 in the filter transform. The reference's own error (f64
accumulation, one rounding) is one more u·|ref|.
"""

from __future__ import annotations

import numpy as np
import pytest
from cpu_testing import build, reference, run_cpu
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.backends.cpu.lower_winograd import takes_winograd
from graphc.dialects import graph as g

BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)
U32 = 2.0**-24


def winograd_magnitude(x: np.ndarray, w: np.ndarray, pads) -> np.ndarray:
    """S: F(2×2, 3×3) evaluated on absolute values of the operands and of the transforms."""
    n, h, wd, ci = x.shape
    co = w.shape[3]
    pt, pb, pl, pr = pads
    oh, ow = h + pt + pb - 2, wd + pl + pr - 2
    th, tw = -(-oh // 2), -(-ow // 2)
    padded = np.zeros((n, 2 * th + 2, 2 * tw + 2, ci))
    padded[:, pt : pt + h, pl : pl + wd] = np.abs(x)
    u = np.einsum("ai,ijkc,bj->abkc", np.abs(G), np.abs(w).astype(np.float64), np.abs(G))  # 4,4,ci,co
    out = np.zeros((n, 2 * th, 2 * tw, co))
    for ty in range(th):
        for tx in range(tw):
            d = padded[:, 2 * ty : 2 * ty + 4, 2 * tx : 2 * tx + 4]  # n,4,4,ci
            v = np.einsum("ai,nijk,bj->nabk", np.abs(BT), d, np.abs(BT))
            m = np.einsum("nabk,abkc->nabc", v, u)
            out[:, 2 * ty : 2 * ty + 2, 2 * tx : 2 * tx + 2] = np.einsum("ia,nabc,jb->nijc", np.abs(AT), m, np.abs(AT))
    return out[:, :oh, :ow]


def conv_program(x_shape, w, pads, epilogue=None):
    def body(gb, x):
        y = gb(g.Conv2DOp, x, gb.const(w, "filter"), strides=g.ints_attr((1, 1)), dilations=g.ints_attr((1, 1)),
               pads=g.ints_attr(pads), groups=g.int_attr(1))  # fmt: skip
        return epilogue(gb, y) if epilogue else y

    return build([(x_shape, np.float32)], body)


def assert_winograd_close(got, ref, x, w, pads):
    bound = (w.shape[2] + 8) * U32 * winograd_magnitude(x, w, pads) + U32 * np.abs(ref.astype(np.float64))
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    assert np.all(err <= bound), float(np.max(err - bound))


def _conv_op(program):
    return next(op for op in program.module.walk() if isinstance(op, g.Conv2DOp))


CASES = [
    # (input NHWC, cout, pads): channel tails, odd output sizes, asymmetric and no padding, batch
    ((1, 9, 11, 16), 16, (1, 1, 1, 1)),
    ((2, 8, 8, 24), 40, (1, 1, 1, 1)),
    ((1, 7, 10, 8), 72, (0, 0, 0, 0)),
    ((1, 6, 5, 33), 9, (2, 0, 1, 2)),
    ((1, 30, 30, 64), 64, (1, 1, 1, 1)),
]


@pytest.mark.parametrize("case", CASES)
def test_winograd_conv_matches_reference(case):
    x_shape, co, pads = case
    rng = np.random.default_rng(11)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal((3, 3, x_shape[3], co)).astype(np.float32)
    program = conv_program(x_shape, w, pads)
    assert takes_winograd(_conv_op(program))
    (got,) = run_cpu(program, [x])
    (ref,) = reference(program, [x])
    assert got.shape == ref.shape
    assert_winograd_close(got, ref, x, w, pads)


def test_winograd_with_fused_bias_relu_and_residual():
    """The region's epilogue runs on the output-transformed values (bias, relu, residual add)."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 11, 9, 16)).astype(np.float32)
    w = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    bias = rng.standard_normal(16).astype(np.float32)

    def epilogue(gb, y):
        z = gb(g.ReluOp, gb(g.AddOp, y, gb.const(bias, "bias")))
        return gb(g.AddOp, z, x_value[0])

    x_value = []

    def body(gb, xin):
        x_value.append(xin)
        y = gb(g.Conv2DOp, xin, gb.const(w, "filter"), strides=g.ints_attr((1, 1)), dilations=g.ints_attr((1, 1)),
               pads=g.ints_attr((1, 1, 1, 1)), groups=g.int_attr(1))  # fmt: skip
        return epilogue(gb, y)

    program = build([(x.shape, np.float32)], body)
    (got,) = run_cpu(program, [x])
    (ref,) = reference(program, [x])
    # relu and the residual add do not grow the conv's error; the add rounds once more
    conv_bound = (16 + 8) * U32 * winograd_magnitude(x, w, (1, 1, 1, 1))
    bound = conv_bound + 2 * U32 * (np.abs(ref.astype(np.float64)) + np.abs(bias) + np.abs(x))
    assert np.all(np.abs(got.astype(np.float64) - ref) <= bound)


def test_direct_paths_keep_their_convolutions():
    """Thin, strided, dilated, grouped and f64 convolutions stay on the direct kernels."""
    rng = np.random.default_rng(13)
    for x_shape, w_shape, strides, dilations, groups, dtype in [
        ((1, 8, 8, 3), (3, 3, 3, 16), (1, 1), (1, 1), 1, np.float32),  # 3-channel stem
        ((1, 8, 8, 16), (3, 3, 16, 16), (2, 2), (1, 1), 1, np.float32),
        ((1, 8, 8, 16), (3, 3, 16, 16), (1, 1), (2, 2), 1, np.float32),
        ((1, 8, 8, 16), (3, 3, 8, 16), (1, 1), (1, 1), 2, np.float32),
        ((1, 8, 8, 16), (3, 3, 16, 16), (1, 1), (1, 1), 1, np.float64),
    ]:
        w = rng.standard_normal(w_shape).astype(dtype)
        program = build(
            [(x_shape, dtype)],
            lambda gb, x: gb(g.Conv2DOp, x, gb.const(w, "filter"), strides=g.ints_attr(strides),
                             dilations=g.ints_attr(dilations), pads=g.ints_attr((1, 1, 1, 1)), groups=g.int_attr(groups)),
        )  # fmt: skip
        assert not takes_winograd(_conv_op(program))


@settings(max_examples=10, deadline=None)
@given(
    h=st.integers(2, 13), w_=st.integers(2, 13), ci=st.integers(8, 40), co=st.integers(8, 70),
    pads=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
    batch=st.integers(1, 2),
)  # fmt: skip
def test_winograd_random_shapes(h, w_, ci, co, pads, batch):
    if h + pads[0] + pads[1] < 4 or w_ + pads[2] + pads[3] < 4:
        return  # an output smaller than one tile takes the direct path
    rng = np.random.default_rng(h * 1000 + w_ * 10 + ci)
    x = rng.standard_normal((batch, h, w_, ci)).astype(np.float32)
    w = rng.standard_normal((3, 3, ci, co)).astype(np.float32)
    program = conv_program(x.shape, w, pads)
    assert takes_winograd(_conv_op(program))
    (got,) = run_cpu(program, [x])
    (ref,) = reference(program, [x])
    assert_winograd_close(got, ref, x, w, pads)
