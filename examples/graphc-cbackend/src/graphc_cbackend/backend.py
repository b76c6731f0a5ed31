"""The `c` backend: one C function per graph op, plus a driver function that calls them in order.

It takes plain graph ops (`supports_fusion = False`: the driver skips the fusion passes). float32
only. Supported ops:

- elementwise unary: neg abs exp log sqrt rsqrt sin cos tanh sigmoid erf floor ceil relu
- elementwise binary with numpy broadcasting: add sub mul div max min pow
- reductions over the last axis only: reduce_sum reduce_mean reduce_max reduce_min (keepdims or not)
- matmul (2-D, or batched with equal batch dimensions), reshape (a copy)
- constants: inline ones become `static const float` arrays, weights (`dense_resource`) are read
  from the artifact's weight table

Anything else is rejected with a one-line error naming the op. Every value gets a buffer slot; the
executor allocates the intermediates once and passes an array of pointers to
`void graphc_main(float **slots)`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import DenseResourceAttr, Float32Type
from xdsl.ir import SSAValue

from graphc.backends.base import BackendOutput
from graphc.dialects import graph as g
from graphc.dialects.resources import GraphProgram, constant_value
from graphc.errors import GraphcError

UNARY = {
    "graph.neg": "-x", "graph.abs": "fabsf(x)", "graph.exp": "expf(x)", "graph.log": "logf(x)",
    "graph.sqrt": "sqrtf(x)", "graph.rsqrt": "1.0f / sqrtf(x)", "graph.sin": "sinf(x)", "graph.cos": "cosf(x)",
    "graph.tanh": "tanhf(x)", "graph.sigmoid": "1.0f / (1.0f + expf(-x))", "graph.erf": "erff(x)",
    "graph.floor": "floorf(x)", "graph.ceil": "ceilf(x)", "graph.relu": "(x > 0.0f ? x : 0.0f)",
}  # fmt: skip
BINARY = {
    "graph.add": "a + b", "graph.sub": "a - b", "graph.mul": "a * b", "graph.div": "a / b",
    "graph.max": "fmaxf(a, b)", "graph.min": "fminf(a, b)", "graph.pow": "powf(a, b)",
}  # fmt: skip
REDUCE = {  # initial value, combine, finish
    "graph.reduce_sum": ("0.0f", "acc + x", "acc"),
    "graph.reduce_mean": ("0.0f", "acc + x", "acc / (float)K"),
    "graph.reduce_max": ("-INFINITY", "fmaxf(acc, x)", "acc"),
    "graph.reduce_min": ("INFINITY", "fminf(acc, x)", "acc"),
}  # fmt: skip


class CBackend:
    name = "c"
    executor = "graphc_cbackend.executor:CExecutor"
    supports_fusion = False

    def __init__(self, cc: str | None = None, cflags: tuple[str, ...] = ("-O2",)):
        self.cc = cc or os.environ.get("CC", "cc")
        self.cflags = cflags

    def compile(self, program: GraphProgram) -> BackendOutput:
        source, meta, weight_names, schedule = emit_c(program)
        library = build_shared_library(source, self.cc, self.cflags)
        return BackendOutput(meta=meta, sections={"kernels.c": source.encode(), "kernels.so": library},
                             schedule=schedule, weight_names=weight_names)  # fmt: skip


def shape(value: SSAValue) -> tuple[int, ...]:
    return tuple(g.shape_of(value.type))


def size(value: SSAValue) -> int:
    return int(np.prod(shape(value), dtype=np.int64))


def emit_c(program: GraphProgram) -> tuple[str, dict, list[str], list[str]]:
    """C source, executor meta, the weights it reads, kernel names in order."""
    main = program.main
    slots: dict[SSAValue, int] = {}
    meta_slots: list[dict] = []  # per slot: {"kind": input|weight|temp, ...}

    def slot(value: SSAValue, kind: str, **extra) -> int:
        slots[value] = len(meta_slots)
        meta_slots.append({"kind": kind, "shape": list(shape(value)), **extra})
        return slots[value]

    for index, arg in enumerate(main.args):
        _check_f32(arg, f"input {index}")
        slot(arg, "input", index=index)

    statics: list[str] = []
    kernels: list[str] = []
    calls: list[str] = []
    schedule: list[str] = []
    weight_names: list[str] = []
    inline: dict[SSAValue, str] = {}
    for op in main.body.block.ops:
        if isinstance(op, func.ReturnOp):
            outputs = [slots[v] if v in slots else None for v in op.operands]
            if None in outputs:
                raise GraphcError("c backend: a function result is an inline constant (not supported)")
            continue
        if not isinstance(op, g.GraphOp):
            raise GraphcError(f"c backend: unsupported op '{op.name}'")
        for result in op.results:
            _check_f32(result, f"'{op.name}'")
        if isinstance(op, g.ConstantOp):
            if isinstance(op.value, DenseResourceAttr):
                name = op.value.resource_handle.data
                weight_names.append(name)
                slot(op.result, "weight", name=name)
            else:
                array = constant_value(op, program.weights).astype(np.float32).ravel()
                cname = f"const_{len(statics)}"
                values = ", ".join(_float_literal(v) for v in array)
                statics.append(f"static const float {cname}[{array.size}] = {{{values}}};")
                inline[op.result] = cname
            continue
        k = len(kernels)
        fname = f"k{k}_{op.name.removeprefix('graph.')}"
        out = slot(op.results[0], "temp")
        args = [inline[v] if v in inline else f"s[{slots[v]}]" for v in op.operands]
        kernels.append(_kernel(op, fname))
        calls.append(f"  {fname}({', '.join(args)}, s[{out}]);")
        schedule.append(fname)

    source = "\n".join(
        ["/* generated by graphc-cbackend: one function per graph op, then the driver */",
         "#include <math.h>", "#include <string.h>", "", *statics, "", *kernels, "",
         "void graphc_main(float **s) {", *calls, "}", ""]
    )  # fmt: skip
    meta = {"slots": meta_slots, "outputs": outputs, "entry": "graphc_main"}
    return source, meta, sorted(set(weight_names)), schedule


def _kernel(op: g.GraphOp, fname: str) -> str:
    out_shape = shape(op.results[0])
    n = size(op.results[0])
    if op.name in UNARY:
        expr = UNARY[op.name]
        return (f"static void {fname}(const float *restrict in, float *restrict out) {{\n"
                f"  for (long i = 0; i < {n}L; i++) {{ float x = in[i]; out[i] = {expr}; }}\n}}")  # fmt: skip
    if op.name in BINARY:
        a, b = op.operands
        ia, ib = _broadcast_index(shape(a), out_shape, "ia"), _broadcast_index(shape(b), out_shape, "ib")
        return (f"static void {fname}(const float *restrict A, const float *restrict B, float *restrict out) {{\n"
                f"  for (long i = 0; i < {n}L; i++) {{\n{ia}{ib}"
                f"    float a = A[ia], b = B[ib]; out[i] = {BINARY[op.name]};\n  }}\n}}")  # fmt: skip
    if op.name in REDUCE:
        in_shape = shape(op.operands[0])
        axes = list(g.get_ints(op.attrs(), "axes"))
        if axes != [len(in_shape) - 1]:
            raise GraphcError(f"c backend: unsupported op '{op.name}' over axes {axes} (only the last axis)")
        init, combine, finish = REDUCE[op.name]
        k = in_shape[-1]
        rows = int(np.prod(in_shape[:-1], dtype=np.int64))
        return (f"static void {fname}(const float *restrict in, float *restrict out) {{\n"
                f"  const long K = {k}L;\n"
                f"  for (long r = 0; r < {rows}L; r++) {{\n"
                f"    float acc = {init};\n"
                f"    for (long j = 0; j < K; j++) {{ float x = in[r * K + j]; acc = {combine}; }}\n"
                f"    out[r] = {finish};\n  }}\n}}")  # fmt: skip
    if isinstance(op, g.MatMulOp):
        sa, sb = shape(op.operands[0]), shape(op.operands[1])
        if sa[:-2] != sb[:-2]:
            raise GraphcError(f"c backend: unsupported op 'graph.matmul' with broadcast batch dimensions {sa} @ {sb}")
        m, kk, nn = sa[-2], sa[-1], sb[-1]
        batch = int(np.prod(sa[:-2], dtype=np.int64))
        return (f"static void {fname}(const float *restrict A, const float *restrict B, float *restrict C) {{\n"
                f"  for (long t = 0; t < {batch}L; t++) {{\n"
                f"    const float *a = A + t * {m * kk}L, *b = B + t * {kk * nn}L; float *c = C + t * {m * nn}L;\n"
                f"    for (long i = 0; i < {m}L; i++) {{\n"
                f"      for (long j = 0; j < {nn}L; j++) c[i * {nn}L + j] = 0.0f;\n"
                f"      for (long p = 0; p < {kk}L; p++) {{\n"
                f"        float x = a[i * {kk}L + p];\n"
                f"        for (long j = 0; j < {nn}L; j++) c[i * {nn}L + j] += x * b[p * {nn}L + j];\n"
                f"      }}\n    }}\n  }}\n}}")  # fmt: skip
    if isinstance(op, g.ReshapeOp):
        return (f"static void {fname}(const float *restrict in, float *restrict out) {{\n"
                f"  memcpy(out, in, {n}L * sizeof(float));\n}}")  # fmt: skip
    raise GraphcError(f"c backend: unsupported op '{op.name}'")


def _broadcast_index(in_shape: tuple[int, ...], out_shape: tuple[int, ...], var: str) -> str:
    """C statements computing `var`, the element of an operand of `in_shape` that output element `i`
    reads under numpy broadcasting."""
    if in_shape == out_shape:
        return f"    long {var} = i;\n"
    if int(np.prod(in_shape, dtype=np.int64)) == 1:
        return f"    long {var} = 0;\n"
    padded = (1,) * (len(out_shape) - len(in_shape)) + tuple(in_shape)
    strides, stride = [], 1
    for d in reversed(padded):
        strides.append(stride if d != 1 else 0)
        stride *= d
    strides.reverse()
    lines = [f"    long {var} = 0, {var}_r = i;"]
    for dim, st in reversed(list(zip(out_shape, strides))):
        if st:
            lines.append(f"    {var} += ({var}_r % {dim}L) * {st}L;")
        lines.append(f"    {var}_r /= {dim}L;")
    return "\n".join(lines) + "\n"


def _check_f32(value: SSAValue, what: str) -> None:
    if not isinstance(value.type.element_type, Float32Type):
        raise GraphcError(f"c backend: {what} has element type {value.type.element_type} (only f32 is supported)")


def _float_literal(v: float) -> str:
    if np.isnan(v):
        return "NAN"
    if np.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return f"{float(v)!r}f" if "e" in repr(float(v)) or "." in repr(float(v)) else f"{float(v)}f"


def build_shared_library(source: str, cc: str, cflags: tuple[str, ...]) -> bytes:
    if shutil.which(cc) is None:
        raise GraphcError(f"c backend: the C compiler '{cc}' was not found (install one or set CC)")
    with tempfile.TemporaryDirectory(prefix="graphc-c-") as tmp:
        src, lib = os.path.join(tmp, "kernels.c"), os.path.join(tmp, "kernels.so")
        with open(src, "w") as handle:
            handle.write(source)
        proc = subprocess.run([cc, *cflags, "-std=c99", "-shared", "-fPIC", "-o", lib, src, "-lm"],
                              capture_output=True, text=True)  # fmt: skip
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["(no output)"])[0]
            raise GraphcError(f"c backend: '{cc}' failed: {first}")
        with open(lib, "rb") as handle:
            return handle.read()
