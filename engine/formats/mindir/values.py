"""Decoding MindIR attribute and tensor messages into plain Python and numpy values."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from engine.formats._proto import dstudio_mind_ir_pb2 as pb

AttrType = pb.AttributeProto.AttributeType
DataType = pb.TensorProto.DataType


def _bf16() -> np.dtype:
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


# MindIR TensorProto.DataType -> numpy dtype (BFLOAT16 resolved lazily through ml_dtypes).
NUMPY_DTYPES: dict[int, Any] = {
    DataType.FLOAT: np.float32,
    DataType.UINT8: np.uint8,
    DataType.INT8: np.int8,
    DataType.UINT16: np.uint16,
    DataType.INT16: np.int16,
    DataType.INT32: np.int32,
    DataType.INT64: np.int64,
    DataType.BOOL: np.bool_,
    DataType.FLOAT16: np.float16,
    DataType.DOUBLE: np.float64,
    DataType.UINT32: np.uint32,
    DataType.UINT64: np.uint64,
    DataType.COMPLEX64: np.complex64,
    DataType.COMPLEX128: np.complex128,
    DataType.FLOAT64: np.float64,
}


def numpy_dtype(data_type: int) -> np.dtype:
    """The numpy dtype of a MindIR tensor data type; ValueError for ones numpy lacks."""
    if data_type == DataType.BFLOAT16:
        return _bf16()
    try:
        return np.dtype(NUMPY_DTYPES[data_type])
    except KeyError:
        raise ValueError(f"tensor data type {DataType.Name(data_type) if data_type in DataType.values() else data_type} is not supported") from None


def mindir_dtype(dtype: np.dtype) -> int:
    """The MindIR data type for a numpy dtype."""
    dtype = np.dtype(dtype)
    if dtype.name == "bfloat16":
        return DataType.BFLOAT16
    for code, np_type in NUMPY_DTYPES.items():
        if np.dtype(np_type) == dtype and code != DataType.FLOAT64:
            return code
    raise ValueError(f"dtype {dtype} has no MindIR equivalent")


class Monad:
    """MindSpore's side-effect tokens (UMonad, IOMonad): ordering only, no data."""

    def __repr__(self) -> str:
        return "Monad"


MONAD = Monad()


@dataclass(frozen=True)
class TypeValue:
    """A dtype passed as a value (e.g. Cast's destination type)."""

    data_type: int

    @property
    def dtype(self) -> np.dtype:
        return numpy_dtype(self.data_type)


def tensor_to_array(tensor: pb.TensorProto, *, what: str = "tensor") -> np.ndarray:
    """A MindIR TensorProto's data as a numpy array of its declared shape."""
    dtype = numpy_dtype(tensor.data_type)
    dims = [int(d) for d in tensor.dims]
    if len(dims) > 64 or any(d < 0 for d in dims):
        raise ValueError(f"{what} {tensor.name!r} has shape {dims[:8]}{'...' if len(dims) > 8 else ''}: "
                         "dims must be >= 0 and at most 64 of them")
    count = prod(dims)  # Python integers: numpy's product of huge dims wraps around
    if tensor.HasField("external_data"):
        raise ValueError(f"{what} keeps its data in an external file, which is not supported yet")
    if tensor.raw_data:
        expected = count * dtype.itemsize
        if len(tensor.raw_data) != expected:
            raise ValueError(
                f"{what} {tensor.name!r} has {len(tensor.raw_data)} data bytes for shape {dims} "
                f"({dtype.name}); expected {expected} (file truncated or corrupt?)"
            )
        return np.frombuffer(tensor.raw_data, dtype=dtype).reshape(dims).copy()
    for field, values in (
        ("float_data", tensor.float_data),
        ("int32_data", tensor.int32_data),
        ("int64_data", tensor.int64_data),
        ("double_data", tensor.double_data),
        ("uint64_data", tensor.uint64_data),
    ):
        if len(values):
            if len(values) != count:
                raise ValueError(f"{what} {tensor.name!r} has {len(values)} values in {field} for shape {dims} "
                                 f"({count} elements)")
            return np.asarray(values).astype(dtype).reshape(dims)
    if count == 0:
        return np.zeros(dims, dtype=dtype)
    raise ValueError(f"{what} {tensor.name!r} of shape {dims} holds no data")


