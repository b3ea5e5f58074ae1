"""MindSpore checkpoints (.ckpt): read and write parameter sets, byte for byte as MindSpore does.

A checkpoint is a protobuf ``Checkpoint`` whose only top-level field is a repeated
``Value{tag, tensor{dims, tensor_type, tensor_content}}``. MindSpore 2.x writes each Value
as its own serialised one-entry ``Checkpoint`` (the wire bytes are the same as one big
message), splits a tensor over 512 MiB into consecutive Values with the same tag, writes
scalars with no dims, strings as dims ``[0]`` of type ``str`` holding UTF-32 text, and may
end the file with ``b"crc_num"`` plus a 10-byte big-endian CRC-32. This module walks the
top-level fields itself so that files past protobuf's 2 GiB message limit still open, and
records whatever a rewrite needs (chunk sizes, legacy ``[0]`` scalar dims, the CRC trailer)
in ``Model.metadata["ckpt.layout"]`` so saving a loaded file reproduces it exactly.
"""

from __future__ import annotations

import binascii
from math import prod
import json
import logging
from pathlib import Path

import ml_dtypes
import numpy as np

from engine.errors import FormatError
from engine.fileio import atomic_path
from engine.formats import FileFormat, register
from engine.formats.protowire import LEN, _varint, is_printable, scan_fields
from engine.jobs import Job
from engine.model import Model
from engine.params import ParameterSet

log = logging.getLogger(__name__)

# MindSpore's name for each dtype (str(mindspore.dtype)), as in mindspore/train/serialization.py.
DTYPES: dict[str, np.dtype] = {
    "Int8": np.dtype(np.int8),
    "UInt8": np.dtype(np.uint8),
    "Int16": np.dtype(np.int16),
    "UInt16": np.dtype(np.uint16),
    "Int32": np.dtype(np.int32),
    "UInt32": np.dtype(np.uint32),
    "Int64": np.dtype(np.int64),
    "UInt64": np.dtype(np.uint64),
    "Float16": np.dtype(np.float16),
    "Float32": np.dtype(np.float32),
    "Float64": np.dtype(np.float64),
    "BFloat16": np.dtype(ml_dtypes.bfloat16),
    "Bool": np.dtype(np.bool_),
}
_NAMES = {dtype: name for name, dtype in DTYPES.items()}
STR_TYPE = "str"
# MindSpore cuts a tensor's raw bytes into pieces of this size (SLICE_SIZE KiB * 1024).
CHUNK_BYTES = 512 * 1024 * 1024
CRC_MARK = b"crc_num"
CRC_TRAILER = len(CRC_MARK) + 10
LAYOUT_KEY = "ckpt.layout"


def sniff(head: bytes, path: Path) -> bool:
    """A checkpoint: only top-level field 1 (LEN), the first one opening with a printable tag."""
    if head[-CRC_TRAILER:-10] == CRC_MARK:  # a small file read whole, CRC trailer and all
        head = head[:-CRC_TRAILER]
    fields = scan_fields(head, limit=8)
    if not fields or any(f.number != 1 or f.wire_type != LEN for f in fields):
        return False
    inner = scan_fields(bytes(fields[0].value), limit=2)
    if not inner or inner[0].number != 1 or inner[0].wire_type != LEN:
        return False
    tag = bytes(inner[0].value)
    if not tag or not is_printable(tag):
        return False
    # MindIR's field 1 is also a short printable string ("1.1"), but it sits at the top level
    # and is followed by fields 2, 7, 12...; here the tag must be followed by the tensor (2/3).
    return len(inner) < 2 or (inner[1].number in (2, 3) and inner[1].wire_type == LEN)


def dtype_of(name: str, tag: str, path: Path | None) -> np.dtype:
    """The numpy dtype for a MindSpore dtype name; FormatError naming the tensor otherwise."""
    try:
        return DTYPES[name]
    except KeyError:
        hint = "4-bit packed tensors are not supported" if name == "Int4" else None
        raise FormatError(
            f"tensor {tag!r} has dtype {name!r}, which is not a MindSpore checkpoint dtype this reader knows "
            f"(known: {', '.join(DTYPES)}, str)",
            path=path,
            hint=hint,
        ) from None


