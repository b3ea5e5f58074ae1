"""An opened file as the studio holds it: the engine model, its summary and display graphs."""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.jobs import Job
from engine.model import Model
from studio.features import engine_attr, feature

log = logging.getLogger(__name__)


@dataclass(eq=False)  # documents are compared by identity (panels keep per-document state)
class Document:
    """Engine results for one file; views adapt these and never copy or own them.

    Attributes:
        path: the file.
        model: the opened engine model.
        summary: engine.inspect's summary (None when that feature is absent).
        graphs: display graphs laid out, by mode ("source", "canonical").
        graph_errors: why a mode has no graph, by mode.
        notes: features that were not available while loading.
        input_specs: the inputs a run must feed (engine TensorSpecs), empty for parameter files.
        input_shapes: the shape chosen for each input (None where a dynamic dim is not chosen).
        inputs_path: a .npy/.npz file of input data for benchmark and validate, or None.
        bench_result: this document's last benchmark result (or sweep), shown when its tab is active.
        bench_status: the benchmark panel's last line about this document.
        validation: this document's last validation report.
        validate_status: the validate panel's last line about this document.
        compare_choice: what this document was last compared with (the panel's combo data).
    """

    path: Path
    model: Model
    summary: Any = None
    graphs: dict[str, Any] = field(default_factory=dict)
    graph_errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    input_specs: list[Any] = field(default_factory=list)
    input_shapes: dict[str, list[int | None]] = field(default_factory=dict)
    inputs_path: Path | None = None
    inputs_check: Any = None  # ("ok", "x 1x3x20x20") or ("error", why) once the data file was read
    bench_result: Any = None
    bench_status: str = ""
    validation: Any = None
    validate_status: str = ""
    compare_choice: Any = None

    @property
    def is_graph(self) -> bool:
        return self.model.is_graph

    @property
    def has_source_graph(self) -> bool:
        return bool(self.model.source_nodes)

    @property
    def default_mode(self) -> str:
        return "source" if self.has_source_graph else "canonical"

    @property
    def title(self) -> str:
        return self.path.name

    @property
    def label(self) -> str:
        """``folder/file``: names the model that results belong to (fixtures are all model.onnx)."""
        return f"{self.path.parent.name}/{self.path.name}" if self.path.parent.name else self.path.name

    def shapes_for_run(self) -> dict[str, list[int | None]]:
        """The chosen shapes, for the engine's ``shapes=`` argument."""
        return {name: list(shape) for name, shape in self.input_shapes.items()}


def default_input_shapes(specs: Iterable[Any]) -> dict[str, list[int | None]]:
    """Fixed dims as declared; a dynamic first dim of a rank >= 2 input as batch 1; other dynamic dims unset."""
    out: dict[str, list[int | None]] = {}
    for spec in specs:
        shape: list[int | None] = []
        for i, d in enumerate(spec.shape):
            if isinstance(d, int):
                shape.append(d)
            elif i == 0 and len(spec.shape) > 1:
                shape.append(1)
            else:
                shape.append(None)
        out[spec.name] = shape
    return out


def model_input_specs(model: Model) -> list[Any]:
    """The model's input specs (empty for parameter files or a graph without a readable signature)."""
    from engine.errors import EngineError
    from engine.inputs import input_specs

    try:
        io_specs = getattr(model, "io_specs", None)
        if io_specs is not None:
            return list(io_specs()[0])
        return input_specs(model.onnx) if model.onnx is not None else []
    except EngineError:
        return []


def build_graph(model: Model, mode: str) -> Any:
    """Build and lay out one display graph (worker thread)."""
    graph = engine_attr("graph")(model, mode)  # type: ignore[operator]
    if feature("layout"):
        graph = engine_attr("layout")(graph) or graph  # type: ignore[operator]
        if feature("graph_view"):
            from studio.graph_view import prepare_paint  # edge paths and minimap here, off the GUI thread

            prepare_paint(graph)
    return graph


def load_document(path: str | Path, job: Job) -> Document:
    """Open ``path`` and compute what the window shows first (runs on a worker).

    Raises:
        EngineError: the file cannot be opened; the message names the file and the problem.
    """
    from engine import formats

    path = Path(path)
    model = formats.load(path, job=job.sub(0.0, 0.6))
    doc = Document(path=path, model=model)
    if feature("inspect"):
        job.report(0.6, "summarising")
        doc.summary = engine_attr("inspect")(model)  # type: ignore[operator]
    else:
        doc.notes.append(feature("inspect").reason)
    doc.input_specs = model_input_specs(model)
    doc.input_shapes = default_input_shapes(doc.input_specs)
    if model.is_graph:
        if feature("graph"):
            job.report(0.75, "laying out the graph")
            mode = doc.default_mode
            try:
                doc.graphs[mode] = build_graph(model, mode)
            except ValueError as exc:
                doc.graph_errors[mode] = str(exc)
        else:
            doc.notes.append(feature("graph").reason)
    job.report(1.0, f"opened {path.name}")
    return doc


