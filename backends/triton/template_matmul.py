"""The matmul template: a `matmul` region as a tiled `tl.dot` kernel with its epilogue fused.

Takes a region whose root is `graph.matmul` (`a[..., M, K] @ b[..., K, N]`, batch dimensions
broadcast); leaves a kernel with one program per BLOCK_M × BLOCK_N output tile (grid axis 1: the
batch). Operands are read through their prologue views (a transposed or sliced operand is an index
map of the load, never a copy); masked K tails load zeros. The epilogue (`gemm.store_epilogue`)
runs on the accumulator before the store.
"""

from __future__ import annotations

from math import prod

from graphc.backends.triton.elemental import broadcast_index
from graphc.backends.triton.gemm import AUTOTUNE, acc_type, accumulate, element_of, store_epilogue
from graphc.backends.triton.kernel import Kernel, KernelBuilder
from graphc.backends.triton.source import pow2_at_least
from graphc.dialects import fusion
from graphc.dialects import graph as g


def compile_matmul(region: fusion.RegionOp) -> Kernel:
    plan = fusion.epilogue_plan(region)
    root = plan.root
    a, b = root.operands
    a_shape, b_shape = g.shape_of(a.type), g.shape_of(b.type)
    out_shape = g.shape_of(root.results[0].type)
    batch = out_shape[:-2]
    m, n = out_shape[-2:]
    k = a_shape[-1]
    batches = prod(batch)
    kb = KernelBuilder(region)
    em, ev = kb.em, kb.ev
    em.comment(f"C[{m}x{n}] = A[{m}x{k}] @ B[{k}x{n}] for {batches} batch(es) {list(batch)}; tile BLOCK_M x BLOCK_N")
    em.line(f"pid = {kb.program_id(0)}")
    em.line("pid_m = pid // cdiv_n")
    em.line("pid_n = pid % cdiv_n")
    b_idx = ev.delinearize(kb.program_id(1), batch) if batch else ()
    kb.block_var("rm", "pid_m * BLOCK_M + tl.arange(0, BLOCK_M)")
    kb.block_var("rn", "pid_n * BLOCK_N + tl.arange(0, BLOCK_N)")
    kb.block_var("row", "rm[:, None]")
    kb.block_var("col", "rn[None, :]")
    acc = "acc"
    em.line(f"{acc} = tl.zeros([BLOCK_M, BLOCK_N], dtype={acc_type(element_of(a))})")
    with em.block(f"for k0 in range(0, {k}, BLOCK_K)"):
        kb.block_var("rk", "k0 + tl.arange(0, BLOCK_K)")
        a_mask = ev.and_mask(f"(row < {m})", f"rk[None, :] < {k}")
        b_mask = ev.and_mask(f"(rk[:, None] < {k})", f"col < {n}")
        a_idx = broadcast_index(b_idx, batch, a_shape[:-2]) + ("row", "rk[None, :]")
        b_idx_ = broadcast_index(b_idx, batch, b_shape[:-2]) + ("rk[:, None]", "col")
        a_tile = em.assign(f"tl.where({a_mask}, {ev.at(a, a_idx, a_mask)}, 0)", "a")
        b_tile = em.assign(f"tl.where({b_mask}, {ev.at(b, b_idx_, b_mask)}, 0)", "b")
        accumulate(kb, acc, a_tile, b_tile, element_of(a))
    mask = ev.and_mask(f"(row < {m})", f"col < {n}")
    batch_offset = f"({ev.linear(b_idx, batch)}) * {m * n} + " if batch else ""
    offset = ev.bind(f"{batch_offset}row * {n} + col", "o")
    store_epilogue(kb, root, acc, (*b_idx, "row", "col"), offset, mask)
    blocks = _blocks(m, n, k, 64, 64, 32)
    interpret = _blocks(m, n, k, 128, 128, 128)
    em.lines.insert(0, f"    cdiv_n = tl.cdiv({n}, BLOCK_N)")
    grid = [f"cdiv({m}, BLOCK_M) * cdiv({n}, BLOCK_N)", str(batches)]
    return kb.finish("matmul", ["BLOCK_M", "BLOCK_N", "BLOCK_K"], grid, blocks, interpret, AUTOTUNE)


def _blocks(m: int, n: int, k: int, bm: int, bn: int, bk: int) -> dict[str, int]:
    return {"BLOCK_M": pow2_at_least(m, 16, bm), "BLOCK_N": pow2_at_least(n, 16, bn), "BLOCK_K": pow2_at_least(k, 16, bk)}
