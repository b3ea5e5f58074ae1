"""The properties dock: what the selected node, tensor or parameter is, with statistics."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from studio.errors import describe
from studio.features import feature
from studio.latency_plot import style_plot
from studio.workers import TaskRunner

log = logging.getLogger(__name__)


def value_text(value: Any, limit: int = 200) -> str:
    """A compact rendering of an attribute value."""
    if isinstance(value, np.ndarray):
        if value.size <= 16:
            return np.array2string(value, separator=", ", threshold=16)
        return f"array {value.dtype} {list(value.shape)}"
    if isinstance(value, (list, tuple)):
        text = "[" + ", ".join(value_text(v, 40) for v in value[:32]) + (", …" if len(value) > 32 else "") + "]"
    elif isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class PropertiesView(QWidget):
    """Key/value tree for the current selection, and a histogram for parameters."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.document: Any = None
        self.title = QLabel("Nothing selected", self)
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Property", "Value"])
        self.tree.setAlternatingRowColors(True)
        # Column 0 is sized to its contents up to half the width (long weight names would push the
        # values out of sight); see _fit_columns.
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.tree.header().setStretchLastSection(True)
        self.tree.setWordWrap(True)
        self.histogram = pg.PlotWidget(self)
        style_plot(self.histogram)
        self.histogram.setMinimumHeight(140)
        self.histogram.setMaximumHeight(200)
        self.histogram.setLabel("bottom", "value")
        self.histogram.setLabel("left", "count")
        self.histogram.setMouseEnabled(x=False, y=False)
        self.histogram.hideButtons()
        self._bars = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(47, 123, 216, 120), pen=(47, 123, 216))
        self.histogram.addItem(self._bars)
        self.histogram.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.histogram)
        self.current: tuple[str, Any] | None = None
        self.stats: Any = None

    def set_document(self, document: Any) -> None:
        self.document = document
        self.clear()

    def clear(self) -> None:
        self.current = None
        self.stats = None
        self.title.setText("Nothing selected" if self.document is None else self.document.title)
        self.tree.clear()
        self.histogram.hide()

    def show_item(self, kind: str, payload: Any) -> None:
        """Show an outline selection (a tensor, parameter, op group or metadata entry)."""
        if kind == "node":
            self.show_node(payload)
            return
        self.clear()
        self.current = (kind, payload)
        if kind in ("input", "output"):
            self.title.setText(f"{kind.capitalize()} {payload.name}")
            self._rows(None, [("name", payload.name), ("dtype", payload.dtype), ("shape", value_text(payload.shape))])
        elif kind == "param":
            self.show_param(payload)
        elif kind == "op":
            graph = self._graph()
            count = sum(1 for n in graph.nodes if n.op_type == payload) if graph else 0
            self.title.setText(f"Op type {payload}")
            self._rows(None, [("op type", payload), ("nodes shown in graph", str(count))])
        elif kind == "plumbing":
            self.title.setText(f"MindSpore plumbing: {payload}")
            self._rows(None, [("op type", payload), ("drawn", "no: resolved into edges, weights and attributes")])
        elif kind == "meta":
            self.title.setText(f"Metadata: {payload[0]}")
            self._rows(None, [(str(payload[0]), value_text(payload[1], 2000))])
        elif kind == "total":
            self.title.setText("Totals")

    def show_param(self, info: Any) -> None:
        """Show a parameter and compute its statistics on a worker."""
        self.title.setText(f"Parameter {info.name}")
        self._rows(None, [("name", info.name), ("shape", value_text(info.shape)), ("dtype", info.dtype),
                          ("size", f"{info.size:,}"), ("bytes", f"{info.nbytes:,}")])
        self.current = ("param", info)
        if self.document is None:
            return
        if not feature("inspect"):
            self._rows("Statistics", [("unavailable", feature("inspect").reason)])
            return
        model, name = self.document.model, info.name

        def compute(job: Any) -> Any:
            from engine.inspect import tensor_stats
            from studio.document import parameter_array

            array = parameter_array(model, name)
            return None if array is None else tensor_stats(array)

        self.runner.start("properties", f"Statistics of {name}", compute,
                          on_result=lambda stats, n=name: self._on_stats(n, stats),
                          on_error=lambda exc, n=name: self._on_stats_error(n, exc))

    def _on_stats(self, name: str, stats: Any) -> None:
        if not self.current or self.current[0] != "param" or self.current[1].name != name:
            return  # the selection moved on
        self.stats = stats
        if stats is None:
            self._rows("Statistics", [("values", "not stored in this file")])
            return
        self._rows("Statistics", [("min", f"{stats.min:.6g}"), ("max", f"{stats.max:.6g}"),
                                  ("mean", f"{stats.mean:.6g}"), ("std", f"{stats.std:.6g}"),
                                  ("zeros", f"{stats.zeros:,}")])
        if stats.counts:
            self._bars.setData(np.asarray(stats.edges), np.asarray(stats.counts, dtype=float))
            self.histogram.show()

    def _on_stats_error(self, name: str, exc: BaseException) -> None:
        if self.current and self.current[0] == "param" and self.current[1].name == name:
            self._rows("Statistics", [("error", describe(exc).one_line())])

    def show_weight(self, node_id: str, name: str) -> None:
        """Show one weight of a node: shape and dtype now, statistics and values from a worker."""
        graph = self._graph()
        node = graph.node(node_id) if graph is not None and node_id in graph else None
        weight = next((w for w in node.weights if w.name == name), None) if node is not None else None
        self.clear()
        self.current = ("weight", name)
        label = weight.label if weight is not None else name
        self.title.setText(f"Weight {label}  {name}")
        rows = [("name", name)]
        if weight is not None:
            rows += [("role", weight.label.split("<", 1)[0]), ("shape", weight.shape_text),
                     ("dtype", weight.dtype or "?")]
        if node is not None:
            rows.append(("node", f"{node.op_type}  {node.title}"))
        self._rows(None, rows)
        if self.document is None:
            return
        model = self.document.model

        def compute(job: Any) -> Any:
            from engine.graphview.weights import summarize_weight

            return summarize_weight(model, name)

        self.runner.start("properties", f"Statistics of {name}", compute,
                          on_result=lambda summary, n=name: self._on_weight(n, summary),
                          on_error=lambda exc, n=name: self._on_weight_error(n, exc))

    def _on_weight(self, name: str, summary: Any) -> None:
        if self.current != ("weight", name):
            return  # the selection moved on
        if summary is None:
            self._rows("Statistics", [("values", "not stored in this file")])
            return
        self.stats = summary.stats
        stats = summary.stats
        rows = [("elements", f"{summary.size:,}"), ("min", f"{stats.min:.6g}"), ("max", f"{stats.max:.6g}"),
                ("mean", f"{stats.mean:.6g}"), ("std", f"{stats.std:.6g}"), ("zeros", f"{stats.zeros:,}")]
        if summary.nonfinite:
            rows.append(("NaN or Inf", f"{summary.nonfinite:,}"))
        self._rows("Statistics", rows)
        self._rows("Values", [("first", summary.head_text())])
        if stats.counts:
            self._bars.setData(np.asarray(stats.edges), np.asarray(stats.counts, dtype=float))
            self.histogram.show()

    def _on_weight_error(self, name: str, exc: BaseException) -> None:
        if self.current == ("weight", name):
            self._rows("Statistics", [("error", describe(exc).one_line())])

    def show_node(self, node_id: str, measure: tuple[str, float] | None = None) -> None:
        """Show a graph node: op, attributes, inputs, outputs and the weights it consumes.

        Args:
            node_id: the node in the document's current graph.
            measure: (label, value) the graph is coloured by at this node, e.g. ("µs per run", 12.5).
        """
        self.clear()
        graph = self._graph()
        if graph is None or node_id not in graph:
            self.title.setText(f"Node {node_id}")
            return
        node = graph.node(node_id)
        self.current = ("node", node_id)
        self.title.setText(f"{node.op_type}  {node.title}")
        names = [("name", node.title)]
        if node.name and node.name != node.title:
            names.append(("name in file", node.name))
        self._rows(None, [*names, ("op type", node.op_type), ("category", node.category)])
        if measure is not None:
            self._rows(None, [(measure[0] or "value", f"{measure[1]:.4g}")])
        if node.lowering == "failed":
            self._rows("ONNX conversion", [("status", "not lowered"), ("reason", node.lowering_reason)])
        elif node.lowering == "skipped":
            self._rows("ONNX conversion", [("status", "not lowered (an input was not)"), ("reason", node.lowering_reason)])
        elif node.lowering == "ok":
            self._rows("ONNX conversion", [("status", "lowered"), ("ONNX ops", ", ".join(node.lowered_to) or "(none)")])
        self._rows("Attributes", [(k, value_text(v)) for k, v in node.attributes.items()] or [("(none)", "")])
        labels = node.input_labels if len(node.input_labels) == len(node.inputs) else node.inputs
        self._rows("Inputs", [(str(i), t) for i, t in enumerate(labels)] or [("(none)", "")])
        self._rows("Outputs", [(str(i), t) for i, t in enumerate(node.outputs)] or [("(none)", "")])
        if node.weights:
            self._rows("Weights", [(w.label, " ".join(x for x in (w.name, w.dtype, w.value) if x))
                                   for w in node.weights])

    def _graph(self) -> Any:
        if self.document is None:
            return None
        view = getattr(self.document, "view", None)
        mode = view.mode if view is not None else self.document.default_mode
        return self.document.graphs.get(mode)

    def _rows(self, section: str | None, rows: list[tuple[str, str]]) -> None:
        parent: Any = self.tree
        if section:
            parent = QTreeWidgetItem(self.tree, [section, ""])
            font = parent.font(0)
            font.setBold(True)
            parent.setFont(0, font)
            parent.setExpanded(True)
        for key, value in rows:
            item = QTreeWidgetItem(parent, [key, value])
            item.setToolTip(0, key)
            item.setToolTip(1, value)
        self._fit_columns()

    def _fit_columns(self) -> None:
        wanted = self.tree.sizeHintForColumn(0) + 8
        self.tree.setColumnWidth(0, max(60, min(wanted, int(self.tree.viewport().width() * 0.5))))

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_columns()

    def rows(self) -> dict[str, str]:
        """Every key/value shown (flattened), for tests and copy."""
        out: dict[str, str] = {}
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top.childCount():
                for j in range(top.childCount()):
                    out[f"{top.text(0)}/{top.child(j).text(0)}"] = top.child(j).text(1)
            else:
                out[top.text(0)] = top.text(1)
        return out
