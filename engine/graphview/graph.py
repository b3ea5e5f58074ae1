"""The display graph: nodes, edges and coordinates the studio paints, free of Qt and protobuf."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Node kinds.
OP = "op"
INPUT = "input"
OUTPUT = "output"


@dataclass
class WeightInfo:
    """A weight (initializer, parameter or folded constant) a node consumes.

    Attributes:
        name: the tensor's name in the file.
        shape: its dimensions, or None when not known.
        dtype: numpy-style dtype name ("float32"), or "" when not known.
        value: a short rendering of the value for small constants, else "".
        role: the input it fills ("W", "B", "scale"): the operator schema's input name for
            ONNX, the parameter name's last part for MindSpore ("weight" -> "W").
    """

    name: str
    shape: tuple[int | str, ...] | None = None
    dtype: str = ""
    value: str = ""
    role: str = ""

    @property
    def label(self) -> str:
        """What the node's box shows for this weight: ``W<64x3x7x7>``, ``B<64>`` (Netron's style)."""
        return f"{self.role or weight_role(self.name)}<{self.shape_text}>"

    @property
    def shape_text(self) -> str:
        """Dimensions joined by "x" ("64x3x7x7"), "scalar" for rank 0, "?" if unknown."""
        if self.shape is None:
            return "?"
        return "x".join(str(d) for d in self.shape) if self.shape else "scalar"


def weight_role(name: str) -> str:
    """A short role for a weight from its name: "conv1.weight" -> "W", "fc.bias" -> "B", "bn.gamma" -> "gamma"."""
    tail = name.rsplit(":", 1)[-1].rsplit("/", 1)[-1].rsplit(".", 1)[-1]
    return {"weight": "W", "bias": "B"}.get(tail.lower(), tail or "?")


@dataclass
class DisplayNode:
    """One box in the graph.

    Coordinates are the node's centre (``x``, ``y``) and size, in scene units, filled by
    :func:`engine.graphview.layout.layout`.

    Attributes:
        id: unique within the graph (the node name where the file gives a unique one).
        label: the text on the box's first line (the op type).
        name: the node's full name in the file.
        op_type: the operator ("Conv", "Conv2D"); "Input"/"Output" for graph io.
        category: a key of :data:`engine.graphview.categories.CATEGORIES`.
        attributes: plain Python values; long arrays are summarised as text.
        inputs: tensor names consumed, in order (weights included).
        outputs: tensor names produced.
        weights: the weights and folded constants among ``inputs``.
        kind: "op", "input" or "output".
        short_name: a compact name for the box's second line.
        layer: the layer index after layout (0 = top).
        lowering: MindIR source nodes: "ok", "failed" (no ONNX lowering), "skipped" (an
            input comes from a failed node) or "" (not tracked).
        lowering_reason: why a node failed or was skipped.
        lowered_to: the ONNX op types a source node became.
        display_name: the name a person reads, unique in the graph: the module path of a
            MindSpore scope ("layer1.0.conv1") where the file has one, else ``name``.
        input_labels: one readable text per entry of ``inputs`` ("conv1.weight" for a
            parameter read through ``Load``, the producer's display name, a constant's value);
            empty when the inputs already read well.
    """

    id: str
    label: str
    name: str
    op_type: str
    category: str
    attributes: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    weights: list[WeightInfo] = field(default_factory=list)
    kind: str = OP
    short_name: str = ""
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0
    layer: int = -1
    lowering: str = ""
    lowering_reason: str = ""
    lowered_to: list[str] = field(default_factory=list)
    display_name: str = ""
    input_labels: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The display name, else the name in the file, else the id."""
        return self.display_name or self.name or self.id

    @property
    def rect(self) -> tuple[float, float, float, float]:
        """(left, top, width, height) of the box."""
        return (self.x - self.width / 2, self.y - self.height / 2, self.width, self.height)


