"""TensorFlow GraphDef schema subset, built at import time without protoc or TensorFlow.

The message and enum definitions below mirror TensorFlow's public ``.proto`` files
(``graph.proto``, ``node_def.proto``, ``attr_value.proto``, ``tensor.proto``,
``tensor_shape.proto``, ``types.proto``, ``versions.proto``, ``function.proto``,
``op_def.proto``) with TensorFlow's field numbers and the ``tensorflow`` package, so
that serialized frozen graphs parse exactly as TensorFlow parses them.  Fields that a
graph compiler never needs (debug info, full-type info, resource handles, variants,
...) are left out; protobuf keeps them as unknown fields, so nothing is lost.

The descriptor lives in a private ``DescriptorPool``: it never clashes with
TensorFlow's own generated modules if both are loaded in one process.  Works with
protobuf 3.20 up to 7.x (python, cpp and upb implementations).

Public API:

* message classes ``GraphDef``, ``NodeDef``, ``AttrValue``, ``NameAttrList``,
  ``TensorProto``, ``TensorShapeProto``, ``VersionDef``, ``FunctionDefLibrary``,
  ``FunctionDef``, ``GradientDef``, ``OpDef``;
* ``DataType`` (an ``IntEnum`` of all TensorFlow data types), ``dtype_name``,
  ``dtype_number`` and ``numpy_dtype``;
* ``parse_graphdef(data)`` / ``load_graphdef(path)``;
* ``tensor_to_numpy(tensor_proto)`` and ``shape_to_list(tensor_shape_proto)``.
"""

from __future__ import annotations

import enum
import os
from typing import Union

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

__all__ = [
    "AttrValue",
    "DataType",
    "FunctionDef",
    "FunctionDefLibrary",
    "GradientDef",
    "GraphDef",
    "NameAttrList",
    "NodeDef",
    "OpDef",
    "TensorProto",
    "TensorShapeProto",
    "VersionDef",
    "dtype_name",
    "dtype_number",
    "load_graphdef",
    "numpy_dtype",
    "parse_graphdef",
    "shape_to_list",
    "tensor_to_numpy",
]

_PACKAGE = "tensorflow"
_FILE_NAME = "graphc/tensorflow_graphdef_subset.proto"

# TensorFlow's types.proto, in declaration order.  The *_REF variants are number + 100.
_DATA_TYPES = [
    ("DT_INVALID", 0),
    ("DT_FLOAT", 1),
    ("DT_DOUBLE", 2),
    ("DT_INT32", 3),
    ("DT_UINT8", 4),
    ("DT_INT16", 5),
    ("DT_INT8", 6),
    ("DT_STRING", 7),
    ("DT_COMPLEX64", 8),
    ("DT_INT64", 9),
    ("DT_BOOL", 10),
    ("DT_QINT8", 11),
    ("DT_QUINT8", 12),
    ("DT_QINT32", 13),
    ("DT_BFLOAT16", 14),
    ("DT_QINT16", 15),
    ("DT_QUINT16", 16),
    ("DT_UINT16", 17),
    ("DT_COMPLEX128", 18),
    ("DT_HALF", 19),
    ("DT_RESOURCE", 20),
    ("DT_VARIANT", 21),
    ("DT_UINT32", 22),
    ("DT_UINT64", 23),
    ("DT_FLOAT8_E5M2", 24),
    ("DT_FLOAT8_E4M3FN", 25),
    ("DT_FLOAT8_E4M3FNUZ", 26),
    ("DT_FLOAT8_E4M3B11FNUZ", 27),
    ("DT_FLOAT8_E5M2FNUZ", 28),
    ("DT_INT4", 29),
    ("DT_UINT4", 30),
    ("DT_INT2", 31),
    ("DT_UINT2", 32),
    ("DT_FLOAT4_E2M1FN", 33),
]
_DATA_TYPES += [(name + "_REF", number + 100) for name, number in _DATA_TYPES[1:]]


# ---------------------------------------------------------------------------------
# Descriptor construction
# ---------------------------------------------------------------------------------

