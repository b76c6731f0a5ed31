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
from graphc.passes.fold_qdq import FoldQDQPass
from graphc.passes.fuse_elementwise import FuseElementwisePass
from graphc.passes.fuse_epilogues import FuseEpiloguesPass
from graphc.passes.fuse_pad_into_conv import FusePadIntoConvPass
from graphc.passes.fuse_producers import FuseProducersPass
from graphc.passes.fuse_reductions import FuseReductionsPass
from graphc.passes.fuse_remaining import FuseRemainingPass
from graphc.passes.fuse_siblings import FuseSiblingsPass
from graphc.passes.infer_shapes import InferShapesPass
from graphc.passes.layout import OptimizeLayoutPass
from graphc.passes.quantize_int8 import QuantizeInt8Pass
from graphc.passes.unfuse import UnfusePass

ALL_PASSES: list[type[ModulePass]] = [
    InferShapesPass,
    CanonicalizePass,
    EliminateDeadCodePass,
    FoldConstantsPass,
    DecomposePass,
    OptimizeLayoutPass,
    QuantizeInt8Pass,
    FoldQDQPass,
    FusePadIntoConvPass,
    FuseEpiloguesPass,
    FuseReductionsPass,
    FuseProducersPass,
    FuseElementwisePass,
    FuseSiblingsPass,
    FuseRemainingPass,
    UnfusePass,
]



class PassRegistry(dict):
    """Pass name → callable returning the pass class (what xDSL's `PassPipeline.parse_spec` takes).

    Filled on first use from the `graphc.passes` entry-point group (graphc's own passes are declared
    there too, in its pyproject.toml; `ALL_PASSES` is the fallback for an uninstalled source tree), so
    installed plugin passes appear in `graphc opt`, `--list-passes` and pipelines. Filling lazily keeps
    plugin modules (which import graphc) from being imported while this package initialises.
    """

    _filled = False

    def refresh(self) -> None:
        from graphc import plugins

        found = plugins.plugin_passes()
        if not plugins.metadata_available():
            found = {**{p.name: p for p in ALL_PASSES}, **found}
        dict.clear(self)
        # in-tree passes first, in pipeline order, then plugins by name
        order = {p.name: i for i, p in enumerate(ALL_PASSES)}
        for name in sorted(found, key=lambda n: (order.get(n, len(order)), n)):
            dict.__setitem__(self, name, (lambda p=found[name]: p))
        self._filled = True

    def _fill(self) -> None:
        if not self._filled:
            self.refresh()


for _method in ("__getitem__", "__contains__", "__iter__", "__len__", "__repr__", "get", "items", "keys", "values"):

    def _wrap(name=_method):
        base = getattr(dict, name)

        def method(self, *args, **kwargs):
            self._fill()
            return base(self, *args, **kwargs)

        method.__name__ = name
        return method

    setattr(PassRegistry, _method, _wrap())
del _method, _wrap

PASSES: dict[str, Callable[[], type[ModulePass]]] = PassRegistry()

DEFAULT_PIPELINE = ",".join(
    [
        "infer-shapes",
        "eliminate-dead-code",
        "canonicalize-graph",
        "fold-constants",
        "decompose",
        "fold-constants",
        "optimize-layout",  # NCHW regions run in NHWC; transposes cancel (before fusion)
        "canonicalize-graph",
        "eliminate-dead-code",
    ]
)

QUANTIZE_PIPELINE = ",".join(
    [
        "quantize-int8",  # calibrated float conv/matmul layers → quant ops with Q/DQ at their edges
        "fold-qdq",  # Q/DQ pairs between int8 ops fold away; data movement runs on int8
        "eliminate-dead-code",
    ]
)
"""Runs after `DEFAULT_PIPELINE` and calibration (`graphc.calibration`) for `--quantize int8`."""

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
