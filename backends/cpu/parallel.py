"""Both cores: `scf.parallel` at the loop level, and the tiny thread pool it runs on (in LLVM IR).

Takes an `scf.parallel` (one induction variable, no reductions) that a lowering emitted around the
independent chunks of a large kernel (matmul: blocks of output rows × column panels; convolution:
blocks of output rows). Leaves, in the kernel's LLVM function, a call
`graphc_parallel_for(task, ctx, n, cost_ns)` where `task(ctx, lo, hi)` runs chunks lo..hi-1 of
the body (outlined into its own function; the values the body uses from outside travel in `ctx`,
a struct on the caller's stack, except constants and globals, which the outlined body re-creates
so that addresses still fold; pointer arguments keep their `noalias`/`align`/`dereferenceable`).

When to split (the lowering decides, with `worth_splitting`): a kernel is split only when it does
at least `MIN_FLOPS` (2 MFLOP: ~25 µs on one core, whose register tiles run at ~110 GFLOP/s) or
touches at least `MIN_BYTES` (1 MiB: memory-bound kernels, ~40 µs at one core's ~25 GB/s).
Measured on this machine (2-core Zen 4 VM, quiet; a forced split of matmuls of each size):

    MFLOP   one thread   two threads, worker spinning   two threads, worker asleep 2 ms
    0.13        1.6 µs         1.4 µs                          2.5 µs (not woken: too short)
    0.79        7.2 µs         4.5 µs                          8-13 µs
    3.15       27.3 µs        14.4 µs                         29.3 µs
    9.44       80.6 µs        41.1 µs                         91.9 µs (waking costs ~30 µs)
    67.1        572 µs         288 µs                          316 µs; after 20 ms idle 676 µs

So a split costs ~1 µs when the worker is still spinning from the previous parallel kernel and
~30 µs when it sleeps (a futex wake; after tens of ms idle the VM's other vCPU takes milliseconds
to run it, during which the caller simply does the chunks itself). Splits would pay from ~0.5
MFLOP with a spinning worker; the threshold is higher because this machine is shared: when the
other core is busy, a worker preempted while it holds a chunk makes the caller wait, and kernels
below ~25 µs have little to gain against that. A job is also run on the caller alone when every
worker is asleep and the lowering's cost estimate (`COST_ATTR`) is below `WAKE_MIN_NS`.

The pool (one per loaded object: its state is the object's own globals, so every loaded model has
its own worker threads):
- started lazily by the first parallel kernel: one thread per CPU the calling thread may run on
  (its affinity mask; `sysconf(_SC_NPROCESSORS_ONLN)` if that cannot be read), or
  `graphc_parallel_set_threads(n)`, at most `MAX_THREADS`: the calling thread plus
  `pthread_create`d workers. No Python anywhere: the workers run native code only, and ctypes
  releases the GIL for the entry call;
- a job is published in one 64-bit word `(generation << 32) | (lo << 16) | hi`, the chunks
  [lo, hi) not yet claimed; every thread claims chunks with compare-and-swap until none are left
  (dynamic scheduling: when the other core is busy with someone else's work, the caller simply
  does all the chunks instead of waiting for a worker that is not running), the caller from the
  front and the workers from the back. Chunks are consecutive output rows, so each thread keeps
  producing roughly the same region of every layer and mostly reads rows it wrote itself. Taking
  chunks alternately made each layer read about half its input from the other core's cache;
  measured on the NCHW ResNet (tools/bench_cpu.py): in this VM's occasional slow state, in which
  a numpy matmul per CPU and onnxruntime keep their two-thread speed, two graphc threads ran no
  faster than one (4.0 ms); claiming from both ends gives 3.1 ms there and 2.25 ms (was 2.3)
  otherwise, consistent with the vCPUs then sitting far apart in the cache hierarchy. Then the
  caller waits until the count of finished chunks reaches n;
- a worker spins (`pause`, and `sched_yield` every `YIELD_EVERY` pauses) for `SPIN_CYCLES` after
  its last job, so back-to-back parallel kernels of one entry call (and back-to-back calls) reach
  it without a system call, then sleeps on a futex (`FUTEX_WAIT_PRIVATE` on the generation word);
- a worker that finds itself on the CPU its caller published with the last job (Linux was seen
  stacking both threads on one CPU for seconds while the other idled: every call at its
  single-thread time) restricts itself to the other CPUs of the process (`move_off`);
- counters (`STAT_NAMES`: jobs split or kept serial and why, chunks per side, wake-ups, sleeps,
  moves, cycles the caller waited) are read with `graphc_parallel_stats` (exported);
- `graphc_parallel_shutdown()` (exported) stops and joins the workers; `graphc.runtime.native`
  calls it before it releases the object's memory. `graphc_parallel_set_threads(n)` (exported)
  restarts the pool with n threads (1: every kernel runs on the caller).
- a second caller that finds the pool busy (two Python threads running the same object) runs its
  chunks serially instead of waiting.

Determinism: every chunk computes a disjoint set of output elements with the same instructions
whichever thread runs it, and reductions are never split across chunks, so results are bitwise
identical for every thread count and every schedule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir
from xdsl.dialects import scf
from xdsl.dialects.builtin import IntegerAttr
from xdsl.ir import Block, BlockArgument, SSAValue

if TYPE_CHECKING:
    from graphc.backends.cpu.emit_llvm import FunctionEmitter

MIN_FLOPS = 2e6
MIN_BYTES = 1 << 20
MAX_THREADS = 8
SPIN_CYCLES = 200_000
"""~77 µs of this machine's 2.6 GHz time-stamp counter: longer than the gap between the parallel
kernels of one model call (the small kernels in between run on the caller) and between calls of a
loop, short enough not to burn the shared second core when the model is idle."""

WAKE_MIN_NS = 150_000
"""A job estimated to take less than this on one thread runs on the caller alone when every worker
is asleep: a futex wake-up costs ~30 µs here (KVM), far more after a long idle. Workers still
spinning from a recent job are used for any split kernel."""
COST_ATTR = "graphc.cost_ns"
"""On an `scf.parallel`: the lowering's estimate of its single-thread time in ns (i64)."""
COST_FLOPS_PER_NS = 60.0
COST_BYTES_PER_NS = 15.0

