"""Which backends exist: the in-tree ones, by name, imported only when asked for."""

from __future__ import annotations

import importlib

from graphc.backends.base import Backend

IN_TREE: dict[str, str] = {
    "cpu": "graphc.backends.cpu.backend:CpuBackend",
    "reference": "graphc.backends.reference:ReferenceBackend",
}


def available_targets() -> list[str]:
    return sorted(IN_TREE)


def get_backend(name: str) -> Backend:
    path = IN_TREE.get(name)
    if path is None:
        raise KeyError(f"unknown target '{name}' (available: {', '.join(available_targets())})")
    module_name, class_name = path.split(":")
    return getattr(importlib.import_module(module_name), class_name)()
