"""A small builder for loop-level kernels, so that each op's lowering reads like its loop nest.

Takes nothing from the pipeline: lowerings call it. Leaves a `func.func` whose body uses only the
standard `func`, `scf`, `memref`, `arith` and `math` dialects on static memrefs (the loop level,
which prints and re-parses as MLIR and which `emit_llvm` turns into LLVM IR).

Conventions:
- An *index* is a Python `int` or an `index`-typed SSA value. Index arithmetic (`add`, `mul`, ...)
  folds Python ints, so static offsets cost nothing, and marks what it emits `nsw`: indices here
  are bounded by buffer sizes and never overflow.
- Loops over a dimension of size 1 are not emitted; the index is the constant 0.
- Constants are created once per kernel, at the top of its body.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cache
from math import prod

from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    TensorType,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    StringAttr,
    UnitAttr,
    VectorType,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from graphc.backends.cpu.elements import ElemKind

Index = int | SSAValue
index = IndexType()
NSW = arith.IntegerOverflowAttr([arith.IntegerOverflowFlag.NSW])
NO_FLAGS = arith.FastMathFlagsAttr("none")
REASSOC = arith.FastMathFlagsAttr(
    [arith.FastMathFlag.REASSOC, arith.FastMathFlag.ALLOW_CONTRACT]
)
"""Fast-math flags for accumulations (sums, products, dot products): they let LLVM vectorize a
reduction by reordering it, which changes rounding within the reduction-length tolerance."""
CONTRACT = arith.FastMathFlagsAttr([arith.FastMathFlag.ALLOW_CONTRACT])
"""`a*b+c` may become one fused multiply-add (one rounding instead of two)."""


@cache
def vector_type(element: Attribute, lanes: int) -> VectorType:
    """`vector<lanes x element>`, made once (building an xDSL type verifies it: not free)."""
    return VectorType(element, [lanes])


@dataclass
class Loop:
    """An `scf.for` being built: its induction variable and loop-carried values."""

    op: scf.ForOp
    iv: SSAValue
    carried: list[SSAValue]
    next_values: list[SSAValue] | None = None

    def next(self, *values: SSAValue) -> None:
        """The carried values for the next iteration (yielded at the end of the body)."""
        self.next_values = list(values)

    @property
    def results(self) -> list[SSAValue]:
        return list(self.op.results)


@dataclass
class Reduction:
    """Carried values threaded through a loop nest (see `KernelBuilder.reduce_nest`)."""

    ivs: list[Index]
    carried: list[SSAValue]
    next_values: list[SSAValue] | None = None
    results: list[SSAValue] = field(default_factory=list)

    def next(self, *values: SSAValue) -> None:
        self.next_values = list(values)


class KernelBuilder:
    """Builds one `func.func` kernel whose arguments are memrefs."""

    def __init__(self, name: str, arg_types: Sequence[MemRefType], arg_names: Sequence[str] = ()):
        self.func = func.FuncOp(name, (list(arg_types), []), visibility="private")
        self.entry = self.func.body.block
        self.block = self.entry
        self.args: list[SSAValue] = list(self.entry.args)
        for arg, hint in zip(self.args, arg_names):
            arg.name_hint = hint
        self._constants: dict[tuple, SSAValue] = {}
        self.lanes: int | None = None
        self._constant_ops: list[Operation] = []
        self.globals: list[memref.GlobalOp] = []
        """Constant tables this kernel reads; the caller puts them in the module."""

    # -- construction --------------------------------------------------------------------------

    def emit(self, op: Operation) -> SSAValue:
        """Appends `op` at the insertion point; returns its single result (or None)."""
        self.block.add_op(op)
        return op.results[0] if len(op.results) == 1 else None  # type: ignore[return-value]

    def finish(self) -> func.FuncOp:
        self.entry.add_op(func.ReturnOp())
        if self._constant_ops:
            first = self.entry.first_op
            assert first is not None
            self.entry.insert_ops_before(self._constant_ops, first)
        return self.func

    # -- constants -----------------------------------------------------------------------------

    def const(self, value: int | float | bool, type_: Attribute) -> SSAValue:
        """A typed scalar constant (index, iN or float), hoisted to the top of the kernel.

        Inside `with b.vector_lanes(n)`, an iN or float constant is a splat `vector<n x type>`
        instead (so the scalar helpers of `scalar_ops` and `vector_math` build vector code when
        their operands are vectors); index constants stay scalar.
        """
        if isinstance(type_, IntegerType | IndexType):
            value = int(value)
            if isinstance(type_, IntegerType):
                width = type_.width.data
                value &= (1 << width) - 1  # store the two's complement bit pattern...
                if width > 1 and value >= 1 << (width - 1):  # ...as the signed value
                    value -= 1 << width
            key = (type_, value, self.lanes)
        else:
            value = float(value)
            key = (type_, repr(value), self.lanes)  # keeps -0.0 and nan apart from 0.0
        if isinstance(type_, IndexType):
            key = (type_, value, None)
        cached = self._constants.get(key)
        if cached is not None:
            return cached
        if self.lanes is not None and not isinstance(type_, IndexType):
            vt = vector_type(type_, self.lanes)
            op = arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(vt, [value]), vt)
        else:
            attr = IntegerAttr(value, type_) if isinstance(type_, IntegerType | IndexType) else FloatAttr(value, type_)
            op = arith.ConstantOp(attr, type_)
        self._constant_ops.append(op)
        self._constants[key] = op.result
        return op.result

    @contextmanager
    def vector_lanes(self, lanes: int | None) -> Iterator[None]:
        """Constants made inside are splats of `lanes` elements (see `const`)."""
        outer, self.lanes = self.lanes, lanes
        try:
            yield
        finally:
            self.lanes = outer

    def like(self, value: SSAValue, element: Attribute) -> Attribute:
        """`element`, or a vector of it when `value` is a vector (for ops given a result type)."""
        t = value.type
        return vector_type(element, t.get_shape()[0]) if isinstance(t, VectorType) else element

    def table(self, values: Sequence, element: Attribute) -> SSAValue:
        """A constant 1-D table (a private `memref.global`) computed at compile time."""
        values = list(values)
        name = f"{self.func.sym_name.data}_table{len(self.globals)}"
        ref_type = MemRefType(element, [len(values)])
        init = DenseIntOrFPElementsAttr.from_list(TensorType(element, [len(values)]), values)
        self.globals.append(
            memref.GlobalOp.get(StringAttr(name), ref_type, init, StringAttr("private"), UnitAttr(), 64)
        )
        op = memref.GetGlobalOp(name, ref_type)
        self._constant_ops.append(op)
        return op.memref

    def index(self, value: Index) -> SSAValue:
        return self.const(value, index) if isinstance(value, int) else value

    def true(self) -> SSAValue:
        return self.const(1, IntegerType(1))

    def false(self) -> SSAValue:
        return self.const(0, IntegerType(1))

    # -- index arithmetic (folds Python ints) ----------------------------------------------------

    def add(self, *terms: Index) -> Index:
        static = sum(t for t in terms if isinstance(t, int))
        dynamic = [t for t in terms if not isinstance(t, int)]
        if not dynamic:
            return static
        result = dynamic[0]
        for t in dynamic[1:]:
            result = self.emit(arith.AddiOp(result, t, overflow=NSW))
        if static:
            result = self.emit(arith.AddiOp(result, self.const(static, index), overflow=NSW))
        return result

    def sub(self, a: Index, b: Index) -> Index:
        if isinstance(b, int):
            return self.add(a, -b)
        if isinstance(a, int) and a == 0:
            return self.mul(b, -1)
        return self.emit(arith.SubiOp(self.index(a), b, overflow=NSW))

    def mul(self, a: Index, b: Index) -> Index:
        if isinstance(a, int) and isinstance(b, int):
            return a * b
        if isinstance(a, int):
            a, b = b, a
        if isinstance(b, int):
            if b == 0:
                return 0
            if b == 1:
                return a
        return self.emit(arith.MuliOp(a, self.index(b), overflow=NSW))

    def linear(self, terms: Sequence[tuple[Index, int]], offset: int = 0) -> Index:
        """`offset + sum(index * coefficient)`."""
        return self.add(offset, *(self.mul(i, c) for i, c in terms))

    def min_index(self, a: Index, b: Index) -> Index:
        if isinstance(a, int) and isinstance(b, int):
            return min(a, b)
        return self.emit(arith.MinSIOp(self.index(a), self.index(b)))

    def max_index(self, a: Index, b: Index) -> Index:
        if isinstance(a, int) and isinstance(b, int):
            return max(a, b)
        return self.emit(arith.MaxSIOp(self.index(a), self.index(b)))

    def div_index(self, a: Index, b: int) -> Index:
        """Truncating division of an index by a positive constant."""
        if b == 1:
            return a
        if isinstance(a, int):
            return int(a / b)
        return self.emit(arith.DivSIOp(a, self.const(b, index)))

    def rem_index(self, a: Index, b: int) -> Index:
        if isinstance(a, int):
            return a - b * int(a / b)
        return self.emit(arith.RemSIOp(a, self.const(b, index)))

    def cmp_index(self, predicate: str, a: Index, b: Index) -> SSAValue:
        if isinstance(a, int) and isinstance(b, int):
            holds = {"slt": a < b, "sle": a <= b, "sgt": a > b, "sge": a >= b, "eq": a == b, "ne": a != b}
            return self.true() if holds[predicate] else self.false()
        return self.emit(arith.CmpiOp(self.index(a), self.index(b), predicate))

    def in_range(self, i: Index, lo: int, hi: int) -> SSAValue | None:
        """`lo <= i < hi` as an i1, or None when it always holds."""
        if isinstance(i, int):
            return None if lo <= i < hi else self.false()
        return self.emit(arith.AndIOp(self.cmp_index("sge", i, lo), self.cmp_index("slt", i, hi)))

    def all_of(self, conditions: Sequence[SSAValue | None]) -> SSAValue | None:
        result = None
        for c in conditions:
            if c is None:
                continue
            result = c if result is None else self.emit(arith.AndIOp(result, c))
        return result

    def clamp_index(self, i: Index, lo: int, hi: int) -> Index:
        """Clamps `i` into [lo, hi] (inclusive)."""
        return self.min_index(self.max_index(i, lo), hi)

    # -- memory --------------------------------------------------------------------------------

    def load(self, ref: SSAValue, indices: Sequence[Index]) -> SSAValue:
        return self.emit(memref.LoadOp.get(ref, [self.index(i) for i in indices]))

    def store(self, value: SSAValue, ref: SSAValue, indices: Sequence[Index]) -> None:
        self.emit(memref.StoreOp.get(value, ref, [self.index(i) for i in indices]))

    def load_value(self, ref: SSAValue, indices: Sequence[Index], kind: ElemKind) -> SSAValue:
        """Loads an element and converts it to the kind's compute type."""
        value = self.load(ref, indices)
        if kind.is_bool:
            return self.emit(arith.CmpiOp(value, self.const(0, value.type), "ne"))
        if kind.compute != kind.storage:
            return self.emit(arith.ExtFOp(value, kind.compute))
        return value

    def store_value(self, value: SSAValue, ref: SSAValue, indices: Sequence[Index], kind: ElemKind) -> None:
        """Converts a compute-type value to the kind's storage type and stores it."""
        self.store(self.to_storage(value, kind), ref, indices)

    def to_storage(self, value: SSAValue, kind: ElemKind) -> SSAValue:
        if kind.is_bool:
            return self.emit(arith.ExtUIOp(value, kind.storage))
        if value.type != kind.storage:
            return self.emit(arith.TruncFOp(value, kind.storage))
        return value

    def collapse(self, ref: SSAValue) -> SSAValue:
        """A 1-D view of a contiguous memref (rank 0 and 1 stay as they are).

        Spelled `memref.reinterpret_cast` rather than `memref.collapse_shape`, whose reassociation
        xDSL prints in a form MLIR does not parse.
        """
        t = ref.type
        assert isinstance(t, MemRefType)
        shape = t.get_shape()
        if len(shape) <= 1:
            return ref
        return self.view(ref, [prod(shape)])

    def view(self, ref: SSAValue, shape: Sequence[int]) -> SSAValue:
        """The same contiguous memory seen with another static shape."""
        t = ref.type
        assert isinstance(t, MemRefType)
        result_type = MemRefType(t.element_type, list(shape))
        if result_type == t:
            return ref
        strides = [prod(shape[d + 1 :]) for d in range(len(shape))]
        return self.emit(memref.ReinterpretCastOp(ref, [], [], [], [0], list(shape), strides, result_type))

    # -- control flow --------------------------------------------------------------------------

    @contextmanager
    def loop(self, lo: Index, hi: Index, step: int = 1, carried: Sequence[SSAValue] = ()) -> Iterator[Loop]:
        """`scf.for` from lo to hi; the body is built inside the `with` block."""
        body = Block(arg_types=[index, *(v.type for v in carried)])
        op = scf.ForOp(self.index(lo), self.index(hi), self.index(step), list(carried), body)
        self.block.add_op(op)
        loop = Loop(op, body.args[0], list(body.args[1:]))
        outer, self.block = self.block, body
        try:
            yield loop
        finally:
            self.block = outer
        if carried and loop.next_values is None:
            raise ValueError("a loop with carried values needs Loop.next(...) before its body ends")
        body.add_op(scf.YieldOp(*(loop.next_values or [])))

    @contextmanager
    def nest(self, shape: Sequence[int]) -> Iterator[list[Index]]:
        """Perfectly nested loops over `shape` (outermost first); yields the indices."""
        ivs: list[Index] = []
        with ExitStack() as stack:
            for size in shape:
                if size == 1:
                    ivs.append(0)
                else:
                    ivs.append(stack.enter_context(self.loop(0, size)).iv)
            yield ivs

    @contextmanager
    def reduce_nest(self, shape: Sequence[int], inits: Sequence[SSAValue]) -> Iterator[Reduction]:
        """Nested loops over `shape` threading carried values through every level.

        Inside the `with` block, `r.carried` are the current values and `r.next(...)` sets the
        new ones; after it, `r.results` are the final values.
        """
        loops: list[Loop] = []
        carried = list(inits)
        ivs: list[Index] = []
        with ExitStack() as stack:
            for size in shape:
                if size == 1:
                    ivs.append(0)
                    continue
                loop = stack.enter_context(self.loop(0, size, carried=carried))
                loops.append(loop)
                ivs.append(loop.iv)
                carried = loop.carried
            red = Reduction(ivs, carried)
            yield red
            if red.next_values is None:
                raise ValueError("reduce_nest needs Reduction.next(...)")
            values = red.next_values
            for loop in reversed(loops):
                loop.next(*values)
                values = loop.results  # results exist as soon as the op does; loops close inner first
        red.results = list(loops[0].results) if loops else list(red.next_values)

    @contextmanager
    def if_(self, cond: SSAValue | None) -> Iterator[None]:
        """`scf.if` without results; when `cond` is None the body is emitted unconditionally."""
        if cond is None:
            yield
            return
        body = Block()
        op = scf.IfOp(cond, [], Region(body), Region())
        self.block.add_op(op)
        outer, self.block = self.block, body
        try:
            yield
        finally:
            self.block = outer
        body.add_op(scf.YieldOp())


def entry_function(name: str, arg_types: Sequence[MemRefType], arg_kinds: Sequence[str]) -> KernelBuilder:
    """A builder for the public entry function; `arg_kinds` tells `emit_llvm` which pointer table
    (or the arena) each argument comes from."""
    b = KernelBuilder(name, arg_types)
    b.func.sym_visibility = StringAttr("public")
    b.func.attributes["graphc.entry"] = UnitAttr()
    b.func.attributes["graphc.arg_kinds"] = ArrayAttr([StringAttr(k) for k in arg_kinds])
    return b
