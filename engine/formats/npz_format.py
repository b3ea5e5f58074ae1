"""NumPy .npz: parameter sets as a zip of .npy arrays, read without ever unpickling.

numpy writes dtypes it does not know (bfloat16 from ml_dtypes) as raw void bytes, so a
save that holds any records their true dtype names in one extra string member,
``__dstudio_dtypes__`` (a JSON object), which a load uses to view them back.
"""

from __future__ import annotations

import json
import struct
import zipfile
from math import prod
from pathlib import Path

import ml_dtypes
import numpy as np

from engine.errors import FormatError
from engine.fileio import atomic_path
from engine.formats import FileFormat, register
from engine.jobs import Job
from engine.model import Model
from engine.params import ParameterSet

DTYPES_MEMBER = "__dstudio_dtypes__"
_EXTRA_DTYPES = {"bfloat16": np.dtype(ml_dtypes.bfloat16)}


def sniff(head: bytes, path: Path) -> bool:
    """A zip whose first member is a .npy file."""
    if head[:4] != b"PK\x03\x04" or len(head) < 30:
        return False
    name_len = int.from_bytes(head[26:28], "little")
    name = head[30 : 30 + name_len]
    return name.endswith(b".npy")


# Deflate cannot expand data by more than about 1032:1; a member claiming more is a lie (or a bomb).
MAX_DEFLATE_RATIO = 1100
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
               struct.error, UnicodeDecodeError, OverflowError, KeyError)


def load(path: Path, job: Job) -> Model:
    """Read every member as a plain array, checking each declared size against the bytes present first."""
    try:
        archive = zipfile.ZipFile(path)
    except _ZIP_ERRORS as exc:
        raise FormatError(f"not an .npz file: not a zip archive, or truncated ({_one_line(exc)})", path=path) from None
    params = ParameterSet()
    with archive:
        infos = archive.infolist()
        names = [_member_name(info, path) for info in infos]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise FormatError(f"the archive holds two arrays named {dup!r}", path=path)
        true_dtypes: dict[str, str] = {}
        if DTYPES_MEMBER in names:
            i = names.index(DTYPES_MEMBER)
            true_dtypes = _dtype_record(_read_member(archive, infos.pop(i), DTYPES_MEMBER, path), path)
            names.pop(i)
        for i, (info, name) in enumerate(zip(infos, names)):
            array = _read_member(archive, info, name, path, raw_ok=name in true_dtypes)
            if name in true_dtypes:
                array = _restore(array, true_dtypes[name], name, path)
            params[name] = array
            job.report(0.9 * (i + 1) / max(len(names), 1), f"reading {name}")
    if not params:
        raise FormatError(".npz file holds no arrays", path=path)
    metadata = {
        "tensors": str(len(params)),
        "values": str(params.total_elements),
        "bytes": str(params.total_bytes),
        "dtypes": ", ".join(sorted({str(a.dtype) for a in params.values()})),
    }
    return Model(params=params, source_path=path, source_format="npz", metadata=metadata)


def _member_name(info: zipfile.ZipInfo, path: Path) -> str:
    name = info.filename
    if not name.endswith(".npy"):
        raise FormatError(f"member {name!r} is not a .npy array; an .npz holds only .npy members", path=path)
    key = name[: -len(".npy")]
    if not key:
        raise FormatError("member '.npy' has an empty array name", path=path)
    if "\0" in key:
        raise FormatError(f"member name {key!r} holds a NUL character", path=path)
    return key


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, path: Path, *,
                 raw_ok: bool = False) -> np.ndarray:
    """One .npy member: header parsed, its declared size checked against the member's, then read."""
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise FormatError(f"array {name!r}: stored member says {info.file_size} bytes but holds {info.compress_size}",
                          path=path)
    if info.file_size > info.compress_size * MAX_DEFLATE_RATIO + 4096:
        raise FormatError(f"array {name!r}: member claims {info.file_size} bytes from {info.compress_size} compressed, "
                          "more than compression can produce (corrupt)", path=path)
    try:
        with archive.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version not in ((1, 0), (2, 0), (3, 0)):
                raise FormatError(f"array {name!r}: .npy format version {version} is not known", path=path)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            try:
                shape, fortran, dtype = read_header(fh, max_header_size=10000)
            except _ZIP_ERRORS:
                raise
            except Exception as exc:  # numpy parses the header as a Python literal: any parser error
                raise FormatError(f"array {name!r}: malformed .npy header ({_one_line(exc)})", path=path) from None
            header = fh.tell()
            _check_dtype(dtype, name, path, raw_ok)
            if len(shape) > 64:
                raise FormatError(f"array {name!r} has {len(shape)} dimensions; at most 64 are supported", path=path)
            count = prod(shape)
            need = count * dtype.itemsize
            if info.file_size - header != need:
                raise FormatError(f"array {name!r} declares shape {list(shape)} of {dtype} ({need} bytes) but its "
                                  f"member holds {info.file_size - header}", path=path)
            array = np.empty(count, dtype=dtype)  # sized by a check against the bytes present
            view = memoryview(array).cast("B") if need else None
            got = fh.readinto(view) if need else 0
            if got != need:
                raise FormatError(f"array {name!r} is truncated: {got} of {need} bytes", path=path)
    except FormatError:
        raise
    except _ZIP_ERRORS + (SyntaxError, TypeError) as exc:
        raise FormatError(f"array {name!r}: corrupt member ({_one_line(exc)})", path=path) from None
    if dtype.kind == "U" and array.size:
        # numpy stores UTF-32 code units unchecked; str() of one past U+10FFFF crashes the interpreter.
        units = array.view(np.uint32)
        if int(units.max()) > 0x10FFFF or np.any((units >= 0xD800) & (units <= 0xDFFF)):
            raise FormatError(f"array {name!r} holds text that is not valid Unicode", path=path)
    return array.reshape(shape, order="F" if fortran else "C")


