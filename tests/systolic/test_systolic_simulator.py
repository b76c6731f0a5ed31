"""The simulator: bit-exact against `quant_arith` (the contract's integer reference), and its per-layer
compute cycles for the tiled programs equal SCALE-Sim's recorded numbers."""

import json
import os

import numpy as np
import pytest
from xdsl.dialects.builtin import IntegerType, TensorType
from xdsl.ir import Block

from graphc.backends.systolic.machine import Machine
from graphc.backends.systolic.tiling import build_layer
from graphc.dialects import quant_arith as qa
from graphc.runtime.systolic.simulator import LayerProgram, Simulator

I8, I32 = IntegerType(8), IntegerType(32)
FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "systolic", "scalesim_cycles.json")
RUNS = json.load(open(FIXTURE))["runs"]


def simulate(machine, m, n, k, conv=None, x_shape=None, seed=0, per_channel=True, bias=True, zero_points=(-3, 0)):
    rng = np.random.default_rng(seed)
    x_shape = x_shape or (m, k)
    x = rng.integers(-128, 128, x_shape, dtype=np.int8)
    w = rng.integers(-127, 128, (k, n), dtype=np.int8)
    b = rng.integers(-3000, 3000, n, dtype=np.int32) if bias else None
    scales = rng.uniform(2e-4, 3e-3, n if per_channel else 1)
    mult, shift = qa.quantize_multipliers(scales)
    types = [TensorType(I8, list(x_shape)), TensorType(I8, [k, n])] + ([TensorType(I32, [n])] if bias else [])
    block = Block(arg_types=types)
    za, zb = zero_points
    op = build_layer("l", block.args, TensorType(I8, [m, n]), (m, n, k), conv, za, zb, mult, shift, 4, (-20, 120), machine)
    out, stats = Simulator(machine.to_dict()).run_layer(LayerProgram.from_op(op), x, w, b)
    axis = 1 if per_channel else None
    if conv is None:
        acc = qa.matmul(x, w, b, za, zb)
    else:
        h, wd, cin, kh, kw, sh, sw, dh, dw, *pads = conv
        acc = qa.conv2d(x, w.reshape(kh, kw, cin, n), b, za, (sh, sw), (dh, dw), tuple(pads), 1).reshape(m, n)
    want = qa.requantize(acc, mult, shift, 4, -20, 120, axis=axis)
    return out, want, stats


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("srams", ["roomy", "tight"])
def test_values_are_bit_exact(dataflow, srams):
    sizes = {} if srams == "roomy" else dict(unified_buffer_bytes=700, weight_buffer_bytes=160, accumulator_bytes=1200)
    machine = Machine(rows=8, cols=8, dataflow=dataflow, **sizes)
    for seed, (m, n, k, per_channel, bias, zps) in enumerate(
        [(37, 19, 45, True, True, (-3, 0)), (5, 3, 2, False, False, (127, 0)), (16, 8, 8, True, True, (-128, 7))]
    ):
        out, want, stats = simulate(machine, m, n, k, seed=seed, per_channel=per_channel, bias=bias, zero_points=zps)
        np.testing.assert_array_equal(out, want)
        assert stats.macs == m * n * k


def test_int32_accumulators_wrap_like_the_reference():
    # A bias at the int32 edge: accumulator + bias wraps (two's complement) exactly as quant_arith's does.
    machine = Machine(rows=4, cols=4)
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (6, 9), dtype=np.int8)
    w = rng.integers(-127, 128, (9, 5), dtype=np.int8)
    b = np.full(5, 2**31 - 10, np.int32)
    block = Block(arg_types=[TensorType(I8, [6, 9]), TensorType(I8, [9, 5]), TensorType(I32, [5])])
    mult, shift = qa.quantize_multipliers([1e-9])
    op = build_layer("l", block.args, TensorType(I8, [6, 5]), (6, 5, 9), None, 0, 0, mult, shift, 0, (-128, 127), machine)
    out, _ = Simulator(machine.to_dict()).run_layer(LayerProgram.from_op(op), x, w, b)
    np.testing.assert_array_equal(out, qa.requantize(qa.matmul(x, w, b, 0, 0), mult, shift, 0, -128, 127))


def test_conv_im2col_with_padding_stride_dilation():
    machine = Machine(rows=8, cols=8, dataflow="ws")
    conv = (7, 6, 3, 3, 2, 2, 1, 1, 2, 1, 2, 0, 1)  # h w cin kh kw sh sw dh dw pt pb pl pr
    oh = (7 + 1 + 2 - 2 - 1) // 2 + 1
    ow = (6 + 0 + 1 - 2 - 1) // 1 + 1
    out, want, _ = simulate(machine, 2 * oh * ow, 5, 3 * 2 * 3, conv=conv, x_shape=(2, 7, 6, 3))
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"{r['layer']}-{r['array'][0]}x{r['array'][1]}-{r['dataflow']}")
def test_simulated_layer_cycles_equal_scalesim(run):
    rows, cols = run["array"]
    machine = Machine(rows=rows, cols=cols, dataflow=run["dataflow"])
    conv, x_shape = None, None
    if run["kind"] == "conv":
        h, w, kh, kw, cin, filters, stride = run["params"]
        conv, x_shape = (h, w, cin, kh, kw, stride, stride, 1, 1, 0, 0, 0, 0), (1, h, w, cin)
    out, want, stats = simulate(machine, run["M"], run["N"], run["K"], conv=conv, x_shape=x_shape)
    assert stats.compute_cycles == run["total_cycles"]
    np.testing.assert_array_equal(out, want)
    assert stats.total_cycles >= stats.compute_cycles + 1
