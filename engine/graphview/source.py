"""The source (MindIR) graph for display: plumbing resolved away, weights and constants folded.

Rules, applied to every value a compute op consumes:

1. ``Load(param, monad)`` is the parameter: it becomes a weight annotation on the consumer.
2. ``Depend(x, state)``, ``StopGradient(x)`` and ``Return(x)`` are ``x``.
3. ``UpdateState`` carries no data: it resolves to nothing.
4. ``MakeTuple(a, b, ...)`` is its items; ``TupleGetItem(t, i)`` is item ``i`` of a
   MakeTuple, or output ``i`` of a multi-output op.
5. ``Constant`` values fold into the consumer's attributes (named by the primitive's
   ``input_names`` where it has them); monads are dropped.
6. A name no node produces is a weight when some Load reads it or a parameter of that
   name is known, else a graph input.
7. A node nothing consumes is a graph output, through whatever plumbing wraps it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from collections import Counter

from engine.graphview.build import PLUMBING, assign_display_names, scope_path, shape_text, short_name, summarise
from engine.graphview.categories import IO, category_of
from engine.graphview.graph import INPUT, OP, OUTPUT, DisplayEdge, DisplayGraph, DisplayNode, WeightInfo

if TYPE_CHECKING:
    from engine.model import Model, SourceNode

log = logging.getLogger(__name__)

# A resolved reference: ("node", node id, tensor, label) | ("weight", name) |
# ("const", value) | ("input", name).
Ref = tuple[Any, ...]

SHAPE_KEYS = ("output_shape", "out_shape", "shape")


def _op(node: SourceNode) -> str:
    op = node.op_type
    if op.startswith("REF::"):
        op = op[5:].split(":", 1)[0]
    return op


def _is_monad(value: Any) -> bool:
    return isinstance(value, str) and "monad" in value.lower() or type(value).__name__.endswith("Monad")


def _shape_label(attrs: dict[str, Any], index: int = 0) -> str:
    """The output shape a MindIR node records about itself, in whichever form the reader kept it."""
    for key in SHAPE_KEYS:
        value = attrs.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            return value
        try:
            arr = value if isinstance(value, (list, tuple)) else np.asarray(value).tolist()
        except Exception:
            return ""
        if isinstance(arr, (list, tuple)) and arr and isinstance(arr[0], (list, tuple)):
            arr = arr[index] if index < len(arr) else arr[0]
        if isinstance(arr, (list, tuple)) and all(isinstance(d, (int, np.integer)) for d in arr):
            return shape_text(int(d) for d in arr)
        return ""
    return ""


def _input_label(refs: list[Ref], titles: dict[str, str]) -> str:
    """What a person reads for one input: a parameter name, the producer's name, a value."""
    if not refs:
        return "(state)"  # a monad or UpdateState: ordering, not data
    texts = []
    for ref in refs:
        if ref[0] == "weight":
            texts.append(str(ref[1]).rsplit(":", 1)[-1] if ":" in str(ref[1]) else str(ref[1]))
        elif ref[0] == "node":
            texts.append(titles.get(ref[1], ref[1]) + (f" [{ref[3]}]" if ref[3] else ""))
        elif ref[0] == "const":
            texts.append(f"constant {summarise(ref[1])}")
        else:
            texts.append(f"input {ref[1]}")
    return ", ".join(texts)


