"""The `systolic` ISA dialect prints and parses as MLIR text, and its verifier rejects bad programs."""

import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerType, ModuleOp, TensorType
from xdsl.ir import Block, Region
from xdsl.utils.exceptions import VerifyException

from graphc.backends.systolic.machine import Machine
from graphc.backends.systolic.tiling import build_layer, tile_sizes
from graphc.context import parse_module
from graphc.dialects import systolic as s

I8, I32 = IntegerType(8), IntegerType(32)


def layer_module(dataflow="ws", m=20, n=12, k=30, conv=None, x_shape=None):
    machine = Machine(rows=8, cols=8, dataflow=dataflow)
    arg_types = [TensorType(I8, x_shape or [m, k]), TensorType(I8, [k, n]), TensorType(I32, [n])]
    block = Block(arg_types=arg_types)
    layer = build_layer("fusion_0", block.args, TensorType(I8, [m, n]), (m, n, k), conv, -3, 0,
                        [1 << 30] * n, [-7] * n, 5, (5, 127), machine)  # fmt: skip
    block.add_ops([layer, func.ReturnOp(layer.results[0])])
    main = func.FuncOp("main", (arg_types, [layer.results[0].type]), Region(block))
    return ModuleOp([main]), layer


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_round_trip(dataflow):
    module, layer = layer_module(dataflow)
    module.verify()
    text = str(module)
    assert "systolic.layer" in text and "systolic.matmul" in text and "systolic.sync" in text
    again = parse_module(text)
    again.verify()
    assert str(again) == text


def test_conv_layer_round_trip():
    conv = (6, 6, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)  # 6x6x2 input, 3x3 kernel, same padding → M = 36, K = 18
    module, _ = layer_module(m=36, n=4, k=18, conv=conv, x_shape=[1, 6, 6, 2])
    text = str(module)
    assert str(parse_module(text)) == text


def test_fold_tiles_respect_the_dataflow():
    for df in ("ws", "os", "is"):
        _, layer = layer_module(df)
        for inst in layer.instructions():
            if isinstance(inst, s.MatmulOp):
                f = inst.fields()
                pinned = {"ws": ("k", "n"), "os": ("m", "n"), "is": ("k", "m")}[df]
                assert f[pinned[0]] <= 8 and f[pinned[1]] <= 8


def test_verifier_rejects_tiles_bigger_than_the_array():
    module, layer = layer_module("ws")
    bad = s.make_instruction(s.MatmulOp, ub_addr=0, wb_addr=0, acc_addr=0, m=4, k=16, n=4)
    layer.body.block.insert_op_before(bad, layer.body.block.first_op)
    with pytest.raises(VerifyException, match="tile k = 16 exceeds the array"):
        layer.verify()


def test_verifier_rejects_out_of_bounds_reads():
    _, layer = layer_module("ws")
    bad = s.make_instruction(s.ReadHostMemoryOp, m_start=15, m_count=8, k_start=0, k_count=4, ub_addr=0)
    layer.body.block.insert_op_before(bad, layer.body.block.first_op)
    with pytest.raises(VerifyException, match="reads outside A"):
        layer.verify()


def test_verifier_rejects_non_instructions_and_missing_fields():
    _, layer = layer_module("os")
    layer.body.block.insert_op_before(s.ReadWeightsOp.create(attributes={}), layer.body.block.first_op)
    with pytest.raises(VerifyException, match="'k_start' is missing"):
        layer.verify()


def test_tiles_shrink_to_fit_small_srams():
    small = Machine(rows=8, cols=8, dataflow="ws", accumulator_bytes=8 * 8 * 4 * 2 * 3, weight_buffer_bytes=128)
    assert tile_sizes(1000, 12, 30, small) == (24, 8, 8)
