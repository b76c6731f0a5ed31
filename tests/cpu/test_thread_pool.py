"""CPU backend: the thread pool's counters, and a worker that lands on its caller's CPU moving off it.

The pool itself is native code inside each object (`graphc.backends.cpu.parallel`); these tests
drive it through `NativeModule` on a program with two split kernels and read its counters
(`NativeModule.pool_stats`).
"""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest
from cpu_testing import build, reference

from graphc.backends.cpu import compile_program, parallel
from graphc.dialects import graph as g
from graphc.runtime import native as native_runtime
from graphc.runtime.native import NativeModule, aligned_copy, aligned_empty

F32 = np.float32


def _program():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((96, 640)).astype(F32)
    b = rng.standard_normal((640, 320)).astype(F32)

    def body(gb, x):
        y = gb(g.MatMulOp, x, gb.const(a, "a"))  # 256×96×640: 31 MFLOP
        return [gb(g.MatMulOp, y, gb.const(b, "b"))]  # 256×640×320: 105 MFLOP

    arrays = [rng.standard_normal((256, 96)).astype(F32)]
    return build([((256, 96), F32)], body), arrays


class _Loaded:
    def __init__(self):
        self.program, self.arrays = _program()
        self.code = compile_program(self.program)
        self.native = NativeModule.load(self.code.object_code, self.code.entry)
        self.weights = [aligned_copy(self.program.weights[n].reshape(w["shape"]))
                        for n, w in zip(self.code.weight_names, self.code.weights)]  # fmt: skip
        self.arena = aligned_empty(max(self.code.arena_bytes, 1), np.uint8)

    def call(self):
        outputs = [aligned_empty(o["shape"], o["dtype"]) for o in self.code.outputs]
        self.native.run(self.arrays, outputs, self.weights, self.arena)
        return outputs

    def split_jobs(self) -> list[tuple[int, int]]:
        """(chunks, cost_ns) of every `graphc_parallel_for` call in the object's LLVM IR."""
        pattern = rf'call void @"?{parallel.PARALLEL_FOR}"?\(.*, i64 (\d+), i64 (\d+)\)$'
        calls = re.findall(pattern, self.code.llvm_ir, flags=re.MULTILINE)
        return [(int(n), int(c)) for n, c in calls]


def test_the_runtime_and_the_backend_name_the_same_counters():
    assert native_runtime.POOL_STAT_NAMES == parallel.STAT_NAMES
    assert native_runtime.POOL_STATS == parallel.STATS


def test_counters_account_for_every_job_and_chunk():
    loaded = _Loaded()
    jobs = loaded.split_jobs()
    assert len(jobs) == 2 and all(cost >= parallel.WAKE_MIN_NS for _, cost in jobs)
    first = loaded.call()
    np.testing.assert_allclose(first[0], reference(loaded.program, loaded.arrays)[0], rtol=2e-4, atol=2e-3)
    calls = 1
    for _ in range(9):
        np.testing.assert_array_equal(loaded.call()[0], first[0])
        calls += 1
    stats = loaded.native.pool_stats()
    assert set(stats) == set(parallel.STAT_NAMES)
    # both kernels cost more than WAKE_MIN_NS and this thread is the only caller: every job is split
    assert stats["jobs_split"] == calls * len(jobs)
    assert stats["jobs_serial_busy"] == stats["jobs_serial_short"] == stats["jobs_single_thread"] == 0
    assert stats["chunks_caller"] + stats["chunks_workers"] == calls * sum(n for n, _ in jobs)
    assert stats["wakes"] <= stats["jobs_split"]

    loaded.native.set_threads(1)
    np.testing.assert_array_equal(loaded.call()[0], first[0])
    after = loaded.native.pool_stats()
    assert after["jobs_single_thread"] - stats["jobs_single_thread"] == len(jobs)
    assert after["jobs_split"] == stats["jobs_split"]


def test_an_object_without_split_kernels_has_no_counters():
    small = build([((8, 16), F32)], lambda gb, x: gb(g.MatMulOp, x, gb.const(np.ones((16, 100), F32), "w")))
    code = compile_program(small)
    assert NativeModule.load(code.object_code, code.entry).pool_stats() == {}


def _new_threads(before: set[int]) -> set[int]:
    return {int(t) for t in os.listdir("/proc/self/task")} - before


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_worker_on_its_callers_cpu_moves_to_another_one():
    """Stacks the worker on the caller's CPU by hand (what Linux's balancer was seen doing) and
    checks that the worker takes itself off that CPU, keeping the rest of the process's CPUs."""
    allowed = os.sched_getaffinity(0)
    loaded = _Loaded()
    before = {int(t) for t in os.listdir("/proc/self/task")}  # the pool starts with the first call
    first = loaded.call()  # starts the pool with this thread's full mask
    workers = _new_threads(before)
    assert len(workers) == min(len(allowed), parallel.MAX_THREADS) - 1  # one thread per allowed CPU
    cpu = min(allowed)
    try:
        os.sched_setaffinity(0, {cpu})
        for tid in workers:
            os.sched_setaffinity(tid, {cpu})
        for _ in range(20):
            np.testing.assert_array_equal(loaded.call()[0], first[0])
            time.sleep(0.005)  # lets a worker queued behind the caller run
            if all(cpu not in os.sched_getaffinity(tid) for tid in workers):
                break
        for tid in workers:
            assert os.sched_getaffinity(tid) == allowed - {cpu}
        assert loaded.native.pool_stats()["moves"] >= len(workers)
    finally:
        os.sched_setaffinity(0, allowed)


def test_a_caller_allowed_one_cpu_gets_no_workers():
    """The pool sizes itself from the caller's affinity mask (a container or `taskset` may allow
    fewer CPUs than are online): with one CPU allowed, every job runs on the caller."""
    allowed = os.sched_getaffinity(0)
    loaded = _Loaded()
    before = {int(t) for t in os.listdir("/proc/self/task")}  # the pool starts with the first call
    try:
        os.sched_setaffinity(0, {min(allowed)})
        first = loaded.call()  # starts the pool
    finally:
        os.sched_setaffinity(0, allowed)
    np.testing.assert_array_equal(loaded.call()[0], first[0])
    assert not _new_threads(before)
    stats = loaded.native.pool_stats()
    assert stats["jobs_single_thread"] == 2 * len(loaded.split_jobs()) and stats["jobs_split"] == 0
