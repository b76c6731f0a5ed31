"""Elemental evaluation (the fusion docstring's rule) as Triton source: a region value at a block of indices.

Takes a region body's graph values and an index — one Triton expression per dimension of the
value's shape, each a tensor that broadcasts to the template's block (e.g. `[BLOCK]` for a loop,
`[BLOCK_M, BLOCK_N]` for a matmul tile) — plus the block's mask; leaves the lines computing the
value there in the `Emitter` and returns their variable:
- block arguments are masked loads at the row-major offset;
- elementwise ops read each operand at its broadcast index (`expressions.elementwise`);
- views are index maps (reshape linearises and delinearises, transpose permutes, slice scales and
  shifts, reverse mirrors, broadcast reads index 0); pads and concats select with extra masks;
- pools loop over the window (padding never counts);
- the gathers and resize (opaque ops whose elements are indexed loads) load their indices first.
Values are cached per (value, index, mask) in the emitter's scope, so a value used twice at the
same index is computed once. `overrides` maps values the template computed itself (a matmul
accumulator, a row's reduction) to their variables.
"""

from __future__ import annotations

import re
from math import prod

import numpy as np
from xdsl.ir import BlockArgument, SSAValue

from graphc.backends.triton import expressions
from graphc.backends.triton.source import Emitter, is_float, literal, tl_type, to_register, type_min
from graphc.dialects import dtypes, fusion
from graphc.dialects import graph as g
from graphc.dialects.resources import WeightStore, constant_value
from graphc.dialects.semantics import resize_matrix
from graphc.errors import GraphcError

Index = tuple[str, ...]
_IDENT = re.compile(r"[A-Za-z_]\w*")
_TL_CALL = re.compile(r"tl\.\w+")

INDEXED_OPS = (g.GatherOp, g.GatherNdOp, g.GatherElementsOp, g.ResizeOp)
"""Opaque ops evaluated elementally here (their operand indices come from memory or tables)."""


def strides(shape) -> list[int]:
    out, step = [], 1
    for d in reversed(shape):
        out.append(step)
        step *= d
    return out[::-1]