class SourceResolver:
    """Builds the display graph of a MindIR source graph (see the module docstring for rules)."""

    def __init__(self, nodes: list[SourceNode], model: Model) -> None:
        self.nodes = nodes
        self.model = model
        self.producer: dict[str, SourceNode] = {}
        for node in nodes:
            for out in node.outputs:
                self.producer[out] = node
        self.consumed = {name for node in nodes for name in node.inputs}
        self.loaded = {node.inputs[0] for node in nodes if _op(node) == "Load" and node.inputs}
        self.known_params = self._known_parameters()
        self._memo: dict[str, list[Ref]] = {}
        self._ids: dict[int, str] = {}
        self._types: dict[str, tuple[str, str]] | None = None  # canonical shapes, computed when first needed

    def _known_parameters(self) -> dict[str, WeightInfo]:
        known: dict[str, WeightInfo] = {}
        if self.model.params is not None:
            for name, arr in self.model.params.items():
                known[name] = WeightInfo(name, tuple(arr.shape), arr.dtype.name)
        if self.model.onnx is not None:
            from onnx import helper

            for t in self.model.onnx.graph.initializer:
                dtype = helper.tensor_dtype_to_np_dtype(t.data_type).name if t.data_type else ""
                known.setdefault(t.name, WeightInfo(t.name, tuple(int(d) for d in t.dims), dtype))
        return known

    def _weight(self, name: str) -> WeightInfo:
        short = name.rsplit(":", 1)[-1]
        info = self.known_params.get(name) or self.known_params.get(short)
        if info is None:
            return WeightInfo(name)
        return WeightInfo(name, info.shape, info.dtype, info.value)

    def resolve(self, value: str, depth: int = 0) -> list[Ref]:
        """What ``value`` is once plumbing is seen through."""
        if value in self._memo:
            return self._memo[value]
        if depth > 200:  # a cycle or absurd nesting: show nothing rather than recurse forever
            return []
        node = self.producer.get(value)
        refs: list[Ref]
        if node is None:
            is_weight = value in self.loaded or value in self.known_params \
                or value.rsplit(":", 1)[-1] in self.known_params
            refs = [("weight", value)] if is_weight else [("input", value)]
        else:
            op = _op(node)
            if op == "Constant":
                const = node.attributes.get("value")
                refs = [] if _is_monad(const) else [("const", const)]
            elif op in ("Load", "Depend", "StopGradient", "Return"):
                refs = self.resolve(node.inputs[0], depth + 1) if node.inputs else []
            elif op == "UpdateState":
                refs = []
            elif op in ("MakeTuple", "MakeList"):
                refs = [r for inp in node.inputs for r in self.resolve(inp, depth + 1)]
            elif op in ("TupleGetItem", "ListGetItem"):
                refs = self._get_item(node, depth)
            else:
                refs = [("node", self._id(node), value, _shape_label(node.attributes))]
        self._memo[value] = refs
        return refs

    def _get_item(self, node: SourceNode, depth: int) -> list[Ref]:
        if len(node.inputs) < 2:
            return []
        index_ref = self.resolve(node.inputs[1], depth + 1)
        try:
            index = int(np.asarray(index_ref[0][1]).item()) if index_ref and index_ref[0][0] == "const" else -1
        except (TypeError, ValueError):
            index = -1
        tup = self.producer.get(node.inputs[0])
        if tup is not None and _op(tup) in ("MakeTuple", "MakeList") and 0 <= index < len(tup.inputs):
            return self.resolve(tup.inputs[index], depth + 1)
        base = self.resolve(node.inputs[0], depth + 1)
        if 0 <= index and len(base) == 1 and base[0][0] == "node":
            src = self.producer[node.inputs[0]]
            label = _shape_label(src.attributes, index)
            if not label and index == 0:  # item 0 of a multi-output op is its first ONNX output
                label = self._canonical_shape(node.inputs[0])
            return [("node", base[0][1], node.outputs[0] if node.outputs else node.inputs[0],
                     label or f"[{index}]")]
        return base

    def _canonical_shape(self, tensor: str) -> str:
        """The shape the canonical ONNX graph infers for ``tensor`` (same name), or ""."""
        if self._types is None:
            from engine.graphview.build import _tensor_types

            self._types = _tensor_types(self.model.onnx) if self.model.onnx is not None else {}
        return self._types.get(tensor, ("", ""))[0]

    def _id(self, node: SourceNode) -> str:
        return self._ids[id(node)]

    def build(self) -> DisplayGraph:
        graph = DisplayGraph(mode="source", name=self.model.name)
        used: set[str] = set()
        compute: list[tuple[SourceNode, DisplayNode]] = []
        hidden: Counter[str] = Counter()
        for i, node in enumerate(self.nodes):
            op = _op(node)
            if op == "Constant" or op in PLUMBING:
                hidden[op] += 1
                continue
            node_id = node.name or f"{op}_{i}"
            k = 1
            while node_id in used:
                k += 1
                node_id = f"{node.name or op}#{k}"
            used.add(node_id)
            self._ids[id(node)] = node_id
            attrs = {key: summarise(v) for key, v in node.attributes.items()}
            if node.scope:
                attrs.setdefault("scope", node.scope)
            fused = node.attributes.get("activation_type")  # MindSpore Lite: an activation fused into the op
            label = f"{op} + {fused}" if isinstance(fused, str) and fused != "NO_ACTIVATION" else op
            compute.append((node, DisplayNode(
                id=node_id, label=label, name=node.name, op_type=op, category=category_of(op),
                attributes=attrs, inputs=list(node.inputs), outputs=list(node.outputs),
                kind=OP, short_name=short_name(node.name, node.scope),
                display_name=scope_path(node.name, node.scope), lowering=node.lowering, lowering_reason=node.lowering_reason, lowered_to=list(node.lowered_to),
            )))

        inputs: dict[str, DisplayNode] = {}
        edges: list[DisplayEdge] = []
        resolved: list[list[list[Ref]]] = []
        for node, dnode in compute:
            names = node.attributes.get("input_names")
            seen: set[tuple[str, str]] = set()
            resolved.append([])
            for pos, value in enumerate(node.inputs):
                refs = self.resolve(value)
                resolved[-1].append(refs)
                for ref in refs:
                    kind = ref[0]
                    if kind == "weight":
                        dnode.weights.append(self._weight(ref[1]))
                    elif kind == "const":
                        key = names[pos] if isinstance(names, (list, tuple)) and pos < len(names) else f"input{pos}"
                        dnode.attributes[str(key)] = summarise(ref[1])
                    else:
                        if kind == "input":
                            src = self._input_node(ref[1], inputs, used).id
                            tensor, label = ref[1], ""
                        else:
                            src, tensor, label = ref[1], ref[2], ref[3]
                        if (src, tensor) not in seen:
                            seen.add((src, tensor))
                            edges.append(DisplayEdge(src, dnode.id, tensor, label))

        outputs: list[DisplayNode] = []
        for node in self.nodes:
            if _op(node) in ("Constant", "UpdateState") or any(o in self.consumed for o in node.outputs):
                continue
            for out in node.outputs:
                for ref in self.resolve(out):
                    if ref[0] not in ("node", "input"):
                        continue
                    src = ref[1] if ref[0] == "node" else self._input_node(ref[1], inputs, used).id
                    tensor = ref[2] if ref[0] == "node" else ref[1]
                    node_id = f"output:{tensor}"
                    if node_id in used:
                        continue
                    used.add(node_id)
                    outputs.append(DisplayNode(
                        id=node_id, label="Output", name=tensor, op_type="Output", category=IO,
                        inputs=[tensor], kind=OUTPUT, short_name=short_name(tensor),
                    ))
                    edges.append(DisplayEdge(src, node_id, tensor, ref[3] if ref[0] == "node" else ""))

        graph.nodes = [*inputs.values(), *(d for _, d in compute), *outputs]
        graph.edges = edges
        graph.hidden_ops = dict(sorted(hidden.items()))
        assign_display_names(d for _, d in compute)
        titles = {d.id: d.title for _, d in compute}
        for (_, dnode), per_input in zip(compute, resolved):
            dnode.input_labels = [_input_label(refs, titles) for refs in per_input]
        log.debug("source display graph: %d of %d nodes shown, %d edges",
                  len(graph.nodes), len(self.nodes), len(edges))
        return graph

    def _input_node(self, name: str, inputs: dict[str, DisplayNode], used: set[str]) -> DisplayNode:
        found = inputs.get(name)
        if found is None:
            node_id = f"input:{name}"
            used.add(node_id)
            found = DisplayNode(id=node_id, label="Input", name=name, op_type="Input", category=IO,
                                outputs=[name], kind=INPUT, short_name=short_name(name))
            inputs[name] = found
        return found
