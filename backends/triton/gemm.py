"""What the matmul and conv templates share: the tile product and the fused epilogue.

`accumulate` emits one K step of `acc += a @ b` (`tl.dot` for 16/32-bit floats — IEEE float32
precision, as the reference's HIGHEST — and a broadcast multiply-sum for integers and float64,
which `tl.dot` does not take everywhere). `store_epilogue` makes the root's value from the
accumulator, evaluates every result of the region at the tile's indices (epilogue ops run in
registers before the store: bias, batch norm, activations, residual adds) and stores them.
"""

from __future__ import annotations

from graphc.backends.triton.kernel import KernelBuilder
from graphc.backends.triton.source import tl_type, to_register
from graphc.dialects import dtypes
from graphc.dialects import graph as g

AUTOTUNE = [
    {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32, "num_warps": 4},
    {"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 32, "num_warps": 4},
    {"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 32, "num_warps": 4},
    {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 32, "num_warps": 8},
]


def uses_dot(element) -> bool:
    return element in (dtypes.f16, dtypes.bf16, dtypes.f32)


def acc_type(element) -> str:
    if uses_dot(element):
        return "tl.float32"
    if dtypes.is_integer(element):
        return "tl.int64" if element.width.data == 64 else "tl.int32"
    return tl_type(element)


def accumulate(kb: KernelBuilder, acc: str, a: str, b: str, element) -> None:
    em = kb.em
    if uses_dot(element):
        # bfloat16 tiles are float32 registers (see source.to_register): exact products in IEEE f32.
        precision = ', input_precision="ieee"' if element in (dtypes.f32, dtypes.bf16) else ""
        em.line(f"{acc} = tl.dot({a}, {b}, {acc}{precision})")
    else:
        t = acc_type(element)
        em.line(f"{acc} = {acc} + tl.sum({a}.to({t})[:, :, None] * {b}.to({t})[None, :, :], axis=1)")


def store_epilogue(kb: KernelBuilder, root, acc: str, idx: tuple[str, ...], offset: str, mask: str) -> None:
    """Stores every region result at the root's element (idx/offset: the tile's root index and
    linear offset); results with another shape are reshapes of it and share the linear offset."""
    em, ev = kb.em, kb.ev
    out_t = root.results[0].type.element_type
    value = em.assign(f"{acc}{to_register(out_t)}", "root")
    ev.overrides[root.results[0]] = value
    ev.block_vars.add(value)
    root_shape = g.shape_of(root.results[0].type)
    em.comment("epilogue: every result at the root's element, in registers, then one store each")
    for i, result in enumerate(kb.results):
        shape = g.shape_of(result.type)
        ridx = idx if shape == root_shape else ev.delinearize(offset, shape)
        kb.store(i, offset, ev.at(result, ridx, mask), mask, "[BLOCK_M, BLOCK_N]")


def element_of(value):
    return value.type.element_type

