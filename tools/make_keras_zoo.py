#!/usr/bin/env python3
"""Freeze Keras application models (random weights) for a held-out family check. Needs TensorFlow.

    /path/to/tf-venv/bin/python tools/make_keras_zoo.py --out /tmp/graphc-zoo [NAME ...]
    python tools/check_models.py /tmp/graphc-zoo          # graphc (no TensorFlow) vs TF's outputs

These models are not test fixtures (too large to commit); they check that the TensorFlow front end
and the backends handle whole model families — ResNet, DenseNet, Inception, MobileNetV3,
EfficientNet, … — beyond the committed fixtures. Files use the fixture format: NAME.pb, NAME.npz
(`input:<name>`, `output:<name>`), NAME.json. Batch-norm statistics are randomised so folding is
really exercised.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np


def _apps():
    import keras

    a = keras.applications
    return {
        "resnet50": lambda: a.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10),
        "resnet50v2": lambda: a.ResNet50V2(weights=None, input_shape=(64, 64, 3), classes=10),
        "densenet121": lambda: a.DenseNet121(weights=None, input_shape=(64, 64, 3), classes=10),
        "inception_v3": lambda: a.InceptionV3(weights=None, input_shape=(96, 96, 3), classes=10),
        "mobilenet_v3_small": lambda: a.MobileNetV3Small(weights=None, input_shape=(96, 96, 3), classes=10),
        "mobilenet_v3_large": lambda: a.MobileNetV3Large(weights=None, input_shape=(96, 96, 3), classes=10, alpha=0.75),
        "mobilenet_v1": lambda: a.MobileNet(weights=None, input_shape=(96, 96, 3), classes=10, alpha=0.5),
        "efficientnet_b0": lambda: a.EfficientNetB0(weights=None, input_shape=(96, 96, 3), classes=10),
        "efficientnet_v2_b0": lambda: a.EfficientNetV2B0(weights=None, input_shape=(96, 96, 3), classes=10),
        "nasnet_mobile": lambda: a.NASNetMobile(weights=None, input_shape=(96, 96, 3), classes=10),
        "convnext_tiny": lambda: a.ConvNeXtTiny(weights=None, input_shape=(64, 64, 3), classes=10),
        "xception": lambda: a.Xception(weights=None, input_shape=(96, 96, 3), classes=10),
        "vgg16": lambda: a.VGG16(weights=None, input_shape=(48, 48, 3), classes=10),
    }


def _randomise_batchnorm(model, rng) -> None:
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            new = []
            for w in layer.get_weights():
                name_free = rng.uniform(0.5, 1.5, size=w.shape).astype(np.float32)
                new.append(name_free)
            layer.set_weights(new)


def freeze(model, path_stem: str, rng) -> None:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name="input")
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    with open(path_stem + ".pb", "wb") as f:
        f.write(graph_def.SerializeToString())
    x = rng.uniform(-1, 1, size=(1, *model.input_shape[1:])).astype(np.float32)
    outputs = frozen(tf.constant(x))
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    output_names = [t.name.split(":")[0] for t in frozen.outputs]
    input_name = frozen.inputs[0].name.split(":")[0]
    np.savez(
        path_stem + ".npz",
        **{f"input:{input_name}": x},
        **{f"output:{n}": np.asarray(o) for n, o in zip(output_names, outputs)},
    )
    with open(path_stem + ".json", "w") as f:
        json.dump(
            {
                "inputs": {input_name: {"shape": [-1, *model.input_shape[1:]], "dtype": "float32"}},
                "input_shapes": {input_name: list(x.shape)},
                "outputs": output_names,
                "description": f"keras.applications {model.name}, random weights",
            },
            f,
            indent=1,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*")
    parser.add_argument("--out", default="/tmp/graphc-zoo")
    args = parser.parse_args()
    import keras

    os.makedirs(args.out, exist_ok=True)
    apps = _apps()
    for name in args.names or list(apps):
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        model = apps[name]()
        _randomise_batchnorm(model, rng)
        freeze(model, os.path.join(args.out, name), rng)
        print(f"{name}: {os.path.getsize(os.path.join(args.out, name + '.pb')) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
