"""CPU backend on a whole MobileNetV2-like model (compile time, accuracy) and what LLVM vectorizes."""

from __future__ import annotations

import re
import time

import numpy as np
from cpu_testing import build, reference, run_code
from mobilenet_like import graph_op_count, mobilenet_v2_like

from graphc.backends.cpu import compile_program
from graphc.backends.cpu.codegen import compile_llvm_ir
from graphc.backends.cpu.emit_llvm import emit_llvm
from graphc.backends.cpu.lower_to_loops import lower_program
from graphc.dialects import graph as g


def test_mobilenet_like_compiles_fast_and_matches_the_reference():
    program = mobilenet_v2_like()
    assert graph_op_count(program) >= 150
    start = time.perf_counter()
    code = compile_program(program)
    seconds = time.perf_counter() - start
    assert seconds < 20, code.stage_seconds  # ~3 s on the 2-core development machine
    assert code.arena_bytes < code.intermediate_bytes_total / 4
    x = np.random.default_rng(0).standard_normal((1, 96, 96, 3)).astype(np.float32)
    (got,) = run_code(code, program, [x])
    (ref,) = reference(program, [x])
    # softmax probabilities after 52 convolutions: float32 round-off of long dot products
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-7)


def _optimized_functions(program) -> dict[str, str]:
    llvm_module, _ = emit_llvm(lower_program(program).module)
    optimized = compile_llvm_ir(str(llvm_module), keep_optimized_ir=True).optimized_ir
    assert optimized is not None
    functions = {}
    for chunk in optimized.split("\ndefine ")[1:]:
        name = re.search(r'@"?([\w.]+)"?\(', chunk).group(1)
        functions[name] = chunk
    return functions


def test_innermost_loops_vectorize():
    """The loop nests are shaped for LLVM's vectorizer: contiguous innermost loops, GEP addressing,
    noalias parameters. Every kernel here must use packed float vectors."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 3, 1, 32)).astype(np.float32)
    pw = rng.standard_normal((1, 1, 32, 64)).astype(np.float32)
    m = rng.standard_normal((64, 48)).astype(np.float32)

    def body(gb, x):
        d = gb(g.Conv2DOp, x, gb.const(w, "dw"), strides=g.ints_attr((1, 1)), dilations=g.ints_attr((1, 1)),
               pads=g.ints_attr((1, 1, 1, 1)), groups=g.int_attr(32))  # fmt: skip
        p = gb(g.Conv2DOp, d, gb.const(pw, "pw"), strides=g.ints_attr((1, 1)), dilations=g.ints_attr((1, 1)),
               pads=g.ints_attr((0, 0, 0, 0)), groups=g.int_attr(1))  # fmt: skip
        a = gb(g.AddOp, p, gb(g.ReduceMaxOp, p, axes=g.ints_attr((3,)), keepdims=g.int_attr(1)))
        s = gb(g.ReduceSumOp, a, axes=g.ints_attr((1, 2)), keepdims=g.int_attr(0))
        return gb(g.MatMulOp, s, gb.const(m, "m"))

    functions = _optimized_functions(build([((1, 12, 12, 32), np.float32)], body))
    kernels = {n: f for n, f in functions.items() if n != "graphc_main"}
    assert len(kernels) == 6
    for name, text in kernels.items():
        assert re.search(r"<\d+ x float>", text), f"{name} did not vectorize"
