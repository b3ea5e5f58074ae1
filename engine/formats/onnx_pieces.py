"""Reading and checking a large ONNX file without holding its bytes twice.

``onnx.load`` reads the whole file and then parses it (the file and the model at once), and
``onnx.checker`` given a path reads and parses it a second time. For a file of hundreds of
MiB that is three to four times its size. :func:`load_in_pieces` parses the file from a map
one graph field (an initializer, a node) at a time and lets the kernel drop the pages it has
parsed; :func:`checker_copy` is what ``onnx.checker`` needs of the model, with the large
weights' bytes left out (their sizes are checked in Python by
:func:`engine.onnx_checks.check_graph_dims`).
"""

from __future__ import annotations

import contextlib
import mmap
from pathlib import Path

import onnx
from onnx import helper

from engine.formats.protowire import LEN, spans

_GRAPH_FIELD = 7  # ModelProto.graph


def load_in_pieces(path: Path) -> onnx.ModelProto:
    """Parse the ONNX file at ``path`` as ``onnx.load(path, load_external_data=False)`` does.

    Raises:
        ValueError: the bytes are not a complete protobuf message.
        google.protobuf.message.DecodeError: a field does not parse.
    """
    model = onnx.ModelProto()
    with open(path, "rb") as fh:
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        view = memoryview(mapped)
        try:
            for field in spans(view):
                if field.number != _GRAPH_FIELD or field.wire_type != LEN:
                    model.MergeFromString(bytes(view[field.start:field.end]))
                    continue
                graph = view[field.payload:field.end]
                for part in spans(graph):
                    model.graph.MergeFromString(bytes(graph[part.start:part.end]))
                    _drop(mapped, field.payload + part.start, field.payload + part.end)
                graph.release()
        finally:
            view.release()
    finally:
        with contextlib.suppress(BufferError):  # a view still held by an exception's frame: GC closes it
            mapped.close()
    return model


def _drop(mapped: mmap.mmap, start: int, end: int) -> None:
    """Let the kernel reclaim the parsed pages now (they are the file's, read-only: no data is lost)."""
    advise = getattr(mapped, "madvise", None)
    dontneed = getattr(mmap, "MADV_DONTNEED", None)
    if advise is None or dontneed is None:
        return
    first = start - start % mmap.PAGESIZE
    if end > first:
        advise(dontneed, first, end - first)


def checker_copy(model: onnx.ModelProto, *, max_bytes: int = 4096) -> onnx.ModelProto:
    """A copy of ``model`` for ``onnx.checker``: initializers with over ``max_bytes`` of raw data
    become graph inputs of the same type and shape, so every node input stays defined."""
    from engine.model import copy_without_weights, tensor_nbytes

    light = copy_without_weights(model)
    inputs = {value.name for value in light.graph.input}
    for tensor in model.graph.initializer:
        if tensor.HasField("raw_data") and tensor.data_location != onnx.TensorProto.EXTERNAL \
                and tensor_nbytes(tensor) > max_bytes:
            if tensor.name not in inputs:
                light.graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
        else:
            light.graph.initializer.append(tensor)
    return light
