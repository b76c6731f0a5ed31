"""Every TensorFlow fixture, compiled for each backend, matches TensorFlow's stored outputs.

Fixtures come from tools/make_tf_fixtures.py (TensorFlow's own outputs on fixed inputs);
tolerances are graphc.testing's (float32: 1e-4·max(1, max|ref|) + 1e-3·|ref|; integers exact).
"""

import os

import numpy as np
import pytest

import graphc
from graphc.testing import compare_outputs, is_quantized_fixture, load_fixture

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "tf")
NAMES = sorted(f[:-3] for f in os.listdir(FIXTURES)
               if f.endswith(".pb") and not is_quantized_fixture(os.path.join(FIXTURES, f[:-3])))  # fmt: skip
TARGETS = ["cpu", "reference"]


@pytest.fixture(scope="module", params=TARGETS)
def target(request):
    return request.param


@pytest.mark.parametrize("name", NAMES)
def test_fixture_matches_tensorflow(name, target):
    fixture = load_fixture(os.path.join(FIXTURES, name))
    model = graphc.compile(fixture.model_path, target=target, input_shapes=fixture.input_shapes)
    assert model.output_names == list(fixture.outputs) or set(model.output_names) == set(fixture.outputs)
    problems = compare_outputs(model.run(fixture.inputs), fixture.outputs)
    assert not problems, "; ".join(problems)


def test_digits_cnn_accuracy_equals_tensorflow(tmp_path):
    fixture = load_fixture(os.path.join(FIXTURES, "digits_cnn"))
    with np.load(os.path.join(FIXTURES, "digits_cnn_testset.npz")) as data:
        x, y, tf_pred = data["x"], data["y"], data["tf_pred"]
    (input_name,) = fixture.inputs
    model = graphc.compile(fixture.model_path, target="cpu", input_shapes={input_name: x.shape})
    path = tmp_path / "digits.gcx"
    model.save(path)
    (probs,) = graphc.load(str(path)).run({input_name: x.astype(np.float32)}).values()
    pred = probs.argmax(axis=1)
    assert (pred == y).mean() == (tf_pred == y).mean()
    assert (pred == tf_pred).all()


def test_batch_size_is_a_compile_time_choice():
    fixture = load_fixture(os.path.join(FIXTURES, "mlp"))
    (name,) = fixture.inputs
    x = np.concatenate([fixture.inputs[name]] * 3)
    model = graphc.compile(fixture.model_path, input_shapes={name: x.shape})
    (got,) = model.run({name: x}).values()
    (ref,) = fixture.outputs.values()
    np.testing.assert_allclose(got, np.concatenate([ref] * 3), rtol=1e-3, atol=1e-4)
