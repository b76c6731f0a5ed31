"""Front ends: serialized models → `GraphProgram` in the graph dialect.

`import_model` picks the front end from the file name (or, for bytes, the content) and never runs
passes; the driver does that.
"""

from __future__ import annotations

import os

from graphc.dialects.resources import GraphProgram
from graphc.errors import GraphcError

Shapes = dict[str, tuple[int, ...]]


def read_model_bytes(path_or_bytes: str | os.PathLike | bytes) -> tuple[bytes, str]:
    if isinstance(path_or_bytes, bytes | bytearray):
        return bytes(path_or_bytes), "<bytes>"
    path = os.fspath(path_or_bytes)
    try:
        with open(path, "rb") as f:
            return f.read(), path
    except FileNotFoundError:
        raise GraphcError("no such file", source=path) from None
    except IsADirectoryError:
        raise GraphcError("is a directory, not a model file", source=path) from None
    except OSError as err:
        raise GraphcError(f"cannot read: {err.strerror}", source=path) from None


def import_model(
    path_or_bytes: str | os.PathLike | bytes,
    *,
    input_shapes: Shapes | None = None,
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
) -> GraphProgram:
    data, source = read_model_bytes(path_or_bytes)
    from graphc.plugins import import_with_plugin  # `graphc.frontends` entry points, tried first

    program = import_with_plugin(data, source, input_shapes=input_shapes, inputs=inputs, outputs=outputs)
    if program is not None:
        return program
    kind = detect_format(data, source)
    if kind == "onnx":
        from graphc.frontends.onnx import import_onnx

        base_dir = None if isinstance(path_or_bytes, bytes | bytearray) else os.path.dirname(os.path.abspath(source))
        return import_onnx(data, source=source, input_shapes=input_shapes, inputs=inputs, outputs=outputs, base_dir=base_dir)
    if kind == "tensorflow":
        from graphc.frontends.tensorflow import import_graphdef

        return import_graphdef(data, source=source, input_shapes=input_shapes, inputs=inputs, outputs=outputs)
    raise GraphcError(f"unrecognised model format '{kind}'", source=source)


def detect_format(data: bytes, source: str) -> str:
    """`onnx` for `.onnx` files or ONNX content, else `tensorflow` (a frozen GraphDef)."""
    lower = source.lower()
    if lower.endswith(".onnx"):
        return "onnx"
    if lower.endswith((".mlir", ".gcx")):
        raise GraphcError("expected a model file (.pb or .onnx), not IR or an artifact", source=source)
    if data[:1] == b"\x08":  # field 1, a varint: an ONNX ModelProto's ir_version (never a GraphDef)
        from graphc.frontends.onnx import looks_like_onnx

        if looks_like_onnx(data):
            return "onnx"
    return "tensorflow"