_F = descriptor_pb2.FieldDescriptorProto

# Scalar field types (name -> FieldDescriptorProto.Type).
_SCALARS = {
    "bytes": _F.TYPE_BYTES,
    "string": _F.TYPE_STRING,
    "int32": _F.TYPE_INT32,
    "int64": _F.TYPE_INT64,
    "uint32": _F.TYPE_UINT32,
    "uint64": _F.TYPE_UINT64,
    "float": _F.TYPE_FLOAT,
    "double": _F.TYPE_DOUBLE,
    "bool": _F.TYPE_BOOL,
}
_PACKABLE = {"int32", "int64", "uint32", "uint64", "float", "double", "bool", "enum"}


def _type_ref(type_name: str) -> str:
    """Fully qualified reference to a message or enum of this file."""
    return "." + _PACKAGE + "." + type_name


def _add_field(
    msg: descriptor_pb2.DescriptorProto,
    name: str,
    number: int,
    ftype: str,
    *,
    repeated: bool = False,
    oneof_index: int | None = None,
) -> None:
    """Add a field; `ftype` is a scalar name, ``enum:Name`` or ``msg:Name`` (Name relative
    to the package, e.g. ``msg:NodeDef.AttrEntry``)."""
    field = msg.field.add()
    field.name = name
    field.number = number
    field.json_name = _json_name(name)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    kind = "enum" if ftype.startswith("enum:") else "msg" if ftype.startswith("msg:") else ftype
    if kind == "enum":
        field.type = _F.TYPE_ENUM
        field.type_name = _type_ref(ftype[5:])
    elif kind == "msg":
        field.type = _F.TYPE_MESSAGE
        field.type_name = _type_ref(ftype[4:])
    else:
        field.type = _SCALARS[ftype]
    if repeated and kind in _PACKABLE:
        field.options.packed = True  # as in TensorFlow's .proto files
    if oneof_index is not None:
        field.oneof_index = oneof_index


