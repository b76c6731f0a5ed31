"""ONNX RNN, GRU and LSTM, unrolled over the (static) sequence length.

The input projection of every time step is one matmul up front ([seq * batch, input] x W^T); each
step then adds the recurrent matmul (and LSTM peepholes), clips the gate inputs to [-clip, clip]
(as onnxruntime does; the ONNX reference ignores `clip`), applies the gate activations (ONNX's
`activations` with `activation_alpha`/`activation_beta`) and updates the state. `sequence_lens` (known at
compile time) freezes a batch entry's state past its length and zeroes its outputs there, as ONNX
specifies; reversed directions with sequences shorter than the input are not supported.
Outputs: Y [seq, directions, batch, hidden] (batch first with layout=1), Y_h and (LSTM) Y_c.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from xdsl.ir import SSAValue

from graphc.dialects import graph as g
from graphc.frontends.onnx_context import NodeError, OnnxConverter, OnnxNode, Unsupported, converts, need
from graphc.frontends.onnx_ops_elementwise import softplus
from graphc.frontends.onnx_ops_shape import slice_axis

Activation = Callable[[SSAValue], SSAValue]

_DEFAULTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_TAKES = {"Affine": 2, "LeakyRelu": 1, "ThresholdedRelu": 1, "ScaledTanh": 2, "HardSigmoid": 2, "Elu": 1}
_DEFAULT_PARAMS = {"LeakyRelu": [0.01], "ThresholdedRelu": [1.0], "HardSigmoid": [0.2, 0.5], "Elu": [1.0],
                   "Affine": [1.0, 0.0], "ScaledTanh": [1.0, 1.0]}  # fmt: skip


def _activation(ctx: OnnxConverter, name: str, params: list[float]) -> Activation:
    def c(v: float, like: SSAValue) -> SSAValue:
        return ctx.scalar(v, like)

    if name == "Sigmoid":
        return lambda x: ctx.op(g.SigmoidOp, [x])
    if name == "Tanh":
        return lambda x: ctx.op(g.TanhOp, [x])
    if name == "Relu":
        return lambda x: ctx.op(g.MaxOp, [x, c(0, x)])
    if name == "Affine":
        return lambda x: ctx.op(g.AddOp, [ctx.op(g.MulOp, [x, c(params[0], x)]), c(params[1], x)])
    if name == "LeakyRelu":
        return lambda x: ctx.op(g.SelectOp, [ctx.op(g.LtOp, [x, c(0, x)]), ctx.op(g.MulOp, [x, c(params[0], x)]), x])
    if name == "ThresholdedRelu":
        return lambda x: ctx.op(g.SelectOp, [ctx.op(g.GtOp, [x, c(params[0], x)]), x, c(0, x)])
    if name == "ScaledTanh":
        return lambda x: ctx.op(g.MulOp, [ctx.op(g.TanhOp, [ctx.op(g.MulOp, [x, c(params[1], x)])]), c(params[0], x)])
    if name == "HardSigmoid":
        return lambda x: ctx.op(g.MinOp, [ctx.op(g.MaxOp, [ctx.op(g.AddOp, [ctx.op(g.MulOp, [x, c(params[0], x)]),
                                                                            c(params[1], x)]), c(0, x)]), c(1, x)])  # fmt: skip
    if name == "Elu":
        return lambda x: ctx.op(g.SelectOp, [ctx.op(g.LtOp, [x, c(0, x)]),
                                             ctx.op(g.MulOp, [ctx.op(g.Expm1Op, [x]), c(params[0], x)]), x])  # fmt: skip
    if name == "Softsign":
        return lambda x: ctx.op(g.DivOp, [x, ctx.op(g.AddOp, [ctx.op(g.AbsOp, [x]), c(1, x)])])
    if name == "Softplus":
        return lambda x: softplus(ctx, x)
    raise Unsupported(f"activation '{name}' is not supported")


def _activations(ctx: OnnxConverter, node: OnnxNode, directions: int) -> list[list[Activation]]:
    """Per direction, the op's activation functions (f, g[, h])."""
    per_direction = len(_DEFAULTS[node.op_type])
    names = node.get_strs("activations") if node.has("activations") else _DEFAULTS[node.op_type] * directions
    if len(names) == per_direction and directions == 2:
        names = names * 2
    if len(names) != per_direction * directions:
        raise NodeError(f"activations {names} do not give {per_direction} functions per direction")
    alphas = list(node.get_floats("activation_alpha", []) or [])
    betas = list(node.get_floats("activation_beta", []) or [])
    out = []
    for d in range(directions):
        functions = []
        for name in names[d * per_direction : (d + 1) * per_direction]:
            params = list(_DEFAULT_PARAMS.get(name, []))
            if _TAKES.get(name, 0) >= 1 and alphas:
                params[0] = alphas.pop(0)
            if _TAKES.get(name, 0) >= 2 and betas:
                params[1] = betas.pop(0)
            functions.append(_activation(ctx, name, params))
        out.append(functions)
    return out


