"""Turn a Model into a DisplayGraph: the file's own graph (source) or the canonical ONNX one.

Like Netron, weights are not boxes: ONNX initializers and MindIR parameters (read through
``Load``) become weight annotations on the node that consumes them, constants fold into
their consumer, and MindSpore's side-effect plumbing (UpdateState, Depend, MakeTuple,
TupleGetItem) is resolved away so only compute ops remain.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from engine.graphview.categories import IO, category_of
from engine.graphview.graph import INPUT, OP, OUTPUT, DisplayEdge, DisplayGraph, DisplayNode, WeightInfo
from engine.model import approx_size

if TYPE_CHECKING:
    from engine.model import Model, SourceNode

log = logging.getLogger(__name__)

MAX_LIST = 16  # longer sequences are summarised
# Shape inference copies the model into C++; past this size the labels are not worth it.
SHAPE_INFERENCE_LIMIT = 512 * 1024 * 1024

PLUMBING = frozenset({"UpdateState", "Depend", "MakeTuple", "TupleGetItem", "Load", "Return",
                      "MakeList", "ListGetItem", "StopGradient"})


def build_display_graph(model: Model, mode: str = "auto") -> DisplayGraph:
    """The graph of ``model`` as boxes and arrows, not yet laid out.

    Args:
        model: an opened model.
        mode: "source" (``model.source_nodes``), "canonical" (``model.onnx``), or "auto":
            source when the model has source nodes, else canonical.

    Raises:
        ValueError: ``mode`` is unknown, or the model lacks the graph the mode asks for.
    """
    if mode == "auto":
        mode = "source" if model.source_nodes else "canonical"
    if mode == "source":
        if not model.source_nodes:
            raise ValueError("this model has no source graph to show; use the canonical view")
        return _from_source(model.source_nodes, model)
    if mode == "canonical":
        if model.onnx is None and model.unlowered:
            raise ValueError(f"there is no ONNX graph: {model.unlowered_message()}")
        if model.onnx is None:
            raise ValueError("this model holds only parameters; there is no graph to show")
        return _from_onnx(model.onnx)
    raise ValueError(f"unknown graph mode {mode!r}; expected 'auto', 'source' or 'canonical'")


# --- values -----------------------------------------------------------------------------


def summarise(value: Any) -> Any:
    """A plain, short rendering of an attribute value: long arrays and lists become text."""
    if isinstance(value, np.ndarray):
        if value.size <= MAX_LIST:
            return value.tolist()
        return f"{value.dtype}[{'x'.join(str(d) for d in value.shape)}]"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(value)} bytes>"
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_LIST:
            head = ", ".join(str(summarise(v)) for v in value[:8])
            return f"[{head}, ... ({len(value)} items)]"
        return [summarise(v) for v in value]
    if isinstance(value, dict):
        return {str(k): summarise(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def shape_text(dims: Iterable[int | str] | None) -> str:
    """Dimensions joined by "x"; "scalar" for rank 0; "" when unknown."""
    if dims is None:
        return ""
    dims = list(dims)
    return "x".join(str(d) for d in dims) if dims else "scalar"


def short_name(name: str, scope: str = "") -> str:
    """A compact node name for the box's second line.

    A MindSpore scope ("Default/features-SequentialCell/0-ConvBNReLU/conv-Conv2d/Conv2D-op0",
    also found in exported ONNX node names) becomes its module path ("features.0.conv");
    otherwise the name's tail is used ("<graph>:CNode_24:1" -> "CNode_24").
    """
    path = scope or (name if "/" in name else "")
    if path:
        parts = [p for p in path.split("/") if p]
        if parts and (parts[0] == "Default" or parts[0].endswith("-Default")):
            parts = parts[1:]
        modules = [p.split("-", 1)[0] for p in parts[:-1]]
        if modules:
            text = ".".join(modules)
            return text if len(text) <= 24 else "..." + text[-21:]
    tail = name.rsplit("/", 1)[-1]
    if ":" in tail:
        bits = tail.split(":")
        tail = bits[1] if len(bits) >= 2 and bits[1] else bits[-1]
    return tail if len(tail) <= 24 else tail[:21] + "..."


def scope_path(name: str, scope: str = "") -> str:
    """The readable name of a node with a MindSpore scope, without truncation; "" without one.

    "Default/layer1-SequentialCell/0-BasicBlock/conv1-Conv2d/Conv2D-op0" -> "layer1.0.conv1";
    an op directly under the root cell ("Default/Flatten-op0") -> "Flatten-op0". Names that
    are not MindSpore scopes (no "Cell-Type" parts) give "".
    """
    path = scope or (name if "/" in name else "")
    parts = [p for p in path.split("/") if p]
    if parts and (parts[0] == "Default" or parts[0].endswith("-Default")):
        parts = parts[1:]
    if not parts or not any("-" in p for p in parts):
        return ""
    modules = [p.split("-", 1)[0] for p in parts[:-1]]
    return ".".join(modules) if modules else parts[-1]


def assign_display_names(nodes: Iterable[DisplayNode]) -> None:
    """Make op nodes' ``display_name`` unique within the graph (``name`` where it is empty).

    A module path several nodes share is told apart by op type where that differs
    ("conv1" for the Conv2D, "conv1/BiasAdd"), else numbered from the second use on (a ReLU
    cell applied twice: "layer1.0.relu", "layer1.0.relu (2)").
    """
    seen: Counter[str] = Counter()
    taken: set[str] = set()
    first_op: dict[str, str] = {}
    for node in nodes:
        if node.kind != OP:
            continue
        base = node.display_name or node.name or node.id
        if node.display_name and first_op.setdefault(base, node.op_type) != node.op_type:
            base = f"{base}/{node.op_type}"
        seen[base] += 1
        text = base if seen[base] == 1 else f"{base} ({seen[base]})"
        while text in taken:
            seen[base] += 1
            text = f"{base} ({seen[base]})"
        taken.add(text)
        node.display_name = text


@lru_cache(maxsize=512)
def _schema_inputs(op_type: str, domain: str) -> tuple[tuple[str, ...], bool]:
    """The formal input names of an ONNX operator, and whether the last one is variadic."""
    try:
        schema = onnx.defs.get_schema(op_type, domain=domain)
    except Exception:  # an unknown or custom op: roles fall back to the weight's name
        return (), False
    variadic = bool(schema.inputs) and schema.inputs[-1].option == onnx.defs.OpSchema.FormalParameterOption.Variadic
    return tuple(i.name for i in schema.inputs), variadic


def onnx_input_role(node: onnx.NodeProto, position: int) -> str:
    """The schema's name for input ``position`` of ``node`` ("W" and "B" for a Conv), or ""."""
    names, variadic = _schema_inputs(node.op_type, node.domain or "")
    if position < len(names):
        return names[position]
    return names[-1] if names and variadic else ""


