"""Every TF and ONNX fixture through `--target triton` (under TRITON_INTERPRET=1) matches the
framework's stored outputs and the reference backend, with the kernel schedule of the CPU backend.

Tolerances are graphc.testing's (float32: 1e-4·max(1, max|ref|) + 1e-3·|ref|; integers exact).

Quantized fixtures (onnxruntime-quantized ONNX, TF FakeQuant) differ from their framework by up to one
quantization step by design (`graphc.testing.is_quantized_fixture`; checked by the front-end tests):
here they are compared with the reference backend only, which computes the same integers. The triton
backend has no int8 templates (`supports_quant` is unset), so the driver hands it the quant ops
lowered to i32/i64 graph ops (`lower-quant`); its schedule is compared with the CPU backend's for that
same lowered program.
"""

import functools
import os

import pytest

import graphc
from graphc.backends.cpu.backend import CpuBackend
from graphc.testing import compare_outputs, is_quantized_fixture, load_fixture

ROOT = os.path.join(os.path.dirname(__file__), "..", "fixtures")
TF = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "tf")) if f.endswith(".pb"))
ONNX = sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, "onnx")) if f.endswith(".onnx"))
CASES = [("tf", n) for n in TF] + [("onnx", n) for n in ONNX]


@functools.cache
def fixture(kind: str, name: str):
    return load_fixture(os.path.join(ROOT, kind, name), model_suffix=".pb" if kind == "tf" else ".onnx")


@functools.cache
def compiled(kind: str, name: str, target: str):
    fx = fixture(kind, name)
    return graphc.compile(fx.model_path, target=target, input_shapes=fx.input_shapes)


def quantized(kind: str, name: str) -> bool:
    return is_quantized_fixture(os.path.join(ROOT, kind, name))


@functools.cache
def compiled_cpu_without_int8_kernels(kind: str, name: str):
    """The CPU backend given what triton gets: quant ops lowered to integer graph ops."""
    fx = fixture(kind, name)
    saved = CpuBackend.supports_quant
    CpuBackend.supports_quant = False
    try:
        return graphc.compile(fx.model_path, target="cpu", input_shapes=fx.input_shapes)
    finally:
        CpuBackend.supports_quant = saved


@pytest.mark.parametrize("kind, name", CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_fixture_matches_framework_and_reference(kind, name):
    fx = fixture(kind, name)
    got = compiled(kind, name, "triton").run(fx.inputs)
    if not quantized(kind, name):
        problems = compare_outputs(got, fx.outputs)
        assert not problems, "vs stored outputs: " + "; ".join(problems)
    ref = compiled(kind, name, "reference").run(fx.inputs)
    problems = compare_outputs(got, ref)
    assert not problems, "vs reference backend: " + "; ".join(problems)


@pytest.mark.parametrize("kind, name", CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_kernel_schedule_equals_cpu_backends(kind, name):
    """Same kernels in the same order, identical regions sharing a kernel as on the CPU. The CPU
    schedule also lists `copy_N` steps (outputs that alias an input, a constant or another
    output, copied by its memory plan); the triton executor copies every output to numpy anyway."""
    triton = compiled(kind, name, "triton").artifact
    cpu = (compiled_cpu_without_int8_kernels(kind, name) if quantized(kind, name) else compiled(kind, name, "cpu")).artifact
    cpu_kernels = [k for k in cpu.schedule if not k.startswith("copy_")]
    assert triton.schedule == cpu_kernels
    assert len(triton.meta["kernels"]) == len(cpu_kernels)
