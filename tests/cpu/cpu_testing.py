"""Helpers for the CPU backend tests: build small graph programs, run them compiled, compare.

`build(inputs, body)` makes a `GraphProgram` from a Python function of the input values;
`run_cpu(program, arrays)` compiles it with the CPU backend and runs it through
`graphc.runtime.native`; `reference(program, arrays)` evaluates it with
`graphc.dialects.semantics` (the oracle) when that module exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Block, Operation, Region, SSAValue

from graphc.backends.cpu import CpuCode, compile_program
from graphc.dialects import dtypes
from graphc.dialects.resources import GraphProgram, WeightStore, make_constant, set_io_names
from graphc.runtime.native import NativeModule, aligned_copy, aligned_empty


class G:
    """What a test body uses to add ops: `g(AddOp, x, y)`, `g.const(array)`."""

    def __init__(self, block: Block, weights: WeightStore):
        self.block = block
        self.weights = weights

    def __call__(self, cls, *operands, **attrs):
        op: Operation = cls.make(list(operands), **attrs)
        self.block.add_op(op)
        return op.results[0] if len(op.results) == 1 else list(op.results)

    def const(self, array, hint: str = "w") -> SSAValue:
        op = make_constant(np.asarray(array), self.weights, hint)
        self.block.add_op(op)
        return op.result


def build(inputs: Sequence[tuple[Sequence[int], object]], body: Callable[..., object]) -> GraphProgram:
    """inputs: (shape, numpy dtype) per input; body(g, *values) returns a value or a list."""
    types = [dtypes.tensor_of(shape, dtype) for shape, dtype in inputs]
    block = Block(arg_types=types)
    weights = WeightStore()
    results = body(G(block, weights), *block.args)
    if not isinstance(results, list | tuple):
        results = [results]
    block.add_op(func.ReturnOp(*results))
    main = func.FuncOp("main", (types, [r.type for r in results]), Region(block))
    set_io_names(main, [f"x{i}" for i in range(len(types))], [f"y{i}" for i in range(len(results))])
    module = ModuleOp([main])
    module.verify()
    return GraphProgram(module, weights)


def run_code(code: CpuCode, program: GraphProgram, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    native = NativeModule.load(code.object_code, code.entry)
    outputs = [aligned_empty(o["shape"], o["dtype"]) for o in code.outputs]
    weights = [aligned_copy(program.weights[n].reshape(w["shape"])) for n, w in zip(code.weight_names, code.weights)]
    arena = aligned_empty(max(code.arena_bytes, 1), np.uint8)
    native.run(list(arrays), outputs, weights, arena)
    return outputs


def run_cpu(program: GraphProgram, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    return run_code(compile_program(program), program, arrays)


def reference(program: GraphProgram, arrays: Sequence[np.ndarray]) -> list[np.ndarray] | None:
    """The oracle's outputs, or None while `graphc.dialects.semantics` does not exist yet."""
    try:
        from graphc.dialects import semantics
    except ImportError:
        return None
    named = dict(zip(program.input_names, arrays))
    result = semantics.evaluate_program(program, named)
    return [np.asarray(result[n]) for n in program.output_names]


def assert_close(got: np.ndarray, ref: np.ndarray, rtol: float = 1e-5, atol: float = 1e-5) -> None:
    """|got - ref| <= atol * max(1, max|ref|) + rtol * |ref|, NaNs where the reference has NaNs.

    The absolute part scales with the largest reference magnitude: elementwise results that
    cancel (x - y) or math functions evaluated by different libraries differ by a few ulps of the
    inputs' magnitude, not of the (possibly tiny) result.
    """
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    if not (np.issubdtype(ref.dtype, np.floating) or ref.dtype.name == "bfloat16"):  # ml_dtypes' bf16 too
        np.testing.assert_array_equal(got, ref)
        return
    g, r = got.astype(np.float64), ref.astype(np.float64)
    nan_ref = np.isnan(r)
    np.testing.assert_array_equal(np.isnan(g), nan_ref, err_msg="NaN positions differ")
    finite = np.isfinite(r)
    np.testing.assert_array_equal(g[~finite & ~nan_ref], r[~finite & ~nan_ref], err_msg="infinities differ")
    if not finite.any():
        return
    scale = max(1.0, float(np.max(np.abs(r[finite]))))
    err = np.abs(g[finite] - r[finite])
    bound = atol * scale + rtol * np.abs(r[finite])
    worst = int(np.argmax(err - bound))
    assert np.all(err <= bound), (
        f"max excess {float((err - bound)[worst]):.3g}: got {g[finite][worst]!r}, ref {r[finite][worst]!r}"
    )


def tensor_type(shape, dtype) -> TensorType:
    return dtypes.tensor_of(shape, dtype)