def _json_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _add_map(
    msg: descriptor_pb2.DescriptorProto,
    owner: str,
    name: str,
    number: int,
    key_type: str,
    value_type: str,
) -> None:
    """Add ``map<key_type, value_type> name = number;`` to message `owner`."""
    entry_name = "".join(part[:1].upper() + part[1:] for part in name.split("_")) + "Entry"
    entry = msg.nested_type.add()
    entry.name = entry_name
    entry.options.map_entry = True
    _add_field(entry, "key", 1, key_type)
    _add_field(entry, "value", 2, value_type)
    _add_field(msg, name, number, "msg:" + owner + "." + entry_name, repeated=True)


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = _FILE_NAME
    fdp.package = _PACKAGE
    fdp.syntax = "proto3"

    # types.proto
    data_type = fdp.enum_type.add()
    data_type.name = "DataType"
    for name, number in _DATA_TYPES:
        value = data_type.value.add()
        value.name = name
        value.number = number

    # tensor_shape.proto
    shape = fdp.message_type.add()
    shape.name = "TensorShapeProto"
    dim = shape.nested_type.add()
    dim.name = "Dim"
    _add_field(dim, "size", 1, "int64")
    _add_field(dim, "name", 2, "string")
    _add_field(shape, "dim", 2, "msg:TensorShapeProto.Dim", repeated=True)
    _add_field(shape, "unknown_rank", 3, "bool")

    # tensor.proto (resource_handle_val = 14, variant_val = 15 omitted)
    tensor = fdp.message_type.add()
    tensor.name = "TensorProto"
    _add_field(tensor, "dtype", 1, "enum:DataType")
    _add_field(tensor, "tensor_shape", 2, "msg:TensorShapeProto")
    _add_field(tensor, "version_number", 3, "int32")
    _add_field(tensor, "tensor_content", 4, "bytes")
    _add_field(tensor, "half_val", 13, "int32", repeated=True)
    _add_field(tensor, "float_val", 5, "float", repeated=True)
    _add_field(tensor, "double_val", 6, "double", repeated=True)
    _add_field(tensor, "int_val", 7, "int32", repeated=True)
    _add_field(tensor, "string_val", 8, "bytes", repeated=True)
    _add_field(tensor, "scomplex_val", 9, "float", repeated=True)
    _add_field(tensor, "int64_val", 10, "int64", repeated=True)
    _add_field(tensor, "bool_val", 11, "bool", repeated=True)
    _add_field(tensor, "dcomplex_val", 12, "double", repeated=True)
    _add_field(tensor, "uint32_val", 16, "uint32", repeated=True)
    _add_field(tensor, "uint64_val", 17, "uint64", repeated=True)
    _add_field(tensor, "float8_val", 18, "bytes")

    # attr_value.proto
    attr = fdp.message_type.add()
    attr.name = "AttrValue"
    lst = attr.nested_type.add()
    lst.name = "ListValue"
    _add_field(lst, "s", 2, "bytes", repeated=True)
    _add_field(lst, "i", 3, "int64", repeated=True)
    _add_field(lst, "f", 4, "float", repeated=True)
    _add_field(lst, "b", 5, "bool", repeated=True)
    _add_field(lst, "type", 6, "enum:DataType", repeated=True)
    _add_field(lst, "shape", 7, "msg:TensorShapeProto", repeated=True)
    _add_field(lst, "tensor", 8, "msg:TensorProto", repeated=True)
    _add_field(lst, "func", 9, "msg:NameAttrList", repeated=True)
    attr.oneof_decl.add().name = "value"
    _add_field(attr, "s", 2, "bytes", oneof_index=0)
    _add_field(attr, "i", 3, "int64", oneof_index=0)
    _add_field(attr, "f", 4, "float", oneof_index=0)
    _add_field(attr, "b", 5, "bool", oneof_index=0)
    _add_field(attr, "type", 6, "enum:DataType", oneof_index=0)
    _add_field(attr, "shape", 7, "msg:TensorShapeProto", oneof_index=0)
    _add_field(attr, "tensor", 8, "msg:TensorProto", oneof_index=0)
    _add_field(attr, "list", 1, "msg:AttrValue.ListValue", oneof_index=0)
    _add_field(attr, "func", 10, "msg:NameAttrList", oneof_index=0)
    _add_field(attr, "placeholder", 9, "string", oneof_index=0)

    name_attr_list = fdp.message_type.add()
    name_attr_list.name = "NameAttrList"
    _add_field(name_attr_list, "name", 1, "string")
    _add_map(name_attr_list, "NameAttrList", "attr", 2, "string", "msg:AttrValue")

    # node_def.proto (experimental_debug_info = 6, experimental_type = 7 omitted)
    node = fdp.message_type.add()
    node.name = "NodeDef"
    _add_field(node, "name", 1, "string")
    _add_field(node, "op", 2, "string")
    _add_field(node, "input", 3, "string", repeated=True)
    _add_field(node, "device", 4, "string")
    _add_map(node, "NodeDef", "attr", 5, "string", "msg:AttrValue")

    # versions.proto
    versions = fdp.message_type.add()
    versions.name = "VersionDef"
    _add_field(versions, "producer", 1, "int32")
    _add_field(versions, "min_consumer", 2, "int32")
    _add_field(versions, "bad_consumers", 3, "int32", repeated=True)

    # op_def.proto (ArgDef.handle_data = 7, ArgDef.experimental_full_type = 17 and
    # OpDef.deprecation = 8 omitted)
    op_def = fdp.message_type.add()
    op_def.name = "OpDef"
    arg_def = op_def.nested_type.add()
    arg_def.name = "ArgDef"
    _add_field(arg_def, "name", 1, "string")
    _add_field(arg_def, "description", 2, "string")
    _add_field(arg_def, "type", 3, "enum:DataType")
    _add_field(arg_def, "type_attr", 4, "string")
    _add_field(arg_def, "number_attr", 5, "string")
    _add_field(arg_def, "type_list_attr", 6, "string")
    _add_field(arg_def, "is_ref", 16, "bool")
    attr_def = op_def.nested_type.add()
    attr_def.name = "AttrDef"
    _add_field(attr_def, "name", 1, "string")
    _add_field(attr_def, "type", 2, "string")
    _add_field(attr_def, "default_value", 3, "msg:AttrValue")
    _add_field(attr_def, "description", 4, "string")
    _add_field(attr_def, "has_minimum", 5, "bool")
    _add_field(attr_def, "minimum", 6, "int64")
    _add_field(attr_def, "allowed_values", 7, "msg:AttrValue")
    _add_field(op_def, "name", 1, "string")
    _add_field(op_def, "input_arg", 2, "msg:OpDef.ArgDef", repeated=True)
    _add_field(op_def, "output_arg", 3, "msg:OpDef.ArgDef", repeated=True)
    _add_field(op_def, "control_output", 20, "string", repeated=True)
    _add_field(op_def, "attr", 4, "msg:OpDef.AttrDef", repeated=True)
    _add_field(op_def, "summary", 5, "string")
    _add_field(op_def, "description", 6, "string")
    _add_field(op_def, "is_commutative", 18, "bool")
    _add_field(op_def, "is_aggregate", 16, "bool")
    _add_field(op_def, "is_stateful", 17, "bool")
    _add_field(op_def, "allows_uninitialized_input", 19, "bool")
    _add_field(op_def, "is_distributed_communication", 21, "bool")

    # function.proto (FunctionDefLibrary.registered_gradients = 3 omitted)
    function = fdp.message_type.add()
    function.name = "FunctionDef"
    arg_attrs = function.nested_type.add()
    arg_attrs.name = "ArgAttrs"
    _add_map(arg_attrs, "FunctionDef.ArgAttrs", "attr", 1, "string", "msg:AttrValue")
    _add_field(function, "signature", 1, "msg:OpDef")
    _add_map(function, "FunctionDef", "attr", 5, "string", "msg:AttrValue")
    _add_map(function, "FunctionDef", "arg_attr", 7, "uint32", "msg:FunctionDef.ArgAttrs")
    _add_map(function, "FunctionDef", "resource_arg_unique_id", 8, "uint32", "uint32")
    _add_field(function, "node_def", 3, "msg:NodeDef", repeated=True)
    _add_map(function, "FunctionDef", "ret", 4, "string", "string")
    _add_map(function, "FunctionDef", "control_ret", 6, "string", "string")

    gradient = fdp.message_type.add()
    gradient.name = "GradientDef"
    _add_field(gradient, "function_name", 1, "string")
    _add_field(gradient, "gradient_func", 2, "string")

    library = fdp.message_type.add()
    library.name = "FunctionDefLibrary"
    _add_field(library, "function", 1, "msg:FunctionDef", repeated=True)
    _add_field(library, "gradient", 2, "msg:GradientDef", repeated=True)

    # graph.proto (debug_info = 5 omitted)
    graph = fdp.message_type.add()
    graph.name = "GraphDef"
    _add_field(graph, "node", 1, "msg:NodeDef", repeated=True)
    _add_field(graph, "versions", 4, "msg:VersionDef")
    _add_field(graph, "version", 3, "int32")
    _add_field(graph, "library", 2, "msg:FunctionDefLibrary")
    return fdp


