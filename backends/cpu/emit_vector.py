"""The `vector` dialect ops of the loop level → LLVM IR (a part of `emit_llvm`).

Takes `vector.load/store/maskedload/maskedstore/broadcast/fma/create_mask/extract` on 1-D vectors
(`vector<16xf32>`, ...). Leaves LLVM vector IR: `load/store <16 x float>` aligned to the element
size (buffers are 64-byte aligned, but a row of a vector need not be: `align 4` makes LLVM emit
`vmovups`, which costs nothing extra on aligned data), `llvm.masked.load/store` (AVX-512 masked
moves: lanes outside the mask are never touched, so a masked access past the end of a buffer is
safe), splats as `insertelement + shufflevector` (one `vbroadcastss`, or folded into an FMA's
memory operand), `llvm.fma.v16f32`.

`emit_llvm.FunctionEmitter.emit_op` hands every op of `OPS` to `emit`; the arithmetic ops (`arith.*`
on vector types) need nothing here, `emit_llvm` emits them for any type `llvm_type` maps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir
from xdsl.dialects import vector
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, VectorType

if TYPE_CHECKING:
    from graphc.backends.cpu.emit_llvm import FunctionEmitter

I32 = ir.IntType(32)
I1 = ir.IntType(1)

OPS = (
    vector.LoadOp,
    vector.StoreOp,
    vector.MaskedLoadOp,
    vector.MaskedStoreOp,
    vector.BroadcastOp,
    vector.FMAOp,
    vector.CreateMaskOp,
    vector.ExtractOp,
)


def vector_type(t: VectorType, element: ir.Type) -> ir.VectorType:
    shape = t.get_shape()
    if len(shape) != 1:
        raise NotImplementedError(f"only 1-D vectors reach LLVM: {t}")
    return ir.VectorType(element, int(shape[0]))


def splat(b: ir.IRBuilder, value: ir.Value, t: ir.VectorType) -> ir.Value:
    if isinstance(value, ir.Constant):
        return ir.Constant(t, [value] * t.count)
    one = b.insert_element(ir.Constant(t, ir.Undefined), value, ir.Constant(I32, 0))
    return b.shuffle_vector(one, ir.Constant(t, ir.Undefined), ir.Constant(ir.VectorType(I32, t.count), [0] * t.count))


def dense_constant(value: DenseIntOrFPElementsAttr, t: ir.VectorType) -> ir.Constant:
    """An `arith.constant dense<...> : vector<...>` (a splat or one value per lane)."""
    values = value.get_values()
    if len(values) == 1:
        values = list(values) * t.count
    return ir.Constant(t, [ir.Constant(t.element, v) for v in values])


def _typed(b: ir.IRBuilder, ptr: ir.Value, t: ir.Type) -> ir.Value:
    """`ptr` usable for a `t` access: llvmlite's `alloca` (stack scratch) gives a typed pointer."""
    if isinstance(ptr.type, ir.PointerType) and not ptr.type.is_opaque and ptr.type.pointee != t:
        return b.bitcast(ptr, t.as_pointer())
    return ptr


def emit(fe: FunctionEmitter, op) -> None:
    from graphc.backends.cpu.emit_llvm import llvm_type, _suffix  # circular at import time

    b = fe.b
    t = type(op)
    if t is vector.LoadOp:
        ptr, align = fe._address(op.base, op.indices)
        vt = llvm_type(op.result.type)
        fe.values[op.result] = b.load(_typed(b, ptr, vt), typ=vt, align=align)
    elif t is vector.StoreOp:
        ptr, align = fe._address(op.base, op.indices)
        value = fe.get(op.vector)
        b.store(value, _typed(b, ptr, value.type), align=align)
    elif t is vector.MaskedLoadOp:
        ptr, align = fe._address(op.base, op.indices)
        vt = llvm_type(op.result.type)
        mask_t = ir.VectorType(I1, vt.count)
        fn = fe.owner.function(
            f"llvm.masked.load.{_suffix(vt)}.p0", ir.FunctionType(vt, [ir.PointerType(), I32, mask_t, vt])
        )
        fe.values[op.result] = b.call(fn, [ptr, ir.Constant(I32, align), fe.get(op.mask), fe.get(op.pass_thru)])
    elif t is vector.MaskedStoreOp:
        ptr, align = fe._address(op.base, op.indices)
        value = fe.get(op.value_to_store)
        vt = value.type
        mask_t = ir.VectorType(I1, vt.count)
        fn = fe.owner.function(
            f"llvm.masked.store.{_suffix(vt)}.p0",
            ir.FunctionType(ir.VoidType(), [vt, ir.PointerType(), I32, mask_t]),
        )
        b.call(fn, [value, ptr, ir.Constant(I32, align), fe.get(op.mask)])
    elif t is vector.BroadcastOp:
        vt = llvm_type(op.vector.type)
        source = fe.get(op.source)
        if isinstance(source.type, ir.VectorType):
            raise NotImplementedError("vector.broadcast of a vector")
        fe.values[op.vector] = splat(b, source, vt)
    elif t is vector.FMAOp:
        x, y, acc = (fe.get(v) for v in (op.lhs, op.rhs, op.acc))
        fn = fe.owner.intrinsic("llvm.fma", x.type, 3)
        fe.values[op.res] = b.call(fn, [x, y, acc])
    elif t is vector.CreateMaskOp:
        vt = llvm_type(op.mask_vector.type)
        (size,) = op.mask_dim_sizes
        n = fe.ints.get(size)
        if n is not None:
            fe.values[op.mask_vector] = ir.Constant(vt, [int(lane < n) for lane in range(vt.count)])
        else:
            lanes = ir.VectorType(ir.IntType(64), vt.count)
            step = ir.Constant(lanes, list(range(vt.count)))
            fe.values[op.mask_vector] = b.icmp_signed("<", step, splat(b, fe.get(size), lanes))
    elif t is vector.ExtractOp:
        if len(op.dynamic_position) or len(op.static_position.get_values()) != 1:
            raise NotImplementedError("vector.extract of one static lane only")
        (lane,) = op.static_position.get_values()
        fe.values[op.result] = b.extract_element(fe.get(op.vector), ir.Constant(I32, lane))
    else:  # pragma: no cover - OPS and this chain list the same ops
        raise NotImplementedError(op.name)