def type_name(array: np.ndarray, tag: str, path: Path | None = None) -> str:
    """The MindSpore dtype name for an array; FormatError naming the tensor otherwise."""
    if array.dtype.kind == "U":
        if array.ndim != 0:
            raise FormatError(f"tensor {tag!r} is an array of strings; a checkpoint holds only single strings",
                              path=path)
        return STR_TYPE
    name = _NAMES.get(array.dtype.newbyteorder("="))
    if name is None:
        raise FormatError(f"tensor {tag!r} has dtype {array.dtype}, which a MindSpore checkpoint cannot hold",
                          path=path)
    return name


def _values(data: memoryview, path: Path, job: Job):
    """Yield ``(offset, Checkpoint.Value)`` for each top-level entry of ``data``."""
    from google.protobuf.message import DecodeError

    from engine.formats._proto.dstudio_checkpoint_pb2 import Checkpoint

    pos, end = 0, len(data)
    while pos < end:
        start = pos
        try:
            key, pos = _varint(data, pos)
            if key != (1 << 3) | LEN:
                raise FormatError(_not_a_checkpoint(data, start, key), path=path)
            length, pos = _varint(data, pos)
        except (IndexError, ValueError):
            raise FormatError(f"truncated or corrupt at byte {start}: cannot read an entry header", path=path) from None
        if pos + length > end:
            raise FormatError(
                f"truncated: the entry at byte {start} needs {length} bytes but only {end - pos} remain",
                path=path,
                hint="the file was cut short; copy or save it again",
            )
        try:
            value = Checkpoint.Value.FromString(data[pos : pos + length])
        except DecodeError:
            if start == 0:
                raise FormatError(_not_a_checkpoint(data, 0, key), path=path) from None
            raise FormatError(f"corrupt entry at byte {start}: not a checkpoint tensor", path=path) from None
        pos += length
        yield start, value
        job.report(0.9 * pos / end, f"reading {value.tag}")


def _not_a_checkpoint(data: memoryview, pos: int, key: int) -> str:
    if pos == 0:
        from engine.formats import _safe_sniff, formats

        head = bytes(data[:65536])
        other = [f.label for f in formats() if f.name != "ckpt" and _safe_sniff(f, head, Path("x"))]
        if other:
            return f"not a MindSpore checkpoint: this is {other[0]} content"
        return f"not a MindSpore checkpoint: starts with bytes {bytes(data[:8]).hex(' ')}"
    return (f"not a MindSpore checkpoint past byte {pos}: found field {key >> 3} (wire type {key & 7}) "
            "where only tensor entries (field 1) may be")