class Elemental:
    def __init__(self, em: Emitter, pointers: dict[SSAValue, str], overrides: dict[SSAValue, str] | None = None):
        self.em = em
        self.pointers = pointers
        self.overrides = dict(overrides or {})
        self.tables: list[tuple[str, np.ndarray]] = []
        """Constant tables the kernel reads (resize taps): (pointer parameter, array)."""
        self.block_vars: set[str] = set()
        """Variables known to be block tensors (templates add their index vectors). An offset built
        from none of them may be a scalar: its load is broadcast to the mask's shape."""

    def is_block(self, expr: str) -> bool:
        return any(name in self.block_vars for name in _IDENT.findall(_TL_CALL.sub("", expr)))

    # ----------------------------------------------------------------------------- index helpers

    def linear(self, idx: Index, shape) -> str:
        terms = []
        for i, d, s in zip(idx, shape, strides(shape)):
            if d == 1 or i == "0":
                continue
            terms.append(i if s == 1 else f"{i} * {s}")
        return " + ".join(terms) if terms else "0"

    def delinearize(self, lin: str, shape) -> Index:
        if lin == "0":
            return tuple("0" for _ in shape)
        key = ("delin", lin, tuple(shape))
        hit = self.em.lookup(key)
        if hit is not None:
            return hit
        out = []
        first = next((k for k, d in enumerate(shape) if d != 1), None)
        for k, (d, s) in enumerate(zip(shape, strides(shape))):
            if d == 1:
                out.append("0")
                continue
            expr = lin if s == 1 else f"{lin} // {s}"
            if k != first:
                expr = f"({expr}) % {d}"
            out.append(self.bind(expr))
        result = tuple(out)
        self.em.remember(key, result)
        return result

    def bind(self, expr: str, prefix: str = "i") -> str:
        """A variable for a non-trivial index expression (keeps generated lines short)."""
        if expr.isidentifier() or expr.lstrip("-").isdigit():
            return expr
        key = ("bind", expr)
        hit = self.em.lookup(key)
        if hit is None:
            hit = self.em.assign(expr, prefix)
            self.em.remember(key, hit)
            if self.is_block(expr):
                self.block_vars.add(hit)
        return hit

    def all_block(self, expr: str) -> bool:
        names = [n for n in _IDENT.findall(_TL_CALL.sub("", expr)) if n != "None"]
        return all(n in self.block_vars for n in names)

    def condition(self, expr: str) -> str:
        """A boolean variable for `expr`, normalised to int1 data when scalars take part."""
        return self.bind(expr if self.all_block(expr) else f"({expr}) != 0", "p")

    def and_mask(self, mask: str, cond: str) -> str:
        if not self.all_block(cond):
            # Part of the condition may be a scalar (a window tap of a 1-pixel output): the
            # interpreter turns `block & scalar` into int32 data, which a mask must not be.
            return self.bind(f"tl.where({mask}, ({cond}) != 0, False)", "m")
        return self.bind(f"{mask} & ({cond})", "m")

    # ----------------------------------------------------------------------------- evaluation

    def at(self, value: SSAValue, idx: Index, mask: str) -> str:
        if value in self.overrides:
            return self.overrides[value]
        idx = tuple(idx)
        key = (value, idx, mask)
        hit = self.em.lookup(key)
        if hit is not None:
            return hit
        name = self._compute(value, idx, mask)
        self.em.remember(key, name)
        return name

    def load(self, value: SSAValue, idx: Index, mask: str) -> str:
        x = self.masked_load(self.pointers[value], self.linear(idx, g.shape_of(value.type)), mask)
        if value.type.element_type == dtypes.bf16:  # bfloat16 computes in float32 registers
            x = self.bind(f"{x}.to(tl.float32)", "x")
        return x

    def masked_load(self, ptr: str, offset: str, mask: str, prefix: str = "x") -> str:
        if not self.is_block(offset):  # a scalar offset: broadcast it to the block (and mask it)
            offset = f"tl.where({mask}, {offset}, 0)"
        name = self.bind(f"tl.load({ptr} + {offset}, mask={mask}, other=0)", prefix)
        self.block_vars.add(name)
        return name

    def _compute(self, value: SSAValue, idx: Index, mask: str) -> str:
        if value in self.pointers:
            return self.load(value, idx, mask)
        if isinstance(value, BlockArgument):
            raise GraphcError(f"internal error: triton backend: block argument {value} has no pointer")
        op = value.owner
        shape = g.shape_of(value.type)
        if isinstance(op, g.ConstantOp):
            return self._constant(op, idx, shape)
        if isinstance(op, fusion.ELEMENTWISE_OPS):
            args = [self.at(v, broadcast_index(idx, shape, g.shape_of(v.type)), mask) for v in op.operands]
            return expressions.elementwise(self.em, op, args)
        if isinstance(op, g.ReshapeOp):
            src = g.shape_of(op.input.type)
            if [d for d in src if d != 1] == [d for d in shape if d != 1]:
                kept = iter(i for i, d in zip(idx, shape) if d != 1)
                return self.at(op.input, tuple("0" if d == 1 else next(kept) for d in src), mask)
            lin = self.bind(self.linear(idx, shape), "l")
            return self.at(op.input, self.delinearize(lin, src), mask)
        if isinstance(op, g.TransposeOp):
            perm = g.get_ints(op.attrs(), "perm")
            src = [""] * len(perm)
            for d, p in enumerate(perm):
                src[p] = idx[d]
            return self.at(op.input, tuple(src), mask)
        if isinstance(op, g.BroadcastToOp):
            return self.at(op.input, broadcast_index(idx, shape, g.shape_of(op.input.type)), mask)
        if isinstance(op, g.SliceOp):
            attrs = op.attrs()
            starts, steps = g.get_ints(attrs, "starts"), g.get_ints(attrs, "strides")
            src = tuple(affine(i, st, s) for i, s, st in zip(idx, starts, steps))
            return self.at(op.input, tuple(self.bind(i) for i in src), mask)
        if isinstance(op, g.ReverseOp):
            axes = set(g.get_ints(op.attrs(), "axes"))
            src = tuple(self.bind(f"{d - 1} - {i}") if k in axes and d > 1 else i
                        for k, (i, d) in enumerate(zip(idx, shape)))  # fmt: skip
            return self.at(op.input, src, mask)
        if isinstance(op, g.PadOp):
            return self._pad(op, idx, mask)
        if isinstance(op, g.ConcatOp):
            return self._concat(op, idx, mask)
        if isinstance(op, fusion.WINDOW_OPS):
            return self._pool(op, idx, mask)
        if isinstance(op, g.GatherOp):
            return self._gather(op, idx, mask)
        if isinstance(op, g.GatherNdOp):
            return self._gather_nd(op, idx, mask)
        if isinstance(op, g.GatherElementsOp):
            return self._gather_elements(op, idx, mask)
        if isinstance(op, g.ResizeOp):
            return self._resize(op, idx, mask)
        raise GraphcError(f"triton backend: {op.name} cannot be evaluated elementally")

    def _constant(self, op: g.ConstantOp, idx: Index, shape) -> str:
        values = constant_value(op, WeightStore()).reshape(-1)
        t = op.result.type.element_type
        if values.size == 0:
            raise GraphcError("internal error: triton backend: empty constant in a region")
        if np.all(values == values[0]) or np.all(np.isnan(values.astype(np.float64))):
            return literal(values[0].item(), t)
        lin = self.bind(self.linear(idx, shape), "l")
        expr = literal(values[-1].item(), t)
        for k in range(values.size - 2, -1, -1):
            expr = f"tl.where({lin} == {k}, {literal(values[k].item(), t)}, {expr})"
        return self.em.assign(expr, "c")

    def _pad(self, op: g.PadOp, idx: Index, mask: str) -> str:
        attrs = op.attrs()
        low, high, interior = (g.get_ints(attrs, k) for k in ("low", "high", "interior"))
        mode = g.get_str(attrs, "mode")
        src_shape = g.shape_of(op.input.type)
        src, conds = [], []
        for i, lo, hi, it, d in zip(idx, low, high, interior, src_shape):
            if lo == 0 and hi == 0 and it == 0:
                src.append(i)
                continue
            t = self.bind(f"{i} - {lo}" if lo else i)
            if mode == "reflect":
                t = self.bind(f"tl.where({t} < 0, -{t}, {t})")
                src.append(self.bind(f"tl.where({t} >= {d}, {2 * (d - 1)} - {t}, {t})"))
                continue
            if mode == "symmetric":
                t = self.bind(f"tl.where({t} < 0, -{t} - 1, {t})")
                src.append(self.bind(f"tl.where({t} >= {d}, {2 * d - 1} - {t}, {t})"))
                continue
            step = it + 1
            cond = f"({t} >= 0) & ({t} < {(d - 1) * step + 1})"
            if step > 1:
                cond += f" & ({t} % {step} == 0)"
                t = self.bind(f"{t} // {step}")
            conds.append(cond)
            src.append(self.bind(f"tl.minimum(tl.maximum({t}, 0), {d - 1})"))
        if not conds:
            return self.at(op.input, tuple(src), mask)
        valid = self.condition(" & ".join(f"({c})" for c in conds))
        inner = self.at(op.input, tuple(src), self.and_mask(mask, valid))
        t = op.result.type.element_type
        fill = literal(g.get_float(attrs, "value"), t)
        return self.em.assign(f"tl.where({valid}, {inner}, {fill})")

    def _concat(self, op: g.ConcatOp, idx: Index, mask: str) -> str:
        axis = g.get_int(op.attrs(), "axis")
        parts, offset = [], 0
        for v in op.operands:
            size = g.shape_of(v.type)[axis]
            if size == 0:
                continue
            i = idx[axis]
            cond = self.condition(f"({i} >= {offset}) & ({i} < {offset + size})")
            local = self.bind(f"tl.minimum(tl.maximum({i} - {offset}, 0), {size - 1})" if offset else
                              f"tl.minimum({i}, {size - 1})")  # fmt: skip
            sub = idx[:axis] + (local,) + idx[axis + 1 :]
            parts.append((cond, self.at(v, sub, self.and_mask(mask, cond))))
            offset += size
        expr = parts[-1][1]
        for cond, part in reversed(parts[:-1]):
            expr = f"tl.where({cond}, {part}, {expr})"
        return self.em.assign(expr)

    def _pool(self, op, idx: Index, mask: str) -> str:
        attrs = op.attrs()
        kh, kw = g.get_ints(attrs, "window")
        sh, sw = g.get_ints(attrs, "strides")
        pt, _, pl, _ = g.get_ints(attrs, "pads")
        dh, dw = g.pool_dilations(attrs)
        _, h, w, _ = g.shape_of(op.input.type)
        n, oy, ox, c = idx
        t = op.result.type.element_type
        is_max = isinstance(op, g.MaxPoolOp)
        acc = self.em.fresh("acc")
        if is_max:
            self.em.line(f"{acc} = tl.where({mask}, {literal(type_min(t), t)}, {literal(type_min(t), t)})")
        else:
            self.em.line(f"{acc} = tl.where({mask}, 0.0, 0.0)")
            count = self.em.fresh("count")
            self.em.line(f"{count} = tl.where({mask}, 0.0, 0.0)")
        tap = self.em.fresh("tap")
        with self.em.block(f"for {tap} in range({kh * kw})"):
            iy = self.bind(f"{oy} * {sh} + ({tap} // {kw}) * {dh} - {pt}")
            ix = self.bind(f"{ox} * {sw} + ({tap} % {kw}) * {dw} - {pl}")
            valid = self.condition(f"({iy} >= 0) & ({iy} < {h}) & ({ix} >= 0) & ({ix} < {w})")
            cy = self.bind(f"tl.minimum(tl.maximum({iy}, 0), {h - 1})")
            cx = self.bind(f"tl.minimum(tl.maximum({ix}, 0), {w - 1})")
            v = self.at(op.input, (n, cy, cx, c), self.and_mask(mask, valid))
            if is_max:
                fn = f"tl.maximum({acc}, {v}, {expressions.NAN_ALL})" if is_float(t) else f"tl.maximum({acc}, {v})"
                self.em.line(f"{acc} = tl.where({valid}, {fn}, {acc})")
            else:
                self.em.line(f"{acc} = {acc} + tl.where({valid}, {v}.to(tl.float32), 0.0)")
                self.em.line(f"{count} = {count} + tl.where({valid}, 1.0, 0.0)")
        if is_max:
            return acc
        return self.em.assign(f"({acc} / {count}){to_register(t)}")

    def _index_value(self, indices: SSAValue, idx: Index, mask: str, size: int) -> str:
        """An index operand's element as a non-negative in-range int (negative counts from the end)."""
        k = self.at(indices, idx, mask)
        wide = self.bind(f"{k}.to(tl.int64)" if "int64" not in tl_type(indices.type.element_type) else k, "k")
        wrapped = self.bind(f"tl.where({wide} < 0, {wide} + {size}, {wide})", "k")
        return self.bind(f"tl.minimum(tl.maximum({wrapped}, 0), {max(size - 1, 0)})", "k")

    def _gather(self, op: g.GatherOp, idx: Index, mask: str) -> str:
        attrs = op.attrs()
        axis, bd = g.get_int(attrs, "axis"), g.get_int(attrs, "batch_dims")
        x_shape = g.shape_of(op.input.type)
        irank = len(g.shape_of(op.indices.type))
        span = irank - bd
        index_idx = idx[:bd] + idx[axis : axis + span]
        k = self._index_value(op.indices, index_idx, mask, x_shape[axis])
        return self.at(op.input, idx[:axis] + (k,) + idx[axis + span :], mask)

    def _gather_nd(self, op: g.GatherNdOp, idx: Index, mask: str) -> str:
        bd = g.get_int(op.attrs(), "batch_dims")
        x_shape = g.shape_of(op.input.type)
        i_shape = g.shape_of(op.indices.type)
        depth = i_shape[-1]
        middle = len(i_shape) - 1 - bd
        lead = idx[: bd + middle]
        ks = tuple(self._index_value(op.indices, lead + (str(j),), mask, x_shape[bd + j]) for j in range(depth))
        return self.at(op.input, idx[:bd] + ks + idx[bd + middle :], mask)

    def _gather_elements(self, op: g.GatherElementsOp, idx: Index, mask: str) -> str:
        axis = g.get_int(op.attrs(), "axis")
        size = g.shape_of(op.input.type)[axis]
        k = self._index_value(op.indices, idx, mask, size)
        return self.at(op.input, idx[:axis] + (k,) + idx[axis + 1 :], mask)

    def _resize(self, op: g.ResizeOp, idx: Index, mask: str) -> str:
        attrs = op.attrs()
        _, h, w, _ = g.shape_of(op.input.type)
        oh, ow = g.get_ints(attrs, "size")
        n, oy, ox, c = idx
        taps_y = self._taps(resize_matrix(h, oh, attrs), "ry")
        taps_x = self._taps(resize_matrix(w, ow, attrs), "rx")
        t = op.result.type.element_type
        (iy_ptr, wy_ptr, ny), (ix_ptr, wx_ptr, nx) = taps_y, taps_x
        terms = []
        for a in range(ny):
            iy = self.masked_load(iy_ptr, f"{oy} * {ny} + {a}", mask, "k")
            wy = self.masked_load(wy_ptr, f"{oy} * {ny} + {a}", mask, "wt")
            for b in range(nx):
                ix = self.masked_load(ix_ptr, f"{ox} * {nx} + {b}", mask, "k")
                wx = self.masked_load(wx_ptr, f"{ox} * {nx} + {b}", mask, "wt")
                v = self.at(op.input, (n, iy, ix, c), mask)
                terms.append(f"{wy} * {wx} * {v}.to(tl.float32)")
        total = self.em.assign(" + ".join(terms), "r")
        if is_float(t):
            return self.em.assign(f"{total}{to_register(t)}")
        rounded = self.em.assign(expressions.FLOAT_UNARY[g.RoundOp](self.em, total), "r")
        return self.em.assign(f"{rounded}{to_register(t)}")

    def _taps(self, matrix: np.ndarray, prefix: str) -> tuple[str, str, int]:
        """A resize axis' [out, in] matrix as (index table, weight table, taps per output)."""
        count = max(1, int((matrix != 0).sum(axis=1).max()))
        index = np.zeros((matrix.shape[0], count), np.int32)
        weight = np.zeros((matrix.shape[0], count), np.float32)
        for o, row in enumerate(matrix):
            nz = np.nonzero(row)[0]
            index[o, : len(nz)] = nz
            weight[o, : len(nz)] = row[nz]
        k = len(self.tables) // 2
        names = (f"{prefix}{k}_index_ptr", f"{prefix}{k}_weight_ptr")
        self.tables += [(names[0], index), (names[1], weight)]
        return names[0], names[1], count


