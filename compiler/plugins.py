"""Plugins: passes, backends and front ends found through Python entry points.

Three entry-point groups, declared in any installed package's `pyproject.toml`:

    [project.entry-points."graphc.passes"]
    algebraic-simplify = "graphc_simplify:AlgebraicSimplifyPass"   # an xDSL ModulePass with `name`

    [project.entry-points."graphc.backends"]
    c = "graphc_cbackend:CBackend"            # a Backend class (or factory): name, executor, compile

    [project.entry-points."graphc.frontends"]
    myformat = "my_pkg:Frontend"              # detect(data, source) -> bool, import_model(...)

graphc's own passes and backends are declared the same way in its `pyproject.toml`; the in-tree
tables (`FALLBACK_*`) are used only when the package metadata is not available (a source tree that
was never installed). Discovery runs once per process (cached). A plugin that fails to load gives a
one-line warning naming it on stderr and is left out; it never stops graphc.
"""

from __future__ import annotations

import functools
import importlib
import sys
from importlib import metadata

PASS_GROUP = "graphc.passes"
BACKEND_GROUP = "graphc.backends"
FRONTEND_GROUP = "graphc.frontends"

FALLBACK_BACKENDS: dict[str, str] = {
    "cpu": "graphc.backends.cpu.backend:CpuBackend",
    "reference": "graphc.backends.reference:ReferenceBackend",
    "systolic": "graphc.backends.systolic.backend:SystolicBackend",
    "triton": "graphc.backends.triton.backend:TritonBackend",
}


_warned: set[str] = set()


def warn(message: str) -> None:
    """A one-line warning on stderr, once per message per process."""
    if message not in _warned:
        _warned.add(message)
        print(f"graphc: warning: {message}", file=sys.stderr)


@functools.cache
def entry_points(group: str) -> tuple[metadata.EntryPoint, ...]:
    """The entry points of `group`, first one per name (graphc's own come first when names clash)."""
    try:
        found = list(metadata.entry_points(group=group))
    except Exception as err:  # broken metadata of some unrelated distribution
        warn(f"cannot read entry points of group '{group}': {err}")
        return ()
    found.sort(key=lambda ep: (0 if ep.value.startswith("graphc.") else 1))
    seen: dict[str, metadata.EntryPoint] = {}
    for ep in found:
        if ep.name in seen:
            if seen[ep.name].value != ep.value:
                warn(f"{group} plugin '{ep.name}' ({ep.value}) ignored: the name is taken by {seen[ep.name].value}")
            continue
        seen[ep.name] = ep
    return tuple(seen.values())


def load_entry_point(group: str, ep: metadata.EntryPoint):
    """The object an entry point names, or None (with a one-line warning) if it fails to import."""
    return _load(group, ep.name, ep.value)


@functools.cache
def _load(group: str, name: str, value: str):
    try:
        module_name, _, attr = value.partition(":")
        obj = importlib.import_module(module_name.strip())
        for part in attr.strip().split(".") if attr else ():
            obj = getattr(obj, part)
        return obj
    except Exception as err:  # any error in third-party code: skip the plugin, do not crash
        warn(f"{group} plugin '{name}' ({value}) failed to load: {type(err).__name__}: {err}".splitlines()[0])
        return None


def metadata_available() -> bool:
    """Whether graphc itself is installed (so its own entry points are declared)."""
    return any(ep.value.startswith("graphc.") for ep in entry_points(BACKEND_GROUP))


# ---- backends ---------------------------------------------------------------------------------------


def backend_paths() -> dict[str, str]:
    """Target name → `module:Attr` of its Backend factory, from entry points (plus the fallback)."""
    paths = {ep.name: ep.value for ep in entry_points(BACKEND_GROUP)}
    if not metadata_available():
        paths = {**FALLBACK_BACKENDS, **paths}
    return paths


def load_backend_factory(name: str):
    path = backend_paths().get(name)
    if path is None:
        return None
    return _load(BACKEND_GROUP, name, path)


# ---- passes -----------------------------------------------------------------------------------------


def plugin_passes() -> dict[str, type]:
    """Pass name → ModulePass class for every `graphc.passes` entry point that loads. The name is the
    class's `name` (a mismatch with the entry-point name gives a warning; the class wins)."""
    from xdsl.passes import ModulePass

    passes: dict[str, type] = {}
    for ep in entry_points(PASS_GROUP):
        obj = load_entry_point(PASS_GROUP, ep)
        if obj is None:
            continue
        if not (isinstance(obj, type) and issubclass(obj, ModulePass) and isinstance(getattr(obj, "name", None), str)):
            warn(f"{PASS_GROUP} plugin '{ep.name}' ({ep.value}) is not an xDSL ModulePass subclass with a `name`")
            continue
        if obj.name != ep.name:
            warn(f"{PASS_GROUP} plugin '{ep.name}' ({ep.value}) registers a pass named '{obj.name}'")
        passes[obj.name] = obj
    return passes


# ---- front ends ---------------------------------------------------------------------------------------


def plugin_frontends() -> list[tuple[str, object]]:
    """(name, front end) for every `graphc.frontends` entry point that loads and has `detect` and
    `import_model`. Classes are instantiated without arguments."""
    result = []
    for ep in entry_points(FRONTEND_GROUP):
        obj = load_entry_point(FRONTEND_GROUP, ep)
        if obj is None:
            continue
        if isinstance(obj, type):
            try:
                obj = obj()
            except Exception as err:
                warn(f"{FRONTEND_GROUP} plugin '{ep.name}' ({ep.value}) failed to instantiate: {err}".splitlines()[0])
                continue
        if not (callable(getattr(obj, "detect", None)) and callable(getattr(obj, "import_model", None))):
            warn(f"{FRONTEND_GROUP} plugin '{ep.name}' ({ep.value}) lacks detect() or import_model()")
            continue
        result.append((ep.name, obj))
    return result


def clear_cache() -> None:
    """Forget what was discovered (after installing a plugin into a running process)."""
    entry_points.cache_clear()
    _load.cache_clear()
    importlib.invalidate_caches()
    if "graphc.passes" in sys.modules:
        sys.modules["graphc.passes"].PASSES.refresh()


def import_with_plugin(data: bytes, source: str, *, input_shapes, inputs, outputs):
    """The program from the first `graphc.frontends` plugin whose `detect(data, source)` is true, or
    None (the built-in front ends then decide). A plugin's `detect` that raises is skipped with a warning."""
    for name, frontend in plugin_frontends():
        try:
            claimed = frontend.detect(data, source)
        except Exception as err:
            warn(f"{FRONTEND_GROUP} plugin '{name}': detect() failed: {type(err).__name__}: {err}".splitlines()[0])
            continue
        if claimed:
            return frontend.import_model(data, source=source, input_shapes=input_shapes, inputs=inputs,
                                         outputs=outputs)  # fmt: skip
    return None
