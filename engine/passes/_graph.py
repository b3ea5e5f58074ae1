"""Small graph helpers shared by the passes: lookups, constants, unique names, copies."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

import numpy as np
import onnx
from onnx import helper, numpy_helper


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A deep copy, so a pass never edits its caller's proto."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def opset_version(model: onnx.ModelProto, domain: str = "") -> int:
    """The imported opset version of ``domain`` ("" and "ai.onnx" are the same), 0 if absent."""
    for imp in model.opset_import:
        if (imp.domain or "") in ({"", "ai.onnx"} if domain in ("", "ai.onnx") else {domain}):
            return int(imp.version)
    return 0


def ensure_opset(model: onnx.ModelProto, domain: str, version: int) -> None:
    """Import ``domain`` at ``version`` if the model does not import it yet."""
    if not any((imp.domain or "") == domain for imp in model.opset_import):
        model.opset_import.append(helper.make_opsetid(domain, version))


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    """Node count by op type (domain-qualified for non-default domains), main graph only."""
    counts: dict[str, int] = defaultdict(int)
    for node in model.graph.node:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        counts[key] += 1
    return dict(sorted(counts.items()))


def initializer_map(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in graph.initializer}


def consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """Tensor name -> the nodes of ``graph`` that read it (main graph only)."""
    out: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            if name:
                out[name].append(node)
    return out


def producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    """Tensor name -> the node that writes it."""
    return {name: node for node in graph.node for name in node.output if name}


def subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def names_read_by_subgraphs(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name a nested subgraph (If/Loop/Scan body) reads, at any depth."""
    names: set[str] = set()
    for node in graph.node:
        for sub in subgraphs(node):
            for inner in sub.node:
                names.update(n for n in inner.input if n)
            names |= names_read_by_subgraphs(sub)
            names.update(o.name for o in sub.output)
    return names


def output_names(graph: onnx.GraphProto) -> set[str]:
    return {o.name for o in graph.output}


def constant_value(graph: onnx.GraphProto, name: str, inits: dict[str, onnx.TensorProto] | None = None,
                   prods: dict[str, onnx.NodeProto] | None = None) -> np.ndarray | None:
    """The value of ``name`` if it is an initializer (not overridable) or a Constant node output."""
    inits = initializer_map(graph) if inits is None else inits
    if name in inits:
        if name in {i.name for i in graph.input}:
            return None  # an initializer listed as input can be overridden at run time
        return numpy_helper.to_array(inits[name])
    prods = producers(graph) if prods is None else prods
    node = prods.get(name)
    if node is not None and node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
        for attr in node.attribute:
            if attr.name == "value":
                return numpy_helper.to_array(attr.t)
            if attr.name in ("value_float", "value_int"):
                return np.array(helper.get_attribute_value(attr))
            if attr.name in ("value_floats", "value_ints"):
                return np.array(helper.get_attribute_value(attr))
    return None


def attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def set_attr(node: onnx.NodeProto, name: str, value) -> None:
    for i, a in enumerate(node.attribute):
        if a.name == name:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(name, value))


class NameGen:
    """Fresh tensor and node names that clash with nothing already in the model."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.used: set[str] = set()
        self._collect(model.graph)

    def _collect(self, graph: onnx.GraphProto) -> None:
        self.used.update(t.name for t in graph.initializer)
        self.used.update(v.name for v in (*graph.input, *graph.output, *graph.value_info))
        for node in graph.node:
            self.used.add(node.name)
            self.used.update(node.input)
            self.used.update(node.output)
            for sub in subgraphs(node):
                self._collect(sub)

    def __call__(self, base: str) -> str:
        name, i = base, 0
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name


def add_initializer(graph: onnx.GraphProto, name: str, array: np.ndarray) -> str:
    graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
    return name


def remove_nodes(graph: onnx.GraphProto, doomed: Iterable[onnx.NodeProto]) -> None:
    """Remove the given nodes (by identity), keeping the order of the rest."""
    ids = {id(n) for n in doomed}
    keep = [n for n in graph.node if id(n) not in ids]
    del graph.node[:]
    graph.node.extend(keep)


def rename_input(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Make every reader of ``old`` (nested subgraphs included) read ``new`` instead."""
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for sub in subgraphs(node):
            if old not in {v.name for v in sub.input} and old not in {t.name for t in sub.initializer}:
                rename_input(sub, old, new)
                for o in sub.output:
                    if o.name == old:
                        o.name = new


