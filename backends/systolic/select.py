"""Which fusion regions run on the systolic array, and the GEMM each one is.

Takes a `fusion.region`; gives a `DeviceLayer` (the GEMM sizes, conv geometry, zero points and
requantization of an int8 layer) or the reason it stays on the host. A region runs on the array when
it is exactly the contract's quantized layer — root `quant.conv2d` (groups = 1) or `quant.matmul`
(2-D weights [K, N], the left operand's leading dimensions folded into M), optional i32 bias, and one
`quant.requantize` (per tensor, or per channel along the last axis) as the whole epilogue — with the
root's operands taken straight from the region's operands. Everything else runs on the host CPU.

Depthwise (and grouped) convolutions stay on the host: as GEMMs they are one K = kh·kw column per
channel, which would use one column of a 128-wide array (<1% utilization) for hundreds of folds.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.dialects import graph as g
from graphc.dialects import quant as q
from graphc.dialects.fusion import RegionOp


@dataclass
class DeviceLayer:
    region: RegionOp
    sources: list[int | g.ConstantOp]
    """Where (input, weights[, bias]) come from: a region operand index, or an inline constant of
    the body (a small bias), which the split copies out into `@main`."""
    gemm: tuple[int, int, int]
    conv: tuple[int, ...] | None
    input_zero_point: int
    weight_zero_point: int
    requantize: q.RequantizeParams


def select(region: RegionOp) -> DeviceLayer | str:
    """The device layer a region is, or why it runs on the host (one short phrase)."""
    if region.kind_name not in ("conv", "matmul"):
        return f"{region.kind_name} region"
    ops = region.compute_ops()
    roots = [op for op in ops if isinstance(op, (q.Conv2DOp, q.MatMulOp))]
    if not roots:
        return "float layer (not quantized)"
    root = roots[0]
    requant = [op for op in ops if isinstance(op, q.RequantizeOp)]
    sources, views = _operand_sources(region, root)
    if sources is None:
        return "operand views other than reshapes in the prologue"
    if len(ops) != 2 + len(views) or len(requant) != 1 or requant[0].operands[0] is not root.results[0]:
        return "epilogue is not a single requantize"
    (requant,) = requant
    if list(region.yield_op.values) != [requant.results[0]]:
        return "epilogue is not a single requantize"
    out_shape = g.shape_of(root.results[0].type)
    params = q.requantize_params(requant)
    if params.axis is not None and params.axis != len(out_shape) - 1:
        return "requantize along a non-channel axis"
    attrs = root.attrs()
    if isinstance(root, q.Conv2DOp):
        if g.get_int(attrs, "groups") != 1:
            return "depthwise/grouped conv (host: one array column per channel)"
        _, h, w, cin = g.shape_of(root.operands[0].type)
        kh, kw, _, cout = g.shape_of(root.operands[1].type)
        sh, sw = g.get_ints(attrs, "strides")
        dh, dw = g.get_ints(attrs, "dilations")
        pads = g.get_ints(attrs, "pads")
        m = out_shape[0] * out_shape[1] * out_shape[2]
        conv = (h, w, cin, kh, kw, sh, sw, dh, dw, *pads)
        return DeviceLayer(region, sources, (m, cout, kh * kw * cin), conv, g.get_int(attrs, "input_zero_point"), 0, params)
    lhs, rhs = (g.shape_of(v.type) for v in root.operands[:2])
    if len(rhs) != 2 or len(lhs) < 2:
        return "batched matmul weights"
    m = 1
    for d in lhs[:-1]:
        m *= d
    return DeviceLayer(region, sources, (m, rhs[1], rhs[0]), None, g.get_int(attrs, "a_zero_point"),
                       g.get_int(attrs, "b_zero_point"), params)  # fmt: skip


def split_epilogue(region: RegionOp) -> tuple[list, list] | None:
    """For a quantized conv/matmul region whose epilogue is a `quant.requantize` of the root followed
    by more elementwise work on its int8 result (dequantize → GELU → quantize, …): the body ops of
    the device part (views, root, requantize) and of the host part (the rest). None otherwise."""
    if region.kind_name not in ("conv", "matmul"):
        return None
    ops = region.compute_ops()
    roots = [op for op in ops if isinstance(op, (q.Conv2DOp, q.MatMulOp))]
    if len(roots) != 1:
        return None
    root = roots[0]
    sources, views = _operand_sources(region, root)
    users = [u.operation for u in root.results[0].uses]
    if sources is None or len(users) != 1 or not isinstance(users[0], q.RequantizeOp):
        return None
    head = [op for op in ops if op in views or op is root or op is users[0]]
    tail = [op for op in ops if op not in head]
    return (head, tail) if tail else None


def _operand_sources(region: RegionOp, root) -> tuple[list | None, set]:
    """Each root operand's region operand index (through row-major reshapes, which the array reads
    through for free) or inline constant; None when another view is in the way."""
    args = list(region.block.args)
    sources, views = [], set()
    for value in root.operands:
        while isinstance(value.owner, g.ReshapeOp):
            views.add(value.owner)
            value = value.owner.operands[0]
        if value in args:
            sources.append(args.index(value))
        elif isinstance(value.owner, g.ConstantOp):
            sources.append(value.owner)
        else:
            return None, views
    return sources, views
