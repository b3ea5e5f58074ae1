"""The per-layer profile table: one row per node (or op type), sortable by time; picking a row selects the node."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

COLUMNS = ("Node", "Op type", "µs per run", "% of time", "Calls")


class _NumberItem(QTableWidgetItem):
    """Sorts by its number, not its text (``9.5`` before ``10.2``)."""

    def __init__(self, value: float, text: str) -> None:
        super().__init__(text)
        self.setData(Qt.ItemDataRole.UserRole, float(value))
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(Qt.ItemDataRole.UserRole), other.data(Qt.ItemDataRole.UserRole)
        if mine is None or theirs is None:
            return super().__lt__(other)
        return float(mine) < float(theirs)


class ProfileTableWidget(QTableWidget):
    """Shows an engine ``ProfileResult``; the slowest node first, any column sortable.

    Signals:
        node_chosen(str): the runtime name of the node on the clicked row.
    """

    node_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.verticalHeader().hide()
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.setTabKeyNavigation(False)
        header = self.horizontalHeader()
        # Fitted once per profile (set_profile): ResizeToContents measured every row again on each
        # layout change of the panel around it.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.cellClicked.connect(lambda row, _col: self._choose(row))
        self.profile: Any = None

    def set_profile(self, profile: Any) -> None:
        """Fill from a ProfileResult (None: empty); times are per profiled run."""
        self.profile = profile
        self.setSortingEnabled(False)
        nodes = list(profile.by_node) if profile is not None else []
        nodes.sort(key=lambda o: -o.total_us)  # already in the shown order: sorting it costs few comparisons
        runs = max(getattr(profile, "iterations", 1) or 1, 1)
        self.setRowCount(len(nodes))
        for row, o in enumerate(nodes):
            per_run = o.total_us / runs
            name = QTableWidgetItem(o.name)
            name.setData(Qt.ItemDataRole.UserRole, o.name)  # the runtime's name: what node_chosen emits
            name.setToolTip(o.name)
            self.setItem(row, 0, name)
            self.setItem(row, 1, QTableWidgetItem(o.op_type))
            self.setItem(row, 2, _NumberItem(per_run, f"{per_run:,.1f}"))
            self.setItem(row, 3, _NumberItem(o.percent, f"{o.percent:.1f}"))
            self.setItem(row, 4, _NumberItem(o.calls, f"{o.calls:,}"))
        self.setSortingEnabled(True)
        self.sortByColumn(2, Qt.SortOrder.DescendingOrder)
        for column in range(1, self.columnCount()):
            self.resizeColumnToContents(column)

    def relabel(self, names: dict[str, str]) -> None:
        """Show each node under the name a person reads (``names``: runtime name -> graph name);
        the runtime's own name stays in the tooltip and is what a click selects by."""
        for row in range(self.rowCount()):
            item = self.item(row, 0)
            raw = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
            if raw in names:
                item.setText(names[raw])
                item.setToolTip(f"{names[raw]}\nONNX Runtime's name: {raw}")

    def rows(self) -> list[list[str]]:
        return [[self.item(r, c).text() for c in range(self.columnCount())] for r in range(self.rowCount())]

    def _choose(self, row: int) -> None:
        item = self.item(row, 0)
        if item is not None:
            self.node_chosen.emit(item.data(Qt.ItemDataRole.UserRole) or item.text())