def attribute_value(attr: pb.AttributeProto) -> Any:
    """Decode one AttributeProto into ints, floats, bools, strings, tuples, arrays or markers."""
    t = attr.type
    if t in (AttrType.INT8, AttrType.INT16, AttrType.INT32, AttrType.INT64,
             AttrType.UINT8, AttrType.UINT16, AttrType.UINT32, AttrType.UINT64):
        return int(attr.ints[0]) if (not attr.HasField("i") and len(attr.ints)) else int(attr.i)
    if t == AttrType.BOOL:
        return bool(attr.ints[0]) if (not attr.HasField("i") and len(attr.ints)) else bool(attr.i)
    if t in (AttrType.FLOAT, AttrType.FLOAT16, AttrType.BFLOAT16):
        return float(attr.floats[0]) if (not attr.HasField("f") and len(attr.floats)) else float(attr.f)
    if t == AttrType.DOUBLE:
        return float(attr.doubles[0]) if (not attr.HasField("d") and len(attr.doubles)) else float(attr.d)
    if t == AttrType.STRING:
        raw = attr.strings[0] if (not attr.HasField("s") and len(attr.strings)) else attr.s
        return raw.decode("utf-8", "replace")
    if t in (AttrType.TUPLE, AttrType.LIST):
        return tuple(attribute_value(v) for v in attr.values)
    if t == AttrType.DICT:
        return {v.name: attribute_value(v) for v in attr.values}
    if t == AttrType.TENSORS:
        arrays = [tensor_to_array(x, what="constant") for x in attr.tensors]
        return arrays[0] if len(arrays) == 1 else tuple(arrays)
    if t == AttrType.TENSOR:
        return tensor_to_array(attr.t, what="constant")
    if t in (AttrType.UMONAD, AttrType.IOMONAD):
        return MONAD
    if t == AttrType.NONE:
        return None
    if t == AttrType.TYPE_NULL or t == AttrType.CLASS_TYPE:
        return None
    if t == AttrType.UNDEFINED and len(attr.tensors) == 1 and not attr.tensors[0].dims and not attr.tensors[0].raw_data:
        return TypeValue(attr.tensors[0].data_type)
    if t == AttrType.UNDEFINED:
        # Untyped values: MindSpore writes dtype objects as a data-less tensor in `tensors`.
        if len(attr.tensors) == 1 and not attr.tensors[0].raw_data:
            return TypeValue(attr.tensors[0].data_type)
        return None
    return _Unsupported(AttrType.Name(t) if t in AttrType.values() else str(t))


@dataclass(frozen=True)
class _Unsupported:
    """A value kind the reader does not decode (graphs, closures, sparse tensors)."""

    kind: str

    def __repr__(self) -> str:
        return f"<{self.kind}>"


# MindSpore TypeId numbers (mindapi/base/type_id.h), used where a dtype is an operand (Cast, Argmax).
TYPE_IDS: dict[str, int] = {
    "bool": 30, "int8": 32, "int16": 33, "int32": 34, "int64": 35, "uint8": 37, "uint16": 38,
    "uint32": 39, "uint64": 40, "float16": 42, "float32": 43, "float64": 44, "bfloat16": 45,
}


def dtype_from_type_id(type_id: int) -> np.dtype:
    """The numpy dtype of a MindSpore TypeId; ValueError for one without an equivalent."""
    for name, number in TYPE_IDS.items():
        if number == type_id:
            return _bf16() if name == "bfloat16" else np.dtype(name)
    raise ValueError(f"MindSpore type id {type_id} has no numpy equivalent")
