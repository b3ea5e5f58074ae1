"""Decode a MindSpore Lite ``.ms`` file (FlatBuffers, ``MSL2``) into plain dataclasses.

The reader uses the ``flatbuffers`` runtime's table access by vtable slot, with the slots
declared in :mod:`engine.formats.mslite.schema`. Every offset is checked against the buffer
before it is followed, so a truncated or corrupt file fails with a FormatError that says
where, never with a read past the end or a runaway loop.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import FormatError
from engine.formats.mslite import schema as S


@dataclass
class QuantParam:
    """One quantization parameter set (per tensor, or per channel)."""

    scale: float
    zero_point: int
    num_bits: int
    min: float = 0.0
    max: float = 0.0
    narrow_range: bool = True
    inited: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "zero_point": self.zero_point, "num_bits": self.num_bits,
                "min": self.min, "max": self.max, "inited": self.inited}


@dataclass
class LiteTensor:
    """One entry of ``MetaGraph.allTensors``."""

    index: int
    name: str
    node_type: str
    type_id: int
    dims: list[int]
    format: str
    data: bytes
    quant_params: list[QuantParam] = field(default_factory=list)
    compress: str = "NONE"
    external: bool = False

    @property
    def dtype_name(self) -> str:
        """numpy dtype name, or MindSpore's type name for types numpy lacks."""
        return S.TYPE_IDS.get(self.type_id) or S.TYPE_ID_NAMES.get(self.type_id, f"TypeId {self.type_id}")

    @property
    def is_constant(self) -> bool:
        return bool(self.data) or self.external

    def array(self) -> np.ndarray | None:
        """The tensor's data as a numpy array, or None when it has none or is compressed.

        A quantized weight is returned as its stored integers (with ``quant_params`` beside it).
        """
        dtype = S.TYPE_IDS.get(self.type_id)
        if not self.data or dtype is None or self.compress != "NONE":
            return None
        arr = np.frombuffer(self.data, dtype=np.dtype(dtype).newbyteorder("<"))
        count = int(np.prod(self.dims)) if self.dims else 1
        if arr.size != count:
            return None  # bit-packed or otherwise encoded: shown by size only
        return arr.reshape(self.dims).astype(np.dtype(dtype), copy=False)


@dataclass
class LiteNode:
    """One entry of ``MetaGraph.nodes``: a Lite op with its tensor indices."""

    name: str
    op_type: str
    inputs: list[int]
    outputs: list[int]
    attributes: dict[str, Any]
    quant_type: str = "QUANT_NONE"


@dataclass
class LiteGraph:
    """The decoded ``MetaGraph``."""

    name: str
    version: str
    fmk_type: str
    inputs: list[int]
    outputs: list[int]
    nodes: list[LiteNode]
    tensors: list[LiteTensor]
    subgraphs: list[str]


