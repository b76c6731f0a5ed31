"""Loop level → LLVM IR, with llvmlite's `ir` builder (no `llvm` dialect in between).

Takes the loop-level module of `lower_to_loops` (func, scf, memref, arith, math on static memrefs,
plus `arith.remf`). Leaves an `llvmlite.ir.Module`:

- every memref is a pointer to its base; `memref.load/store` become one `getelementptr inbounds`
  from that pointer at the linear index (static strides and layout offset, constant indices
  folded) and a load/store aligned to the element size. Reinterpret casts and collapses are the
  same pointer, a `memref.view` the pointer plus its byte shift: no `ptrtoint`/`inttoptr`
  anywhere, so LLVM can vectorize;
- kernels are internal, `noinline` (the optimizer works kernel by kernel, which keeps compile time
  linear), with `noalias align 64 dereferenceable(size)` pointer parameters: the memory plan never
  lets a kernel's result overlap its operands, and every buffer starts 64-byte aligned (arena
  offsets are multiples of 64; the runtime aligns inputs, outputs, weights and the arena);
- the entry (`graphc.entry`) gets the C ABI `void entry(void **inputs, void **outputs,
  void **weights, char *arena)`, loading each buffer pointer from its table;
- `scf.for` with constant bounds becomes a bottom-tested loop (`do { } while`), the canonical form
  LLVM's vectorizer wants; other loops are guarded;
- fast-math flags come only from the ops' own `fastmath` attributes (the lowerings put `reassoc
  contract` on accumulations, nothing on NaN-sensitive ops); index arithmetic carries `nsw`;
- math: LLVM intrinsics where they exist (exp, log, sqrt, sin, cos, floor, ceil, fabs, roundeven,
  pow, copysign, maximum/minimum, fma), libm otherwise (tanh, erf, expm1, log1p, tan, the inverse
  and hyperbolic trigonometric functions). On f32 (and f16/bf16) the lowerings emit
  `vector_math`'s polynomials instead of exp/log/tanh/erf/expm1/log1p/sigmoid, so in practice only
  f64 (and sin/cos/pow, tan, asin, ..., atanh) reach the intrinsics and libm;
- bf16 (LLVM's `bfloat` is not in llvmlite): stored as i16; `arith.extf` from bf16 is the bits
  shifted into the top half of an f32, `arith.truncf` to bf16 rounds to nearest even with integer
  arithmetic (`bits + 0x7fff + lsb`, the top half; NaN keeps its sign and becomes quiet), exactly as
  ml_dtypes converts. Both vectorize. Only f32 → bf16 truncation exists (the lowerings round f64
  to f32 first, as ml_dtypes does);
- vectors (`vector<16xf32>` from the tiled matmul/conv and vectorized fusion epilogues): `vector`
  ops by `emit_vector`, `arith`/`math` ops element-type generic, comparisons and selects through
  `arith_ext`'s vector-capable forms; `scf.parallel` by `parallel` (the thread pool);
- `memref.alloca` (a kernel's top-level scratch, e.g. a result an opaque region does not yield):
  a 64-byte aligned `alloca` in the kernel's frame.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import (
    BFloat16Type,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    StridedLayoutAttr,
    VectorType,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue

from graphc.backends.cpu import emit_vector, parallel
from graphc.backends.cpu.arith_ext import CmpfOp, CmpiOp, RemFOp, SelectOp
from graphc.backends.cpu.x86_ops import INTRINSIC as VPDPBUSD, VpdpbusdOp

I64 = ir.IntType(64)
PTR = ir.PointerType()
BF16_BITS = ir.IntType(16)
"""How a bf16 value is held in LLVM IR: its bit pattern (see the module docstring)."""

LIBM = {
    mathd.TanhOp: "tanh",
    mathd.ErfOp: "erf",
    mathd.ExpM1Op: "expm1",
    mathd.Log1pOp: "log1p",
    mathd.TanOp: "tan",
    mathd.Atan2Op: "atan2",
    mathd.AsinOp: "asin",
    mathd.AcosOp: "acos",
    mathd.AtanOp: "atan",
    mathd.SinhOp: "sinh",
    mathd.CoshOp: "cosh",
    mathd.AsinhOp: "asinh",
    mathd.AcoshOp: "acosh",
    mathd.AtanhOp: "atanh",
}
UNARY_INTRINSICS = {
    mathd.ExpOp: "llvm.exp",
    mathd.Exp2Op: "llvm.exp2",
    mathd.LogOp: "llvm.log",
    mathd.Log2Op: "llvm.log2",
    mathd.Log10Op: "llvm.log10",
    mathd.SqrtOp: "llvm.sqrt",
    mathd.SinOp: "llvm.sin",
    mathd.CosOp: "llvm.cos",
    mathd.FloorOp: "llvm.floor",
    mathd.CeilOp: "llvm.ceil",
    mathd.AbsFOp: "llvm.fabs",
    mathd.RoundEvenOp: "llvm.roundeven",
    mathd.RoundOp: "llvm.round",
    mathd.TruncOp: "llvm.trunc",
}
BINARY_INTRINSICS = {
    mathd.PowFOp: "llvm.pow",
    mathd.CopySignOp: "llvm.copysign",
    arith.MaximumfOp: "llvm.maximum",
    arith.MinimumfOp: "llvm.minimum",
    arith.MaxnumfOp: "llvm.maxnum",
    arith.MinnumfOp: "llvm.minnum",
    arith.MaxSIOp: "llvm.smax",
    arith.MinSIOp: "llvm.smin",
    arith.MaxUIOp: "llvm.umax",
    arith.MinUIOp: "llvm.umin",
}
INT_BINARY = {
    arith.AddiOp: "add",
    arith.SubiOp: "sub",
    arith.MuliOp: "mul",
    arith.DivSIOp: "sdiv",
    arith.DivUIOp: "udiv",
    arith.RemSIOp: "srem",
    arith.RemUIOp: "urem",
    arith.AndIOp: "and_",
    arith.OrIOp: "or_",
    arith.XOrIOp: "xor",
    arith.ShLIOp: "shl",
    arith.ShRSIOp: "ashr",
    arith.ShRUIOp: "lshr",
}
FLOAT_BINARY = {
    arith.AddfOp: "fadd",
    arith.SubfOp: "fsub",
    arith.MulfOp: "fmul",
    arith.DivfOp: "fdiv",
    RemFOp: "frem",
}
CASTS = {
    arith.ExtSIOp: "sext",
    arith.ExtUIOp: "zext",
    arith.TruncIOp: "trunc",
    arith.ExtFOp: "fpext",
    arith.TruncFOp: "fptrunc",
    arith.SIToFPOp: "sitofp",
    arith.UIToFPOp: "uitofp",
    arith.FPToSIOp: "fptosi",
    arith.FPToUIOp: "fptoui",
    arith.BitcastOp: "bitcast",
}
CMPI = {0: "==", 1: "!=", 2: "<", 3: "<=", 4: ">", 5: ">=", 6: "<", 7: "<=", 8: ">", 9: ">="}
CMPF = {1: "==", 2: ">", 3: ">=", 4: "<", 5: "<=", 6: "!=", 7: "ord", 8: "==", 9: ">", 10: ">=",
        11: "<", 12: "<=", 13: "!=", 14: "uno"}  # fmt: skip
VIEWS = (memref.CollapseShapeOp, memref.ExpandShapeOp, memref.CastOp)


class EmitError(NotImplementedError):
    pass


def llvm_type(t: Attribute) -> ir.Type:
    if isinstance(t, IndexType):
        return I64
    if isinstance(t, IntegerType):
        return ir.IntType(t.width.data)
    if isinstance(t, Float32Type):
        return ir.FloatType()
    if isinstance(t, Float64Type):
        return ir.DoubleType()
    if isinstance(t, Float16Type):
        return ir.HalfType()
    if isinstance(t, BFloat16Type):
        return BF16_BITS
    if isinstance(t, MemRefType):
        return PTR
    if isinstance(t, VectorType):
        return emit_vector.vector_type(t, llvm_type(t.element_type))
    raise EmitError(f"no LLVM type for {t}")


def _suffix(t: ir.Type) -> str:
    if isinstance(t, ir.VectorType):
        return f"v{t.count}{_suffix(t.element)}"
    if isinstance(t, ir.IntType):
        return f"i{t.width}"
    return {ir.FloatType: "f32", ir.DoubleType: "f64", ir.HalfType: "f16"}[type(t)]


def _libm_name(base: str, t: ir.Type) -> str:
    if isinstance(t, ir.FloatType):
        return base + "f"
    if isinstance(t, ir.DoubleType):
        return base
    raise EmitError(f"libm {base} on {t}: widen to f32 first")


def element_nbytes(t: Attribute) -> int:
    if isinstance(t, IntegerType):
        return max(1, t.width.data // 8)
    return {Float16Type: 2, BFloat16Type: 2, Float32Type: 4, Float64Type: 8}[type(t)]


def bf16_bits(values) -> list[int]:
    """The bit patterns of floats rounded to bf16 (for constants and global tables)."""
    from graphc.dialects import dtypes

    array = np.asarray(values, np.float32).astype(dtypes.to_numpy_dtype(dtypes.bf16))
    return [int(v) for v in array.view(np.int16).reshape(-1)]


def layout(t: MemRefType) -> tuple[list[int], int]:
    """Static element strides and offset of a memref type."""
    shape = [int(d) for d in t.get_shape()]
    if isinstance(t.layout, StridedLayoutAttr):
        strides = [int(s) for s in t.layout.get_strides()]
        offset = t.layout.get_offset()
        return strides, int(offset or 0)
    strides = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    return strides, 0


def _global_bytes(op: memref.GlobalOp) -> bytearray:
    t = op.type
    assert isinstance(t, MemRefType)
    init = op.initial_value
    if not isinstance(init, DenseIntOrFPElementsAttr):
        raise EmitError(f"memref.global @{op.sym_name.data} needs a dense initial value")
    elem = t.element_type
    if isinstance(elem, IntegerType):
        dtype = np.dtype(f"i{max(1, elem.width.data // 8)}")
        values = np.array(init.get_values(), dtype=dtype)
    elif isinstance(elem, BFloat16Type):
        dtype = np.dtype(np.int16)
        values = np.array(bf16_bits(init.get_values()), dtype=dtype)
    else:
        dtype = np.dtype({Float16Type: np.float16, Float32Type: np.float32, Float64Type: np.float64}[type(elem)])
        values = np.array(init.get_values(), dtype=dtype)
    count = int(np.prod(t.get_shape(), dtype=np.int64))
    if values.size == 1 and count != 1:
        values = np.full(count, values[0], dtype=dtype)
    return bytearray(values.tobytes())


class FunctionEmitter:
    """Emits one `func.func` into an llvmlite function."""

    def __init__(self, owner: LLVMEmitter, fn: ir.Function):
        self.owner = owner
        self.fn = fn
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.values: dict[SSAValue, ir.Value] = {}
        self.ints: dict[SSAValue, int] = {}  # integer/index constants, for folding addresses

    def get(self, v: SSAValue) -> ir.Value:
        return self.values[v]

    def emit_block(self, block: Block) -> list[ir.Value]:
        """Emits the ops of a block; returns the operands of its terminator (yield)."""
        for op in block.ops:
            if isinstance(op, scf.YieldOp):
                return [self.get(v) for v in op.operands]
            self.emit_op(op)
        return []

    def emit_op(self, op: Operation) -> None:
        b = self.b
        t = type(op)
        if t is arith.ConstantOp:
            self._constant(op)
        elif t is memref.LoadOp:
            ptr, align = self._address(op.memref, op.indices)
            self.values[op.res] = b.load(ptr, typ=llvm_type(op.res.type), align=align)
        elif t is memref.StoreOp:
            ptr, align = self._address(op.memref, op.indices)
            b.store(self.get(op.value), ptr, align=align)
        elif t in INT_BINARY:
            flags = []
            if hasattr(op, "overflow_flags"):
                flags = [str(f.value) for f in op.overflow_flags.data]
            lhs, rhs = self.get(op.lhs), self.get(op.rhs)
            self.values[op.result] = getattr(b, INT_BINARY[t])(lhs, rhs, flags=flags) if flags else getattr(
                b, INT_BINARY[t]
            )(lhs, rhs)
        elif t in FLOAT_BINARY:
            method = getattr(b, FLOAT_BINARY[t])
            self.values[op.result] = method(self.get(op.lhs), self.get(op.rhs), flags=_fastmath(op))
        elif t in BINARY_INTRINSICS:
            x, y = self.get(op.lhs), self.get(op.rhs)
            fn = self.owner.intrinsic(BINARY_INTRINSICS[t], x.type, 2)
            self.values[op.result] = b.call(fn, [x, y], fastmath=_fastmath(op))
        elif t in UNARY_INTRINSICS:
            x = self.get(op.operand)
            fn = self.owner.intrinsic(UNARY_INTRINSICS[t], x.type, 1)
            self.values[op.result] = b.call(fn, [x], fastmath=_fastmath(op))
        elif t in LIBM:
            args = [self.get(v) for v in op.operands]
            fn = self.owner.libm(_libm_name(LIBM[t], args[0].type), args[0].type, len(args))
            self.values[op.results[0]] = b.call(fn, args, fastmath=_fastmath(op))
        elif t is mathd.RsqrtOp:
            x = self.get(op.operand)
            sqrt = b.call(self.owner.intrinsic("llvm.sqrt", x.type, 1), [x], fastmath=_fastmath(op))
            self.values[op.result] = b.fdiv(ir.Constant(x.type, 1.0), sqrt, flags=_fastmath(op))
        elif t is mathd.FmaOp:
            args = [self.get(v) for v in op.operands]
            fn = self.owner.intrinsic("llvm.fma", args[0].type, 3)
            self.values[op.results[0]] = b.call(fn, args, fastmath=_fastmath(op))
        elif t is VpdpbusdOp:  # AVX-512 VNNI (x86_ops)
            args = [self.get(v) for v in op.operands]
            fn = self.owner.function(VPDPBUSD, ir.FunctionType(args[0].type, [args[0].type] * 3))
            self.values[op.result] = b.call(fn, args)
        elif t is mathd.AbsIOp:
            x = self.get(op.operand)
            fn = self.owner.function(f"llvm.abs.{_suffix(x.type)}", ir.FunctionType(x.type, [x.type, ir.IntType(1)]))
            self.values[op.result] = b.call(fn, [x, ir.Constant(ir.IntType(1), 0)])
        elif t is arith.NegfOp:
            self.values[op.result] = b.fneg(self.get(op.operand), flags=_fastmath(op))
        elif t is arith.CmpiOp or t is CmpiOp:
            pred = op.predicate.value.data
            cmp = b.icmp_unsigned if pred >= 6 else b.icmp_signed
            self.values[op.result] = cmp(CMPI[pred], self.get(op.lhs), self.get(op.rhs))
        elif t is arith.CmpfOp or t is CmpfOp:
            self._cmpf(op)
        elif t is arith.SelectOp or t is SelectOp:
            self.values[op.result] = b.select(self.get(op.cond), self.get(op.lhs), self.get(op.rhs))
        elif t is arith.ExtFOp and isinstance(_element(op.operands[0].type), BFloat16Type):
            self.values[op.result] = self._extend_bf16(self.get(op.operands[0]), llvm_type(op.result.type))
        elif t is arith.TruncFOp and isinstance(_element(op.result.type), BFloat16Type):
            if not isinstance(_element(op.operands[0].type), Float32Type):
                raise EmitError("arith.truncf to bf16 from a type other than f32 (round to f32 first)")
            self.values[op.result] = self._round_to_bf16(self.get(op.operands[0]))
        elif t in CASTS:
            method = getattr(b, CASTS[t])
            self.values[op.results[0]] = method(self.get(op.operands[0]), llvm_type(op.results[0].type))
        elif t is arith.IndexCastOp:
            self._index_cast(op)
        elif t is memref.ViewOp:
            base = self.get(op.source)
            self.values[op.result] = self._gep(ir.IntType(8), base, op.byte_shift)
        elif t is memref.ReinterpretCastOp:
            if len(op.offsets) or len(op.sizes) or len(op.strides):
                raise EmitError("memref.reinterpret_cast with dynamic offsets, sizes or strides")
            # the same base pointer: a static offset is part of the result's layout, applied on access
            self.values[op.result] = self.get(op.source)
        elif t in VIEWS:
            self.values[op.results[0]] = self.get(op.operands[0])
        elif t is memref.AllocaOp:
            self.values[op.memref] = self._alloca(op)
        elif t is memref.GetGlobalOp:
            self.values[op.memref] = self.owner.module.get_global(op.name_.string_value())
        elif t is func.CallOp:
            callee = self.owner.module.get_global(op.callee.string_value())
            b.call(callee, [self.get(v) for v in op.arguments])
        elif t is func.ReturnOp:
            b.ret_void()
        elif t is scf.ForOp:
            self._for(op)
        elif t is scf.IfOp:
            self._if(op)
        elif t in emit_vector.OPS:
            emit_vector.emit(self, op)
        elif t is scf.ParallelOp:
            parallel.emit_parallel(self, op)
        else:
            raise EmitError(f"emit_llvm does not handle {op.name}")

    # -- helpers ---------------------------------------------------------------------------

    def _constant(self, op: arith.ConstantOp) -> None:
        value = op.value
        ty = llvm_type(op.result.type)
        if isinstance(_element(op.result.type), BFloat16Type):
            values = [value.value.data] if isinstance(value, FloatAttr) else list(value.get_values())
            bits = [ir.Constant(BF16_BITS, v) for v in bf16_bits(values)]
            if isinstance(ty, ir.VectorType):
                self.values[op.result] = ir.Constant(ty, bits * ty.count if len(bits) == 1 else bits)
            else:
                self.values[op.result] = bits[0]
            return
        if isinstance(value, IntegerAttr):
            n = int(value.value.data)
            self.ints[op.result] = n
            self.values[op.result] = ir.Constant(ty, n)
        elif isinstance(value, FloatAttr):
            self.values[op.result] = ir.Constant(ty, float(value.value.data))
        elif isinstance(value, DenseIntOrFPElementsAttr) and isinstance(ty, ir.VectorType):
            self.values[op.result] = emit_vector.dense_constant(value, ty)
        else:
            raise EmitError(f"arith.constant of {value} (use memref.global for tensors)")

    # -- bf16 held as i16 bits ---------------------------------------------------------------

    def _extend_bf16(self, x: ir.Value, to: ir.Type) -> ir.Value:
        """bf16 bits → f32 (exact), then to `to` (f32 or f64, scalar or vector)."""
        b = self.b
        wide = b.zext(x, _same_shape(x.type, ir.IntType(32)))
        value = b.bitcast(b.shl(wide, _splat_constant(wide.type, 16)), _same_shape(x.type, ir.FloatType()))
        return value if value.type == to else b.fpext(value, to)

    def _round_to_bf16(self, x: ir.Value) -> ir.Value:
        """f32 → bf16 bits, rounding to nearest even; NaN stays NaN (quiet, same sign)."""
        b = self.b
        i32 = _same_shape(x.type, ir.IntType(32))
        bits = b.bitcast(x, i32)
        high = b.lshr(bits, _splat_constant(i32, 16))
        lsb = b.and_(high, _splat_constant(i32, 1))
        rounded = b.lshr(b.add(bits, b.add(lsb, _splat_constant(i32, 0x7FFF))), _splat_constant(i32, 16))
        quiet_nan = b.or_(high, _splat_constant(i32, 0x40))
        is_nan = b.fcmp_unordered("uno", x, x)
        return b.trunc(b.select(is_nan, quiet_nan, rounded), _same_shape(x.type, BF16_BITS))

    def _alloca(self, op: memref.AllocaOp) -> ir.Value:
        """A static stack buffer, 64-byte aligned (lowerings emit these only at a kernel's top level,
        outside loops: each `alloca` runs once per call)."""
        t = op.memref.type
        assert isinstance(t, MemRefType)
        count = max(1, int(np.prod(t.get_shape(), dtype=np.int64)))
        slot = self.b.alloca(llvm_type(t.element_type), size=ir.Constant(I64, count))
        slot.align = 64
        return slot

    def _gep(self, elem: ir.Type, base: ir.Value, index: SSAValue) -> ir.Value:
        if self.ints.get(index) == 0:
            return base
        return self.b.gep(base, [self.get(index)], inbounds=True, source_etype=elem)

    def _address(self, ref: SSAValue, indices) -> tuple[ir.Value, int]:
        t = ref.type
        assert isinstance(t, MemRefType)
        strides, static = layout(t)
        b = self.b
        terms = []
        for idx, stride in zip(indices, strides):
            c = self.ints.get(idx)
            if c is not None:
                static += c * stride
                continue
            v = self.get(idx)
            terms.append(v if stride == 1 else b.mul(v, ir.Constant(I64, stride), flags=["nsw"]))
        linear = terms[0] if terms else None
        for term in terms[1:]:
            linear = b.add(linear, term, flags=["nsw"])
        if linear is None:
            linear = ir.Constant(I64, static)
        elif static:
            linear = b.add(linear, ir.Constant(I64, static), flags=["nsw"])
        elem = llvm_type(t.element_type)
        base = self.get(ref)
        ptr = base if (isinstance(linear, ir.Constant) and static == 0) else b.gep(
            base, [linear], inbounds=True, source_etype=elem
        )
        return ptr, element_nbytes(t.element_type)

    def _cmpf(self, op: arith.CmpfOp) -> None:
        pred = op.predicate.value.data
        lhs, rhs = self.get(op.lhs), self.get(op.rhs)
        if pred in (0, 15):
            self.values[op.result] = ir.Constant(ir.IntType(1), int(pred == 15))
            return
        cmp = self.b.fcmp_ordered if pred <= 7 else self.b.fcmp_unordered
        self.values[op.result] = cmp(CMPF[pred], lhs, rhs, flags=_fastmath(op))

    def _index_cast(self, op: arith.IndexCastOp) -> None:
        x = self.get(op.input)
        to = llvm_type(op.result.type)
        if x.type.width == to.width:
            self.values[op.result] = x
        elif x.type.width > to.width:
            self.values[op.result] = self.b.trunc(x, to)
        else:
            self.values[op.result] = self.b.sext(x, to)

    def _for(self, op: scf.ForOp) -> None:
        b = self.b
        lb, ub, step = (self.get(v) for v in (op.lb, op.ub, op.step))
        clb, cub, cstep = (self.ints.get(v) for v in (op.lb, op.ub, op.step))
        inits = [self.get(v) for v in op.iter_args]
        body = op.body.block
        static = clb is not None and cub is not None and cstep is not None
        if static and clb >= cub:  # never runs
            for r, v in zip(op.results, inits):
                self.values[r] = v
            return
        pre = b.block
        if static:  # do { body } while (iv + step < ub)
            loop_bb = self.fn.append_basic_block("loop")
            b.branch(loop_bb)
            b.position_at_end(loop_bb)
            iv = b.phi(I64)
            phis = [b.phi(v.type) for v in inits]
            iv.add_incoming(lb, pre)
            for p, v in zip(phis, inits):
                p.add_incoming(v, pre)
            self._bind_args(body, iv, phis)
            yielded = self.emit_block(body)
            latch = b.block
            nxt = b.add(iv, step, flags=["nuw", "nsw"] if clb >= 0 else ["nsw"])
            exit_bb = self.fn.append_basic_block("loop.end")
            b.cbranch(b.icmp_signed("<", nxt, ub), loop_bb, exit_bb)
            iv.add_incoming(nxt, latch)
            for p, v in zip(phis, yielded):
                p.add_incoming(v, latch)
            b.position_at_end(exit_bb)
            for r, v in zip(op.results, yielded):
                self.values[r] = v
            return
        header = self.fn.append_basic_block("loop.head")
        body_bb = self.fn.append_basic_block("loop.body")
        exit_bb = self.fn.append_basic_block("loop.end")
        b.branch(header)
        b.position_at_end(header)
        iv = b.phi(I64)
        phis = [b.phi(v.type) for v in inits]
        iv.add_incoming(lb, pre)
        for p, v in zip(phis, inits):
            p.add_incoming(v, pre)
        b.cbranch(b.icmp_signed("<", iv, ub), body_bb, exit_bb)
        b.position_at_end(body_bb)
        self._bind_args(body, iv, phis)
        yielded = self.emit_block(body)
        latch = b.block
        nxt = b.add(iv, step, flags=["nsw"])
        b.branch(header)
        iv.add_incoming(nxt, latch)
        for p, v in zip(phis, yielded):
            p.add_incoming(v, latch)
        b.position_at_end(exit_bb)
        for r, p in zip(op.results, phis):
            self.values[r] = p

    def _bind_args(self, body: Block, iv: ir.Value, phis: list[ir.Value]) -> None:
        self.values[body.args[0]] = iv
        for arg, p in zip(body.args[1:], phis):
            self.values[arg] = p

    def _if(self, op: scf.IfOp) -> None:
        b = self.b
        then_bb = self.fn.append_basic_block("if.then")
        has_else = bool(op.false_region.blocks) and (
            bool(op.results) or any(not isinstance(o, scf.YieldOp) for o in op.false_region.block.ops)
        )
        else_bb = self.fn.append_basic_block("if.else") if has_else else None
        merge_bb = self.fn.append_basic_block("if.end")
        b.cbranch(self.get(op.cond), then_bb, else_bb or merge_bb)
        incoming = []
        b.position_at_end(then_bb)
        incoming.append((self.emit_block(op.true_region.block), b.block))
        b.branch(merge_bb)
        if else_bb is not None:
            b.position_at_end(else_bb)
            incoming.append((self.emit_block(op.false_region.block), b.block))
            b.branch(merge_bb)
        b.position_at_end(merge_bb)
        for i, r in enumerate(op.results):
            phi = b.phi(llvm_type(r.type))
            for values, block in incoming:
                phi.add_incoming(values[i], block)
            self.values[r] = phi


def _element(t: Attribute) -> Attribute:
    return t.element_type if isinstance(t, VectorType) else t


def _same_shape(like: ir.Type, element: ir.Type) -> ir.Type:
    """`element`, or a vector of it with as many lanes as the vector type `like`."""
    return ir.VectorType(element, like.count) if isinstance(like, ir.VectorType) else element


def _splat_constant(t: ir.Type, value: int) -> ir.Constant:
    if isinstance(t, ir.VectorType):
        return ir.Constant(t, [ir.Constant(t.element, value)] * t.count)
    return ir.Constant(t, value)


def _fastmath(op: Operation) -> list[str]:
    flags = op.properties.get("fastmath")
    if flags is None:
        return []
    # sorted: the attribute holds a set, whose order varies between runs (dumps must be deterministic)
    names = sorted(str(f.value) for f in flags.data)  # type: ignore[attr-defined]
    return names


class LLVMEmitter:
    def __init__(self, name: str = "graphc"):
        self.module = ir.Module(name=name)
        self.external: set[str] = set()

    def function(self, name: str, fnty: ir.FunctionType) -> ir.Function:
        existing = self.module.globals.get(name)
        if existing is not None:
            return existing
        return ir.Function(self.module, fnty, name)

    def intrinsic(self, base: str, t: ir.Type, arity: int) -> ir.Function:
        # the function type is spelled out: declare_intrinsic guesses wrong for fma/maxnum (NOTES.md)
        return self.function(f"{base}.{_suffix(t)}", ir.FunctionType(t, [t] * arity))

    def libm(self, name: str, t: ir.Type, arity: int) -> ir.Function:
        self.external.add(name)
        fn = self.function(name, ir.FunctionType(t, [t] * arity))
        fn.attributes.add("nounwind")
        return fn

    def emit(self, module: ModuleOp) -> ir.Module:
        funcs = [op for op in module.ops if isinstance(op, func.FuncOp)]
        for op in module.ops:
            if isinstance(op, memref.GlobalOp):
                data = _global_bytes(op)
                arr = ir.ArrayType(ir.IntType(8), len(data))
                g = ir.GlobalVariable(self.module, arr, op.sym_name.data)
                g.initializer = ir.Constant(arr, data)
                g.global_constant = True
                g.linkage = "private"
                g.align = 64
        declared = {op: self._declare(op) for op in funcs}
        for op, fn in declared.items():
            if op.body.blocks:
                self._define(op, fn)
        return self.module

    def _declare(self, op: func.FuncOp) -> ir.Function:
        name = op.sym_name.data
        if "graphc.entry" in op.attributes:
            fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [PTR] * 4), name)
            for arg, n in zip(fn.args, ("inputs", "outputs", "weights", "arena")):
                arg.name = n
        else:
            types = [llvm_type(t) for t in op.function_type.inputs]
            fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), types), name)
            fn.linkage = "internal"
            fn.attributes.add("noinline")
            for arg, t in zip(fn.args, op.function_type.inputs):
                if isinstance(t, MemRefType):
                    arg.add_attribute("noalias")
                    arg.attributes.align = 64
                    size = int(np.prod(t.get_shape(), dtype=np.int64)) * element_nbytes(t.element_type)
                    if size > 0:
                        arg.attributes.dereferenceable = size
        fn.attributes.add("nounwind")
        return fn

    def _define(self, op: func.FuncOp, fn: ir.Function) -> None:
        fe = FunctionEmitter(self, fn)
        block = op.body.block
        if "graphc.entry" in op.attributes:
            kinds = [k.data for k in op.attributes["graphc.arg_kinds"].data]  # type: ignore[attr-defined]
            tables = dict(zip(("input", "output", "weight"), fn.args[:3]))
            count = {"input": 0, "output": 0, "weight": 0}
            for arg, kind in zip(block.args, kinds):
                if kind == "arena":
                    fe.values[arg] = fn.args[3]
                    continue
                slot = fe.b.gep(tables[kind], [ir.Constant(I64, count[kind])], inbounds=True, source_etype=PTR)
                fe.values[arg] = fe.b.load(slot, typ=PTR, align=8)
                count[kind] += 1
        else:
            for arg, value in zip(block.args, fn.args):
                fe.values[arg] = value
        fe.emit_block(block)


def emit_llvm(module: ModuleOp, triple: str = "", data_layout: str = "") -> tuple[ir.Module, list[str]]:
    """The LLVM module and the libm functions it calls directly."""
    emitter = LLVMEmitter()
    llvm_module = emitter.emit(module)
    if triple:
        llvm_module.triple = triple
    if data_layout:
        llvm_module.data_layout = data_layout
    return llvm_module, sorted(emitter.external)