_POOL = descriptor_pool.DescriptorPool()
_POOL.AddSerializedFile(_build_file().SerializeToString())

_get_message_class = getattr(message_factory, "GetMessageClass", None)
if _get_message_class is None:  # protobuf < 4.22
    _FACTORY = message_factory.MessageFactory(_POOL)
    _get_message_class = _FACTORY.GetPrototype


def _message_class(name: str):
    return _get_message_class(_POOL.FindMessageTypeByName(_PACKAGE + "." + name))


TensorShapeProto = _message_class("TensorShapeProto")
TensorProto = _message_class("TensorProto")
AttrValue = _message_class("AttrValue")
NameAttrList = _message_class("NameAttrList")
NodeDef = _message_class("NodeDef")
VersionDef = _message_class("VersionDef")
OpDef = _message_class("OpDef")
FunctionDef = _message_class("FunctionDef")
GradientDef = _message_class("GradientDef")
FunctionDefLibrary = _message_class("FunctionDefLibrary")
GraphDef = _message_class("GraphDef")


# ---------------------------------------------------------------------------------
# DataType helpers
# ---------------------------------------------------------------------------------

DataType = enum.IntEnum("DataType", _DATA_TYPES, module=__name__)
DataType.__doc__ = "TensorFlow's DataType enum (types.proto)."


