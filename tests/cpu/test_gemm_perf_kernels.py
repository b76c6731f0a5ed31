"""CPU backend: the register-tiled matmul/conv kernels, packed weights, epilogues and both cores.

Correctness on random shapes (remainders in every dimension, tiny and large) against
`graphc.dialects.semantics` with the dot-product error bound; the in-register epilogue contract;
the micro-kernel's machine code; threaded results identical to single-threaded ones.
"""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
from cpu_testing import build, reference, run_code
from hypothesis import given, settings
from hypothesis import strategies as st
from xdsl.dialects import arith, vector
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, VectorType, f32, i64

from graphc.backends.cpu import compile_program, lower_matmul_conv, parallel
from graphc.backends.cpu.codegen import target_machine
from graphc.backends.cpu.lower_matmul_conv import RHS_ATTR, pack_filter, pack_panels, panel_width, panels
from graphc.backends.cpu.pack_weights import pack_weights
from graphc.dialects import graph as g
from graphc.runtime.native import NativeModule, aligned_copy, aligned_empty

F32 = np.float32
U32 = 2.0**-24


def assert_dot_close(make, arrays, got, length):
    """Each output is a sum of `length` products: within 2·(length+1)·u·Σ|a·b| of the reference
    (which sums in another order). `make(f)` builds the program with its weights passed through
    `f`; Σ|a·b| is `make(np.abs)` run on |inputs|."""
    ref = reference(make(lambda w: w), arrays)
    abs_ref = reference(make(np.abs), [np.abs(a) for a in arrays])
    for out, r, ar in zip(got, ref, abs_ref):
        assert out.shape == r.shape and out.dtype == r.dtype
        err = np.abs(out.astype(np.float64) - r.astype(np.float64))
        bound = 2 * (length + 1) * U32 * ar.astype(np.float64) + 2 * U32 * np.abs(r.astype(np.float64))
        assert np.all(err <= bound), float(np.max(err - bound))


def _conv(gb, x, w, strides, dilations, pads, groups):
    return gb(g.Conv2DOp, x, gb.const(w, "filter"), strides=g.ints_attr(strides), dilations=g.ints_attr(dilations),
              pads=g.ints_attr(pads), groups=g.int_attr(groups))  # fmt: skip


# -- layouts ---------------------------------------------------------------------------------------


def test_panel_width_and_packing_layout():
    assert panel_width(1024, 16) == 64
    assert panel_width(96, 16) == 48  # two full 3-vector panels beat 64 + 32
    assert panel_width(10, 16) == 16
    assert panels(100, 64) == [(0, 64), (64, 36)]
    m = np.arange(2 * 5 * 100, dtype=F32).reshape(2, 5, 100)
    p = pack_panels(m, 64).reshape(2, -1)
    for b in range(2):  # panel 0: 5 rows of 64, then panel 1: 5 rows of 36
        np.testing.assert_array_equal(p[b, : 5 * 64].reshape(5, 64), m[b, :, :64])
        np.testing.assert_array_equal(p[b, 5 * 64 :].reshape(5, 36), m[b, :, 64:])
    w = np.arange(3 * 3 * 4 * 70, dtype=F32).reshape(3, 3, 4, 70)  # 2 groups of 35 columns
    packed = pack_filter(w, 2, 32).reshape(-1)
    group1 = w.reshape(36, 70)[:, 35:]
    np.testing.assert_array_equal(packed[36 * 35 : 36 * 35 + 36 * 32].reshape(36, 32), group1[:, :32])


def test_packing_leaves_the_callers_program_alone():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((20, 200)).astype(F32)
    program = build([((3, 20), F32)], lambda gb, x: gb(g.MatMulOp, x, gb.const(w, "w")))
    before = str(program.module)
    packed = pack_weights(program)
    assert str(program.module) == before
    (mm,) = [op for op in packed.module.walk() if isinstance(op, g.MatMulOp)]
    assert int(mm.attributes[RHS_ATTR].value.data) == 64
    name = mm.operands[1].owner.value.resource_handle.data
    np.testing.assert_array_equal(program.weights[name], pack_panels(w, 64))
    assert "w" in program.weights  # the original stays for the caller (reference evaluation)


# -- matmul ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "m, k, n",
    [(1, 1, 1), (1, 7, 10), (1, 300, 10), (6, 5, 64), (7, 33, 65), (13, 1, 17), (5, 16, 1),
     (17, 40, 129), (64, 64, 48), (97, 70, 1000)],
)  # fmt: skip
def test_matmul_shapes_with_remainders(m, k, n):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = rng.standard_normal((m, k)).astype(F32)
    w = rng.standard_normal((k, n)).astype(F32)
    def make(f):
        return build([((m, k), F32), ((k, n), F32)],
                     lambda gb, x, y: [gb(g.MatMulOp, x, gb.const(f(w), "w")), gb(g.MatMulOp, x, y)])  # fmt: skip

    program = make(lambda v: v)
    got = run_code(compile_program(program), program, [a, w])
    assert_dot_close(make, [a, w], got, k)
    np.testing.assert_array_equal(got[0], got[1])  # packed and unpacked B: the same sums