YIELD_EVERY = 64
"""Spinning threads call `sched_yield` every this many `pause`s (~2-3 µs): when the OS has put the
caller and a worker on the same core (the other one busy with someone else's work), the spinner
hands the core to the thread that has work instead of burning its time slice."""

MAX_CHUNKS = 0xFFFF
"""Chunk indices are 16-bit fields of the job word; a job of more chunks runs on the caller (the
lowerings cut kernels into at most a few dozen)."""

PARALLEL_FOR = "graphc_parallel_for"
SHUTDOWN = "graphc_parallel_shutdown"
SET_THREADS = "graphc_parallel_set_threads"
STATS = "graphc_parallel_stats"
STAT_NAMES = (
    "jobs_split",  # jobs published to the pool
    "wakes",  # futex wake-ups issued for them (some worker was asleep)
    "jobs_serial_busy",  # jobs run on the caller alone: another caller holds the pool
    "jobs_serial_short",  # ... or every worker asleep and the job short (cost below WAKE_MIN_NS)
    "jobs_single_thread",  # ... or the pool has no workers (one thread set, or none could be created)
    "chunks_caller",  # chunks of split jobs run by the calling thread
    "chunks_workers",  # ... and by the workers
    "worker_sleeps",  # times a worker went to sleep on the futex
    "wait_cycles",  # time-stamp-counter cycles the caller waited for workers to finish chunks
    "moves",  # times a worker found itself on its caller's CPU and moved off it
)
"""Counters each pool keeps from the object's load on (`graphc_parallel_stats(int64_t *out)`, exported,
copies them in this order; `NativeModule.pool_stats` reads them from Python)."""
EXTERNAL_SYMBOLS = ("pthread_create", "pthread_join", "syscall", "sysconf", "sched_yield", "sched_getcpu")
"""What an object with parallel kernels imports from libc (MCJIT resolves them in the process)."""

SYS_FUTEX = 202  # x86-64
SYS_SCHED_SETAFFINITY = 203
SYS_SCHED_GETAFFINITY = 204
AFFINITY_WORDS = 16  # a 1024-CPU mask
FUTEX_WAIT_PRIVATE = 128
FUTEX_WAKE_PRIVATE = 129
SC_NPROCESSORS_ONLN = 84

I1 = ir.IntType(1)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
VOID = ir.VoidType()
TASK_TYPE = ir.FunctionType(VOID, [PTR, I64, I64])
TASK_PTR = ir.PointerType(TASK_TYPE)  # llvmlite needs a typed pointer for an indirect call (LLVM reads it as `ptr`)


def worth_splitting(flops: float, bytes_touched: float) -> bool:
    """Whether a kernel is large enough to be split across threads (see the module docstring)."""
    return flops >= MIN_FLOPS or bytes_touched >= MIN_BYTES


def cost_ns(flops: float, bytes_touched: float) -> int:
    """Estimated single-thread time of a kernel: ~60 GFLOP/s for register-tiled compute, ~15 GB/s
    for memory traffic (whichever dominates)."""
    return int(max(flops / COST_FLOPS_PER_NS, bytes_touched / COST_BYTES_PER_NS))


