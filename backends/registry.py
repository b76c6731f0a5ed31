"""Which backends exist: every `graphc.backends` entry point (graphc's own `cpu` and `reference` are
declared that way in its pyproject.toml, exactly like a plugin's), imported only when asked for.

An entry point names a Backend class or a factory: calling it with no arguments gives an object with
`name`, `executor`, `supports_fusion` and `compile` (see `graphc.backends.base`). See
docs/writing-a-backend.md.
"""

from __future__ import annotations

from graphc.backends.base import Backend
from graphc.plugins import FALLBACK_BACKENDS, backend_paths, load_backend_factory

IN_TREE: dict[str, str] = FALLBACK_BACKENDS
"""The in-tree backends, used only when graphc's package metadata is unavailable."""


def available_targets() -> list[str]:
    return sorted(backend_paths())


def get_backend(name: str) -> Backend:
    if name not in backend_paths():
        raise KeyError(f"unknown target '{name}' (available: {', '.join(available_targets())})")
    factory = load_backend_factory(name)
    if factory is None:
        raise KeyError(f"target '{name}' is installed but its plugin failed to load ({backend_paths()[name]})")
    try:
        backend = factory()
    except Exception as err:
        raise KeyError(f"target '{name}': creating the backend failed: {type(err).__name__}: {err}".splitlines()[0]) from None
    missing = [a for a in ("name", "executor", "compile") if not hasattr(backend, a)]
    if missing:
        raise KeyError(f"target '{name}' ({backend_paths()[name]}) is not a graphc Backend: lacks {', '.join(missing)}")
    return backend
