"""fuse-pad-into-conv: absorbs a zero `graph.pad` of the spatial axes into the convolution's padding.

Takes: `graph` dialect (regions allowed). Leaves: every `graph.conv2d` whose input is a constant-mode
`graph.pad` with value 0, no interior padding, and non-negative padding of H and W only (N and C
untouched) reading the pad's input directly, with the pad amounts added to its `pads`. The pad is
erased once nothing else uses it. Keras' `ZeroPadding2D` before a strided convolution (MobileNetV2)
thus costs no kernel and no copy: the convolution template pads while it reads.
MLIR equivalent: TOSA's `tosa.pad` folding into `tosa.conv2d`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from graphc.dialects import graph as g


@dataclass(frozen=True)
class FusePadIntoConvPass(ModulePass):
    name = "fuse-pad-into-conv"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for conv in [node for node in op.walk() if isinstance(node, g.Conv2DOp)]:
            pad = conv.input.owner
            if not isinstance(pad, g.PadOp) or pad.parent_block() is not conv.parent_block():
                continue
            extra = spatial_zero_padding(pad)
            if extra is None:
                continue
            attrs = conv.attrs()
            pads = [p + e for p, e in zip(g.get_ints(attrs, "pads"), extra)]
            attrs["pads"] = g.ints_attr(pads)
            new = g.Conv2DOp.make([pad.input, conv.filter], **attrs)
            block = conv.parent_block()
            block.insert_op_before(new, conv)
            conv.results[0].replace_all_uses_with(new.results[0])
            block.erase_op(conv)
            if not pad.results[0].uses:
                block.erase_op(pad)


def spatial_zero_padding(pad: g.PadOp) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) if `pad` zero-pads only H and W of an NHWC tensor, else None."""
    attrs = pad.attrs()
    low, high, interior = (g.get_ints(attrs, k) for k in ("low", "high", "interior"))
    if g.get_str(attrs, "mode") != "constant" or g.get_float(attrs, "value") != 0.0:
        return None
    if len(low) != 4 or any(interior) or any(p < 0 for p in low + high):
        return None
    if low[0] or high[0] or low[3] or high[3]:
        return None
    return (low[1], high[1], low[2], high[2])
