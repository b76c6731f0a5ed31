"""TensorFlow ops on hand-built GraphDefs, checked against numpy formulations of TF's semantics.

These complement the TensorFlow-generated fixtures (test_tf_fixtures.py): they cover graph
structure (node order, control inputs, deep chains, function inlining, inputs/outputs) and the
front-end lowerings with many cases (StridedSlice masks, Einsum equations, transposed convolution).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from graphc.context import parse_module
from graphc.dialects.semantics import evaluate_program
from graphc.frontends.tensorflow import import_graphdef, inspect_graphdef

from graphdef_builder import DT, GraphBuilder

RNG = np.random.default_rng(1234)


def run(b: GraphBuilder, feeds: dict[str, np.ndarray], **kwargs) -> dict[str, np.ndarray]:
    shapes = {k: v.shape for k, v in feeds.items()}
    kwargs.setdefault("input_shapes", shapes)
    program = import_graphdef(b.serialize(), source="test.pb", **kwargs)
    program.module.verify()
    text = str(program.module)
    assert str(parse_module(text)) == text
    return evaluate_program(program, feeds, xp=np)


def run_one(b: GraphBuilder, feeds, **kwargs) -> np.ndarray:
    out = run(b, feeds, **kwargs)
    assert len(out) == 1, list(out)
    return next(iter(out.values()))


# ---------------------------------------------------------------------------------------------
# Graph structure
# ---------------------------------------------------------------------------------------------


def test_nodes_out_of_order_control_inputs_and_pass_throughs():
    b = GraphBuilder()
    b.node("Identity", ["mul", "^init"], name="Identity")
    b.node("Mul", ["snap", "c:0"], name="mul")
    b.node("Snapshot", ["stop"], name="snap")
    b.node("StopGradient", ["idn:1"], name="stop")
    b.node("IdentityN", ["x", "x"], name="idn")
    b.const(np.float32(3.0), name="c")
    b.node("NoOp", [], name="init")
    b.placeholder("x", [2, 3])
    x = RNG.normal(size=(2, 3)).astype(np.float32)
    program = import_graphdef(b.serialize(), source="t.pb")
    assert program.input_names == ["x"] and program.output_names == ["Identity"]
    assert [op.name for op in program.main.body.block.ops] == ["graph.constant", "graph.mul", "func.return"]
    np.testing.assert_allclose(evaluate_program(program, {"x": x})["Identity"], x * 3)


def test_deep_graph_is_not_recursive():
    b = GraphBuilder()
    prev = b.placeholder("x", [4])
    for i in range(6000):
        prev = b.node("Neg" if i % 2 else "Identity", [prev], name=f"n{i}")
    b.node("Identity", [prev], name="out")
    nodes = list(b.graph.node)
    b.graph.ClearField("node")
    b.graph.node.extend(reversed(nodes))
    x = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(run_one(b, {"x": x}), x)


def test_unused_placeholders_are_not_inputs():
    b = GraphBuilder()
    for i in range(12):
        b.placeholder(f"unused_control_flow_input_{i}", [-1])
    x = b.placeholder("x", [-1, 2])
    b.node("Relu", [x], name="Identity")
    program = import_graphdef(b.serialize(), source="t.pb", input_shapes={"x": (3, 2)})
    assert program.input_names == ["x"]


def test_sinks_are_outputs_in_natural_order_and_leftovers_are_not():
    b = GraphBuilder()
    x = b.placeholder("x", [2])
    for i in (10, 2, 0, 1):
        name = "Identity" if i == 0 else f"Identity_{i}"
        b.node("Identity", [b.node("Mul", [x, b.const(np.float32(i))])], name=name)
    b.node("Identity", [b.const(np.float32(1.0))], name="const_leftover")
    b.node("NoOp", [], name="noop")
    b.node("Assert", [b.const(True), x], name="assert")
    program = import_graphdef(b.serialize(), source="t.pb")
    assert program.output_names == ["Identity", "Identity_1", "Identity_2", "Identity_10"]


def test_multi_output_sink_and_explicit_outputs():
    b = GraphBuilder()
    x = b.placeholder("x", [2, 5])
    b.node("TopKV2", [x, b.const(np.int32(2))], name="topk")
    x_val = RNG.normal(size=(2, 5)).astype(np.float32)
    out = run(b, {"x": x_val})
    assert list(out) == ["topk", "topk:1"]
    np.testing.assert_array_equal(out["topk:1"], np.argsort(-x_val, axis=-1)[:, :2])
    out = run(b, {"x": x_val}, outputs=["topk:1"])
    assert list(out) == ["topk:1"]


def test_explicit_inputs_cut_the_graph():
    b = GraphBuilder()
    x = b.placeholder("x", [2, 3])
    r = b.node("Relu", [x], name="relu", T=("type", DT.DT_FLOAT))
    b.node("Neg", [r], name="Identity")
    program = import_graphdef(b.serialize(), source="t.pb", inputs=["relu"], input_shapes={"relu": (2, 3)})
    assert program.input_names == ["relu"]
    v = RNG.normal(size=(2, 3)).astype(np.float32)
    np.testing.assert_array_equal(evaluate_program(program, {"relu": v})["Identity"], -v)


def test_placeholder_with_default_is_a_pass_through():
    b = GraphBuilder()
    x = b.placeholder("x", [2])
    phase = b.node("PlaceholderWithDefault", [b.const(False)], name="keras_learning_phase",
                   dtype=("type", DT.DT_BOOL), shape=("shape", []))
    b.node("Select", [phase, b.node("Neg", [x]), x], name="Identity")
    x_val = np.array([1.0, -2.0], np.float32)
    np.testing.assert_array_equal(run_one(b, {"x": x_val}), x_val)


def _grouped_conv_function(b: GraphBuilder, name: str, groups_filter: np.ndarray) -> None:
    """A Keras-3-style function: y = Conv2D(x, w) with w's input channels = C / groups."""
    f = b.graph.library.function.add()
    f.signature.name = name
    for arg_name in ("x", "w"):
        arg = f.signature.input_arg.add()
        arg.name, arg.type = arg_name, DT.DT_FLOAT
    out = f.signature.output_arg.add()
    out.name, out.type = "identity", DT.DT_FLOAT
    conv = f.node_def.add()
    conv.name, conv.op = "conv2d/Conv2D", "Conv2D"
    conv.input.extend(["x", "w"])
    conv.attr["strides"].list.i.extend([1, 1, 1, 1])
    conv.attr["padding"].s = b"SAME"
    conv.attr["T"].placeholder = "T"
    ident = f.node_def.add()
    ident.name, ident.op = "Identity", "Identity"
    ident.input.extend(["conv2d/Conv2D:output:0", "^conv2d/Conv2D"])
    f.ret["identity"] = "Identity:output:0"


