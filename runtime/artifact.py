"""The compiled artifact: one file holding everything a model needs to run.

Layout (a zip archive; weights and object code stored uncompressed so loading is a copy, not a
decode; IR dumps deflated):
- `manifest.json`: format name and version, backend and its executor, inputs and outputs (names,
  shapes, dtypes), the schedule (kernel names in order), backend metadata (e.g. the memory plan);
- `weights/NAME.npy`: one numpy array per weight (loaded with `allow_pickle=False`); `.npy` has no
  bfloat16, so bf16 weights are stored as their uint16 bits and listed in the manifest's
  `bfloat16_weights`;
- `code/NAME`: the backend's sections (object code, LLVM IR, IR text…).

No pickle anywhere: the manifest is JSON and arrays are `.npy`.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict, dataclass, field

import numpy as np

from graphc.runtime.errors import ArtifactError

try:  # registers numpy's "bfloat16" dtype name (manifests name dtypes by string)
    import ml_dtypes  # noqa: F401
except ImportError:  # pragma: no cover - ml_dtypes comes with jax, a graphc dependency
    pass

FORMAT = "graphc-artifact"
VERSION = 1
TEXT_SECTIONS = (".ll", ".mlir", ".txt", ".py", ".c")


@dataclass
class TensorSpec:
    name: str
    shape: list[int]
    dtype: str

    @staticmethod
    def from_json(data: dict) -> TensorSpec:
        return TensorSpec(str(data["name"]), [int(d) for d in data["shape"]], str(data["dtype"]))


@dataclass
class Artifact:
    backend: str
    executor: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    schedule: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    sections: dict[str, bytes] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def manifest(self) -> dict:
        bf16 = sorted(name for name, array in self.weights.items() if array.dtype.name == "bfloat16")
        return ({"bfloat16_weights": bf16} if bf16 else {}) | {
            "format": FORMAT,
            "version": VERSION,
            "backend": self.backend,
            "executor": self.executor,
            "inputs": [asdict(t) for t in self.inputs],
            "outputs": [asdict(t) for t in self.outputs],
            "schedule": self.schedule,
            "meta": self.meta,
            "weights": sorted(self.weights),
            "sections": sorted(self.sections),
        }

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("manifest.json", json.dumps(self.manifest(), indent=1, sort_keys=True))
            for name, array in sorted(self.weights.items()):
                data = io.BytesIO()
                if array.dtype.name == "bfloat16":
                    array = array.view(np.uint16)
                np.save(data, np.ascontiguousarray(array), allow_pickle=False)
                archive.writestr(f"weights/{name}.npy", data.getvalue())
            for name, blob in sorted(self.sections.items()):
                # IR dumps are for reading and compress ~10x; what the runtime loads stays stored.
                compression = zipfile.ZIP_DEFLATED if name.endswith(TEXT_SECTIONS) else zipfile.ZIP_STORED
                archive.writestr(f"code/{name}", blob, compress_type=compression)
        return buffer.getvalue()

    def save(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.to_bytes())

    @staticmethod
    def from_bytes(data: bytes, source: str = "<bytes>") -> Artifact:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            manifest = json.loads(archive.read("manifest.json"))
        except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as err:
            raise ArtifactError(f"{source}: not a graphc artifact ({err})") from None
        if manifest.get("format") != FORMAT:
            raise ArtifactError(f"{source}: not a graphc artifact (format {manifest.get('format')!r})")
        if manifest.get("version") != VERSION:
            raise ArtifactError(
                f"{source}: artifact format version {manifest.get('version')} is not supported "
                f"(this graphc reads version {VERSION}); recompile the model"
            )
        try:
            weights = {
                name: np.load(io.BytesIO(archive.read(f"weights/{name}.npy")), allow_pickle=False)
                for name in manifest["weights"]
            }
            for name in manifest.get("bfloat16_weights", []):
                weights[name] = weights[name].view(np.dtype("bfloat16"))
            sections = {name: archive.read(f"code/{name}") for name in manifest["sections"]}
            return Artifact(
                backend=manifest["backend"],
                executor=manifest["executor"],
                inputs=[TensorSpec.from_json(t) for t in manifest["inputs"]],
                outputs=[TensorSpec.from_json(t) for t in manifest["outputs"]],
                schedule=list(manifest.get("schedule", [])),
                meta=manifest.get("meta", {}),
                sections=sections,
                weights=weights,
            )
        except (KeyError, ValueError, zipfile.BadZipFile, EOFError) as err:
            raise ArtifactError(f"{source}: damaged graphc artifact ({err})") from None

    @staticmethod
    def load(path: str) -> Artifact:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as err:
            raise ArtifactError(f"{path}: cannot read ({err.strerror})") from None
        return Artifact.from_bytes(data, source=path)
