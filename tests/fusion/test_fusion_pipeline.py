"""The fusion pipeline in the compiler: which backends get regions, dumps between fusion passes,
idempotence, unfuse, and the `--report` text."""

import os

import numpy as np

import graphc
from graphc.backends.registry import get_backend
from graphc.context import parse_module
from graphc.dialects import fusion as f
from graphc.dialects import graph as g
from graphc.dialects.builder import ProgramBuilder
from graphc.dialects.resources import GraphProgram
from graphc.dialects.semantics import evaluate_program
from graphc.driver import compile_program
from graphc.passes import FUSION_PIPELINE
from graphc.pipeline import run_pipeline
from graphc.report import kernel_report, kernel_rows
from graphc.testing import load_fixture

F32 = np.float32
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "tf")


def mlp_block():
    rng = np.random.default_rng(0)
    b = ProgramBuilder({"x": ((8, 16), F32)})
    h = b.op(g.MatMulOp, b.args["x"], b.const(rng.normal(size=(16, 32)).astype(F32), "w1"))
    h = b.op(g.ReluOp, b.op(g.AddOp, h, b.const(rng.normal(size=32).astype(F32), "b1")))
    logits = b.op(g.MatMulOp, h, b.const(rng.normal(size=(32, 4)).astype(F32), "w2"))
    return b.build({"y": b.op(g.SoftmaxOp, logits, axis=g.int_attr(1))})


def region_kinds(program):
    return [op.kind_name for op in program.main.body.block.ops if isinstance(op, f.RegionOp)]


def test_backends_that_support_fusion_get_regions_and_the_others_do_not():
    assert get_backend("reference").supports_fusion is True
    x = np.random.default_rng(1).normal(size=(8, 16)).astype(F32)
    expected = evaluate_program(mlp_block(), {"x": x})["y"]
    fused = compile_program(mlp_block(), get_backend("reference"))
    assert region_kinds(fused.program) == ["matmul", "matmul", "reduction"]
    assert fused.artifact.schedule == ["fusion_0", "fusion_1", "fusion_2"]
    assert fused.stats.unfused is not None and "fusion" in fused.stats.stages
    np.testing.assert_allclose(fused.run({"x": x})["y"], expected, rtol=1e-5, atol=1e-6)
    plain = compile_program(mlp_block(), get_backend("reference"), fusion=False)
    assert region_kinds(plain.program) == [] and len(plain.artifact.schedule) == 9  # one per op

    class NoFusion:  # a backend without the attribute (an out-of-tree plugin, or the CPU one today)
        name, executor = "reference", get_backend("reference").executor

        def compile(self, program):
            return get_backend("reference").compile(program)

    unfused = compile_program(mlp_block(), NoFusion())
    assert region_kinds(unfused.program) == []


def test_every_dump_between_fusion_passes_reads_back_and_continues():
    program = mlp_block()
    run_pipeline(program)
    dumps = []
    run_pipeline(program, FUSION_PIPELINE, verify_each=True, after_pass=lambda i, p, m: dumps.append(str(m)))
    final = str(program.module)
    for i, text in enumerate(dumps):
        module = parse_module(text, f"after-{i}.mlir")
        assert str(module) == text
        rest = ",".join(FUSION_PIPELINE.split(",")[i + 1 :])
        resumed = GraphProgram(module, program.weights)
        if rest:
            run_pipeline(resumed, rest)
        assert str(resumed.module) == final


def test_the_fusion_pipeline_is_idempotent_and_unfuse_undoes_it():
    program = mlp_block()
    run_pipeline(program)
    x = np.random.default_rng(2).normal(size=(8, 16)).astype(F32)
    before = evaluate_program(program, {"x": x})["y"]
    run_pipeline(program, FUSION_PIPELINE)
    once = str(program.module)
    run_pipeline(program, FUSION_PIPELINE)
    assert str(program.module) == once
    run_pipeline(program, "unfuse")
    program.module.verify()
    assert not any(isinstance(op, f.RegionOp) for op in program.module.walk())
    np.testing.assert_allclose(evaluate_program(program, {"x": x})["y"], before, rtol=1e-6)
    run_pipeline(program, FUSION_PIPELINE)
    assert str(program.module) == once


def test_report_lists_kernels_ops_and_bytes():
    fixture = load_fixture(os.path.join(FIXTURES, "digits_cnn"))
    model = graphc.compile(fixture.model_path, target="reference", input_shapes=fixture.input_shapes)
    text = kernel_report(model.program, model.stats.unfused)
    lines = text.splitlines()
    assert lines[0].split() == ["kernel", "kind", "fused", "unfused", "ops"]
    assert lines[1].split()[:2] == ["fusion_0", "conv"] and lines[1].endswith("conv2d, add, relu")
    assert lines[-1].startswith("total: 6 kernels for 17 ops; bytes moved ")
    rows = kernel_rows(model.program)
    assert sum(r.fused.bytes for r in rows) < model.stats.unfused.bytes
    assert all(r.fused.bytes <= r.unfused.bytes for r in rows)
