"""The benchmark panel's results column: whose run it is, every statistic at once, warnings, and detail tabs.

The tabs are the run history, the per-layer profile and the sweep table.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.profile_table import ProfileTableWidget
from studio.run_history import RunHistoryWidget
from studio.workers import TaskRunner

log = logging.getLogger(__name__)

#: name/value column pairs of the statistics table (12 statistics: 4 rows).
STAT_PAIRS = 3
SWEEP_COLUMNS = ("Threads", "Batch", "Median ms", "p90 ms", "p99 ms", "CV", "Throughput /s")
EXTRA_STATS = ("throughput", "iterations", "cv", "first run")
STAT_ROWS = (("min", "min_ms"), ("mean", "mean_ms"), ("median", "median_ms"), ("p90", "p90_ms"),
             ("p95", "p95_ms"), ("p99", "p99_ms"), ("max", "max_ms"), ("std", "std_ms"))


def format_ms(ms: float) -> str:
    """``14.2031 ms``; ``n/a`` for NaN (a first run that was not measured)."""
    return "n/a" if ms != ms else f"{ms:.4f} ms"


class BenchResultsWidget(QWidget):
    """Title, statistics (two name/value pairs, never scrolled), warnings, and History/Profile/Sweep tabs."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel(self)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Every statistic visible at once: three name/value column pairs, rows sized to the text, no scrolling.
        names = [r[0] for r in STAT_ROWS] + list(EXTRA_STATS)
        rows = -(-len(names) // STAT_PAIRS)
        self.stats = QTableWidget(rows, 2 * STAT_PAIRS, self)
        self.stats.setHorizontalHeaderLabels(["Statistic", "Value"] * STAT_PAIRS)
        self.stats.verticalHeader().hide()
        self.stats.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for col in range(1, 2 * STAT_PAIRS, 2):  # values take the spare width, names stay as wide as they are
            self.stats.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        self.stats.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.stats.setTabKeyNavigation(False)  # Tab leaves the table instead of walking its cells
        self.stats.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.stats.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.stats.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self._cells: dict[str, tuple[int, int]] = {}
        for i, name in enumerate(names):
            row, col = i % rows, 2 * (i // rows)
            self.stats.setItem(row, col, QTableWidgetItem(name))
            self.stats.setItem(row, col + 1, QTableWidgetItem(""))
            self._cells[name] = (row, col + 1)
        self.stats.setFixedHeight(self.stats.horizontalHeader().sizeHint().height()
                                  + rows * self.stats.verticalHeader().defaultSectionSize() + 2 * self.stats.frameWidth())
        self.warnings = QLabel(self)
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #c77c0e")
        self.history_box = RunHistoryWidget(runner, self)
        self.profile_table = ProfileTableWidget(self)
        self.sweep_table = QTableWidget(0, len(SWEEP_COLUMNS), self)
        self.sweep_table.setHorizontalHeaderLabels(list(SWEEP_COLUMNS))
        self.sweep_table.verticalHeader().hide()
        self.sweep_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.sweep_table.setTabKeyNavigation(False)
        self.sweep_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for table in (self.history_box.table, self.profile_table, self.sweep_table):
            table.setMinimumHeight(2 * self.fontMetrics().height())  # tables shrink before the statistics do
        self.details = QTabWidget(self)
        self.details.setDocumentMode(True)
        # The tabs take what is left: their size hint must not make the column taller than the dock
        # (the column scrolls only when the dock is shorter than title + statistics + a few rows).
        self.details.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.details.setMinimumHeight(5 * self.fontMetrics().height())
        self.details.addTab(self.history_box, "History")
        self.details.addTab(self.profile_table, "Per-layer profile")
        self.details.addTab(self.sweep_table, "Sweep")
        self.details.setCornerWidget(self.history_box.filter, Qt.Corner.TopRightCorner)
        self.details.currentChanged.connect(lambda i: self.history_box.filter.setVisible(i == 0))
        layout.addWidget(self.title)
        layout.addWidget(self.stats)
        layout.addWidget(self.warnings)
        layout.addWidget(self.details, 1)

    def show_result(self, result: Any, title: str) -> None:
        """Statistics, warnings, title and per-layer table of one run (a BenchResult)."""
        profile = result.profile if not isinstance(result.profile, dict) else None  # saved runs keep a dict
        self.profile_table.set_profile(profile)
        if profile is not None:
            self.details.setCurrentWidget(self.profile_table)
        s = result.stats
        values = {name: format_ms(getattr(s, attr)) for name, attr in STAT_ROWS}
        values.update({"throughput": f"{result.throughput_per_s:,.1f} /s", "iterations": f"{result.iterations:,}",
                       "cv": f"{s.cv:.3f}", "first run": format_ms(getattr(result, "first_inference_ms", float("nan")))})
        for name, value in values.items():
            self.stats.item(*self._cells[name]).setText(value)
        self.warnings.setText("\n".join(f"⚠ {w}" for w in result.warnings))
        self.title.setText(title)

    def clear(self, *, tables: bool = True) -> None:
        """Empty the statistics and warnings (and the profile and sweep tables)."""
        for cell in self._cells.values():
            self.stats.item(*cell).setText("")
        self.warnings.setText("")
        if tables:
            self.profile_table.set_profile(None)
            self.sweep_table.setRowCount(0)

    def stat_values(self) -> dict[str, str]:
        return {name: self.stats.item(*cell).text() for name, cell in self._cells.items()}

    def fill_sweep(self, points: list[Any]) -> None:
        """One row per finished sweep point."""
        self.sweep_table.setRowCount(len(points))
        for row, p in enumerate(points):
            st = p.result.stats
            cells = (str(p.threads or "default"), str(p.batch), f"{st.median_ms:.4g}", f"{st.p90_ms:.4g}",
                     f"{st.p99_ms:.4g}", f"{st.cv:.1%}", f"{p.result.throughput_per_s:,.1f}")
            for col, text in enumerate(cells):
                self.sweep_table.setItem(row, col, QTableWidgetItem(text))
