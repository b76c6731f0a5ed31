"""Runs CPU-backend object code in this process: llvmlite's MCJIT links it, ctypes calls it.

No compiler here: this module imports neither xdsl nor the backend, and loading runs no LLVM
optimization (the object is already machine code; MCJIT only relocates it and resolves libm and
libgcc symbols from the process).

The entry function's ABI is `void entry(void **inputs, void **outputs, void **weights, char *arena)`
and it assumes every buffer is C-contiguous and 64-byte aligned: `aligned_empty` makes such arrays.
`NativeModule.run` copies user inputs (and redirects outputs) that are not; weights and the arena
must already be aligned, since copying them on every call would be a silent cost.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
import threading
import weakref
from collections.abc import Mapping, Sequence
from functools import cache

import llvmlite.binding as llvm
import numpy as np

from graphc.runtime.errors import ArtifactError

ALIGN = 64
_ENTRY_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
_SHUTDOWN_TYPE = ctypes.CFUNCTYPE(None)
_SET_THREADS_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int32)
_STATS_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
POOL_SHUTDOWN = "graphc_parallel_shutdown"
POOL_SET_THREADS = "graphc_parallel_set_threads"
POOL_STATS = "graphc_parallel_stats"
POOL_STAT_NAMES = (
    "jobs_split", "wakes", "jobs_serial_busy", "jobs_serial_short", "jobs_single_thread",
    "chunks_caller", "chunks_workers", "worker_sleeps", "wait_cycles", "moves",
)  # fmt: skip
"""Exported by objects whose kernels use both cores (`graphc.backends.cpu.parallel`): the worker
threads run code inside the object, so they are stopped before the object's memory is released."""


