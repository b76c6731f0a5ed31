"""The command line: the README's flow works, and every kind of bad input gets one line and exit 1."""

import os
import subprocess
import sys

import numpy as np
import pytest

from graphc.cli import main
from graphc.testing import load_fixture

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
MLP = os.path.join(FIXTURES, "tf", "mlp.pb")
MOBILENET = os.path.join(FIXTURES, "tf", "mobilenet_v2.pb")


def graphc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "graphc.cli", *args], capture_output=True, text=True, cwd=cwd)


def mlp_inputs(tmp_path):
    """The MLP fixture's input name and array, an .npz of it for `graphc run`, and TF's outputs."""
    fixture = load_fixture(os.path.join(FIXTURES, "tf", "mlp"))
    ((name, x),) = fixture.inputs.items()
    path = tmp_path / "in.npz"
    np.savez(path, **{name: x})
    return name, x, path, fixture.outputs


def test_compile_run_inspect_round_trip(tmp_path):
    name, x, inputs, expected = mlp_inputs(tmp_path)
    art = tmp_path / "mlp.gcx"
    r = graphc("compile", MLP, "--input-shape", f"{name}={'x'.join(map(str, x.shape))}", "-o", str(art))
    assert r.returncode == 0, r.stderr
    assert "kernels" in r.stdout
    out = tmp_path / "out.npz"
    r = graphc("run", str(art), "--inputs", str(inputs), "--out", str(out))
    assert r.returncode == 0, r.stderr
    with np.load(out) as got:
        for k, ref in expected.items():
            np.testing.assert_allclose(got[k], ref, rtol=1e-3, atol=1e-4)
    r = graphc("inspect", MLP)
    assert r.returncode == 0 and "MatMul" in r.stdout and "parameters:" in r.stdout


def test_default_output_name_is_the_model_name(tmp_path):
    name, x, _, _ = mlp_inputs(tmp_path)
    r = graphc("compile", MLP, "--input-shape", f"{name}={'x'.join(map(str, x.shape))}", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "mlp.gcx").exists()


def _bad_file(tmp_path, kind):
    path = tmp_path / f"{kind}.pb"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = open(MLP, "rb").read()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "text":
        path.write_text("this is not a model\n" * 20)
    return str(path)


@pytest.mark.parametrize("kind", ["empty", "truncated", "random", "text"])
def test_unreadable_models_get_one_line(tmp_path, kind, capsys):
    path = _bad_file(tmp_path, kind)
    assert main(["compile", path, "-o", str(tmp_path / "x.gcx")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and path in err and "Traceback" not in err


def assert_one_line_error(args, capsys, *fragments):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("graphc: error: ") and err.count("\n") == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_missing_file(capsys, tmp_path):
    assert_one_line_error(["compile", str(tmp_path / "nope.pb")], capsys, "nope.pb", "no such file")


def test_every_unsupported_op_is_listed_at_once(capsys):
    path = os.path.join(FIXTURES, "bad", "unsupported_ops.pb")
    assert_one_line_error(["compile", path], capsys, "Lgamma", "Digamma", "MatrixDeterminant", "unsupported_ops.pb")


def test_control_flow_is_rejected_by_name(capsys):
    path = os.path.join(FIXTURES, "bad", "while_loop.pb")
    assert_one_line_error(["compile", path], capsys, "control flow")


def test_unknown_dimension_without_input_shape_names_the_input(capsys):
    assert_one_line_error(["compile", MOBILENET], capsys, "image", "--input-shape")


def test_bad_input_shape_syntax_is_a_usage_error(capsys):
    assert main(["compile", MLP, "--input-shape", "x=1xfoo"]) == 2
    assert "--input-shape" in capsys.readouterr().err


def test_unknown_target(capsys):
    assert_one_line_error(["compile", MLP, "--target", "tpu9000"], capsys, "unknown target 'tpu9000'")


@pytest.fixture(scope="module")
def mlp_artifact(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    name, x, _, _ = mlp_inputs(tmp)
    art = tmp / "mlp.gcx"
    assert main(["compile", MLP, "--input-shape", f"{name}={'x'.join(map(str, x.shape))}", "-o", str(art), "-q"]) == 0
    return str(art), name, x, tmp


def test_wrong_input_shape_at_run_time(mlp_artifact, capsys):
    art, name, x, tmp = mlp_artifact
    bad = tmp / "bad_shape.npz"
    np.savez(bad, **{name: np.zeros((x.shape[0] + 1, *x.shape[1:]), np.float32)})
    assert_one_line_error(["run", art, "--inputs", str(bad), "--out", str(tmp / "o.npz")], capsys, name, "shape")


def test_wrong_input_dtype_at_run_time(mlp_artifact, capsys):
    art, name, x, tmp = mlp_artifact
    bad = tmp / "bad_dtype.npz"
    np.savez(bad, **{name: x.astype(np.float64)})
    assert_one_line_error(["run", art, "--inputs", str(bad), "--out", str(tmp / "o.npz")], capsys, "float64", "float32")


def test_missing_and_unknown_inputs_at_run_time(mlp_artifact, capsys):
    art, name, x, tmp = mlp_artifact
    bad = tmp / "wrong_name.npz"
    np.savez(bad, other=x)
    assert_one_line_error(["run", art, "--inputs", str(bad), "--out", str(tmp / "o.npz")], capsys, f"'{name}'", "'other'")


def test_not_an_artifact(tmp_path, capsys):
    path = tmp_path / "fake.gcx"
    path.write_bytes(b"garbage")
    inputs = tmp_path / "i.npz"
    np.savez(inputs, x=np.zeros(1))
    assert_one_line_error(["run", str(path), "--inputs", str(inputs), "--out", str(tmp_path / "o.npz")], capsys,
                          "fake.gcx", "not a graphc artifact")  # fmt: skip


def test_inputs_file_that_is_not_npz(mlp_artifact, capsys):
    art, _, _, tmp = mlp_artifact
    bad = tmp / "inputs.npz"
    bad.write_text("nope")
    assert_one_line_error(["run", art, "--inputs", str(bad), "--out", str(tmp / "o.npz")], capsys, "inputs.npz")


def test_console_script_reports_errors_without_traceback(tmp_path):
    r = graphc("compile", _bad_file(tmp_path, "random"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_report_lists_kernels_bytes_and_memory(capsys, tmp_path):
    fixture = load_fixture(os.path.join(FIXTURES, "tf", "digits_cnn"))
    ((name, x),) = fixture.inputs.items()
    shape = "x".join(map(str, x.shape))
    assert main(["compile", fixture.model_path, "--input-shape", f"{name}={shape}", "--report", "-q",
                 "-o", str(tmp_path / "d.gcx")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "conv2d, add, relu" in out and "total: 6 kernels" in out and "unfused" in out
    assert "memory: arena" in out


def test_cpu_artifact_stores_only_the_weights_its_code_reads(tmp_path):
    import zipfile

    import graphc

    fixture = load_fixture(os.path.join(FIXTURES, "tf", "mobilenet_v2"))
    model = graphc.compile(fixture.model_path, input_shapes=fixture.input_shapes)
    stored = set(model.artifact.weights)
    assert stored == set(model.artifact.meta["weight_names"])
    path = tmp_path / "m.gcx"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        assert len([n for n in z.namelist() if n.startswith("weights/")]) == len(stored)