def chunk_count(units: int, flops: float, min_chunk_flops: float = 0.25e6, most: int = 32) -> int:
    """How many chunks to cut `units` equal pieces of work into: at least 4 (so the dynamic
    schedule can balance two threads), each worth at least `min_chunk_flops` when that allows 4,
    at most `most` and `units`."""
    by_size = int(flops // min_chunk_flops)
    return max(1, min(units, most, max(4, by_size)))


# -- scf.parallel → outlined task + call -----------------------------------------------------------


def emit_parallel(fe: FunctionEmitter, op: scf.ParallelOp) -> None:
    """Emits `op` in the function `fe` is building: outlines its body and calls the pool."""
    from graphc.backends.cpu.emit_llvm import EmitError, FunctionEmitter

    if len(op.lowerBound) != 1 or len(op.initVals) or len(op.results):
        raise EmitError("scf.parallel with more than one dimension or with reductions")
    owner = fe.owner
    module = owner.module
    parallel_for = ensure_runtime(module)
    body = op.body.block
    captured = _captured_values(body)
    for v in (op.lowerBound[0], op.step[0]):  # the chunk loop needs them too
        if v not in captured:
            captured.append(v)

    # Values the outlined body can re-create (constants, globals) are not passed.
    passed = [v for v in captured if not isinstance(fe.get(v), ir.Constant | ir.GlobalValue)]
    types = [fe.get(v).type for v in passed]
    index = 0
    while f"{fe.fn.name}.par{index}" in module.globals:
        index += 1
    base = f"{fe.fn.name}.par{index}"

    impl = ir.Function(module, ir.FunctionType(VOID, [*types, I64, I64]), base)
    impl.linkage = "internal"
    impl.attributes.add("nounwind")
    caller_args = {id(a): a for a in fe.fn.args}
    for arg, v in zip(impl.args, passed):
        outer = fe.get(v)
        if id(outer) in caller_args and isinstance(outer.type, ir.PointerType):
            for attr in outer.attributes:
                arg.add_attribute(attr)
            arg.attributes.align = outer.attributes.align
            arg.attributes.dereferenceable = outer.attributes.dereferenceable

    inner = FunctionEmitter(owner, impl)
    for v in captured:
        value = fe.get(v)
        if isinstance(value, ir.Constant | ir.GlobalValue):
            inner.values[v] = value
            if v in fe.ints:
                inner.ints[v] = fe.ints[v]
    for arg, v in zip(impl.args, passed):
        inner.values[v] = arg
    lo, hi = impl.args[-2], impl.args[-1]
    _emit_chunk_loop(inner, op, body, lo, hi)
    inner.b.ret_void()

    # task(ctx, lo, hi): unpack the context, call the body.
    task = ir.Function(module, TASK_TYPE, base + ".task")
    task.linkage = "internal"
    task.attributes.add("nounwind")
    tb = ir.IRBuilder(task.append_basic_block("entry"))
    for t in types:  # one 8-byte slot per value
        if not (isinstance(t, ir.PointerType) or (isinstance(t, ir.IntType | ir.FloatType | ir.DoubleType))):
            raise EmitError(f"scf.parallel captures a value of LLVM type {t}")
    args = [tb.load(_slot(tb, task.args[0], k), typ=t) for k, t in enumerate(types)]
    tb.call(impl, [*args, task.args[1], task.args[2]])
    tb.ret_void()

    # The call site: the context lives in the caller's frame (allocated in its entry block).
    b = fe.b
    if types:
        ctx = fe.entry_alloca(ir.ArrayType(I64, len(types)))
        for k, v in enumerate(passed):
            b.store(fe.get(v), _slot(b, ctx, k))
    else:
        ctx = ir.Constant(PTR, None)
    lb, ub, step = op.lowerBound[0], op.upperBound[0], op.step[0]
    clb, cub, cstep = (fe.ints.get(v) for v in (lb, ub, step))
    if clb is not None and cub is not None and cstep is not None:
        count = ir.Constant(I64, max(0, -(-(cub - clb) // cstep)))
    else:
        span = b.sub(fe.get(ub), fe.get(lb))
        count = b.sdiv(b.add(span, b.sub(fe.get(step), ir.Constant(I64, 1))), fe.get(step))
    hint = op.attributes.get(COST_ATTR)
    cost = int(hint.value.data) if isinstance(hint, IntegerAttr) else 2**62
    b.call(parallel_for, [task, ctx, count, ir.Constant(I64, cost)])


def _slot(b: ir.IRBuilder, ctx: ir.Value, k: int) -> ir.Value:
    return ctx if k == 0 else b.gep(ctx, [ir.Constant(I64, 8 * k)], inbounds=True, source_etype=ir.IntType(8))


def _captured_values(body: Block) -> list[SSAValue]:
    """SSA values used inside `body` (at any depth) but defined outside it, in first-use order."""
    defined: set[SSAValue] = set(body.args)
    used: list[SSAValue] = []
    seen: set[SSAValue] = set()
    for op in body.walk():
        defined.update(op.results)
        for region in op.regions:
            for block in region.blocks:
                defined.update(block.args)
    for op in body.walk():
        for v in op.operands:
            if v not in defined and v not in seen:
                seen.add(v)
                used.append(v)
    return used


def _emit_chunk_loop(fe: FunctionEmitter, op: scf.ParallelOp, body: Block, lo: ir.Value, hi: ir.Value) -> None:
    """for (c = lo; c < hi; ++c) { iv = lb + c * step; body }"""
    b = fe.b
    lb, step = op.lowerBound[0], op.step[0]
    pre = b.block
    head = fe.fn.append_basic_block("chunk.head")
    loop = fe.fn.append_basic_block("chunk.body")
    done = fe.fn.append_basic_block("chunk.end")
    b.branch(head)
    b.position_at_end(head)
    c = b.phi(I64)
    c.add_incoming(lo, pre)
    b.cbranch(b.icmp_signed("<", c, hi), loop, done)
    b.position_at_end(loop)
    clb, cstep = fe.ints.get(lb), fe.ints.get(step)
    if clb == 0 and cstep == 1:
        iv = c
    else:
        scaled = c if cstep == 1 else b.mul(c, fe.get(step), flags=["nsw"])
        iv = scaled if clb == 0 else b.add(scaled, fe.get(lb), flags=["nsw"])
    arg = body.args[0]
    assert isinstance(arg, BlockArgument)
    fe.values[arg] = iv
    for inner_op in body.ops:
        if isinstance(inner_op, scf.ReduceOp):
            break
        fe.emit_op(inner_op)
    latch = b.block
    c.add_incoming(b.add(c, ir.Constant(I64, 1), flags=["nsw"]), latch)
    b.branch(head)
    b.position_at_end(done)


# -- the pool, in LLVM IR --------------------------------------------------------------------------


def ensure_runtime(module: ir.Module) -> ir.Function:
    """Adds the pool to `module` (once) and returns `graphc_parallel_for(task, ctx, n)`."""
    existing = module.globals.get(PARALLEL_FOR)
    if existing is not None:
        return existing
    return _Runtime(module).parallel_for


class _Runtime:
    def __init__(self, module: ir.Module):
        self.module = module
        g = self._global
        self.word = g("gp.word", I64)
        self.gen = g("gp.gen", I32)
        self.done = g("gp.done", I64)
        self.fn = g("gp.fn", PTR)
        self.ctx = g("gp.ctx", PTR)
        self.state = g("gp.state", I32)  # 0 not started, 1 workers running, 2 serial only
        self.busy = g("gp.busy", I32)
        self.sleepers = g("gp.sleepers", I32)
        self.quit = g("gp.quit", I32)
        self.nworkers = g("gp.nworkers", I32)
        self.requested = g("gp.requested", I32)
        self.threads = g("gp.threads", ir.ArrayType(I64, MAX_THREADS))
        self.stats = g("gp.stats", ir.ArrayType(I64, len(STAT_NAMES)))
        self.caller_cpu = g("gp.caller_cpu", I32)
        self.mask = g("gp.mask", ir.ArrayType(I64, AFFINITY_WORDS))  # the CPUs the pool may use

        fn = self._declare
        self.syscall = fn("syscall", ir.FunctionType(I64, [I64], var_arg=True))
        self.sysconf = fn("sysconf", ir.FunctionType(I64, [I32]))
        self.sched_yield = fn("sched_yield", ir.FunctionType(I32, []))
        self.sched_getcpu = fn("sched_getcpu", ir.FunctionType(I32, []))
        self.pthread_create = fn("pthread_create", ir.FunctionType(I32, [PTR, PTR, PTR, PTR]))
        self.pthread_join = fn("pthread_join", ir.FunctionType(I32, [I64, PTR]))
        self.pause = fn("llvm.x86.sse2.pause", ir.FunctionType(VOID, []))
        self.cycles = fn("llvm.readcyclecounter", ir.FunctionType(I64, []))
        self.ctpop = fn("llvm.ctpop.i64", ir.FunctionType(I64, [I64]))

        self.work = self._work()
        self.move_off = self._move_off()
        self.worker = self._worker()
        self.start = self._start()
        self.shutdown = self._shutdown()
        self._set_threads()
        self._stats()
        self.parallel_for = self._parallel_for()

    # helpers ------------------------------------------------------------------------------------

    def _global(self, name: str, t: ir.Type) -> ir.GlobalVariable:
        var = ir.GlobalVariable(self.module, t, name)
        var.linkage = "internal"
        var.initializer = ir.Constant(t, None)
        var.align = 64 if name in ("gp.word", "gp.gen", "gp.done", "gp.stats") else 8
        return var

    def _declare(self, name: str, fnty: ir.FunctionType) -> ir.Function:
        existing = self.module.globals.get(name)
        if existing is not None:
            return existing
        f = ir.Function(self.module, fnty, name)
        if not name.startswith("llvm."):
            f.attributes.add("nounwind")
        return f

    def _function(self, name: str, fnty: ir.FunctionType, internal: bool = True) -> tuple[ir.Function, ir.IRBuilder]:
        f = ir.Function(self.module, fnty, name)
        if internal:
            f.linkage = "internal"
        f.attributes.add("nounwind")
        f.attributes.add("noinline")
        return f, ir.IRBuilder(f.append_basic_block("entry"))

    @staticmethod
    def _load(b: ir.IRBuilder, ptr, t: ir.Type, ordering: str = "acquire") -> ir.Value:
        return b.load_atomic(ptr, ordering, _size(t), typ=t)

    @staticmethod
    def _store(b: ir.IRBuilder, value, ptr, ordering: str = "release") -> None:
        b.store_atomic(value, ptr, ordering, _size(value.type))

    def _count(self, b: ir.IRBuilder, stat: str, amount: ir.Value | int = 1) -> None:
        slot = b.gep(self.stats, [ir.Constant(I32, 0), ir.Constant(I32, STAT_NAMES.index(stat))], inbounds=True,
                     source_etype=self.stats.value_type)  # fmt: skip
        value = ir.Constant(I64, amount) if isinstance(amount, int) else amount
        b.atomic_rmw("add", slot, value, "monotonic")

    def _mask_word(self, b: ir.IRBuilder, k: int) -> ir.Value:
        """Word k of the pool's CPU mask (`gp.mask`)."""
        index = [ir.Constant(I32, 0), ir.Constant(I32, k)]
        slot = b.gep(self.mask, index, inbounds=True, source_etype=self.mask.value_type)
        return b.load(slot, typ=I64)

    def _futex_wake(self, b: ir.IRBuilder) -> None:
        b.call(
            self.syscall,
            [ir.Constant(I64, SYS_FUTEX), self.gen, ir.Constant(I64, FUTEX_WAKE_PRIVATE), ir.Constant(I64, 2**31 - 1)],
        )

    # work(gen): claim and run chunks of job `gen` until none are left ------------------------------

    def _work(self) -> ir.Function:
        f, b = self._function("gp.work", ir.FunctionType(I64, [I32, I1]))
        gen, from_back = f.args
        ran = b.alloca(I64)
        b.store(ir.Constant(I64, 0), ran)
        loop, claim, run, out = (f.append_basic_block(n) for n in ("loop", "claim", "run", "out"))
        b.branch(loop)
        b.position_at_end(loop)
        w = self._load(b, self.word, I64)
        wgen = b.trunc(b.lshr(w, ir.Constant(I64, 32)), I32)
        lo = b.and_(b.lshr(w, ir.Constant(I64, 16)), ir.Constant(I64, 0xFFFF))
        hi = b.and_(w, ir.Constant(I64, 0xFFFF))
        ours = b.and_(b.icmp_unsigned("==", wgen, gen), b.icmp_unsigned("<", lo, hi))
        b.cbranch(ours, claim, out)
        b.position_at_end(claim)
        claimed = b.select(from_back, b.sub(w, ir.Constant(I64, 1)), b.add(w, ir.Constant(I64, 1 << 16)))
        chunk = b.select(from_back, b.sub(hi, ir.Constant(I64, 1)), lo)
        pair = b.cmpxchg(self.word, w, claimed, "acq_rel", "acquire")
        b.cbranch(b.extract_value(pair, 1), run, loop)
        b.position_at_end(run)
        task = b.load(self.fn, typ=TASK_PTR)
        ctx = b.load(self.ctx, typ=PTR)
        b.call(task, [ctx, chunk, b.add(chunk, ir.Constant(I64, 1))])
        b.atomic_rmw("add", self.done, ir.Constant(I64, 1), "release")
        b.store(b.add(b.load(ran, typ=I64), ir.Constant(I64, 1)), ran)
        b.branch(loop)
        b.position_at_end(out)
        b.ret(b.load(ran, typ=I64))
        return f

    # move_off(): a worker that shares its caller's CPU moves to another one -------------------------

    def _move_off(self) -> ir.Function:
        """Linux can keep a worker on the CPU of the thread that feeds it while another CPU idles
        (measured here: for seconds after the caller slept, both threads runnable on one CPU and
        every model call at its single-thread time; the load balancer moved them together). The
        worker notices (`sched_getcpu` equals the CPU the caller published with its last job) and
        restricts itself to the process's CPUs (the caller's mask when the pool started) minus
        that one, which makes the kernel migrate it at once and keeps the balancer from stacking
        it back. When the caller later lands on the worker's CPU, the next check moves the worker
        again. Nothing happens when no other CPU is allowed."""
        f, b = self._function("gp.move_off", ir.FunctionType(VOID, []))
        theirs = self._load(b, self.caller_cpu, I32, "monotonic")
        same = b.icmp_signed("==", b.call(self.sched_getcpu, []), theirs)
        check, move, out = (f.append_basic_block(n) for n in ("check", "move", "out"))
        b.cbranch(b.and_(same, b.icmp_unsigned("<", theirs, ir.Constant(I32, 64 * AFFINITY_WORDS))), check, out)
        b.position_at_end(check)
        other = b.alloca(I64, size=ir.Constant(I32, AFFINITY_WORDS))
        cpu = b.zext(theirs, I64)
        word_index = b.lshr(cpu, ir.Constant(I64, 6))
        bit = b.shl(ir.Constant(I64, 1), b.and_(cpu, ir.Constant(I64, 63)))
        anything = ir.Constant(I64, 0)
        for k in range(AFFINITY_WORDS):
            clear = b.select(b.icmp_unsigned("==", word_index, ir.Constant(I64, k)), b.not_(bit), ir.Constant(I64, -1))
            word = b.and_(self._mask_word(b, k), clear)
            b.store(word, b.gep(other, [ir.Constant(I64, k)], inbounds=True))
            anything = b.or_(anything, word)
        b.cbranch(b.icmp_unsigned("!=", anything, ir.Constant(I64, 0)), move, out)
        b.position_at_end(move)
        size = ir.Constant(I64, 8 * AFFINITY_WORDS)
        b.call(self.syscall, [ir.Constant(I64, SYS_SCHED_SETAFFINITY), ir.Constant(I64, 0), size, other])
        self._count(b, "moves")
        b.branch(out)
        b.position_at_end(out)
        b.ret_void()
        return f

    # the worker thread ------------------------------------------------------------------------

    def _worker(self) -> ir.Function:
        f, b = self._function("gp.worker", ir.FunctionType(PTR, [PTR]))
        seen = b.alloca(I32)
        since = b.alloca(I64)
        spins = b.alloca(I32)
        b.store(ir.Constant(I32, 0), spins)
        b.store(self._load(b, self.gen, I32), seen)
        outer, spin, job, wait, sleep, woke, leave = (
            f.append_basic_block(n) for n in ("outer", "spin", "job", "wait", "sleep", "woke", "leave")
        )
        b.branch(outer)
        b.position_at_end(outer)
        b.store(b.call(self.cycles, []), since)
        b.branch(spin)

        b.position_at_end(spin)
        quit_ = self._load(b, self.quit, I32)
        check = f.append_basic_block("check")
        b.cbranch(b.icmp_unsigned("!=", quit_, ir.Constant(I32, 0)), leave, check)
        b.position_at_end(check)
        g = self._load(b, self.gen, I32)
        b.cbranch(b.icmp_unsigned("!=", g, b.load(seen, typ=I32)), job, wait)

        b.position_at_end(job)
        b.store(g, seen)
        self._count(b, "chunks_workers", b.call(self.work, [g, ir.Constant(I1, 1)]))
        b.branch(outer)

        b.position_at_end(wait)
        elapsed = b.sub(b.call(self.cycles, []), b.load(since, typ=I64))
        keep_spinning = f.append_basic_block("pause")
        b.cbranch(b.icmp_unsigned("<", elapsed, ir.Constant(I64, SPIN_CYCLES)), keep_spinning, sleep)
        b.position_at_end(keep_spinning)
        b.call(self.pause, [])
        count = b.add(b.load(spins, typ=I32), ir.Constant(I32, 1))
        b.store(count, spins)
        give_way = f.append_basic_block("yield")
        b.cbranch(b.icmp_unsigned("==", b.and_(count, ir.Constant(I32, YIELD_EVERY - 1)), ir.Constant(I32, 0)),
                  give_way, spin)  # fmt: skip
        b.position_at_end(give_way)
        b.call(self.sched_yield, [])
        b.call(self.move_off, [])
        b.branch(spin)

        b.position_at_end(sleep)
        b.atomic_rmw("add", self.sleepers, ir.Constant(I32, 1), "seq_cst")
        g2 = self._load(b, self.gen, I32, "seq_cst")
        q2 = self._load(b, self.quit, I32, "seq_cst")
        still = b.and_(b.icmp_unsigned("==", g2, b.load(seen, typ=I32)), b.icmp_unsigned("==", q2, ir.Constant(I32, 0)))
        do_wait = f.append_basic_block("futex")
        b.cbranch(still, do_wait, woke)
        b.position_at_end(do_wait)
        self._count(b, "worker_sleeps")
        b.call(
            self.syscall,
            [ir.Constant(I64, SYS_FUTEX), self.gen, ir.Constant(I64, FUTEX_WAIT_PRIVATE),
             b.zext(b.load(seen, typ=I32), I64), ir.Constant(PTR, None)],
        )  # fmt: skip
        b.branch(woke)
        b.position_at_end(woke)
        b.atomic_rmw("sub", self.sleepers, ir.Constant(I32, 1), "seq_cst")
        b.call(self.move_off, [])
        b.branch(outer)

        b.position_at_end(leave)
        b.ret(ir.Constant(PTR, None))
        return f

    # start / shutdown / set_threads -----------------------------------------------------------

    def _start(self) -> ir.Function:
        f, b = self._function("gp.start", ir.FunctionType(VOID, []))
        requested = b.load(self.requested, typ=I32)
        size = ir.Constant(I64, 8 * AFFINITY_WORDS)
        got = b.call(self.syscall, [ir.Constant(I64, SYS_SCHED_GETAFFINITY), ir.Constant(I64, 0), size, self.mask])
        # the CPUs this thread may run on: a container or taskset may allow fewer than are online
        usable = ir.Constant(I64, 0)
        for k in range(AFFINITY_WORDS):
            usable = b.add(usable, b.call(self.ctpop, [self._mask_word(b, k)]))
        usable = b.trunc(usable, I32)
        online = b.trunc(b.call(self.sysconf, [ir.Constant(I32, SC_NPROCESSORS_ONLN)]), I32)
        known = b.and_(b.icmp_signed(">", got, ir.Constant(I64, 0)), b.icmp_signed(">", usable, ir.Constant(I32, 0)))
        available = b.select(known, usable, online)
        threads = b.select(b.icmp_signed(">", requested, ir.Constant(I32, 0)), requested, available)
        most = ir.Constant(I32, MAX_THREADS)
        threads = b.select(b.icmp_signed(">", threads, most), most, threads)
        wanted = b.sub(threads, ir.Constant(I32, 1))
        count = b.alloca(I32)
        b.store(ir.Constant(I32, 0), count)
        head, create, created, finish = (f.append_basic_block(n) for n in ("head", "create", "created", "finish"))
        b.branch(head)
        b.position_at_end(head)
        i = b.load(count, typ=I32)
        b.cbranch(b.icmp_signed("<", i, wanted), create, finish)
        b.position_at_end(create)
        slot = b.gep(self.threads, [ir.Constant(I32, 0), i], inbounds=True, source_etype=self.threads.value_type)
        rc = b.call(self.pthread_create, [slot, ir.Constant(PTR, None), self.worker, ir.Constant(PTR, None)])
        b.cbranch(b.icmp_signed("==", rc, ir.Constant(I32, 0)), created, finish)
        b.position_at_end(created)
        b.store(b.add(i, ir.Constant(I32, 1)), count)
        b.branch(head)
        b.position_at_end(finish)
        made = b.load(count, typ=I32)
        b.store(made, self.nworkers)
        state = b.select(b.icmp_signed(">", made, ir.Constant(I32, 0)), ir.Constant(I32, 1), ir.Constant(I32, 2))
        self._store(b, state, self.state)
        b.ret_void()
        return f

    def _shutdown(self) -> ir.Function:
        f, b = self._function(SHUTDOWN, ir.FunctionType(VOID, []), internal=False)
        count = b.alloca(I32)
        names = ("running", "head", "join", "joined", "out")
        running, head, join, joined, out = (f.append_basic_block(n) for n in names)
        state = self._load(b, self.state, I32)
        b.cbranch(b.icmp_signed("==", state, ir.Constant(I32, 1)), running, out)
        b.position_at_end(running)
        self._store(b, ir.Constant(I32, 1), self.quit, "seq_cst")
        b.atomic_rmw("add", self.gen, ir.Constant(I32, 1), "seq_cst")
        self._futex_wake(b)
        b.store(ir.Constant(I32, 0), count)
        b.branch(head)
        b.position_at_end(head)
        i = b.load(count, typ=I32)
        b.cbranch(b.icmp_signed("<", i, b.load(self.nworkers, typ=I32)), join, joined)
        b.position_at_end(join)
        slot = b.gep(self.threads, [ir.Constant(I32, 0), i], inbounds=True, source_etype=self.threads.value_type)
        b.call(self.pthread_join, [b.load(slot, typ=I64), ir.Constant(PTR, None)])
        b.store(b.add(i, ir.Constant(I32, 1)), count)
        b.branch(head)
        b.position_at_end(joined)
        self._store(b, ir.Constant(I32, 0), self.quit, "seq_cst")
        b.store(ir.Constant(I32, 0), self.nworkers)
        b.branch(out)
        b.position_at_end(out)
        self._store(b, ir.Constant(I32, 0), self.state, "seq_cst")
        b.ret_void()
        return f

    def _set_threads(self) -> ir.Function:
        f, b = self._function(SET_THREADS, ir.FunctionType(VOID, [I32]), internal=False)
        b.call(self.shutdown, [])
        b.store(f.args[0], self.requested)
        b.ret_void()
        return f

    # graphc_parallel_for(task, ctx, n) ---------------------------------------------------------

    def _parallel_for(self) -> ir.Function:
        f, b = self._function(PARALLEL_FOR, ir.FunctionType(VOID, [TASK_PTR, PTR, I64, I64]))
        task, ctx, n, cost = f.args
        spins = b.alloca(I32)
        names = ("try", "taken", "serial", "locked", "start", "started", "not_running", "running", "unlock", "publish",
                 "wake", "run", "wait", "spin", "yield", "finish")  # fmt: skip
        bb = {name: f.append_basic_block(name) for name in names}
        few = b.icmp_signed("<=", n, ir.Constant(I64, 1))
        many = b.icmp_signed(">", n, ir.Constant(I64, MAX_CHUNKS))
        b.cbranch(b.or_(few, many), bb["serial"], bb["try"])

        b.position_at_end(bb["try"])
        pair = b.cmpxchg(self.busy, ir.Constant(I32, 0), ir.Constant(I32, 1), "acquire", "monotonic")
        b.cbranch(b.extract_value(pair, 1), bb["locked"], bb["taken"])
        b.position_at_end(bb["taken"])
        self._count(b, "jobs_serial_busy")
        b.branch(bb["serial"])

        b.position_at_end(bb["serial"])
        b.call(task, [ctx, ir.Constant(I64, 0), n])
        b.ret_void()

        b.position_at_end(bb["locked"])
        state = self._load(b, self.state, I32)
        b.cbranch(b.icmp_signed("==", state, ir.Constant(I32, 0)), bb["start"], bb["started"])
        b.position_at_end(bb["start"])
        b.call(self.start, [])
        b.branch(bb["started"])
        b.position_at_end(bb["started"])
        state = self._load(b, self.state, I32)
        b.cbranch(b.icmp_signed("==", state, ir.Constant(I32, 1)), bb["running"], bb["not_running"])
        b.position_at_end(bb["not_running"])
        self._count(b, "jobs_single_thread")
        b.branch(bb["unlock"])
        b.position_at_end(bb["running"])  # workers all asleep and a short job: not worth a wake-up
        asleep = b.icmp_signed("==", self._load(b, self.sleepers, I32, "seq_cst"), b.load(self.nworkers, typ=I32))
        short = b.icmp_signed("<", cost, ir.Constant(I64, WAKE_MIN_NS))
        wait_short = f.append_basic_block("short")
        b.cbranch(b.and_(asleep, short), wait_short, bb["publish"])
        b.position_at_end(wait_short)
        self._count(b, "jobs_serial_short")
        b.branch(bb["unlock"])
        b.position_at_end(bb["unlock"])
        self._store(b, ir.Constant(I32, 0), self.busy)
        b.call(task, [ctx, ir.Constant(I64, 0), n])
        b.ret_void()

        b.position_at_end(bb["publish"])
        self._count(b, "jobs_split")
        self._store(b, b.call(self.sched_getcpu, []), self.caller_cpu, "monotonic")
        b.store(task, self.fn)
        b.store(ctx, self.ctx)
        self._store(b, ir.Constant(I64, 0), self.done, "monotonic")
        gen = b.add(self._load(b, self.gen, I32, "monotonic"), ir.Constant(I32, 1))
        word = b.or_(b.shl(b.zext(gen, I64), ir.Constant(I64, 32)), n)  # chunks [0, n) left
        self._store(b, word, self.word, "seq_cst")
        self._store(b, gen, self.gen, "seq_cst")
        sleepers = self._load(b, self.sleepers, I32, "seq_cst")
        b.cbranch(b.icmp_signed("!=", sleepers, ir.Constant(I32, 0)), bb["wake"], bb["run"])
        b.position_at_end(bb["wake"])
        self._count(b, "wakes")
        self._futex_wake(b)
        b.branch(bb["run"])

        b.position_at_end(bb["run"])
        self._count(b, "chunks_caller", b.call(self.work, [gen, ir.Constant(I1, 0)]))
        b.store(ir.Constant(I32, 0), spins)
        waiting_since = b.call(self.cycles, [])
        b.branch(bb["wait"])
        b.position_at_end(bb["wait"])
        finished = self._load(b, self.done, I64)
        b.cbranch(b.icmp_signed("==", finished, n), bb["finish"], bb["spin"])
        b.position_at_end(bb["spin"])
        b.call(self.pause, [])
        count = b.add(b.load(spins, typ=I32), ir.Constant(I32, 1))
        b.store(count, spins)
        every = b.icmp_unsigned("==", b.and_(count, ir.Constant(I32, YIELD_EVERY - 1)), ir.Constant(I32, 0))
        b.cbranch(every, bb["yield"], bb["wait"])
        b.position_at_end(bb["yield"])
        b.call(self.sched_yield, [])
        b.branch(bb["wait"])

        b.position_at_end(bb["finish"])
        self._count(b, "wait_cycles", b.sub(b.call(self.cycles, []), waiting_since))
        self._store(b, ir.Constant(I32, 0), self.busy)
        b.ret_void()
        return f

    def _stats(self) -> ir.Function:
        f, b = self._function(STATS, ir.FunctionType(VOID, [PTR]), internal=False)
        for k in range(len(STAT_NAMES)):
            src = b.gep(self.stats, [ir.Constant(I32, 0), ir.Constant(I32, k)], inbounds=True,
                        source_etype=self.stats.value_type)  # fmt: skip
            dst = b.gep(f.args[0], [ir.Constant(I64, k)], inbounds=True, source_etype=I64)
            b.store(self._load(b, src, I64, "monotonic"), dst)
        b.ret_void()
        return f


def _size(t: ir.Type) -> int:
    if isinstance(t, ir.IntType):
        return t.width // 8
    return 8
