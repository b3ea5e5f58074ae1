"""Open Inference Protocol (V2) tensors over HTTP: JSON and Triton's binary extension, both directions.

Plain functions on bytes and numpy arrays, shared by the server, the load test and the
client, so what the server accepts is exactly what the client sends. A request that does
not fit the protocol or the model raises :class:`V2Error` with the HTTP status to answer
(400 bad request, 404 unknown model, 413 body too large) and one line for ``{"error": ...}``.

Binary tensor data follows Triton's ``binary_tensor_data`` extension: the JSON header is
the first ``Inference-Header-Content-Length`` bytes of the body, then each tensor whose
``parameters.binary_data_size`` is set, in order, as raw little-endian bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: V2 datatype name -> numpy dtype (BYTES, strings, is not served: no model here takes them).
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}
_BY_DTYPE = {v: k for k, v in DATATYPES.items()}

HEADER_LENGTH = "Inference-Header-Content-Length"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"


class V2Error(Exception):
    """A request the server refuses: HTTP ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)

    def body(self) -> bytes:
        return json.dumps({"error": self.message}).encode()


def datatype_of(dtype: np.dtype) -> str:
    """The V2 datatype name of a numpy dtype; ValueError for one V2 cannot carry."""
    try:
        return _BY_DTYPE[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"numpy dtype {np.dtype(dtype).name} has no Open Inference Protocol datatype") from None


def dtype_of(datatype: str) -> np.dtype:
    """The numpy dtype of a V2 datatype name; V2Error 400 for an unknown or unsupported one."""
    try:
        return DATATYPES[str(datatype).upper()]
    except KeyError:
        known = ", ".join(DATATYPES)
        raise V2Error(400, f"unsupported datatype {datatype!r}; this server takes {known}") from None


# -- requests -----------------------------------------------------------------------------------


def encode_request(feeds: Mapping[str, np.ndarray], *, binary: bool = False, binary_outputs: bool | None = None,
                   request_id: str = "", outputs: Sequence[str] | None = None) -> tuple[bytes, dict[str, str]]:
    """Body and headers of an infer request for ``feeds``.

    Args:
        binary: send tensors as raw bytes (the binary extension) rather than JSON lists.
        binary_outputs: ask for outputs as raw bytes (default: the same as ``binary``).
        outputs: the outputs to return (default: all).
    """
    binary_outputs = binary if binary_outputs is None else binary_outputs
    inputs, blobs = [], []
    for name, arr in feeds.items():
        arr = np.asarray(arr)
        entry: dict[str, Any] = {"name": name, "shape": list(arr.shape), "datatype": datatype_of(arr.dtype)}
        if binary:
            blob = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = arr.reshape(-1).tolist()
        inputs.append(entry)
    header: dict[str, Any] = {"inputs": inputs}
    if request_id:
        header["id"] = request_id
    if outputs is not None:
        header["outputs"] = [{"name": n, "parameters": {"binary_data": binary_outputs}} for n in outputs]
    elif binary_outputs:
        header["parameters"] = {"binary_data_output": True}
    head = json.dumps(header, separators=(",", ":")).encode()
    if not blobs:
        return head, {"Content-Type": JSON_TYPE}
    return head + b"".join(blobs), {"Content-Type": BINARY_TYPE, HEADER_LENGTH: str(len(head))}


def _split_body(body: bytes, header_length: str | None) -> tuple[dict, memoryview]:
    """The JSON header (a dict) and the bytes after it."""
    if header_length is None:
        head, rest = body, memoryview(b"")
    else:
        try:
            n = int(header_length)
        except ValueError:
            raise V2Error(400, f"{HEADER_LENGTH} is not a number: {header_length!r}") from None
        if not 0 <= n <= len(body):
            raise V2Error(400, f"{HEADER_LENGTH} is {n} but the body has {len(body)} bytes")
        head, rest = body[:n], memoryview(body)[n:]
    try:
        obj = json.loads(head)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise V2Error(400, f"malformed JSON in request body: {exc}") from None
    if not isinstance(obj, dict):
        raise V2Error(400, f"request body must be a JSON object, not {type(obj).__name__}")
    return obj, rest


def _shape(entry: dict, what: str) -> tuple[int, ...]:
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise V2Error(400, f"{what}: 'shape' must be a list of non-negative integers, not {shape!r}")
    return tuple(shape)


