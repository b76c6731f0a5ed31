#!/usr/bin/env python3
"""Generate the frozen TensorFlow GraphDef fixtures used by graphc's TF frontend tests.

TensorFlow is used only by this script, never by graphc.  Run it with a Python that
has TensorFlow 2.x, Keras 3 and scikit-learn installed, from the repository root:

    /path/to/tf-python tools/make_tf_fixtures.py [--out tests/fixtures/tf]
        [--bad-out tests/fixtures/bad] [--only NAME ...] [--list]

For every fixture NAME it writes to --out:

* ``NAME.pb``   binary GraphDef frozen with ``convert_variables_to_constants_v2``;
* ``NAME.npz``  ``input:<placeholder>`` arrays and ``output:<node>`` arrays computed by
  TensorFlow running the frozen graph (a tf.compat.v1 Session on the imported .pb);
* ``NAME.json`` ``{"inputs": {name: {"shape", "dtype"}}, "outputs": [names],
  "input_shapes": {name: concrete dims}, "description", "output_descriptions",
  "output_dtypes", "output_shapes", "op_types", ...}`` (-1 marks unknown dims).

digits_cnn also writes ``digits_cnn_testset.npz`` (x, y, tf_pred).  Fixtures in
BAD_FIXTURES (graphs graphc must reject) go to --bad-out as ``.pb`` + ``.json``.

Each frozen graph's outputs are cross-checked against the unfrozen function run
eagerly, and the op types each fixture is meant to cover are asserted to be present.
Every fixture reseeds numpy, Python, TensorFlow and Keras and clears the Keras
session, so a full run and ``--only`` give byte-identical files (except the lowered
while_loop fixture, whose control-flow lowering TensorFlow does not make
deterministic).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import heapq
import os
import re
import sys
import types
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from fixture_io import write_json, write_npz  # noqa: E402  (tools/ is on sys.path: scripts run from there)
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

SEED = 0
REPO_ROOT = Path(__file__).resolve().parent.parent
CONTROL_FLOW_OPS = {
    "While", "StatelessWhile", "If", "StatelessIf", "Enter", "Exit", "Switch", "Merge",
    "NextIteration", "LoopCond",
}


# ---------------------------------------------------------------------------------
# Fixture description
# ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Input:
    """One graph input: placeholder name, signature shape (None = unknown) and the
    concrete value stored in the .npz (its shape and dtype are the ones used)."""

    name: str
    shape: tuple
    value: np.ndarray

    def spec(self) -> tf.TensorSpec:
        return tf.TensorSpec(self.shape, tf.as_dtype(self.value.dtype), name=self.name)


@dataclasses.dataclass
class Fixture:
    fn: Callable  # Python function of the input tensors (in order), returns tensor(s)
    inputs: list[Input]
    description: str
    output_descriptions: list[str]  # one per returned tensor, in order
    expect_ops: tuple[str, ...] = ()  # op types that must appear in the frozen graph
    forbid_ops: tuple[str, ...] = ()  # op types that must not appear
    # Computes the outputs without running the frozen graph; used only if TensorFlow
    # cannot run the graph on this machine (e.g. NCHW Conv2D without oneDNN).
    fallback: Callable | None = None
    fallback_note: str = ""
    # Extra .npz files written next to the fixture: {file stem: arrays}.  A callable
    # gets a `run(feeds: dict) -> list of outputs` function for the frozen graph.
    extras: Callable | None = None
    lower_control_flow: bool = True


def reset_seeds() -> np.random.Generator:
    keras.backend.clear_session()  # resets Keras layer-name counters, too
    keras.utils.set_random_seed(SEED)  # Python, numpy and TensorFlow seeds
    tf.random.set_seed(SEED)
    return np.random.default_rng(SEED)


def normal(rng, shape) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)


def positive(rng, shape, low=0.1, high=4.0) -> np.ndarray:
    return rng.uniform(low, high, size=shape).astype(np.float32)


def nonzero(rng, shape) -> np.ndarray:
    """Normal values pushed away from zero (safe divisors)."""
    v = rng.normal(size=shape)
    return (np.sign(v) * (np.abs(v) + 0.5)).astype(np.float32)


# ---------------------------------------------------------------------------------
# Keras model fixtures
# ---------------------------------------------------------------------------------


def keras_fixture(model, inputs, description, output_description, **kwargs) -> Fixture:
    return Fixture(
        fn=lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False),
        inputs=inputs,
        description=description,
        output_descriptions=[output_description],
        **kwargs,
    )


def mlp() -> Fixture:
    rng = reset_seeds()
    model = keras.Sequential(
        [
            keras.Input((20,), name="x"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(32, activation=lambda t: keras.activations.gelu(t, approximate=False)),
            keras.layers.Dense(10),
            keras.layers.Softmax(),
        ],
        name="mlp",
    )
    return keras_fixture(
        model,
        [Input("x", (None, 20), normal(rng, (4, 20)))],
        "Keras Sequential MLP: Dense(64, relu) -> Dense(32, exact erf GELU) -> Dense(10) -> "
        "softmax; random weights.",
        "softmax probabilities (batch, 10)",
        expect_ops=("MatMul", "BiasAdd", "Relu", "Erfc", "Softmax"),
    )


def digits_cnn() -> Fixture:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    reset_seeds()
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]  # (N, 8, 8, 1) in [0, 1]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.25, random_state=0
    )
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="digits_cnn",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=25, batch_size=32, shuffle=True, verbose=0)

    def testset(run):
        (probs,) = run({"image": x_test})
        pred = probs.argmax(axis=1)
        accuracy = float((pred == y_test).mean())
        print(f"  digits_cnn: TF test accuracy {accuracy:.4f} on {len(y_test)} images")
        if accuracy <= 0.9:
            raise RuntimeError(f"digits_cnn test accuracy {accuracy:.4f} <= 0.9")
        return {
            "digits_cnn_testset": {
                "x": x_test,
                "y": y_test.astype(np.int64),
                "tf_pred": pred.astype(np.int64),
            }
        }

    return keras_fixture(
        model,
        [Input("image", (None, 8, 8, 1), x_test[:8])],
        "Small CNN trained on sklearn load_digits (8x8x1 in [0,1], train_test_split "
        "test_size=0.25 random_state=0): Conv2D(16,3,same,relu) -> MaxPool -> "
        "Conv2D(32,3,same,relu) -> BatchNormalization -> GlobalAveragePooling2D -> "
        "Dense(10, softmax). Inputs are the first 8 test images; digits_cnn_testset.npz "
        "holds the whole test set (x, y) and TF's argmax predictions (tf_pred).",
        "softmax probabilities (batch, 10)",
        expect_ops=("Conv2D", "MaxPool", "Mean", "Softmax"),
        extras=testset,
    )


def randomize_batchnorm(model, rng) -> int:
    """Give every BatchNormalization layer non-trivial gamma/beta/moving statistics."""
    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
            layer.beta.assign(rng.normal(scale=0.1, size=n).astype(np.float32))
            layer.moving_mean.assign(rng.normal(scale=0.1, size=n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
            count += 1
    return count


def mobilenet_v2() -> Fixture:
    rng = reset_seeds()
    model = keras.applications.MobileNetV2(
        alpha=0.35, input_shape=(96, 96, 3), weights=None, classes=10
    )
    count = randomize_batchnorm(model, rng)
    # Random-weight features are small (~0.1), which leaves an almost uniform softmax;
    # scale the classifier so the logits spread over a few units.
    predictions = model.get_layer("predictions")
    predictions.kernel.assign(predictions.kernel * 20.0)
    return keras_fixture(
        model,
        [Input("image", (None, 96, 96, 3), normal(rng, (1, 96, 96, 3)))],
        f"keras.applications.MobileNetV2(alpha=0.35, input_shape=(96,96,3), classes=10) with "
        f"seeded random weights; all {count} BatchNormalization layers have random "
        "gamma/beta/moving_mean/moving_variance so BN folding is exercised; the classifier "
        "kernel is scaled by 20 so the softmax is not nearly uniform.",
        "softmax probabilities (batch, 10)",
        expect_ops=("Conv2D", "DepthwiseConv2dNative", "Rsqrt", "Relu6", "Softmax"),
    )


def transformer_block() -> Fixture:
    rng = reset_seeds()
    x = keras.Input((16, 32), name="x")
    attn = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8, name="mha")(x, x)
    h = keras.layers.LayerNormalization(name="ln1")(x + attn)
    f = keras.layers.Dense(
        64, activation=lambda t: keras.activations.gelu(t, approximate=True), name="ffn1"
    )(h)
    f = keras.layers.Dense(32, name="ffn2")(f)
    y = keras.layers.LayerNormalization(name="ln2")(h + f)
    model = keras.Model(x, y, name="transformer_block")
    randomize_layernorm(model, rng)
    return keras_fixture(
        model,
        [Input("x", (None, 16, 32), normal(rng, (2, 16, 32)))],
        "Keras encoder block: MultiHeadAttention(num_heads=4, key_dim=8) self-attention + "
        "residual -> LayerNormalization -> Dense(64, tanh-approximate GELU) -> Dense(32) + "
        "residual -> LayerNormalization. Random weights; LayerNorm gamma/beta randomized.",
        "block output (batch, 16, 32)",
        expect_ops=("Einsum", "Softmax", "Tanh"),
    )


def randomize_layernorm(model, rng) -> None:
    for layer in model.layers:
        if isinstance(layer, keras.layers.LayerNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
            layer.beta.assign(rng.normal(scale=0.1, size=n).astype(np.float32))


def gru() -> Fixture:
    rng = reset_seeds()
    model = keras.Sequential(
        [
            keras.Input((6, 8), name="x"),
            keras.layers.GRU(16, unroll=True),
            keras.layers.Dense(4),
        ],
        name="gru",
    )
    return keras_fixture(
        model,
        [Input("x", (None, 6, 8), normal(rng, (3, 6, 8)))],
        "Keras GRU(16, unroll=True, reset_after=True) over 6 steps -> Dense(4); random "
        "weights. Unrolled, so the graph has no control flow.",
        "Dense output (batch, 4)",
        expect_ops=("MatMul", "Sigmoid", "Tanh"),
        forbid_ops=tuple(sorted(CONTROL_FLOW_OPS)),
    )


def lstm() -> Fixture:
    rng = reset_seeds()
    model = keras.Sequential(
        [keras.Input((5, 8), name="x"), keras.layers.LSTM(12, unroll=True)], name="lstm"
    )
    return keras_fixture(
        model,
        [Input("x", (None, 5, 8), normal(rng, (2, 5, 8)))],
        "Keras LSTM(12, unroll=True, return_sequences=False) over 5 steps; random weights. "
        "Unrolled, so the graph has no control flow.",
        "last hidden state (batch, 12)",
        expect_ops=("MatMul", "Sigmoid", "Tanh"),
        forbid_ops=tuple(sorted(CONTROL_FLOW_OPS)),
    )


# ---------------------------------------------------------------------------------
# Single-op-family fixtures (tf.raw_ops so the GraphDef has exactly those ops)
# ---------------------------------------------------------------------------------

R = tf.raw_ops


def op_fixture(inputs, description, outputs: list[tuple], **kwargs) -> Fixture:
    """`outputs` is [(label, make)] or, for a multi-output op whose outputs are all graph
    outputs, [([label, ...], make)].  `make(v)` gets the input tensors as attributes of
    `v` (``v.x`` for Input "x") and returns a tensor (a sequence of tensors for a label
    list).  Unless given, expect_ops are the op names that start the labels, e.g.
    "Conv2D" for "Conv2D(x, w, ...)"."""

    names = [inp.name for inp in inputs]

    def fn(*xs):
        v = types.SimpleNamespace(**dict(zip(names, xs)))
        results = []
        for labels, make in outputs:
            value = make(v)
            results.extend(value if isinstance(labels, list) else [value])
        return tuple(results)

    flat_labels = [
        label for labels, _ in outputs for label in (labels if isinstance(labels, list) else [labels])
    ]
    kwargs.setdefault("expect_ops", tuple(sorted({op for label in flat_labels for op in _ops_in(label)})))
    return Fixture(fn, inputs, description, flat_labels, **kwargs)


def _ops_in(label: str) -> list[str]:
    """Op names at the start of an output description, e.g. 'Conv2D(x, w3, ...)'."""
    head = label.split("(", 1)[0]
    return [head] if head.isidentifier() and head[:1].isupper() else []


def op_unary() -> Fixture:
    rng = reset_seeds()
    shape = (4, 24)
    halves = (rng.integers(-8, 9, size=shape) / 2).astype(np.float32)
    inputs = [
        Input("x", (None, 24), normal(rng, shape)),
        Input("pos", (None, 24), positive(rng, shape)),
        Input("halves", (None, 24), halves),
    ]
    nan = float("nan")
    outputs = [
        ("Abs(x)", lambda v: R.Abs(x=v.x)),
        ("Neg(x)", lambda v: R.Neg(x=v.x)),
        ("Exp(x)", lambda v: R.Exp(x=v.x)),
        ("Log(pos)", lambda v: R.Log(x=v.pos)),
        ("Sqrt(pos)", lambda v: R.Sqrt(x=v.pos)),
        ("Rsqrt(pos)", lambda v: R.Rsqrt(x=v.pos)),
        ("Square(x)", lambda v: R.Square(x=v.x)),
        ("Reciprocal(x)", lambda v: R.Reciprocal(x=v.x)),
        ("Sigmoid(x)", lambda v: R.Sigmoid(x=v.x)),
        ("Tanh(x)", lambda v: R.Tanh(x=v.x)),
        ("Erf(x)", lambda v: R.Erf(x=v.x)),
        ("Erfc(x)", lambda v: R.Erfc(x=v.x)),
        ("Softplus(x)", lambda v: R.Softplus(features=v.x)),
        ("Softsign(x)", lambda v: R.Softsign(features=v.x)),
        ("Elu(x)", lambda v: R.Elu(features=v.x)),
        ("Selu(x)", lambda v: R.Selu(features=v.x)),
        ("Relu(x)", lambda v: R.Relu(features=v.x)),
        ("Relu6(x * 4)", lambda v: R.Relu6(features=v.x * 4.0)),
        ("LeakyRelu(x, alpha=0.2)", lambda v: R.LeakyRelu(features=v.x, alpha=0.2)),
        ("Floor(halves)", lambda v: R.Floor(x=v.halves)),
        ("Ceil(halves)", lambda v: R.Ceil(x=v.halves)),
        ("Round(halves) (half to even)", lambda v: R.Round(x=v.halves)),
        ("Sign(halves)", lambda v: R.Sign(x=v.halves)),
        ("Sin(x)", lambda v: R.Sin(x=v.x)),
        ("Cos(x)", lambda v: R.Cos(x=v.x)),
        ("IsNan(where(x > 1, nan, x)) -> bool", lambda v: R.IsNan(x=tf.where(v.x > 1.0, nan, v.x))),
        ("Log1p(pos)", lambda v: R.Log1p(x=v.pos)),
        ("Expm1(x)", lambda v: R.Expm1(x=v.x)),
        ("LogicalNot(x > 0) -> bool", lambda v: R.LogicalNot(x=v.x > 0.0)),
    ]
    return op_fixture(
        inputs,
        "Elementwise unary ops, one output each. x ~ N(0,1); pos ~ U(0.1, 4) for "
        "Log/Sqrt/Rsqrt/Log1p; halves = multiples of 0.5 in [-4, 4] (incl. 0 and exact .5 "
        "ties) for Floor/Ceil/Round/Sign.",
        outputs,
    )


def op_binary() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("a", (None, 1, 5), normal(rng, (4, 1, 5))),
        Input("b", (3, 5), nonzero(rng, (3, 5))),
        Input("base", (None, 1, 5), positive(rng, (4, 1, 5))),
        Input("ia", (None, 1, 5), rng.integers(-20, 21, size=(4, 1, 5)).astype(np.int32)),
        Input("ib", (3, 5), (rng.integers(1, 7, size=(3, 5)) * rng.choice([-1, 1], size=(3, 5))).astype(np.int32)),
    ]
    bias = tf.constant(rng.normal(size=5).astype(np.float32))
    outputs = [
        ("AddV2(a, b)", lambda v: R.AddV2(x=v.a, y=v.b)),
        ("Sub(a, b)", lambda v: R.Sub(x=v.a, y=v.b)),
        ("Mul(a, b)", lambda v: R.Mul(x=v.a, y=v.b)),
        ("Mul(a, scalar 2.5)", lambda v: R.Mul(x=v.a, y=tf.constant(2.5))),
        ("RealDiv(a, b)", lambda v: R.RealDiv(x=v.a, y=v.b)),
        ("Div(ia, ib) int32 (C truncation)", lambda v: R.Div(x=v.ia, y=v.ib)),
        ("FloorDiv(ia, ib) int32", lambda v: R.FloorDiv(x=v.ia, y=v.ib)),
        ("FloorDiv(a, b) float", lambda v: R.FloorDiv(x=v.a, y=v.b)),
        ("FloorMod(ia, ib) int32", lambda v: R.FloorMod(x=v.ia, y=v.ib)),
        ("FloorMod(a, b) float", lambda v: R.FloorMod(x=v.a, y=v.b)),
        ("Maximum(a, b)", lambda v: R.Maximum(x=v.a, y=v.b)),
        ("Minimum(a, b)", lambda v: R.Minimum(x=v.a, y=v.b)),
        ("Pow(base, b)", lambda v: R.Pow(x=v.base, y=v.b)),
        ("SquaredDifference(a, b)", lambda v: R.SquaredDifference(x=v.a, y=v.b)),
        ("BiasAdd(a, const bias[5])", lambda v: R.BiasAdd(value=v.a, bias=bias)),
    ]
    return op_fixture(
        inputs,
        "Elementwise binary ops with broadcasting (a: (N,1,5) vs b: (3,5) -> (N,3,5)). "
        "b and ib are nonzero (divisors, both signs); base > 0 for Pow; int32 ops on ia/ib.",
        outputs,
    )


def op_compare_logical() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("fa", (None, 1, 6), rng.integers(-2, 3, size=(2, 1, 6)).astype(np.float32)),
        Input("fb", (4, 6), rng.integers(-2, 3, size=(4, 6)).astype(np.float32)),
        Input("ia", (None, 6), rng.integers(-3, 4, size=(4, 6)).astype(np.int32)),
        Input("ib", (None, 6), rng.integers(-3, 4, size=(4, 6)).astype(np.int32)),
        Input("pa", (None, 1, 6), rng.random((2, 1, 6)) > 0.5),
        Input("pb", (4, 6), rng.random((4, 6)) > 0.5),
    ]
    outputs = [
        ("Less(fa, fb)", lambda v: R.Less(x=v.fa, y=v.fb)),
        ("LessEqual(fa, fb)", lambda v: R.LessEqual(x=v.fa, y=v.fb)),
        ("Greater(fa, fb)", lambda v: R.Greater(x=v.fa, y=v.fb)),
        ("GreaterEqual(fa, fb)", lambda v: R.GreaterEqual(x=v.fa, y=v.fb)),
        ("Equal(fa, fb)", lambda v: R.Equal(x=v.fa, y=v.fb)),
        ("NotEqual(fa, fb)", lambda v: R.NotEqual(x=v.fa, y=v.fb)),
        ("Equal(ia, ib) int32", lambda v: R.Equal(x=v.ia, y=v.ib)),
        ("Less(ia, ib) int32", lambda v: R.Less(x=v.ia, y=v.ib)),
        ("LogicalAnd(pa, pb)", lambda v: R.LogicalAnd(x=v.pa, y=v.pb)),
        ("LogicalOr(pa, pb)", lambda v: R.LogicalOr(x=v.pa, y=v.pb)),
    ]
    return op_fixture(
        inputs,
        "Comparisons (bool outputs) on small integer-valued floats (so Equal has hits) and "
        "int32, with broadcasting (N,1,6) vs (4,6); LogicalAnd/LogicalOr on bool inputs.",
        outputs,
    )


def op_reduce() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 4, 6), normal(rng, (3, 4, 6)))]
    ax = lambda *axes: tf.constant(list(axes), tf.int32)  # noqa: E731
    outputs = [
        ("Mean(x, [1])", lambda v: R.Mean(input=v.x, axis=ax(1), keep_dims=False)),
        ("Mean(x, [-1], keepdims)", lambda v: R.Mean(input=v.x, axis=ax(-1), keep_dims=True)),
        ("Sum(x, [0, 2], keepdims)", lambda v: R.Sum(input=v.x, axis=ax(0, 2), keep_dims=True)),
        ("Sum(x, [1])", lambda v: R.Sum(input=v.x, axis=ax(1), keep_dims=False)),
        ("Sum(x, [0, 1, 2]) -> scalar",
         lambda v: R.Sum(input=v.x, axis=ax(0, 1, 2), keep_dims=False)),
        ("Max(x, [-1])", lambda v: R.Max(input=v.x, axis=ax(-1), keep_dims=False)),
        ("Max(x, [1, 2], keepdims)", lambda v: R.Max(input=v.x, axis=ax(1, 2), keep_dims=True)),
        ("Min(x, [2], keepdims)", lambda v: R.Min(input=v.x, axis=ax(2), keep_dims=True)),
        ("Min(x, [0])", lambda v: R.Min(input=v.x, axis=ax(0), keep_dims=False)),
        ("Prod(x, [1])", lambda v: R.Prod(input=v.x, axis=ax(1), keep_dims=False)),
        ("Prod(x, [2], keepdims) with int64 axis",
         lambda v: R.Prod(input=v.x, axis=tf.constant([2], tf.int64), keep_dims=True)),
        ("All(x > -1, [1]) -> bool",
         lambda v: R.All(input=v.x > -1.0, axis=ax(1), keep_dims=False)),
        ("Any(x > 1, [2], keepdims) -> bool",
         lambda v: R.Any(input=v.x > 1.0, axis=ax(2), keep_dims=True)),
    ]
    return op_fixture(inputs, "Reductions with both keep_dims values, negative and multiple axes.", outputs)


def op_argminmax() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 5, 7), normal(rng, (2, 5, 7)))]
    i32, i64 = tf.int32, tf.int64
    outputs = [
        ("ArgMax(x, 1) int64", lambda v: R.ArgMax(input=v.x, dimension=1, output_type=i64)),
        ("ArgMax(x, -1) int32", lambda v: R.ArgMax(input=v.x, dimension=-1, output_type=i32)),
        ("ArgMin(x, 2) int64", lambda v: R.ArgMin(input=v.x, dimension=2, output_type=i64)),
        ("ArgMin(x, 0) int32", lambda v: R.ArgMin(input=v.x, dimension=0, output_type=i32)),
    ]
    return op_fixture(inputs, "ArgMax/ArgMin over several axes, int32 and int64 outputs.", outputs)


def op_softmax() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("x", (None, 10), normal(rng, (4, 10))),
        Input("big", (2, 3, 7), (normal(rng, (2, 3, 7)) * 30.0)),
    ]
    outputs = [
        ("Softmax(x)", lambda v: R.Softmax(logits=v.x)),
        ("LogSoftmax(x)", lambda v: R.LogSoftmax(logits=v.x)),
        ("Softmax(big) rank 3", lambda v: R.Softmax(logits=v.big)),
        ("LogSoftmax(big) rank 3", lambda v: R.LogSoftmax(logits=v.big)),
    ]
    return op_fixture(
        inputs, "Softmax/LogSoftmax over the last axis; big ~ 30*N(0,1) tests stability.", outputs
    )


def conv2d_outputs(rng, data_format: str):
    """Conv2D variants shared by the NHWC and NCHW fixtures: (label, fn, (stride, pad, dil, w))."""
    weights = {
        "w3x3": tf.constant(normal(rng, (3, 3, 3, 4)) * 0.3),
        "w2x3": tf.constant(normal(rng, (2, 3, 3, 5)) * 0.3),
        "w1x1": tf.constant(normal(rng, (1, 1, 3, 2)) * 0.3),
    }
    variants = [
        ("w3x3", (1, 1), "SAME", 1),
        ("w3x3", (2, 2), "SAME", 1),
        ("w3x3", (2, 2), "VALID", 1),
        ("w3x3", (1, 1), "SAME", 2),
        ("w3x3", (1, 1), "VALID", 2),
        ("w2x3", (1, 2), "VALID", 1),
        ("w2x3", (2, 1), "SAME", 1),
        ("w1x1", (1, 1), "VALID", 1),
    ]
    outputs = []
    for wname, (sh, sw), padding, dil in variants:
        w = weights[wname]
        if data_format == "NHWC":
            strides, dilations = [1, sh, sw, 1], [1, dil, dil, 1]
        else:
            strides, dilations = [1, 1, sh, sw], [1, 1, dil, dil]
        label = f"Conv2D(x, {wname}, strides=({sh},{sw}), {padding}, dilation={dil}, {data_format})"

        def make(v, w=w, strides=strides, padding=padding, dilations=dilations, fmt=data_format):
            return R.Conv2D(input=v.x, filter=w, strides=strides, padding=padding,
                            dilations=dilations, data_format=fmt)

        def nhwc_equivalent(x, w=w, sh=sh, sw=sw, padding=padding, dil=dil):
            y = R.Conv2D(input=tf.transpose(x, [0, 2, 3, 1]), filter=w, strides=[1, sh, sw, 1],
                         padding=padding, dilations=[1, dil, dil, 1], data_format="NHWC")
            return tf.transpose(y, [0, 3, 1, 2])

        outputs.append((label, make, nhwc_equivalent))
    return outputs


def op_conv2d() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 8, 10, 3), normal(rng, (2, 8, 10, 3)))]
    outputs = [(label, make) for label, make, _ in conv2d_outputs(rng, "NHWC")]
    return op_fixture(
        inputs,
        "NHWC Conv2D: strides 1/2 (also non-uniform), SAME (incl. asymmetric padding: even "
        "input sizes with stride 2) and VALID, dilation 2, non-square and 1x1 kernels.",
        outputs,
    )


def op_conv2d_nchw() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 3, 8, 10), normal(rng, (2, 3, 8, 10)))]
    variants = conv2d_outputs(rng, "NCHW")

    def fallback(x):  # called with the input arrays, like the graph
        return [nhwc(tf.constant(x)).numpy() for _, _, nhwc in variants]

    return op_fixture(
        inputs,
        "The op_conv2d variants in data_format=NCHW (input (N,3,8,10), filters still HWIO).",
        [(label, make) for label, make, _ in variants],
        fallback=fallback,
        fallback_note=(
            " TensorFlow could not run NCHW Conv2D on this CPU (it needs oneDNN), so the "
            "stored outputs were computed by transposing to NHWC, running the NHWC Conv2D "
            "and transposing back."
        ),
    )


def op_depthwise() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 8, 8, 4), normal(rng, (2, 8, 8, 4)))]
    w1 = tf.constant(normal(rng, (3, 3, 4, 1)) * 0.3)
    w2 = tf.constant(normal(rng, (3, 3, 4, 2)) * 0.3)
    w5 = tf.constant(normal(rng, (5, 5, 4, 1)) * 0.3)

    def dw(w, s, padding):
        return lambda v: R.DepthwiseConv2dNative(input=v.x, filter=w, strides=[1, s, s, 1], padding=padding)

    outputs = [
        ("DepthwiseConv2dNative(x, 3x3 multiplier 1, stride 1, SAME)", dw(w1, 1, "SAME")),
        ("DepthwiseConv2dNative(x, 3x3 multiplier 1, stride 2, SAME)", dw(w1, 2, "SAME")),
        ("DepthwiseConv2dNative(x, 3x3 multiplier 2, stride 2, SAME)", dw(w2, 2, "SAME")),
        ("DepthwiseConv2dNative(x, 3x3 multiplier 2, stride 1, VALID)", dw(w2, 1, "VALID")),
        ("DepthwiseConv2dNative(x, 5x5 multiplier 1, stride 2, VALID)", dw(w5, 2, "VALID")),
    ]
    return op_fixture(inputs, "NHWC depthwise convolutions (filter H,W,C,multiplier).", outputs)


def op_conv_transpose() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (2, 4, 4, 6), normal(rng, (2, 4, 4, 6)))]
    w3 = tf.constant(normal(rng, (3, 3, 3, 6)) * 0.3)  # (H, W, out, in)
    w2 = tf.constant(normal(rng, (2, 2, 5, 6)) * 0.3)

    def tconv(w, out_hwc, padding):
        sizes = tf.constant([2, *out_hwc], tf.int32)
        return lambda v: R.Conv2DBackpropInput(
            input_sizes=sizes, filter=w, out_backprop=v.x, strides=[1, 2, 2, 1], padding=padding
        )

    outputs = [
        ("Conv2DBackpropInput(x, 3x3, stride 2, SAME) -> (2,8,8,3)", tconv(w3, (8, 8, 3), "SAME")),
        ("Conv2DBackpropInput(x, 3x3, stride 2, VALID) -> (2,9,9,3)", tconv(w3, (9, 9, 3), "VALID")),
        ("Conv2DBackpropInput(x, 2x2, stride 2, SAME) -> (2,8,8,5)", tconv(w2, (8, 8, 5), "SAME")),
    ]
    return op_fixture(
        inputs,
        "Transposed convolution as Conv2DBackpropInput with constant input_sizes (static "
        "batch 2); filter layout (H, W, out_channels, in_channels).",
        outputs,
    )


def op_pool() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 7, 7, 3), normal(rng, (2, 7, 7, 3)))]

    def pool(op, k, s, padding):
        window = dict(ksize=[1, k, k, 1], strides=[1, s, s, 1], padding=padding)
        if op == "MaxPool":
            return lambda v: R.MaxPool(input=v.x, **window)
        return lambda v: R.AvgPool(value=v.x, **window)

    outputs = [
        ("MaxPool(x, 3x3, stride 2, SAME)", pool("MaxPool", 3, 2, "SAME")),
        ("MaxPool(x, 2x2, stride 2, VALID)", pool("MaxPool", 2, 2, "VALID")),
        ("MaxPool(x, 3x3, stride 1, SAME)", pool("MaxPool", 3, 1, "SAME")),
        ("AvgPool(x, 3x3, stride 2, SAME) (padding excluded from the count)", pool("AvgPool", 3, 2, "SAME")),
        ("AvgPool(x, 2x2, stride 2, VALID)", pool("AvgPool", 2, 2, "VALID")),
        ("AvgPool(x, 3x3, stride 1, SAME)", pool("AvgPool", 3, 1, "SAME")),
    ]
    return op_fixture(inputs, "NHWC MaxPool/AvgPool on odd 7x7 inputs, SAME and VALID.", outputs)


def op_batchnorm() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("x", (None, 5, 5, 4), normal(rng, (2, 5, 5, 4))),
        Input("x_nchw", (None, 4, 5, 5), normal(rng, (2, 4, 5, 5))),
    ]
    scale = tf.constant(positive(rng, 4, 0.5, 1.5))
    offset = tf.constant(normal(rng, 4) * 0.1)
    mean = tf.constant(normal(rng, 4) * 0.5)
    var = tf.constant(positive(rng, 4, 0.2, 2.0))

    def bn(x, fmt, eps):
        return R.FusedBatchNormV3(
            x=x, scale=scale, offset=offset, mean=mean, variance=var, epsilon=eps,
            is_training=False, data_format=fmt,
        )[0]

    outputs = [
        ("FusedBatchNormV3(x, NHWC, epsilon=1e-3, is_training=False).y",
         lambda v: bn(v.x, "NHWC", 1e-3)),
        ("FusedBatchNormV3(x_nchw, NCHW, epsilon=0.1, is_training=False).y",
         lambda v: bn(v.x_nchw, "NCHW", 0.1)),
    ]
    return op_fixture(inputs, "Inference FusedBatchNormV3 with constant scale/offset/mean/variance.", outputs)


def op_matmul() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("x", (None, 6), normal(rng, (3, 6))),
        Input("a", (4, 6), normal(rng, (4, 6))),
        Input("bt", (5, 6), normal(rng, (5, 6))),
        Input("at", (6, 4), normal(rng, (6, 4))),
        Input("p", (None, 1, 3, 4), normal(rng, (2, 1, 3, 4))),
        Input("q", (5, 4, 6), normal(rng, (5, 4, 6))),
        Input("qt", (5, 6, 4), normal(rng, (5, 6, 4))),
        Input("m", (3, 4), normal(rng, (3, 4))),
        Input("mt", (4, 3), normal(rng, (4, 3))),
    ]
    w = tf.constant(normal(rng, (6, 5)))
    outputs = [
        ("MatMul(x, const w)", lambda v: R.MatMul(a=v.x, b=w)),
        ("MatMul(a, bt, transpose_b)",
         lambda v: R.MatMul(a=v.a, b=v.bt, transpose_b=True)),
        ("MatMul(at, const w, transpose_a)",
         lambda v: R.MatMul(a=v.at, b=w, transpose_a=True)),
        ("MatMul(at, bt, transpose_a, transpose_b)",
         lambda v: R.MatMul(a=v.at, b=v.bt, transpose_a=True, transpose_b=True)),
        ("BatchMatMulV2(p, q) broadcast (N,1,3,4)x(5,4,6)",
         lambda v: R.BatchMatMulV2(x=v.p, y=v.q)),
        ("BatchMatMulV2(p, qt, adj_y)",
         lambda v: R.BatchMatMulV2(x=v.p, y=v.qt, adj_y=True)),
        ("BatchMatMulV2(m, q) rank 2 x rank 3",
         lambda v: R.BatchMatMulV2(x=v.m, y=v.q)),
        ("BatchMatMulV2(mt, q, adj_x) rank 2 x rank 3",
         lambda v: R.BatchMatMulV2(x=v.mt, y=v.q, adj_x=True)),
    ]
    return op_fixture(
        inputs, "MatMul with transpose flags; BatchMatMulV2 with batch broadcasting and adjoints.", outputs
    )


def op_einsum() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("a", (None, 3, 4), normal(rng, (2, 3, 4))),
        Input("b", (None, 4, 5), normal(rng, (2, 4, 5))),
        Input("q", (None, 5, 2, 4), normal(rng, (2, 5, 2, 4))),
        Input("k", (None, 6, 2, 4), normal(rng, (2, 6, 2, 4))),
    ]
    w = tf.constant(normal(rng, (4, 5)))
    w3 = tf.constant(normal(rng, (4, 2, 3)))
    w_out = tf.constant(normal(rng, (2, 4, 7)))

    def einsum(eq, *operands):
        return R.Einsum(inputs=list(operands), equation=eq)

    outputs = [
        ("Einsum('bij,bjk->bik', a, b)", lambda v: einsum("bij,bjk->bik", v.a, v.b)),
        ("Einsum('bqhd,bkhd->bhqk', q, k)", lambda v: einsum("bqhd,bkhd->bhqk", v.q, v.k)),
        ("Einsum('abc,cd->abd', a, const)", lambda v: einsum("abc,cd->abd", v.a, w)),
        ("Einsum('abc,cde->abde', a, const) (MHA projection)",
         lambda v: einsum("abc,cde->abde", v.a, w3)),
        ("Einsum('abcd,cde->abe', q, const) (MHA output)",
         lambda v: einsum("abcd,cde->abe", v.q, w_out)),
        ("Einsum('bij->bji', a) (transpose)", lambda v: einsum("bij->bji", v.a)),
    ]
    return op_fixture(inputs, "Einsum equations incl. the ones Keras MultiHeadAttention emits.", outputs)


def op_pad() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 3, 4, 2), normal(rng, (2, 3, 4, 2)))]
    p1 = tf.constant([[0, 0], [1, 2], [0, 1], [0, 0]], tf.int32)
    p2 = tf.constant([[0, 0], [2, 1], [3, 2], [0, 0]], tf.int32)  # REFLECT: pad < dim
    p3 = tf.constant([[0, 0], [3, 2], [1, 4], [0, 1]], tf.int64)  # SYMMETRIC: pad <= dim
    outputs = [
        ("Pad(x, [[0,0],[1,2],[0,1],[0,0]])", lambda v: R.Pad(input=v.x, paddings=p1)),
        ("PadV2(x, same paddings, constant 1.5)",
         lambda v: R.PadV2(input=v.x, paddings=p1, constant_values=tf.constant(1.5))),
        ("MirrorPad(x, [[0,0],[2,1],[3,2],[0,0]], REFLECT)",
         lambda v: R.MirrorPad(input=v.x, paddings=p2, mode="REFLECT")),
        ("MirrorPad(x, [[0,0],[3,2],[1,4],[0,1]] int64, SYMMETRIC)",
         lambda v: R.MirrorPad(input=v.x, paddings=p3, mode="SYMMETRIC")),
    ]
    return op_fixture(inputs, "Constant and mirror padding (maximal REFLECT/SYMMETRIC amounts).", outputs)


def op_concat_pack() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("a", (None, 3, 4), normal(rng, (2, 3, 4))),
        Input("b", (None, 2, 4), normal(rng, (2, 2, 4))),
        Input("c", (None, 3, 4), normal(rng, (2, 3, 4))),
    ]
    outputs = [
        ("ConcatV2([a, b], axis=1)", lambda v: R.ConcatV2(values=[v.a, v.b], axis=1)),
        ("ConcatV2([a, c, a], axis=-1)", lambda v: R.ConcatV2(values=[v.a, v.c, v.a], axis=-1)),
        ("Pack([a, c], axis=0)", lambda v: R.Pack(values=[v.a, v.c], axis=0)),
        ("Pack([a, c], axis=2)", lambda v: R.Pack(values=[v.a, v.c], axis=2)),
        ("Pack([a, c], axis=-1)", lambda v: R.Pack(values=[v.a, v.c], axis=-1)),
        ([f"Unpack(a, num=3, axis=1)[{i}]" for i in range(3)],
         lambda v: R.Unpack(value=v.a, num=3, axis=1)),
    ]
    return op_fixture(inputs, "ConcatV2, Pack and Unpack (each Unpack output is a graph output).", outputs)


def op_split() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 6, 4), normal(rng, (2, 6, 4)))]
    sizes = tf.constant([1, -1, 2], tf.int32)
    outputs = [
        ([f"Split(axis=1, num_split=3)[{i}]" for i in range(3)],
         lambda v: R.Split(axis=1, value=v.x, num_split=3)),
        ([f"SplitV(x, [1, -1, 2], axis=-1)[{i}]" for i in range(3)],
         lambda v: R.SplitV(value=v.x, size_splits=sizes, axis=-1, num_split=3)),
        ([f"Split(axis=-1, num_split=2)[{i}]" for i in range(2)],
         lambda v: R.Split(axis=-1, value=v.x, num_split=2)),
    ]
    return op_fixture(inputs, "Split and SplitV (with a -1 size); each piece is an output.", outputs)


def op_reshape_family() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("x", (None, 3, 4), normal(rng, (2, 3, 4))),
        Input("y", (None, 1, 4, 1), normal(rng, (2, 1, 4, 1))),
    ]
    shape = lambda *d: tf.constant(list(d), tf.int32)  # noqa: E731
    outputs = [
        ("Reshape(x, [-1, 12])", lambda v: R.Reshape(tensor=v.x, shape=shape(-1, 12))),
        ("Reshape(x, [-1, 2, 6])", lambda v: R.Reshape(tensor=v.x, shape=shape(-1, 2, 6))),
        ("Reshape(x, [-1]) int64 shape",
         lambda v: R.Reshape(tensor=v.x, shape=tf.constant([-1], tf.int64))),
        ("Squeeze(y, axis=[1])", lambda v: R.Squeeze(input=v.y, axis=[1])),
        ("Squeeze(y, axis=[-1, 1])", lambda v: R.Squeeze(input=v.y, axis=[-1, 1])),
        ("Squeeze(y) all size-1 dims (batch is 2)", lambda v: R.Squeeze(input=v.y)),
        ("ExpandDims(x, 0)", lambda v: R.ExpandDims(input=v.x, axis=0)),
        ("ExpandDims(x, -1)", lambda v: R.ExpandDims(input=v.x, axis=-1)),
        ("ExpandDims(x, 2)", lambda v: R.ExpandDims(input=v.x, axis=2)),
        ("Transpose(x, [2, 0, 1])", lambda v: R.Transpose(x=v.x, perm=[2, 0, 1])),
        ("Transpose(y, [0, 2, 3, 1])", lambda v: R.Transpose(x=v.y, perm=[0, 2, 3, 1])),
    ]
    return op_fixture(inputs, "Reshape, Squeeze, ExpandDims and Transpose.", outputs)


def op_tile_reverse() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("x", (None, 2, 3), normal(rng, (2, 2, 3))),
        Input("z", (3, 1), normal(rng, (3, 1))),
    ]
    outputs = [
        ("Tile(x, [1, 2, 3])", lambda v: R.Tile(input=v.x, multiples=[1, 2, 3])),
        ("Tile(x, [2, 1, 1])", lambda v: R.Tile(input=v.x, multiples=[2, 1, 1])),
        ("BroadcastTo(z, [2, 3, 4])", lambda v: R.BroadcastTo(input=v.z, shape=[2, 3, 4])),
        ("ReverseV2(x, [1])", lambda v: R.ReverseV2(tensor=v.x, axis=[1])),
        ("ReverseV2(x, [0, 2])", lambda v: R.ReverseV2(tensor=v.x, axis=[0, 2])),
        ("ReverseV2(x, [-1])", lambda v: R.ReverseV2(tensor=v.x, axis=[-1])),
    ]
    return op_fixture(inputs, "Tile, BroadcastTo and ReverseV2.", outputs)


def op_strided_slice() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 5, 6), normal(rng, (4, 5, 6)))]

    def raw(begin, end, strides, **masks):
        return lambda v: R.StridedSlice(input=v.x, begin=begin, end=end, strides=strides, **masks)

    outputs = [
        ("StridedSlice x[:, 1:4, ::2]", lambda v: v.x[:, 1:4, ::2]),
        ("StridedSlice x[..., 2] (ellipsis + shrink)", lambda v: v.x[..., 2]),
        ("StridedSlice x[1:, tf.newaxis, ::-1] (new axis, negative stride)",
         lambda v: v.x[1:, tf.newaxis, ::-1]),
        ("StridedSlice x[-1, -4:-1, 5:0:-2] (negative indices/stride, shrink)",
         lambda v: v.x[-1, -4:-1, 5:0:-2]),
        ("StridedSlice x[::-2, tf.newaxis, ..., 1:3]", lambda v: v.x[::-2, tf.newaxis, ..., 1:3]),
        ("StridedSlice x[:, 10:] (empty, clamped)", lambda v: v.x[:, 10:]),
        ("StridedSlice raw begin=[0,1,0] end=[0,4,0] strides=[1,1,-1] begin_mask=1 end_mask=5",
         raw([0, 1, 0], [0, 4, 0], [1, 1, -1], begin_mask=1, end_mask=5)),
        ("StridedSlice raw begin=[1,-2] end=[3,0] strides=[1,-1] ellipsis_mask=0 shrink_axis_mask=0",
         raw([1, -2], [3, 0], [1, -1])),
        ("Slice(x, [0, 1, 2], [-1, 3, 2])",
         lambda v: R.Slice(input=v.x, begin=[0, 1, 2], size=[-1, 3, 2])),
    ]
    return op_fixture(
        inputs,
        "StridedSlice from Python indexing (begin/end/ellipsis/new_axis/shrink_axis masks, "
        "negative indices and strides) and raw masks; Slice with a -1 size.",
        outputs,
        expect_ops=("StridedSlice", "Slice"),
    )


def op_gather() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("params", (None, 5, 4), normal(rng, (3, 5, 4))),
        Input("idx", (6,), rng.integers(0, 5, size=6).astype(np.int32)),
        Input("idx64", (3, 2), rng.integers(0, 4, size=(3, 2)).astype(np.int64)),
        Input("bidx", (None, 2), rng.integers(0, 5, size=(3, 2)).astype(np.int32)),
        Input("nd_idx", (4, 2), np.stack([rng.integers(0, 3, 4), rng.integers(0, 5, 4)], 1).astype(np.int32)),
    ]
    c = tf.constant([2, 0], tf.int32)
    outputs = [
        ("GatherV2(params, idx, axis=1)",
         lambda v: R.GatherV2(params=v.params, indices=v.idx, axis=1)),
        ("GatherV2(params, idx64 (3,2), axis=2)",
         lambda v: R.GatherV2(params=v.params, indices=v.idx64, axis=2)),
        ("GatherV2(params, const [2,0], axis=0)",
         lambda v: R.GatherV2(params=v.params, indices=c, axis=0)),
        ("GatherV2(params, bidx, axis=1, batch_dims=1)",
         lambda v: R.GatherV2(params=v.params, indices=v.bidx, axis=1, batch_dims=1)),
        ("GatherV2(params, idx, axis=-2)",
         lambda v: R.GatherV2(params=v.params, indices=v.idx, axis=-2)),
        ("GatherNd(params, nd_idx (4,2))", lambda v: R.GatherNd(params=v.params, indices=v.nd_idx)),
    ]
    return op_fixture(
        inputs, "GatherV2 (axis, batch_dims, int32/int64 indices) and GatherNd; indices in range.", outputs
    )


def op_select() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("cond", (None, 4), rng.random((3, 4)) > 0.5),
        Input("cond_rows", (None,), rng.random(3) > 0.5),
        Input("cond_cols", (1, 4), rng.random((1, 4)) > 0.5),
        Input("x", (None, 4), normal(rng, (3, 4))),
        Input("y", (None, 4), normal(rng, (3, 4))),
    ]
    outputs = [
        ("Select(cond, x, y) same shapes", lambda v: R.Select(condition=v.cond, x=v.x, y=v.y)),
        ("Select(cond_rows, x, y) rank-1 condition picks rows",
         lambda v: R.Select(condition=v.cond_rows, x=v.x, y=v.y)),
        ("SelectV2(cond_cols, x, scalar 0) broadcasting",
         lambda v: R.SelectV2(condition=v.cond_cols, t=v.x, e=tf.constant(0.0))),
        ("SelectV2(cond, x, y)", lambda v: R.SelectV2(condition=v.cond, t=v.x, e=v.y)),
    ]
    return op_fixture(inputs, "Select (v1 semantics incl. rank-1 condition) and broadcasting SelectV2.", outputs)


def op_onehot_range_fill() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("idx", (None,), np.array([0, 3, 5, -1, 2], np.int32)),
        Input("x", (None, 7), normal(rng, (2, 7))),
    ]
    f32 = lambda v: tf.constant(v, tf.float32)  # noqa: E731
    outputs = [
        ("OneHot(idx, depth=6, on=1, off=0, axis=-1) (-1 -> all off)",
         lambda v: R.OneHot(indices=v.idx, depth=6, on_value=f32(1.0), off_value=f32(0.0), axis=-1)),
        ("OneHot(idx, depth=4, on=5, off=-1, axis=0) (>= depth -> all off)",
         lambda v: R.OneHot(indices=v.idx, depth=4, on_value=f32(5.0), off_value=f32(-1.0), axis=0)),
        ("Range(0, Shape(x)[1], 1) int32",
         lambda v: R.Range(start=0, limit=tf.shape(v.x)[1], delta=1)),
        ("Range(0.5, 3.0, 0.25) float32",
         lambda v: R.Range(start=f32(0.5), limit=f32(3.0), delta=f32(0.25))),
        ("Range(10, 2, -3) int32", lambda v: R.Range(start=10, limit=2, delta=-3)),
        ("Fill(Shape(x), 2.5)", lambda v: R.Fill(dims=tf.shape(v.x), value=f32(2.5))),
        ("Fill([2, 3], 7) int32", lambda v: R.Fill(dims=[2, 3], value=7)),
    ]
    return op_fixture(
        inputs, "OneHot (out-of-range indices), Range (int/float, negative delta) and Fill.", outputs
    )


def op_cumsum() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 5, 3), normal(rng, (2, 5, 3)))]
    outputs = []
    for axis in (1, -1, 0):
        for exclusive in (False, True):
            for reverse in (False, True):
                outputs.append(
                    (f"Cumsum(x, axis={axis}, exclusive={exclusive}, reverse={reverse})",
                     lambda v, a=axis, e=exclusive, r=reverse: R.Cumsum(x=v.x, axis=a, exclusive=e, reverse=r))
                )
    return op_fixture(inputs, "Cumsum over three axes with all exclusive/reverse combinations.", outputs)


def op_topk() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 10), normal(rng, (4, 10)))]
    outputs = [
        ([f"TopKV2(x, k={k}).values", f"TopKV2(x, k={k}).indices int32"],
         lambda v, k=k: tuple(R.TopKV2(input=v.x, k=k)))
        for k in (3, 1, 10)
    ]
    return op_fixture(inputs, "TopKV2 (sorted) values and indices; inputs have no ties.", outputs)


def op_space_depth() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 4, 6, 8), normal(rng, (2, 4, 6, 8)))]
    outputs = [
        ("SpaceToDepth(x, block_size=2)", lambda v: R.SpaceToDepth(input=v.x, block_size=2)),
        ("DepthToSpace(x, block_size=2)", lambda v: R.DepthToSpace(input=v.x, block_size=2)),
        ("DepthToSpace(SpaceToDepth(x, 2), 2) roundtrip",
         lambda v: R.DepthToSpace(input=R.SpaceToDepth(input=v.x, block_size=2), block_size=2)),
    ]
    return op_fixture(inputs, "NHWC SpaceToDepth/DepthToSpace.", outputs)


def op_space_batch() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("x", (None, 4, 6, 3), normal(rng, (2, 4, 6, 3))),
        Input("y", (None, 3, 2, 2), normal(rng, (8, 3, 2, 2))),
    ]
    block = tf.constant([2, 2], tf.int32)
    pads = tf.constant([[0, 0], [1, 1]], tf.int32)
    crops = tf.constant([[0, 1], [1, 0]], tf.int32)
    outputs = [
        ("SpaceToBatchND(x, [2,2], [[0,0],[1,1]])",
         lambda v: R.SpaceToBatchND(input=v.x, block_shape=block, paddings=pads)),
        ("BatchToSpaceND(y, [2,2], crops [[0,1],[1,0]])",
         lambda v: R.BatchToSpaceND(input=v.y, block_shape=block, crops=crops)),
        ("BatchToSpaceND(SpaceToBatchND(x)) roundtrip (dilated-conv pattern)",
         lambda v: R.BatchToSpaceND(
             input=R.SpaceToBatchND(input=v.x, block_shape=block, paddings=pads),
             block_shape=block, crops=pads)),
    ]
    return op_fixture(inputs, "SpaceToBatchND/BatchToSpaceND with paddings and crops.", outputs)


def op_resize() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 4, 5, 2), normal(rng, (2, 4, 5, 2)))]

    def resize(op, size, align_corners, half_pixel):
        return lambda v: getattr(R, op)(
            images=v.x, size=size, align_corners=align_corners, half_pixel_centers=half_pixel
        )

    variants = [
        ("ResizeBilinear", [7, 9], False, True),
        ("ResizeBilinear", [7, 9], True, False),
        ("ResizeBilinear", [7, 9], False, False),
        ("ResizeBilinear", [3, 3], False, True),
        ("ResizeNearestNeighbor", [8, 10], False, True),
        ("ResizeNearestNeighbor", [7, 9], True, False),
        ("ResizeNearestNeighbor", [7, 9], False, False),
        ("ResizeNearestNeighbor", [3, 2], False, False),
        ("ResizeBicubic", [7, 9], False, True),
        ("ResizeBicubic", [7, 9], True, False),
    ]
    outputs = [
        (f"{op}(x, size={size}, align_corners={ac}, half_pixel_centers={hp})", resize(op, size, ac, hp))
        for op, size, ac, hp in variants
    ]
    return op_fixture(inputs, "Image resizing: up/down-scaling with every corner/half-pixel mode.", outputs)


def op_cast_shape() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("x", (None, 3, 4), normal(rng, (2, 3, 4)) * 3.0),
        Input("i", (None, 3), rng.integers(-100, 100, size=(2, 3)).astype(np.int32)),
    ]
    outputs = [
        ("Cast(x, int32) (truncates toward 0)", lambda v: R.Cast(x=v.x, DstT=tf.int32)),
        ("Cast(x, bool)", lambda v: R.Cast(x=v.x, DstT=tf.bool)),
        ("Cast(x > 0, float32)", lambda v: R.Cast(x=v.x > 0.0, DstT=tf.float32)),
        ("Cast(i, float32)", lambda v: R.Cast(x=v.i, DstT=tf.float32)),
        ("Cast(i, int64)", lambda v: R.Cast(x=v.i, DstT=tf.int64)),
        ("Cast(Cast(x, float16), float32) (rounding)",
         lambda v: R.Cast(x=R.Cast(x=v.x, DstT=tf.float16), DstT=tf.float32)),
        ("Cast(Cast(i, uint8), int32) (wraps)",
         lambda v: R.Cast(x=R.Cast(x=v.i, DstT=tf.uint8), DstT=tf.int32)),
        ("Shape(x) int32", lambda v: R.Shape(input=v.x)),
        ("Shape(x, out_type=int64)", lambda v: R.Shape(input=v.x, out_type=tf.int64)),
        ("Reshape(x, [Shape(x)[0], -1])",
         lambda v: R.Reshape(tensor=v.x, shape=tf.stack([R.Shape(input=v.x)[0], -1]))),
    ]
    return op_fixture(
        inputs,
        "Cast between float/int/bool/half/uint8; Shape, and the Keras-style dynamic "
        "Reshape(x, [Shape(x)[0], -1]) via StridedSlice + Pack.",
        outputs,
        expect_ops=("Cast", "Shape", "Reshape", "StridedSlice", "Pack"),
    )


def op_identity() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("x", (None, 4), normal(rng, (2, 4))),
        Input("y", (None, 3), normal(rng, (2, 3))),
    ]
    outputs = [
        ("IdentityN([x, y])[0] * 2", lambda v: R.IdentityN(input=[v.x, v.y])[0] * 2.0),
        ("IdentityN([x, y])[1] + 1", lambda v: R.IdentityN(input=[v.x, v.y])[1] + 1.0),
        ("StopGradient(x) - 1", lambda v: R.StopGradient(input=v.x) - 1.0),
        ("Snapshot(y) * y", lambda v: R.Snapshot(input=v.y) * v.y),
        ("Identity(x) + x", lambda v: R.Identity(input=v.x) + v.x),
    ]
    return op_fixture(
        inputs,
        "Pass-through ops IdentityN, StopGradient, Snapshot, Identity (followed by arithmetic "
        "so they are not graph outputs themselves).",
        outputs,
        expect_ops=("IdentityN", "StopGradient", "Snapshot", "Identity"),
    )


def op_const_dtypes() -> Fixture:
    rng = reset_seeds()
    inputs = [Input("x", (None, 4), normal(rng, (2, 4)))]
    consts = [
        ("float16", np.array([1.5, -2.25, 65504.0, 6e-5], np.float16)),
        ("bfloat16", np.array([1.5, -2.25, 3.0e38, 1e-3], np.float32)),
        ("float64", np.array([1.0 / 3.0, -2.5, 1e300, -1e-300])),
        ("int8", np.array([-128, -1, 0, 127], np.int8)),
        ("uint8", np.array([0, 1, 128, 255], np.uint8)),
        ("int16", np.array([-32768, -2, 7, 32767], np.int16)),
        ("uint16", np.array([0, 3, 40000, 65535], np.uint16)),
        ("int64", np.array([-(2**40), -3, 5, 2**40], np.int64)),
        ("uint32", np.array([0, 7, 2**31, 2**32 - 1], np.uint32)),
        ("bool", np.array([True, False, False, True])),
    ]
    outputs = []
    for name, value in consts:
        dtype = tf.bfloat16 if name == "bfloat16" else tf.as_dtype(value.dtype)
        outputs.append(
            (f"Cast(const {name} [4], float32) + x",
             lambda v, value=value, d=dtype: R.Cast(x=tf.constant(value, dtype=d), DstT=tf.float32) + v.x)
        )
    splat = tf.constant(1.25, tf.float32, shape=[2, 4])  # stored compactly: one float_val
    scalar = tf.constant(-3.0, tf.float64)
    outputs += [
        ("x * splat const (2,4) of 1.25 (one float_val)", lambda v: v.x * splat),
        ("x + Cast(scalar float64 const -3)", lambda v: v.x + R.Cast(x=scalar, DstT=tf.float32)),
        ("x + zeros const (2,4) (no values stored)", lambda v: v.x + tf.zeros([2, 4])),
    ]
    return op_fixture(
        inputs,
        "Const tensors of many dtypes (half, bfloat16, double, int8/16/64, uint8/16/32, bool, "
        "compact splat/zero encodings) cast to float32 and added to x: tests Const decoding.",
        outputs,
        expect_ops=("Const", "Cast"),
    )


def op_fakequant() -> Fixture:
    rng = reset_seeds()
    x = normal(rng, (4, 6, 5)) * 3.0
    x[0, 0] = [-6.0, 6.0, 0.0, 2.9, -0.7]  # range ends and a zero
    inputs = [Input("x", (None, 6, 5), x)]
    c = tf.constant
    per_min = c([-1.0, -2.5, 0.2, -3.3, -0.01], tf.float32)
    per_max = c([1.0, 0.5, 4.0, 3.3, 0.02], tf.float32)
    outputs = [
        ("FakeQuantWithMinMaxArgs(x, -6, 6)", lambda v: R.FakeQuantWithMinMaxArgs(inputs=v.x, min=-6.0, max=6.0)),
        ("FakeQuantWithMinMaxArgs(x, -0.7, 2.9, num_bits=4, narrow_range) (nudged)",
         lambda v: R.FakeQuantWithMinMaxArgs(inputs=v.x, min=-0.7, max=2.9, num_bits=4, narrow_range=True)),
        ("FakeQuantWithMinMaxArgs(x, 0.3, 5) (min > 0 nudged to 0)",
         lambda v: R.FakeQuantWithMinMaxArgs(inputs=v.x, min=0.3, max=5.0)),
        ("FakeQuantWithMinMaxVars(x, -2.3, 1.7)",
         lambda v: R.FakeQuantWithMinMaxVars(inputs=v.x, min=c(-2.3), max=c(1.7))),
        ("FakeQuantWithMinMaxVars(x, -1.1, 3.3, num_bits=5, narrow_range)",
         lambda v: R.FakeQuantWithMinMaxVars(inputs=v.x, min=c(-1.1), max=c(3.3), num_bits=5, narrow_range=True)),
        ("FakeQuantWithMinMaxVars(x, -5, -1) (max < 0 nudged to 0)",
         lambda v: R.FakeQuantWithMinMaxVars(inputs=v.x, min=c(-5.0), max=c(-1.0))),
        ("FakeQuantWithMinMaxVarsPerChannel(x, 5 mins, 5 maxes)",
         lambda v: R.FakeQuantWithMinMaxVarsPerChannel(inputs=v.x, min=per_min, max=per_max)),
        ("FakeQuantWithMinMaxVarsPerChannel(x, ..., num_bits=7, narrow_range)",
         lambda v: R.FakeQuantWithMinMaxVarsPerChannel(inputs=v.x, min=per_min, max=per_max, num_bits=7,
                                                        narrow_range=True)),
    ]  # fmt: skip
    return op_fixture(
        inputs,
        "FakeQuantWithMinMaxArgs / FakeQuantWithMinMaxVars (scalar const ranges) / "
        "FakeQuantWithMinMaxVarsPerChannel (last dimension) with num_bits 4-8, narrow_range, and ranges "
        "TensorFlow nudges so that zero is exactly representable (including ranges that exclude zero).",
        outputs,
    )


def fakequant_cnn() -> Fixture:
    """A small CNN in TF's quantization-aware-training form (what tfmot's default 8-bit scheme
    inserts): FakeQuantWithMinMaxVarsPerChannel (symmetric, narrow range) on conv weights,
    FakeQuantWithMinMaxVars (symmetric, narrow range) on dense weights, FakeQuantWithMinMaxVars on activations
    after each ReLU, FakeQuantWithMinMaxArgs on the input. Activation ranges are the min/max of the
    float network over the stored inputs (a calibration, as QAT's moving averages would give)."""
    rng = reset_seeds()
    image = normal(rng, (4, 8, 8, 3))
    inputs = [Input("image", (None, 8, 8, 3), image)]
    w1 = (normal(rng, (3, 3, 3, 8)) * 0.4 * np.linspace(0.3, 1.5, 8)).astype(np.float32)
    b1 = normal(rng, (8,)) * 0.1
    w2 = (normal(rng, (3, 3, 8, 16)) * 0.2).astype(np.float32)
    b2 = normal(rng, (16,)) * 0.1
    w3 = (normal(rng, (4 * 4 * 16, 10)) * 0.1).astype(np.float32)
    b3 = normal(rng, (10,)) * 0.1

    def per_channel(w):  # symmetric, as tfmot's weight quantizers
        bound = np.abs(w).max(axis=(0, 1, 2))
        return R.FakeQuantWithMinMaxVarsPerChannel(inputs=w, min=tf.constant(-bound), max=tf.constant(bound),
                                                   narrow_range=True)  # fmt: skip

    def layers(x, fq):
        x = fq("input", x)
        y = tf.nn.relu(R.Conv2D(input=x, filter=per_channel(w1), strides=[1, 1, 1, 1], padding="SAME") + b1)
        y = fq("conv1", y)
        y = tf.nn.relu6(R.Conv2D(input=y, filter=per_channel(w2), strides=[1, 2, 2, 1], padding="SAME") + b2)
        y = fq("conv2", y)
        bound = np.abs(w3).max()
        wq = R.FakeQuantWithMinMaxVars(inputs=w3, min=tf.constant(-bound), max=tf.constant(bound), narrow_range=True)
        logits = R.MatMul(a=tf.reshape(y, [-1, 4 * 4 * 16]), b=wq) + b3
        return fq("logits", logits)

    ranges = {}

    def observe(name, x):
        ranges[name] = (float(tf.reduce_min(x)), float(tf.reduce_max(x)))
        return x

    layers(tf.constant(image), observe)

    def fake_quant(name, x):
        low, high = ranges[name]
        if name == "input":
            return R.FakeQuantWithMinMaxArgs(inputs=x, min=low, max=high)
        return R.FakeQuantWithMinMaxVars(inputs=x, min=tf.constant(low), max=tf.constant(high))

    return Fixture(
        fn=lambda x: layers(x, fake_quant),
        inputs=inputs,
        description="Quantization-aware-training style CNN on (N, 8, 8, 3): FakeQuantWithMinMaxArgs(input) -> "
        "Conv2D 3x3 (8, weights FakeQuantWithMinMaxVarsPerChannel symmetric narrow_range) + bias -> ReLU -> "
        "FakeQuantWithMinMaxVars -> Conv2D 3x3/2 (16, per-channel fake-quant weights) + bias -> ReLU6 -> "
        "FakeQuantWithMinMaxVars -> flatten -> MatMul (weights FakeQuantWithMinMaxVars symmetric narrow_range) + bias -> "
        "FakeQuantWithMinMaxVars. Random weights (seed 0); activation ranges are the float network's min/max "
        "on the stored inputs.",
        output_descriptions=["fake-quantized logits (N, 10)"],
        expect_ops=("FakeQuantWithMinMaxArgs", "FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel",
                    "Conv2D", "MatMul"),
    )  # fmt: skip


# ---------------------------------------------------------------------------------
# Graphs graphc must reject
# ---------------------------------------------------------------------------------


def unsupported_ops() -> Fixture:
    rng = reset_seeds()
    inputs = [
        Input("x", (None, 4), positive(rng, (2, 4), 0.5, 3.0)),
        Input("m", (3, 3), normal(rng, (3, 3))),
    ]
    outputs = [
        ("Relu(Lgamma(x) + Digamma(x))",
         lambda v: R.Relu(features=R.Lgamma(x=v.x) + R.Digamma(x=v.x))),
        ("MatrixDeterminant(m) * 2", lambda v: R.MatrixDeterminant(input=v.m) * 2.0),
        ("Sigmoid(x) (supported)", lambda v: R.Sigmoid(x=v.x)),
    ]
    return op_fixture(
        inputs,
        "Graph mixing supported ops with unsupported Lgamma, Digamma and MatrixDeterminant.",
        outputs,
        expect_ops=("Lgamma", "Digamma", "MatrixDeterminant", "Relu", "Sigmoid", "AddV2"),
    )


def _while_loop_fn(x):
    def body(i, acc):
        return i + 1, acc * 0.5 + tf.tanh(acc)

    _, acc = tf.while_loop(lambda i, acc: i < 5, body, [tf.constant(0), x])
    return acc


def while_loop() -> Fixture:
    rng = reset_seeds()
    return Fixture(
        _while_loop_fn,
        [Input("x", (None, 4), normal(rng, (2, 4)))],
        "tf.while_loop (5 iterations of acc = 0.5*acc + tanh(acc)), frozen with the default "
        "lower_control_flow=True: TF1-style Enter/Merge/Switch/NextIteration/Exit/LoopCond.",
        ["loop result"],
    )


def while_loop_v2() -> Fixture:
    fixture = while_loop()
    fixture.description = (
        "The while_loop fixture frozen with lower_control_flow=False: a functional "
        "(Stateless)While node whose cond/body are FunctionDefs in the graph library."
    )
    fixture.lower_control_flow = False
    return fixture


FIXTURES: dict[str, Callable[[], Fixture]] = {
    "mlp": mlp,
    "digits_cnn": digits_cnn,
    "mobilenet_v2": mobilenet_v2,
    "transformer_block": transformer_block,
    "gru": gru,
    "lstm": lstm,
    "op_unary": op_unary,
    "op_binary": op_binary,
    "op_compare_logical": op_compare_logical,
    "op_reduce": op_reduce,
    "op_argminmax": op_argminmax,
    "op_softmax": op_softmax,
    "op_conv2d": op_conv2d,
    "op_conv2d_nchw": op_conv2d_nchw,
    "op_depthwise": op_depthwise,
    "op_conv_transpose": op_conv_transpose,
    "op_pool": op_pool,
    "op_batchnorm": op_batchnorm,
    "op_matmul": op_matmul,
    "op_einsum": op_einsum,
    "op_pad": op_pad,
    "op_concat_pack": op_concat_pack,
    "op_split": op_split,
    "op_reshape_family": op_reshape_family,
    "op_tile_reverse": op_tile_reverse,
    "op_strided_slice": op_strided_slice,
    "op_gather": op_gather,
    "op_select": op_select,
    "op_onehot_range_fill": op_onehot_range_fill,
    "op_cumsum": op_cumsum,
    "op_topk": op_topk,
    "op_space_depth": op_space_depth,
    "op_space_batch": op_space_batch,
    "op_resize": op_resize,
    "op_cast_shape": op_cast_shape,
    "op_identity": op_identity,
    "op_const_dtypes": op_const_dtypes,
    "op_fakequant": op_fakequant,
    "fakequant_cnn": fakequant_cnn,
}

BAD_FIXTURES: dict[str, Callable[[], Fixture]] = {
    "unsupported_ops": unsupported_ops,
    "while_loop": while_loop,
    "while_loop_v2": while_loop_v2,
}


# ---------------------------------------------------------------------------------
# Freezing, running, writing
# ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Frozen:
    graph_def_bytes: bytes
    input_names: list[str]  # placeholder node names
    output_names: list[str]  # output node names (all ":0")
    concrete: object  # the unfrozen ConcreteFunction, for the eager cross-check
    op_types: collections.Counter


def freeze(fixture: Fixture) -> Frozen:
    specs = [inp.spec() for inp in fixture.inputs]
    concrete = tf.function(fixture.fn, input_signature=specs, autograph=False).get_concrete_function()
    frozen = convert_variables_to_constants_v2(
        concrete, lower_control_flow=fixture.lower_control_flow
    )
    graph_def = canonicalize(frozen.graph.as_graph_def())
    input_names = [_node_name(t.name) for t in frozen.inputs]
    output_names = [_node_name(t.name) for t in frozen.outputs]
    expected_inputs = [inp.name for inp in fixture.inputs]
    if input_names != expected_inputs:
        raise RuntimeError(f"placeholders {input_names} != declared inputs {expected_inputs}")
    if len(output_names) != len(fixture.output_descriptions):
        raise RuntimeError(
            f"{len(output_names)} outputs but {len(fixture.output_descriptions)} descriptions"
        )
    ops = collections.Counter(node.op for node in graph_def.node)
    for function in graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return Frozen(
        graph_def.SerializeToString(deterministic=True), input_names, output_names, concrete, ops
    )


def canonicalize(graph_def):
    """Make the GraphDef independent of TensorFlow's run-to-run choices so regenerating
    a fixture gives identical bytes: nodes in a topological order with ties broken by
    name (back edges from NextIteration ignored), library functions renamed from
    process-global counters (``while_body_20731``) to their sorted position
    (``while_body_0``).  TF1-style lowered control flow (the while_loop fixture) still
    varies between runs: TensorFlow's lowering itself is not deterministic."""
    nodes = {node.name: node for node in graph_def.node}
    users = collections.defaultdict(list)
    pending = {}
    for node in graph_def.node:
        deps = {_input_node(i) for i in node.input} & nodes.keys()
        deps = {d for d in deps if nodes[d].op != "NextIteration"}
        pending[node.name] = len(deps)
        for dep in deps:
            users[dep].append(node.name)
    ready = [name for name, count in pending.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for user in users[name]:
            pending[user] -= 1
            if pending[user] == 0:
                heapq.heappush(ready, user)
    order += sorted(nodes.keys() - set(order))  # cycles: should not happen

    def stem_and_number(name: str):
        match = re.fullmatch(r"(.*?)_?(\d*)", name)
        return match.group(1), int(match.group(2) or -1)

    functions = sorted(graph_def.library.function, key=lambda f: stem_and_number(f.signature.name))
    renames = {
        f.signature.name: f"{stem_and_number(f.signature.name)[0]}_{index}"
        for index, f in enumerate(functions)
    }

    result = tf.compat.v1.GraphDef()
    result.CopyFrom(graph_def)
    del result.node[:]
    result.node.extend(nodes[name] for name in order)
    if renames:
        del result.library.function[:]
        result.library.function.extend(functions)
        for function in result.library.function:
            function.signature.name = renames[function.signature.name]
            for node in function.node_def:
                _rename_functions(node.attr, renames)
        for node in result.node:
            _rename_functions(node.attr, renames)
    return result


def _input_node(input_name: str) -> str:
    return input_name.lstrip("^").split(":")[0]


def _rename_functions(attrs, renames) -> None:
    for value in attrs.values():
        funcs = [value.func] if value.HasField("func") else list(value.list.func)
        for func in funcs:
            func.name = renames.get(func.name, func.name)
            _rename_functions(func.attr, renames)


def _node_name(tensor_name: str) -> str:
    name, _, index = tensor_name.partition(":")
    if index != "0":
        raise RuntimeError(f"graph output {tensor_name} is not output 0 of its node")
    return name


def session_runner(graph_def_bytes: bytes, input_names, output_names):
    """A function running the serialized frozen graph: feeds {name: array} -> outputs."""
    graph_def = tf.compat.v1.GraphDef.FromString(graph_def_bytes)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    fetches = [name + ":0" for name in output_names]

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with tf.compat.v1.Session(graph=graph) as session:
            values = session.run(fetches, {name + ":0": feeds[name] for name in input_names})
        return [np.asarray(v) for v in values]

    return run


def check_against_eager(fixture: Fixture, frozen: Frozen, outputs: list[np.ndarray]) -> str:
    """Compare the frozen graph's outputs with the unfrozen function run eagerly."""
    try:
        eager = frozen.concrete(*[tf.constant(inp.value) for inp in fixture.inputs])
    except (tf.errors.OpError, ValueError) as err:
        return f"eager run failed ({type(err).__name__}), not cross-checked"
    eager = tf.nest.flatten(eager)
    for name, got, want in zip(frozen.output_names, outputs, eager):
        want = want.numpy()
        if got.shape != want.shape or got.dtype != want.dtype:
            raise RuntimeError(f"{name}: frozen {got.dtype}{got.shape} vs eager {want.dtype}{want.shape}")
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)
    return "matches eager"


def make_fixture(name: str, build: Callable[[], Fixture], out_dir: Path, with_npz: bool) -> dict:
    fixture = build()
    frozen = freeze(fixture)
    present = set(frozen.op_types)
    missing = [op for op in fixture.expect_ops if op not in present]
    forbidden = sorted(present & set(fixture.forbid_ops))
    if missing or forbidden:
        raise RuntimeError(
            f"{name}: missing ops {missing}, forbidden ops present {forbidden}; "
            f"ops: {dict(sorted(frozen.op_types.items()))}"
        )

    description = fixture.description
    feeds = {inp.name: inp.value for inp in fixture.inputs}
    run = session_runner(frozen.graph_def_bytes, frozen.input_names, frozen.output_names)
    try:
        outputs = run(feeds)
        check = check_against_eager(fixture, frozen, outputs)
    except tf.errors.OpError as err:
        if fixture.fallback is None:
            raise
        print(f"  {name}: TensorFlow cannot run the graph ({type(err).__name__}); using fallback")
        outputs = [np.asarray(v) for v in fixture.fallback(*feeds.values())]
        description += fixture.fallback_note
        check = "fallback outputs"

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.pb").write_bytes(frozen.graph_def_bytes)
    meta = {
        "description": description,
        "inputs": {
            inp.name: {
                "shape": [-1 if d is None else int(d) for d in inp.shape],
                "dtype": inp.value.dtype.name,
            }
            for inp in fixture.inputs
        },
        "outputs": frozen.output_names,
        "input_shapes": {inp.name: list(inp.value.shape) for inp in fixture.inputs},
        "output_descriptions": dict(zip(frozen.output_names, fixture.output_descriptions)),
        "output_dtypes": {n: v.dtype.name for n, v in zip(frozen.output_names, outputs)},
        "output_shapes": {n: list(v.shape) for n, v in zip(frozen.output_names, outputs)},
        "op_types": sorted(present),
        "tensorflow_version": tf.__version__,
        "generator": "tools/make_tf_fixtures.py",
    }
    write_json(out_dir / f"{name}.json", meta)
    if with_npz:
        arrays = {f"input:{k}": v for k, v in feeds.items()}
        arrays.update({f"output:{n}": v for n, v in zip(frozen.output_names, outputs)})
        write_npz(out_dir / f"{name}.npz", arrays)
    if fixture.extras is not None:
        for stem, extra in fixture.extras(run).items():
            write_npz(out_dir / f"{stem}.npz", extra)
    return {"name": name, "nodes": sum(frozen.op_types.values()), "ops": frozen.op_types, "check": check}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "tests/fixtures/tf")
    parser.add_argument("--bad-out", type=Path, default=REPO_ROOT / "tests/fixtures/bad")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="fixtures to (re)generate")
    parser.add_argument("--list", action="store_true", help="list fixture names and exit")
    args = parser.parse_args(argv)
    tf.config.experimental.enable_op_determinism()  # reproducible digits_cnn training

    jobs = [(n, b, args.out, True) for n, b in FIXTURES.items()]
    jobs += [(n, b, args.bad_out, False) for n, b in BAD_FIXTURES.items()]
    if args.list:
        print("\n".join(name for name, *_ in jobs))
        return 0
    if args.only:
        unknown = sorted(set(args.only) - {name for name, *_ in jobs})
        if unknown:
            parser.error(f"unknown fixtures: {', '.join(unknown)}")
        jobs = [job for job in jobs if job[0] in args.only]

    for name, build, out_dir, with_npz in jobs:
        print(f"{name} ...", flush=True)
        info = make_fixture(name, build, out_dir, with_npz)
        size = (out_dir / f"{name}.pb").stat().st_size
        print(f"  {size:,} bytes, {info['nodes']} nodes, {info['check']}")
        print("  ops: " + ", ".join(f"{op}x{n}" for op, n in sorted(info["ops"].items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
