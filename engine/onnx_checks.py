"""Sanity checks on an ONNX graph's declared types, dims and tensor sizes, before C++ code or allocation sees them.

ONNX's C++ shape inference aborts the whole process (an assertion in ``std::clamp``) on a
negative dim, and code that trusts declared sizes allocates what a corrupt file claims.
:func:`check_graph_dims` walks the main graph and every subgraph without recursion and
raises a :class:`FormatError` naming the value, the axis and the problem. Call it before
``onnx.shape_inference``, ``onnx.checker`` with ``full_check`` or any allocation sized by
a declared shape.
"""

from __future__ import annotations

from math import prod
from pathlib import Path

import onnx

from engine.errors import FormatError

#: Largest element count a declared shape may state (2^40: 4 TiB of float32).
MAX_ELEMENTS = 1 << 40
#: numpy's limit on the number of dimensions.
MAX_RANK = 64

_KNOWN_TYPES = frozenset(onnx.TensorProto.DataType.values())


def check_graph_dims(model: onnx.ModelProto | onnx.GraphProto, path: str | Path | None = None, *,
                     data: bool = True) -> None:
    """Refuse negative or absurd dims, unknown element types and tensors whose data does not fit their dims.

    Args:
        data: compare each tensor's data with its dims; False for a weight-less copy, whose
            stubs (dims without data) are then let through.

    Raises:
        FormatError: naming the value or tensor, the axis and what was found.
    """
    root = model.graph if isinstance(model, onnx.ModelProto) else model
    graphs = [root]
    while graphs:
        graph = graphs.pop()
        for kind, values in (("input", graph.input), ("output", graph.output), ("value_info", graph.value_info)):
            for value in values:
                _check_type(value.type, f"{kind} {value.name!r}", path)
        for tensor in graph.initializer:
            check_tensor(tensor, f"initializer {tensor.name!r}", path, data=data)
        for sparse in graph.sparse_initializer:
            check_tensor(sparse.values, f"sparse initializer {sparse.values.name!r}", path, data=data)
        for node in graph.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    check_tensor(attr.t, f"attribute {attr.name!r} of node {node.name or node.op_type!r}", path)
                for t in attr.tensors:
                    check_tensor(t, f"attribute {attr.name!r} of node {node.name or node.op_type!r}", path)
                if attr.HasField("g"):
                    graphs.append(attr.g)
                graphs.extend(attr.graphs)


def check_dims(dims, what: str, path: str | Path | None = None, *, allow_unknown: bool = False) -> int:
    """Check one list of dims (ints); return the element count.

    Args:
        allow_unknown: let -1 stand for an unknown dim (MindSpore's dynamic shapes); it
            then counts as 1.
    """
    dims = [int(d) for d in dims]
    if len(dims) > MAX_RANK:
        raise FormatError(f"{what} has {len(dims)} dimensions; at most {MAX_RANK} are supported", path=path)
    for axis, dim in enumerate(dims):
        if dim < 0 and not (allow_unknown and dim == -1):
            raise FormatError(f"{what} has dimension {dim} at axis {axis}; dimensions must be >= 0", path=path)
    count = prod(max(d, 1) if allow_unknown else d for d in dims)
    if count > MAX_ELEMENTS:
        raise FormatError(f"{what} declares shape {_short(dims)}: {count:.3g} elements, more than any model holds "
                          f"(limit 2^40); the file is corrupt", path=path)
    return count


def _check_type(tp: onnx.TypeProto, what: str, path) -> None:
    stack = [tp]
    while stack:
        t = stack.pop()
        which = t.WhichOneof("value")
        if which in ("tensor_type", "sparse_tensor_type"):
            tt = getattr(t, which)
            if tt.elem_type not in _KNOWN_TYPES:
                raise FormatError(f"{what} has element type {tt.elem_type}, which is not an ONNX data type", path=path)
            if tt.HasField("shape"):
                dims = [d.dim_value for d in tt.shape.dim if d.HasField("dim_value")]
                if len(tt.shape.dim) > MAX_RANK:
                    raise FormatError(f"{what} has {len(tt.shape.dim)} dimensions; at most {MAX_RANK} are supported",
                                      path=path)
                check_dims(dims, what, path)
        elif which == "sequence_type":
            stack.append(t.sequence_type.elem_type)
        elif which == "optional_type":
            stack.append(t.optional_type.elem_type)
        elif which == "map_type":
            stack.append(t.map_type.value_type)


