"""Builds small GraphDefs by hand (without TensorFlow) for front-end unit tests."""

from __future__ import annotations

import numpy as np

from graphc.frontends import tf_graphdef_schema as schema

DT = schema.DataType

_NP_TO_DT = {
    np.dtype(np.float32): DT.DT_FLOAT,
    np.dtype(np.float64): DT.DT_DOUBLE,
    np.dtype(np.float16): DT.DT_HALF,
    np.dtype(np.int32): DT.DT_INT32,
    np.dtype(np.int64): DT.DT_INT64,
    np.dtype(np.int8): DT.DT_INT8,
    np.dtype(np.uint8): DT.DT_UINT8,
    np.dtype(np.bool_): DT.DT_BOOL,
}


def dt(dtype) -> int:
    return int(_NP_TO_DT[np.dtype(dtype)])


class GraphBuilder:
    def __init__(self):
        self.graph = schema.GraphDef()
        self._count = 0

    def _name(self, op: str, name: str | None) -> str:
        if name:
            return name
        self._count += 1
        return f"{op.lower()}_{self._count}"

    def node(self, op: str, inputs=(), name: str | None = None, **attrs) -> str:
        node = self.graph.node.add()
        node.name = self._name(op, name)
        node.op = op
        node.input.extend(inputs)
        for key, value in attrs.items():
            set_attr(node.attr[key], value)
        return node.name

    def placeholder(self, name: str, shape, dtype=np.float32) -> str:
        return self.node("Placeholder", [], name=name, dtype=("type", dt(dtype)), shape=("shape", shape))

    def const(self, value, dtype=None, name: str | None = None) -> str:
        array = np.asarray(value, dtype=dtype)
        if array.dtype == np.float64 and dtype is None:
            array = array.astype(np.float32)
        return self.node("Const", [], name=name, dtype=("type", dt(array.dtype)), value=("tensor", array))

    def serialize(self) -> bytes:
        return self.graph.SerializeToString()


def make_tensor(proto, array: np.ndarray) -> None:
    proto.dtype = dt(array.dtype)
    for d in array.shape:
        proto.tensor_shape.dim.add().size = d
    proto.tensor_content = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()


def set_attr(attr, value) -> None:
    """value: ("type", n) | ("shape", dims or None) | ("tensor", array) | ("func", name) | python scalar/list."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        kind, v = value
        if kind == "type":
            attr.type = v
        elif kind == "shape":
            if v is None:
                attr.shape.unknown_rank = True
            else:
                attr.shape.SetInParent()
                for d in v:
                    attr.shape.dim.add().size = d
        elif kind == "tensor":
            make_tensor(attr.tensor, np.asarray(v))
        elif kind == "func":
            attr.func.name = v
        elif kind == "types":
            attr.list.type.extend(v)
        else:
            raise ValueError(kind)
    elif isinstance(value, bool):
        attr.b = value
    elif isinstance(value, int):
        attr.i = value
    elif isinstance(value, float):
        attr.f = value
    elif isinstance(value, (str, bytes)):
        attr.s = value.encode() if isinstance(value, str) else value
    elif isinstance(value, list):
        attr.list.SetInParent()
        if all(isinstance(v, bool) for v in value) and value:
            attr.list.b.extend(value)
        elif all(isinstance(v, int) for v in value):
            attr.list.i.extend(value)
        elif all(isinstance(v, float) for v in value):
            attr.list.f.extend(value)
        else:
            raise ValueError(value)
    else:
        raise ValueError(value)
