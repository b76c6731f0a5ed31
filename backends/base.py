"""The interface every backend implements, in-tree or plugged in.

A backend turns a `GraphProgram` (graph dialect after the middle-end pipeline, with fusion regions
when it declares `supports_fusion`) into a
`BackendOutput`: plain data that goes into the artifact — a JSON-able `meta` dict and named binary
`sections` (object code, LLVM IR, kernel sources…). At run time the backend's `executor` (named by
an import path, so the runtime never imports compiler code it does not need) turns those back into
something that runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from graphc.dialects.resources import GraphProgram


@dataclass
class BackendOutput:
    meta: dict = field(default_factory=dict)
    sections: dict[str, bytes] = field(default_factory=dict)
    schedule: list[str] = field(default_factory=list)
    """Kernel names in execution order (what `--report` and `graphc inspect` show)."""
    weight_names: list[str] | None = None
    """The weights the code reads; the artifact stores only these (None: every weight of the
    program, for backends whose code is the graph IR itself)."""


class Backend(Protocol):
    name: str
    executor: str
    """`module:Class` of the runtime executor that runs this backend's output."""
    supports_fusion: bool
    """Whether `compile` takes `fusion.region`s (then the driver runs `FUSION_PIPELINE` first and each
    region must become exactly one kernel; the region format is `graphc.dialects.fusion`'s
    docstring). A backend without the attribute gets plain graph ops."""
    supports_quant: bool
    """Whether `compile` takes the `quant` dialect's int8 ops (`graphc.dialects.quant`). A backend
    without the attribute gets them lowered to graph ops with the same integer results
    (`lower-quant`)."""

    def compile(self, program: GraphProgram) -> BackendOutput: ...
