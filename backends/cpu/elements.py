"""How each tensor element type is stored in memory and computed with by the CPU kernels.

Takes a `graph` element type (f16, bf16, f32, f64, i1, i8..i64, ui8..ui64); leaves an `ElemKind`,
the contract between the loop-level IR and the element type:

- `storage` is the memref element type. Loop-level IR uses only signless integers (as `arith`
  requires), so `ui8` is stored as `i8` and the kernel picks unsigned operations; `i1` is stored as
  one byte (`i8`, 0 or 1), like numpy's bool.
- `compute` is the type a kernel computes in: f16 and bf16 are widened to f32 on load and rounded
  back (to nearest even) on store (each op rounds once, as numpy and ml_dtypes do); booleans become
  `i1` on load. bf16 memrefs are `memref<...xbf16>` with standard `arith.extf`/`arith.truncf`;
  `emit_llvm` spells those as bit operations on i16.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import (
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerType,
    MemRefType,
    TensorType,
    f32,
    i1,
    i8,
)
from xdsl.ir import Attribute

from graphc.dialects import dtypes
from graphc.errors import GraphcError


class UnsupportedOnCpu(GraphcError, NotImplementedError):
    """An op, attribute or element type the CPU backend does not handle (a user-facing error)."""


@dataclass(frozen=True)
class ElemKind:
    element: Attribute  # the graph element type (f16, ui8, i1, ...)
    storage: Attribute  # the memref element type
    compute: Attribute  # the type kernels compute in
    is_float: bool
    is_bool: bool
    is_unsigned: bool
    nbytes: int

    @property
    def is_int(self) -> bool:
        return not self.is_float and not self.is_bool

    @property
    def bits(self) -> int:
        """Width of the compute type (integers and floats)."""
        t = self.compute
        if isinstance(t, IntegerType):
            return t.width.data
        return {Float32Type: 32, Float64Type: 64, Float16Type: 16, BFloat16Type: 16}[type(t)]

    @property
    def numpy(self) -> np.dtype:
        return dtypes.to_numpy_dtype(self.element)


_FLOATS = (Float16Type, BFloat16Type, Float32Type, Float64Type)
_HALVES = (Float16Type, BFloat16Type)


def elem_kind(element: Attribute) -> ElemKind:
    if isinstance(element, _FLOATS):
        nbytes = {Float16Type: 2, BFloat16Type: 2, Float32Type: 4, Float64Type: 8}[type(element)]
        compute = f32 if isinstance(element, _HALVES) else element
        return ElemKind(element, element, compute, True, False, False, nbytes)
    if element == dtypes.i1:
        return ElemKind(element, i8, i1, False, True, False, 1)
    if isinstance(element, IntegerType) and element.width.data in (8, 16, 32, 64):
        width = element.width.data
        signless = IntegerType(width)
        return ElemKind(element, signless, signless, False, False, dtypes.is_unsigned(element), width // 8)
    raise UnsupportedOnCpu(
        f"element type {element} is not supported by the CPU backend "
        "(supported: f16, bf16, f32, f64, i1, i8..i64, ui8..ui64)"
    )


def kind_of(tensor_type: Attribute) -> ElemKind:
    assert isinstance(tensor_type, TensorType), tensor_type
    return elem_kind(tensor_type.element_type)


def shape_of(tensor_type: Attribute) -> tuple[int, ...]:
    assert isinstance(tensor_type, TensorType | MemRefType), tensor_type
    return tuple(int(d) for d in tensor_type.get_shape())


def buffer_type(tensor_type: Attribute) -> MemRefType:
    """The memref type that holds a tensor of `tensor_type`."""
    return MemRefType(kind_of(tensor_type).storage, shape_of(tensor_type))


def nbytes_of(tensor_type: Attribute) -> int:
    return int(np.prod(shape_of(tensor_type), dtype=np.int64)) * kind_of(tensor_type).nbytes
