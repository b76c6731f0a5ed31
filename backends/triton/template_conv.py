"""The conv template: a `conv` region as an implicit GEMM (or a depthwise tap loop) with its epilogue.

Takes a region whose root is `graph.conv2d` (NHWC input, HWIO filter, pads, strides, dilations,
groups); leaves one of two kernels, each with the epilogue fused (`gemm.store_epilogue`):
- implicit GEMM (groups = 1, or grouped with several channels per group): M = N·OH·OW output
  pixels, N = the group's output channels, K = KH·KW·C/groups; the A tile is gathered from the
  input on the fly (padding is a mask, never a padded copy), B is the filter read as a K × N
  matrix, `tl.dot` accumulates; grid axis 1 is the group;
- depthwise (one input channel per group, MobileNet's 3×3 convolutions): a BLOCK_M pixels ×
  BLOCK_N channels tile accumulating the KH·KW taps with elementwise multiply-adds (a `tl.dot` with
  K = 9 would waste most of the tile).
"""

from __future__ import annotations

from graphc.backends.triton.gemm import AUTOTUNE, acc_type, accumulate, element_of, store_epilogue
from graphc.backends.triton.kernel import Kernel, KernelBuilder
from graphc.backends.triton.source import pow2_at_least
from graphc.dialects import fusion
from graphc.dialects import graph as g

DEPTHWISE_AUTOTUNE = [
    {"BLOCK_M": 32, "BLOCK_N": 32, "num_warps": 4},
    {"BLOCK_M": 64, "BLOCK_N": 64, "num_warps": 4},
    {"BLOCK_M": 16, "BLOCK_N": 128, "num_warps": 4},
]


def compile_conv(region: fusion.RegionOp) -> Kernel:
    plan = fusion.epilogue_plan(region)
    root = plan.root
    x, w = root.operands
    attrs = root.attrs()
    nb, h, wd, c = g.shape_of(x.type)
    kh, kw, cg, oc = g.shape_of(w.type)
    _, oh, ow, _ = g.shape_of(root.results[0].type)
    groups = g.get_int(attrs, "groups")
    conv = _Conv(nb, h, wd, c, kh, kw, cg, oc, oh, ow, groups, *g.get_ints(attrs, "strides"),
                 *g.get_ints(attrs, "dilations"), *g.get_ints(attrs, "pads"))  # fmt: skip
    kb = KernelBuilder(region)
    if cg == 1 and groups > 1:
        return _depthwise(kb, root, conv)
    return _implicit_gemm(kb, root, conv)


class _Conv:
    def __init__(self, nb, h, w, c, kh, kw, cg, oc, oh, ow, groups, sh, sw, dh, dw, pt, pb, pl, pr):
        self.nb, self.h, self.w, self.c, self.kh, self.kw, self.cg, self.oc = nb, h, w, c, kh, kw, cg, oc
        self.oh, self.ow, self.groups, self.sh, self.sw, self.dh, self.dw = oh, ow, groups, sh, sw, dh, dw
        self.pt, self.pl = pt, pl
        self.m = nb * oh * ow
        self.ocg = oc // groups

    def describe(self) -> str:
        return (f"conv {self.nb}x{self.h}x{self.w}x{self.c} * {self.kh}x{self.kw}x{self.cg}x{self.oc} -> "
                f"{self.nb}x{self.oh}x{self.ow}x{self.oc}, stride {self.sh}x{self.sw}, dilation {self.dh}x{self.dw}, "
                f"pads top {self.pt} left {self.pl}, groups {self.groups}")  # fmt: skip


def _tiles(kb: KernelBuilder, n: int, col: str) -> None:
    """Program → (BLOCK_M pixels, BLOCK_N channels) tile: `row` [BLOCK_M, 1], `col` [1, BLOCK_N]."""
    em = kb.em
    em.line(f"cdiv_n = tl.cdiv({n}, BLOCK_N)")
    em.line(f"pid = {kb.program_id(0)}")
    em.line("pid_m = pid // cdiv_n")
    em.line("pid_n = pid % cdiv_n")
    kb.block_var("rm", "pid_m * BLOCK_M + tl.arange(0, BLOCK_M)")
    kb.block_var("rn", "pid_n * BLOCK_N + tl.arange(0, BLOCK_N)")
    kb.block_var("row", "rm[:, None]")
    kb.block_var(col, "rn[None, :]")


def _pixel_index(kb: KernelBuilder, cv: _Conv) -> tuple[str, str, str]:
    """(n, oy, ox) of the tile's rows, as [BLOCK_M, 1] vectors."""
    ev = kb.ev
    n = ev.bind(f"row // {cv.oh * cv.ow}", "n")
    oy = ev.bind(f"(row // {cv.ow}) % {cv.oh}", "oy")
    ox = ev.bind(f"row % {cv.ow}", "ox")
    return n, oy, ox


def _input_coords(kb: KernelBuilder, cv: _Conv, oy: str, ox: str, ky: str, kx: str, mask: str):
    """Clamped input row/column and the mask of taps inside the image (padding reads nothing)."""
    ev = kb.ev
    iy = ev.bind(f"{oy} * {cv.sh} + {ky} * {cv.dh} - {cv.pt}", "iy")
    ix = ev.bind(f"{ox} * {cv.sw} + {kx} * {cv.dw} - {cv.pl}", "ix")
    inside = ev.and_mask(mask, f"({iy} >= 0) & ({iy} < {cv.h}) & ({ix} >= 0) & ({ix} < {cv.w})")
    cy = ev.bind(f"tl.minimum(tl.maximum({iy}, 0), {cv.h - 1})", "iy")
    cx = ev.bind(f"tl.minimum(tl.maximum({ix}, 0), {cv.w - 1})", "ix")
    return cy, cx, inside


