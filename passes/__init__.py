"""graphc's passes: one pass per module, each an xDSL `ModulePass` with a `name`.

`PASSES` maps pass names to classes (xDSL's `PassPipeline.parse_spec` takes it as is);
`DEFAULT_PIPELINE` is what `graphc compile` runs on the graph dialect before a backend;
`FUSION_PIPELINE` follows it for backends that consume `fusion.region`s (`supports_fusion`).
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass

from graphc.passes.canonicalize import CanonicalizePass
from graphc.passes.decompose import DecomposePass
from graphc.passes.eliminate_dead_code import EliminateDeadCodePass
from graphc.passes.fold_constants import FoldConstantsPass
from graphc.passes.fuse_elementwise import FuseElementwisePass
from graphc.passes.fuse_epilogues import FuseEpiloguesPass
from graphc.passes.fuse_pad_into_conv import FusePadIntoConvPass
from graphc.passes.fuse_producers import FuseProducersPass
from graphc.passes.fuse_reductions import FuseReductionsPass
from graphc.passes.fuse_remaining import FuseRemainingPass
from graphc.passes.fuse_siblings import FuseSiblingsPass
from graphc.passes.infer_shapes import InferShapesPass
from graphc.passes.unfuse import UnfusePass

ALL_PASSES: list[type[ModulePass]] = [
    InferShapesPass,
    CanonicalizePass,
    EliminateDeadCodePass,
    FoldConstantsPass,
    DecomposePass,
    FusePadIntoConvPass,
    FuseEpiloguesPass,
    FuseReductionsPass,
    FuseProducersPass,
    FuseElementwisePass,
    FuseSiblingsPass,
    FuseRemainingPass,
    UnfusePass,
]

PASSES: dict[str, Callable[[], type[ModulePass]]] = {p.name: (lambda p=p: p) for p in ALL_PASSES}

DEFAULT_PIPELINE = ",".join(
    [
        "infer-shapes",
        "eliminate-dead-code",
        "canonicalize-graph",
        "fold-constants",
        "decompose",
        "fold-constants",
        "canonicalize-graph",
        "eliminate-dead-code",
    ]
)

FUSION_PIPELINE = ",".join(
    [
        "fuse-pad-into-conv",  # zero pads become convolution padding (no kernel, no copy)
        "fuse-epilogues",  # matmul/conv roots + elementwise consumers
        "fuse-reductions",  # reductions + producers/consumers (softmax, layer norm)
        "fuse-producers",  # cheap producers (broadcasts, small views) copied into each consumer
        "fuse-elementwise",  # loop fusion of what is left
        "fuse-siblings",  # multi-output fusion of kernels reading the same input
        "fuse-remaining",  # every op left alone gets its own region (opaque when no template)
    ]
)