def prune_unused_initializers(graph: onnx.GraphProto) -> int:
    """Drop initializers nobody reads (also from ``graph.input``); returns how many went."""
    used = {n for node in graph.node for n in node.input} | names_read_by_subgraphs(graph)
    used |= output_names(graph)
    dead = [t for t in graph.initializer if t.name not in used]
    if not dead:
        return 0
    dead_names = {t.name for t in dead}
    keep = [t for t in graph.initializer if t.name not in dead_names]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    inputs = [i for i in graph.input if i.name not in dead_names]
    del graph.input[:]
    graph.input.extend(inputs)
    vis = [v for v in graph.value_info if v.name not in dead_names]
    del graph.value_info[:]
    graph.value_info.extend(vis)
    return len(dead)


def infer_shapes(model: onnx.ModelProto, *, strict: bool = False) -> onnx.ModelProto:
    """ONNX shape inference with data propagation; falls back to the input on failure."""
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=strict, data_prop=True)
    except Exception:
        if strict:
            raise
        return model


def static_shape(model: onnx.ModelProto, name: str) -> list[int | str | None] | None:
    """The inferred shape of ``name`` (ints, dim_param strings, or None for unknown dims)."""
    for vi in (*model.graph.value_info, *model.graph.input, *model.graph.output):
        if vi.name == name and vi.type.HasField("tensor_type"):
            tt = vi.type.tensor_type
            if not tt.HasField("shape"):
                return None
            return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
    for t in model.graph.initializer:
        if t.name == name:
            return list(t.dims)
    return None


def eliminate_identities(graph: onnx.GraphProto) -> int:
    """Remove ``y = Identity(x)`` nodes of the main graph, keeping every graph output name.

    Readers of ``y`` read ``x``. When ``y`` is a graph output, ``x`` is renamed ``y``
    instead, unless ``x`` is itself a graph input, output or initializer (then the node
    stays: the model's signature must not change). onnx_ir's IdentityEliminationPass
    renames ``x`` even when ``x`` is another graph output, which loses that output.
    Returns the number of nodes removed.
    """
    removed = 0
    changed = True
    while changed:
        changed = False
        outputs = output_names(graph)
        fixed = outputs | {i.name for i in graph.input} | {t.name for t in graph.initializer}
        prods = producers(graph)
        for node in graph.node:
            if node.op_type != "Identity" or node.domain not in ("", "ai.onnx") or len(node.input) != 1:
                continue
            x, y = node.input[0], node.output[0]
            # Rename on the live nodes first; remove_nodes rebuilds the list (copies).
            if y not in outputs:
                rename_input(graph, y, x)
            elif x not in fixed and x in prods:
                producer = prods[x]
                producer.output[list(producer.output).index(x)] = y
                rename_input(graph, x, y)
            else:
                continue
            remove_nodes(graph, [node])
            vis = [v for v in graph.value_info if v.name not in (x, y)]
            del graph.value_info[:]
            graph.value_info.extend(vis)
            removed += 1
            changed = True
            break
    return removed


def topological_sort(graph: onnx.GraphProto) -> bool:
    """Reorder ``graph.node`` so every node follows its producers (stable otherwise).

    Returns True when the order changed. Names read from outer scopes by subgraphs count as
    available. Raises ValueError on a cycle.
    """
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    nodes = list(graph.node)
    pending = list(range(len(nodes)))
    order: list[int] = []
    produced = {o for n in nodes for o in n.output}
    while pending:
        progressed = []
        for index in pending:
            needed = [i for i in nodes[index].input if i in produced]
            if all(i in available for i in needed):
                order.append(index)
                available.update(nodes[index].output)
                progressed.append(index)
        if not progressed:
            raise ValueError("the graph has a cycle")
        done = set(progressed)
        pending = [i for i in pending if i not in done]
    if order == list(range(len(nodes))):
        return False
    copies = [onnx.NodeProto() for _ in nodes]
    for copy, index in zip(copies, order):
        copy.CopyFrom(nodes[index])
    del graph.node[:]
    graph.node.extend(copies)
    return True