def aligned_empty(shape: Sequence[int] | int, dtype, align: int = ALIGN) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an `align`-byte boundary."""
    shape = (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(d) for d in shape)
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def aligned_copy(array: np.ndarray, align: int = ALIGN) -> np.ndarray:
    out = aligned_empty(array.shape, array.dtype, align)
    np.copyto(out, array)
    return out


def is_aligned(array: np.ndarray, align: int = ALIGN) -> bool:
    """C-contiguous and starting on an `align`-byte boundary (an empty array always is: the
    runtime passes it as a pointer to an aligned dummy)."""
    return array.size == 0 or (array.flags.c_contiguous and array.ctypes.data % align == 0)


@cache
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    # Make libm (expf, tanhf, fmodf, ...) and libgcc (half-precision helpers on CPUs without F16C)
    # visible to the JIT linker, whatever this Python happens to link already.
    for lib in ("m", "gcc_s"):
        path = ctypes.util.find_library(lib)
        if path:
            try:
                llvm.load_library_permanently(path)
            except RuntimeError:
                pass


class NativeModule:
    """An object file linked into this process, with its entry function callable from numpy."""

    def __init__(self, engine, target_machine, entry: str, address: int):
        self._engine = engine  # keeps the code mapped
        self._target_machine = target_machine
        self.entry = entry
        self._fn = _ENTRY_TYPE(address)
        shutdown = engine.get_function_address(POOL_SHUTDOWN)
        set_threads = engine.get_function_address(POOL_SET_THREADS)
        self._set_threads = _SET_THREADS_TYPE(set_threads) if set_threads else None
        stats = engine.get_function_address(POOL_STATS)
        self._stats = _STATS_TYPE(stats) if stats else None
        if shutdown:  # runs when this module is collected or at exit, while the engine is still alive
            weakref.finalize(self, _stop_pool, _SHUTDOWN_TYPE(shutdown), engine)

    def set_threads(self, count: int) -> None:
        """Threads the object's parallel kernels use from the next call on (0: one per online CPU,
        1: the calling thread only). A no-op for objects without parallel kernels."""
        if self._set_threads is not None:
            self._set_threads(int(count))

    def pool_stats(self) -> dict[str, int]:
        """The thread pool's counters since this object was loaded (`graphc.backends.cpu.parallel.
        STAT_NAMES`: jobs split or run serially and why, chunks per side, worker sleeps, cycles the
        caller waited); empty for objects without parallel kernels."""
        if self._stats is None:
            return {}
        out = (ctypes.c_int64 * len(POOL_STAT_NAMES))()
        self._stats(ctypes.addressof(out))
        return dict(zip(POOL_STAT_NAMES, out))

    @classmethod
    def load(cls, object_code: bytes, entry: str) -> NativeModule:
        _init()
        target = llvm.Target.from_triple(llvm.get_process_triple())
        tm = target.create_target_machine(
            cpu=llvm.get_host_cpu_name(),
            features=llvm.get_host_cpu_features().flatten(),
            reloc="pic",
            codemodel="jitdefault",
        )
        missing = [s for s in undefined_symbols(object_code) or [] if not llvm.address_of_symbol(s)]
        if missing:  # MCJIT would abort the process on them
            raise RuntimeError(f"the object code needs symbols this process does not provide: {', '.join(missing)}")
        host = llvm.parse_assembly("")
        host.triple = llvm.get_process_triple()
        engine = llvm.create_mcjit_compiler(host, tm)
        engine.add_object_file(llvm.ObjectFileRef.from_data(bytes(object_code)))
        engine.finalize_object()
        address = engine.get_function_address(entry)
        if not address:
            raise RuntimeError(f"the object code has no function '{entry}'")
        return cls(engine, tm, entry, address)

    def run(
        self,
        inputs: Sequence[np.ndarray],
        outputs: Sequence[np.ndarray],
        weights: Sequence[np.ndarray],
        arena: np.ndarray,
    ) -> None:
        """Calls the entry once; results land in `outputs`."""
        ins = [a if is_aligned(a) else aligned_copy(np.asarray(a)) for a in inputs]
        # the kernels assume outputs overlap nothing they read (noalias): redirect any that do
        read = [*ins, *weights]
        outs = [a if is_aligned(a) and not _overlaps(a, read) else aligned_empty(a.shape, a.dtype) for a in outputs]
        for i, w in enumerate(weights):
            if not is_aligned(w):
                raise ValueError(f"weight {i} is not C-contiguous and {ALIGN}-byte aligned: bind it with aligned_copy")
        if not is_aligned(arena):
            raise ValueError(f"the arena must be C-contiguous and {ALIGN}-byte aligned: use aligned_empty")
        tables = [_pointer_table(ins), _pointer_table(outs), _pointer_table(weights)]
        self._fn(*(ctypes.addressof(t) for t in tables), _pointer(arena))
        for user, ours in zip(outputs, outs):
            if user is not ours:
                np.copyto(user, ours)


def _stop_pool(shutdown, engine) -> None:
    shutdown()
    del engine


def undefined_symbols(object_code: bytes) -> list[str] | None:
    """Names an ELF64 little-endian object imports (libm, libc), or None for other formats."""
    data = bytes(object_code)
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = []
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != 2:  # SHT_SYMTAB
            continue
        strtab_offset = sections[link][4]
        for at in range(offset, offset + size, entsize or 24):
            st_name, st_info, _, st_shndx = struct.unpack_from("<IBBH", data, at)
            if st_shndx == 0 and st_name and (st_info >> 4) in (1, 2):  # undefined, global or weak
                end = data.index(b"\0", strtab_offset + st_name)
                name = data[strtab_offset + st_name : end].decode()
                if name != "_GLOBAL_OFFSET_TABLE_":  # the JIT linker provides it
                    names.append(name)
    return sorted(set(names))


def _overlaps(array: np.ndarray, others: Sequence[np.ndarray]) -> bool:
    return any(np.may_share_memory(array, other) for other in others)


_EMPTY = aligned_empty(ALIGN, np.uint8)


def _pointer(array: np.ndarray) -> int:
    return array.ctypes.data if array.size else _EMPTY.ctypes.data


def _pointer_table(arrays: Sequence[np.ndarray]):
    table = (ctypes.c_void_p * max(1, len(arrays)))()
    for i, a in enumerate(arrays):
        table[i] = _pointer(a)
    return table


class NativeExecutor:
    """Runs a CPU-backend artifact (the runtime's executor interface).

    Binds the weights once (aligned copies, in the order of the weight table) and keeps one arena
    for every call; calls are serialized, since they share that arena.
    """

    def __init__(self, meta: Mapping, sections: Mapping[str, bytes], weights: Mapping[str, np.ndarray]):
        check_target(meta.get("target", {}))
        self.module = NativeModule.load(sections["object.o"], meta["entry"])
        self.weights = []
        for name, spec in zip(meta["weight_names"], meta["weights"]):
            array = np.asarray(weights[name])
            size = int(np.prod(spec["shape"], dtype=np.int64))
            if array.dtype != np.dtype(spec["dtype"]) or array.size != size:
                raise ArtifactError(
                    f"weight '{name}' is {array.dtype}{list(array.shape)}; the code expects "
                    f"{spec['dtype']}{spec['shape']}"
                )
            self.weights.append(aligned_copy(array.reshape(spec["shape"])))
        self.arena = aligned_empty(int(meta["arena_bytes"]), np.uint8)
        self.output_specs = [(tuple(o["shape"]), np.dtype(o["dtype"])) for o in meta["outputs"]]
        self._lock = threading.Lock()

    def run(self, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
        """Fresh output arrays per call, or the caller's (already checked) `outputs`: reusing them
        saves the page faults of new memory, which dominate large elementwise models."""
        if outputs is None:
            outputs = [aligned_empty(shape, dtype) for shape, dtype in self.output_specs]
        with self._lock:
            self.module.run(inputs, outputs, self.weights, self.arena)
        return outputs


def check_target(target: Mapping) -> None:
    """Refuses object code that uses CPU features this machine lacks (it would crash)."""
    if not target:
        return
    _init()
    have = {f[1:] for f in llvm.get_host_cpu_features().flatten().split(",") if f.startswith("+")}
    need = {f[1:] for f in str(target.get("features", "")).split(",") if f.startswith("+")}
    missing = sorted(need - have)
    if missing:
        raise ArtifactError(
            f"this artifact was compiled for a {target.get('cpu')} CPU and needs features this machine lacks "
            f"({', '.join(missing[:8])}{'...' if len(missing) > 8 else ''}): recompile it here"
        )
