"""A one-line progress display for long compiles: the current stage's name and a bar.

`Progress.for_terminal(stream, quiet=...)` returns a display only when `stream` is a terminal, the
`CI` environment variable is unset (or "false"/"0") and `--quiet` was not given; otherwise a
`NoProgress` that does nothing, so logs in CI and pipes stay clean. The driver calls `step(name)` at
each stage (import, every pass, the backend); `close()` erases the line.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

BAR_WIDTH = 24
MIN_INTERVAL = 0.05  # seconds between redraws: passes on small models take microseconds


class NoProgress:
    def step(self, name: str) -> None:
        pass

    def close(self) -> None:
        pass


class Progress(NoProgress):
    def __init__(self, total: int, stream: TextIO):
        self.total = max(total, 1)
        self.stream = stream
        self.done = 0
        self._last_draw = 0.0
        self._width = 0

    @staticmethod
    def for_terminal(total: int, stream: TextIO | None = None, *, quiet: bool = False) -> NoProgress:
        stream = stream if stream is not None else sys.stderr
        in_ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
        if quiet or in_ci or not getattr(stream, "isatty", lambda: False)():
            return NoProgress()
        return Progress(total, stream)

    def step(self, name: str) -> None:
        """Stage `name` starts (the previous one, if any, is done)."""
        now = time.perf_counter()
        position = min(self.done, self.total)
        self.done += 1
        if now - self._last_draw < MIN_INTERVAL and 0 < position < self.total - 1:  # first and last always show
            return
        self._last_draw = now
        filled = BAR_WIDTH * position // self.total
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {position}/{self.total} {name}"
        self._draw(line)

    def close(self) -> None:
        self._draw("")

    def _draw(self, line: str) -> None:
        padding = " " * max(self._width - len(line), 0)
        self.stream.write(f"\r{line}{padding}\r" if not line else f"\r{line}{padding}")
        self.stream.flush()
        self._width = len(line)


def pipeline_length(*specs: str) -> int:
    """The number of passes in xDSL pipeline specs (for the bar's total)."""
    from xdsl.passes import PassPipeline

    from graphc.passes import PASSES

    return sum(len(PassPipeline.parse_spec(PASSES, spec).passes) for spec in specs if spec)
