#!/usr/bin/env python3
"""Export the real-model ONNX fixtures in `tests/fixtures/onnx/` with real exporters.

Neither torch nor TensorFlow is a graphc dependency: the fixtures are committed, and this script
is only for regenerating them. Run it from the repository root with a Python that has torch,
onnxscript and onnxruntime, and point --tf-python at a second one that has TensorFlow and tf2onnx:

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 onnxscript onnxruntime
    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu tf2onnx onnxruntime
    /tmp/torchvenv/bin/python tools/export_onnx_models.py --tf-python /tmp/tfvenv/bin/python \
        [--out tests/fixtures/onnx] [--only NAME ...]

Versions used for the committed files: torch 2.13.0+cpu, onnxscript 0.7.2, onnx 1.23.2,
onnxruntime 1.32.0; TensorFlow 2.21.0, tf2onnx 1.17.0 (each file's JSON records its own).

Models (each `NAME.onnx` + `NAME.npz` + `NAME.json`, the fixture format of `graphc.testing`):

* `resnet_nchw` — torch: a small ResNet in NCHW, 1×3×64×64 → 10 logits. Stem conv3×3-BN-ReLU
  and max-pool 3×3/2; six basic blocks (16, 16, 32↓, 32, 64↓, 64 channels; ↓ = stride-2
  conv with a 1×1 conv-BN shortcut); global average pool; linear head. Batch norm is in eval
  mode with non-trivial running statistics (a few training-mode passes over random data, then
  random affine parameters).
* `transformer_encoder` — torch: `nn.TransformerEncoderLayer(d_model=64, nhead=4,
  dim_feedforward=256, activation="gelu", batch_first=True, dropout=0)` in eval mode (post-norm:
  self-attention, add, LayerNorm, GELU MLP, add, LayerNorm) with random LayerNorm affine
  parameters and attention projection biases (PyTorch starts them at zero); input 1×32×64.
* `digits_cnn` — tf2onnx (`python -m tf2onnx.convert --graphdef`, opset 15) from the TensorFlow
  fixture `tests/fixtures/tf/digits_cnn.pb` (NHWC; tf2onnx wraps each conv and pool in
  transposes). Its inputs are the TF fixture's 8 test images, batch dimension dynamic in the file.

Exporter: torch 2.13's `torch.onnx.export` defaults to the dynamo exporter (`dynamo=True`,
`torch.export` + onnxscript), which is what we use, with its defaults (opset 20, `optimize=True`).
Its optimizer folds every eval-mode BatchNormalization into the preceding Conv's weights and
bias, so `resnet_nchw.onnx` has no BatchNormalization node, exactly as a user's export would.

Expected outputs are onnxruntime's (CPU, one intra-op thread so reruns are byte-identical) on the
stored inputs. Before writing, the script checks them against the source framework at
`graphc.testing`'s float32 tolerance: torch's eager outputs, or TensorFlow's outputs stored in
the TF fixture. Seeds are fixed (torch generators): a rerun with the same versions rewrites
identical files (the zip timestamps are fixed), except that tf2onnx numbers a generated shape
constant differently from run to run in `digits_cnn.onnx` (same graph, same outputs).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fixture_io import write_json, write_npz  # noqa: E402  (tools/ is on sys.path: scripts run from there)
import onnx
import onnxruntime as ort

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "onnx"
TF_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "tf"
SEED = 0
TF2ONNX_OPSET = 15
MAX_FIXTURE_BYTES = 2 * 1024 * 1024


def load_graphc_testing():
    """`compiler/testing.py` by path: its tolerance, without installing graphc in this venv."""
    spec = importlib.util.spec_from_file_location("graphc_testing", REPO_ROOT / "compiler" / "testing.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@dataclass
class Export:
    """One exported model: the ONNX file, its fixed inputs, and what the JSON says about it."""

    model: onnx.ModelProto
    inputs: dict[str, np.ndarray]
    description: str
    output_descriptions: dict[str, str]
    exporter: str
    framework_outputs: dict[str, np.ndarray]
    """The source framework's outputs on `inputs`; onnxruntime must match them."""
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    """Concrete shapes for inputs with symbolic dimensions in the file."""


# ---------------------------------------------------------------------------------------------
# torch models
# ---------------------------------------------------------------------------------------------


def torch_export(module, example, input_names: list[str], output_names: list[str]) -> onnx.ModelProto:
    import torch

    program = torch.onnx.export(module, example, dynamo=True, input_names=input_names, output_names=output_names,
                                external_data=False, verbose=False)  # fmt: skip
    return program.model_proto


