"""Parsing a MindIR file into a decoded graph: primitives resolved, constants and parameters read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from engine.errors import FormatError
from engine.formats import protowire
from engine.formats._proto import dstudio_mind_ir_pb2 as pb
from engine.formats.mindir.values import attribute_value, numpy_dtype, tensor_to_array
from engine.model import SourceNode

REF_PREFIX = "REF::"
# Attributes MindSpore keeps on primitives for its own bookkeeping, not semantics.
BOOKKEEPING_ATTRS = frozenset({"input_names", "output_names"})


@dataclass
class MindNode:
    """One CNode with its primitive resolved and attributes decoded."""

    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]
    scope: str
    out_types: list[tuple[list[int], int]] = field(default_factory=list)  # (dims, data_type)
    primitive: str = ""
    instance_name: str = ""


@dataclass
class MindInput:
    name: str
    dims: list[int]
    data_type: int


@dataclass
class MindFunction:
    """A graph MindSpore exported beside the main one (a branch, a loop header, body or exit).

    Its nodes may read the main graph's constants and parameters by name (free variables).
    """

    name: str
    inputs: list[MindInput]
    outputs: list[str]
    nodes: list[MindNode]
    constants: dict[str, Any]


@dataclass
class MindGraph:
    """A decoded MindIR main graph."""

    name: str
    nodes: list[MindNode]
    constants: dict[str, Any]
    parameters: dict[str, np.ndarray]
    inputs: list[MindInput]
    outputs: list[str]
    metadata: dict[str, str]
    raw_parameters: dict[str, tuple[int, int]] = field(default_factory=dict)
    source: Any = None  # the buffer raw_parameters point into (bytes or an mmap)
    functions: dict[str, MindFunction] = field(default_factory=dict)  # control flow: name -> graph

    def short(self, name: str) -> str:
        """A value name without the ``<graph>:`` prefix MindIR puts on graph-level names."""
        prefix = self.name + ":"
        return name[len(prefix):] if name.startswith(prefix) else name


def parse(data: bytes, path: Path) -> pb.ModelProto:
    """Parse bytes as a MindIR ModelProto, with errors that say what is wrong."""
    proto = pb.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise FormatError(f"not a valid MindIR file (protobuf parse failed: {exc}); truncated or corrupt?", path=path) from None
    # A graph may have no nodes when its outputs are its inputs or parameters (MindSpore runs it).
    if not proto.HasField("graph") or not (proto.graph.node or proto.graph.output):
        raise FormatError("MindIR file has no graph (truncated, or another kind of protobuf)", path=path)
    return proto


def parse_lazy(data: bytes | memoryview, path: Path) -> tuple[pb.ModelProto, list[tuple[int, int]]]:
    """Parse everything but the main graph's parameters, returned as (start, end) offsets in ``data``.

    Weights are most of a MindIR file; leaving them unparsed until each is converted keeps
    peak memory near one copy of the weights instead of three (file bytes, protobuf, ONNX).
    """
    view = memoryview(data)
    try:
        try:
            top = protowire.spans(view)
            graph_span = next((s for s in top if s.number == 7 and s.wire_type == protowire.LEN), None)
            if graph_span is None:
                raise FormatError("MindIR file has no graph (truncated, or another kind of protobuf)", path=path)
            graph_fields = protowire.spans(view[graph_span.payload:graph_span.end])
        except ValueError as exc:
            raise FormatError(f"not a valid MindIR file ({exc}); truncated or corrupt?", path=path) from None
        base = graph_span.payload
        params = [(base + s.payload, base + s.end) for s in graph_fields if s.number == 3 and s.wire_type == protowire.LEN]
        graph_rest = b"".join(view[base + s.start:base + s.end] for s in graph_fields if s.number != 3)
        head = b"".join(view[s.start:s.end] for s in top if s is not graph_span)
    finally:
        view.release()  # an mmap cannot close while views of it exist
    light = head + protowire.encode_varint(7 << 3 | protowire.LEN) + protowire.encode_varint(len(graph_rest)) + graph_rest
    return parse(light, path), params


def _parameter_name(source: Any, start: int, end: int) -> str | None:
    """The name (field 7) of a TensorProto lying at source[start:end], read without parsing its data."""
    view = memoryview(source)[start:end]
    try:
        for span in protowire.spans(view):
            if span.number == 7 and span.wire_type == protowire.LEN:
                return bytes(view[span.payload:span.end]).decode("utf-8", "replace")
    except ValueError:
        return None
    finally:
        view.release()
    return None


def parse_parameter(raw: bytes | memoryview, path: Path) -> pb.TensorProto:
    tensor = pb.TensorProto()
    try:
        tensor.ParseFromString(raw)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise FormatError(f"a parameter of the MindIR file is corrupt ({exc})", path=path) from None
    return tensor


def decode(proto: pb.ModelProto, path: Path, raw_parameters: list[tuple[int, int]] | None = None,
           source: bytes | memoryview | None = None) -> MindGraph:
    """Resolve ``REF::`` op types against the primitives table and decode every value.

    With ``raw_parameters`` (from :func:`parse_lazy`), parameters are kept as raw slices in
    :attr:`MindGraph.raw_parameters` and decoded one at a time by the lowering.
    """
    from engine.formats.mindir.sanity import check_model

    check_model(proto, path)  # names, outputs, declared shapes, tuple depth: before any decoding
    graph = proto.graph
    primitives = {p.name: p for p in proto.primitives}
    function_names = {f.name for f in proto.functions}
    nodes, constants = _decode_nodes(graph, primitives, path, function_names)
    functions: dict[str, MindFunction] = {}
    for fn in proto.functions:
        fn_nodes, fn_constants = _decode_nodes(fn, primitives, path, function_names)
        fn_inputs = [MindInput(v.name, [int(d) for d in v.tensor[0].dims] if v.tensor else [],
                               v.tensor[0].data_type if v.tensor else 0) for v in fn.input]
        functions[fn.name] = MindFunction(fn.name, fn_inputs, [o.name for o in fn.output], fn_nodes, fn_constants)
    parameters: dict[str, np.ndarray] = {}
    for tensor in graph.parameter:
        try:
            parameters[tensor.name] = tensor_to_array(tensor, what="parameter")
        except ValueError as exc:
            raise FormatError(str(exc), path=path) from None
    raw: dict[str, tuple[int, int]] = {}
    for start, end in raw_parameters or []:
        name = _parameter_name(source, start, end)
        if name is None:
            raise FormatError("a parameter of the MindIR file has no name (corrupt?)", path=path)
        raw[name] = (start, end)
    inputs = []
    for value in graph.input:
        if not value.tensor:
            raise FormatError(f"graph input {value.name!r} is not a tensor; only tensor inputs are supported", path=path)
        t = value.tensor[0]
        inputs.append(MindInput(value.name, [int(d) for d in t.dims], t.data_type))
    metadata = {
        "producer": f"{proto.producer_name} {proto.model_version}".strip(),
        "mindir_ir_version": proto.ir_version,
        "mind_ir_version": str(proto.mind_ir_version),
        "graph": graph.name,
    }
    from engine.formats import mindir_versions  # what the content needs, which runtimes take the file

    metadata.update(mindir_versions.metadata(proto))
    return MindGraph(
        name=graph.name,
        nodes=nodes,
        constants=constants,
        parameters=parameters,
        raw_parameters=raw,
        source=source,
        inputs=inputs,
        outputs=[o.name for o in graph.output],
        metadata=metadata,
        functions=functions,
    )


def _decode_nodes(graph: pb.GraphProto, primitives: dict[str, pb.PrimitiveProto], path: Path,
                  functions: set[str]) -> tuple[list[MindNode], dict[str, Any]]:
    """A graph's CNodes (decoded) and its constants (name -> value)."""
    constants: dict[str, Any] = {}
    nodes: list[MindNode] = []
    values = {i.name for i in graph.input} | {n.output[0] for n in graph.node if n.output}
    for node in graph.node:
        if node.op_type == "Constant":
            value_attr = next((a for a in node.attribute if a.name == "value"), None)
            if value_attr is None:
                raise FormatError(f"constant {node.name!r} has no value", path=path, node=node.name)
            try:
                constants[node.output[0]] = attribute_value(value_attr)
            except ValueError as exc:
                raise FormatError(f"constant {node.name!r}: {exc}", path=path, node=node.name) from None
            continue
        try:
            nodes.append(_decode_node(node, primitives, path, functions, values))
        except ValueError as exc:  # an attribute value the file states wrongly (dtype, shape, data)
            raise FormatError(f"node {node.name!r}: {exc}", path=path, node=node.name) from None
    return nodes, constants


