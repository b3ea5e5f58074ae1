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


#: Reductions whose axes are an attribute up to opset 17 and an optional input from opset 18
#: (ReduceSum's moved at 13; the lowering writes it in that form already).
_AXES_TO_INPUT_AT_18 = frozenset({"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                                  "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"})


#: GridSample's modes as opset 20 spells them (16 to 19: bilinear, bicubic).
_GRID_MODES_AT_20 = {b"bilinear": b"linear", b"bicubic": b"cubic"}


def raise_opset(model: onnx.ModelProto, version: int) -> int:
    """Rewrite the opset-17 forms the lowering emitted into ``version`` (18 to 20) forms, in every graph.

    Among the operators the lowering writes, two change form on the way: from 18 the
    reductions above take their axes as an input (an ``axes`` attribute becomes an int64
    Constant node just before the reduction, so it is visible inside If/Loop bodies too; an
    absent ``axes`` attribute stays absent: every axis, in both forms), and from 20
    GridSample's modes are called linear and cubic. The other changes up to 20 only add
    optional inputs, attributes or types. Returns how many nodes were rewritten.

    Raises:
        ValueError: ``version`` is outside 18..20 (no other target is implemented).
    """
    if not 18 <= version <= 20:
        raise ValueError(f"raising a lowered model to opset {version} is not implemented (18 to 20 only)")
    used = _all_names(model.graph)
    counter = [0]

    def fresh(base: str) -> str:
        while True:
            counter[0] += 1
            name = f"{base}_axes18_{counter[0]}"
            if name not in used:
                used.add(name)
                return name

    def rewrite(graph: onnx.GraphProto) -> int:
        count = nested = renamed = 0
        out: list[onnx.NodeProto] = []
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    nested += rewrite(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    nested += sum(rewrite(g) for g in attr.graphs)
            standard = node.domain in ("", "ai.onnx")
            axes = next((a for a in node.attribute if a.name == "axes"), None)
            if standard and node.op_type in _AXES_TO_INPUT_AT_18 and axes is not None:
                name = fresh(node.name or node.op_type)
                values = np.array(list(axes.ints), np.int64)
                out.append(onnx.helper.make_node("Constant", [], [name], name=name,
                                                 value=onnx.numpy_helper.from_array(values, name)))
                node.attribute.remove(axes)
                del node.input[1:]
                node.input.append(name)
                count += 1
            mode = next((a for a in node.attribute if a.name == "mode"), None)
            if standard and version >= 20 and node.op_type == "GridSample" and mode is not None \
                    and mode.s in _GRID_MODES_AT_20:
                mode.s = _GRID_MODES_AT_20[mode.s]
                renamed += 1
            out.append(node)
        if count:  # copies first: clearing a repeated field may release the messages it held
            out = [_copy(n) for n in out]
            del graph.node[:]
            graph.node.extend(out)
        return count + renamed + nested

    return rewrite(model.graph)


def _copy(node: onnx.NodeProto) -> onnx.NodeProto:
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    return copy


def _all_names(graph: onnx.GraphProto) -> set[str]:
    names: set[str] = set()
    for value in list(graph.input) + list(graph.output) + list(graph.initializer):
        names.add(value.name)
    for node in graph.node:
        names.add(node.name)
        names.update(node.input)
        names.update(node.output)
        for attr in node.attribute:
            for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
                names |= _all_names(sub)
    return names


def _spec(name: str, dims: list[int] | None, dtype: np.dtype | None):
    from engine.inputs import TensorSpec

    shape = tuple(d if d >= 0 else None for d in dims) if dims is not None else ()
    return TensorSpec(name, np.dtype(dtype) if dtype is not None else np.dtype(np.float32), shape)


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "main"
