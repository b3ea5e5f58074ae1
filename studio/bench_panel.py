"""The benchmark panel: options, a live latency plot, statistics, sweeps, run history and exports."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.errors import describe
from studio.features import feature
from studio.icons import icon
from studio.latency_plot import LatencyBuffer, LatencyPlot

if TYPE_CHECKING:
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)

#: Time ONNX Runtime and reference targets in a worker process (engine.bench.subprocess_runner), so the
#: timed loop's Python never competes with the live plot's painting for this interpreter's GIL (a fast
#: model otherwise stalls the window by 50-120 ms). Set DSTUDIO_BENCH_IN_PROCESS=1, or this to False,
#: to time in the studio's own process when debugging.
RUN_IN_SUBPROCESS = os.environ.get("DSTUDIO_BENCH_IN_PROCESS", "") != "1"

#: Saved runs listed in the history table (newest first); older ones stay on disk.
HISTORY_LIMIT = 50
RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 1

STAT_ROWS = (("min", "min_ms"), ("mean", "mean_ms"), ("median", "median_ms"), ("p90", "p90_ms"),
             ("p95", "p95_ms"), ("p99", "p99_ms"), ("max", "max_ms"), ("std", "std_ms"))


def _parse_values(text: str) -> list[int]:
    values = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if part:
            values.append(int(part))
    if not values or any(v < 1 for v in values):
        raise ValueError("give positive whole numbers separated by commas, e.g. 1, 2, 4")
    return values


class BenchPanel(QWidget):
    """Times the current model on the chosen target; latencies stream into the plot.

    Signals:
        run_finished(object): a BenchResult or SweepResult (GUI thread).
        point_added(object): one finished sweep point (emitted from the worker, queued).
    """

    run_finished = Signal(object)
    point_added = Signal(object)

    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.document: Any = None
        self.result: Any = None
        self.runs: dict[str, np.ndarray] = {}  # history label -> latencies (ms), loaded on demand
        self.buffer: LatencyBuffer | None = None
        self._sweep_points: list[Any] = []
        self.point_added.connect(self._on_point)
        self.plot = LatencyPlot(self)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self._make_form())
        splitter.addWidget(self.plot)
        splitter.addWidget(self._make_tables())
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([260, 700, 330])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)
        self.set_document(None)
        self.load_history()

    # Construction -------------------------------------------------------------
    def _make_form(self) -> QWidget:
        box = QWidget(self)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.warmup = QSpinBox(box)
        self.warmup.setRange(0, 100_000)
        self.warmup.setValue(10)
        self.stop_by = QComboBox(box)
        self.stop_by.addItems(["iterations", "duration"])
        self.iterations = QSpinBox(box)
        self.iterations.setRange(1, 10_000_000)
        self.iterations.setValue(200)
        self.duration = QDoubleSpinBox(box)
        self.duration.setRange(0.1, 3600)
        self.duration.setValue(5.0)
        self.duration.setSuffix(" s")
        self.stop_by.currentTextChanged.connect(self._on_stop_by)
        self.threads = QSpinBox(box)  # mirrors the toolbar's threads
        self.threads.setRange(0, self.window.targets.threads.maximum())
        self.threads.setSpecialValueText("auto")
        self.threads.valueChanged.connect(self.window.targets.threads.setValue)
        self.window.targets.threads.valueChanged.connect(self.threads.setValue)
        self.threads.setValue(self.window.targets.threads.value())
        self.batch = QSpinBox(box)
        self.batch.setRange(0, 4096)
        self.batch.setSpecialValueText("model's")
        self.batch.setToolTip("Batch size for dynamic batch dimensions (model's: as the model states)")
        self.profile = QCheckBox("per-node profile", box)
        self.profile.setToolTip("Collect per-node times and colour the graph by them (ONNX Runtime)")
        self.sweep = QComboBox(box)
        self.sweep.addItems(["no sweep", "threads", "batch"])
        self.sweep_values = QLineEdit("1, 2, 4", box)
        self.sweep_values.setToolTip("Values to sweep, separated by commas")
        self.sweep.currentTextChanged.connect(lambda t: self.sweep_values.setEnabled(t != "no sweep"))
        self.sweep_values.setEnabled(False)
        for label, widget in (("Warm-up", self.warmup), ("Stop after", self.stop_by), ("Iterations", self.iterations),
                              ("Duration", self.duration), ("Threads", self.threads), ("Batch", self.batch),
                              ("", self.profile), ("Sweep", self.sweep), ("Values", self.sweep_values)):
            form.addRow(label, widget)
        self._on_stop_by("iterations")
        self.run_button = QPushButton(icon("run"), "Run", box)
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton(icon("cancel"), "Cancel", box)
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        form.addRow(row)
        self.report_button = QPushButton(icon("save"), "Export report…", box)
        self.report_button.setToolTip("Write report.html, result.json and latencies.csv into a folder")
        self.report_button.clicked.connect(lambda: self.export_report())
        self.png_button = QPushButton(icon("save"), "Save plot…", box)
        self.png_button.clicked.connect(lambda: self.save_plot())
        row2 = QHBoxLayout()
        row2.addWidget(self.report_button)
        row2.addWidget(self.png_button)
        form.addRow(row2)
        self.status = QLabel(box)
        self.status.setWordWrap(True)
        form.addRow(self.status)
        return box

    def _make_tables(self) -> QWidget:
        box = QWidget(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.stats = QTableWidget(len(STAT_ROWS) + 3, 2, box)
        self.stats.setHorizontalHeaderLabels(["Statistic", "Value"])
        self.stats.verticalHeader().hide()
        self.stats.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.stats.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, name in enumerate([r[0] for r in STAT_ROWS] + ["throughput", "iterations", "cv"]):
            self.stats.setItem(row, 0, QTableWidgetItem(name))
            self.stats.setItem(row, 1, QTableWidgetItem(""))
        self.warnings = QLabel(box)
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #c77c0e")
        self.history = QTableWidget(0, 4, box)
        self.history.setHorizontalHeaderLabels(["Run (tick to overlay)", "Target", "Median ms", "N"])
        self.history.verticalHeader().hide()
        self.history.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.history.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.history.itemChanged.connect(self._on_history_item)
        layout.addWidget(self.stats, 3)
        layout.addWidget(self.warnings)
        layout.addWidget(QLabel("History", box))
        layout.addWidget(self.history, 2)
        return box

    def _on_stop_by(self, text: str) -> None:
        self.iterations.setEnabled(text == "iterations")
        self.duration.setEnabled(text == "duration")

    # State --------------------------------------------------------------------
    def set_document(self, document: Any) -> None:
        self.document = document
        if not self._update_enabled() and not self._task_running():
            self.status.setText(f"Ready to time {document.title}.")

    def _update_enabled(self) -> str:
        reason = ""
        if not feature("bench"):
            reason = feature("bench").reason
        elif self.document is None or not self.document.is_graph:
            reason = "open a model to benchmark"
        running = self._task_running()
        self.run_button.setEnabled(not reason and not running)
        self.run_button.setToolTip(reason or "Run the benchmark (Ctrl+B)")
        self.cancel_button.setEnabled(running)
        self.report_button.setEnabled(self.result is not None)
        self.png_button.setEnabled(self.plot.point_count() > 0)
        if reason and not running:
            self.status.setText(reason)
        return reason

    def _task_running(self) -> bool:
        task = self.window.runner.current("bench")
        return task is not None and task.state == "running"

    # Running ------------------------------------------------------------------
    def run(self) -> None:
        """Start a benchmark (or sweep) of the current document on the chosen target."""
        self._update_enabled()
        if not self.run_button.isEnabled() and not self._task_running():
            return
        target = self.window.targets.current_target()
        if not target:
            self.status.setText("No available target; see the target chooser's tooltip.")
            return
        try:
            sweep_values = _parse_values(self.sweep_values.text()) if self.sweep.currentText() != "no sweep" else []
        except ValueError as exc:
            self.status.setText(f"Sweep values: {exc}")
            return
        model = self.document.model
        options = self.window.targets.target_options(profile=self.profile.isChecked())
        by_duration = self.stop_by.currentText() == "duration"
        kwargs = dict(warmup=self.warmup.value(), iterations=None if by_duration else self.iterations.value(),
                      duration_s=self.duration.value() if by_duration else None)
        batch = self.batch.value() or None
        self.buffer = buffer = LatencyBuffer(kwargs["iterations"] or 4096)
        self._sweep_points = []
        self.plot.hide_sweep()
        self.plot.start(buffer, f"{self.document.title} on {target}", expected=kwargs["iterations"])
        sweep_kind = self.sweep.currentText()

        def on_iteration(index: int, latency_ns: int) -> None:
            if index == 0 and buffer.count:
                buffer.reset()  # a sweep starts a new point
            buffer.append(index, latency_ns)

        def work(job: Any) -> Any:
            from engine.bench import benchmark, benchmark_in_subprocess, history

            runner = benchmark_in_subprocess if RUN_IN_SUBPROCESS else benchmark  # mindspore: its own worker
            if sweep_kind == "no sweep":
                result = runner(model, target, options=options, batch=batch, job=job,
                                on_iteration=on_iteration, **kwargs)
            else:
                from engine.bench.sweep import sweep

                if sweep_kind == "threads":
                    axes = {"threads": sweep_values, "batches": [batch]}
                else:
                    axes = {"threads": [options.threads], "batches": sweep_values}
                result = sweep(model, target, options=options, job=job, on_point=self.point_added.emit,
                               on_iteration=on_iteration, runner=runner, **axes, **kwargs)
            try:
                result.run_id = history.save_run(result.to_dict())
            except OSError as exc:  # history is a convenience; the run itself succeeded
                log.warning("could not save the run to the history: %s", exc)
            return result

        self.status.setText(f"Running on {target}…")
        self.window.runner.start("bench", f"Benchmark {self.document.title} on {target}", work,
                                 on_result=self._on_result, on_error=self._on_error, on_cancel=self._on_cancel)
        self._update_enabled()

    def cancel(self) -> None:
        task = self.window.runner.current("bench")
        if task is not None:
            task.cancel()

    def shutdown(self) -> None:
        self.cancel()
        self.plot.stop()

    def _on_point(self, point: Any) -> None:
        self._sweep_points.append(point)
        self._draw_sweep()

    def _draw_sweep(self) -> None:
        points = self._sweep_points
        if not points:
            return
        kind = "threads" if self.sweep.currentText() == "threads" else "batch"
        xs = [float(getattr(p, kind) or 0) for p in points]
        self.plot.show_sweep(kind, xs, [p.result.stats.median_ms for p in points],
                             [p.result.stats.p90_ms for p in points])

    def _on_result(self, result: Any) -> None:
        self.plot.stop()
        self.result = result
        runs = [p.result for p in result.points] if hasattr(result, "points") else [result]
        if hasattr(result, "points"):
            self._sweep_points = list(result.points)
            self._draw_sweep()
        last = runs[-1]
        self.show_stats(last)
        self.add_history(result.run_id or f"run {self.history.rowCount() + 1}", last)
        self.status.setText(f"{last.iterations} iterations on {last.target}: median {last.stats.median_ms:.3f} ms")
        if last.profile is not None and self.window.current_view() is not None:
            per_node = {o.name: o.total_us / max(last.profile.iterations, 1) for o in last.profile.by_node}
            # Select and centre the hottest node at a readable zoom; fitting a long graph shows specks.
            self.window.current_view().color_by_names(per_node, "µs per run", select_hottest=True)
        self._update_enabled()
        self.run_finished.emit(result)

    def _on_error(self, exc: BaseException) -> None:
        self.plot.stop()
        text = describe(exc, "Benchmark failed")
        self.status.setText(text.one_line())
        self._update_enabled()

    def _on_cancel(self) -> None:
        self.plot.stop()
        self.status.setText(f"Cancelled after {self.plot.point_count()} iterations.")
        self._update_enabled()

    def show_stats(self, result: Any) -> None:
        s = result.stats
        values = [f"{getattr(s, attr):.4f} ms" for _, attr in STAT_ROWS]
        values += [f"{result.throughput_per_s:,.1f} /s", f"{result.iterations:,}", f"{s.cv:.3f}"]
        for row, value in enumerate(values):
            self.stats.item(row, 1).setText(value)
        self.warnings.setText("\n".join(f"⚠ {w}" for w in result.warnings))

    def stat_values(self) -> dict[str, str]:
        return {self.stats.item(r, 0).text(): self.stats.item(r, 1).text() for r in range(self.stats.rowCount())}

    # History ------------------------------------------------------------------
    def load_history(self) -> None:
        """List the saved runs (earlier sessions too) on a worker; rows appear newest first."""
        if not feature("bench"):
            return

        def work(job: Any) -> Any:
            from engine.bench import history

            return history.list_runs(limit=HISTORY_LIMIT)

        self.window.runner.start("bench-history", "List saved benchmark runs", work, on_result=self._on_history_listed,
                                 on_error=lambda exc: log.warning("cannot list saved runs: %s", exc))

    def _on_history_listed(self, runs: list[Any]) -> None:
        known = {self.history.item(r, 0).data(RUN_ID_ROLE) for r in range(self.history.rowCount())}
        for summary in runs:  # newest first, after this session's runs
            if summary.run_id in known:
                continue
            median = "" if summary.median_ms is None else f"{summary.median_ms:.3f}"
            tip = f"{summary.model} on {summary.target}, started {summary.started_at} (saved run)"
            self._insert_history_row(summary.run_id, summary.run_id, summary.target, median, "", tip, at_end=True)

    def _insert_history_row(self, label: str, run_id: str | None, target: str, median: str, count: str,
                            tip: str, *, at_end: bool = False) -> None:
        self.history.blockSignals(True)
        row = self.history.rowCount() if at_end else 0
        self.history.insertRow(row)
        name = QTableWidgetItem(label)
        name.setFlags(name.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        name.setCheckState(Qt.CheckState.Unchecked)
        name.setToolTip(tip)
        name.setData(RUN_ID_ROLE, run_id)
        self.history.setItem(row, 0, name)
        self.history.setItem(row, 1, QTableWidgetItem(target))
        self.history.setItem(row, 2, QTableWidgetItem(median))
        self.history.setItem(row, 3, QTableWidgetItem(count))
        while self.history.rowCount() > HISTORY_LIMIT:
            dropped = self.history.item(self.history.rowCount() - 1, 0).text()
            self.runs.pop(dropped, None)
            self.history.removeRow(self.history.rowCount() - 1)
        self.history.blockSignals(False)

    def add_history(self, label: str, result: Any) -> None:
        self.runs[label] = np.asarray(result.latencies_ns, dtype=np.float64) / 1e6
        self._insert_history_row(label, getattr(result, "run_id", None) or None, result.target,
                                 f"{result.stats.median_ms:.3f}", str(result.iterations),
                                 f"{result.model} on {result.target}, started {result.started_at}")

    def _on_history_item(self, item: QTableWidgetItem) -> None:
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

        self.window.runner.start(f"bench-history:{run_id}", f"Load run {run_id}", work, on_result=done,
                                 on_error=lambda exc: self.status.setText(describe(exc, "Cannot load the run").one_line()))

    def update_overlays(self) -> None:
        """Overlay every ticked history run whose latencies are loaded on the latency plot."""
        ticked = {}
        for row in range(self.history.rowCount()):
            item = self.history.item(row, 0)
            if item.checkState() == Qt.CheckState.Checked and item.text() in self.runs:
                ticked[item.text()] = self.runs[item.text()]
        self.plot.set_overlays(ticked)

    # Exports ------------------------------------------------------------------
    def export_report(self, folder: str | Path | None = None) -> None:
        """Write the engine's report (HTML, JSON, CSV) for the last result into ``folder``."""
        if self.result is None:
            return
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Export benchmark report to folder",
                                                      self.window.settings.last_folder())
            if not folder:
                return
        result = self.result

        def work(job: Any) -> Any:
            from engine.bench.report import write_report

            return write_report(folder, result)

        self.window.runner.start("bench-report", f"Write report to {Path(folder).name}", work,
                                 on_result=lambda paths: self.status.setText(
                                     "Report written: " + ", ".join(str(p) for p in paths.values())),
                                 on_error=lambda exc: self.status.setText(describe(exc, "Report failed").one_line()))

    def save_plot(self, path: str | Path | None = None) -> bool:
        """Save the latency plots as a PNG."""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save plot", "latency.png", "PNG image (*.png)")
            if not path:
                return False
        ok = self.plot.save_png(str(path))
        self.status.setText(f"Plot saved to {path}" if ok else f"Could not write {path}")
        return ok
