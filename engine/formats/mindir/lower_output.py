"""Finishing a lowered graph: output shapes, signatures, names, and releasing converted weights."""

from __future__ import annotations

import re

import numpy as np
import onnx


def _drop_pages(source: object, start: int, end: int) -> None:
    """Let the kernel drop an mmap'ed weight's pages once converted, so they leave our RSS."""
    import mmap

    if not isinstance(source, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED"):
        return
    page = mmap.PAGESIZE
    first = -(-start // page) * page  # only whole pages inside this weight
    last = end // page * page
    if last > first:
        source.madvise(mmap.MADV_DONTNEED, first, last - first)


def _fill_output_shapes(model: onnx.ModelProto) -> None:
    """Give graph outputs the shapes ONNX shape inference derives where the file stated none."""
    def unknown(value: onnx.ValueInfoProto) -> bool:
        ttype = value.type.tensor_type
        if not ttype.HasField("shape"):
            return True
        # A dynamic dim (-1 in the file): inference may name it after the input's ("batch").
        return any(not d.HasField("dim_value") and not d.dim_param for d in ttype.shape.dim)

    missing = [o for o in model.graph.output if unknown(o)]
    if not missing:
        return
    from engine.model import copy_without_weights

    try:
        inferred = onnx.shape_inference.infer_shapes(copy_without_weights(model, keep_elements=64))
    except Exception:  # shape inference is a nicety here; the checker reports real problems
        return
    found = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for out in missing:
        value = found.get(out.name)
        had_shape = out.type.tensor_type.HasField("shape")
        if value is not None and value.type.tensor_type.HasField("shape") and (
                not had_shape or len(value.type.tensor_type.shape.dim) == len(out.type.tensor_type.shape.dim)):
            out.type.CopyFrom(value.type)
            for dim in out.type.tensor_type.shape.dim:
                if dim.dim_param.startswith("unk__"):  # inference's own placeholder: say "unknown" plainly
                    dim.ClearField("dim_param")
        elif not had_shape:
            out.type.tensor_type.shape.SetInParent()


def _spec(name: str, dims: list[int] | None, dtype: np.dtype | None):
    from engine.inputs import TensorSpec

    shape = tuple(d if d >= 0 else None for d in dims) if dims is not None else ()
    return TensorSpec(name, np.dtype(dtype) if dtype is not None else np.dtype(np.float32), shape)


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "main"