def dtype_name(number: int) -> str:
    """``1 -> "DT_FLOAT"``.  Raises ValueError for numbers TensorFlow does not define."""
    try:
        return DataType(int(number)).name
    except ValueError:
        raise ValueError(f"unknown TensorFlow DataType number {number}") from None


def dtype_number(name: str) -> int:
    """``"DT_FLOAT"`` (or ``"float"``, case-insensitive) ``-> 1``."""
    key = name.upper()
    if not key.startswith("DT_"):
        key = "DT_" + key
    try:
        return int(DataType[key])
    except KeyError:
        raise ValueError(f"unknown TensorFlow DataType name {name!r}") from None


# dtype of the arrays tensor_to_numpy returns (bfloat16 is widened to float32).
_NUMPY_DTYPE = {
    DataType.DT_FLOAT: np.dtype(np.float32),
    DataType.DT_DOUBLE: np.dtype(np.float64),
    DataType.DT_HALF: np.dtype(np.float16),
    DataType.DT_BFLOAT16: np.dtype(np.float32),
    DataType.DT_INT8: np.dtype(np.int8),
    DataType.DT_INT16: np.dtype(np.int16),
    DataType.DT_INT32: np.dtype(np.int32),
    DataType.DT_INT64: np.dtype(np.int64),
    DataType.DT_UINT8: np.dtype(np.uint8),
    DataType.DT_UINT16: np.dtype(np.uint16),
    DataType.DT_UINT32: np.dtype(np.uint32),
    DataType.DT_UINT64: np.dtype(np.uint64),
    DataType.DT_BOOL: np.dtype(np.bool_),
    DataType.DT_COMPLEX64: np.dtype(np.complex64),
    DataType.DT_COMPLEX128: np.dtype(np.complex128),
    DataType.DT_STRING: np.dtype(object),
}

# Little-endian layout of tensor_content for each dtype.
_CONTENT_DTYPE = {
    DataType.DT_FLOAT: "<f4",
    DataType.DT_DOUBLE: "<f8",
    DataType.DT_HALF: "<u2",  # bit patterns, converted below
    DataType.DT_BFLOAT16: "<u2",  # bit patterns, converted below
    DataType.DT_INT8: "i1",
    DataType.DT_INT16: "<i2",
    DataType.DT_INT32: "<i4",
    DataType.DT_INT64: "<i8",
    DataType.DT_UINT8: "u1",
    DataType.DT_UINT16: "<u2",
    DataType.DT_UINT32: "<u4",
    DataType.DT_UINT64: "<u8",
    DataType.DT_BOOL: "u1",
    DataType.DT_COMPLEX64: "<c8",
    DataType.DT_COMPLEX128: "<c16",
}

# Which repeated *_val field holds the values of each dtype (as TensorFlow writes them).
_VALUE_FIELD = {
    DataType.DT_FLOAT: "float_val",
    DataType.DT_DOUBLE: "double_val",
    DataType.DT_HALF: "half_val",
    DataType.DT_BFLOAT16: "half_val",
    DataType.DT_INT8: "int_val",
    DataType.DT_INT16: "int_val",
    DataType.DT_INT32: "int_val",
    DataType.DT_UINT8: "int_val",
    DataType.DT_UINT16: "int_val",
    DataType.DT_INT64: "int64_val",
    DataType.DT_UINT32: "uint32_val",
    DataType.DT_UINT64: "uint64_val",
    DataType.DT_BOOL: "bool_val",
    DataType.DT_STRING: "string_val",
    DataType.DT_COMPLEX64: "scomplex_val",
    DataType.DT_COMPLEX128: "dcomplex_val",
}


