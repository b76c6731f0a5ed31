"""int8 vs float accuracy of graphc's post-training quantization; prints a table.

- digits CNN: test-set accuracy (450 images, `tests/fixtures/tf/digits_cnn_testset.npz`) of the int8
  model vs the float model (target: a drop of at most 0.5 points). Calibration: 256 images of the
  *training* split (`tests/fixtures/tf/digits_cnn_calibration.npz`, `make_calibration_samples.py`).
- MobileNetV2 (α 0.35, 96×96, random weights) and the transformer block: SQNR of int8 outputs vs
  float outputs, 10·log10(Σ f² / Σ (f − q)²) in dB over evaluation inputs (target ≥ 25 dB).
  Their fixtures are synthetic (random weights, standard-normal inputs), so calibration uses
  seeded standard-normal inputs (seed 1234, `synthetic_samples`) and evaluation other seeded ones
  (seed 99) plus the fixture's stored input — calibration never sees the evaluation inputs.

    python tools/quant_accuracy.py [--target cpu|reference] [--observer minmax|percentile|both]

The int8 model runs on `--target` (default cpu: the native int8 kernels); the float model on the
reference backend.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures", "tf")

from make_calibration_samples import DIGITS_CALIBRATION, synthetic_samples  # noqa: E402


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    reference = np.asarray(reference, np.float64)
    noise = np.sum((reference - np.asarray(test, np.float64)) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference**2) / noise))


def _compile(stem: str, target: str, samples=None, observer: str = "minmax"):
    import graphc
    from graphc.calibration import QuantizeOptions
    from graphc.testing import load_fixture

    fx = load_fixture(os.path.join(FIXTURES, stem))
    quantize = QuantizeOptions(samples, observer) if samples is not None else None
    return fx, graphc.compile(fx.model_path, target, fx.input_shapes, quantize=quantize)


def digits(target: str, observer: str) -> dict:
    _, int8 = _compile("digits_cnn", target, DIGITS_CALIBRATION, observer)
    _, fp = _compile("digits_cnn", "reference")
    data = np.load(os.path.join(FIXTURES, "digits_cnn_testset.npz"))
    x, y = data["x"], data["y"]
    batch = int8.artifact.inputs[0].shape[0]
    count = -(-len(x) // batch) * batch
    padded = np.concatenate([x, x[: count - len(x)]])
    pred_q, pred_f = [], []
    for i in range(0, count, batch):
        pred_q.append(int8.run({"image": padded[i : i + batch]})["Identity"].argmax(1))
        pred_f.append(fp.run({"image": padded[i : i + batch]})["Identity"].argmax(1))
    acc_q = float((np.concatenate(pred_q)[: len(x)] == y).mean() * 100)
    acc_f = float((np.concatenate(pred_f)[: len(x)] == y).mean() * 100)
    return {"model": "digits CNN", "metric": "test accuracy %", "float": acc_f, "int8": acc_q,
            "result": f"drop {acc_f - acc_q:+.2f} pt", "ok": acc_f - acc_q <= 0.5}  # fmt: skip


def sqnr(stem: str, label: str, target: str, observer: str, calibration: int = 32, evaluation: int = 8) -> dict:
    from graphc.testing import load_fixture

    fx = load_fixture(os.path.join(FIXTURES, stem))
    (name, shape), = fx.input_shapes.items() if fx.input_shapes else [(k, v.shape) for k, v in fx.inputs.items()]
    samples = {name: synthetic_samples(tuple(shape), calibration, seed=1234)}
    _, int8 = _compile(stem, target, samples, observer)
    _, fp = _compile(stem, "reference")
    inputs = [fx.inputs[name], *synthetic_samples(tuple(shape), evaluation, seed=99)]
    ref = np.concatenate([fp.run({name: x})[fp.output_names[0]].reshape(-1) for x in inputs])
    got = np.concatenate([int8.run({name: x})[int8.output_names[0]].reshape(-1) for x in inputs])
    value = sqnr_db(ref, got)
    return {"model": label, "metric": "SQNR dB", "float": None, "int8": value, "result": f"{value:.1f} dB",
            "ok": value >= 25.0}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="cpu", choices=["cpu", "reference"])
    parser.add_argument("--observer", default="both", choices=["minmax", "percentile", "both"])
    args = parser.parse_args()
    observers = ["minmax", "percentile"] if args.observer == "both" else [args.observer]
    rows = []
    for observer in observers:
        for row in (digits(args.target, observer),
                    sqnr("mobilenet_v2", "MobileNetV2", args.target, observer),
                    sqnr("transformer_block", "transformer block", args.target, observer)):  # fmt: skip
            rows.append({"observer": observer, **row})
    print(f"int8 ({args.target}) vs float (reference)")
    print(f"{'model':<18} {'observer':<10} {'metric':<16} {'float':>8} {'int8':>8}  result          target")
    for r in rows:
        fl = f"{r['float']:.2f}" if r["float"] is not None else "-"
        target = "drop <= 0.5 pt" if r["metric"].startswith("test") else ">= 25 dB"
        print(f"{r['model']:<18} {r['observer']:<10} {r['metric']:<16} {fl:>8} {r['int8']:>8.2f}  "
              f"{r['result']:<15} {target} {'ok' if r['ok'] else 'MISSED'}")  # fmt: skip
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
