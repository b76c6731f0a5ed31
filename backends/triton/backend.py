"""The triton backend as a plugin (`graphc compile --target triton`).

Takes a `GraphProgram` after the fusion pipeline (`@main` holds `fusion.region`s, constants, free
reshape views and the return); leaves a `BackendOutput` whose sections are one Triton module per
region (`triton/<region>.py`, readable, dumped by `--dump-ir`) and whose meta describes the
buffers (`slots`), the kernels in schedule order (source section, argument slots, grid, block
sizes, autotune configs, constant tables) and the outputs. One region is one kernel launch, the same
plan as the CPU backend; structurally identical regions (`fusion.region_key`: an unrolled RNN's
steps) share one kernel, as they do there. The template is chosen by the region's kind (and, for `opaque`, its op):
pointwise, reduction (row or other-axis), matmul + epilogue, conv as implicit GEMM (+ a
depthwise variant) + epilogue, and the opaque kernels (gathers and resize through the pointwise
template, arg-reductions, scans, top_k, scatters as gathers); very large scatters and top_k rows
longer than 16384 run as named fallbacks that `--report` lists.
Every unsupported op or element type is reported at once, by region and op, before any code is made.
"""

from __future__ import annotations

from xdsl.dialects import func

from graphc.backends.base import BackendOutput
from graphc.backends.triton.elemental import INDEXED_OPS, check_region
from graphc.backends.triton.kernel import Kernel
from graphc.backends.triton.template_conv import compile_conv
from graphc.backends.triton.template_matmul import compile_matmul
from graphc.backends.triton.template_opaque import (
    FALLBACK_RUNNERS,
    compile_opaque,
    fallback_meta,
    is_fallback,
    opaque_problem,
)
from graphc.backends.triton.template_pointwise import compile_pointwise
from graphc.backends.triton.template_reduction import compile_reduction
from graphc.dialects import dtypes
from graphc.dialects import fusion
from graphc.dialects import graph as g
from graphc.dialects.resources import GraphProgram, WeightStore, constant_value
from graphc.errors import GraphcError

SECTION_PREFIX = "triton/"

TEMPLATES = {
    "loop": compile_pointwise,
    "reduction": compile_reduction,
    "matmul": compile_matmul,
    "conv": compile_conv,
}


class TritonBackend:
    name = "triton"
    executor = "graphc.runtime.triton_executor:TritonExecutor"
    supports_fusion = True
    """Every region kind becomes one Triton kernel (or one named fallback for top_k/scatter)."""

    def compile(self, program: GraphProgram) -> BackendOutput:
        main = program.main
        ops = list(main.body.block.ops)
        _check(ops)
        slots: list[dict] = []
        slot_of: dict = {}
        weight_names: list[str] = []

        def add(value, **info) -> int:
            slot_of[value] = len(slots)
            slots.append({"shape": list(g.shape_of(value.type)), "dtype": _dtype(value), **info})
            return slot_of[value]

        for i, arg in enumerate(main.args):
            add(arg, kind="input", index=i)
        kernels: list[dict] = []
        sections: dict[str, bytes] = {}
        shared: dict[str, dict] = {}  # fusion.region_key → launch: identical regions share a kernel
        for op in ops:
            if isinstance(op, g.ConstantOp):
                value = op.value
                if hasattr(value, "resource_handle"):
                    name = value.resource_handle.data
                    weight_names.append(name)
                    add(op.result, kind="weight", weight=name)
                else:
                    array = constant_value(op, WeightStore())
                    add(op.result, kind="const", values=array.reshape(-1).tolist())
            elif isinstance(op, g.ReshapeOp):
                add(op.result, kind="view", base=slot_of[op.input])
            elif isinstance(op, fusion.RegionOp):
                args = [slot_of[v] for v in op.inputs]
                outs = [add(r, kind="temp") for r in op.outputs]
                key = fusion.region_key(op)
                if key not in shared:
                    shared[key] = _kernel_meta(op, sections)
                kernels.append({**shared[key], "args": args, "results": outs})
            elif not isinstance(op, func.ReturnOp):
                raise GraphcError(f"triton backend: {op.name} outside a fusion region (run the fusion pipeline)")
        ret = main.body.block.last_op
        fallbacks = [{"kernel": k["name"], "op": k["op"], "runs_with": FALLBACK_RUNNERS[k["op"]]}
                     for k in kernels if k["template"] == "fallback"]  # fmt: skip
        meta = {"slots": slots, "kernels": kernels, "outputs": [slot_of[v] for v in ret.operands],
                "fallbacks": fallbacks}  # fmt: skip
        schedule = [k["name"] for k in kernels]
        return BackendOutput(meta=meta, sections=sections, schedule=schedule, weight_names=sorted(set(weight_names)))


def _dtype(value) -> str:
    return dtypes.to_numpy_dtype(value.type.element_type).name


def _kernel_meta(region: fusion.RegionOp, sections: dict[str, bytes]) -> dict:
    base = {"name": region.region_name, "kind": region.kind_name}
    op = region.compute_ops()[0] if region.kind_name == "opaque" else None
    if op is not None and is_fallback(op):
        return {**base, "template": "fallback", **fallback_meta(op)}
    if op is not None and isinstance(op, INDEXED_OPS):
        kernel = compile_pointwise(region)
    elif op is not None:
        kernel = compile_opaque(region)
    else:
        kernel = TEMPLATES[region.kind_name](region)
    section = f"{SECTION_PREFIX}{kernel.name}.py"
    sections[section] = kernel.source.encode()
    return {**base, **_launch(kernel), "source": section}


def _launch(kernel: Kernel) -> dict:
    return {
        "template": kernel.template,
        "function": kernel.name,
        "grid": kernel.grid,
        "blocks": kernel.blocks,
        "interpret_blocks": kernel.interpret_blocks,
        "autotune": kernel.autotune,
        "tables": [{"dtype": a.dtype.name, "values": a.reshape(-1).tolist()} for _, a in kernel.tables],
    }


def _check(ops) -> None:
    """Every unsupported op or element type, in one line, before any code is generated."""
    problems = []
    for op in ops:
        if not isinstance(op, fusion.RegionOp):
            continue
        why = check_region(op)
        if op.kind_name == "opaque":
            problem = opaque_problem(op.compute_ops()[0])
            why += [problem] if problem else []
        problems += [f"{op.region_name}: {w}" for w in dict.fromkeys(why)]
    if problems:
        raise GraphcError(f"triton backend: unsupported: {'; '.join(problems)}")
