"""graphc: a kernel-fusion compiler for machine-learning graphs, on xDSL.

    model = graphc.compile("model.pb", target="cpu", input_shapes={"x": (1, 224, 224, 3)})
    outputs = model.run({"x": x})
    model.save("model.gcx")
    same = graphc.load("model.gcx")
"""

from __future__ import annotations

from graphc.driver import CompiledModel, compile
from graphc.errors import GraphcError
from graphc.runtime import LoadedModel, load

__all__ = ["CompiledModel", "GraphcError", "LoadedModel", "compile", "load"]