def numpy_dtype(dtype: int) -> np.dtype:
    """numpy dtype of the arrays `tensor_to_numpy` returns for a DataType number.

    DT_BFLOAT16 maps to float32 (numpy has no bfloat16) and DT_STRING to object.
    Raises ValueError for types without a numpy equivalent (resource, variant,
    quantized, float8, int4, ...)."""
    try:
        return _NUMPY_DTYPE[DataType(int(dtype))]
    except (KeyError, ValueError):
        raise ValueError(f"TensorFlow dtype {_describe_dtype(dtype)} has no numpy equivalent") from None


def _describe_dtype(dtype: int) -> str:
    try:
        return dtype_name(dtype)
    except ValueError:
        return f"<unknown DataType {int(dtype)}>"


# ---------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------

_FILE_MAGIC_HINTS = [
    (0, b"PK\x03\x04", "a zip archive (a .keras file or a zipped SavedModel?)"),
    (0, b"\x89HDF", "an HDF5 file (a Keras .h5 model?)"),
    (4, b"TFL3", "a TensorFlow Lite flatbuffer"),
    # SavedModel: saved_model_schema_version = 1, then meta_graphs.
    (0, b"\x08\x01\x12", "a SavedModel saved_model.pb (freeze it to a GraphDef first)"),
]


def _format_hint(data: bytes) -> str:
    for offset, magic, what in _FILE_MAGIC_HINTS:
        if data[offset : offset + len(magic)] == magic:
            return f"; the data looks like {what}"
    if data.lstrip().startswith((b"node {", b"node{", b"library {", b"versions {")):
        return "; the data looks like a text-format GraphDef (.pbtxt), not a binary one"
    return ""


def parse_graphdef(data: Union[bytes, bytearray, memoryview]) -> "GraphDef":
    """Parse a binary (serialized) TensorFlow GraphDef, e.g. a frozen ``.pb`` file.

    Raises ValueError with the reason if `data` is not a usable GraphDef: empty data,
    a protobuf decoding error, a successful decode that contains no nodes (protobuf
    decodes many unrelated files without error, e.g. SavedModel or ONNX protos), or
    nodes without a name or op.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_graphdef expects bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ValueError("not a TensorFlow GraphDef: the data is empty")
    graph = GraphDef()
    try:
        graph.ParseFromString(data)
    except (message.DecodeError, RuntimeError, ValueError) as err:
        # RuntimeError/ValueError: some protobuf implementations report e.g. excessive
        # nesting or invalid UTF-8 in string fields that way.
        raise ValueError(
            f"not a TensorFlow GraphDef: protobuf decoding failed ({err}){_format_hint(data)}"
        ) from err
    if not graph.node:
        raise ValueError(
            f"not a TensorFlow GraphDef: {len(data)} bytes decoded to a graph with no nodes"
            f"{_format_hint(data) or ' (a SavedModel saved_model.pb must be frozen first)'}"
        )
    for index, node in enumerate(graph.node):
        if not node.name or not node.op:
            missing = "name" if not node.name else "op"
            raise ValueError(
                f"not a TensorFlow GraphDef: node #{index} ({node.name or node.op!r}) "
                f"has no {missing}"
            )
    return graph


def load_graphdef(path: Union[str, os.PathLike]) -> "GraphDef":
    """Read and parse a binary GraphDef file (see `parse_graphdef`)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return parse_graphdef(data)
    except ValueError as err:
        raise ValueError(f"{os.fspath(path)}: {err}") from err


# ---------------------------------------------------------------------------------
# Tensors
# ---------------------------------------------------------------------------------


def shape_to_list(shape) -> list[int] | None:
    """TensorShapeProto -> list of dims (-1 for unknown dims), or None for unknown rank."""
    if shape.unknown_rank:
        return None
    return [int(d.size) for d in shape.dim]


