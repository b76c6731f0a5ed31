"""graphc: a kernel-fusion compiler for machine-learning graphs, on xDSL.

    model = graphc.compile("model.pb", target="cpu", input_shapes={"x": (1, 224, 224, 3)})
    outputs = model.run({"x": x})
    model.save("model.gcx")
    same = graphc.load("model.gcx")

Names are imported on first use, so `graphc.load` and `graphc.runtime` run saved artifacts
without importing the compiler (xDSL, passes, front ends).
"""

from __future__ import annotations

import importlib

_LAZY = {
    "compile": "graphc.driver",
    "CompiledModel": "graphc.driver",
    "GraphcError": "graphc.errors",
    "load": "graphc.runtime",
    "LoadedModel": "graphc.runtime",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'graphc' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)