@settings(max_examples=8, deadline=None)
@given(
    m=st.integers(1, 40),
    k=st.integers(1, 90),
    n=st.integers(1, 150),
    batch=st.sampled_from([(), (2,), (3, 1)]),
    const_b=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float32, np.float64]),
)
def test_matmul_random(m, k, n, batch, const_b, dtype):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((*batch, m, k)).astype(dtype)
    w = rng.standard_normal((k, n) if const_b else (*batch[-1:], k, n)).astype(dtype)
    if const_b:

        def make(f):
            return build([(a.shape, dtype)], lambda gb, x: gb(g.MatMulOp, x, gb.const(f(w), "w")))

        arrays = [a]
    else:

        def make(f):
            return build([(a.shape, dtype), (w.shape, dtype)], lambda gb, x, y: gb(g.MatMulOp, x, y))

        arrays = [a, w]
    program = make(lambda v: v)
    got = run_code(compile_program(program), program, arrays)
    if dtype == np.float32:
        assert_dot_close(make, arrays, got, k)
    else:
        np.testing.assert_allclose(got[0], reference(program, arrays)[0], rtol=1e-12, atol=1e-12 * k)


# -- convolution -----------------------------------------------------------------------------------


CONVS = [
    # (input NHWC, filter HWIO, strides, dilations, pads, groups)
    ((1, 56, 56, 64), (3, 3, 64, 64), (1, 1), (1, 1), (1, 1, 1, 1), 1),  # W5's shape
    ((2, 9, 7, 5), (3, 3, 5, 70), (1, 1), (1, 1), (1, 1, 1, 1), 1),  # batch, panels 64 + 6
    ((1, 96, 96, 3), (3, 3, 3, 16), (2, 2), (1, 1), (0, 1, 0, 1), 1),  # MobileNet's stem
    ((1, 11, 13, 6), (5, 3, 2, 9), (2, 1), (2, 1), (3, 1, 0, 2), 3),  # grouped, dilated, uneven pads
    ((1, 7, 7, 8), (1, 1, 8, 40), (2, 2), (1, 1), (0, 0, 0, 0), 1),  # strided 1×1
    ((2, 6, 5, 24), (1, 1, 12, 36), (1, 1), (1, 1), (0, 0, 0, 0), 2),  # grouped pointwise (GEMM)
    ((1, 12, 12, 48), (3, 3, 1, 48), (1, 1), (1, 1), (1, 1, 1, 1), 48),  # depthwise, 3 vectors
    ((1, 13, 13, 37), (3, 3, 1, 37), (2, 2), (1, 1), (0, 1, 0, 1), 37),  # depthwise, masked, strided
    ((2, 5, 6, 200), (3, 3, 1, 200), (1, 1), (2, 2), (2, 2, 2, 2), 200),  # depthwise, dilated, 13 vectors
    ((1, 4, 4, 4), (3, 3, 1, 8), (1, 1), (1, 1), (1, 1, 1, 1), 4),  # depth multiplier 2
    ((1, 3, 2, 4), (5, 5, 4, 3), (1, 1), (1, 1), (2, 2, 2, 2), 1),  # filter larger than the image
    ((1, 2, 2, 16), (3, 3, 16, 16), (3, 3), (1, 1), (0, 2, 0, 2), 1),  # taps entirely in padding
]


