"""IR dumps, printing, timing, `--compile-to` and resuming from a (hand-edited) dumped stage.

The round trip the issue asks for: dump every stage of a compile, edit one dump by hand, resume from
it with `graphc compile edited.mlir`, run the artifact and check TF's outputs with the edit applied.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from graphc.testing import load_fixture, tolerance_violation

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "tf")
DIGITS = os.path.join(FIXTURES, "digits_cnn")

GRAPH_PASSES = ["infer-shapes", "eliminate-dead-code", "canonicalize-graph", "recognize-qdq", "fold-qdq",
                "fold-constants", "decompose", "fold-constants", "optimize-layout", "canonicalize-graph",
                "eliminate-dead-code"]  # fmt: skip
FUSION_PASSES = ["fuse-pad-into-conv", "fuse-epilogues", "fuse-reductions", "fuse-producers", "fuse-elementwise",
                 "fuse-siblings", "fuse-remaining"]  # fmt: skip
HEADER = re.compile(r"^// -----// IR Dump (Before|After) (\S+) \((\d+)\) //----- //$", re.M)


def graphc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "graphc.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def digits():
    fixture = load_fixture(DIGITS)
    ((name, shape),) = fixture.input_shapes.items()
    return fixture, ["--input-shape", f"{name}={'x'.join(map(str, shape))}"]


def run_artifact(tmp_path, artifact, fixture):
    inputs, out = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(inputs, **fixture.inputs)
    r = graphc("run", artifact, "--inputs", inputs, "--out", out)
    assert r.returncode == 0, r.stderr
    with np.load(out) as got:
        return {k: got[k] for k in got.files}


def assert_outputs(got, expected):
    assert sorted(got) == sorted(expected)
    for name, ref in expected.items():
        problem = tolerance_violation(got[name], ref)
        assert problem is None, f"{name}: {problem}"


def double_the_output(text: str) -> str:
    """The hand edit: `func.return %x : T` → `func.return 2 * %x` (two new ops before the return)."""
    match = re.search(r"^(\s*)func\.return (%\w+) : (tensor<[^>]*>)$", text, re.M)
    assert match, "no func.return in the dump"
    indent, value, ttype = match.groups()
    edited = (
        f"{indent}%two = graph.constant {{value = dense<2.000000e+00> : tensor<f32>}} : tensor<f32>\n"
        f"{indent}%doubled = graph.mul {value}, %two : ({ttype}, tensor<f32>) -> {ttype}\n"
        f"{indent}func.return %doubled : {ttype}"
    )
    return text[: match.start()] + edited + text[match.end() :]


def dump_files(folder):
    return sorted(os.listdir(folder))


def test_dump_ir_names_every_stage_in_pipeline_order(tmp_path, digits):
    fixture, shape = digits
    r = graphc("compile", fixture.model_path, *shape, "--dump-ir", tmp_path / "d", "-o", tmp_path / "a.gcx", "-q")
    assert r.returncode == 0, r.stderr
    passes = ["import"] + GRAPH_PASSES + FUSION_PASSES
    n = len(passes)
    expected = [f"{i:02d}-{p}.mlir" for i, p in enumerate(passes)]
    expected += [f"{n:02d}-cpu-loops.mlir", f"{n + 1:02d}-cpu-llvm.ll", "weights.npz"]
    assert dump_files(tmp_path / "d") == sorted(expected)
    fused = (tmp_path / "d" / f"{n - 1:02d}-fuse-remaining.mlir").read_text()
    assert "fusion.region" in fused
    assert "define" in (tmp_path / "d" / f"{n + 1:02d}-cpu-llvm.ll").read_text()


def test_dump_ir_reference_target_dumps_its_graph(tmp_path, digits):
    fixture, shape = digits
    r = graphc("compile", fixture.model_path, *shape, "--target", "reference", "--dump-ir", tmp_path / "d",
               "-o", tmp_path / "a.gcx", "-q")  # fmt: skip
    assert r.returncode == 0, r.stderr
    files = dump_files(tmp_path / "d")
    assert "19-reference-graph.mlir" in files and "weights.npz" in files


def test_dumps_are_deterministic(tmp_path, digits):
    fixture, shape = digits
    for run in ("one", "two"):
        r = graphc("compile", fixture.model_path, *shape, "--dump-ir", tmp_path / run, "-o", tmp_path / f"{run}.gcx",
                   "-q")  # fmt: skip
        assert r.returncode == 0, r.stderr
        r = graphc("compile", fixture.model_path, *shape, "--compile-to", "graph", "-o", tmp_path / f"{run}.mlir", "-q")
        assert r.returncode == 0, r.stderr
    files = dump_files(tmp_path / "one")
    assert files == dump_files(tmp_path / "two") and len(files) > 10
    for name in files:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    for name in ("{}.mlir", "{}.weights.npz"):
        one, two = name.format("one"), name.format("two")
        assert (tmp_path / one).read_bytes() == (tmp_path / two).read_bytes(), name


@pytest.mark.parametrize("stage_file", ["11-eliminate-dead-code.mlir", "18-fuse-remaining.mlir", "00-import.mlir"])
def test_round_trip_edit_a_dump_and_resume(tmp_path, digits, stage_file):
    """Dump every stage, double the model's output by editing one dump, resume, run, compare with TF × 2."""
    fixture, shape = digits
    dumps = tmp_path / "dumps"
    r = graphc("compile", fixture.model_path, *shape, "--dump-ir", dumps, "-o", tmp_path / "a.gcx", "-q")
    assert r.returncode == 0, r.stderr
    assert_outputs(run_artifact(tmp_path, tmp_path / "a.gcx", fixture), fixture.outputs)

    edited = tmp_path / "edited.mlir"
    edited.write_text(double_the_output((dumps / stage_file).read_text()))
    r = graphc("compile", edited, "--weights", dumps / "weights.npz", "-o", tmp_path / "edited.gcx", "--dump-ir",
               tmp_path / "resumed")  # fmt: skip
    assert r.returncode == 0, r.stderr
    resumed = dump_files(tmp_path / "resumed")
    if stage_file.startswith("18-"):  # the fusion stage: no pass runs again
        assert resumed == ["00-fusion.mlir", "01-cpu-loops.mlir", "02-cpu-llvm.ll", "weights.npz"]
    else:
        assert resumed[0] == "00-import.mlir" and "18-fuse-remaining.mlir" in resumed
    got = run_artifact(tmp_path, tmp_path / "edited.gcx", fixture)
    assert_outputs(got, {k: 2 * v for k, v in fixture.outputs.items()})


