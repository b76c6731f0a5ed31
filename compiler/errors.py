"""Errors graphc reports to users: one line each, naming the file, the node and the reason."""

from __future__ import annotations


class GraphcError(Exception):
    """An error in the user's input or request (not a bug in graphc). `str()` is one line."""

    def __init__(self, message: str, *, source: str | None = None, node: str | None = None, op: str | None = None):
        self.message = message
        self.source = source
        self.node = node
        self.op = op
        super().__init__(self.format())

    def format(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.node:
            where.append(f"node '{self.node}'" + (f" ({self.op})" if self.op else ""))
        prefix = ": ".join(where)
        text = " ".join(self.message.split())
        return f"{prefix}: {text}" if prefix else text