def _decode_node(node: pb.NodeProto, primitives: dict[str, pb.PrimitiveProto], path: Path,
                 functions: set[str] = frozenset(), values: set[str] = frozenset()) -> MindNode:
    op_type = node.op_type
    attrs: dict[str, Any] = {}
    prim_name = ""
    instance = ""
    inputs = list(node.input)
    if op_type.startswith(REF_PREFIX):
        prim_name = op_type[len(REF_PREFIX):]
        prim = primitives.get(prim_name)
        if prim is None and (prim_name in functions or prim_name in values):
            # Control flow: a call of another exported graph, or of a value that holds one
            # (the result of Switch or Partial). The callee becomes input 0 of a "Call".
            out_types = [([int(d) for d in t.dims], t.data_type) for a in node.attribute if a.name == "shape"
                         for t in a.tensors]
            scope = "" if node.domain.isdigit() else node.domain  # calls of a value carry a bare number
            return MindNode(name=node.name, op_type="Call", inputs=[prim_name, *inputs], outputs=list(node.output),
                            attrs={"callee": prim_name}, scope=scope, out_types=out_types)
        if prim is None:
            raise FormatError(f"node refers to primitive {prim_name!r}, which the primitives table lacks", path=path, node=node.name)
        op_type = prim.op_type
        instance = prim.instance_name
        for attr in prim.attribute:
            if attr.name not in BOOKKEEPING_ATTRS:
                attrs[attr.name] = attribute_value(attr)
    out_types: list[tuple[list[int], int]] = []
    for attr in node.attribute:
        if attr.name == "shape":
            out_types = [([int(d) for d in t.dims], t.data_type) for t in attr.tensors]
        else:
            attrs.setdefault(attr.name, attribute_value(attr))
    return MindNode(
        name=node.name,
        op_type=op_type,
        inputs=inputs,
        outputs=list(node.output),
        attrs=attrs,
        scope=node.domain,
        out_types=out_types,
        primitive=prim_name,
        instance_name=instance,
    )


