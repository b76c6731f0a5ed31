"""CPU backend: native runtime, memory plan, emitted IR properties, CpuCode as data, errors."""

from __future__ import annotations

import subprocess
import sys
import json
from pathlib import Path

import numpy as np
import pytest
from cpu_testing import assert_close, build, reference, run_code
from xdsl.parser import Parser

from graphc.backends.cpu import CpuCode, UnsupportedOnCpu, compile_program
from graphc.backends.cpu.arith_ext import loop_context
from graphc.backends.cpu.lower_to_loops import lower_program
from graphc.backends.cpu.memory_plan import ALIGN, plan_memory
from graphc.dialects import graph as g
from graphc.runtime.native import NativeModule, aligned_copy, aligned_empty, is_aligned


def chain_program(length: int = 6, shape=(8, 64)):
    """x -> exp -> tanh -> neg -> ... : every intermediate dies after the next op."""

    def body(gb, x):
        ops = [g.ExpOp, g.TanhOp, g.NegOp, g.SinOp, g.AbsOp, g.SqrtOp, g.CosOp]
        v = x
        for i in range(length):
            v = gb(ops[i % len(ops)], v)
        return v

    return build([(shape, np.float32)], body)


def small_model():
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((3, 3, 3, 8)).astype(np.float32) * 0.3
    w2 = rng.standard_normal((8, 5)).astype(np.float32)

    def body(gb, x):
        c = gb(g.Conv2DOp, x, gb.const(w1, "conv"), strides=g.ints_attr((2, 2)), dilations=g.ints_attr((1, 1)),
               pads=g.ints_attr((1, 1, 1, 1)), groups=g.int_attr(1))  # fmt: skip
        c = gb(g.MinOp, gb(g.MaxOp, c, gb.const(np.float32(0).reshape(()))), gb.const(np.float32(6).reshape(())))
        m = gb(g.ReduceMeanOp, c, axes=g.ints_attr((1, 2)), keepdims=g.int_attr(0))
        return gb(g.MatMulOp, m, gb.const(w2, "fc"))

    return build([((2, 16, 16, 3), np.float32)], body)


def test_arena_reused_across_calls_gives_identical_results():
    program = small_model()
    code = compile_program(program)
    native = NativeModule.load(code.object_code, code.entry)
    weights = [aligned_copy(program.weights[n]) for n in code.weight_names]
    arena = aligned_empty(code.arena_bytes, np.uint8)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 16, 16, 3)).astype(np.float32)
    other = rng.standard_normal((2, 16, 16, 3)).astype(np.float32)
    first = aligned_empty((2, 5), np.float32)
    native.run([x], [first], weights, arena)
    native.run([other], [aligned_empty((2, 5), np.float32)], weights, arena)  # dirties the arena
    second = aligned_empty((2, 5), np.float32)
    native.run([x], [second], weights, arena)
    np.testing.assert_array_equal(first, second)
    # relu6 output of a 27-term dot product, then a mean and a 8-term dot product
    assert_close(first, reference(program, [x])[0], rtol=1e-5, atol=1e-5)


def test_unaligned_inputs_are_copied_and_unaligned_outputs_redirected():
    program = chain_program(2, (3, 5))
    code = compile_program(program)
    native = NativeModule.load(code.object_code, code.entry)
    raw = np.zeros(16 + 1, np.float32)
    x = raw[1:16].reshape(3, 5)  # 4-byte aligned at best
    x[...] = np.random.default_rng(2).standard_normal((3, 5))
    out_raw = np.zeros(16, np.float32)
    out = out_raw[1:].reshape(3, 5)
    native.run([x], [out], [], aligned_empty(max(code.arena_bytes, 1), np.uint8))
    assert_close(out, reference(program, [np.ascontiguousarray(x)])[0])
    with pytest.raises(ValueError, match="aligned"):
        native.run([x], [out], [], np.zeros(code.arena_bytes + 1, np.uint8)[1:])


def test_aligned_empty():
    for shape, dtype in [((3, 5), np.float32), ((0,), np.int8), ((), np.float64), (7, np.float16)]:
        a = aligned_empty(shape, dtype)
        assert is_aligned(a) and a.dtype == dtype


def test_memory_plan_reuses_memory_on_a_chain():
    program = chain_program(6)
    plan = plan_memory(program.main)
    assert plan.intermediate_bytes_total == 5 * 8 * 64 * 4  # the last op writes the output
    assert plan.arena_bytes == 2 * 8 * 64 * 4  # ping-pong between two buffers
    code = compile_program(program)
    assert code.arena_bytes < code.intermediate_bytes_total


