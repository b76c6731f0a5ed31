"""The exception front ends raise for models they cannot import.

A `FrontendError` is a user-facing diagnostic, not a crash: its `str()` is a single line that names
the model file and, when known, the node and its op, then says what is wrong and (where there is
something to do) what to do about it:

    model.pb: node 'conv1' (Conv2D): data_format 'NCDHW' is not supported

It is a `GraphcError`, so the CLI prints it as is and exits non-zero, without a traceback.
"""

from __future__ import annotations

from graphc.errors import GraphcError


class FrontendError(GraphcError):
    """A model that a front end cannot import, with the file, node and op it concerns."""

    def __init__(self, source: str, message: str, *, node: str | None = None, op: str | None = None):
        super().__init__(
            " ".join(str(message).split()),
            source=_printable(source or "<model>"),
            node=None if node is None else _printable(node),
            op=None if op is None else _printable(op),
        )

    def __str__(self) -> str:
        return self.format()

    def __reduce__(self):  # keep the keyword-only fields when pickled across processes
        return (_rebuild, (self.source, self.message, self.node, self.op))


def _rebuild(source: str, message: str, node: str | None, op: str | None) -> FrontendError:
    return FrontendError(source, message, node=node, op=op)


def _printable(text: str) -> str:
    """Names from a damaged file may hold newlines or control characters: escape them."""
    text = str(text)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
