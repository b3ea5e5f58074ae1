"""One tab of the centre area: a model's graph (with source/canonical toggle and search) or a parameter table."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.document import Document, RuntimeNames, build_graph
from studio.errors import describe
from studio.features import feature
from studio.icons import icon
from studio.workers import TaskRunner

log = logging.getLogger(__name__)


class DocumentView(QWidget):
    """The graph of one document, or its parameter table for a parameter file.

    Signals:
        node_selected(str): a node was clicked in the graph or found by search.
        mode_changed(str): the graph shown is now "source" or "canonical".
        colors_applied(): the graph was coloured by runtime node names (a profile, parity errors).
    """

    node_selected = Signal(str)
    mode_changed = Signal(str)
    colors_applied = Signal()

    def __init__(self, document: Document, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        document.view = self  # type: ignore[attr-defined]
        self.runner = runner
        self.mode = document.default_mode
        self.matches: list[str] = []
        #: the values the graph is coloured by, keyed by node id, and their label ("µs per run").
        self.node_values: dict[str, float] = {}
        self.values_label = ""
        self.match_index = -1
        self.graph_view: Any = None
        self.params_view: Any = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        if document.is_graph:
            self.bar = self._make_bar()
            layout.addLayout(self.bar)
            self.stack = QStackedWidget(self)
            self.message = QLabel(self)
            self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.message.setWordWrap(True)
            self.stack.addWidget(self.message)
            layout.addWidget(self.stack, 1)
            self._make_graph_view()
            self.show_mode(self.mode)
        else:
            from studio.params_view import ParamsView

            self.params_view = ParamsView(document, self)
            layout.addWidget(self.params_view, 1)

    # Construction -------------------------------------------------------------
    def _make_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        self.source_button = QToolButton(self)
        self.source_button.setText("MindSpore graph" if self.document.model.source_format == "mindir" else "Source graph")
        self.source_button.setToolTip("The graph as the file has it: MindSpore op names and attributes")
        self.canonical_button = QToolButton(self)
        self.canonical_button.setText("ONNX graph")
        self.canonical_button.setToolTip("The canonical ONNX graph the file became")
        group = QButtonGroup(self)
        for button in (self.source_button, self.canonical_button):
            button.setCheckable(True)
            group.addButton(button)
            bar.addWidget(button)
        self.source_button.setEnabled(self.document.has_source_graph)
        if not self.document.has_source_graph:
            self.source_button.setToolTip("This file is already canonical ONNX; there is no other source graph")
        self.source_button.clicked.connect(lambda: self.show_mode("source"))
        self.canonical_button.clicked.connect(lambda: self.show_mode("canonical"))
        bar.addStretch(1)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Find node (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMaximumWidth(260)
        self.search.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.returnPressed.connect(lambda: self.find(self.search.text()))
        self.search.textChanged.connect(self._search_changed)
        self.match_label = QLabel("", self)
        self.match_label.setMinimumWidth(70)
        bar.addWidget(self.search)
        bar.addWidget(self.match_label)
        for name, tip, slot in (("zoom-out", "Zoom out (Ctrl+-)", lambda: self.zoom_by(1 / 1.25)),
                                ("zoom-in", "Zoom in (Ctrl++)", lambda: self.zoom_by(1.25)),
                                ("fit", "Fit to window (Ctrl+0)", self.fit)):
            button = QToolButton(self)
            button.setIcon(icon(name))
            button.setToolTip(tip)
            button.setAutoRaise(True)
            button.clicked.connect(slot)
            bar.addWidget(button)
        return bar

    def _make_graph_view(self) -> None:
        available = feature("graph_view")
        if not available:
            self.message.setText(f"Graph view unavailable: {available.reason}.")
            return
        from studio.graph_view import GraphView

        self.graph_view = GraphView(self, runner=self.runner)
        self.graph_view.node_selected.connect(self.node_selected)
        self.stack.addWidget(self.graph_view)
        from studio.graph_toolbar import GraphToolsWidget  # direction, minimap, export (graph_toolbar.py)

        self.graph_tools = GraphToolsWidget(self.graph_view, self, settings=getattr(self.parent(), "settings", None))
        self.bar.insertWidget(self.bar.count() - 3, self.graph_tools)  # before zoom out / in / fit

    # Graph --------------------------------------------------------------------
    @property
    def graph(self) -> Any:
        return self.document.graphs.get(self.mode)

    def show_mode(self, mode: str) -> None:
        """Show the source or canonical graph, laying it out on a worker the first time."""
        if mode == "source" and not self.document.has_source_graph:
            mode = "canonical"
        if mode != self.mode:
            self.node_values, self.values_label = {}, ""
        self.mode = mode
        self.source_button.setChecked(mode == "source")
        self.canonical_button.setChecked(mode == "canonical")
        self._clear_search()
        if mode in self.document.graphs:
            self._show_graph()
        elif mode in self.document.graph_errors:
            self._show_message(f"No {mode} graph: {self.document.graph_errors[mode]}")
        elif not feature("graph"):
            self._show_message(f"Graph unavailable: {feature('graph').reason}.")
        else:
            self._show_message(f"Laying out the {mode} graph…")
            model = self.document.model
            self.runner.start(f"graph:{self.document.path}", f"Lay out {self.document.title} ({mode})",
                              lambda job: build_graph(model, mode),
                              on_result=lambda graph, m=mode: self._on_graph(m, graph),
                              on_error=lambda exc, m=mode: self._on_graph_error(m, exc))
        self.mode_changed.emit(mode)

    def _on_graph(self, mode: str, graph: Any) -> None:
        self.document.graphs[mode] = graph
        if self.mode == mode:
            self._show_graph()
            self.mode_changed.emit(mode)

    def _on_graph_error(self, mode: str, exc: BaseException) -> None:
        self.document.graph_errors[mode] = describe(exc).one_line()
        if self.mode == mode:
            self._show_message(f"No {mode} graph: {self.document.graph_errors[mode]}")

    def _show_graph(self) -> None:
        if self.graph_view is None:
            return
        self.graph_view.set_graph(self.graph)  # fits when readable, else opens readable at the inputs
        self.stack.setCurrentWidget(self.graph_view)
        self._apply_colors()

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)

    # Search and navigation ----------------------------------------------------
    def focus_search(self) -> None:
        if self.document.is_graph:
            self.search.setFocus()
            self.search.selectAll()

    def _search_changed(self, text: str) -> None:
        self.matches, self.match_index = [], -1
        self.match_label.setText("")

    def _clear_search(self) -> None:
        if self.document.is_graph:
            self._search_changed("")

    def find(self, text: str) -> list[str]:
        """Find nodes matching ``text``; each call with the same text moves to the next match."""
        if self.graph_view is None or self.graph is None or not text.strip():
            return []
        if not self.matches or self.search.text() != text:
            if self.search.text() != text:
                self.search.blockSignals(True)
                self.search.setText(text)
                self.search.blockSignals(False)
            self.matches = list(self.graph_view.find(text))
            self.match_index = -1
        if not self.matches:
            self.match_label.setText("no match")
            return []
        self.match_index = (self.match_index + 1) % len(self.matches)
        self.select_node(self.matches[self.match_index])
        self.match_label.setText(f"{self.match_index + 1} of {len(self.matches)}")
        return self.matches

    def node_value(self, node_id: str) -> tuple[str, float] | None:
        """The (label, value) the graph is coloured by at ``node_id``, if any."""
        value = self.node_values.get(node_id)
        return None if value is None else (self.values_label, value)

    def select_node(self, node_id: str) -> None:
        if self.graph_view is not None and self.graph is not None and node_id in self.graph:
            self.graph_view.select_node(node_id)
            self.node_selected.emit(node_id)

    def selected_node(self) -> str | None:
        return self.graph_view.selected_node() if self.graph_view is not None else None

    def select_nodes(self, node_ids: list[str]) -> list[str]:
        """Select every node of ``node_ids`` that the graph shows (the first centred); returns those selected."""
        if self.graph_view is None or self.graph is None:
            return []
        present = [n for n in node_ids if n in self.graph]
        if not present:
            return []
        self.select_node(present[0])  # centres at a readable zoom and shows it in the properties
        for node_id in present[1:]:
            item = self.graph_view.items.get(node_id)
            if item is not None:
                item.setSelected(True)
        return present

    def selected_nodes(self) -> list[str]:
        """Ids of every selected node."""
        if self.graph_view is None:
            return []
        return [i.node_id for i in self.graph_view.scene().selectedItems() if hasattr(i, "node_id")]

    def fit(self) -> None:
        if self.graph_view is not None:
            self.graph_view.fit()

    def zoom_by(self, factor: float) -> None:
        if self.graph_view is not None:
            self.graph_view.zoom_by(factor)

    def color_by(self, values: dict[str, float] | None, label: str = "") -> None:
        if self.graph_view is not None:
            self.graph_view.color_by(values, label)

    def color_by_names(self, values: dict[str, float], label: str, select: str | None = None,
                       *, select_hottest: bool = False, op_types: dict[str, str] | None = None) -> None:
        """Colour nodes by a value keyed by canonical node name (profile times, parity errors).

        Runtimes see the canonical ONNX graph, so the view switches to it first. ``select`` names a
        node to select afterwards (the first divergent one); ``select_hottest`` selects the node
        with the largest value. The selected node is centred at a readable zoom. ``op_types`` (by
        runtime name) lets a fused node named after a tensor resolve to the right node
        (:class:`studio.document.RuntimeNames`).
        """
        self.pending_colors = (values, label, select, select_hottest, op_types)
        if self.mode != "canonical":
            self.show_mode("canonical")  # applies the colours once laid out
        elif self.graph is not None:
            self._apply_colors()

    def _apply_colors(self) -> None:
        pending = getattr(self, "pending_colors", None)
        graph = self.graph
        if not pending or graph is None or self.graph_view is None:
            return
        values, label, select, select_hottest, op_types = pending
        by_name = {n.name: n.id for n in graph.nodes}
        names = RuntimeNames(graph)
        mapped = names.match(values, op_types)
        ids = {by_name[k]: v for k, v in mapped.items()}
        self.node_values, self.values_label = ids, label
        self.graph_view.color_by(ids or None, label)
        target = None
        if select:
            name = names.resolve(select, (op_types or {}).get(select))
            target = by_name.get(name) if name else (select if select in graph else None)
        elif select_hottest and ids:
            target = max(ids, key=ids.__getitem__)
        if target:
            self.select_node(target)
        self.pending_colors = None
        self.colors_applied.emit()

    def display_names(self, op_types: dict[str, str]) -> dict[str, str]:
        """The name a person reads (``layer1.0.conv1``) for each runtime node name (keys of ``op_types``,
        runtime name -> op type) that resolves to a node of the canonical graph with such a name;
        empty until that graph is laid out."""
        graph = self.document.graphs.get("canonical")
        if graph is None:
            return {}
        names = RuntimeNames(graph)
        out = {}
        for raw, op_type in op_types.items():
            name = names.resolve(raw, op_type)
            readable = names.nodes[name].display_name if name is not None else ""
            if readable and readable != raw:
                out[raw] = readable
        return out
