"""Runs a `c` artifact: loads `kernels.so` with ctypes and calls `graphc_main(float **slots)`."""

from __future__ import annotations

import ctypes
import os
import tempfile

import numpy as np


class CExecutor:
    def __init__(self, meta: dict, sections: dict[str, bytes], weights: dict[str, np.ndarray]):
        # dlopen needs a file: write the library to a temporary one, load it, remove it (the mapping stays).
        fd, path = tempfile.mkstemp(prefix="graphc-c-", suffix=".so")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(sections["kernels.so"])
            self._lib = ctypes.CDLL(path)
        finally:
            os.unlink(path)
        self._entry = getattr(self._lib, meta.get("entry", "graphc_main"))
        self._entry.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        self._entry.restype = None
        self._slots = meta["slots"]
        self._outputs = meta["outputs"]
        self._buffers: list[np.ndarray | None] = []
        for spec in self._slots:
            if spec["kind"] == "weight":
                array = np.ascontiguousarray(weights[spec["name"]], dtype=np.float32).reshape(spec["shape"])
            elif spec["kind"] == "temp":
                array = np.empty(spec["shape"], np.float32)
            else:
                array = None  # an input: bound per call
            self._buffers.append(array)
        self._pointers = (ctypes.c_void_p * len(self._slots))()
        for i, array in enumerate(self._buffers):
            if array is not None:
                self._pointers[i] = array.ctypes.data

    def run(self, inputs: list[np.ndarray], outputs: list[np.ndarray] | None = None) -> list[np.ndarray]:
        keep = []
        for i, spec in enumerate(self._slots):
            if spec["kind"] == "input":
                array = np.ascontiguousarray(inputs[spec["index"]], dtype=np.float32)
                keep.append(array)
                self._pointers[i] = array.ctypes.data
        self._entry(self._pointers)
        results = [self._buffers[s] if self._buffers[s] is not None else keep[self._slots[s]["index"]]
                   for s in self._outputs]  # fmt: skip
        if outputs is None:
            return [r.copy() for r in results]
        for out, result in zip(outputs, results):
            np.copyto(out, result)
        return list(outputs)
