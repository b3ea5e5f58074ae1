"""safetensors: parameter sets read and written with the ``safetensors`` library (numpy side).

The file is an 8-byte little-endian header length, a JSON header naming each tensor's
dtype, shape and byte range, then the raw bytes. ``safe_open`` reads tensors lazily (and
knows bfloat16 through ml_dtypes); the header's free-form ``__metadata__`` strings are kept
in ``Model.metadata`` under ``safetensors.`` and written back on save. Safetensors holds
only numbers, so string entries (a checkpoint's ``append_dict`` notes) travel in that
metadata as ``str:<name>`` and come back as 0-d string arrays.
"""

from __future__ import annotations

import json
import re
from math import prod
from pathlib import Path

import numpy as np

from engine.errors import FormatError
from engine.fileio import atomic_path
from engine.formats import FileFormat, register
from engine.jobs import Job
from engine.model import Model
from engine.params import ParameterSet

META_PREFIX = "safetensors."
STR_PREFIX = "str:"  # header metadata key for a string entry (a checkpoint's note), by tensor name
MAX_HEADER = 100 * 1024 * 1024  # the library's own limit on the JSON header
#: A tensor table nests three deep (table, entry, shape); anything far deeper is not one.
MAX_DEPTH = 16
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def sniff(head: bytes, path: Path) -> bool:
    """A u64 header length that fits the file, then a JSON object."""
    if len(head) < 10:
        return False
    size = int.from_bytes(head[:8], "little")
    if not 2 <= size <= MAX_HEADER:
        return False
    try:
        if size > path.stat().st_size - 8:
            return False
    except OSError:
        pass
    return head[8:9] == b"{"


# Bits per element of each safetensors dtype (the format's own list).
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16,
    "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64, "C64": 64,
}
MAX_RANK = 64


def _check_header(path: Path) -> None:
    """Check every field of the header against the file before the library allocates anything.

    Each tensor needs a known dtype, a shape of at most 64 whole numbers >= 0, and
    ``data_offsets`` [begin, end] inside the data section spanning exactly the bytes its
    shape and dtype need. Errors name the tensor and the field.
    """
    total = path.stat().st_size
    with path.open("rb") as fh:
        prefix = fh.read(8)
        if len(prefix) < 8:
            raise FormatError(f"too short for safetensors: {total} bytes, the header length alone takes 8", path=path)
        size = int.from_bytes(prefix, "little")
        if size > min(MAX_HEADER, total - 8):
            raise FormatError(
                f"not safetensors, or truncated: header length {size} but the file has {total - 8} bytes after it",
                path=path,
            )
        raw = fh.read(size)
    if _nesting(raw) > MAX_DEPTH:
        # Checked before parsing: json's recursion depth follows sys.getrecursionlimit(),
        # which other libraries raise, so parsing alone would not refuse the same files.
        raise FormatError("safetensors header nests too deeply to be a tensor table", path=path)
    try:
        header = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FormatError(f"safetensors header is not UTF-8 text (byte {8 + exc.start})", path=path) from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"safetensors header is not valid JSON ({exc})", path=path) from None
    except RecursionError:
        raise FormatError("safetensors header nests too deeply to be a tensor table", path=path) from None
    if not isinstance(header, dict):
        raise FormatError("safetensors header is not a JSON object", path=path)
    body = total - 8 - size
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise FormatError("safetensors __metadata__ must map names to strings", path=path)
            continue
        _check_entry(name, entry, body, path)