def load(path: Path, job: Job) -> Model:
    """Read a checkpoint into a ParameterSet; split tensors are joined again."""
    raw = path.read_bytes()
    if not raw:
        raise FormatError("file is empty", path=path)
    layout: dict[str, object] = {}
    body = memoryview(raw)
    if raw[-CRC_TRAILER:-10] == CRC_MARK:
        body = body[:-CRC_TRAILER]
        stored = int.from_bytes(raw[-10:], "big")
        if binascii.crc32(body) != stored:
            raise FormatError("CRC check failed: the file is damaged", path=path)
        layout["crc"] = True
    pieces: dict[str, list[bytes]] = {}
    heads: dict[str, tuple[str, tuple[int, ...]]] = {}
    order: list[str] = []
    previous = None
    for offset, value in _values(body, path, job):
        tag = value.tag
        if not tag:
            raise FormatError(f"entry at byte {offset} has no name (tag)", path=path)
        if not isinstance(tag, str):  # protobuf hands back bytes for a proto2 string that is not UTF-8
            raise FormatError(f"entry at byte {offset} has a name that is not UTF-8 text ({bytes(tag)[:40]!r})",
                              path=path)
        if not isinstance(value.tensor.tensor_type, str):
            raise FormatError(f"tensor {tag!r}: its dtype name is not UTF-8 text", path=path)
        if value.WhichOneof("value") != "tensor":
            raise FormatError(f"entry {tag!r} is a MapParameter (hash-table embedding); not supported",
                              path=path, hint="save the network without MapParameters")
        tensor = value.tensor
        head = (tensor.tensor_type, tuple(tensor.dims))
        if tag == previous:  # a large tensor continues in the next entry
            if heads[tag] != head:
                raise FormatError(f"tensor {tag!r} changes dims or dtype between its pieces", path=path)
            pieces[tag].append(tensor.tensor_content)
            continue
        if tag in pieces:  # MindSpore's reader keeps the later one; so do we
            log.warning("%s: tensor %r appears twice; keeping the later copy", path, tag)
            order.remove(tag)
        order.append(tag)
        pieces[tag] = [tensor.tensor_content]
        heads[tag] = head
        previous = tag
    if not order:
        raise FormatError("checkpoint holds no tensors", path=path)
    params = ParameterSet()
    irregular: dict[str, dict[str, object]] = {}
    for tag in order:
        type_str, dims = heads[tag]
        chunks = pieces.pop(tag)
        content = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        params[tag] = _decode(tag, type_str, dims, content, path)
        entry: dict[str, object] = {}
        if len(chunks) > 1 and [len(c) for c in chunks] != _default_chunks(len(content)):
            entry["chunks"] = [len(c) for c in chunks]
        if type_str != STR_TYPE and dims == (0,) and params[tag].ndim == 0:
            entry["dims"] = [0]
        if entry:
            irregular[tag] = entry
    if irregular:
        layout["tensors"] = irregular
    metadata = {
        "tensors": str(len(params)),
        "values": str(params.total_elements),
        "bytes": str(params.total_bytes),
        "dtypes": ", ".join(sorted({heads[t][0] for t in order})),
    }
    if layout:
        metadata[LAYOUT_KEY] = json.dumps(layout, sort_keys=True)
    return Model(params=params, source_path=path, source_format="ckpt", metadata=metadata)


def _decode(tag: str, type_str: str, dims: tuple[int, ...], content: bytes, path: Path) -> np.ndarray:
    if type_str == STR_TYPE:
        if len(content) % 4:
            raise FormatError(f"string entry {tag!r} is {len(content)} bytes, not whole UTF-32 characters", path=path)
        try:
            text = content.decode("utf-32-le")
        except UnicodeDecodeError as exc:
            raise FormatError(f"string entry {tag!r} is not valid UTF-32 text (byte {exc.start})", path=path) from None
        return np.asarray(text.rstrip("\0"))  # numpy's fixed-width strings drop trailing NULs too
    dtype = dtype_of(type_str, tag, path)
    if any(d < 0 for d in dims):
        raise FormatError(f"tensor {tag!r} has a negative dimension {list(dims)}", path=path)
    if len(dims) > 64:
        raise FormatError(f"tensor {tag!r} has {len(dims)} dimensions; at most 64 are supported", path=path)
    count = prod(dims)  # Python integers: a numpy product of huge dims wraps around
    if dims == (0,) and len(content) == dtype.itemsize:
        dims, count = (), 1  # MindSpore's old spelling of a scalar; its reader accepts it too
    if count * dtype.itemsize != len(content):
        raise FormatError(
            f"tensor {tag!r} holds {len(content)} bytes but dims {list(dims)} of {type_str} need "
            f"{count * dtype.itemsize}",
            path=path,
        )
    return np.frombuffer(content, dtype=dtype.newbyteorder("<")).reshape(dims)


def _default_chunks(nbytes: int) -> list[int]:
    """Piece sizes MindSpore 2.x uses for a tensor of ``nbytes`` raw bytes."""
    if nbytes <= CHUNK_BYTES:
        return [nbytes]
    return [min(CHUNK_BYTES, nbytes - i) for i in range(0, nbytes, CHUNK_BYTES)]