class _Buf:
    """Bounds-checked FlatBuffers access over one bytes object."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.path = path

    def fail(self, what: str) -> FormatError:
        return FormatError(f"corrupt MindSpore Lite model: {what} (file of {len(self.data)} bytes)", path=self.path)

    def u32(self, pos: int) -> int:
        if pos < 0 or pos + 4 > len(self.data):
            raise self.fail(f"offset {pos} is past the end")
        return struct.unpack_from("<I", self.data, pos)[0]

    def table(self, pos: int, what: str) -> _Table:
        if pos < 0 or pos + 4 > len(self.data):
            raise self.fail(f"{what} at offset {pos} is past the end")
        vtable = pos - struct.unpack_from("<i", self.data, pos)[0]
        if vtable < 0 or vtable + 4 > len(self.data):
            raise self.fail(f"{what} at offset {pos} has its vtable outside the file")
        vt_len, _ = struct.unpack_from("<HH", self.data, vtable)
        if vt_len < 4 or vtable + vt_len > len(self.data):
            raise self.fail(f"{what} at offset {pos} has a vtable of {vt_len} bytes")
        return _Table(self, pos, vtable, vt_len, what)


class _Table:
    def __init__(self, buf: _Buf, pos: int, vtable: int, vt_len: int, what: str) -> None:
        self.buf, self.pos, self.vtable, self.vt_len, self.what = buf, pos, vtable, vt_len, what

    def _field(self, slot: int) -> int:
        """Absolute position of a field, or 0 when absent (default value)."""
        entry = 4 + 2 * slot
        if entry + 2 > self.vt_len:
            return 0
        rel = struct.unpack_from("<H", self.buf.data, self.vtable + entry)[0]
        return self.pos + rel if rel else 0

    def scalar(self, slot: int, fmt: str, default: Any = 0) -> Any:
        at = self._field(slot)
        if not at:
            return default
        if at + struct.calcsize(fmt) > len(self.buf.data):
            raise self.buf.fail(f"{self.what}: field {slot} is past the end")
        return struct.unpack_from("<" + fmt, self.buf.data, at)[0]

    def _indirect(self, slot: int) -> int:
        at = self._field(slot)
        return at + self.buf.u32(at) if at else 0

    def string(self, slot: int) -> str:
        return self.bytes(slot).decode("utf-8", errors="replace")

    def _vector(self, slot: int, elem: int) -> tuple[int, int]:
        start = self._indirect(slot)
        if not start:
            return 0, 0
        count = self.buf.u32(start)
        if start + 4 + count * elem > len(self.buf.data):
            raise self.buf.fail(f"{self.what}: a vector of {count} elements (field {slot}) runs past the end")
        return start + 4, count

    def bytes(self, slot: int) -> bytes:
        start, count = self._vector(slot, 1)
        return bytes(self.buf.data[start:start + count]) if count else b""

    def numbers(self, slot: int, fmt: str) -> list:
        start, count = self._vector(slot, struct.calcsize(fmt))
        return list(struct.unpack_from(f"<{count}{fmt}", self.buf.data, start)) if count else []

    def tables(self, slot: int, what: str) -> list[_Table]:
        start, count = self._vector(slot, 4)
        out = []
        for i in range(count):
            at = start + 4 * i
            out.append(self.buf.table(at + self.buf.u32(at), f"{what} {i}"))
        return out

    def child(self, slot: int, what: str) -> _Table | None:
        at = self._indirect(slot)
        return self.buf.table(at, what) if at else None


def check_identifier(data: bytes, path: Path) -> None:
    """Refuse anything but an ``MSL2`` file, naming what was found."""
    ident = bytes(data[4:8])
    if ident == S.FILE_IDENTIFIER:
        return
    if ident in S.OLD_IDENTIFIERS:
        raise FormatError(
            f"is a MindSpore Lite 1.x model (identifier {ident.decode()}), a deprecated format that is not read",
            path=path, hint="convert the source model again with MindSpore Lite 2.x (dstudio convert X -o model.ms)")
    raise FormatError(f"not a MindSpore Lite model: expected identifier MSL2 at byte 4, found {ident!r}", path=path)


def read(data: bytes, path: Path) -> LiteGraph:
    """Decode the whole MetaGraph of an ``.ms`` file held in ``data``."""
    if len(data) < 8:
        raise FormatError(f"truncated MindSpore Lite model: {len(data)} bytes", path=path)
    check_identifier(data, path)
    buf = _Buf(data, path)
    root = buf.table(buf.u32(0), "MetaGraph")
    m = S.META_GRAPH
    tensors = [_tensor(i, t) for i, t in enumerate(root.tables(m["all_tensors"], "tensor"))]
    nodes = [_node(t) for t in root.tables(m["nodes"], "node")]
    for node in nodes:
        for index in node.inputs + node.outputs:
            if index >= len(tensors):
                raise buf.fail(f"node {node.name!r} refers to tensor {index} of {len(tensors)}")
    inputs, outputs = root.numbers(m["input_index"], "I"), root.numbers(m["output_index"], "I")
    for index in inputs + outputs:
        if index >= len(tensors):
            raise buf.fail(f"graph input/output refers to tensor {index} of {len(tensors)}")
    fmk = root.scalar(m["fmk_type"], "i")
    return LiteGraph(
        name=root.string(m["name"]),
        version=root.string(m["version"]),
        fmk_type=S.FMK_TYPES.get(fmk, f"framework {fmk}"),
        inputs=inputs,
        outputs=outputs,
        nodes=nodes,
        tensors=tensors,
        subgraphs=[g.string(S.SUB_GRAPH["name"]) for g in root.tables(m["sub_graph"], "subgraph")],
    )


def _enum(names: tuple[str, ...], value: int) -> str:
    return names[value] if 0 <= value < len(names) else str(value)


def _tensor(index: int, t: _Table) -> LiteTensor:
    s = S.TENSOR
    quant = []
    for q in t.tables(s["quant_params"], "quant param"):
        p, d = S.QUANT_PARAM, S.QUANT_PARAM_DEFAULTS
        quant.append(QuantParam(scale=q.scalar(p["scale"], "d", 0.0), zero_point=q.scalar(p["zero_point"], "i"),
                                num_bits=q.scalar(p["num_bits"], "i", d["num_bits"]),
                                min=q.scalar(p["min"], "d", 0.0), max=q.scalar(p["max"], "d", 0.0),
                                narrow_range=bool(q.scalar(p["narrow_range"], "B", 1)),
                                inited=bool(q.scalar(p["inited"], "B", 0))))
    return LiteTensor(
        index=index,
        name=t.string(s["name"]) or f"tensor_{index}",
        node_type=S.NODE_TYPES.get(t.scalar(s["node_type"], "i"), "?"),
        type_id=t.scalar(s["data_type"], "i"),
        dims=t.numbers(s["dims"], "i"),
        format=_enum(S.FORMATS, t.scalar(s["format"], "i")),
        data=t.bytes(s["data"]),
        quant_params=quant,
        compress=_enum(S.COMPRESS_TYPES, t.scalar(s["weight_quant_compress_type"], "i")),
        external=bool(t.tables(s["external_data"], "external data")),
    )


def _node(t: _Table) -> LiteNode:
    c = S.CNODE
    name = t.string(c["name"])
    prim = t.child(c["primitive"], f"primitive of {name!r}")
    op_type, attributes = "?", {}
    if prim is not None:
        kind = prim.scalar(S.PRIMITIVE["value_type"], "B")
        op_type = S.PRIMITIVE_TYPES[kind - 1] if 0 < kind <= len(S.PRIMITIVE_TYPES) else f"PrimitiveType {kind}"
        value = prim.child(S.PRIMITIVE["value"], f"{op_type} of {name!r}")
        if value is not None:
            attributes = _attributes(op_type, value)
    return LiteNode(name=name, op_type=op_type, inputs=t.numbers(c["input_index"], "I"),
                    outputs=t.numbers(c["output_index"], "I"), attributes=attributes,
                    quant_type=_enum(S.QUANT_TYPES, t.scalar(c["quant_type"], "i")))


def _attributes(op_type: str, value: _Table) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, (slot, kind) in S.OP_ATTRIBUTES.get(op_type, {}).items():
        if kind == "longs":
            v: Any = value.numbers(slot, "q")
            if not v:
                continue
        elif kind == "long":
            v = value.scalar(slot, "q")
        elif kind == "bool":
            v = bool(value.scalar(slot, "B"))
        elif kind == "float":
            v = value.scalar(slot, "f", 0.0)
        elif kind == "activation":
            v = _enum(S.ACTIVATIONS, value.scalar(slot, "b"))
            if v == "NO_ACTIVATION":
                continue
        elif kind == "pad_mode":
            v = _enum(S.PAD_MODES, value.scalar(slot, "b"))
        else:  # format
            v = _enum(S.FORMATS, value.scalar(slot, "i"))
        out[attr] = v
    return out