def _bits_to_float(bits: np.ndarray, dtype: int) -> np.ndarray:
    """16-bit patterns (any integer array) -> float16 (DT_HALF) or float32 (DT_BFLOAT16)."""
    bits = (np.asarray(bits).astype(np.int64) & 0xFFFF).astype(np.uint16)
    if dtype == DataType.DT_HALF:
        return bits.view(np.float16)
    return (bits.astype(np.uint32) << 16).view(np.float32)


def tensor_to_numpy(tensor) -> np.ndarray:
    """Convert a TensorProto (e.g. a Const node's ``value`` attr) to a numpy array.

    Handles raw little-endian ``tensor_content`` and the typed ``*_val`` fields,
    including TensorFlow's compact encoding: fewer values than the shape holds means
    the last value repeats, no values at all means zeros.  DT_HALF and DT_BFLOAT16
    values are 16-bit patterns (in ``half_val`` or ``tensor_content``); bfloat16 is
    returned as float32.  DT_STRING gives an object array of ``bytes`` (strings may be
    binary, they are never decoded).  The returned array is a writable copy.
    """
    dtype = int(tensor.dtype)
    out_dtype = numpy_dtype(dtype)  # raises for unsupported dtypes
    dims = shape_to_list(tensor.tensor_shape)
    if dims is None or any(d < 0 for d in dims):
        raise ValueError(
            f"{dtype_name(dtype)} tensor has a not fully defined shape {dims} "
            "(unknown rank or dims)"
        )
    count = int(np.prod(dims, dtype=np.int64))

    if tensor.tensor_content:
        if dtype == DataType.DT_STRING:
            raise ValueError("DT_STRING tensor with tensor_content is not supported")
        raw = np.frombuffer(tensor.tensor_content, dtype=_CONTENT_DTYPE[dtype])
        if raw.size != count:
            raise ValueError(
                f"{dtype_name(dtype)} tensor of shape {dims} needs {count} elements but "
                f"tensor_content holds {len(tensor.tensor_content)} bytes ({raw.size} elements)"
            )
        if dtype in (DataType.DT_HALF, DataType.DT_BFLOAT16):
            flat = _bits_to_float(raw, dtype)
        elif dtype == DataType.DT_BOOL:
            flat = raw != 0
        else:
            flat = raw.astype(out_dtype)  # native byte order, writable copy
        return flat.reshape(dims)

    values = getattr(tensor, _VALUE_FIELD[DataType(dtype)])
    if dtype == DataType.DT_STRING:
        flat = np.empty(count, dtype=object)
        items = list(values)
        if len(items) > count:
            raise ValueError(f"DT_STRING tensor of shape {dims} has {len(items)} values")
        flat[: len(items)] = items
        flat[len(items) :] = items[-1] if items else b""
        return flat.reshape(dims)

    if dtype in (DataType.DT_COMPLEX64, DataType.DT_COMPLEX128):
        parts = np.array(list(values), dtype=np.float64)
        if parts.size % 2:
            raise ValueError(f"{dtype_name(dtype)} tensor has an odd number of real/imag values")
        given = (parts[0::2] + 1j * parts[1::2]).astype(out_dtype)
    elif dtype in (DataType.DT_HALF, DataType.DT_BFLOAT16):
        given = _bits_to_float(np.array(list(values), dtype=np.int64), dtype)
    elif dtype == DataType.DT_UINT64:
        given = np.array(list(values), dtype=np.uint64)
    elif dtype == DataType.DT_BOOL:
        given = np.array(list(values), dtype=np.bool_)
    elif out_dtype.kind in "iu":
        given = np.array(list(values), dtype=np.int64).astype(out_dtype)
    else:
        given = np.array(list(values), dtype=np.float64).astype(out_dtype)

    if given.size > count:
        raise ValueError(
            f"{dtype_name(dtype)} tensor of shape {dims} has {given.size} values, "
            f"more than its {count} elements"
        )
    if given.size == 0:
        flat = np.zeros(count, dtype=out_dtype)
    elif given.size < count:
        flat = np.concatenate([given, np.full(count - given.size, given[-1], dtype=out_dtype)])
    else:
        flat = given
    return flat.reshape(dims)
