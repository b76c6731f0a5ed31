"""The kernels compile for a real GPU: Triton's CUDA pipeline (TTIR → TTGIR → LLVM → PTX → cubin
for sm_80, ahead of time; no GPU needed) on every template, at the GPU block-size heuristic.

The interpreter accepts Python that the compiler rejects (scalar/block mixes, dtypes `tl.dot` does
not take, dynamic shapes), so this is what says the CPU-tested source will run on a GPU. The
compile runs in one subprocess without TRITON_INTERPRET (`gpu_compile_check.py`).
"""

import os
import subprocess
import sys

import ml_dtypes
import numpy as np
from triton_testing import floats, ints, one, program

import graphc
from graphc.backends.registry import get_backend
from graphc.dialects import graph as g
from graphc.driver import compile_program
from graphc.testing import load_fixture

HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, "..", "fixtures", "tf")
# together: pointwise (views, pads, concats, pools), row and other-axis reductions, matmul,
# conv (implicit GEMM and depthwise), arg-reductions, scans, top_k, gathers, resize
NAMES = ["digits_cnn", "op_depthwise", "op_argminmax", "op_cumsum", "op_topk", "op_gather", "op_resize", "op_reduce",
         "op_pad", "op_concat_pack", "transformer_block"]  # fmt: skip
DTYPES = [np.float16, ml_dtypes.bfloat16, np.float64, np.int32, np.uint8]


def dtype_program(dtype):
    """matmul (tl.dot or multiply-sum), conv, a reduction and a scatter in `dtype`."""
    rng = np.random.default_rng(0)
    w, f = floats(rng, (21, 17)).astype(dtype), floats(rng, (3, 3, 21, 4)).astype(dtype)

    def body(b, a, u):
        mm = b.op(g.MatMulOp, a, b.const(w))
        conv = b.op(g.Conv2DOp, b.op(g.ReshapeOp, a, shape=ints((1, 3, 19, 21))), b.const(f), strides=ints((1, 1)),
                    dilations=ints((1, 1)), pads=ints((1, 1, 1, 1)), groups=one(1))  # fmt: skip
        scatter = b.op(g.ScatterElementsOp, u, b.const(np.array([[0, 2], [1, 0]], np.int64)), u, axis=one(0),
                       reduction=g.str_attr("add"))  # fmt: skip
        return {"mm": b.op(g.ReduceMaxOp, mm, axes=ints((0,)), keepdims=one(0)), "conv": conv, "s": scatter}

    return program({"x": ((3, 19, 21), dtype), "u": ((2, 2), dtype)}, body)


def test_every_template_compiles_for_a_gpu(tmp_path):
    paths = []
    for name in NAMES:
        fx = load_fixture(os.path.join(FIXTURES, name))
        paths.append(str(tmp_path / f"{name}.gcx"))
        graphc.compile(fx.model_path, target="triton", input_shapes=fx.input_shapes).save(paths[-1])
    for dtype in DTYPES:
        paths.append(str(tmp_path / f"{np.dtype(dtype).name}.gcx"))
        compile_program(dtype_program(dtype), get_backend("triton")).save(paths[-1])
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    r = subprocess.run([sys.executable, os.path.join(HERE, "gpu_compile_check.py"), *paths], capture_output=True,
                       text=True, env=env)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    assert r.stdout.strip() == "all kernels compiled"
