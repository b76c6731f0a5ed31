"""Ops the triton backend runs outside Triton, each counted as one kernel and listed by `--report`.

`top_k` runs with torch (a stable descending sort: ties keep the lower index, NaN ranks first, as
`graph.top_k` says); `scatter_elements` and `scatter_nd` run on the host with numpy, following
`graph.Scatter`'s sequential meaning (the last update of a duplicate position wins, out-of-range
updates are dropped) exactly as the reference semantics spell it. Each takes torch tensors and the
kernel's meta and returns torch tensors.
"""

from __future__ import annotations

import numpy as np


def operands(torch, args: list, meta_operands: list[dict]) -> list:
    out = []
    for spec in meta_operands:
        if "arg" in spec:
            out.append(args[spec["arg"]])
        else:
            out.append(torch.from_numpy(np.asarray(spec["const"], dtype=spec["dtype"]).reshape(spec["shape"])))
    return out


def top_k(torch, args, kernel):
    (x,) = operands(torch, args, kernel["operands"])
    k = kernel["attrs"]["k"]
    key = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    if x.dtype == torch.bool:
        key = x.to(torch.int8)
    order = torch.sort(key, dim=-1, descending=True, stable=True).indices[..., :k]
    return [torch.gather(x, -1, order), order]


def _scatter_numpy(x: np.ndarray, index: list[np.ndarray], updates: np.ndarray, reduction: str) -> np.ndarray:
    positions = index[0].shape
    dims = x.shape[: len(index)]
    valid = np.ones(positions, np.bool_)
    for i, n in zip(index, dims):
        valid &= (i >= 0) & (i < n)
    out = x.copy()
    if reduction == "none":
        target = np.zeros(positions, np.int64)
        for i, n in zip(index, dims):
            target = target * n + np.clip(i, 0, n - 1)
        order = np.arange(int(np.prod(positions)), dtype=np.int64).reshape(positions)
        target = np.where(valid, target, -1)
        last = np.full(int(np.prod(dims)) + 1, -1, np.int64)
        np.maximum.at(last, target, order)
        valid &= last[target] == order
        out[tuple(i[valid] for i in index)] = updates[valid]
        return out
    ufunc = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[reduction]
    if x.dtype == np.bool_:
        ufunc = np.logical_or if reduction in ("add", "max") else np.logical_and
    ufunc.at(out, tuple(i[valid] for i in index), updates[valid])
    return out


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def scatter_elements(torch, args, kernel):
    x, idx, upd = (_numpy(t) for t in operands(torch, args, kernel["operands"]))
    axis = kernel["attrs"]["axis"]
    grid = np.indices(idx.shape)
    index = [grid[d] for d in range(idx.ndim)]
    wrapped = idx.astype(np.int64)
    index[axis] = np.where(wrapped < 0, wrapped + x.shape[axis], wrapped)
    return [torch.from_numpy(_scatter_numpy(x, index, upd, kernel["attrs"]["reduction"]))]


def scatter_nd(torch, args, kernel):
    x, idx, upd = (_numpy(t) for t in operands(torch, args, kernel["operands"]))
    index = []
    for j in range(idx.shape[-1]):
        i = idx[..., j].astype(np.int64)
        index.append(np.where(i < 0, i + x.shape[j], i))
    return [torch.from_numpy(_scatter_numpy(x, index, upd, kernel["attrs"]["reduction"]))]


FALLBACKS = {"top_k": top_k, "scatter_elements": scatter_elements, "scatter_nd": scatter_nd}
