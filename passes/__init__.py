"""graphc's passes: one pass per module, each an xDSL `ModulePass` with a `name`.

`PASSES` maps pass names to classes (xDSL's `PassPipeline.parse_spec` takes it as is);
`DEFAULT_PIPELINE` is what `graphc compile` runs on the graph dialect before a backend.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass

from graphc.passes.canonicalize import CanonicalizePass
from graphc.passes.decompose import DecomposePass
from graphc.passes.eliminate_dead_code import EliminateDeadCodePass
from graphc.passes.fold_constants import FoldConstantsPass
from graphc.passes.infer_shapes import InferShapesPass

ALL_PASSES: list[type[ModulePass]] = [
    InferShapesPass,
    CanonicalizePass,
    EliminateDeadCodePass,
    FoldConstantsPass,
    DecomposePass,
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
