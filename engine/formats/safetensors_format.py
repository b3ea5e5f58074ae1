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


def _check_header(path: Path) -> None:
    """Diagnose a broken header before the library does, with what was found where."""
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
        try:
            header = json.loads(fh.read(size))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"safetensors header is not valid JSON ({exc})", path=path) from None
    if not isinstance(header, dict):
        raise FormatError("safetensors header is not a JSON object", path=path)
    end = max((max(v.get("data_offsets", [0, 0])) for k, v in header.items() if k != "__metadata__"
               and isinstance(v, dict)), default=0)
    if 8 + size + end > total:
        raise FormatError(f"truncated: tensors need {8 + size + end} bytes but the file has {total}", path=path)


def load(path: Path, job: Job) -> Model:
    from safetensors import SafetensorError, safe_open

    _check_header(path)
    params = ParameterSet()
    try:
        with safe_open(str(path), framework="np") as fh:
            names = list(fh.keys())
            header_meta = fh.metadata() or {}
            for i, name in enumerate(names):
                params[name] = fh.get_tensor(name)
                job.report(0.9 * (i + 1) / max(len(names), 1), f"reading {name}")
    except SafetensorError as exc:
        raise FormatError(f"not a valid safetensors file ({exc})", path=path) from None
    metadata: dict[str, str] = {}
    for key, value in header_meta.items():
        if key.startswith(STR_PREFIX):
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
    meta = {k[len(META_PREFIX):]: v for k, v in model.metadata.items() if k.startswith(META_PREFIX)}
    tensors: dict[str, np.ndarray] = {}
    for name, array in params.items():
        if array.dtype.kind == "U" and array.ndim == 0:
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
    except (SafetensorError, ValueError, TypeError) as exc:
        raise FormatError(f"cannot write safetensors ({exc})", path=path) from None


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