def check_tensor(tensor: onnx.TensorProto, what: str, path: str | Path | None = None, *, data: bool = True) -> None:
    """A tensor's dims are sane and its data (inline or external) holds exactly what they declare."""
    if tensor.data_type not in _KNOWN_TYPES or tensor.data_type == onnx.TensorProto.UNDEFINED:
        raise FormatError(f"{what} has data type {tensor.data_type}, which is not an ONNX data type", path=path)
    count = check_dims(tensor.dims, what, path)
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return  # checked against the data file by the ONNX reader (offset, length, file size)
    fields = ("float_data", "int32_data", "int64_data", "double_data", "uint64_data")
    if not data and not tensor.HasField("raw_data") and not tensor.string_data and \
            not any(len(getattr(tensor, f)) for f in fields):
        return  # a weight-less copy's stub: only its dims are there to check
    if tensor.data_type == onnx.TensorProto.STRING:
        have = len(tensor.string_data)
        if have != count:
            raise FormatError(f"{what} holds {have} strings but its dims {_short(list(tensor.dims))} need {count}",
                              path=path)
        return
    if tensor.HasField("raw_data"):
        bits = _bits(tensor.data_type)
        need = (count * bits + 7) // 8
        if len(tensor.raw_data) != need:
            raise FormatError(f"{what} holds {len(tensor.raw_data)} data bytes but its dims {_short(list(tensor.dims))} "
                              f"need {need}", path=path)
        return
    have = sum(len(getattr(tensor, f)) for f in fields)
    if have == 0 and count == 0:
        return
    if tensor.data_type in (onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128):
        have //= 2
    packed = _bits(tensor.data_type) < 8
    if packed:  # 4-bit types pack two values per int32_data entry
        have *= 8 // _bits(tensor.data_type)
    if have != count and not (packed and 0 <= have - count < 8 // _bits(tensor.data_type)):
        raise FormatError(f"{what} holds {have} values but its dims {_short(list(tensor.dims))} need {count}",
                          path=path)


def data_nbytes(tensor: onnx.TensorProto) -> int:
    """Bytes a tensor's raw data must hold for its dims and type (4-bit types packed two a byte)."""
    count = prod(int(d) for d in tensor.dims)
    return (count * _bits(tensor.data_type) + 7) // 8


def _bits(data_type: int) -> int:
    name = onnx.TensorProto.DataType.Name(data_type)
    if name in ("INT4", "UINT4", "FLOAT4E2M1"):
        return 4
    if name in ("INT2", "UINT2"):
        return 2
    try:
        return 8 * onnx.helper.tensor_dtype_to_np_dtype(data_type).itemsize
    except (KeyError, TypeError, ValueError):
        return 8


def _short(dims: list[int]) -> str:
    return str(dims) if len(dims) <= 8 else f"[{', '.join(map(str, dims[:8]))}, ... ({len(dims)} dims)]"


def check_consistent(model: onnx.ModelProto, path: str | Path | None = None) -> None:
    """Refuse a graph that ``onnx.checker`` with ``full_check`` would reject, without copying its weights.

    Dims are checked first (C++ inference aborts on negative ones), then every node of the
    default domain must exist in the opset the model declares (a converter that emits an op
    newer than its opset writes a file nobody can load), then strict shape inference runs on
    a weight-less copy (initializers as dims and type only).

    Raises:
        FormatError: naming the node or value and the problem.
    """
    from engine.model import copy_without_weights

    light = copy_without_weights(model, keep_elements=64)
    check_graph_dims(light, path, data=False)
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    graphs = [light.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            domain = node.domain or "ai.onnx"
            if domain == "ai.onnx":
                version = opsets.get("ai.onnx")
                if version is None:
                    raise FormatError("the graph uses ONNX ops but declares no ONNX opset", path=path)
                try:
                    onnx.defs.get_schema(node.op_type, version, "")
                except onnx.defs.SchemaError:
                    raise FormatError(f"node {node.name or node.op_type!r}: ONNX op {node.op_type!r} does not exist in "
                                      f"opset {version}, which the graph declares", path=path,
                                      node=node.name or None) from None
            for attr in node.attribute:
                if attr.HasField("g"):
                    graphs.append(attr.g)
                graphs.extend(attr.graphs)
    try:
        inferred = onnx.shape_inference.infer_shapes(light, check_type=True, strict_mode=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as exc:
        text = " ".join(str(exc).split())
        raise FormatError(f"the graph fails ONNX shape inference: {text[:300]}", path=path) from None
    # Inference does not refuse a Conv whose window is larger than its input: it infers a
    # negative dim, which other tools then abort on. Check what it inferred as well.
    check_graph_dims(inferred, path, data=False)


def check_text(model: onnx.ModelProto, path: str | Path | None = None) -> None:
    """Refuse string fields that are not UTF-8 (protobuf hands them back as bytes, and copying
    the model or printing its names later fails far from the cause)."""
    def need(value: object, what: str) -> None:
        if not isinstance(value, str):
            raise FormatError(f"{what} is not UTF-8 text ({bytes(value)[:40]!r})", path=path)

    for field_name in ("producer_name", "producer_version", "domain", "doc_string"):
        need(getattr(model, field_name), f"the model's {field_name}")
    for prop in model.metadata_props:
        need(prop.key, "a metadata key")
        need(prop.value, f"metadata {prop.key!r}")
    for opset in model.opset_import:
        need(opset.domain, "an opset domain")
    graphs: list = [model.graph]
    for function in model.functions:
        need(function.name, "a function name")
        for name in list(function.input) + list(function.output):
            need(name, f"an input or output of function {function.name!r}")
        graphs.append(function)  # walked for its nodes below
    while graphs:
        graph = graphs.pop()
        if isinstance(graph, onnx.GraphProto):
            need(graph.name, "a graph name")
            need(graph.doc_string, f"graph {graph.name!r}'s doc_string")
            for values in (graph.input, graph.output, graph.value_info):
                for value in values:
                    need(value.name, f"a value name in graph {graph.name!r}")
        for tensor in graph.initializer if isinstance(graph, onnx.GraphProto) else ():
            need(tensor.name, "an initializer name")
            for entry in tensor.external_data:
                need(entry.key, f"initializer {tensor.name!r}'s external data key")
                need(entry.value, f"initializer {tensor.name!r}'s external data {entry.key!r}")
        for node in graph.node:
            need(node.name, "a node name")
            label = node.name or node.op_type
            for field_name in ("op_type", "domain", "doc_string"):
                need(getattr(node, field_name), f"node {label!r}'s {field_name}")
            for name in list(node.input) + list(node.output):
                need(name, f"an input or output of node {label!r}")
            for attr in node.attribute:
                need(attr.name, f"an attribute name of node {label!r}")
                need(attr.ref_attr_name, f"attribute {attr.name!r} of node {label!r}")
                if attr.HasField("g"):
                    graphs.append(attr.g)
                graphs.extend(attr.graphs)
