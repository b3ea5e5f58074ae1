"""A parameter file as a table, and the diff of two parameter sets (added, removed, reshaped, changed)."""

from __future__ import annotations

import logging
import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.inspect import human_bytes, shape_text
from studio.icons import icon

log = logging.getLogger(__name__)


DIFF_COLUMNS = ("Name", "Change", "Shape (this)", "Shape (other)", "Max |diff|", "Max rel diff")
#: Diff rows are grouped in this order (the Change column sorts by it).
CHANGE_ORDER = ("removed", "added", "changed shape", "values differ")


def _table(headers: list[str], parent: QWidget) -> QTableWidget:
    table = QTableWidget(0, len(headers), parent)
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    table.setWordWrap(False)  # a shape reads on one line: [64, 3, 7, 7]
    table.setTabKeyNavigation(False)
    table.setSortingEnabled(True)
    return table


class _NumberItem(QTableWidgetItem):
    """A cell shown as formatted text ("1,024") that sorts by the number in its UserRole."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(Qt.ItemDataRole.UserRole), other.data(Qt.ItemDataRole.UserRole)
        if mine is None or theirs is None:
            return super().__lt__(other)
        return float(mine) < float(theirs)


def _item(text: str, sort: float | None = None) -> QTableWidgetItem:
    if sort is None:
        return QTableWidgetItem(text)
    item = _NumberItem(text)
    item.setData(Qt.ItemDataRole.UserRole, float(sort))
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class ParamsView(QWidget):
    """Parameters of a parameter file; a diff against another set appears beside them.

    Signals:
        diff_requested(): the person asked to compare with another parameter file.
        param_selected(str): a row was selected (the parameter name).
    """

    diff_requested = Signal()
    param_selected = Signal(str)

    def __init__(self, document: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        summary = document.summary
        count = len(summary.parameters) if summary else len(document.model.params or ())
        self.header = QLabel(self)
        total = human_bytes(summary.param_bytes) if summary else ""
        self.header.setText(f"<b>{document.title}</b>: {count} tensors"
                            + (f", {summary.param_count:,} values, {total}" if summary else ""))
        self.diff_button = QPushButton(icon("diff"), "Diff with…", self)
        self.diff_button.setToolTip("Compare with another parameter file (added, removed, changed shape, max difference)")
        self.diff_button.clicked.connect(self.diff_requested)
        bar = QHBoxLayout()
        bar.addWidget(self.header, 1)
        bar.addWidget(self.diff_button)
        self.table = _table(["Name", "dtype", "Shape", "Size", "Bytes"], self)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.diff_title = QLabel(self)
        self.diff_table = _table(list(DIFF_COLUMNS), self)
        diff_box = QWidget(self)
        diff_layout = QVBoxLayout(diff_box)
        diff_layout.setContentsMargins(0, 0, 0, 0)
        diff_layout.addWidget(self.diff_title)
        diff_layout.addWidget(self.diff_table, 1)
        self.diff_box = diff_box
        diff_box.hide()
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.table)
        splitter.addWidget(diff_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        if summary is not None:
            self._fill(summary.parameters)

    def _fill(self, parameters: list[Any]) -> None:
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(parameters))
        for row, p in enumerate(parameters):
            self.table.setItem(row, 0, _item(p.name))
            self.table.setItem(row, 1, _item(p.dtype))
            self.table.setItem(row, 2, _item(shape_text(p.shape)))
            self.table.setItem(row, 3, _item(f"{p.size:,}", p.size))
            self.table.setItem(row, 4, _item(f"{p.nbytes:,}", p.nbytes))
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # A to Z by name, not Qt's default descending

    def _on_selection(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.param_selected.emit(self.table.item(rows[0].row(), 0).text())

    def show_diff(self, other_name: str, diff: Any) -> None:
        """Show an engine ParamDiff of this file (a) against ``other_name`` (b)."""
        rows: list[tuple[str, str, str, str, float | None, float | None]] = []
        rows += [(n, "removed", "", "", None, None) for n in diff.removed]
        rows += [(n, "added", "", "", None, None) for n in diff.added]
        rows += [(n, "changed shape", shape_text(a), shape_text(b), None, None) for n, a, b in diff.changed_shape]
        changed = {n: v for n, v in diff.max_abs_diff.items() if v != 0}
        same = len(diff.max_abs_diff) - len(changed)
        rel = getattr(diff, "max_rel_diff", {}) or {}
        rows += [(n, "values differ", "", "", v, rel.get(n))
                 for n, v in sorted(changed.items(), key=lambda kv: -kv[1])]
        self.diff_title.setText(
            f"<b>Diff with {other_name}</b>: {len(diff.added)} added, {len(diff.removed)} removed, "
            f"{len(diff.changed_shape)} changed shape, {len(changed)} with different values, {same} identical")
        colours = {"added": "#2e9e5b", "removed": "#d64545", "changed shape": "#c77c0e"}
        self.diff_table.setSortingEnabled(False)
        self.diff_table.setRowCount(len(rows))
        for r, (name, change, sa, sb, value, relative) in enumerate(rows):
            # The Change cell sorts by group, then by the size of the difference inside "values differ".
            order = CHANGE_ORDER.index(change) * 1e6 - (0.0 if value is None or math.isnan(value) else min(value, 1e5))
            cells = [_item(name), _item(change, order), _item(sa), _item(sb),
                     _item("" if value is None else f"{value:.6g}", -1.0 if value is None or math.isnan(value) else value),
                     _item("" if relative is None else ("inf" if math.isinf(relative) else f"{relative:.3g}"),
                           -1.0 if relative is None or math.isnan(relative) else min(relative, 1e300))]
            cells[1].setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            for c, cell in enumerate(cells):
                if change in colours and c == 1:
                    cell.setForeground(QColor(colours[change]))
                self.diff_table.setItem(r, c, cell)
        self.diff_table.setSortingEnabled(True)
        self.diff_table.sortByColumn(1, Qt.SortOrder.AscendingOrder)  # grouped: removed, added, reshaped, changed
        self.diff_box.show()
