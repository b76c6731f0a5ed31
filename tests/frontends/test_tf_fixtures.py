"""Every TensorFlow fixture imports, verifies, round-trips as MLIR text and matches TF's outputs.

Fixtures are `tests/fixtures/tf/NAME.pb` + `NAME.npz` + `NAME.json`, written by
`tools/make_tf_fixtures.py`; new ones are picked up automatically. Evaluation uses the graph
dialect's semantics in numpy (`graphc.dialects.semantics`), so this tests the front end alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphc.context import parse_module
from graphc.dialects.semantics import evaluate_program
from graphc.frontends.tensorflow import import_graphdef, inspect_graphdef
from graphc.testing import load_fixture, tolerance_violation

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.pb") if p.with_suffix(".json").exists() and p.with_suffix(".npz").exists())

if not NAMES:
    pytestmark = pytest.mark.skip(reason=f"no TensorFlow fixtures in {FIXTURES}")


def _import(name: str):
    fixture = load_fixture(str(FIXTURES / name))
    data = Path(fixture.model_path).read_bytes()
    program = import_graphdef(data, source=f"{name}.pb", input_shapes=fixture.input_shapes)
    return fixture, program


@pytest.mark.parametrize("name", NAMES or ["none"])
def test_fixture_imports_and_round_trips(name):
    fixture, program = _import(name)
    program.module.verify()
    text = str(program.module)
    reparsed = parse_module(text, source=name)
    reparsed.verify()
    assert str(reparsed) == text
    assert sorted(program.output_names) == sorted(fixture.meta["outputs"])
    assert sorted(program.input_names) == sorted(fixture.inputs)


KNOWN_DIFFERENCES: dict[tuple[str, str], float] = {
    # (fixture, output) -> absolute tolerance, for outputs where graph semantics knowingly differ
    # from TensorFlow; the test fails once such an output matches, so the list stays true.
    # FakeQuantWithMinMaxArgs(x, -6, 6) at x = -6: x / scale is exactly -127.5, which TensorFlow
    # rounds up (floor(v + 1/2)) and quantize rounds to even: one step (12/255) apart.
    ("op_fakequant", "Identity"): 12 / 255 * 1.0001,
}


@pytest.mark.parametrize("name", NAMES or ["none"])
def test_fixture_matches_tensorflow(name):
    fixture, program = _import(name)
    got = evaluate_program(program, fixture.inputs, xp=np)
    problems = []
    for out_name, ref in fixture.outputs.items():
        if out_name not in got:
            problems.append(f"{out_name}: missing")
            continue
        violation = tolerance_violation(np.asarray(got[out_name]), ref)
        known = KNOWN_DIFFERENCES.get((name, out_name))
        if known is not None:
            assert violation, f"{name}/{out_name} now matches TensorFlow: remove it from KNOWN_DIFFERENCES"
            np.testing.assert_allclose(got[out_name], ref, atol=known, rtol=0)
            continue
        if violation:
            label = fixture.meta.get("output_descriptions", {}).get(out_name, "")
            problems.append(f"{out_name} [{label}]: {violation}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", NAMES or ["none"])
def test_fixture_inspect(name):
    fixture = load_fixture(str(FIXTURES / name))
    info = inspect_graphdef(Path(fixture.model_path).read_bytes(), source=f"{name}.pb")
    assert sorted(info["outputs"]) == sorted(fixture.meta["outputs"])
    assert sorted(i["name"] for i in info["inputs"]) == sorted(fixture.inputs)
    for item in info["inputs"]:
        assert item["shape"] == fixture.meta["inputs"][item["name"]]["shape"]
    assert not info["unsupported"]
    assert info["parameters"] >= 0


def test_digits_cnn_test_accuracy_equals_tensorflow():
    stem = FIXTURES / "digits_cnn"
    testset = FIXTURES / "digits_cnn_testset.npz"
    if not (stem.with_suffix(".pb").exists() and testset.exists()):
        pytest.skip("digits_cnn fixture not generated")
    data = np.load(testset)
    x, y, tf_pred = data["x"], data["y"], data["tf_pred"]
    program = import_graphdef(stem.with_suffix(".pb").read_bytes(), source="digits_cnn.pb",
                              input_shapes={"image": x.shape})  # fmt: skip
    (probs,) = evaluate_program(program, {"image": x}, xp=np).values()
    pred = np.asarray(probs).argmax(axis=1)
    assert float((pred == y).mean()) == float((tf_pred == y).mean())
    np.testing.assert_array_equal(pred, tf_pred)