def test_memory_plan_never_overlaps_live_buffers():
    program = small_model()
    plan = plan_memory(program.main)
    placed = [(plan.storage[r], lt) for r, lt in plan.lifetimes.items()]
    for s, _ in placed:
        assert s.offset % ALIGN == 0
        assert s.offset + s.nbytes <= plan.arena_bytes
    for i, (a, (a0, a1)) in enumerate(placed):
        for b, (b0, b1) in placed[i + 1 :]:
            if a0 <= b1 and b0 <= a1 and a.nbytes and b.nbytes:
                assert a.offset + a.nbytes <= b.offset or b.offset + b.nbytes <= a.offset


def test_llvm_ir_has_no_inttoptr_and_keeps_gep_addressing():
    code = compile_program(small_model())
    assert "inttoptr" not in code.llvm_ir and "ptrtoint" not in code.llvm_ir
    assert "getelementptr inbounds" in code.llvm_ir
    assert "noalias" in code.llvm_ir


def test_loop_level_prints_and_parses_back():
    loops = lower_program(small_model())
    text = str(loops.module)
    parsed = Parser(loop_context(), text).parse_module()
    parsed.verify()
    assert str(parsed) == text
    dialects = {op.name.split(".")[0] for op in parsed.walk()}
    assert dialects <= {"builtin", "func", "scf", "memref", "arith", "math", "vector"}


def test_cpu_code_is_plain_data():
    program = small_model()
    code = compile_program(program)
    manifest = json.loads(json.dumps(code.manifest()))
    again = CpuCode.from_manifest(manifest, code.object_code)
    assert again == code
    assert code.weight_names == ["conv", "fc"]
    assert code.inputs == [{"name": "x0", "shape": [2, 16, 16, 3], "dtype": "float32"}]
    assert code.outputs == [{"name": "y0", "shape": [2, 5], "dtype": "float32"}]
    assert code.kernels[0].startswith("conv2d")
    x = np.random.default_rng(3).standard_normal((2, 16, 16, 3)).astype(np.float32)
    assert_close(run_code(again, program, [x])[0], reference(program, [x])[0])


def test_identical_ops_share_a_kernel():
    def body(gb, x):
        return gb(g.ExpOp, gb(g.TanhOp, gb(g.ExpOp, gb(g.TanhOp, x))))

    code = compile_program(build([((4, 4), np.float32)], body))
    assert code.kernels == ["tanh_0", "exp_0", "tanh_0", "exp_0"]


def test_decomposed_ops_are_rejected_clearly():
    program = build([((2, 3), np.float32)], lambda gb, x: gb(g.SoftmaxOp, x, axis=g.int_attr(1)))
    with pytest.raises(UnsupportedOnCpu, match="decompose"):
        compile_program(program)


def test_native_runtime_imports_no_compiler():
    """Running a saved artifact needs the runtime only: neither xDSL nor the compiler is imported."""
    code = (
        "import sys, graphc, graphc.runtime, graphc.runtime.native; "
        "bad = sorted(m for m in sys.modules if m.startswith(('xdsl', 'graphc.driver', 'graphc.passes', "
        "'graphc.frontends', 'graphc.backends'))); print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cpu_target_through_the_driver_and_an_artifact():
    """graphc's own pipeline (folding, decompose) + the CPU plugin + a saved and reloaded artifact."""
    from graphc.backends.registry import get_backend
    from graphc.driver import compile_program as graphc_compile_program
    from graphc.runtime import LoadedModel
    from graphc.runtime.artifact import Artifact

    rng = np.random.default_rng(4)
    w = rng.standard_normal((6, 4)).astype(np.float32)

    def body(gb, x):
        h = gb(g.MatMulOp, x, gb.const(w, "w"))
        return [gb(g.SoftmaxOp, h, axis=g.int_attr(1)), gb(g.ReshapeOp, h, shape=g.ints_attr((12,)))]

    program = build([((3, 6), np.float32)], body)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    expected = reference(program, [x])
    compiled = graphc_compile_program(program.clone(), get_backend("cpu"))
    assert any(k.startswith("backend.llvm") for k in compiled.stats.stages)
    loaded = LoadedModel(Artifact.from_bytes(compiled.artifact.to_bytes()))
    for _ in range(2):
        got = loaded.run({"x0": x})
        for name, ref in zip(("y0", "y1"), expected):
            assert_close(got[name], ref)