def _check_conv(x_shape, w_shape, strides, dilations, pads, groups, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(F32)
    w = rng.standard_normal(w_shape).astype(F32)
    def make(f):
        return build([(x_shape, F32)], lambda gb, a: _conv(gb, a, f(w), strides, dilations, pads, groups))

    program = make(lambda v: v)
    got = run_code(compile_program(program), program, [x])
    assert_dot_close(make, [x], got, w_shape[0] * w_shape[1] * w_shape[2])


@pytest.mark.parametrize("case", CONVS)
def test_conv_shapes(case):
    _check_conv(*case)


@settings(max_examples=8, deadline=None)
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    cin=st.integers(1, 20),
    cout=st.integers(1, 40),
    kernel=st.sampled_from([(1, 1), (3, 3), (2, 3), (5, 5)]),
    stride=st.sampled_from([(1, 1), (2, 2), (1, 2)]),
    dilation=st.sampled_from([(1, 1), (2, 1)]),
    pads=st.sampled_from([(0, 0, 0, 0), (1, 1, 1, 1), (0, 1, 2, 0)]),
    depthwise=st.booleans(),
)
def test_conv_random(h, w, cin, cout, kernel, stride, dilation, pads, depthwise):
    kh, kw = kernel
    eff_h, eff_w = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    if h + pads[0] + pads[1] < eff_h or w + pads[2] + pads[3] < eff_w:
        return  # no output
    groups = cin if depthwise else 1
    cout = cin if depthwise else cout
    _check_conv((1, h, w, cin), (kh, kw, cin // groups, cout), stride, dilation, pads, groups, seed=h * w)


# -- the epilogue contract -------------------------------------------------------------------------


def _index_epilogue(b, accs, index, mask):
    """relu(acc) + 1000·index[-2] + index[-1] + lane: checks the index, the lane order and that
    masked lanes are never stored (every value stays exact in f32 for these sizes)."""
    (acc,) = accs
    lanes = acc.type.get_shape()[0]
    vt = VectorType(f32, [lanes])

    def as_float(i):
        iv = b.index(i)
        return b.emit(arith.SIToFPOp(b.emit(arith.IndexCastOp(iv, i64)), f32))

    row = b.emit(arith.MulfOp(as_float(index[-2]), b.const(1000.0, f32)))
    position = b.emit(arith.AddfOp(row, as_float(index[-1])))
    iota = b.emit(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(vt, [float(l) for l in range(lanes)]), vt))
    offset = b.emit(arith.AddfOp(b.emit(vector.BroadcastOp(position, vt)), iota))
    relu = b.emit(arith.MaximumfOp(acc, b.emit(vector.BroadcastOp(b.const(0.0, f32), vt))))
    return [b.emit(arith.AddfOp(relu, offset))]


@pytest.fixture
def with_epilogue(monkeypatch):
    """Lowers every matmul and conv2d with `_index_epilogue`."""
    for name in ("graph.matmul", "graph.conv2d"):
        lower = lower_matmul_conv.LOWERINGS[name]
        monkeypatch.setitem(lower_matmul_conv.LOWERINGS, name,
                            lambda b, op, ins, outs, lower=lower: lower(b, op, ins, outs, _index_epilogue))  # fmt: skip


def _expected_with_index(raw: np.ndarray) -> np.ndarray:
    rows = np.arange(raw.shape[-2], dtype=np.float64)[:, None]
    cols = np.arange(raw.shape[-1], dtype=np.float64)[None, :]
    return np.maximum(raw.astype(np.float64), 0) + 1000 * rows + cols


@pytest.mark.parametrize("m, k, n", [(1, 3, 10), (7, 20, 37), (30, 9, 200)])
def test_matmul_epilogue_in_registers(with_epilogue, m, k, n):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, m, k)).astype(F32)
    w = rng.standard_normal((k, n)).astype(F32)
    program = build([(a.shape, F32)], lambda gb, x: gb(g.MatMulOp, x, gb.const(w, "w")))
    (got,) = run_code(compile_program(program), program, [a])
    (raw,) = reference(program, [a])
    np.testing.assert_allclose(got, _expected_with_index(raw), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("case", [CONVS[1], CONVS[3], CONVS[5], CONVS[7], CONVS[11]])
def test_conv_epilogue_in_registers(with_epilogue, case):
    """Every conv path (implicit GEMM, pointwise GEMM, depthwise): index [n, oy, ox, c]."""
    x_shape, w_shape, strides, dilations, pads, groups = case
    rng = np.random.default_rng(6)
    x = rng.standard_normal(x_shape).astype(F32)
    w = rng.standard_normal(w_shape).astype(F32)
    program = build([(x_shape, F32)], lambda gb, a: _conv(gb, a, w, strides, dilations, pads, groups))
    (got,) = run_code(compile_program(program), program, [x])
    (raw,) = reference(program, [x])
    np.testing.assert_allclose(got, _expected_with_index(raw), rtol=1e-5, atol=1e-3)


# -- machine code ----------------------------------------------------------------------------------


def _assembly(code) -> dict[str, str]:
    import llvmlite.binding as llvm

    module = llvm.parse_assembly(code.llvm_ir)
    tm = target_machine()
    options = llvm.create_pipeline_tuning_options(speed_level=2)
    options.loop_vectorization = options.slp_vectorization = True
    llvm.create_pass_builder(tm, options).getModulePassManager().run(module, llvm.create_pass_builder(tm, options))
    text = tm.emit_assembly(module)
    functions = {}
    for match in re.finditer(r"^([\w.]+):[^\n]*$", text, flags=re.M):
        end = text.find(".Lfunc_end", match.end())
        functions[match.group(1)] = text[match.end() : end]
    return functions


def test_matmul_micro_kernel_is_packed_fma_on_vector_registers():
    rng = np.random.default_rng(8)
    w = rng.standard_normal((64, 256)).astype(F32)
    program = build([((24, 64), F32)], lambda gb, x: gb(g.MatMulOp, x, gb.const(w, "w")))
    functions = _assembly(compile_program(program))
    kernel = next(text for name, text in functions.items() if name.startswith("matmul"))
    fmas = re.findall(r"vfmadd\d+ps\s+[^\n]*%([xyz]mm)\d+", kernel)
    assert fmas and set(fmas) <= {"ymm", "zmm"}, fmas[:5]
    assert len(fmas) >= 24  # at least one full 6×4 register tile


# -- both cores ------------------------------------------------------------------------------------


def _load(program):
    code = compile_program(program)
    native = NativeModule.load(code.object_code, code.entry)
    weights = [aligned_copy(program.weights[n].reshape(w["shape"])) for n, w in zip(code.weight_names, code.weights)]
    return code, native, weights


def _call(code, native, weights, arrays, arena=None):
    outputs = [aligned_empty(o["shape"], o["dtype"]) for o in code.outputs]
    arena = arena if arena is not None else aligned_empty(max(code.arena_bytes, 1), np.uint8)
    native.run(list(arrays), outputs, weights, arena)
    return outputs


def _big_program(fw=lambda v: v):
    rng = np.random.default_rng(9)
    w = rng.standard_normal((96, 700)).astype(F32)
    f = rng.standard_normal((3, 3, 20, 40)).astype(F32)
    d = rng.standard_normal((3, 3, 1, 40)).astype(F32)

    def body(gb, x, img):
        y = gb(g.MatMulOp, x, gb.const(fw(w), "w"))  # 200×96×700: 27 MFLOP
        c = _conv(gb, img, fw(f), (1, 1), (1, 1), (1, 1, 1, 1), 1)  # 48×48×40×180·2: 33 MFLOP
        c = _conv(gb, c, fw(d), (1, 1), (1, 1), (1, 1, 1, 1), 40)  # depthwise over 368 KiB
        return [y, c]

    arrays = [rng.standard_normal((200, 96)).astype(F32), rng.standard_normal((1, 48, 48, 20)).astype(F32)]
    return build([((200, 96), F32), ((1, 48, 48, 20), F32)], body), arrays


def test_large_kernels_are_split_and_small_ones_are_not():
    program, _ = _big_program()
    code = compile_program(program)
    calls = re.findall(rf'call void @"?{parallel.PARALLEL_FOR}\b', code.llvm_ir)
    assert len(calls) == 2  # the matmul and the 3×3 conv; the depthwise conv touches < 1 MiB
    small = build([((8, 16), F32)], lambda gb, x: gb(g.MatMulOp, x, gb.const(np.ones((16, 100), F32), "w")))
    assert parallel.PARALLEL_FOR not in compile_program(small).llvm_ir


def test_threaded_results_are_identical_to_single_threaded_ones():
    program, arrays = _big_program()
    code, native, weights = _load(program)
    first = _call(code, native, weights, arrays)
    np.testing.assert_allclose(first[0], reference(program, arrays)[0], rtol=1e-4, atol=1e-3)
    for _ in range(30):
        for got, want in zip(_call(code, native, weights, arrays), first):
            np.testing.assert_array_equal(got, want)
    for threads in (1, 2, 3, 0):
        native.set_threads(threads)
        for _ in range(3):
            for got, want in zip(_call(code, native, weights, arrays), first):
                np.testing.assert_array_equal(got, want)


def test_concurrent_callers_of_one_object_get_correct_results():
    """A second caller finds the pool busy and runs its chunks itself."""
    program, arrays = _big_program()
    code, native, weights = _load(program)
    expected = _call(code, native, weights, arrays)
    failures = []

    def caller():
        arena = aligned_empty(max(code.arena_bytes, 1), np.uint8)
        for _ in range(10):
            for got, want in zip(_call(code, native, weights, arrays, arena), expected):
                if not np.array_equal(got, want):
                    failures.append(1)

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_objects_with_worker_threads_load_and_unload_cleanly():
    import gc

    program, arrays = _big_program()
    code = compile_program(program)
    weights = [aligned_copy(program.weights[n].reshape(w["shape"])) for n, w in zip(code.weight_names, code.weights)]
    results = []
    for _ in range(4):
        native = NativeModule.load(code.object_code, code.entry)
        results.append(_call(code, native, weights, arrays)[0])
        del native
        gc.collect()  # stops and joins the worker before the code is unmapped
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_split_kernels_print_and_parse_back_at_the_loop_level():
    from xdsl.parser import Parser

    from graphc.backends.cpu.arith_ext import loop_context
    from graphc.backends.cpu.lower_to_loops import lower_program

    program, _ = _big_program()
    text = str(lower_program(pack_weights(program)).module)
    assert "scf.parallel" in text and parallel.COST_ATTR in text and "vector.fma" in text
    parsed = Parser(loop_context(), text).parse_module()
    parsed.verify()
    assert str(parsed) == text