def source_nodes(graph: MindGraph) -> list[SourceNode]:
    """The graph as the file has it, for display: constants as nodes, plumbing included."""
    result: list[SourceNode] = []
    for name, value in graph.constants.items():
        result.append(SourceNode(name=graph.short(name), op_type="Constant", inputs=[], outputs=[graph.short(name)],
                                 attributes={"value": _display_value(value)}))
    for node in graph.nodes:
        attrs = {k: _display_value(v) for k, v in node.attrs.items()}
        if node.out_types:
            attrs["output_shape"] = [list(d) for d, _ in node.out_types]
        inputs = node.inputs
        if node.op_type in ("Call", "Partial") and inputs and inputs[0] in graph.functions:
            # The graph called or bound is not a tensor: show it as an attribute, not an input box.
            attrs["graph"] = inputs[0]
            attrs.pop("callee", None)
            inputs = inputs[1:]
        result.append(
            SourceNode(
                name=graph.short(node.name),
                op_type=node.op_type,
                inputs=[graph.short(i) for i in inputs],
                outputs=[graph.short(o) for o in node.outputs],
                attributes=attrs,
                scope=node.scope,
            )
        )
    return result


def _display_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value if value.size <= 16 else f"tensor {value.dtype}{list(value.shape)}"
    return value


def input_dtype(value: MindInput) -> np.dtype:
    return numpy_dtype(value.data_type)
