"""The outline dock: a filterable tree over :class:`studio.outline_model.OutlineModel`."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import QHeaderView, QLabel, QLineEdit, QTreeView, QVBoxLayout, QWidget

from studio.outline_model import KIND_ROLE, PAYLOAD_ROLE, OutlineModel

log = logging.getLogger(__name__)


class OutlineView(QWidget):
    """Shows one document's outline; emits what the person selects.

    Signals:
        item_selected(kind, payload): kind is "input", "output", "param", "op", "node",
            "meta" or "total"; payload is the engine object (TensorInfo, ParamInfo, node id...).
    """

    item_selected = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = OutlineModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter outline")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._on_filter)
        self.tree = QTreeView(self)
        self.tree.setModel(self.proxy)
        self.tree.setUniformRowHeights(True)
        self.tree.setIndentation(12)  # node rows sit three levels deep: the default 20 px each went from their names
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        # Widths are fitted once per outline (and on a change of width), never by ResizeToContents:
        # that mode measures every visible row through the Python model on each layout change,
        # 10-15 ms whenever a dock beside it opens or a profile colours the rows.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 170)
        self._content_widths: list[int] = []
        self._fitted_width = -1
        # Long names keep both ends ("layer4.1...conv2"): the tail is what tells nodes apart.
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.viewport().installEventFilter(self)
        self.tree.expanded.connect(self._on_expanded)
        self.tree.selectionModel().currentChanged.connect(self._on_current)
        self.placeholder = QLabel("Open a model (Ctrl+O) or drop one on the window.", self)
        self.placeholder.setWordWrap(True)
        self.placeholder.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.filter)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.tree, 1)
        self.set_summary(None)

    def set_summary(self, summary: Any, graph: Any = None, mode: str = "canonical", note: str = "") -> None:
        """Show ``summary`` (None clears, ``note`` says why there is nothing)."""
        self.model.set_summary(summary, graph, mode)
        self.tree.setVisible(summary is not None)
        self.placeholder.setVisible(summary is None)
        if note:
            self.placeholder.setText(note)
        elif summary is None:
            self.placeholder.setText("Open a model (Ctrl+O) or drop one on the window.")
        self._expand_default()
        self._span_sections()
        self._content_widths = []
        self._fit_columns()

    def _span_sections(self) -> None:
        """Section rows ("Parameters (262) · 834,324 values") span the whole width: the Name column
        can then stay narrow enough for Type, Shape and Size to be in view without cutting them."""
        root = QModelIndex()
        for row in range(self.proxy.rowCount(root)):
            kind = self.proxy.index(row, 0, root).data(KIND_ROLE)
            self.tree.setFirstColumnSpanned(row, root, kind == "section")

    def _expand_default(self) -> None:
        self.tree.blockSignals(True)  # the caller fits the columns once afterwards
        try:
            for key in ("inputs", "outputs", "nodes"):
                index = self.model.section(key)
                if index.isValid():
                    self.tree.expand(self.proxy.mapFromSource(index))
        finally:
            self.tree.blockSignals(False)

    def _on_filter(self, text: str) -> None:
        """Filter rows; every match is shown expanded (a node under its collapsed op group is a match too)."""
        self.proxy.setFilterFixedString(text)
        if text.strip():
            self.tree.blockSignals(True)  # fitted once below, not once per expanded row
            self.tree.expandAll()
            self.tree.blockSignals(False)
        else:
            self.tree.collapseAll()
            self._expand_default()
        self._span_sections()  # the sections left are on other rows now
        self._content_widths = []  # other rows are in view now
        self._fit_columns()

    def _fit_columns(self, *, force: bool = True) -> None:
        """Every column in view at the tree's width: Type and Size get what their values need; Name
        up to half the width (at least 120 px); Shape what is left (at least 60 px); whatever is
        still left goes back to Name. Long names and shapes are elided in the middle."""
        width = self.tree.viewport().width()
        if not force and width == self._fitted_width:
            return  # only the height changed (a dock below opened): nothing to fit
        self._fitted_width = width
        widths = self._content_widths
        if not widths:  # measured once per outline (the rows in view, through the model), once it is shown
            widths = [max(self.tree.sizeHintForColumn(c), self.tree.header().sectionSizeHint(c)) + 8 for c in range(4)]
            if self.tree.isVisible():
                self._content_widths = widths
        name_wanted, type_width, shape_wanted, size_width = widths
        name = min(name_wanted, max(120, width // 2))
        shape = min(shape_wanted, max(60, width - type_width - size_width - name))
        name = max(name, min(name_wanted, width - type_width - size_width - shape))
        for column, value in enumerate((name, type_width, shape, size_width)):
            self.tree.setColumnWidth(column, value)

    def _on_expanded(self, _index: QModelIndex) -> None:
        """Rows came into view (a group opened, a node was revealed): measure the names again."""
        self._content_widths = []
        self._fit_columns()

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 - Qt override
        if watched is self.tree.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_columns(force=False)  # the dock's width, or a scroll bar coming or going
        return super().eventFilter(watched, event)

    def select_node(self, node_id: str) -> None:
        """Follow a graph selection: reveal and select the node's row without re-emitting."""
        index = self.proxy.mapFromSource(self.model.find_node(node_id))
        if not index.isValid():
            return
        opens = not self.tree.isExpanded(index.parent())  # revealing it opens its group
        self.tree.blockSignals(True)
        self.tree.selectionModel().blockSignals(True)
        self.tree.setCurrentIndex(index)
        self.tree.scrollTo(index)
        self.tree.selectionModel().blockSignals(False)
        self.tree.blockSignals(False)
        if opens:
            self._on_expanded(index)  # new rows in view (no expanded signal: signals were blocked)

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        kind = current.data(KIND_ROLE)
        if kind and kind != "section":
            self.item_selected.emit(kind, current.data(PAYLOAD_ROLE))