def _nesting(raw: bytes) -> int:
    """The deepest bracket nesting of a JSON text, strings left out (no recursion, vectorised)."""
    bare = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)
    steps = np.isin(bare, (ord("["), ord("{"))).astype(np.int64) - np.isin(bare, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def _canonical(array: np.ndarray) -> np.ndarray:
    """The array with ml_dtypes' bfloat16: the library names the dtype by string, and after
    MindSpore is imported that string resolves to MindSpore's own, unequal, bfloat16."""
    if array.dtype.name == "bfloat16":
        import ml_dtypes

        return array.view(ml_dtypes.bfloat16)
    return array


def _check_entry(name: str, entry: object, body: int, path: Path) -> None:
    if not isinstance(entry, dict):
        raise FormatError(f"tensor {name!r}: header entry is not an object", path=path)
    dtype = entry.get("dtype")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise FormatError(f"tensor {name!r}: dtype {dtype!r} is not a safetensors dtype this reader knows "
                          f"({', '.join(DTYPE_BITS)})", path=path)
    shape = entry.get("shape")
    if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(
            type(d) is int and d >= 0 for d in shape):
        shown = repr(shape) if not isinstance(shape, list) or len(shape) <= 8 else f"(a list of {len(shape)} entries)"
        raise FormatError(f"tensor {name!r}: shape {shown} is not a list of at most {MAX_RANK} whole numbers >= 0",
                          path=path)
    offsets = entry.get("data_offsets")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
        raise FormatError(f"tensor {name!r}: data_offsets {offsets!r} is not a pair of whole numbers", path=path)
    begin, end = offsets
    if 0 <= begin <= end and end > body:
        raise FormatError(f"truncated: tensors need {end - body} bytes more than the file has (tensor {name!r} "
                          f"ends at data byte {end}; the data section holds {body})", path=path)
    if not 0 <= begin <= end <= body:
        raise FormatError(f"tensor {name!r}: data_offsets [{begin}, {end}] lie outside the {body}-byte data section",
                          path=path)
    need = (prod(shape) * DTYPE_BITS[dtype] + 7) // 8
    if end - begin != need:
        raise FormatError(f"tensor {name!r}: shape {shape} of {dtype} needs {need} bytes but data_offsets span "
                          f"{end - begin}", path=path)


def load(path: Path, job: Job) -> Model:
    from safetensors import SafetensorError, safe_open

    _check_header(path)
    params = ParameterSet()
    try:
        with safe_open(str(path), framework="np") as fh:
            names = list(fh.keys())
            header_meta = fh.metadata() or {}
            for i, name in enumerate(names):
                try:
                    params[name] = _canonical(fh.get_tensor(name))
                except (TypeError, ValueError, AttributeError) as exc:  # a dtype numpy cannot hold (float8...)
                    raise FormatError(f"tensor {name!r}: cannot read ({str(exc).splitlines()[0][:160]})",
                                      path=path) from None
                job.report(0.9 * (i + 1) / max(len(names), 1), f"reading {name}")
    except SafetensorError as exc:
        raise FormatError(f"not a valid safetensors file ({exc})", path=path) from None
    metadata: dict[str, str] = {}
    for key, value in header_meta.items():
        if key.startswith(STR_PREFIX):
            if key[len(STR_PREFIX):] in params:
                raise FormatError(f"string entry {key!r} has the name of a tensor", path=path)
            params[key[len(STR_PREFIX):]] = np.asarray(str(value))
        else:
            metadata[META_PREFIX + key] = str(value)
    if not params:
        raise FormatError("safetensors file holds no tensors", path=path)
    metadata.update({
        "tensors": str(len(params)),
        "values": str(params.total_elements),
        "bytes": str(params.total_bytes),
        "dtypes": ", ".join(sorted({str(a.dtype) for a in params.values()})),
    })
    return Model(params=params, source_path=path, source_format="safetensors", metadata=metadata)


def save(model: Model, path: Path, job: Job) -> None:
    from safetensors.numpy import save_file

    if model.params is not None:
        params = model.params
    else:
        from engine.export import graph_parameters

        params = graph_parameters(model)
    if not params:  # a reader refuses a file without tensors, so never write one
        raise FormatError("nothing to write: the model holds no parameters", path=path)
    meta = {k[len(META_PREFIX):]: v for k, v in model.metadata.items() if k.startswith(META_PREFIX)}
    tensors: dict[str, np.ndarray] = {}
    for name, array in params.items():
        if not isinstance(name, str) or not name or name == "__metadata__" or not _encodable(name):
            raise FormatError(f"tensor name {name!r} cannot be stored in safetensors (empty, reserved, or not "
                              "Unicode text)", path=path)
        if array.dtype.kind == "U" and array.ndim == 0:
            if not _encodable(str(array)):
                raise FormatError(f"string entry {name!r} is not valid Unicode text", path=path)
            meta[STR_PREFIX + name] = str(array)
        elif array.dtype.kind in "USO":
            raise FormatError(f"tensor {name!r} has dtype {array.dtype}; safetensors holds only numbers", path=path)
        else:
            tensors[name] = np.require(array, requirements="C")  # keeps 0-d arrays 0-d
    job.report(0.2, f"writing {path.name}")
    from safetensors import SafetensorError

    try:
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta or None)
            _verify_written(tmp, path, set(tensors), meta)
    except (SafetensorError, ValueError, TypeError) as exc:
        raise FormatError(f"cannot write safetensors ({exc})", path=path) from None


def _verify_written(tmp: Path, path: Path, names: set[str], meta: dict[str, str]) -> None:
    """Re-read the header just written (cheap: no tensor data) before it replaces ``path``."""
    try:
        _check_header(tmp)
    except FormatError as exc:
        raise FormatError(f"the file written does not read back ({exc.message}); nothing written", path=path) from None
    with tmp.open("rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
    written = set(header) - {"__metadata__"}
    if written != names or header.get("__metadata__", {}) != meta:
        raise FormatError("the file written does not hold the tensors given (names or notes differ); nothing written",
                          path=path)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


FORMAT = register(
    FileFormat(
        name="safetensors",
        label="safetensors",
        suffixes=(".safetensors",),
        kind="params",
        sniff=sniff,
        load=load,
        save=save,
        priority=4,
        description="Hugging Face safetensors parameter file",
    )
)