# --- canonical (ONNX) -------------------------------------------------------------------


def _tensor_types(model: onnx.ModelProto) -> dict[str, tuple[str, str]]:
    """Tensor name -> (shape text, dtype) from value_info, graph io and shape inference."""
    infos: dict[str, tuple[str, str]] = {}
    graph = model.graph
    inferred = graph
    if approx_size(model) < SHAPE_INFERENCE_LIMIT:
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False).graph
        except Exception as exc:  # labels are a nicety; a model ORT runs may still fail here
            log.info("shape inference failed, edges go unlabelled: %s", exc)
    # Declared types first; inferred ones fill in what the file leaves out.
    for vi in (*graph.input, *graph.output, *graph.value_info, *inferred.value_info, *inferred.output):
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            continue
        dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type).name if tt.elem_type else ""
        shape = ""
        if tt.HasField("shape"):
            shape = shape_text(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                               for d in tt.shape.dim)
        if vi.name not in infos or (shape and not infos[vi.name][0]):
            infos[vi.name] = (shape, dtype or infos.get(vi.name, ("", ""))[1])
    return infos


def _onnx_attributes(node: onnx.NodeProto) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            attrs[attr.name] = f"<subgraph: {len(attr.g.node)} nodes>"
            continue
        if attr.type == onnx.AttributeProto.GRAPHS:
            attrs[attr.name] = f"<{len(attr.graphs)} subgraphs>"
            continue
        if attr.type == onnx.AttributeProto.TENSOR:
            attrs[attr.name] = _tensor_summary(attr.t)
            continue
        try:
            attrs[attr.name] = summarise(helper.get_attribute_value(attr))
        except Exception:  # an attribute type the helper does not know
            attrs[attr.name] = f"<{onnx.AttributeProto.AttributeType.Name(attr.type)}>"
    return attrs


def _tensor_summary(tensor: onnx.TensorProto) -> Any:
    size = int(np.prod(tensor.dims)) if tensor.dims else 1
    if size <= MAX_LIST and tensor.data_location != onnx.TensorProto.EXTERNAL:
        try:
            return summarise(numpy_helper.to_array(tensor))
        except Exception:
            pass
    dtype = helper.tensor_dtype_to_np_dtype(tensor.data_type).name if tensor.data_type else "?"
    return f"{dtype}[{shape_text(tensor.dims)}]"


def _weight_from_tensor(tensor: onnx.TensorProto, name: str | None = None) -> WeightInfo:
    dtype = helper.tensor_dtype_to_np_dtype(tensor.data_type).name if tensor.data_type else ""
    summary = _tensor_summary(tensor)
    value = "" if isinstance(summary, str) else str(summary)
    return WeightInfo(name or tensor.name, tuple(int(d) for d in tensor.dims), dtype, value)


def _with_role(weight: WeightInfo, role: str) -> WeightInfo:
    if not role or weight.role == role:
        return weight
    return WeightInfo(weight.name, weight.shape, weight.dtype, weight.value, role)


def _unique_id(wanted: str, fallback: str, used: set[str]) -> str:
    base = wanted or fallback
    node_id, k = base, 1
    while node_id in used:
        k += 1
        node_id = f"{base}#{k}"
    used.add(node_id)
    return node_id


