"""Runs a triton-backend artifact: Triton kernels on torch tensors, in schedule order.

Constructed by the runtime as `TritonExecutor(meta, sections, weights)` (the backend's meta: slots,
kernels, outputs — see `graphc.backends.triton.backend`). torch and triton are imported lazily; a
machine without them gets a one-line error. On CUDA the kernels are compiled and launched on the
GPU (with `triton.autotune` over each kernel's configs); without CUDA they run on CPU tensors under
Triton's interpreter (`TRITON_INTERPRET=1`, set here before triton is imported), with the larger
interpreter block sizes (fewer, wider programs: the interpreter's cost is per program).

Each kernel's source is written to a content-addressed file in a cache folder and imported from
there (`@triton.jit` reads real source files). Buffers: inputs and weights are bound per call,
intermediates are allocated once and reused, free reshapes are tensor views. `top_k` and scatters
are fallbacks that run with torch (`graphc compile --report` lists them).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import warnings

import numpy as np

from graphc.runtime.errors import ArtifactError


def _import_torch_triton():
    try:
        import torch
    except ImportError:
        raise ArtifactError("the triton target needs torch and triton: pip install 'graphc[triton]'") from None
    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
    try:
        import triton
    except ImportError:
        raise ArtifactError("the triton target needs triton: pip install 'graphc[triton]'") from None
    return torch, triton


def cache_dir() -> str:
    root = os.environ.get("GRAPHC_CACHE_DIR") or os.path.join(tempfile.gettempdir(), f"graphc-{os.getuid()}")
    path = os.path.join(root, "triton")
    os.makedirs(path, exist_ok=True)
    return path


def load_kernel_module(source: bytes):
    """Imports one kernel module from a file named by its content hash (written once)."""
    digest = hashlib.sha256(source).hexdigest()[:24]
    name = f"graphc_triton_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    path = os.path.join(cache_dir(), name + ".py")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def grid_of(exprs: list[str], blocks: dict[str, int]) -> tuple[int, ...]:
    return tuple(int(eval(e, {"__builtins__": {}, "cdiv": cdiv}, dict(blocks))) for e in exprs)


class TritonExecutor:
    def __init__(self, meta: dict, sections: dict[str, bytes], weights: dict[str, np.ndarray]):
        self.torch, self.triton = _import_torch_triton()
        torch = self.torch
        self.cuda = torch.cuda.is_available()
        self.device = torch.device("cuda" if self.cuda else "cpu")
        self.heuristic_blocks = os.environ.get("GRAPHC_TRITON_BLOCKS") == "heuristic"
        """Launch with the GPU heuristic's block sizes under the interpreter too (tests of masked tails)."""
        self.meta = meta
        self.slots = meta["slots"]
        self.tensors: list = [None] * len(self.slots)
        for i, slot in enumerate(self.slots):
            kind = slot["kind"]
            if kind == "weight":
                self.tensors[i] = self._to_device(np.asarray(weights[slot["weight"]]).reshape(slot["shape"]))
            elif kind == "const":
                array = np.asarray(slot["values"], dtype=_numpy_dtype(slot["dtype"]))
                array = array.reshape(slot["shape"]) if array.size > 1 else np.broadcast_to(array, slot["shape"])
                self.tensors[i] = self._to_device(array.copy())
            elif kind == "temp":
                self.tensors[i] = torch.empty(slot["shape"], dtype=_torch_dtype(torch, slot["dtype"]), device=self.device)
        self.launches = [self._prepare(k, sections) for k in meta["kernels"]]

    def _to_device(self, array: np.ndarray):
        return _from_numpy(self.torch, np.ascontiguousarray(array)).to(self.device)

    def _prepare(self, kernel: dict, sections: dict[str, bytes]):
        if kernel["template"] == "fallback":
            from graphc.runtime.triton_fallbacks import FALLBACKS

            return ("fallback", FALLBACKS[kernel["op"]], kernel)
        module = load_kernel_module(sections[kernel["source"]])
        fn = getattr(module, kernel["function"])
        tables = [self._to_device(np.asarray(t["values"], dtype=t["dtype"])) for t in kernel["tables"]]
        if self.cuda and kernel["autotune"]:
            configs = [
                self.triton.Config({k: v for k, v in c.items() if k != "num_warps"}, num_warps=c.get("num_warps", 4))
                for c in kernel["autotune"]
            ]
            fn = self.triton.autotune(configs=configs, key=[])(fn)
            grid = (lambda exprs: lambda meta: grid_of(exprs, meta))(kernel["grid"])
            return ("autotuned", fn, grid, {}, tables, kernel)
        blocks = kernel["blocks"] if self.cuda or self.heuristic_blocks else kernel["interpret_blocks"]
        return ("kernel", fn, grid_of(kernel["grid"], blocks), blocks, tables, kernel)

    def run(self, inputs: list[np.ndarray], outputs: list[np.ndarray] | None = None) -> list[np.ndarray]:
        torch = self.torch
        tensors = self.run_tensors([self._to_device(x) for x in inputs])
        results = []
        for k, (slot, tensor) in enumerate(zip(self.meta["outputs"], tensors)):
            array = _to_numpy(torch, tensor, self.slots[slot]["dtype"])
            if outputs is not None:
                np.copyto(outputs[k], array)
                results.append(outputs[k])
            else:
                results.append(array.copy())
        return results

    def run_tensors(self, inputs: list) -> list:
        """Runs the schedule on torch tensors already on the device (benchmarks time this: no host
        copies); returns the output tensors, which alias internal buffers until the next call."""
        torch = self.torch
        tensors = list(self.tensors)
        for i, slot in enumerate(self.slots):
            if slot["kind"] == "input":
                tensors[i] = inputs[slot["index"]]
            elif slot["kind"] == "view":
                tensors[i] = tensors[slot["base"]].reshape(slot["shape"])
        for launch in self.launches:
            if launch[0] == "fallback":
                _, fn, kernel = launch
                results = fn(torch, [tensors[a].cpu() for a in kernel["args"]], kernel)
                for slot, value in zip(kernel["results"], results):
                    tensors[slot].copy_(value.to(tensors[slot].dtype).reshape(tensors[slot].shape))
                continue
            _, fn, grid, blocks, tables, kernel = launch
            args = [tensors[a] for a in kernel["args"] + kernel["results"]] + tables
            fn[grid](*args, **blocks)
        return [tensors[slot].reshape(self.slots[slot]["shape"]) for slot in self.meta["outputs"]]


def _numpy_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        from ml_dtypes import bfloat16

        return np.dtype(bfloat16)
    return np.dtype(name)


def _torch_dtype(torch, name: str):
    return getattr(torch, {"bool": "bool"}.get(name, name))


def _from_numpy(torch, array: np.ndarray):
    """A tensor sharing the array's memory. Read-only arrays (weights from the artifact, inputs from
    `np.load`) are fine: kernels only read their operands (the fusion contract), so torch's warning
    about non-writable memory is silenced instead of copying."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        if array.dtype.name == "bfloat16":
            return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(array)


def _to_numpy(torch, tensor, dtype: str) -> np.ndarray:
    tensor = tensor.detach().cpu().contiguous()
    if dtype == "bfloat16":
        return tensor.view(torch.int16).numpy().view(_numpy_dtype(dtype))
    return tensor.numpy()
