"""`--target systolic` end to end on hand-built contract IR: the host/device split, bit-exact outputs
against the reference semantics (quant_arith), the run report, and the CLI flags."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from graphc.backends.registry import get_backend
from graphc.context import parse_module
from graphc.dialects import systolic as s
from graphc.dialects.fusion import RegionOp
from graphc.dialects.semantics import evaluate_program
from graphc.driver import compile_program
from graphc.dumps import save_npz
from graphc.errors import GraphcError
from graphc.runtime import load

sys.path.insert(0, os.path.dirname(__file__))
from systolic_programs import int8_cnn  # noqa: E402

X = np.random.default_rng(1).integers(-128, 128, (2, 10, 10, 3)).astype(np.int8)


def compile_systolic(program, **options):
    backend = get_backend("systolic")
    backend.configure(**options)
    return compile_program(program, backend)


@pytest.fixture(scope="module")
def expected():
    return {k: np.asarray(v) for k, v in evaluate_program(int8_cnn(), {"x": X}).items()}


@pytest.mark.parametrize("options", [
    {"systolic_array": "8x8", "dataflow": "ws"},
    {"systolic_array": "8x16", "dataflow": "os"},
    {"systolic_array": "16x8", "dataflow": "is"},
    {},  # the 128x128 default
])  # fmt: skip
def test_outputs_equal_the_integer_reference(options, expected):
    model = compile_systolic(int8_cnn(), **options)
    got = model.run({"x": X})
    for name, want in expected.items():
        np.testing.assert_array_equal(got[name], want, err_msg=name)
    report = model.loaded.executor.last_report
    assert [r.name for r in report.layers] == ["fusion_0", "fusion_2", "fusion_3"]
    assert all(r.macs > 0 and 0 < r.utilization <= 1 for r in report.layers)


def test_the_split_is_in_the_ir_and_the_artifact(tmp_path, expected):
    model = compile_systolic(int8_cnn(), systolic_array="8x8")
    text = model.artifact.sections["program.mlir"].decode()
    module = parse_module(text)
    module.verify()
    ops = list(module.walk())
    assert sum(isinstance(op, s.LayerOp) for op in ops) == 3  # two convs and the dense layer
    assert [op.region_name for op in ops if isinstance(op, RegionOp)] == ["fusion_1"]  # the max pool
    assert model.artifact.schedule == ["fusion_0 [systolic]", "fusion_1", "fusion_2 [systolic]", "fusion_3 [systolic]"]
    path = tmp_path / "m.gcx"
    model.save(path)
    again = load(str(path)).run({"x": X})  # the runtime alone: no compiler passes
    np.testing.assert_array_equal(again["logits"], expected["logits"])


def test_only_whole_int8_layers_go_to_the_array():
    placement = compile_systolic(int8_cnn(host_pool=True), systolic_array="8x8").artifact.meta["placement"]
    assert [(p["name"], p["where"]) for p in placement] == [
        ("fusion_0", "systolic"), ("fusion_1", "host"), ("fusion_2", "systolic"), ("fusion_3", "systolic")]  # fmt: skip


def test_an_epilogue_past_the_requantize_is_split_off_to_the_host():
    program = int8_cnn(epilogue=True)
    want = evaluate_program(program.clone(), {"x": X})
    model = compile_systolic(program, systolic_array="8x8", dataflow="is")
    assert model.artifact.schedule[-2:] == ["fusion_3 [systolic]", "fusion_3_epilogue"]
    assert model.artifact.meta["placement"][-1] == {"name": "fusion_3_epilogue", "kind": "loop", "where": "host",
                                                    "why": "epilogue past the requantize"}  # fmt: skip
    got = model.run({"x": X})
    for name in want:
        np.testing.assert_array_equal(got[name], np.asarray(want[name]), err_msg=name)


def test_a_float_model_runs_entirely_on_the_host():
    import graphc
    from graphc.testing import load_fixture

    fx = load_fixture(os.path.join(os.path.dirname(__file__), "..", "fixtures", "tf", "mlp"))
    model = graphc.compile(fx.model_path, target="systolic", input_shapes=fx.input_shapes)
    placement = model.artifact.meta["placement"]
    assert placement and all(p["where"] == "host" for p in placement)
    assert any(p["why"] == "float layer (not quantized)" for p in placement)
    cpu = graphc.compile(fx.model_path, target="cpu", input_shapes=fx.input_shapes)
    got, want = model.run(fx.inputs), cpu.run(fx.inputs)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    assert model.loaded.executor.last_report.layers == []


def test_a_host_segment_the_cpu_backend_cannot_compile_runs_on_the_reference_backend(monkeypatch, expected):
    from graphc.backends.systolic import host as systolic_host

    real = systolic_host.get_backend

    class CpuWithoutPools:
        def __init__(self):
            self.inner = real("cpu")
            self.name, self.executor = self.inner.name, self.inner.executor

        def compile(self, program):
            if "graph.max_pool" in str(program.module):
                raise NotImplementedError("CPU backend: graph.max_pool on i8 is not supported")
            return self.inner.compile(program)

    monkeypatch.setattr(systolic_host, "get_backend", lambda name: CpuWithoutPools() if name == "cpu" else real(name))
    model = compile_systolic(int8_cnn(), systolic_array="8x8")
    pool = [p for p in model.artifact.meta["placement"] if p["name"] == "fusion_1"][0]
    assert "reference backend: graph.max_pool on i8 is not supported" in pool["why"]
    got = model.run({"x": X})
    for name, want in expected.items():
        np.testing.assert_array_equal(got[name], want, err_msg=name)
    report = model.loaded.executor.last_report
    assert "host (reference)" in report.text()


def test_bad_machine_options_are_one_line_errors(tmp_path):
    with pytest.raises(GraphcError, match="ROWSxCOLS"):
        get_backend("systolic").configure(systolic_array="big")
    with pytest.raises(GraphcError, match="target 'cpu' takes no options"):
        import graphc

        graphc.compile(str(tmp_path / "none.mlir"), target="cpu", target_options={"dataflow": "os"})


def graphc_cli(*args):
    return subprocess.run([sys.executable, "-m", "graphc.cli", *args], capture_output=True, text=True)


def test_cli_compile_run_report(tmp_path, expected):
    program = int8_cnn()
    (tmp_path / "cnn.mlir").write_text(str(program.module))
    save_npz(str(tmp_path / "cnn.weights.npz"), program.weights.arrays)
    np.savez(tmp_path / "in.npz", x=X)
    config = tmp_path / "m.toml"
    config.write_text('rows = 16\ncols = 16\ndataflow = "os"\ndram_bytes_per_cycle = 8\n')
    gcx = str(tmp_path / "cnn.gcx")
    r = graphc_cli("compile", str(tmp_path / "cnn.mlir"), "--target", "systolic", "--systolic-config", str(config),
                   "--systolic-array", "8x8", "-o", gcx, "--report")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "fusion_0             conv       on systolic" in r.stdout and "fusion_1             loop       on host" in r.stdout
    r = graphc_cli("run", gcx, "--inputs", str(tmp_path / "in.npz"), "--out", str(tmp_path / "out.npz"),
                   "--report", "--report-json", str(tmp_path / "report.json"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "systolic 8x8 os" in r.stdout and "fusion_2" in r.stdout and "total:" in r.stdout
    report = json.load(open(tmp_path / "report.json"))
    assert report["machine"]["dram_bytes_per_cycle"] == 8 and report["totals"]["device_layers"] == 3
    assert [row["where"] for row in report["layers"]] == ["systolic", "host", "systolic", "systolic"]
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_array_equal(out["logits"], expected["logits"])
    r = graphc_cli("compile", str(tmp_path / "cnn.mlir"), "--target", "systolic", "--systolic-array", "0x8", "-o", gcx)
    errors = [line for line in r.stderr.splitlines() if not line.startswith("graphc: warning")]  # (plugin warnings)
    assert r.returncode == 1 and len(errors) == 1 and "rows and columns must be positive" in errors[0]


def test_the_quant_op_probe_accepts_a_backend_that_computes_them_exactly(monkeypatch):
    from graphc.backends.systolic import host as systolic_host

    real = systolic_host.get_backend
    monkeypatch.setattr(systolic_host, "get_backend", lambda name: real("reference"))
    systolic_host.cpu_computes_quant_ops.cache_clear()
    try:
        assert systolic_host.cpu_computes_quant_ops() is True
    finally:
        systolic_host.cpu_computes_quant_ops.cache_clear()