@dataclass
class DisplayEdge:
    """A tensor flowing from one node to another.

    Attributes:
        source: id of the producing node.
        target: id of the consuming node.
        tensor: the tensor's name.
        label: its shape ("1x64x56x56") where known, else "".
        points: the polyline from the source's bottom to the target's top, after layout.
        dtype: element type where known ("float32").
    """

    source: str
    target: str
    tensor: str
    label: str = ""
    points: list[tuple[float, float]] = field(default_factory=list)
    dtype: str = ""


@dataclass
class DisplayGraph:
    """A graph ready to lay out and paint.

    Attributes:
        nodes: in a stable (file) order.
        edges: one per (source, target, tensor).
        mode: "source" (the file's own graph) or "canonical" (the ONNX it became).
        name: the graph's name.
        direction: "TB" (top to bottom) or "LR" (left to right), set by layout.
        hidden_ops: op type -> count of the file's nodes the graph does not draw (MindSpore
            plumbing and constants, resolved into edges, weights and attributes).
        width: scene width after layout.
        height: scene height after layout.
    """

    nodes: list[DisplayNode] = field(default_factory=list)
    edges: list[DisplayEdge] = field(default_factory=list)
    mode: str = "canonical"
    name: str = ""
    width: float = 0.0
    height: float = 0.0
    direction: str = "TB"
    hidden_ops: dict[str, int] = field(default_factory=dict)
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def node(self, node_id: str) -> DisplayNode:
        """The node with ``node_id``; KeyError if none."""
        if len(self._index) != len(self.nodes):
            self._index = {n.id: i for i, n in enumerate(self.nodes)}
        return self.nodes[self._index[node_id]]

    def __contains__(self, node_id: object) -> bool:
        if len(self._index) != len(self.nodes):
            self._index = {n.id: i for i, n in enumerate(self.nodes)}
        return node_id in self._index

    @property
    def is_laid_out(self) -> bool:
        """True once every node has a size (layout has run)."""
        return bool(self.nodes) and all(n.width > 0 for n in self.nodes)


def search(graph: DisplayGraph, text: str) -> list[str]:
    """Ids of nodes whose name, display name or op type contains ``text``, case-insensitively.

    Exact op-type matches come first, then the rest, each group in graph order, so a search
    for "conv" lands on a Conv before a node merely named "...conv...".
    """
    needle = text.strip().lower()
    if not needle:
        return []
    exact: list[str] = []
    partial: list[str] = []
    for node in graph.nodes:
        op = node.op_type.lower()
        if op == needle:
            exact.append(node.id)
        elif (needle in op or needle in node.name.lower() or needle in node.short_name.lower()
              or needle in node.display_name.lower()):
            partial.append(node.id)
    return exact + partial


def step(graph: DisplayGraph, node_id: str, dx: int, dy: int) -> str | None:
    """Where an arrow key leads from ``node_id`` in the laid-out ``graph``; None at its edge.

    ``(dx, dy)`` is the key's direction on screen. Along the flow (down for "TB", right for
    "LR") it goes to a consumer, against it to a producer, the one most in line first;
    across the flow, to the nearest box in the same layer on that side.
    """
    if node_id not in graph:
        return None
    horizontal = graph.direction == "LR"
    along, across = (dx, dy) if horizontal else (dy, dx)
    node = graph.node(node_id)

    def across_of(n: DisplayNode) -> float:
        return n.y if horizontal else n.x

    if along:
        ends = [e.target for e in graph.edges if e.source == node_id] if along > 0 \
            else [e.source for e in graph.edges if e.target == node_id]
        candidates = [graph.node(i) for i in dict.fromkeys(ends) if i in graph]
        return min(candidates, key=lambda n: abs(across_of(n) - across_of(node))).id if candidates else None
    side = [n for n in graph.nodes if n.layer == node.layer and n.id != node_id
            and (across_of(n) - across_of(node)) * across > 0]
    return min(side, key=lambda n: abs(across_of(n) - across_of(node))).id if side else None
