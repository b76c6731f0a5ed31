"""`graphc opt` and `graphc compile --report` from the command line, errors included."""

import os
import subprocess
import sys

import numpy as np

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "tf")

CHAIN = """
func.func @main(%x: tensor<4x8xf32>, %a: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = graph.mul %x, %a : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %1 = graph.relu %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  func.return %1 : tensor<4x8xf32>
}
"""

WEIGHTED = """
func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w = graph.constant {value = dense_resource<w> : tensor<8xf32>} : tensor<8xf32>
  %c = graph.constant {value = dense_resource<c> : tensor<8xf32>} : tensor<8xf32>
  %s = graph.add %w, %c : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %0 = graph.mul %x, %s : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}
"""


def graphc(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "graphc.cli", *args], capture_output=True, text=True, input=stdin)


def test_opt_runs_a_pipeline_on_a_file_and_on_stdin(tmp_path):
    path = tmp_path / "chain.mlir"
    path.write_text(CHAIN)
    r = graphc("opt", str(path), "-p", "fuse-elementwise")
    assert r.returncode == 0, r.stderr
    assert 'fusion.region "fusion_0" kind "loop"' in r.stdout
    back = graphc("opt", "-", "-p", "unfuse", stdin=r.stdout)
    assert back.returncode == 0, back.stderr
    assert "fusion." not in back.stdout and "graph.relu" in back.stdout
    out = tmp_path / "out.mlir"
    assert graphc("opt", str(path), "-o", str(out)).returncode == 0
    assert "graph.mul" in out.read_text()


def test_opt_lists_passes_with_their_summaries():
    r = graphc("opt", "--list-passes")
    assert r.returncode == 0
    names = [line.split()[0] for line in r.stdout.splitlines()]
    for name in ("fold-constants", "fuse-epilogues", "fuse-reductions", "fuse-elementwise", "fuse-producers",
                 "fuse-siblings", "fuse-remaining", "fuse-pad-into-conv", "unfuse"):  # fmt: skip
        assert name in names
    assert all(len(line.split(None, 1)) == 2 for line in r.stdout.splitlines())


def test_opt_binds_weights_from_an_npz(tmp_path):
    path = tmp_path / "w.mlir"
    path.write_text(WEIGHTED)
    weights = tmp_path / "w.npz"
    np.savez(weights, w=np.ones(8, np.float32), c=np.full(8, 2, np.float32))
    r = graphc("opt", str(path), "-p", "fold-constants", "--weights", str(weights))
    assert r.returncode == 0, r.stderr
    assert "dense<3.000000e+00> : tensor<8xf32>" in r.stdout
    missing = graphc("opt", str(path), "-p", "fold-constants")
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "--weights" in missing.stderr


def test_opt_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.mlir"
    bad.write_text("func.func @main( {")
    cases = [
        (("opt", str(tmp_path / "nope.mlir")), "no such file"),
        (("opt", str(bad)), "not valid MLIR"),
        (("opt", "-", "-p", "no-such-pass"), "bad pass pipeline"),
        (("opt",), "give an MLIR file"),
    ]
    for args, message in cases:
        r = graphc(*args, stdin=CHAIN)
        assert r.returncode == 1, (args, r.stderr)
        assert r.stderr.startswith("graphc: error: ") and r.stderr.count("\n") == 1, r.stderr
        assert message in r.stderr, r.stderr
    broken = CHAIN.replace("%1 = graph.relu %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>",
                           "%1 = graph.relu %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>\n  %9 = graph.reduce_sum %1 "
                           "{axes = array<i64: 5>, keepdims = 1 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>")  # fmt: skip
    r = graphc("opt", "-", stdin=broken)
    assert r.returncode == 1 and "IR does not verify" in r.stderr and r.stderr.count("\n") == 1


def test_compile_report_prints_kernels_and_bytes(tmp_path):
    model = os.path.join(FIXTURES, "digits_cnn.pb")
    r = graphc("compile", model, "--target", "reference", "--input-shape", "image=8x8x8x1", "-o",
               str(tmp_path / "d.gcx"), "--report")  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("wrote") and "6 kernels" in lines[0]
    assert any(line.startswith("fusion_5  reduction") and line.endswith("reduce_max, sub, exp, reduce_sum, div")
               for line in lines)  # fmt: skip
    assert lines[-1].startswith("total: 6 kernels for 17 ops; bytes moved") and "unfused" in lines[-1]
