"""ONNX Resize (opset 10+) and Upsample (7-9): separable interpolation along each resized axis.

Resizing is separable, so each resized axis is done on its own. For an axis, the front end computes
at compile time, with ONNX's formulas (coordinate transformation, nearest rounding, linear and cubic
kernels with `cubic_coeff_a`, `exclude_outside`, `antialias`, `tf_crop_and_resize` with its
extrapolation value), the source index and weight of every tap of every output position. The graph
then gathers each tap along the axis and sums the weighted taps, exactly as the ONNX reference does
(nearest mode is a single gather). Integer inputs are interpolated in float32, rounded half to even
and clipped to the type's range (ONNX's saturating cast).

Any rank and any set of axes work; the output size comes from `sizes` (with
`keep_aspect_ratio_policy`) or from `scales` (floor(scale * size)), and the coordinate mapping uses
the given scale, not the ratio of the sizes.
"""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from graphc.dialects import dtypes
from graphc.dialects import graph as g
from graphc.frontends.onnx_context import (
    NodeError,
    OnnxConverter,
    OnnxNode,
    Unsupported,
    converts,
    need,
    normalize_axes,
)

_COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                     "tf_crop_and_resize")  # fmt: skip


def source_coordinates(mode: str, out_size: int, in_size: int, scale: float, roi: tuple[float, float] | None) -> np.ndarray:
    """The source coordinate of every output position (ONNX's coordinate_transformation_mode)."""
    y = np.arange(out_size, dtype=np.float64)
    length = scale * in_size  # the output length before rounding to an integer
    if mode == "align_corners":
        return np.zeros(out_size) if length == 1 else y * (in_size - 1) / (length - 1)
    if mode == "asymmetric":
        return y / scale
    if mode == "pytorch_half_pixel":
        return np.full(out_size, -0.5) if length == 1 else (y + 0.5) / scale - 0.5
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        offset = in_size / 2 * (1 - out_size / length)
        return offset + (y + 0.5) / scale - 0.5
    if mode == "tf_crop_and_resize":
        start, end = roi if roi is not None else (0.0, 1.0)
        if length == 1:
            x = np.full(out_size, (end - start) * (in_size - 1) / 2)
        else:
            x = y * (end - start) * (in_size - 1) / (length - 1)
        return x + start * (in_size - 1)
    raise NodeError(f"coordinate_transformation_mode '{mode}' is not one of {', '.join(_COORDINATE_MODES)}")


def _kernel(mode: str, ratio: float, scale: float, cubic_a: float, antialias: bool, nearest_mode: str) -> np.ndarray:
    """Tap weights for a source position `ratio` (in (0, 1]) past the tap left of it."""
    if mode == "nearest":
        if float(ratio).is_integer():
            return np.array([0.0, 1.0])
        pick_right = {
            "round_prefer_floor": ratio > 0.5,
            "round_prefer_ceil": ratio >= 0.5,
            "floor": False,
            "ceil": True,
        }.get(nearest_mode)
        if pick_right is None:
            raise NodeError(f"nearest_mode '{nearest_mode}' is not supported")
        return np.array([0.0, 1.0]) if pick_right else np.array([1.0, 0.0])
    if mode == "linear":
        if not antialias:
            return np.array([1 - ratio, ratio])
        s = min(scale, 1.0)
        start = int(np.floor(-1 / s) + 1)
        taps = (np.arange(start, 2 - start) - ratio) * s
        weights = np.clip(1 - np.abs(taps), 0, 1)
        return weights / weights.sum()
    if mode == "cubic":
        if not antialias:
            d = np.array([ratio + 1, ratio, 1 - ratio, 2 - ratio])
        else:
            s = min(scale, 1.0)
            start = int(np.floor(-2 / s) + 1)
            d = np.abs(s * (np.arange(start, 2 - start) - ratio))
        a = cubic_a
        near = ((a + 2) * d - (a + 3)) * d * d + 1
        far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        weights = np.where(d <= 1, near, np.where(d < 2, far, 0.0))
        return weights / weights.sum() if antialias else weights
    raise NodeError(f"mode '{mode}' is not nearest, linear or cubic")


