"""graphc's dialects and passes for the standard `xdsl-opt` tool (entry-point group `xdsl.universe`).

After `pip install graphc`, `xdsl-opt dump.mlir` parses the `graph`, `fusion` and `quant` dialects and
`xdsl-opt -p fold-constants dump.mlir` runs graphc passes (on IR whose constants are inline: weights
in `dense_resource` need `graphc opt --weights`). Plugin passes (`graphc.passes`) are not added here:
xDSL rejects duplicate names across universes, and a plugin may register itself.
"""

from __future__ import annotations

from xdsl.universe import Universe


def _graph():
    from graphc.dialects.graph import Graph

    return Graph


def _fusion():
    from graphc.dialects.fusion import Fusion

    return Fusion


def _quant():
    from graphc.dialects.quant import Quant

    return Quant


def _systolic():
    from graphc.dialects.systolic import Systolic

    return Systolic


def _passes() -> dict:
    from graphc.passes import ALL_PASSES

    return {p.name: p for p in ALL_PASSES}


GRAPHC_UNIVERSE = Universe(
    all_dialects={"graph": _graph, "fusion": _fusion, "quant": _quant, "systolic": _systolic},
    all_passes={
        name: (lambda name=name: _passes()[name])
        for name in (
            "infer-shapes", "canonicalize-graph", "eliminate-dead-code", "fold-constants", "decompose",
            "quantize-int8", "fold-qdq", "fuse-pad-into-conv", "fuse-epilogues", "fuse-reductions",
            "fuse-producers", "fuse-elementwise", "fuse-siblings", "fuse-remaining", "unfuse",
        )
    },  # fmt: skip
)
