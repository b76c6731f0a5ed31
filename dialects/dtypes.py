"""Element types graphc understands, and their numpy equivalents.

Tensors in the `graph` dialect use builtin element types. Signless integers carry signed semantics
(as in TensorFlow and ONNX); unsigned framework types map to `ui8`/`ui16`/`ui32`/`ui64`.
Booleans are `i1` in the IR and one byte (`np.bool_`) in memory.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import (
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerType,
    Signedness,
    TensorType,
)
from xdsl.ir import Attribute

try:  # bfloat16 as a numpy dtype comes with jax's ml_dtypes
    from ml_dtypes import bfloat16 as _np_bfloat16
except ImportError:  # pragma: no cover - ml_dtypes is a jax dependency
    _np_bfloat16 = None

f16 = Float16Type()
bf16 = BFloat16Type()
f32 = Float32Type()
f64 = Float64Type()
i1 = IntegerType(1)
i8 = IntegerType(8)
i16 = IntegerType(16)
i32 = IntegerType(32)
i64 = IntegerType(64)
ui8 = IntegerType(8, Signedness.UNSIGNED)
ui16 = IntegerType(16, Signedness.UNSIGNED)
ui32 = IntegerType(32, Signedness.UNSIGNED)
ui64 = IntegerType(64, Signedness.UNSIGNED)

_TO_NUMPY: list[tuple[Attribute, np.dtype]] = [
    (f16, np.dtype(np.float16)),
    (f32, np.dtype(np.float32)),
    (f64, np.dtype(np.float64)),
    (i1, np.dtype(np.bool_)),
    (i8, np.dtype(np.int8)),
    (i16, np.dtype(np.int16)),
    (i32, np.dtype(np.int32)),
    (i64, np.dtype(np.int64)),
    (ui8, np.dtype(np.uint8)),
    (ui16, np.dtype(np.uint16)),
    (ui32, np.dtype(np.uint32)),
    (ui64, np.dtype(np.uint64)),
]
if _np_bfloat16 is not None:
    _TO_NUMPY.append((bf16, np.dtype(_np_bfloat16)))


def to_numpy_dtype(element_type: Attribute) -> np.dtype:
    for attr, dtype in _TO_NUMPY:
        if attr == element_type:
            return dtype
    raise ValueError(f"element type {element_type} has no numpy equivalent")


def from_numpy_dtype(dtype: np.dtype | type) -> Attribute:
    dtype = np.dtype(dtype)
    for attr, candidate in _TO_NUMPY:
        if candidate == dtype:
            return attr
    raise ValueError(f"numpy dtype {dtype} is not supported by graphc")


def is_float(element_type: Attribute) -> bool:
    return isinstance(element_type, Float16Type | BFloat16Type | Float32Type | Float64Type)


def is_bool(element_type: Attribute) -> bool:
    return element_type == i1


def is_integer(element_type: Attribute) -> bool:
    return isinstance(element_type, IntegerType) and element_type != i1


def is_unsigned(element_type: Attribute) -> bool:
    return isinstance(element_type, IntegerType) and element_type.signedness.data == Signedness.UNSIGNED


def tensor(shape, element_type: Attribute) -> TensorType:
    return TensorType(element_type, [int(d) for d in shape])


def tensor_of(array_shape, dtype) -> TensorType:
    return tensor(array_shape, from_numpy_dtype(dtype))
