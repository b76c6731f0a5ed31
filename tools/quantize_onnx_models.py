#!/usr/bin/env python3
"""Make the pre-quantized ONNX fixtures in `tests/fixtures/onnx/` with onnxruntime's quantizer.

graphc never imports `onnxruntime.quantization`; this script only regenerates committed files. Run it
from the repository root with a Python that has onnx and onnxruntime (graphc's venv has both):

    python tools/quantize_onnx_models.py [--out tests/fixtures/onnx] [--only NAME ...]

Each fixture is post-training static quantization (`quantize_static`, MinMax calibration) of a
committed float fixture, with weights int8 symmetric per output channel:

* `digits_cnn_qdq` — `digits_cnn.onnx` in QDQ format (QuantizeLinear/DequantizeLinear around float
  ops), int8 activations. Calibration: the first 64 images of the TF fixture's held-out test set
  (`tests/fixtures/tf/digits_cnn_testset.npz`), which the stored 8 inputs are not among.
* `digits_cnn_qdq_uint8` — the same with uint8 activations (onnxruntime's CPU default for QDQ).
* `digits_cnn_qop` — the same model in QOperator format, only Conv and MatMul quantized (so the file
  holds the standard QLinearConv/QLinearMatMul/QuantizeLinear/DequantizeLinear, not onnxruntime's
  com.microsoft QLinearAdd & co.), uint8 activations (onnxruntime's CPU default), so graphc's
  uint8 → int8 mapping is exercised.
* `resnet_nchw_qdq` — `resnet_nchw.onnx` in QDQ format, int8 activations. Calibration: 16 random
  images from a fixed-seed normal distribution (the float fixture's input distribution).

Inputs are the float fixture's stored inputs; expected outputs are onnxruntime's (CPU, one
intra-op thread, so reruns are byte-identical). The JSON records versions, op counts and how far
the quantized outputs are from the float model's (a sanity check on the calibration, not a test).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from export_onnx_models import run_onnxruntime  # noqa: E402  (tools/ is on sys.path: scripts run from there)
from fixture_io import write_json, write_npz  # noqa: E402
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "onnx"
TF_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "tf"
MAX_FIXTURE_BYTES = 1024 * 1024
SEED = 0


class Samples(CalibrationDataReader):
    def __init__(self, name: str, batches: list[np.ndarray]):
        self.name, self.batches = name, batches
        self.iterator: Iterator[np.ndarray] = iter(batches)

    def get_next(self):
        batch = next(self.iterator, None)
        return None if batch is None else {self.name: batch}

    def rewind(self):
        self.iterator = iter(self.batches)


@dataclass(frozen=True)
class Recipe:
    source: str
    quant_format: QuantFormat
    activation_type: QuantType
    calibration: str
    op_types: tuple[str, ...] | None = None
    """Only these ops are quantized (None: every op onnxruntime can quantize)."""

    def batches(self, input_name: str) -> list[np.ndarray]:
        if self.calibration == "digits":
            with np.load(TF_FIXTURES / "digits_cnn_testset.npz") as data:
                images = data["x"][:64]
            return [images[i : i + 8] for i in range(0, len(images), 8)]
        rng = np.random.default_rng(SEED)
        return [rng.standard_normal((1, 3, 64, 64), dtype=np.float32) for _ in range(16)]


RECIPES = {
    "digits_cnn_qdq": Recipe("digits_cnn", QuantFormat.QDQ, QuantType.QInt8, "digits"),
    "digits_cnn_qdq_uint8": Recipe("digits_cnn", QuantFormat.QDQ, QuantType.QUInt8, "digits"),
    "digits_cnn_qop": Recipe("digits_cnn", QuantFormat.QOperator, QuantType.QUInt8, "digits", ("Conv", "MatMul")),
    "resnet_nchw_qdq": Recipe("resnet_nchw", QuantFormat.QDQ, QuantType.QInt8, "normal"),
}


def quantize(recipe: Recipe, source: Path) -> onnx.ModelProto:
    model = onnx.load(str(source))
    input_name = model.graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "quantized.onnx"
        quantize_static(
            str(source), str(out), Samples(input_name, recipe.batches(input_name)),
            quant_format=recipe.quant_format, per_channel=True, reduce_range=False,
            activation_type=recipe.activation_type, weight_type=QuantType.QInt8,
            op_types_to_quantize=list(recipe.op_types) if recipe.op_types else None,
        )  # fmt: skip
        return onnx.load(str(out))


def write_fixture(name: str, recipe: Recipe, out: Path) -> str:
    source = out / f"{recipe.source}.onnx"
    float_meta = __import__("json").loads((out / f"{recipe.source}.json").read_text())
    with np.load(out / f"{recipe.source}.npz") as data:
        inputs = {k[len("input:") :]: data[k] for k in data.files if k.startswith("input:")}
        float_outputs = {k[len("output:") :]: data[k] for k in data.files if k.startswith("output:")}
    model = quantize(recipe, source)
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    if len(data) > MAX_FIXTURE_BYTES:
        raise SystemExit(f"{name}: {len(data)} bytes, more than the {MAX_FIXTURE_BYTES} a committed fixture may have")
    outputs = run_onnxruntime(data, inputs)
    drift = {k: float(np.max(np.abs(outputs[k].astype(np.float64) - v))) for k, v in float_outputs.items()}
    counts = dict(sorted(Counter(n.op_type for n in model.graph.node).items()))
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    elem = onnx.helper.tensor_dtype_to_np_dtype
    fmt = "QDQ" if recipe.quant_format == QuantFormat.QDQ else "QOperator"
    activations = "int8" if recipe.activation_type == QuantType.QInt8 else "uint8"
    calibration = ("the first 64 images of tests/fixtures/tf/digits_cnn_testset.npz" if recipe.calibration == "digits"
                   else f"16 images drawn from N(0, 1) (numpy default_rng({SEED}))")  # fmt: skip
    meta = {
        "description": f"{recipe.source}.onnx quantized by onnxruntime's quantize_static: {fmt} format, "
                       f"{activations} activations (per tensor, asymmetric), int8 weights symmetric per output "
                       f"channel, MinMax calibration on {calibration}. Inputs are {recipe.source}'s stored inputs.",
        "format": "onnx",
        "inputs": {i.name: {"shape": [d.dim_value if d.HasField("dim_value") else -1 for d in i.type.tensor_type.shape.dim],
                            "dtype": str(elem(i.type.tensor_type.elem_type))} for i in model.graph.input},
        "outputs": [o.name for o in model.graph.output],
        "input_shapes": float_meta.get("input_shapes", {}),
        "output_descriptions": float_meta.get("output_descriptions", {}),
        "output_dtypes": {k: str(v.dtype) for k, v in outputs.items()},
        "output_shapes": {k: list(v.shape) for k, v in outputs.items()},
        "op_types": sorted(counts),
        "op_counts": counts,
        "opset_imports": opsets,
        "ir_version": model.ir_version,
        "quantizer": f"onnxruntime.quantization.quantize_static (onnxruntime {ort.__version__}), {fmt}, "
                     f"activation_type={recipe.activation_type.name}, weight_type=QInt8, per_channel=True, "
                     "reduce_range=False, calibrate_method=MinMax",
        "max_abs_difference_from_float_model": drift,
        "onnx_version": onnx.__version__,
        "onnxruntime_version": ort.__version__,
        "expected_outputs": "onnxruntime, CPUExecutionProvider, 1 intra-op thread",
        "generator": "tools/quantize_onnx_models.py",
    }  # fmt: skip
    (out / f"{name}.onnx").write_bytes(data)
    write_npz(out / f"{name}.npz", {f"input:{k}": v for k, v in inputs.items()} | {f"output:{k}": v for k, v in outputs.items()})
    write_json(out / f"{name}.json", meta)
    return f"{name}: {len(data) / 1024:.0f} KiB, opset {opsets.get('ai.onnx')}, {counts}; max |quantized - float| {drift}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="+", choices=sorted(RECIPES), default=None)
    args = parser.parse_args()
    for name in args.only or list(RECIPES):
        print(write_fixture(name, RECIPES[name], args.out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