def broadcast_index(idx: Index, shape, operand_shape) -> Index:
    """numpy broadcasting: the operand's index for the result index `idx`."""
    lead = len(shape) - len(operand_shape)
    return tuple("0" if d == 1 else idx[lead + k] for k, d in enumerate(operand_shape))


def affine(i: str, step: int, start: int) -> str:
    expr = i if step == 1 else f"{i} * {step}"
    if i == "0":
        return str(start)
    return f"{expr} + {start}" if start > 0 else f"{expr} - {-start}" if start < 0 else expr


def check_region(region: fusion.RegionOp) -> list[str]:
    """Every reason this region's ops cannot be compiled by the triton backend (empty: it can)."""
    problems = []
    for op in region.compute_ops():
        why = expressions.check_supported(op)
        if why is not None:
            problems.append(why)
        for v in list(op.operands) + list(op.results):
            try:
                tl_type(v.type.element_type)
            except GraphcError:
                problems.append(f"{op.name} on {v.type.element_type}")
                break
    return problems


def element_count(region: fusion.RegionOp) -> int:
    values = list(region.inputs) + list(region.outputs)
    values += [r for op in region.body_ops() for r in op.results]
    return max(prod(g.shape_of(v.type)) for v in values)


def needs_int64(region: fusion.RegionOp) -> bool:
    return element_count(region) >= 2**31 - 1