def test_partitioned_call_grouped_conv_is_inlined():
    b = GraphBuilder()
    w_val = RNG.normal(size=(3, 3, 2, 6)).astype(np.float32)  # 4 input channels, 2 groups
    _grouped_conv_function(b, "__inference_grouped_conv_123", w_val)
    x = b.placeholder("x", [1, 5, 5, 4])
    w = b.const(w_val, name="w")
    call = b.node("StatefulPartitionedCall", [x, w], name="model/conv/StatefulPartitionedCall",
                  f=("func", "__inference_grouped_conv_123"), T=("type", DT.DT_FLOAT))
    b.node("Identity", [call], name="Identity")
    x_val = RNG.normal(size=(1, 5, 5, 4)).astype(np.float32)
    got = run_one(b, {"x": x_val})
    xp = np.pad(x_val, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ref = np.zeros((1, 5, 5, 6), np.float64)
    for g in range(2):
        for i, j in itertools.product(range(3), range(3)):
            patch = xp[:, i : i + 5, j : j + 5, 2 * g : 2 * g + 2]
            ref[..., 3 * g : 3 * g + 3] += np.einsum("nhwc,co->nhwo", patch, w_val[i, j, :, 3 * g : 3 * g + 3])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    info = inspect_graphdef(b.serialize(), source="t.pb")
    assert info["op_histogram"]["Conv2D"] == 1 and info["parameters"] == w_val.size


# ---------------------------------------------------------------------------------------------
# Slicing
# ---------------------------------------------------------------------------------------------


def _random_strided_slice_case(rng, rank: int):
    n = int(rng.integers(1, rank + 2))
    begin, end, strides = [], [], []
    masks = dict(begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0)
    index = []
    ellipsis_at = int(rng.integers(0, n)) if rng.random() < 0.4 else -1
    real = 0
    for i in range(n):
        bit = 1 << i
        if i == ellipsis_at:
            masks["ellipsis_mask"] |= bit
            begin.append(0), end.append(0), strides.append(1)
            index.append(Ellipsis)
            continue
        kind = rng.random()
        if kind < 0.15:
            masks["new_axis_mask"] |= bit
            begin.append(0), end.append(0), strides.append(1)
            index.append(np.newaxis)
            continue
        if real >= rank:
            begin.append(0), end.append(0), strides.append(1)
            masks["new_axis_mask"] |= bit
            index.append(np.newaxis)
            continue
        real += 1
        if kind < 0.3:
            b_ = int(rng.integers(-3, 3))
            masks["shrink_axis_mask"] |= bit
            begin.append(b_), end.append(b_ + 1), strides.append(1)
            index.append(b_)
            continue
        b_, e_ = int(rng.integers(-5, 6)), int(rng.integers(-5, 6))
        s_ = int(rng.choice([-3, -2, -1, 1, 2, 3]))
        bm, em = rng.random() < 0.3, rng.random() < 0.3
        masks["begin_mask"] |= bit * bm
        masks["end_mask"] |= bit * em
        begin.append(b_), end.append(e_), strides.append(s_)
        index.append(slice(None if bm else b_, None if em else e_, s_))
    if ellipsis_at >= 0 and real > rank:
        return None
    return begin, end, strides, masks, tuple(index)


def test_strided_slice_matches_numpy_indexing():
    rng = np.random.default_rng(7)
    x_val = rng.normal(size=(3, 4, 5)).astype(np.float32)
    cases = 0
    while cases < 60:
        case = _random_strided_slice_case(rng, 3)
        if case is None:
            continue
        begin, end, strides, masks, index = case
        try:
            ref = x_val[index]
        except IndexError:
            continue
        if ref.size == 0:
            continue
        b = GraphBuilder()
        x = b.placeholder("x", [3, 4, 5])
        consts = [b.const(np.array(v, np.int32)) for v in (begin, end, strides)]
        b.node("StridedSlice", [x, *consts], name="Identity", **masks)
        got = run_one(b, {"x": x_val})
        np.testing.assert_array_equal(got, ref, err_msg=f"{begin} {end} {strides} {masks} {index}")
        cases += 1


def test_slice_and_split_family():
    b = GraphBuilder()
    x = b.placeholder("x", [4, 6])
    b.node("Slice", [x, b.const(np.int32([1, 2])), b.const(np.int32([-1, 3]))], name="slice")
    b.node("Split", [b.const(np.int32(-1)), x], name="split", num_split=3)
    b.node("SplitV", [x, b.const(np.int64([1, -1, 2])), b.const(np.int32(0))], name="splitv", num_split=3)
    b.node("Unpack", [x], name="unpack", num=6, axis=1)
    b.node("Pack", [x, x, x], name="pack", axis=-1, N=3)
    b.node("ConcatV2", [x, x, b.const(np.int32(-1))], name="concat", N=2)
    x_val = RNG.normal(size=(4, 6)).astype(np.float32)
    out = run(b, {"x": x_val})
    np.testing.assert_array_equal(out["slice"], x_val[1:, 2:5])
    for i, part in enumerate(np.split(x_val, 3, axis=-1)):
        np.testing.assert_array_equal(out[f"split:{i}" if i else "split"], part)
    for i, part in enumerate(np.split(x_val, [1, 2], axis=0)):
        np.testing.assert_array_equal(out[f"splitv:{i}" if i else "splitv"], part)
    for i in range(6):
        np.testing.assert_array_equal(out[f"unpack:{i}" if i else "unpack"], x_val[:, i])
    np.testing.assert_array_equal(out["pack"], np.stack([x_val] * 3, axis=-1))
    np.testing.assert_array_equal(out["concat"], np.concatenate([x_val, x_val], axis=-1))


# ---------------------------------------------------------------------------------------------
# Einsum
# ---------------------------------------------------------------------------------------------

EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bqhd,bkhd->bhqk", [(2, 5, 2, 4), (2, 6, 2, 4)]),
    ("bhqk,bkhd->bqhd", [(2, 2, 5, 6), (2, 6, 2, 4)]),
    ("abc,cde->abde", [(2, 3, 4), (4, 2, 3)]),
    ("abcd,cde->abe", [(2, 5, 2, 4), (2, 4, 7)]),
    ("bij->bji", [(2, 3, 4)]),
    ("bij->b", [(2, 3, 4)]),
    ("ij->", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("ij,ij->", [(3, 4), (3, 4)]),
    ("ij,kj", [(3, 4), (5, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("abc,bd->ad", [(2, 3, 4), (3, 5)]),
    ("bi,bi->b", [(3, 4), (3, 4)]),
]


@pytest.mark.parametrize("equation,shapes", EINSUM_CASES)
def test_einsum_matches_numpy(equation, shapes):
    b = GraphBuilder()
    names = [b.placeholder(f"x{i}", list(s)) for i, s in enumerate(shapes)]
    b.node("Einsum", names, name="Identity", equation=equation, N=len(names))
    feeds = {f"x{i}": RNG.normal(size=s).astype(np.float32) for i, s in enumerate(shapes)}
    got = run_one(b, feeds)
    ref = np.einsum(equation, *feeds.values())
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Convolutions
# ---------------------------------------------------------------------------------------------


def _conv_transpose_ref(dy, w, out_hw, strides, pads, dilation=1):
    """dx[n, y, x, i] = sum dy[n, oy, ox, o] * w[ky, kx, i, o] where y = oy*s + ky*d - pad_top."""
    n, oh, ow, co = dy.shape
    kh, kw, ci, _ = w.shape
    dx = np.zeros((n, *out_hw, ci), np.float64)
    for oy, ox, ky, kx in itertools.product(range(oh), range(ow), range(kh), range(kw)):
        y = oy * strides[0] + ky * dilation - pads[0]
        x = ox * strides[1] + kx * dilation - pads[1]
        if 0 <= y < out_hw[0] and 0 <= x < out_hw[1]:
            dx[:, y, x, :] += dy[:, oy, ox, :] @ w[ky, kx].T
    return dx


@pytest.mark.parametrize(
    "in_hw,k,s,padding,dil",
    [((8, 8), (3, 3), (2, 2), "SAME", 1), ((9, 9), (3, 3), (2, 2), "VALID", 1), ((8, 8), (2, 2), (2, 2), "SAME", 1),
     ((7, 6), (3, 2), (2, 3), "SAME", 1), ((5, 5), (3, 3), (1, 1), "SAME", 1), ((10, 9), (4, 3), (3, 2), "VALID", 1),
     ((9, 8), (3, 3), (1, 1), "SAME", 2), ((11, 10), (3, 2), (1, 1), "VALID", 2)],
)  # fmt: skip
def test_conv2d_backprop_input(in_hw, k, s, padding, dil):
    from graphc.frontends.tf_ops_nn import same_padding

    ci, co = 3, 4
    eff = tuple((kk - 1) * dil + 1 for kk in k)
    if padding == "SAME":
        out_hw = tuple(-(-d // st) for d, st in zip(in_hw, s))
        pads = tuple(same_padding(d, kk, st, dil)[0] for d, kk, st in zip(in_hw, k, s))
    else:
        out_hw = tuple((d - kk) // st + 1 for d, kk, st in zip(in_hw, eff, s))
        pads = (0, 0)
    w_val = RNG.normal(size=(*k, ci, co)).astype(np.float32)
    dy_val = RNG.normal(size=(2, *out_hw, co)).astype(np.float32)
    b = GraphBuilder()
    dy = b.placeholder("dy", [-1, *out_hw, co])
    b.node("Conv2DBackpropInput", [b.const(np.int32([2, *in_hw, ci])), b.const(w_val), dy], name="Identity",
           strides=[1, *s, 1], padding=padding, dilations=[1, dil, dil, 1])  # fmt: skip
    got = run_one(b, {"dy": dy_val})
    ref = _conv_transpose_ref(dy_val, w_val, in_hw, s, pads, dil)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_depthwise_conv_and_nchw_conv():
    x_val = RNG.normal(size=(1, 6, 7, 3)).astype(np.float32)
    w_val = RNG.normal(size=(3, 3, 3, 2)).astype(np.float32)
    b = GraphBuilder()
    x = b.placeholder("x", [1, 6, 7, 3])
    b.node("DepthwiseConv2dNative", [x, b.const(w_val)], name="dw", strides=[1, 2, 2, 1], padding="SAME")
    xc = b.node("Transpose", [x, b.const(np.int32([0, 3, 1, 2]))])
    b.node("Conv2D", [xc, b.const(w_val[:, :, :, :1].repeat(4, axis=3))], name="nchw",
           strides=[1, 1, 1, 1], padding="EXPLICIT", explicit_paddings=[0, 0, 0, 0, 1, 0, 2, 1], data_format="NCHW")
    out = run(b, {"x": x_val})
    # depthwise: SAME with stride 2 on 6x7 -> out 3x4; pad_total h = max(2*2+3-6, 0) = 1, w = 2.
    xp = np.pad(x_val, ((0, 0), (0, 1), (1, 1), (0, 0)))
    ref = np.zeros((1, 3, 4, 3, 2))
    for i, j in itertools.product(range(3), range(3)):
        ref += xp[:, i : i + 5 : 2, j : j + 7 : 2, :, None] * w_val[i, j]
    np.testing.assert_allclose(out["dw"], ref.reshape(1, 3, 4, 6), rtol=1e-5, atol=1e-5)
    xp = np.pad(x_val, ((0, 0), (1, 0), (2, 1), (0, 0)))
    w1 = w_val[:, :, :, 0]
    ref = np.zeros((1, 5, 8))
    for i, j in itertools.product(range(3), range(3)):
        ref += np.einsum("nhwc,c->nhw", xp[:, i : i + 5, j : j + 8, :], w1[i, j])
    np.testing.assert_allclose(out["nchw"], np.repeat(ref[:, None], 4, axis=1), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Data movement
# ---------------------------------------------------------------------------------------------


def test_space_depth_batch_round_trips_and_docs_examples():
    b = GraphBuilder()
    x = b.placeholder("x", [1, 2, 2, 1])
    b.node("SpaceToDepth", [x], name="s2d", block_size=2)
    y = b.placeholder("y", [1, 1, 1, 4])
    b.node("DepthToSpace", [y], name="d2s", block_size=2)
    z = b.placeholder("z", [2, 4, 6, 3])
    bs = b.const(np.int32([2, 3]))
    pads = b.const(np.int32([[1, 1], [0, 3]]))
    s2b = b.node("SpaceToBatchND", [z, bs, pads], name="s2b")
    b.node("BatchToSpaceND", [s2b, bs, pads], name="b2s")
    feeds = {
        "x": np.arange(1, 5, dtype=np.float32).reshape(1, 2, 2, 1),
        "y": np.arange(1, 5, dtype=np.float32).reshape(1, 1, 1, 4),
        "z": RNG.normal(size=(2, 4, 6, 3)).astype(np.float32),
    }
    out = run(b, feeds, outputs=["s2d", "d2s", "s2b", "b2s"])
    np.testing.assert_array_equal(out["s2d"], np.arange(1, 5, dtype=np.float32).reshape(1, 1, 1, 4))
    np.testing.assert_array_equal(out["d2s"], np.arange(1, 5, dtype=np.float32).reshape(1, 2, 2, 1))
    np.testing.assert_array_equal(out["b2s"], feeds["z"])
    # TF docs: SpaceToBatchND of [1, 4, 4, 1] with block [2, 2] -> [4, 2, 2, 1], batch = block offset.
    padded = np.pad(feeds["z"], ((0, 0), (1, 1), (0, 3), (0, 0)))
    ref = padded.reshape(2, 3, 2, 3, 3, 3).transpose(2, 4, 0, 1, 3, 5).reshape(12, 3, 3, 3)
    np.testing.assert_array_equal(out["s2b"], ref)


def test_tile_onehot_range_fill_reverse_gather():
    b = GraphBuilder()
    x = b.placeholder("x", [2, 3])
    idx = b.placeholder("idx", [4], dtype=np.int32)
    b.node("Tile", [x, b.const(np.int32([2, 3]))], name="tile")
    b.node("OneHot", [idx, b.const(np.int32(5)), b.const(np.float32(2.0)), b.const(np.float32(-1.0))],
           name="onehot", axis=0)  # fmt: skip
    b.node("Range", [b.const(np.float32(1.0)), b.const(np.float32(2.0)), b.const(np.float32(0.1))],
           name="range", Tidx=("type", DT.DT_FLOAT))  # fmt: skip
    b.node("Fill", [b.node("Shape", [x]), b.const(np.float32(4.5))], name="fill")
    b.node("ReverseV2", [x, b.const(np.int32([-1, 0]))], name="reverse")
    b.node("GatherV2", [x, idx, b.const(np.int32(-1))], name="gather", batch_dims=0)
    x_val = RNG.normal(size=(2, 3)).astype(np.float32)
    idx_val = np.array([0, 2, -1, 7], np.int32)
    out = run(b, {"x": x_val, "idx": idx_val})
    np.testing.assert_array_equal(out["tile"], np.tile(x_val, (2, 3)))
    ref = np.where(np.arange(5)[:, None] == idx_val[None, :], 2.0, -1.0)
    np.testing.assert_array_equal(out["onehot"], ref)
    acc, values = np.float32(1.0), []
    while len(values) < 10:  # TF accumulates in float32: 1.0, 1.1, ..., 1.9 (10 values)
        values.append(acc)
        acc = np.float32(acc + np.float32(0.1))
    np.testing.assert_array_equal(out["range"], np.array(values, np.float32))
    np.testing.assert_array_equal(out["fill"], np.full((2, 3), 4.5, np.float32))
    np.testing.assert_array_equal(out["reverse"], x_val[::-1, ::-1])
    np.testing.assert_array_equal(out["gather"], x_val[:, np.clip(np.where(idx_val < 0, idx_val + 3, idx_val), 0, 2)])


def test_select_v1_rows_and_integer_division():
    b = GraphBuilder()
    c = b.placeholder("c", [3], dtype=np.bool_)
    x = b.placeholder("x", [3, 2])
    b.node("Select", [c, x, b.node("Neg", [x])], name="select")
    i = b.placeholder("i", [6], dtype=np.int32)
    j = b.placeholder("j", [6], dtype=np.int32)
    b.node("Div", [i, j], name="div")
    b.node("TruncateDiv", [i, j], name="truncdiv")
    b.node("FloorDiv", [i, j], name="floordiv")
    b.node("FloorMod", [i, j], name="floormod")
    b.node("TruncateMod", [i, j], name="truncmod")
    feeds = {
        "c": np.array([True, False, True]),
        "x": RNG.normal(size=(3, 2)).astype(np.float32),
        "i": np.array([7, -7, 7, -7, 0, 5], np.int32),
        "j": np.array([2, 2, -2, -2, 3, 5], np.int32),
    }
    out = run(b, feeds)
    np.testing.assert_array_equal(out["select"], np.where(feeds["c"][:, None], feeds["x"], -feeds["x"]))
    trunc = np.trunc(feeds["i"] / feeds["j"]).astype(np.int32)
    np.testing.assert_array_equal(out["div"], trunc)
    np.testing.assert_array_equal(out["truncdiv"], trunc)
    np.testing.assert_array_equal(out["floordiv"], feeds["i"] // feeds["j"])
    np.testing.assert_array_equal(out["floormod"], feeds["i"] % feeds["j"])
    np.testing.assert_array_equal(out["truncmod"], np.fmod(feeds["i"], feeds["j"]))


def test_shape_arithmetic_folds_keras_style_reshape():
    b = GraphBuilder()
    x = b.placeholder("x", [-1, 3, 4])
    shape = b.node("Shape", [x], out_type=("type", DT.DT_INT32))
    batch = b.node("StridedSlice", [shape, b.const(np.int32([0])), b.const(np.int32([1])), b.const(np.int32([1]))],
                   shrink_axis_mask=1)  # fmt: skip
    prod = b.node("Prod", [b.node("StridedSlice", [shape, b.const(np.int32([1])), b.const(np.int32([0])),
                                                   b.const(np.int32([1]))], end_mask=1), b.const(np.int32([0]))])  # fmt: skip
    target = b.node("Pack", [batch, prod], N=2, axis=0)
    b.node("Reshape", [x, target], name="Identity")
    x_val = RNG.normal(size=(5, 3, 4)).astype(np.float32)
    program = import_graphdef(b.serialize(), source="t.pb", input_shapes={"x": (5, 3, 4)})
    assert [op.name for op in program.main.body.block.ops] == ["graph.reshape", "func.return"]
    np.testing.assert_array_equal(evaluate_program(program, {"x": x_val})["Identity"], x_val.reshape(5, 12))


def test_activations():
    b = GraphBuilder()
    x = b.placeholder("x", [64])
    for op in ("Softplus", "Softsign", "Elu", "Selu", "Relu6", "Erfc", "Square", "Reciprocal", "IsFinite"):
        b.node(op, [x], name=op)
    b.node("LeakyRelu", [x], name="LeakyRelu", alpha=0.3)
    x_val = np.concatenate([np.linspace(-100, 100, 60), [0.0, np.inf, -np.inf, np.nan]]).astype(np.float32)
    out = run(b, {"x": x_val})
    f = x_val[:60].astype(np.float64)
    np.testing.assert_allclose(out["Softplus"][:60], np.logaddexp(0, f), rtol=1e-6, atol=1e-37)
    np.testing.assert_allclose(out["Softsign"][:60], f / (1 + np.abs(f)), rtol=1e-6)
    np.testing.assert_allclose(out["Elu"][:60], np.where(f < 0, np.expm1(f), f), rtol=1e-6)
    scale, alpha = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
    np.testing.assert_allclose(out["Selu"][:60], np.where(f < 0, scale * alpha * np.expm1(f), scale * f), rtol=1e-6)
    np.testing.assert_allclose(out["Relu6"][:60], np.clip(f, 0, 6))
    np.testing.assert_allclose(out["LeakyRelu"][:60], np.where(f > 0, f, 0.3 * f), rtol=1e-6)
    np.testing.assert_array_equal(out["IsFinite"], np.isfinite(x_val))


# ---------------------------------------------------------------------------------------------
# Grappler fused ops, band masks, inspect
# ---------------------------------------------------------------------------------------------


def test_fused_conv_and_matmul():
    from math import erf

    x_val = RNG.normal(size=(1, 4, 4, 2)).astype(np.float32)
    w_val = RNG.normal(size=(1, 1, 2, 3)).astype(np.float32)
    bias = RNG.normal(size=3).astype(np.float32)
    m_val = RNG.normal(size=(3, 4)).astype(np.float32)
    mw = RNG.normal(size=(5, 4)).astype(np.float32)
    b = GraphBuilder()
    x = b.placeholder("x", [1, 4, 4, 2])
    node = b.node("_FusedConv2D", [x, b.const(w_val), b.const(bias)], name="conv", strides=[1, 1, 1, 1],
                  padding="VALID", num_args=1)  # fmt: skip
    b.graph.node[-1].attr["fused_ops"].list.s.extend([b"BiasAdd", b"Relu"])
    m = b.placeholder("m", [3, 4])
    b.node("_FusedMatMul", [m, b.const(mw), b.const(bias[:2].repeat(3)[:5])], name="mm", transpose_b=True, num_args=1)
    b.graph.node[-1].attr["fused_ops"].list.s.extend([b"BiasAdd", b"GeluExact"])
    out = run(b, {"x": x_val, "m": m_val})
    assert node == "conv"
    np.testing.assert_allclose(out["conv"], np.maximum(np.einsum("nhwc,co->nhwo", x_val, w_val[0, 0]) + bias, 0), rtol=1e-5, atol=1e-6)
    pre = m_val @ mw.T + bias[:2].repeat(3)[:5]
    gelu = pre * 0.5 * (1 + np.vectorize(erf)(pre / np.sqrt(2)))
    np.testing.assert_allclose(out["mm"], gelu, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lower,upper", [(-1, 0), (0, -1), (1, 2), (0, 0), (-1, -1)])
def test_matrix_band_part(lower, upper):
    b = GraphBuilder()
    x = b.placeholder("x", [2, 4, 5])
    b.node("MatrixBandPart", [x, b.const(np.int64(lower)), b.const(np.int64(upper))], name="Identity")
    x_val = RNG.normal(size=(2, 4, 5)).astype(np.float32)
    i, j = np.arange(4)[:, None], np.arange(5)[None, :]
    keep = ((lower < 0) | (i - j <= lower)) & ((upper < 0) | (j - i <= upper))
    np.testing.assert_array_equal(run_one(b, {"x": x_val}), np.where(keep, x_val, 0))


def test_inspect_counts_parameters_not_shapes():
    b = GraphBuilder()
    x = b.placeholder("x", [-1, 4])
    b.placeholder("unused", [3])
    w = b.const(np.ones((4, 8), np.float32))
    y = b.node("MatMul", [x, w])
    y = b.node("Reshape", [y, b.const(np.int32([-1, 2, 4]))])
    y = b.node("Lgamma", [y], name="lg")
    b.node("Identity", [y], name="Identity")
    info = inspect_graphdef(b.serialize(), source="t.pb")
    assert info["inputs"] == [{"name": "x", "shape": [-1, 4], "dtype": "float32"}]
    assert info["outputs"] == ["Identity"]
    assert info["parameters"] == 32
    assert info["unsupported"] == {"Lgamma": ["lg"]}
    assert info["op_histogram"]["MatMul"] == 1


def test_mutated_files_fail_cleanly():
    """Random byte flips in real fixtures: the import succeeds or raises one FrontendError."""
    from pathlib import Path

    from graphc.frontends.errors import FrontendError

    folder = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
    files = sorted(folder.glob("op_*.pb"))[:12]
    if not files:
        pytest.skip("no fixtures")
    rng = np.random.default_rng(99)
    for trial in range(150):
        path = files[trial % len(files)]
        data = bytearray(path.read_bytes())
        for _ in range(int(rng.integers(1, 4))):
            data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
        import json

        shapes = json.loads(path.with_suffix(".json").read_text())["input_shapes"]
        try:
            import_graphdef(bytes(data), source="m.pb", input_shapes=shapes)
        except FrontendError as err:
            assert "\n" not in str(err) and str(err).startswith("m.pb")
