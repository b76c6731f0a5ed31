"""`CpuCode`: what the CPU backend hands to the artifact, as plain data.

Everything is bytes, str, int, float, lists and dicts, so the artifact writer can store it as JSON
(`manifest()`) plus one blob (`object_code`), with no pickle.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CpuCode:
    object_code: bytes
    """Relocatable object file for the host CPU; `graphc.runtime.native` loads it."""
    entry: str
    """Symbol of `void entry(void **inputs, void **outputs, void **weights, char *arena)`."""
    llvm_ir: str
    """LLVM IR as emitted (before optimization), for dumps."""
    loops_ir: str
    """The loop-level MLIR module (func/scf/memref/arith/math), for dumps."""
    arena_bytes: int
    intermediate_bytes_total: int
    """Bytes all intermediates would take without reuse (each rounded up to 64 bytes)."""
    weight_names: list[str]
    """Resource names in the order of the weight pointer table."""
    weights: list[dict[str, Any]]
    """Shape and numpy dtype the code expects for each weight table entry."""
    inputs: list[dict[str, Any]]
    """`{"name", "shape", "dtype"}` per input pointer, in order (dtype is a numpy name)."""
    outputs: list[dict[str, Any]]
    kernels: list[str]
    """The kernel each schedule step calls, in order (identical ops share a kernel)."""
    external_symbols: list[str] = field(default_factory=list)
    """Symbols the object imports from the process (libm and libc functions such as expf, memset)."""
    target: dict[str, str] = field(default_factory=dict)
    """`{"triple", "cpu", "features"}` the object was compiled for."""
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        """Everything except the object code, JSON-serializable."""
        data = dataclasses.asdict(self)
        del data["object_code"]
        return data

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], object_code: bytes) -> CpuCode:
        return cls(object_code=object_code, **manifest)