def _rows(ctx: OnnxConverter, value: SSAValue, index: int) -> SSAValue:
    """value[index] of a [directions, ...] tensor, without the leading axis."""
    part = slice_axis(ctx, value, 0, index, index + 1)
    return ctx.reshape(part, ctx.shape(part)[1:])


def _gate(ctx: OnnxConverter, value: SSAValue, k: int, hidden: int) -> SSAValue:
    return slice_axis(ctx, value, ctx.rank(value) - 1, k * hidden, (k + 1) * hidden)


@converts("RNN", "GRU", "LSTM", since=7, static=(4,))
def _recurrent(ctx: OnnxConverter, node: OnnxNode, inputs):  # noqa: C901 - one cell per op type
    need(node, inputs, 0, 1, 2)
    op = node.op_type
    x, w, r = inputs[0], inputs[1], inputs[2]
    bias = inputs[3] if len(inputs) > 3 else None
    initial_h = inputs[5] if len(inputs) > 5 else None
    initial_c = inputs[6] if op == "LSTM" and len(inputs) > 6 else None
    peepholes = inputs[7] if op == "LSTM" and len(inputs) > 7 else None
    layout = node.get_int("layout", 0) if node.version >= 14 else 0
    if layout:
        x = ctx.transpose(x, [1, 0, 2])
        initial_h = ctx.transpose(initial_h, [1, 0, 2]) if initial_h is not None else None
        initial_c = ctx.transpose(initial_c, [1, 0, 2]) if initial_c is not None else None
    seq, batch, _ = ctx.shape(x)
    hidden = node.get_int("hidden_size", ctx.shape(r)[-1])
    direction = node.get_str("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise NodeError(f"direction '{direction}' is not forward, reverse or bidirectional")
    directions = 2 if direction == "bidirectional" else 1
    gates = _GATES[op]
    if ctx.shape(w)[0] != directions or ctx.shape(w)[1] != gates * hidden:
        raise NodeError(f"W {w.type} does not hold {directions} x {gates} gates of {hidden}")
    if op == "LSTM" and node.get_int("input_forget", 0):
        raise Unsupported("LSTM with input_forget=1 (coupled gates) is not supported")
    clip = node.get_float("clip", None)
    linear_before_reset = op == "GRU" and bool(node.get_int("linear_before_reset", 0))
    lengths = None
    if len(inputs) > 4 and inputs[4] is not None:
        lengths = ctx.static_ints(inputs, 4)
        if len(lengths) != batch or any(not 0 <= n <= seq for n in lengths):
            raise NodeError(f"sequence_lens {lengths} do not fit batch {batch} and {seq} steps")
        if all(n == seq for n in lengths):
            lengths = None
    activations = _activations(ctx, node, directions)
    dtype = ctx.np_dtype(x)

    outputs, last_h, last_c = [], [], []
    for d in range(directions):
        reverse = direction == "reverse" or d == 1
        if reverse and lengths is not None:
            raise Unsupported("reverse directions with sequence_lens shorter than the input")
        f, g_act = activations[d][0], activations[d][1] if len(activations[d]) > 1 else None
        h_act = activations[d][2] if len(activations[d]) > 2 else None
        wd, rd = _rows(ctx, w, d), _rows(ctx, r, d)
        xw = ctx.op(g.MatMulOp, [ctx.reshape(x, [seq * batch, ctx.shape(x)[2]]), ctx.transpose(wd, [1, 0])])
        w_bias = r_bias = None
        if bias is not None:
            bd = _rows(ctx, bias, d)
            w_bias = slice_axis(ctx, bd, 0, 0, gates * hidden)
            r_bias = slice_axis(ctx, bd, 0, gates * hidden, 2 * gates * hidden)
            if op != "GRU" or not linear_before_reset:
                xw = ctx.op(g.AddOp, [xw, ctx.op(g.AddOp, [w_bias, r_bias])])
            else:
                xw = ctx.op(g.AddOp, [xw, w_bias])
        xw = ctx.reshape(xw, [seq, batch, gates * hidden])
        rt = ctx.transpose(rd, [1, 0])
        zeros = ctx.const(np.zeros((batch, hidden), dtype))
        h = _rows(ctx, initial_h, d) if initial_h is not None else zeros
        c = _rows(ctx, initial_c, d) if initial_c is not None else zeros
        p = _rows(ctx, peepholes, d) if peepholes is not None else None
        steps: list[SSAValue] = [None] * seq  # type: ignore[list-item]
        for t in (reversed(range(seq)) if reverse else range(seq)):
            xt = ctx.reshape(slice_axis(ctx, xw, 0, t, t + 1), [batch, gates * hidden])

            def clipped(value: SSAValue) -> SSAValue:
                if clip is None:
                    return value
                return ctx.op(g.MinOp, [ctx.op(g.MaxOp, [value, ctx.scalar(-clip, value)]), ctx.scalar(clip, value)])

            def pre(k: int, recurrent: SSAValue) -> SSAValue:
                return ctx.op(g.AddOp, [_gate(ctx, xt, k, hidden), _gate(ctx, recurrent, k, hidden)])

            hr = ctx.op(g.MatMulOp, [h, rt])
            if op == "RNN":
                new_h, new_c = f(clipped(pre(0, hr))), c
            elif op == "GRU":
                if linear_before_reset and r_bias is not None:
                    hr = ctx.op(g.AddOp, [hr, r_bias])  # R's bias is inside the reset for the candidate
                z, rg = f(clipped(pre(0, hr))), f(clipped(pre(1, hr)))
                if linear_before_reset:
                    candidate = ctx.op(g.AddOp, [_gate(ctx, xt, 2, hidden), ctx.op(g.MulOp, [rg, _gate(ctx, hr, 2, hidden)])])
                else:
                    reset_h = ctx.op(g.MatMulOp, [ctx.op(g.MulOp, [rg, h]), _gate(ctx, rt, 2, hidden)])
                    candidate = ctx.op(g.AddOp, [_gate(ctx, xt, 2, hidden), reset_h])
                hh = g_act(clipped(candidate))
                one_minus_z = ctx.op(g.SubOp, [ctx.scalar(1, z), z])
                new_h, new_c = ctx.op(g.AddOp, [ctx.op(g.MulOp, [one_minus_z, hh]), ctx.op(g.MulOp, [z, h])]), c
            else:  # LSTM, gates i, o, f, c
                gi, go, gf, gc = (pre(k, hr) for k in range(4))
                if p is not None:
                    gi = ctx.op(g.AddOp, [gi, ctx.op(g.MulOp, [_gate(ctx, p, 0, hidden), c])])
                    gf = ctx.op(g.AddOp, [gf, ctx.op(g.MulOp, [_gate(ctx, p, 2, hidden), c])])
                i_t, f_t, c_t = f(clipped(gi)), f(clipped(gf)), g_act(clipped(gc))
                new_c = ctx.op(g.AddOp, [ctx.op(g.MulOp, [f_t, c]), ctx.op(g.MulOp, [i_t, c_t])])
                if p is not None:
                    go = ctx.op(g.AddOp, [go, ctx.op(g.MulOp, [_gate(ctx, p, 1, hidden), new_c])])
                new_h = ctx.op(g.MulOp, [f(clipped(go)), h_act(new_c)])
            if lengths is not None:
                active = ctx.const(np.array([[t < n] for n in lengths], np.bool_))
                steps[t] = ctx.op(g.SelectOp, [active, new_h, zeros])
                h = ctx.op(g.SelectOp, [active, new_h, h])
                c = ctx.op(g.SelectOp, [active, new_c, c])
            else:
                steps[t] = h = new_h
                c = new_c
        outputs.append(ctx.concat([ctx.reshape(s, [1, 1, batch, hidden]) for s in steps], 0))
        last_h.append(ctx.reshape(h, [1, batch, hidden]))
        last_c.append(ctx.reshape(c, [1, batch, hidden]))
    y = ctx.concat(outputs, 1)
    y_h, y_c = ctx.concat(last_h, 0), ctx.concat(last_c, 0)
    if layout:
        y = ctx.transpose(y, [2, 0, 1, 3])
        y_h, y_c = ctx.transpose(y_h, [1, 0, 2]), ctx.transpose(y_c, [1, 0, 2])
    return [y, y_h, y_c] if op == "LSTM" else [y, y_h]