def test_graph_pipeline_is_idempotent_so_resuming_a_graph_dump_is_safe(tmp_path, digits):
    fixture, shape = digits
    r = graphc("compile", fixture.model_path, *shape, "--compile-to", "graph", "-o", tmp_path / "g.mlir", "-q")
    assert r.returncode == 0, r.stderr
    r = graphc("compile", tmp_path / "g.mlir", "--compile-to", "graph", "-o", tmp_path / "g2.mlir", "-q")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "g.mlir").read_text() == (tmp_path / "g2.mlir").read_text()


@pytest.mark.parametrize("stage", ["import", "graph", "fusion"])
def test_compile_to_each_stage_then_resume(tmp_path, digits, stage):
    fixture, shape = digits
    r = graphc("compile", fixture.model_path, *shape, "--compile-to", stage, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    mlir, weights = tmp_path / f"digits_cnn.{stage}.mlir", tmp_path / f"digits_cnn.{stage}.weights.npz"
    assert mlir.exists() and weights.exists()
    text = mlir.read_text()
    assert ("fusion.region" in text) == (stage == "fusion")
    assert ("graph.softmax" in text) == (stage == "import")  # decompose ran for graph and fusion
    with np.load(weights) as w:
        assert all(f"dense_resource<{k}>" in text for k in w.files) or stage == "import"
    # resume: the weights beside the .mlir are found without --weights
    r = graphc("compile", mlir.name, "-o", "resumed.gcx", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert_outputs(run_artifact(tmp_path, tmp_path / "resumed.gcx", fixture), fixture.outputs)


def test_compile_to_an_earlier_stage_than_the_input_is_an_error(tmp_path, digits):
    fixture, shape = digits
    r = graphc("compile", fixture.model_path, *shape, "--compile-to", "fusion", "-o", tmp_path / "f.mlir", "-q")
    assert r.returncode == 0, r.stderr
    r = graphc("compile", tmp_path / "f.mlir", "--compile-to", "graph", "-o", tmp_path / "g.mlir")
    assert r.returncode == 1
    assert r.stderr.startswith("graphc: error:") and "already past stage 'graph'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_print_ir_after_regex_and_before(tmp_path, digits):
    fixture, shape = digits
    r = graphc("compile", fixture.model_path, *shape, "--print-ir-after", "^fuse-(epilogues|remaining)$",
               "--print-ir-before", "decompose", "-o", tmp_path / "a.gcx", "-q")  # fmt: skip
    assert r.returncode == 0, r.stderr
    headers = HEADER.findall(r.stderr)
    assert headers == [("Before", "decompose", "7"), ("After", "fuse-epilogues", "13"),
                       ("After", "fuse-remaining", "18")]  # fmt: skip
    assert r.stderr.count("builtin.module") == 3
    assert r.stdout == ""


def test_print_ir_after_all(tmp_path, digits):
    fixture, shape = digits
    r = graphc("compile", fixture.model_path, *shape, "--print-ir-after-all", "--verify-each", "-o",
               tmp_path / "a.gcx", "-q")  # fmt: skip
    assert r.returncode == 0, r.stderr
    names = [name for _, name, _ in HEADER.findall(r.stderr)]
    assert names == ["import"] + GRAPH_PASSES + FUSION_PASSES


def test_bad_print_regex_is_one_line(tmp_path, digits):
    fixture, shape = digits
    r = graphc("compile", fixture.model_path, *shape, "--print-ir-after", "fuse-(", "-o", tmp_path / "a.gcx")
    assert r.returncode == 1
    assert r.stderr.startswith("graphc: error: --print-ir-after: bad regular expression")


def test_timing_table(tmp_path, digits):
    fixture, shape = digits
    r = graphc("compile", fixture.model_path, *shape, "--timing", "-o", tmp_path / "a.gcx", "-q")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert re.match(r"\s*#\s+pass\s+seconds\s+ops before\s+ops after", lines[0])
    rows = [re.match(r"\s*(\d+)\s+(\S+)\s+(\d+\.\d+)\s+(\d+)\s+(\d+)$", line) for line in lines[1:]]
    rows = [m.groups() for m in rows if m]
    assert [name for _, name, *_ in rows] == GRAPH_PASSES + FUSION_PASSES
    for (_, _, _, _, after), (_, _, _, before, _) in zip(rows, rows[1:]):
        assert after == before  # ops after one pass = ops before the next
    assert any(int(before) != int(after) for _, _, _, before, after in rows)
    assert "stages:" in r.stderr


def test_broken_mlir_is_one_line_error(tmp_path):
    bad = tmp_path / "broken.mlir"
    bad.write_text("builtin.module {\n  func.func @main( {\n")
    r = graphc("compile", bad, "-o", tmp_path / "x.gcx")
    assert r.returncode == 1
    assert r.stderr.startswith(f"graphc: error: {bad}: not valid MLIR: ")
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_weights_for_resume_are_named(tmp_path, digits):
    fixture, shape = digits
    r = graphc("compile", fixture.model_path, *shape, "--compile-to", "graph", "-o", tmp_path / "g.mlir", "-q")
    assert r.returncode == 0, r.stderr
    os.remove(tmp_path / "g.weights.npz")
    r = graphc("compile", tmp_path / "g.mlir", "-o", tmp_path / "g.gcx")
    assert r.returncode == 1
    assert "weight resources missing" in r.stderr and "--weights" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_front_end_options_on_a_mlir_input_are_refused(tmp_path, digits):
    fixture, shape = digits
    r = graphc("compile", fixture.model_path, *shape, "--compile-to", "import", "-o", tmp_path / "i.mlir", "-q")
    assert r.returncode == 0, r.stderr
    r = graphc("compile", tmp_path / "i.mlir", *shape, "-o", tmp_path / "i.gcx")
    assert r.returncode == 1 and "fixed in a .mlir stage" in r.stderr