def _check_dtype(dtype: np.dtype, name: str, path: Path, raw_ok: bool) -> None:
    if dtype.hasobject:
        raise FormatError(f"array {name!r} holds Python objects (pickled); refusing to unpickle it", path=path,
                          hint="save plain numeric arrays (numpy.savez with numeric dtypes)")
    if dtype.fields is not None or dtype.subdtype is not None:
        raise FormatError(f"array {name!r} has a structured dtype {dtype}; only plain arrays are supported", path=path)
    if dtype.kind == "V" and not raw_ok:
        raise FormatError(f"array {name!r} is raw bytes ({dtype}) with no record of its true dtype", path=path)
    if dtype.kind not in "biufcUSV":
        raise FormatError(f"array {name!r} has dtype {dtype}, which is not a tensor dtype", path=path)
    if dtype.itemsize == 0 and dtype.kind in "USV":
        raise FormatError(f"array {name!r} has zero-width dtype {dtype}", path=path)


def _dtype_record(array: np.ndarray, path: Path) -> dict[str, str]:
    try:
        record = json.loads(str(array)) if array.dtype.kind == "U" and array.ndim == 0 else None
    except (ValueError, RecursionError):
        record = None
    if not isinstance(record, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in record.items()):
        raise FormatError(f"member {DTYPES_MEMBER!r} is not a JSON object of dtype names", path=path)
    return record


def _encodable(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _restore(array: np.ndarray, name: str, member: str, path: Path) -> np.ndarray:
    dtype = _EXTRA_DTYPES.get(name)
    if dtype is None or array.dtype.itemsize != dtype.itemsize:
        raise FormatError(f"array {member!r} is stored as {array.dtype} and claims dtype {name!r}", path=path)
    return array.view(dtype)


def save(model: Model, path: Path, job: Job) -> None:
    if model.params is not None:
        params = model.params
    else:
        from engine.export import graph_parameters

        params = graph_parameters(model)
    if not params:  # a reader refuses a file without tensors, so never write one
        raise FormatError("nothing to write: the model holds no parameters", path=path)
    arrays: dict[str, np.ndarray] = {}
    true_dtypes: dict[str, str] = {}
    for name, array in params.items():
        if array.dtype.kind == "O":
            raise FormatError(f"array {name!r} holds Python objects; .npz here holds only plain arrays", path=path)
        if name == DTYPES_MEMBER:
            raise FormatError(f"array name {name!r} is reserved", path=path)
        if not name or "\0" in name or not _encodable(name):
            raise FormatError(f"array name {name!r} cannot be an .npz member name (empty, NUL or not Unicode)",
                              path=path, hint="rename it in the source file")
        if array.dtype.kind not in "biufcUSV" or array.dtype.fields is not None:
            raise FormatError(f"array {name!r} has dtype {array.dtype}, which .npz here does not hold", path=path)
        if array.dtype in _EXTRA_DTYPES.values():
            true_dtypes[name] = array.dtype.name
        arrays[name] = array
    if true_dtypes:
        arrays[DTYPES_MEMBER] = np.asarray(json.dumps(true_dtypes))
    job.report(0.2, f"writing {path.name}")
    with atomic_path(path) as tmp:
        with tmp.open("wb") as fh:
            # A file object, so numpy does not append ".npz" to the temporary name.
            np.savez(fh, **arrays)
        # Cheap structure check before the rename: the members are exactly the arrays given.
        with zipfile.ZipFile(tmp) as written:
            members = sorted(written.namelist())
        if members != sorted(f"{name}.npy" for name in arrays):
            raise FormatError("the archive written does not hold the arrays given; nothing written", path=path)


FORMAT = register(
    FileFormat(
        name="npz",
        label="NumPy arrays",
        suffixes=(".npz",),
        kind="params",
        sniff=sniff,
        load=load,
        save=save,
        priority=3,
        description="numpy.savez archive of named arrays",
    )
)