def _tensor(entry: Any, rest: memoryview, offset: int, what: str) -> tuple[str, np.ndarray, int]:
    """Decode one tensor entry (JSON data or a binary slice); returns (name, array, new offset)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise V2Error(400, f"{what} must be an object with a string 'name'")
    name = entry["name"]
    what = f"{what} {name!r}"
    shape = _shape(entry, what)
    dtype = dtype_of(entry.get("datatype", ""))
    count = math.prod(shape)
    params = entry.get("parameters") or {}
    if not isinstance(params, dict):
        raise V2Error(400, f"{what}: 'parameters' must be an object")
    size = params.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise V2Error(400, f"{what}: binary_data_size must be a non-negative integer, not {size!r}")
        if size != count * dtype.itemsize:
            raise V2Error(400, f"{what}: binary_data_size is {size} bytes, but shape {list(shape)} of "
                               f"{entry['datatype']} needs {count * dtype.itemsize}")
        if offset + size > len(rest):
            raise V2Error(400, f"{what}: binary data runs past the end of the body "
                               f"({offset + size} bytes needed after the header, {len(rest)} sent)")
        arr = np.frombuffer(rest[offset:offset + size], dtype=dtype.newbyteorder("<")).astype(dtype, copy=False)
        return name, arr.reshape(shape), offset + size
    if "data" not in entry:
        raise V2Error(400, f"{what} has neither 'data' nor parameters.binary_data_size")
    try:
        arr = np.asarray(entry["data"])
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"data holds {arr.dtype.kind!r} values, not numbers")
        if dtype.kind in "iub" and arr.dtype.kind == "f" and arr.size:  # [] reads as float64: no values, no problem
            raise ValueError(f"data holds non-integer numbers for {entry['datatype']}")
        arr = arr.astype(dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise V2Error(400, f"{what}: 'data' is not a list of {entry['datatype']} values ({exc})") from None
    if arr.size != count:
        raise V2Error(400, f"{what}: 'data' has {arr.size} values, shape {list(shape)} needs {count}")
    return name, arr.reshape(shape), offset


def decode_request(body: bytes, header_length: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Feeds and the request's JSON header from an infer request body.

    Returns:
        (name -> array, the parsed header: id, outputs, parameters).

    Raises:
        V2Error: 400 for malformed JSON, an unknown datatype, data that do not fit the shape,
            a repeated input, or binary data of the wrong size.
    """
    obj, rest = _split_body(body, header_length)
    inputs = obj.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise V2Error(400, "request has no 'inputs' list")
    feeds: dict[str, np.ndarray] = {}
    offset = 0
    for entry in inputs:
        name, arr, offset = _tensor(entry, rest, offset, "input")
        if name in feeds:
            raise V2Error(400, f"input {name!r} is given twice")
        feeds[name] = arr
    if offset != len(rest):
        raise V2Error(400, f"body has {len(rest) - offset} bytes of binary data that no input claims")
    return feeds, obj


def wants_binary(header: dict) -> tuple[bool, dict[str, bool], list[str] | None]:
    """From a request header: (all outputs binary?, per-output binary flags, outputs asked for or None)."""
    params = header.get("parameters") or {}
    default = bool(params.get("binary_data_output", False)) if isinstance(params, dict) else False
    asked = header.get("outputs")
    if asked is None:
        return default, {}, None
    if not isinstance(asked, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in asked):
        raise V2Error(400, "'outputs' must be a list of objects with a string 'name'")
    flags = {}
    for o in asked:
        p = o.get("parameters") or {}
        flags[o["name"]] = bool(p.get("binary_data", default)) if isinstance(p, dict) else default
    return default, flags, [o["name"] for o in asked]


# -- responses ----------------------------------------------------------------------------------


def encode_response(model_name: str, version: str, outputs: Mapping[str, np.ndarray], *, request_id: str = "",
                    binary_default: bool = False, binary: Mapping[str, bool] | None = None) -> tuple[bytes, dict[str, str]]:
    """Body and headers of an infer response (JSON floats round-trip exactly: float32 -> repr -> float32)."""
    binary = binary or {}
    entries, blobs = [], []
    for name, arr in outputs.items():
        arr = np.asarray(arr)
        entry: dict[str, Any] = {"name": name, "shape": list(arr.shape), "datatype": datatype_of(arr.dtype)}
        if binary.get(name, binary_default):
            blob = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = arr.reshape(-1).tolist()
        entries.append(entry)
    obj: dict[str, Any] = {"model_name": model_name, "model_version": version, "outputs": entries}
    if request_id:
        obj["id"] = request_id
    head = json.dumps(obj, separators=(",", ":")).encode()
    if not blobs:
        return head, {"Content-Type": JSON_TYPE}
    return head + b"".join(blobs), {"Content-Type": BINARY_TYPE, HEADER_LENGTH: str(len(head))}


def decode_response(body: bytes, header_length: str | None = None) -> dict[str, np.ndarray]:
    """Output name -> array from an infer response body (JSON or binary outputs)."""
    obj, rest = _split_body(body, header_length)
    if "error" in obj:
        raise V2Error(500, str(obj["error"]))
    out: dict[str, np.ndarray] = {}
    offset = 0
    for entry in obj.get("outputs") or []:
        name, arr, offset = _tensor(entry, rest, offset, "output")
        out[name] = arr
    return out
