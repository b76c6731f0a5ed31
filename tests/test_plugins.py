"""Plugins from outside the package: the two example packages in `examples/` are pip-installed
(editable, once per session) and used through the CLI exactly as a user would; graphc's dialects
and passes are usable from the standard `xdsl-opt`; a broken plugin costs a warning, not a crash.

Installing takes a few seconds (`--no-deps`: graphc is already installed; the build backend comes
through pip's usual build isolation), so CI's fresh clone exercises the examples without a separate step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from graphc.testing import load_fixture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
MLP = os.path.join(ROOT, "tests", "fixtures", "tf", "mlp")
XDSL_OPT = shutil.which("xdsl-opt") or os.path.join(os.path.dirname(sys.executable), "xdsl-opt")

IDENTITIES = textwrap.dedent("""\
    func.func @main(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
      %one = graph.constant {value = dense<1.0> : tensor<4xf32>} : tensor<4xf32>
      %zero = graph.constant {value = dense<0.0> : tensor<f32>} : tensor<f32>
      %a = graph.mul %x, %one : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
      %b = graph.add %zero, %a : (tensor<f32>, tensor<2x4xf32>) -> tensor<2x4xf32>
      %t = graph.transpose %b {perm = array<i64: 1, 0>} : (tensor<2x4xf32>) -> tensor<4x2xf32>
      %u = graph.transpose %t {perm = array<i64: 1, 0>} : (tensor<4x2xf32>) -> tensor<2x4xf32>
      func.return %u : tensor<2x4xf32>
    }
    """)


def run(*args, cwd=None, env=None, timeout=120):
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def graphc(*args, **kwargs):
    return run(sys.executable, "-m", "graphc.cli", *args, **kwargs)


EXAMPLE_PACKAGES = ("graphc-simplify", "graphc-cbackend")


@pytest.fixture(scope="session")
def examples_installed():
    """Installs the examples for the session and uninstalls the ones that were not installed
    before: an editable install left behind points at this checkout, and once a CI clone is
    deleted every later graphc command in that environment warns about the missing plugin."""
    from importlib import metadata

    from graphc import plugins

    def installed(name):
        try:
            metadata.distribution(name)
            return True
        except metadata.PackageNotFoundError:
            return False

    ours = [name for name in EXAMPLE_PACKAGES if not installed(name)]
    r = run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "-e", os.path.join(EXAMPLES, "graphc-simplify"), "-e", os.path.join(EXAMPLES, "graphc-cbackend"),
            timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    plugins.clear_cache()  # this process discovered plugins before they were installed
    yield True
    if ours:
        run(sys.executable, "-m", "pip", "uninstall", "--quiet", "-y", *ours, timeout=300)
        plugins.clear_cache()


def test_list_passes_shows_plugin_pass(examples_installed):
    r = graphc("opt", "--list-passes")
    assert r.returncode == 0, r.stderr
    line = next(line for line in r.stdout.splitlines() if line.startswith("algebraic-simplify"))
    assert "x*1" in line  # the module docstring's summary
    assert "fold-constants" in r.stdout  # in-tree passes come through the same entry points
    assert r.stderr == ""


def test_opt_runs_plugin_pass(examples_installed, tmp_path):
    path = tmp_path / "identities.mlir"
    path.write_text(IDENTITIES)
    r = graphc("opt", str(path), "-p", "algebraic-simplify")
    assert r.returncode == 0, r.stderr
    body = r.stdout
    for op in ("graph.mul", "graph.add", "graph.transpose", "graph.constant"):
        assert op not in body, body
    assert "func.return %x" in body


def test_compile_with_plugin_target_matches_tensorflow(examples_installed, tmp_path):
    fixture = load_fixture(MLP)
    ((name, x),) = fixture.inputs.items()
    inputs = tmp_path / "in.npz"
    np.savez(inputs, **{name: x})
    art, out = tmp_path / "mlp.gcx", tmp_path / "out.npz"
    r = graphc("compile", MLP + ".pb", "--target", "c", "--input-shape", f"{name}=4x20", "-o", str(art))
    assert r.returncode == 0, r.stderr
    assert "(c," in r.stdout
    r = graphc("run", str(art), "--inputs", str(inputs), "--out", str(out))
    assert r.returncode == 0, r.stderr
    with np.load(out) as got:
        for key, expected in fixture.outputs.items():
            np.testing.assert_allclose(got[key], expected, rtol=1e-5, atol=1e-6)


def test_unknown_target_lists_available_ones(examples_installed, tmp_path):
    r = graphc("compile", MLP + ".pb", "--target", "nope", "-o", str(tmp_path / "x.gcx"))
    assert r.returncode == 1
    assert "unknown target 'nope'" in r.stderr and "c, cpu, reference" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("example", ["graphc-simplify", "graphc-cbackend"])
def test_example_package_own_tests(examples_installed, example):
    folder = os.path.join(EXAMPLES, example)
    r = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=folder, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout


def test_broken_plugin_is_a_one_line_warning(tmp_path):
    """A plugin whose module does not import: graphc warns naming it, and keeps working."""
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[graphc.passes]\nbroken-pass = no_such_module_xyz:Pass\n\n[graphc.backends]\nbroken = no_such_module_xyz:B\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = graphc("opt", "--list-passes", env=env)
    assert r.returncode == 0, r.stderr
    assert "fold-constants" in r.stdout and "broken-pass" not in r.stdout
    warnings = r.stderr.strip().splitlines()
    assert len(warnings) == 1 and "broken-pass" in warnings[0] and "no_such_module_xyz" in warnings[0], r.stderr
    r = graphc("compile", MLP + ".pb", "--target", "broken", "-o", str(tmp_path / "x.gcx"), env=env)
    assert r.returncode == 1 and "'broken'" in r.stderr and "Traceback" not in r.stderr


def test_xdsl_opt_parses_graph_dialect(tmp_path):
    path = tmp_path / "g.mlir"
    path.write_text(IDENTITIES)
    r = run(XDSL_OPT, str(path))
    assert r.returncode == 0, r.stderr
    assert "graph.transpose" in r.stdout and "graph.constant" in r.stdout


def test_xdsl_opt_runs_graphc_pass(tmp_path):
    path = tmp_path / "c.mlir"
    path.write_text(textwrap.dedent("""\
        func.func @main(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
          %c = graph.constant {value = dense<1.0> : tensor<4xf32>} : tensor<4xf32>
          %d = graph.constant {value = dense<2.0> : tensor<4xf32>} : tensor<4xf32>
          %e = graph.add %c, %d : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
          %y = graph.mul %x, %e : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
          func.return %y : tensor<2x4xf32>
        }
        """))
    r = run(XDSL_OPT, "-p", "fold-constants", str(path))
    assert r.returncode == 0, r.stderr
    assert "graph.add" not in r.stdout and "dense<3.000000e+00>" in r.stdout


def test_xdsl_opt_lists_graphc_passes():
    r = run(XDSL_OPT, "--help")
    assert r.returncode == 0, r.stderr
    listing = "".join(r.stdout.split())  # argparse wraps the list of passes across lines
    assert "fold-constants" in listing and "fuse-epilogues" in listing


def test_xdsl_universe_lists_graphc():
    from xdsl.universe import Universe

    multiverse = Universe.get_multiverse()
    assert {"graph", "fusion"} <= set(multiverse.all_dialects)
    assert "fold-constants" in multiverse.all_passes and "fuse-epilogues" in multiverse.all_passes
    assert multiverse.all_passes["fold-constants"]().name == "fold-constants"


def _doc_block(doc: str, starts_with: str) -> str:
    """The fenced code block of docs/`doc` that begins with `starts_with`."""
    with open(os.path.join(ROOT, "docs", doc), encoding="utf-8") as handle:
        blocks = handle.read().split("```")
    return next(b.split("\n", 1)[1] for b in blocks[1::2] if b.split("\n", 1)[1].startswith(starts_with))


def test_frontend_tutorial_plugin(tmp_path):
    """The front end of docs/writing-a-frontend.md, registered through `graphc.frontends` (a
    dist-info on PYTHONPATH, as `pip install -e` would make), used by compile and run."""
    (tmp_path / "graphc_tinyjson.py").write_text(_doc_block("writing-a-frontend.md", '"""graphc-tinyjson'))
    dist = tmp_path / "graphc_tinyjson-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: graphc-tinyjson\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[graphc.frontends]\ntinyjson = graphc_tinyjson:TinyJsonFrontend\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    model = tmp_path / "tiny.json"
    model.write_text('{"tinyjson": 1, "inputs": {"x": [2, 3]}, "weights": {"w": [[1, 2], [3, 4], [5, 6]]},'
                     ' "ops": [["h", "matmul", "x", "w"], ["y", "relu", "h"]], "outputs": ["y"]}')  # fmt: skip
    x = np.array([[1, 0, -1], [0, 1, 0]], np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    art, out = tmp_path / "tiny.gcx", tmp_path / "y.npz"
    r = graphc("compile", str(model), "--target", "reference", "-o", str(art), env=env)
    assert r.returncode == 0, r.stderr
    r = graphc("run", str(art), "--inputs", str(tmp_path / "x.npz"), "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr
    with np.load(out) as got:
        np.testing.assert_array_equal(got["y"], [[0, 0], [3, 4]])
    # Files the plugin does not claim still go to the built-in front end.
    r = graphc("compile", MLP + ".pb", "--target", "reference", "--input-shape", "x=4x20", "-o",
               str(tmp_path / "mlp.gcx"), env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr


def test_fallback_without_package_metadata(monkeypatch):
    """A source tree that was never installed has no entry points: the in-tree tables are used."""
    from graphc import plugins
    from graphc.backends.registry import available_targets, get_backend
    from graphc.passes import ALL_PASSES, PASSES

    monkeypatch.setattr(plugins, "entry_points", lambda group: ())
    try:
        PASSES.refresh()
        assert list(PASSES) == [p.name for p in ALL_PASSES]
        assert available_targets() == ["cpu", "reference", "systolic", "triton"]
        assert get_backend("reference").name == "reference"
    finally:
        monkeypatch.undo()
        PASSES.refresh()
    assert "fold-constants" in PASSES
