"""Writing Triton source text: an indented line buffer with scoped value caching, literals, dtypes.

Takes nothing from the IR but element types; leaves Python/Triton text. Every template builds its
kernel with an `Emitter`; `kernel_file` wraps a kernel body into a self-contained module (imports,
the constants the kernels use, the region's name and kind in a header comment).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from xdsl.ir import Attribute

from graphc.dialects import dtypes
from graphc.errors import GraphcError

_TL_TYPES: list[tuple[Attribute, str]] = [
    (dtypes.f16, "tl.float16"),
    (dtypes.bf16, "tl.bfloat16"),
    (dtypes.f32, "tl.float32"),
    (dtypes.f64, "tl.float64"),
    (dtypes.i1, "tl.int1"),
    (dtypes.i8, "tl.int8"),
    (dtypes.i16, "tl.int16"),
    (dtypes.i32, "tl.int32"),
    (dtypes.i64, "tl.int64"),
    (dtypes.ui8, "tl.uint8"),
    (dtypes.ui16, "tl.uint16"),
    (dtypes.ui32, "tl.uint32"),
    (dtypes.ui64, "tl.uint64"),
]


def tl_type(element: Attribute, where: str = "") -> str:
    """The `tl.*` dtype of an element type; a one-line error for types the backend does not handle."""
    for attr, name in _TL_TYPES:
        if attr == element:
            return name
    raise GraphcError(f"triton backend: element type {element} is not supported{where}")


def to_register(element: Attribute) -> str:
    """The conversion that rounds a computed value to `element` and leaves it in its register type.

    bfloat16 values live in float32 registers, rounded to bfloat16 after each op (as the CPU backend
    computes them): Triton's interpreter gets native bfloat16 arithmetic wrong, and GPUs have little
    of it outside `tl.dot`. They are bfloat16 only in memory (loads widen, stores narrow)."""
    if element == dtypes.bf16:
        return ".to(tl.bfloat16).to(tl.float32)"
    return f".to({tl_type(element)})"


def register_type(element: Attribute) -> str:
    return "tl.float32" if element == dtypes.bf16 else tl_type(element)


def is_float(element: Attribute) -> bool:
    return dtypes.is_float(element)


def is_half(element: Attribute) -> bool:
    """16-bit floats: math functions and accumulations run in float32 (as on the CPU backend)."""
    return element in (dtypes.f16, dtypes.bf16)


def is_signed(element: Attribute) -> bool:
    return dtypes.is_integer(element) and not dtypes.is_unsigned(element)


def literal(value: float | int | bool, element: Attribute) -> str:
    """A scalar of `element`'s type as Triton source (a 0-d tensor, so its type is exact)."""
    if dtypes.is_bool(element):
        return f"tl.full([], {1 if value else 0}, tl.int1)"
    if is_float(element):
        v = float(value)
        if element == dtypes.bf16:
            from ml_dtypes import bfloat16

            v = float(bfloat16(v))
        text = "NAN" if math.isnan(v) else "POS_INF" if v == math.inf else "NEG_INF" if v == -math.inf else repr(v)
    else:
        text = str(int(value))
    return f"tl.full([], {text}, {register_type(element)})"


def type_min(element: Attribute) -> float | int:
    if is_float(element):
        return -math.inf
    if dtypes.is_bool(element):
        return 0
    bits = element.width.data
    return 0 if dtypes.is_unsigned(element) else -(1 << (bits - 1))


def type_max(element: Attribute) -> float | int:
    if is_float(element):
        return math.inf
    if dtypes.is_bool(element):
        return 1
    bits = element.width.data
    return (1 << bits) - 1 if dtypes.is_unsigned(element) else (1 << (bits - 1)) - 1


def pow2_at_least(n: int, low: int = 1, high: int = 1 << 30) -> int:
    p = 1
    while p < n:
        p *= 2
    return max(low, min(high, p))


class Emitter:
    """Lines of one kernel body. `scope()` opens a loop body: values cached inside stay inside."""

    def __init__(self, indent: int = 1):
        self.lines: list[str] = []
        self.indent = indent
        self.counter = 0
        self.scopes: list[dict] = [{}]

    def line(self, text: str) -> None:
        self.lines.append("    " * self.indent + text)

    def comment(self, text: str) -> None:
        self.line(f"# {text}")

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def assign(self, expr: str, prefix: str = "v") -> str:
        name = self.fresh(prefix)
        self.line(f"{name} = {expr}")
        return name

    def lookup(self, key) -> str | None:
        for scope in reversed(self.scopes):
            if key in scope:
                return scope[key]
        return None

    def remember(self, key, name: str) -> None:
        self.scopes[-1][key] = name

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        """`header:` and an indented body whose cached values are forgotten after it."""
        self.line(header + ":")
        self.indent += 1
        self.scopes.append({})
        try:
            yield
        finally:
            self.scopes.pop()
            self.indent -= 1

    def text(self) -> str:
        return "\n".join(self.lines)


HEADER = '''"""{title}

Generated by graphc's triton backend. {summary}
"""

import triton
import triton.language as tl

POS_INF: tl.constexpr = tl.constexpr(float("inf"))
NEG_INF: tl.constexpr = tl.constexpr(float("-inf"))
NAN: tl.constexpr = tl.constexpr(float("nan"))
'''

HELPERS = '''

@triton.jit
def _mul_combine(a, b):
    return a * b


@triton.jit
def _add_combine(a, b):
    return a + b
'''


def kernel_file(title: str, summary: str, kernel: str) -> str:
    """One kernel module: header comment, imports, constants, combine helpers, the kernel."""
    return HEADER.format(title=title, summary=summary) + HELPERS + "\n\n" + kernel.rstrip() + "\n"


def signature(name: str, pointers: list[str], constexprs: list[str]) -> str:
    params = [*pointers, *(f"{c}: tl.constexpr" for c in constexprs)]
    return f"@triton.jit\ndef {name}({', '.join(params)}):"


def pointer_names(values, prefix: str) -> list[str]:
    """Readable, unique pointer parameter names from SSA name hints (`x_ptr`, `in1_ptr`, …)."""
    names = []
    for i, v in enumerate(values):
        hint = "".join(c if c.isalnum() else "_" for c in (v.name_hint or "")).strip("_")
        base = f"{prefix}{i}_{hint}" if hint and not hint[0].isdigit() else f"{prefix}{i}"
        names.append(base + "_ptr")
    return names