def axis_taps(mode: str, coords: str, nearest_mode: str, in_size: int, out_size: int, scale: float, cubic_a: float,
              exclude_outside: bool, antialias: bool, roi) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:  # fmt: skip
    """(indices [taps, out], weights [taps, out], extrapolated [out] or None) for one axis."""
    x = source_coordinates(coords, out_size, in_size, scale, roi)
    base = np.floor(x)
    ratios = np.where(x == base, 1.0, x - base)
    weights = np.stack([_kernel(mode, float(r), scale, cubic_a, antialias, nearest_mode) for r in ratios], axis=1)
    n = weights.shape[0]
    # The n source positions nearest to x, ties going to the smaller index (ONNX's neighbours).
    pad = int(np.ceil(n / 2))
    shifted = x + pad
    p = np.floor(shifted)
    frac = shifted - p
    if n % 2 == 0:
        offset = np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    else:
        offset = np.where(frac <= 0.5, -((n - 1) // 2), -((n - 1) // 2) + 1)
    first = p.astype(np.int64) + offset - pad
    indices = first[None, :] + np.arange(n)[:, None]
    if exclude_outside:
        outside = (indices < 0) | (indices >= in_size)
        weights = np.where(outside, 0.0, weights)
        total = weights.sum(axis=0, keepdims=True)
        weights = weights / np.where(total == 0, 1.0, total)
    indices = np.clip(indices, 0, in_size - 1)
    extrapolated = None
    if coords == "tf_crop_and_resize":
        extrapolated = (x < 0) | (x > in_size - 1)
        if not extrapolated.any():
            extrapolated = None
    if mode == "nearest":  # a single tap: the one with weight 1
        pick = np.argmax(weights, axis=0)
        indices = indices[pick, np.arange(out_size)][None, :]
        weights = np.ones((1, out_size))
    return indices, weights, extrapolated


def _resize_axis(ctx: OnnxConverter, x: SSAValue, axis: int, indices: np.ndarray, weights: np.ndarray,
                 extrapolated: np.ndarray | None, extrapolation_value: float) -> SSAValue:  # fmt: skip
    rank = ctx.rank(x)
    out_size = indices.shape[1]
    along = [out_size if i == axis else 1 for i in range(rank)]
    dtype = ctx.np_dtype(x)
    total = None
    for tap in range(indices.shape[0]):
        picked = ctx.op(g.GatherOp, [x, ctx.const(indices[tap])], axis=g.int_attr(axis), batch_dims=g.int_attr(0))
        if indices.shape[0] > 1 or not np.all(weights[tap] == 1):
            picked = ctx.op(g.MulOp, [picked, ctx.const(weights[tap].astype(dtype).reshape(along))])
        total = picked if total is None else ctx.op(g.AddOp, [total, picked])
    if extrapolated is not None:
        mask = ctx.const(extrapolated.reshape(along))
        total = ctx.op(g.SelectOp, [mask, ctx.scalar(extrapolation_value, total), total])
    return total


def resize(ctx: OnnxConverter, x: SSAValue, out_sizes: list[int], scales: list[float], *, mode: str, coords: str,
           nearest_mode: str = "round_prefer_floor", cubic_a: float = -0.75, exclude_outside: bool = False,
           antialias: bool = False, roi: list[float] | None = None, extrapolation_value: float = 0.0) -> SSAValue:  # fmt: skip
    """Resizes every axis whose size or scale changes (see the module docstring)."""
    shape = ctx.shape(x)
    rank = len(shape)
    element = ctx.element(x)
    is_float = dtypes.is_float(element)
    if dtypes.is_bool(element):
        raise NodeError("cannot resize a boolean tensor")
    y = x if is_float else ctx.cast(x, dtypes.f32)
    for axis in range(rank):
        axis_roi = None if roi is None else (roi[axis], roi[axis + rank])
        identity_roi = axis_roi is None or (np.isclose(axis_roi[0], 0) and np.isclose(axis_roi[1], 1))
        if np.isclose(scales[axis], 1.0) and out_sizes[axis] == shape[axis] and identity_roi:
            continue
        if shape[axis] == 0 or out_sizes[axis] == 0:
            raise NodeError(f"cannot resize axis {axis} from {shape[axis]} to {out_sizes[axis]}")
        indices, weights, extrapolated = axis_taps(mode, coords, nearest_mode, shape[axis], out_sizes[axis], scales[axis],
                                                   cubic_a, exclude_outside, antialias, axis_roi)  # fmt: skip
        y = _resize_axis(ctx, y, axis, indices, weights, extrapolated, extrapolation_value)
    if not is_float:
        info = np.iinfo(dtypes.to_numpy_dtype(element))
        y = ctx.op(g.RoundOp, [y])
        y = ctx.op(g.MinOp, [ctx.op(g.MaxOp, [y, ctx.scalar(info.min, y)]), ctx.scalar(info.max, y)])
        y = ctx.cast(y, element)
    return y


@converts("Resize", since=10, static=(1, 2, 3))
def _resize(ctx: OnnxConverter, node: OnnxNode, inputs):
    need(node, inputs, 0)
    x = inputs[0]
    shape = list(ctx.shape(x))
    rank = len(shape)
    if node.version == 10:
        scales_in, sizes_in, roi = ctx.static(inputs, 1), None, None
        coords, nearest_mode = "asymmetric", "floor"
    else:
        roi = _optional_floats(ctx, inputs, 1)
        scales_in = ctx.static(inputs, 2) if len(inputs) > 2 and inputs[2] is not None else None
        sizes_in = ctx.static(inputs, 3) if len(inputs) > 3 and inputs[3] is not None else None
        if scales_in is not None and scales_in.size == 0:
            scales_in = None
        coords = node.get_str("coordinate_transformation_mode", "half_pixel")
        nearest_mode = node.get_str("nearest_mode", "round_prefer_floor")
    axes = normalize_axes(node.get_ints("axes", None), rank) if node.version >= 18 and node.has("axes") else list(range(rank))
    mode = node.get_str("mode", "nearest")
    antialias = bool(node.get_int("antialias", 0)) if node.version >= 18 else False
    if antialias and mode == "nearest":
        raise NodeError("antialias applies to linear and cubic modes only")
    if coords not in _COORDINATE_MODES:
        raise NodeError(f"coordinate_transformation_mode '{coords}' is not supported")
    if roi is not None and coords == "tf_crop_and_resize":
        if len(roi) != 2 * len(axes):
            raise NodeError(f"roi {roi} does not match {len(axes)} axes")
        full = [0.0] * rank + [1.0] * rank
        for i, a in enumerate(axes):
            full[a], full[rank + a] = roi[i], roi[len(axes) + i]
        roi = full
    else:
        roi = None
    scales = [1.0] * rank
    sizes = list(shape)
    if sizes_in is not None:
        wanted = [int(v) for v in sizes_in.reshape(-1)]
        if len(wanted) != len(axes):
            raise NodeError(f"sizes {wanted} do not match {len(axes)} axes")
        policy = node.get_str("keep_aspect_ratio_policy", "stretch") if node.version >= 18 else "stretch"
        ratios = [wanted[i] / shape[a] for i, a in enumerate(axes)]
        if policy == "stretch":
            for i, a in enumerate(axes):
                sizes[a], scales[a] = wanted[i], ratios[i]
        elif policy in ("not_larger", "not_smaller"):
            scale = min(ratios) if policy == "not_larger" else max(ratios)
            for a in axes:
                sizes[a], scales[a] = int(scale * shape[a] + 0.5), scale
        else:
            raise NodeError(f"keep_aspect_ratio_policy '{policy}' is not stretch, not_larger or not_smaller")
    elif scales_in is not None:
        given = [float(v) for v in scales_in.reshape(-1)]
        if len(given) != len(axes) or any(s <= 0 for s in given):
            raise NodeError(f"scales {given} do not match {len(axes)} axes or are not positive")
        for i, a in enumerate(axes):
            scales[a] = given[i]
            sizes[a] = int(given[i] * shape[a])
    else:
        raise NodeError("one of scales and sizes must be given")
    return [resize(ctx, x, sizes, scales, mode=mode, coords=coords, nearest_mode=nearest_mode,
                   cubic_a=node.get_float("cubic_coeff_a", -0.75), exclude_outside=bool(node.get_int("exclude_outside", 0)),
                   antialias=antialias, roi=roi, extrapolation_value=node.get_float("extrapolation_value", 0.0))]  # fmt: skip


def _optional_floats(ctx: OnnxConverter, inputs, index: int) -> list[float] | None:
    if index >= len(inputs) or inputs[index] is None:
        return None
    values = ctx.static(inputs, index).reshape(-1)
    return [float(v) for v in values] if values.size else None


@converts("Upsample", since=7, until=9, static=(1,))
def _upsample(ctx: OnnxConverter, node: OnnxNode, inputs):
    """Upsample: asymmetric coordinates; nearest repeats each element (floor rounding)."""
    need(node, inputs, 0)
    x = inputs[0]
    shape = list(ctx.shape(x))
    given = node.get_floats("scales") if node.version < 9 else [float(v) for v in ctx.static(inputs, 1).reshape(-1)]
    if len(given) != len(shape) or any(s < 1 for s in given):
        raise NodeError(f"scales {given} must give one factor >= 1 per axis")
    mode = node.get_str("mode", "nearest")
    if mode == "bilinear":
        mode = "linear"
    if mode not in ("nearest", "linear"):
        raise Unsupported(f"Upsample mode '{mode}' is not supported")
    sizes = [int(s * d) for s, d in zip(given, shape)]
    return [resize(ctx, x, sizes, given, mode=mode, coords="asymmetric", nearest_mode="floor")]