def encode(tag: str, array: np.ndarray, *, chunks: list[int] | None = None, dims: list[int] | None = None,
           path: Path | None = None) -> list[bytes]:
    """Serialise one tensor as MindSpore does: one one-entry Checkpoint message per piece."""
    from engine.formats._proto.dstudio_checkpoint_pb2 import Checkpoint

    array = np.asarray(array)
    type_str = type_name(array, tag, path)
    content = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()  # tobytes is C order
    if type_str == STR_TYPE:
        out_dims = [0]  # how MindSpore marks a string entry
    elif dims is not None and array.ndim == 0:
        out_dims = list(dims)  # a scalar the source file spelt as [0]
    else:
        out_dims = list(array.shape)
    sizes = chunks if chunks and sum(chunks) == len(content) else _default_chunks(len(content))
    out, start = [], 0
    for size in sizes:
        message = Checkpoint()
        value = message.value.add()
        value.tag = tag
        value.tensor.dims.extend(out_dims)
        value.tensor.tensor_type = type_str
        value.tensor.tensor_content = content[start : start + size]
        start += size
        out.append(message.SerializeToString())
    return out


def save_params(params: ParameterSet, path: Path, job: Job, layout: dict | None = None) -> None:
    """Write ``params`` as a MindSpore checkpoint through a temporary file.

    Args:
        layout: what :func:`load` recorded (chunks, legacy dims, CRC); None writes the
            way MindSpore 2.x does by default.
    """
    if not params:  # an empty checkpoint is an empty file, which no reader opens
        raise FormatError("nothing to write: the model holds no parameters", path=path)
    layout = layout or {}
    irregular = layout.get("tensors", {})
    check_names(params, path)
    total = max(len(params), 1)
    crc = 0
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        for i, (tag, array) in enumerate(params.items()):
            entry = irregular.get(tag, {})
            for piece in encode(tag, array, chunks=entry.get("chunks"), dims=entry.get("dims"), path=path):
                fh.write(piece)
                crc = binascii.crc32(piece, crc)
            job.report((i + 1) / total, f"writing {tag}")
        if layout.get("crc"):
            fh.write(CRC_MARK + crc.to_bytes(10, "big"))


def check_names(params: ParameterSet, path: Path) -> None:
    """Refuse, before anything is written, names a checkpoint cannot carry so that it reads back."""
    for tag, array in params.items():
        if not isinstance(tag, str) or not tag:
            raise FormatError(f"a tensor has an empty name ({tag!r}); every checkpoint entry needs one", path=path,
                              hint="rename it in the source file")
        try:
            tag.encode("utf-8")
        except UnicodeEncodeError:
            raise FormatError(f"tensor name {tag!r} is not valid Unicode text; a checkpoint stores UTF-8 names",
                              path=path) from None
        type_name(np.asarray(array), tag, path)
        if np.asarray(array).dtype.kind == "U":
            text = str(np.asarray(array))
            if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
                raise FormatError(f"string entry {tag!r} holds lone surrogates, which a checkpoint cannot store",
                                  path=path)


def save(model: Model, path: Path, job: Job) -> None:
    """Save a Model's parameters (or a graph's initializers) as a checkpoint."""
    from engine.export import graph_parameters

    params = model.params if model.params is not None else graph_parameters(model)
    layout = None
    if model.source_format == "ckpt" and LAYOUT_KEY in model.metadata:
        layout = json.loads(model.metadata[LAYOUT_KEY])
    save_params(params, path, job, layout)


FORMAT = register(
    FileFormat(
        name="ckpt",
        label="MindSpore checkpoint",
        suffixes=(".ckpt",),
        kind="params",
        sniff=sniff,
        load=load,
        save=save,
        priority=5,
        description="MindSpore parameter file: tagged tensors in protobuf",
    )
)
