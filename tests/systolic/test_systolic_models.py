"""Done means: the digits CNN, MobileNetV2 and the MLP, quantized to int8 (`--quantize int8`), run on the
systolic target (int8 conv/matmul layers in the simulator, the rest on the host) and give EXACTLY the
int8 outputs of the CPU backend for the same quantized program — or, while the CPU backend cannot yet
compute the quant ops exactly (`host.cpu_computes_quant_ops`), of the reference backend (the oracle the
CPU backend's int8 kernels are tested against). The quantized program is made once and compiled for both.
"""

import os

import numpy as np
import pytest

from graphc.backends.registry import get_backend
from graphc.backends.systolic.host import cpu_computes_quant_ops
from graphc.calibration import QuantizeOptions
from graphc.driver import compile, compile_program
from graphc.testing import load_fixture

TF = os.path.join(os.path.dirname(__file__), "..", "fixtures", "tf")


def calibration(name, fx):
    path = os.path.join(TF, f"{name}_calibration.npz")
    return path if os.path.exists(path) else fx.inputs


@pytest.mark.parametrize("name, array, dataflow", [
    ("digits_cnn", "16x16", "os"),
    ("mlp", "8x8", "is"),
    ("mobilenet_v2", "128x128", "ws"),
])  # fmt: skip
def test_quantized_model_on_the_array_equals_the_host_int8_backend(name, array, dataflow):
    fx = load_fixture(os.path.join(TF, name))
    peer = "cpu" if cpu_computes_quant_ops() else "reference"
    want_model = compile(fx.model_path, target=peer, input_shapes=fx.input_shapes,
                         quantize=QuantizeOptions(calibration(name, fx)))  # fmt: skip
    backend = get_backend("systolic")
    backend.configure(systolic_array=array, dataflow=dataflow)
    model = compile_program(want_model.program.clone(), backend, stage="fusion")
    placement = model.artifact.meta["placement"]
    assert any(p["where"] == "systolic" for p in placement)
    want, got = want_model.run(fx.inputs), model.run(fx.inputs)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    report = model.loaded.executor.last_report
    assert report.totals()["total_cycles"] > 0