def torch_versions() -> str:
    import onnxscript
    import torch

    return f"torch.onnx.export(dynamo=True), torch {torch.__version__}, onnxscript {onnxscript.__version__}"


def randomize_norm_affine(module, generator) -> None:
    import torch
    from torch import nn

    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d | nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=generator) * 0.1)


def resnet_nchw() -> Export:
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)

    def conv_bn(ci: int, co: int, kernel: int, stride: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(ci, co, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(co))

    class BasicBlock(nn.Module):
        def __init__(self, ci: int, co: int, stride: int):
            super().__init__()
            self.conv1, self.conv2 = conv_bn(ci, co, 3, stride), conv_bn(co, co, 3, 1)
            self.shortcut = conv_bn(ci, co, 1, stride) if stride != 1 or ci != co else nn.Identity()

        def forward(self, x):
            y = self.conv2(torch.relu(self.conv1(x)))
            return torch.relu(y + self.shortcut(x))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(conv_bn(3, 16, 3, 1), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
            widths = [(16, 16, 1), (16, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1)]
            self.blocks = nn.Sequential(*(BasicBlock(*w) for w in widths))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, 10)

        def forward(self, image):
            return self.fc(torch.flatten(self.pool(self.blocks(self.stem(image))), 1))

    net = ResNet()
    net.train()
    with torch.no_grad():  # running statistics from data, as after training
        for _ in range(8):
            net(torch.randn(8, 3, 64, 64, generator=generator) * 1.5 + 0.2)
    randomize_norm_affine(net, generator)
    net.eval()
    image = torch.randn(1, 3, 64, 64, generator=generator)
    with torch.no_grad():
        logits = net(image).numpy()
    model = torch_export(net, (image,), ["image"], ["logits"])
    return Export(
        model, {"image": image.numpy()},
        "ResNet-style CNN in NCHW exported from torch: conv3x3(16)-BN-ReLU, maxpool 3x3/2, six basic blocks "
        "(16, 16, 32 stride 2, 32, 64 stride 2, 64 channels; 1x1 conv-BN shortcut when downsampling), global "
        "average pool, linear 64->10. BN in eval mode with running statistics from 8 training-mode batches and "
        "random affine parameters; the exporter folds BN into the convolutions. Random weights (seed 0).",
        {"logits": "class logits (1, 10)"}, torch_versions(), {"logits": logits},
    )  # fmt: skip


def transformer_encoder() -> Export:
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=256, dropout=0.0, activation="gelu",
                                       batch_first=True)  # fmt: skip
    randomize_norm_affine(layer, generator)
    with torch.no_grad():  # PyTorch initialises the attention's projection biases to zero
        for bias in (layer.self_attn.in_proj_bias, layer.self_attn.out_proj.bias):
            bias.copy_(torch.randn(bias.shape, generator=generator) * 0.1)
    layer.eval()
    x = torch.randn(1, 32, 64, generator=generator)
    with torch.no_grad():
        y = layer(x).numpy()
    model = torch_export(layer, (x,), ["x"], ["y"])
    return Export(
        model, {"x": x.numpy()},
        "torch nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=256, activation='gelu', "
        "batch_first=True, dropout=0), eval mode, post-norm: multi-head self-attention + residual -> LayerNorm -> "
        "Linear-GELU-Linear + residual -> LayerNorm. Random weights (seed 0), random LayerNorm affine parameters and "
        "attention projection biases.",
        {"y": "encoder output (1, 32, 64)"}, torch_versions(), {"y": y},
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# tf2onnx model
# ---------------------------------------------------------------------------------------------


def digits_cnn(tf_python: str | None) -> Export:
    if not tf_python:
        raise SystemExit("digits_cnn needs --tf-python: a Python with tensorflow and tf2onnx (see the docstring)")
    with open(TF_FIXTURES / "digits_cnn.json") as f:
        meta = json.load(f)
    with np.load(TF_FIXTURES / "digits_cnn.npz") as data:
        image = data["input:image"]
        tf_probs = data["output:Identity"]
    (output,) = meta["outputs"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "digits_cnn.onnx"
        graphdef = (TF_FIXTURES / "digits_cnn.pb").relative_to(REPO_ROOT)  # tf2onnx records it in the file
        command = [tf_python, "-m", "tf2onnx.convert", "--graphdef", str(graphdef),
                   "--inputs", "image:0", "--outputs", f"{output}:0", "--rename-inputs", "image",
                   "--rename-outputs", output, "--opset", str(TF2ONNX_OPSET), "--output", str(path)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
        if done.returncode != 0:
            raise SystemExit(f"tf2onnx failed:\n{done.stderr[-4000:]}")
        model = onnx.load(str(path))
        versions = subprocess.run(
            [tf_python, "-c", "import tensorflow as tf, tf2onnx; print(tf.__version__, tf2onnx.__version__)"],
            capture_output=True, text=True, check=True,
        ).stdout.split()[-2:]  # fmt: skip
    return Export(
        model, {"image": image},
        "tf2onnx conversion of the TensorFlow fixture tests/fixtures/tf/digits_cnn.pb (small CNN trained on sklearn "
        f"load_digits, NHWC; see its JSON): {meta['description'].split(': ', 1)[-1].split('. ')[0]}. Batch "
        "dimension dynamic in the file; inputs are the TF fixture's 8 test images.",
        {output: "softmax probabilities (batch, 10)"},
        f"tf2onnx {versions[1]} (python -m tf2onnx.convert --graphdef, opset {TF2ONNX_OPSET}), "
        f"tensorflow {versions[0]}",
        {output: tf_probs}, {"image": list(image.shape)},
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Writing a fixture
# ---------------------------------------------------------------------------------------------


def value_shape(value: onnx.ValueInfoProto) -> list[int]:
    """-1 for symbolic or unknown dimensions."""
    return [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]


def run_onnxruntime(data: bytes, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs)))


def write_fixture(name: str, export: Export, out: Path, testing) -> str:
    model = export.model
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    if len(data) > MAX_FIXTURE_BYTES:
        raise SystemExit(f"{name}: {len(data)} bytes, more than the {MAX_FIXTURE_BYTES} a committed fixture may have")
    outputs = run_onnxruntime(data, export.inputs)
    problems = testing.compare_outputs(outputs, export.framework_outputs)
    if problems:
        raise SystemExit(f"{name}: onnxruntime disagrees with the source framework: {'; '.join(problems)}")
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    elem = onnx.helper.tensor_dtype_to_np_dtype
    meta = {
        "description": export.description,
        "format": "onnx",
        "inputs": {i.name: {"shape": value_shape(i), "dtype": str(elem(i.type.tensor_type.elem_type))}
                   for i in model.graph.input},  # fmt: skip
        "outputs": [o.name for o in model.graph.output],
        "input_shapes": export.input_shapes,
        "output_descriptions": export.output_descriptions,
        "output_dtypes": {k: str(v.dtype) for k, v in outputs.items()},
        "output_shapes": {k: list(v.shape) for k, v in outputs.items()},
        "op_types": sorted(Counter(n.op_type for n in model.graph.node)),
        "op_counts": dict(sorted(Counter(n.op_type for n in model.graph.node).items())),
        "opset_imports": opsets,
        "ir_version": model.ir_version,
        "parameters": int(sum(np.prod(t.dims, dtype=np.int64) for t in model.graph.initializer)),
        "exporter": export.exporter,
        "onnx_version": onnx.__version__,
        "onnxruntime_version": ort.__version__,
        "expected_outputs": "onnxruntime, CPUExecutionProvider, 1 intra-op thread; checked against the "
                            "source framework's outputs at graphc.testing's tolerance",  # fmt: skip
        "generator": "tools/export_onnx_models.py",
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.onnx").write_bytes(data)
    arrays = {f"input:{k}": v for k, v in export.inputs.items()} | {f"output:{k}": v for k, v in outputs.items()}
    write_npz(out / f"{name}.npz", arrays)
    write_json(out / f"{name}.json", meta)
    worst = max(float(np.max(np.abs(outputs[k].astype(np.float64) - v))) for k, v in export.framework_outputs.items())
    return (f"{name}: {len(data) / 1024:.0f} KiB, {meta['parameters']} parameters, opset {opsets.get('ai.onnx')}, "
            f"{sum(meta['op_counts'].values())} nodes {meta['op_counts']}; max |ort - framework| {worst:.2g}")  # fmt: skip


MODELS: dict[str, Callable[[argparse.Namespace], Export]] = {
    "resnet_nchw": lambda args: resnet_nchw(),
    "transformer_encoder": lambda args: transformer_encoder(),
    "digits_cnn": lambda args: digits_cnn(args.tf_python),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="+", choices=sorted(MODELS), default=None)
    parser.add_argument("--tf-python", default=None, help="a Python with tensorflow and tf2onnx (for digits_cnn)")
    args = parser.parse_args()
    testing = load_graphc_testing()
    for name in args.only or list(MODELS):
        print(write_fixture(name, MODELS[name](args), args.out, testing), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