def _from_onnx(model: onnx.ModelProto) -> DisplayGraph:
    graph = model.graph
    types = _tensor_types(model)
    weights: dict[str, WeightInfo] = {t.name: _weight_from_tensor(t) for t in graph.initializer}
    outputs = {o.name for o in graph.output}
    consumed = {name for node in graph.node for name in node.input}
    # Constant nodes fold into their consumers like initializers, unless nothing else could show them.
    for node in graph.node:
        if node.op_type == "Constant" and not node.input and len(node.output) == 1:
            out = node.output[0]
            if out in consumed and out not in outputs and node.attribute:
                attr = node.attribute[0]
                value = helper.get_attribute_value(attr)
                if attr.type == onnx.AttributeProto.TENSOR:
                    weights[out] = _weight_from_tensor(value, out)
                else:
                    arr = np.asarray(value)
                    weights[out] = WeightInfo(out, tuple(arr.shape), arr.dtype.name, str(summarise(value)))
    folded = {name for name in weights if name not in {t.name for t in graph.initializer}}

    result = DisplayGraph(mode="canonical", name=graph.name)
    used: set[str] = set()
    producer: dict[str, str] = {}
    for vi in graph.input:
        if vi.name in weights:
            continue  # old-style models list initializers as inputs too
        node_id = _unique_id(f"input:{vi.name}", "input", used)
        result.nodes.append(DisplayNode(
            id=node_id, label="Input", name=vi.name, op_type="Input", category=IO,
            outputs=[vi.name], kind=INPUT, short_name=vi.name[:32],
            attributes={"shape": types.get(vi.name, ("", ""))[0], "dtype": types.get(vi.name, ("", ""))[1]},
        ))
        producer[vi.name] = node_id
    for i, node in enumerate(graph.node):
        if node.op_type == "Constant" and node.output and node.output[0] in folded:
            continue
        node_id = _unique_id(node.name, f"{node.op_type}_{i}", used)
        op = node.op_type if not node.domain or node.domain == "ai.onnx" else f"{node.domain}.{node.op_type}"
        node_weights = [_with_role(weights[n], onnx_input_role(node, pos))
                        for pos, n in enumerate(node.input) if n in weights]
        result.nodes.append(DisplayNode(
            id=node_id, label=node.op_type, name=node.name or node_id, op_type=op,
            category=category_of(node.op_type), attributes=_onnx_attributes(node),
            inputs=list(node.input), outputs=list(node.output), weights=node_weights,
            kind=OP, short_name=short_name(node.name) if node.name else "",
            display_name=scope_path(node.name) if node.name else "",
        ))
        for out in node.output:
            if out:
                producer[out] = node_id
    for node in result.nodes:
        if node.kind != OP:
            continue
        _add_edges(result, node, [n for n in node.inputs if n and n not in weights], producer, types)
    for vi in graph.output:
        node_id = _unique_id(f"output:{vi.name}", "output", used)
        out_node = DisplayNode(
            id=node_id, label="Output", name=vi.name, op_type="Output", category=IO,
            inputs=[vi.name], kind=OUTPUT, short_name=vi.name[:32],
            attributes={"shape": types.get(vi.name, ("", ""))[0], "dtype": types.get(vi.name, ("", ""))[1]},
        )
        result.nodes.append(out_node)
        _add_edges(result, out_node, [vi.name], producer, types)
    assign_display_names(result.nodes)
    _label_inputs(result, producer, weights, types)
    log.debug("canonical display graph: %d nodes, %d edges", len(result.nodes), len(result.edges))
    return result


def _label_inputs(graph: DisplayGraph, producer: dict[str, str], weights: dict[str, WeightInfo],
                  types: dict[str, tuple[str, str]]) -> None:
    """Readable inputs for op nodes: a weight by name, a graph input as such, a produced tensor
    by its producer's display name and shape ("bn1 [1x32x112x112]" for "CNode_42:9")."""
    titles = {n.id: n.title if n.kind == OP else f"input {n.name}" for n in graph.nodes}
    for node in graph.nodes:
        if node.kind != OP:
            continue
        labels = []
        for name in node.inputs:
            if not name:
                labels.append("(optional, not given)")
            elif name in weights:
                labels.append(name)
            elif name in producer:
                shape = types.get(name, ("", ""))[0]
                labels.append(titles.get(producer[name], name) + (f" [{shape}]" if shape else ""))
            else:
                labels.append(name)
        node.input_labels = labels


def _add_edges(graph: DisplayGraph, node: DisplayNode, tensors: list[str], producer: dict[str, str],
               types: dict[str, tuple[str, str]]) -> None:
    seen: set[tuple[str, str]] = set()
    for tensor in tensors:
        src = producer.get(tensor)
        if src is None or (src, tensor) in seen:
            continue
        seen.add((src, tensor))
        shape, dtype = types.get(tensor, ("", ""))
        graph.edges.append(DisplayEdge(src, node.id, tensor, shape, dtype=dtype))


# --- source (MindIR as the file has it) --------------------------------------------------


def _from_source(nodes: list[SourceNode], model: Model) -> DisplayGraph:
    from engine.graphview.source import SourceResolver

    return SourceResolver(nodes, model).build()
