"""Constant matmul/conv weights → the panel layout the tiled kernels read (at compile time).

Takes the `GraphProgram` the CPU backend compiles. Leaves a new `GraphProgram` (the caller's is
not modified: tests and tools evaluate it with the reference semantics afterwards) whose module is
a clone in which every f32/f64 `graph.matmul` and `graph.conv2d` with a constant weight-resource B
operand (matmul rhs, conv filter) that spans more than one panel reads a packed copy instead:

- the packed array (`lower_matmul_conv.pack_panels` / `pack_filter`: same shape, same elements,
  panel-major order) is added to the caller's `WeightStore` under a new name (`<name>_p<NR>`), so
  the artifact stores it and the runtime binds it like any weight;
- a new `graph.constant` referring to it (same tensor type) replaces the operand, and the op gets
  `lower_matmul_conv.RHS_ATTR` = NR, which tells its lowering the layout;
- original constants left without users are erased from the clone (the CPU code does not bind them).

A B that fits one panel (N ≤ NR) is already in panel layout and stays as it is, as do depthwise
filters (read per channel, not as a GEMM operand) and the filters of Winograd convolutions
(`lower_winograd.takes_winograd`: the kernel transforms the HWIO filter itself). The root of a `fusion.region` is found through
the region's block arguments (operand i of the region op ↔ block argument i), when the weight's
block argument has no other use inside the region and the root runs in its tiled kernel
(`lower_fusion.root_takes_tiled_kernel`; the untiled fallback reads weights unpacked).
"""

from __future__ import annotations

from xdsl.dialects.builtin import DenseResourceAttr, IntegerAttr, i64
from xdsl.ir import Block, BlockArgument, Operation, SSAValue

from graphc.backends.cpu.elements import kind_of, shape_of
from graphc.backends.cpu.lower_fusion import root_takes_tiled_kernel
from graphc.backends.cpu.lower_matmul_conv import (
    RHS_ATTR,
    lanes_of,
    pack_filter,
    pack_panels,
    panel_width,
)
from graphc.backends.cpu.lower_winograd import takes_winograd
from graphc.dialects import fusion
from graphc.dialects.graph import ConstantOp, Conv2DOp, MatMulOp, get_int
from graphc.dialects.resources import GraphProgram


def pack_weights(program: GraphProgram) -> GraphProgram:
    module = program.module.clone()
    packed_names: dict[tuple[str, int, int], str] = {}
    touched: list[ConstantOp] = []
    for op in list(module.walk()):
        if not isinstance(op, MatMulOp | Conv2DOp):
            continue
        plan = _layout(op)
        if plan is None:
            continue
        nr, groups = plan
        source = _weight_source(op)
        if source is None:
            continue
        owner_op, index, const = source
        name = const.value.resource_handle.data  # type: ignore[union-attr]
        key = (name, nr, groups)
        if key not in packed_names:
            array = program.weights[name].reshape(shape_of(const.result.type))
            if isinstance(op, MatMulOp):
                packed = pack_panels(array, nr)
            else:
                packed = pack_filter(array, groups, nr)
            attr = program.weights.add(packed, f"{name}_p{nr}")
            packed_names[key] = attr.resource_handle.data
        new_const = ConstantOp.make(
            [], value=DenseResourceAttr.from_params(packed_names[key], const.result.type)
        )
        block = const.parent_block()
        assert block is not None
        block.insert_op_after(new_const, const)
        owner_op.operands[index] = new_const.result
        op.attributes[RHS_ATTR] = IntegerAttr(nr, i64)
        touched.append(const)
    for const in touched:
        block = const.parent_block()
        if block is not None and not const.result.uses:
            block.erase_op(const)
    return GraphProgram(module, program.weights)


def _layout(op: Operation) -> tuple[int, int] | None:
    """(NR, groups) when the op's B operand would be read as more than one panel."""
    b_type = op.operands[1].type
    kind = kind_of(b_type)
    lanes = lanes_of(kind)
    if lanes is None:
        return None
    shape = shape_of(b_type)
    if 0 in shape:
        return None
    if isinstance(op, MatMulOp):
        n, groups = shape[-1], 1
    else:
        groups = get_int(op.attributes, "groups")
        if shape[2] == 1 and shape[3] == groups:  # depthwise: not a GEMM operand
            return None
        if takes_winograd(op):  # reads the filter in HWIO to transform it
            return None
        n = shape[3] // groups
    nr = panel_width(n, lanes)
    if n <= nr:
        return None
    return nr, groups


def _weight_source(op: Operation) -> tuple[Operation, int, ConstantOp] | None:
    """(op whose operand to replace, operand index, the weight constant), following a fusion
    region's block argument out to the region op's operand."""
    value: SSAValue = op.operands[1]
    owner, index = op, 1
    if isinstance(value, BlockArgument):
        if not value.has_one_use():
            return None
        block = value.block
        assert isinstance(block, Block)
        region_op = block.parent_op()
        if region_op is None or len(region_op.operands) != len(block.args):
            return None
        if isinstance(region_op, fusion.RegionOp) and not root_takes_tiled_kernel(region_op, op):
            return None  # the untiled fallback reads the weight in its logical layout
        owner, index = region_op, value.index
        value = region_op.operands[index]
    defining = value.owner
    if not isinstance(defining, ConstantOp) or not isinstance(defining.value, DenseResourceAttr):
        return None
    return owner, index, defining
