"""The benchmark run history: saved runs with model, target, precision, threads, batch and inputs; tick to overlay."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.errors import describe
from studio.features import feature
from studio.workers import TaskRunner

log = logging.getLogger(__name__)

#: Saved runs listed in the table (newest first); older ones stay on disk.
HISTORY_LIMIT = 50
RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 1
MODEL_ROLE = Qt.ItemDataRole.UserRole + 2
COLUMNS = ("Run", "Model", "Target", "Precision", "Threads", "Batch", "Inputs", "Median ms", "N")


def _text(value: Any, none: str = "") -> str:
    return none if value is None else str(value)


def _shapes(shapes: dict) -> str:
    from engine.inputs import describe_shapes

    return describe_shapes(shapes or {})


class RunHistoryWidget(QWidget):
    """This session's runs and the saved ones, newest first, filtered to one model when asked.

    Signals:
        overlays_changed(object): ticked runs whose latencies are loaded, label -> ms array.
        message(str): a line for the owner's status (a saved run that cannot be read).
    """

    overlays_changed = Signal(object)
    message = Signal(str)

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.runs: dict[str, np.ndarray] = {}  # label -> latencies (ms), loaded on demand
        self.model_label = ""
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)  # run ids are long: elided, full in the tip
        header.resizeSection(0, 12 * self.fontMetrics().averageCharWidth() + 24)
        header.setStretchLastSection(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.horizontalHeaderItem(0).setToolTip("Tick a run to overlay its latencies on the plot")
        self.table.setWordWrap(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)
        self.table.itemChanged.connect(self._on_item)
        self.table.setMinimumHeight(3 * self.fontMetrics().height())  # shrinks before the statistics do
        self.filter = QCheckBox("this model only", self)
        self.filter.setChecked(True)
        self.filter.setToolTip("List only the runs of the active tab's model (ticked runs stay listed)")
        self.filter.toggled.connect(lambda _on: self.apply_filter())
        # The owner places the filter (e.g. as a tab corner widget), so the table keeps every row of height.
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)

    # Rows -----------------------------------------------------------------------
    def load(self) -> None:
        """List the saved runs (earlier sessions too) on a worker; rows appear newest first."""
        if not feature("bench"):
            return

        def work(job: Any) -> Any:
            from engine.bench import history

            return history.list_runs(limit=HISTORY_LIMIT)

        self.runner.start("bench-history", "List saved benchmark runs", work, on_result=self._on_listed,
                          on_error=lambda exc: log.warning("cannot list saved runs: %s", exc))

    def _on_listed(self, runs: list[Any]) -> None:
        known = {self.table.item(r, 0).data(RUN_ID_ROLE) for r in range(self.table.rowCount())}
        for summary in runs:  # newest first, after this session's runs
            if summary.run_id in known:
                continue
            median = "" if summary.median_ms is None else f"{summary.median_ms:.3f}"
            tip = f"{summary.model} on {summary.target}, started {summary.started_at} (saved run)"
            cells = (summary.model, summary.target, getattr(summary, "precision", "") or "",
                     _text(getattr(summary, "threads", None), "default"), _text(getattr(summary, "batch", None)),
                     getattr(summary, "inputs", "") or "", median, "")
            self._insert(summary.run_id, summary.run_id, cells, tip, at_end=True)
        self.apply_filter()

    def add(self, label: str, result: Any) -> None:
        """A run of this session (a BenchResult), first in the table."""
        self.runs[label] = np.asarray(result.latencies_ns, dtype=np.float64) / 1e6
        options = getattr(result, "options", None) or {}
        inputs = getattr(result, "inputs", None) or {}
        cells = (result.model, result.target, options.get("precision") or "", _text(options.get("threads"), "default"),
                 _text(getattr(result, "batch", None)), _shapes(inputs.get("shapes")),
                 f"{result.stats.median_ms:.3f}", str(result.iterations))
        self._insert(label, getattr(result, "run_id", None) or None, cells,
                     f"{result.model} on {result.target}, started {result.started_at}")
        self.apply_filter()

    def _insert(self, label: str, run_id: str | None, cells: tuple[str, ...], tip: str, *, at_end: bool = False) -> None:
        table = self.table
        table.blockSignals(True)
        row = table.rowCount() if at_end else 0
        table.insertRow(row)
        name = QTableWidgetItem(label)
        name.setFlags(name.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        name.setCheckState(Qt.CheckState.Unchecked)
        name.setToolTip(f"{label}\n{tip}")
        name.setData(RUN_ID_ROLE, run_id)
        name.setData(MODEL_ROLE, cells[0])
        table.setItem(row, 0, name)
        for col, value in enumerate(cells, start=1):
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            table.setItem(row, col, item)
        while table.rowCount() > HISTORY_LIMIT:
            dropped = table.item(table.rowCount() - 1, 0).text()
            self.runs.pop(dropped, None)
            table.removeRow(table.rowCount() - 1)
        table.blockSignals(False)

    def set_model(self, label: str) -> None:
        """The active model (``folder/file``); with the filter on, only its runs are listed."""
        self.model_label = label
        self.apply_filter()

    def apply_filter(self) -> None:
        only = self.filter.isChecked() and bool(self.model_label)
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            other = item.data(MODEL_ROLE) != self.model_label
            self.table.setRowHidden(row, only and other and item.checkState() != Qt.CheckState.Checked)

    def rows(self, *, visible_only: bool = True) -> list[list[str]]:
        """The table's text, row by row (hidden rows left out unless asked)."""
        table = self.table
        return [[table.item(r, c).text() for c in range(table.columnCount())]
                for r in range(table.rowCount()) if not (visible_only and table.isRowHidden(r))]

    # Overlays -------------------------------------------------------------------
    def _on_item(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        if item.checkState() == Qt.CheckState.Checked and item.text() not in self.runs and item.data(RUN_ID_ROLE):
            self._load_run(item.text(), str(item.data(RUN_ID_ROLE)))
            return
        self.update_overlays()

    def _load_run(self, label: str, run_id: str) -> None:
        """Read a saved run's latencies on a worker, then overlay it."""

        def work(job: Any) -> Any:
            from engine.bench import history
            from engine.errors import InputError

            try:
                record = history.load_run(run_id)
            except InputError:  # a sweep has no top-level stats; overlay its last point
                record = json.loads((history.runs_dir() / f"{run_id}.json").read_text())
                record = (record.get("runs") or [{}])[-1]
            return np.asarray(record.get("latencies_ms") or [], dtype=np.float64)

        def done(ms: np.ndarray) -> None:
            self.runs[label] = ms
            self.update_overlays()

        def failed(exc: BaseException) -> None:
            line = describe(exc, "Cannot load the run").one_line()
            log.error("%s", line)
            self.message.emit(line)

        self.runner.start(f"bench-history:{run_id}", f"Load run {run_id}", work, on_result=done, on_error=failed)

    def legend_name(self, row: int) -> str:
        """A short legend entry for a run: its time, target and median (``13:47:38 onnxruntime:cpu 3.41 ms``)."""
        label = self.table.item(row, 0).text()
        found = re.search(r"\d{8}-(\d{2})(\d{2})(\d{2})", label)
        when = ":".join(found.groups()) if found else label
        median = self.table.item(row, COLUMNS.index("Median ms")).text()
        target = self.table.item(row, COLUMNS.index("Target")).text()
        return f"{when} {target}" + (f" {median} ms" if median else "")

    def update_overlays(self) -> None:
        """Emit every ticked run whose latencies are loaded, by a short legend name, for the plot to overlay."""
        ticked: dict[str, np.ndarray] = {}
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item.checkState() == Qt.CheckState.Checked and item.text() in self.runs:
                name = self.legend_name(row)
                ticked[name if name not in ticked else f"{name} ({item.text()})"] = self.runs[item.text()]
        self.overlays_changed.emit(ticked)
