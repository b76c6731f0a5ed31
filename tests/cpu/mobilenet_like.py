"""A synthetic MobileNetV2 (alpha 0.35, 96x96) in the graph dialect, as it looks after folding.

Batch norms are folded into the convolutions (conv + bias add), relu6 is max/min with scalar
constants, softmax is decomposed. About 150 ops, random weights. Used by the compile-time test;
`python tests/cpu/mobilenet_like.py` prints the backend's stage times.
"""

from __future__ import annotations

import numpy as np
from cpu_testing import build

from graphc.dialects import graph as g

# (expansion t, output channels, repeats n, first stride s), channels already scaled by 0.35
BLOCKS = [(1, 8, 1, 1), (6, 8, 2, 2), (6, 16, 3, 2), (6, 24, 4, 2), (6, 32, 3, 1), (6, 56, 3, 2), (6, 112, 1, 1)]


def mobilenet_v2_like(resolution: int = 96, classes: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)

    def weight(*shape):
        fan_in = int(np.prod(shape[:-1]))
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    def body(gb, x):
        zero = gb.const(np.float32(0).reshape(()))
        six = gb.const(np.float32(6).reshape(()))

        def conv(v, kernel, cin, cout, stride, groups=1, relu6=True):
            w = weight(kernel, kernel, cin // groups, cout)
            pad = kernel // 2
            if stride == 2:  # TF "SAME" with stride 2 on even sizes pads (0, 1)
                pads = (pad - 1, pad, pad - 1, pad) if pad else (0, 0, 0, 0)
            else:
                pads = (pad, pad, pad, pad)
            v = gb(g.Conv2DOp, v, gb.const(w, "conv"), strides=g.ints_attr((stride, stride)),
                   dilations=g.ints_attr((1, 1)), pads=g.ints_attr(pads), groups=g.int_attr(groups))  # fmt: skip
            v = gb(g.AddOp, v, gb.const(weight(1, cout)[0] * 0.1, "bias"))
            if relu6:
                v = gb(g.MinOp, gb(g.MaxOp, v, zero), six)
            return v

        v = conv(x, 3, 3, 16, 2)
        cin = 16
        for t, c, n, s in BLOCKS:
            for i in range(n):
                stride = s if i == 0 else 1
                h = conv(v, 1, cin, cin * t, 1) if t != 1 else v
                h = conv(h, 3, cin * t, cin * t, stride, groups=cin * t)
                h = conv(h, 1, cin * t, c, 1, relu6=False)
                v = gb(g.AddOp, v, h) if stride == 1 and cin == c else h
                cin = c
        v = conv(v, 1, cin, 1280, 1)
        v = gb(g.ReduceMeanOp, v, axes=g.ints_attr((1, 2)), keepdims=g.int_attr(0))
        logits = gb(g.AddOp, gb(g.MatMulOp, v, gb.const(weight(1280, classes), "fc")), gb.const(weight(1, classes)[0]))
        shifted = gb(g.SubOp, logits, gb(g.ReduceMaxOp, logits, axes=g.ints_attr((1,)), keepdims=g.int_attr(1)))
        e = gb(g.ExpOp, shifted)
        return gb(g.DivOp, e, gb(g.ReduceSumOp, e, axes=g.ints_attr((1,)), keepdims=g.int_attr(1)))

    return build([((1, resolution, resolution, 3), np.float32)], body)


def graph_op_count(program) -> int:
    return sum(1 for op in program.main.body.block.ops if op.name.startswith("graph.") and op.name != "graph.constant")


if __name__ == "__main__":
    import time

    from graphc.backends.cpu import compile_program

    program = mobilenet_v2_like()
    start = time.perf_counter()
    code = compile_program(program)
    total = time.perf_counter() - start
    print(f"graph ops (without constants): {graph_op_count(program)}; kernels: {len(set(code.kernels))} distinct "
          f"of {len(code.kernels)} calls; arena {code.arena_bytes} B of {code.intermediate_bytes_total} B")  # fmt: skip
    for stage, seconds in code.stage_seconds.items():
        print(f"  {stage:20s} {seconds * 1000:8.1f} ms")
    print(f"  {'total':20s} {total * 1000:8.1f} ms")