def _implicit_gemm(kb: KernelBuilder, root, cv: _Conv) -> Kernel:
    em, ev = kb.em, kb.ev
    x, w = root.operands
    k = cv.kh * cv.kw * cv.cg
    em.comment(cv.describe())
    em.comment(f"implicit GEMM per group: M = {cv.m} pixels, N = {cv.ocg} channels, K = {k} (ky, kx, ci)")
    _tiles(kb, cv.ocg, "col")
    em.line("group = tl.program_id(1)")
    kb.block_var("channel", f"group * {cv.ocg} + col")
    n, oy, ox = _pixel_index(kb, cv)
    em.line(f"acc = tl.zeros([BLOCK_M, BLOCK_N], dtype={acc_type(element_of(x))})")
    with em.block(f"for k0 in range(0, {k}, BLOCK_K)"):
        kb.block_var("rk", "k0 + tl.arange(0, BLOCK_K)")
        kb.block_var("ka", "rk[None, :]")
        kb.block_var("kb", "rk[:, None]")
        ky_a, kx_a, ci_a = (ev.bind(e, "t") for e in (f"ka // {cv.kw * cv.cg}", f"(ka // {cv.cg}) % {cv.kw}", f"ka % {cv.cg}"))
        ky_b, kx_b, ci_b = (ev.bind(e, "t") for e in (f"kb // {cv.kw * cv.cg}", f"(kb // {cv.cg}) % {cv.kw}", f"kb % {cv.cg}"))
        a_mask = ev.and_mask(f"(row < {cv.m})", f"ka < {k}")
        cy, cx, inside = _input_coords(kb, cv, oy, ox, ky_a, kx_a, a_mask)
        cin = ev.bind(f"group * {cv.cg} + {ci_a}", "ci") if cv.groups > 1 else ci_a
        a_tile = em.assign(f"tl.where({inside}, {ev.at(x, (n, cy, cx, cin), inside)}, 0)", "a")
        b_mask = ev.and_mask(f"(kb < {k})", f"col < {cv.ocg}")
        b_tile = em.assign(f"tl.where({b_mask}, {ev.at(w, (ky_b, kx_b, ci_b, 'channel'), b_mask)}, 0)", "b")
        accumulate(kb, "acc", a_tile, b_tile, element_of(x))
    mask = ev.and_mask(f"(row < {cv.m})", f"col < {cv.ocg}")
    offset = ev.bind(f"row * {cv.oc} + channel", "o")
    store_epilogue(kb, root, "acc", (n, oy, ox, "channel"), offset, mask)
    blocks = {"BLOCK_M": pow2_at_least(cv.m, 16, 64), "BLOCK_N": pow2_at_least(cv.ocg, 16, 64),
              "BLOCK_K": pow2_at_least(k, 16, 32)}  # fmt: skip
    interpret = {"BLOCK_M": pow2_at_least(cv.m, 16, 256), "BLOCK_N": pow2_at_least(cv.ocg, 16, 128),
                 "BLOCK_K": pow2_at_least(k, 16, 128)}  # fmt: skip
    grid = [f"cdiv({cv.m}, BLOCK_M) * cdiv({cv.ocg}, BLOCK_N)", str(cv.groups)]
    return kb.finish("conv (implicit GEMM)", ["BLOCK_M", "BLOCK_N", "BLOCK_K"], grid, blocks, interpret, AUTOTUNE)


def _depthwise(kb: KernelBuilder, root, cv: _Conv) -> Kernel:
    em, ev = kb.em, kb.ev
    x, w = root.operands
    em.comment(cv.describe())
    em.comment(f"depthwise: {cv.m} pixels x {cv.oc} channels, {cv.kh * cv.kw} taps (channel multiplier {cv.ocg})")
    _tiles(kb, cv.oc, "channel")
    n, oy, ox = _pixel_index(kb, cv)
    cin = ev.bind(f"channel // {cv.ocg}", "ci") if cv.ocg > 1 else "channel"
    mask = ev.and_mask(f"(row < {cv.m})", f"channel < {cv.oc}")
    cmask = ev.bind(f"channel < {cv.oc}", "m")
    t = acc_type(element_of(x))
    em.line(f"acc = tl.zeros([BLOCK_M, BLOCK_N], dtype={t})")
    with em.block(f"for tap in range({cv.kh * cv.kw})"):
        ky = ev.bind(f"tap // {cv.kw}", "ky")
        kx = ev.bind(f"tap % {cv.kw}", "kx")
        cy, cx, inside = _input_coords(kb, cv, oy, ox, ky, kx, mask)
        xv = ev.at(x, (n, cy, cx, cin), inside)
        wv = ev.at(w, (ky, kx, "0", "channel"), cmask)
        em.line(f"acc = acc + tl.where({inside}, {xv}.to({t}) * {wv}.to({t}), 0)")
    offset = ev.bind(f"row * {cv.oc} + channel", "o")
    store_epilogue(kb, root, "acc", (n, oy, ox, "channel"), offset, mask)
    blocks = {"BLOCK_M": pow2_at_least(cv.m, 16, 64), "BLOCK_N": pow2_at_least(cv.oc, 16, 64)}
    interpret = {"BLOCK_M": pow2_at_least(cv.m, 16, 512), "BLOCK_N": pow2_at_least(cv.oc, 16, 256)}
    grid = [f"cdiv({cv.m}, BLOCK_M) * cdiv({cv.oc}, BLOCK_N)"]
    return kb.finish("conv (depthwise)", ["BLOCK_M", "BLOCK_N"], grid, blocks, interpret, DEPTHWISE_AUTOTUNE)
