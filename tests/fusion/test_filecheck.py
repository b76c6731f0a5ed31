"""Runs the lit/FileCheck specifications in tests/filecheck (one `.mlir` file per pass and fusion
rule: input IR, and the IR the pass must produce) and fails if any of them fails."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

FILECHECK_DIR = Path(__file__).resolve().parents[1] / "filecheck"


def _lit_command() -> list[str]:
    """lit run by this interpreter: a `lit` found elsewhere on PATH (a pyenv shim, another venv)
    would run another Python, whose lit.cfg PATH puts another `graphc` first."""
    script = Path(sys.executable).parent / "lit"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys, lit.main; sys.argv[0] = 'lit'; lit.main.main()"]


def test_every_filecheck_specification_passes():
    pytest.importorskip("lit")
    specs = sorted(FILECHECK_DIR.glob("*.mlir"))
    assert len(specs) >= 20, "the FileCheck specifications are missing"
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    result = subprocess.run([*_lit_command(), "-v", str(FILECHECK_DIR)], capture_output=True, text=True, env=env)
    summary = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, summary
    assert f"Passed: {len(specs)}" in result.stdout, summary