def parameter_array(model: Model, name: str) -> np.ndarray | None:
    """The values of parameter ``name`` from a parameter file or a graph's initializers."""
    if model.params is not None and name in model.params:
        return np.asarray(model.params[name])
    if model.onnx is not None:
        from onnx import numpy_helper

        for tensor in model.onnx.graph.initializer:
            if tensor.name == name:
                return numpy_helper.to_array(tensor)
    return None


#: Suffixes ONNX Runtime appends to node names when it re-lays out or splits nodes.
_RUNTIME_SUFFIX = re.compile(r"(_nchwc|_token_\d+|_kernel_time)+$")


def match_node_names(values: dict[str, float], names: Iterable[str]) -> dict[str, float]:
    """Map runtime node names onto graph node names; values that land on one node are summed.

    ONNX Runtime profiles the graph after its own optimisations, so a node may be reported as
    ``24_nchwc`` (re-laid out) or under the name of the node a fusion kept (``3-...-op0`` for the
    graph's ``3-...-op0Clip``). Exact names win; then the name without runtime suffixes; then
    the one graph name that extends it (not by a digit, so ``2`` never matches ``24Conv``).
    :class:`RuntimeNames` also resolves names the runtime took from a tensor.
    """
    return RuntimeNames.from_names(names).match(values)


def resolve_node_name(raw: str, ordered: list[str], exact: set[str]) -> str | None:
    """The graph node name ``raw`` (a runtime's name for it) stands for, or None; see match_node_names."""
    if raw in exact:
        return raw
    stem = _RUNTIME_SUFFIX.sub("", raw)
    if stem in exact:
        return stem
    i = bisect.bisect_left(ordered, stem)
    hits = []
    while i < len(ordered) and ordered[i].startswith(stem) and len(hits) < 2:
        if not ordered[i][len(stem):][:1].isdigit():
            hits.append(ordered[i])
        i += 1
    return hits[0] if len(hits) == 1 else None


class RuntimeNames:
    """Resolves a runtime's node names (a profile's, a parity report's) to the nodes of one graph.

    On top of :func:`resolve_node_name`: ONNX Runtime names some fused nodes after a tensor, the
    output of the fusion's last node (Conv+BatchNormalization+Clip becomes a Conv named
    ``CNode_36$...:13``). Such a name resolves to the tensor's producer and, when the runtime's
    op type is known, up the chain of single data inputs (at most :data:`FUSED_DEPTH` nodes) to
    the node of that op type: the fused Conv is the graph's Conv.

    Args:
        graph: an ``engine.graphview.DisplayGraph``.
    """

    FUSED_DEPTH = 4

    def __init__(self, graph: Any) -> None:
        self.nodes = {n.name: n for n in graph.nodes}
        self.ordered = sorted(self.nodes)
        self.exact = set(self.ordered)
        self.producer = {out: n.name for n in graph.nodes if n.kind == "op" for out in n.outputs}

    @classmethod
    def from_names(cls, names: Iterable[str]) -> RuntimeNames:
        """Names alone (no tensors): :func:`resolve_node_name`'s matching only."""
        self = cls.__new__(cls)
        self.nodes, self.producer = {}, {}
        self.ordered = sorted(set(names))
        self.exact = set(self.ordered)
        return self

    def resolve(self, raw: str, op_type: str | None = None) -> str | None:
        """The graph node name ``raw`` stands for, or None."""
        name = resolve_node_name(raw, self.ordered, self.exact)
        if name is not None:
            return name
        name = self.producer.get(_RUNTIME_SUFFIX.sub("", raw))
        if name is None or not op_type:
            return name
        node = self.nodes[name]
        for _ in range(self.FUSED_DEPTH):
            if node.op_type == op_type:
                return node.name
            weights = {w.name for w in node.weights}
            data = [t for t in node.inputs if t in self.producer and t not in weights]
            if len(data) != 1:
                break
            node = self.nodes[self.producer[data[0]]]
        return node.name if node.op_type == op_type else name

    def match(self, values: dict[str, float], op_types: dict[str, str] | None = None) -> dict[str, float]:
        """``values`` keyed by runtime name, re-keyed by graph node name (summed where several land on one)."""
        out: dict[str, float] = {}
        for raw, value in values.items():
            name = self.resolve(raw, (op_types or {}).get(raw))
            if name is not None:
                out[name] = out.get(name, 0.0) + float(value)
        return out
