"""NumPy .npz: parameter sets as a zip of .npy arrays, read without ever unpickling.

numpy writes dtypes it does not know (bfloat16 from ml_dtypes) as raw void bytes, so a
save that holds any records their true dtype names in one extra string member,
``__dstudio_dtypes__`` (a JSON object), which a load uses to view them back.
"""

from __future__ import annotations

import json
import zipfile
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


def load(path: Path, job: Job) -> Model:
    if not zipfile.is_zipfile(path):
        raise FormatError("not an .npz file: not a zip archive, or truncated", path=path)
    params = ParameterSet()
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            true_dtypes: dict[str, str] = {}
            if DTYPES_MEMBER in names:
                names.remove(DTYPES_MEMBER)
                true_dtypes = json.loads(str(archive[DTYPES_MEMBER]))
            for i, name in enumerate(names):
                try:
                    array = archive[name]
                except ValueError as exc:
                    if "pickle" in str(exc):
                        raise FormatError(
                            f"array {name!r} holds Python objects (pickled); refusing to unpickle it",
                            path=path,
                            hint="save plain numeric arrays (numpy.savez with numeric dtypes)",
                        ) from None
                    raise
                if name in true_dtypes:
                    array = _restore(array, true_dtypes[name], name, path)
                params[name] = array
                job.report(0.9 * (i + 1) / max(len(names), 1), f"reading {name}")
    except (zipfile.BadZipFile, EOFError, OSError, json.JSONDecodeError) as exc:
        raise FormatError(f"corrupt .npz file ({exc})", path=path) from None
    if not params:
        raise FormatError(".npz file holds no arrays", path=path)
    metadata = {
        "tensors": str(len(params)),
        "values": str(params.total_elements),
        "bytes": str(params.total_bytes),
        "dtypes": ", ".join(sorted({str(a.dtype) for a in params.values()})),
    }
    return Model(params=params, source_path=path, source_format="npz", metadata=metadata)


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
    arrays: dict[str, np.ndarray] = {}
    true_dtypes: dict[str, str] = {}
    for name, array in params.items():
        if array.dtype.kind == "O":
            raise FormatError(f"array {name!r} holds Python objects; .npz here holds only plain arrays", path=path)
        if name == DTYPES_MEMBER:
            raise FormatError(f"array name {name!r} is reserved", path=path)
        if array.dtype in _EXTRA_DTYPES.values():
            true_dtypes[name] = array.dtype.name
        arrays[name] = array
    if true_dtypes:
        arrays[DTYPES_MEMBER] = np.asarray(json.dumps(true_dtypes))
    job.report(0.2, f"writing {path.name}")
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        # A file object, so numpy does not append ".npz" to the temporary name.
        np.savez(fh, **arrays)


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
