"""The compile progress display: a bar on a terminal, nothing under CI, --quiet or a pipe."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

from graphc.progress import NoProgress, Progress

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MLP = os.path.join(ROOT, "tests", "fixtures", "tf", "mlp.pb")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_shows_stage_names_and_is_erased(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    stream = FakeTerminal()
    progress = Progress.for_terminal(4, stream)
    assert isinstance(progress, Progress)
    progress.step("import")
    progress._last_draw = 0.0  # redraw throttling is time-based; force each draw
    progress.step("fold-constants")
    written = stream.getvalue()
    assert "0/4 import" in written and "1/4 fold-constants" in written and "[######" in written
    progress.close()
    assert stream.getvalue().endswith("\r" + " " * len("[" + "#" * 6 + "." * 18 + "] 1/4 fold-constants") + "\r")


def test_quiet_ci_and_pipes_get_no_display(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert isinstance(Progress.for_terminal(3, io.StringIO()), NoProgress)
    assert not isinstance(Progress.for_terminal(3, io.StringIO()), Progress)
    assert not isinstance(Progress.for_terminal(3, FakeTerminal(), quiet=True), Progress)
    monkeypatch.setenv("CI", "true")
    assert not isinstance(Progress.for_terminal(3, FakeTerminal()), Progress)
    monkeypatch.setenv("CI", "false")
    assert isinstance(Progress.for_terminal(3, FakeTerminal()), Progress)


def _compile_on_a_terminal(tmp_path, extra_env, *args) -> str:
    """Runs `graphc compile` with stderr on a pseudo-terminal and returns what reached it."""
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"} | extra_env
    try:
        proc = subprocess.run([sys.executable, "-m", "graphc.cli", "compile", MLP, "--input-shape", "x=4x20", "-o", str(tmp_path / "m.gcx"), *args],
                              stdout=subprocess.DEVNULL, stderr=secondary, env=env, timeout=120)  # fmt: skip
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(primary)
    assert proc.returncode == 0
    return b"".join(chunks).decode()


def test_cli_compile_draws_progress_on_a_terminal(tmp_path):
    seen = _compile_on_a_terminal(tmp_path, {})
    assert "import" in seen and "backend cpu" in seen and "[" in seen


def test_cli_compile_is_silent_under_ci_or_quiet(tmp_path):
    assert _compile_on_a_terminal(tmp_path, {"CI": "true"}) == ""
    assert _compile_on_a_terminal(tmp_path, {}, "--quiet") == ""
