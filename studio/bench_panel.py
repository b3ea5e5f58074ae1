"""The benchmark panel: options, a live latency plot, statistics, sweeps, run history and exports."""

from __future__ import annotations

import html
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
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.errors import describe
from studio.features import feature
from studio.icons import icon
from studio.latency_plot import LatencyBuffer, LatencyPlot
from studio.workers import in_turns
from studio.bench_results import BenchResultsWidget
from studio.run_history import HISTORY_LIMIT  # noqa: F401 - re-exported: the panel's history limit

if TYPE_CHECKING:
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)

#: Time ONNX Runtime and reference targets in a worker process (engine.bench.subprocess_runner), so the
#: timed loop's Python never competes with the live plot's painting for this interpreter's GIL (a fast
#: model otherwise stalls the window by 50-120 ms). Set DSTUDIO_BENCH_IN_PROCESS=1, or this to False,
#: to time in the studio's own process when debugging.
RUN_IN_SUBPROCESS = os.environ.get("DSTUDIO_BENCH_IN_PROCESS", "") != "1"




def _per_node(profile: Any) -> tuple[dict[str, float], dict[str, str]]:
    """A profile's µs per run and op type, each by the runtime's node name."""
    runs = max(profile.iterations, 1)
    return ({o.name: o.total_us / runs for o in profile.by_node}, {o.name: o.op_type for o in profile.by_node})


def parse_env(text: str) -> dict[str, str]:
    """``"A=1, B=x"`` -> ``{"A": "1", "B": "x"}``.

    Raises:
        ValueError: an entry without ``=`` or with an empty name.
    """
    env: dict[str, str] = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{part!r} is not KEY=VALUE")
        env[key.strip()] = value.strip()
    return env


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
        self.buffer: LatencyBuffer | None = None
        self._run_document: Any = None  # the document the running (or last) benchmark belongs to
        self._plot_label = ""
        self._expected: int | None = None
        self._sweep_points: list[Any] = []
        self.point_added.connect(self._on_point)
        self.plot = LatencyPlot(self)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        form_scroll = QScrollArea(self)  # the form scrolls, so the dock can be short (the graph gets the room)
        form_scroll.setWidgetResizable(True)
        form_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        form_scroll.setWidget(self._make_form())
        splitter.addWidget(form_scroll)
        splitter.addWidget(self.plot)
        self.results = BenchResultsWidget(self.window.runner, self)
        # The panel's names for the results column's parts (tests and the window use them).
        self.results_title, self.stats, self.warnings = self.results.title, self.results.stats, self.results.warnings
        self.history_box, self.profile_table, self.sweep_table = (self.results.history_box,
                                                                  self.results.profile_table, self.results.sweep_table)
        self.history, self.history_filter, self.details = (self.history_box.table, self.history_box.filter,
                                                           self.results.details)
        self.history_box.overlays_changed.connect(self.plot.set_overlays)
        self.history_box.message.connect(self.status.setText)
        self.profile_table.node_chosen.connect(self._select_profiled_node)
        results_scroll = QScrollArea(self)  # a safety net: a very short dock scrolls instead of overlapping
        results_scroll.setWidgetResizable(True)
        results_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        results_scroll.setWidget(self.results)
        splitter.addWidget(results_scroll)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([240, 560, 480])
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
        self.batch.setSpecialValueText("inputs panel")
        self.batch.setToolTip("Batch size for a dynamic first dimension (inputs panel: the shape chosen there)")
        self.env = QLineEdit(box)
        self.env.setPlaceholderText("KEY=VALUE, …")
        self.env.setToolTip("Environment for the target, e.g. ONEDNN_MAX_CPU_ISA=AVX2 for MindSpore (recorded "
                            "with the run)")
        self.profile = QCheckBox("per-node profile", box)
        self.profile.setToolTip("Collect per-node times and colour the graph by them (ONNX Runtime)")
        self.sweep = QComboBox(box)
        self.sweep.addItems(["no sweep", "threads", "batch"])
        self.sweep_values = QLineEdit("1, 2, 4", box)
        self.sweep_values.setToolTip("Values to sweep, separated by commas")
        self.sweep.currentTextChanged.connect(lambda t: self.sweep_values.setEnabled(t != "no sweep"))
        self.sweep_values.setEnabled(False)
        for label, widget in (("Warm-up", self.warmup), ("Stop after", self.stop_by), ("Iterations", self.iterations),
                              ("Duration", self.duration), ("Threads", self.threads), ("Batch", self.batch), ("Environment", self.env),
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
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.status)
        return box

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        """The plots paint after the rest of the panel, one per event-loop turn.

        The dock opening lays out and repaints the whole window; the plots' first paint (axes,
        labels) is the costliest part of that, so each lands in a turn of its own and the window
        stays responsive. Enabling updates again repaints a plot.
        """
        super().showEvent(event)
        plots = [w for w in self.plot.plots() if w.updatesEnabled()]
        for widget in plots:
            widget.setUpdatesEnabled(False)
        in_turns([lambda w=w: w.setUpdatesEnabled(True) for w in plots], owner=self, now=False)

    def _on_stop_by(self, text: str) -> None:
        self.iterations.setEnabled(text == "iterations")
        self.duration.setEnabled(text == "duration")

    # State --------------------------------------------------------------------
    def set_document(self, document: Any) -> None:
        """Show ``document``'s last result (or a cleared panel); a run of another model keeps going."""
        self.document = document
        self.result = document.bench_result if document is not None else None
        running = self._running_document()
        if running is not None and running is document and self.buffer is not None:
            self.plot.start(self.buffer, self._plot_label, expected=self._expected)
        else:
            if self.plot.streaming:
                self.plot.stop()
            self._show_saved()
        self._filter_history()
        reason = self._update_enabled()
        if document is None:
            return
        if running is not None and running is document:
            self.status.setText(document.bench_status)
        elif running is not None:
            self.status.setText(f"Benchmarking {running.label} in the background; {document.label}: "
                                + (document.bench_status or "no run yet."))
        elif running is None and not reason:
            self.status.setText(document.bench_status or f"Ready to time {document.label} at {self._shapes_text()}.")

    def _select_profiled_node(self, name: str) -> None:
        """Select (and centre) the profiled node in the graph, keeping the profile colouring."""
        view = self.window.current_view()
        profile = self.profile_table.profile
        if view is None or profile is None:
            return
        per_node, op_types = _per_node(profile)
        view.color_by_names(per_node, "µs per run", select=name, op_types=op_types)

    def inputs_changed(self) -> None:
        """The active document's input choice changed: say what the next run uses."""
        doc = self.document
        if doc is not None and self._running_document() is None and not self._update_enabled():
            self.status.setText(f"Ready to time {doc.label} at {self._shapes_text()}."
                                + (f" Last run: {doc.bench_status}" if doc.bench_status else ""))

    def _running_document(self) -> Any:
        return self._run_document if self._task_running() else None

    def _shapes_text(self) -> str:
        panel = getattr(self.window, "input_panel", None)
        return panel.shapes_text() if panel is not None else ""

    def _show_saved(self) -> None:
        """Stats, plot and title for the active document's saved result, or cleared."""
        doc, result = self.document, self.result
        self._sweep_points = list(result.points) if result is not None and hasattr(result, "points") else []
        if result is None:
            self.plot.clear()
            self.clear_stats()
            self.profile_table.set_profile(None)
            self.sweep_table.setRowCount(0)
            self.results_title.setText(f"No benchmark of <b>{doc.label}</b> yet." if doc is not None else "")
            return
        last = result.points[-1].result if hasattr(result, "points") else result
        self.plot.show_latencies(np.asarray(last.latencies_ns, dtype=np.float64) / 1e6, label=f"last run ({last.target})")
        if self._sweep_points:
            self._draw_sweep()
        else:
            self.plot.hide_sweep()
            self.sweep_table.setRowCount(0)
        self.show_stats(last)

    def _title_for(self, result: Any) -> str:
        from engine.inputs import describe_shapes

        shapes = describe_shapes((result.inputs or {}).get("shapes") or {})
        source = (result.inputs or {}).get("source", "")
        where = f" · inputs {shapes}" + (f" ({source})" if source and source != "random" else "")
        return (f"<b>{self.document.label if self.document else result.model}</b> on {result.target}"
                f" · {result.iterations} runs{where}")

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
        self.report_button.setEnabled(self.result is not None and self.document is not None
                                      and self.result is self.document.bench_result)
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
        doc = self.document
        model = doc.model
        batch = self.batch.value() or None
        sweep_kind = self.sweep.currentText()
        inputs_path, specs = doc.inputs_path, list(doc.input_specs)
        if inputs_path is not None and (batch is not None or sweep_kind == "batch"):
            self.status.setText(f"The inputs come from {inputs_path.name}, which fixes the batch: set Batch to "
                                "\"inputs panel\" and no batch sweep, or clear the data file in the Inputs panel.")
            return
        from engine.inputs import unresolved_dims

        missing = [] if inputs_path is not None else unresolved_dims(specs, batch=batch, shapes=doc.input_shapes)
        if missing:
            self.status.setText("Choose a size for " + ", ".join(missing) + " in the Inputs panel first: the "
                                "model leaves them dynamic, and timing them at 1 would mislead.")
            self.window.show_inputs(focus_missing=True)
            return
        shapes = doc.shapes_for_run()
        options = self.window.targets.target_options(profile=self.profile.isChecked())
        try:
            options.env = parse_env(self.env.text())
        except ValueError as exc:
            self.status.setText(f"Environment: {exc}")
            return
        by_duration = self.stop_by.currentText() == "duration"
        kwargs = dict(warmup=self.warmup.value(), iterations=None if by_duration else self.iterations.value(),
                      duration_s=self.duration.value() if by_duration else None)
        self.buffer = buffer = LatencyBuffer(kwargs["iterations"] or 4096)
        self._sweep_points = []
        self._run_document = doc
        self._plot_label = f"this run ({target})"  # the results title names the model; the legend stays short
        self._expected = kwargs["iterations"]
        self.plot.hide_sweep()
        self.plot.start(buffer, self._plot_label, expected=self._expected)
        shapes_text = self._shapes_text()
        self.results_title.setText(f"Running <b>{doc.label}</b> on {target} · inputs {shapes_text}")
        self.clear_stats()
        self.profile_table.set_profile(None)
        self.sweep_table.setRowCount(0)

        def on_iteration(index: int, latency_ns: int) -> None:
            if index == 0 and buffer.count:
                buffer.reset()  # a sweep starts a new point
            buffer.append(index, latency_ns)

        def work(job: Any) -> Any:
            from engine.bench import benchmark, benchmark_in_subprocess, history

            feeds = None
            if inputs_path is not None:
                from engine.inputs import load_feeds

                feeds = load_feeds(inputs_path, specs)
            runner = benchmark_in_subprocess if RUN_IN_SUBPROCESS else benchmark  # mindspore: its own worker
            given = dict(feeds=feeds) if feeds is not None else dict(shapes=shapes)
            if sweep_kind == "no sweep":
                result = runner(model, target, options=options, batch=batch, job=job,
                                on_iteration=on_iteration, **given, **kwargs)
            else:
                from engine.bench.sweep import sweep

                if sweep_kind == "threads":
                    axes = {"threads": sweep_values, "batches": [batch]}
                else:
                    axes = {"threads": [options.threads], "batches": sweep_values}
                result = sweep(model, target, options=options, job=job, on_point=self.point_added.emit,
                               on_iteration=on_iteration, runner=runner, **axes, **given, **kwargs)
            try:
                result.run_id = history.save_run(result.to_dict())
            except OSError as exc:  # history is a convenience; the run itself succeeded
                log.warning("could not save the run to the history: %s", exc)
            return result

        doc.bench_status = f"Running on {target} at {shapes_text}…"
        self.status.setText(doc.bench_status)
        self.window.runner.start("bench", f"Benchmark {doc.label} on {target}", work,
                                 on_result=lambda result, d=doc: self._on_result(result, d),
                                 on_error=lambda exc, d=doc: self._on_error(exc, d),
                                 on_cancel=lambda d=doc: self._on_cancel(d))
        self._update_enabled()

    def cancel(self) -> None:
        task = self.window.runner.current("bench")
        if task is not None:
            task.cancel()

    def forget(self, document: Any) -> None:
        """``document`` is closing: cancel a benchmark of it that is still running."""
        if document is not None and self._running_document() is document:
            self.cancel()

    def shutdown(self) -> None:
        self.cancel()
        self.plot.stop()

    def _on_point(self, point: Any) -> None:
        if self._run_document is not self.document:
            return  # the sweep of another tab's model: shown when its tab is active again
        self._sweep_points.append(point)
        self._draw_sweep()

    def _draw_sweep(self) -> None:
        points = self._sweep_points
        if not points:
            return
        kind = "threads" if len({p.threads for p in points}) > 1 or self.sweep.currentText() == "threads" else "batch"
        xs = [float(getattr(p, kind) or 0) for p in points]
        self.plot.show_sweep(kind, xs, [p.result.stats.median_ms for p in points],
                             [p.result.stats.p90_ms for p in points])
        self.results.fill_sweep(points)

    def show_stats(self, result: Any) -> None:
        """Statistics, warnings, title and per-layer table of one run."""
        self.results.show_result(result, self._title_for(result))
        self.relabel_profile(self.window.current_view())

    def relabel_profile(self, view: Any) -> None:
        """Name the per-layer rows as the graph does (``layer1.0.conv1``), once ``view``'s canonical graph
        exists (it is built when the profile colours it); ONNX Runtime's names stay in the tooltips."""
        profile = self.profile_table.profile
        if view is None or profile is None or view is not self.window.current_view() or not hasattr(view, "display_names"):
            return
        self.profile_table.relabel(view.display_names(_per_node(profile)[1]))

    def clear_stats(self) -> None:
        self.results.clear(tables=False)

    def stat_values(self) -> dict[str, str]:
        return self.results.stat_values()

    def _on_result(self, result: Any, doc: Any = None) -> None:
        doc = doc if doc is not None else self.document
        runs = [p.result for p in result.points] if hasattr(result, "points") else [result]
        last = runs[-1]
        from engine.inputs import describe_shapes

        shapes = describe_shapes((last.inputs or {}).get("shapes") or {})
        doc.bench_result = result
        doc.bench_status = (f"{last.iterations} iterations on {last.target} at {shapes}: "
                            f"median {last.stats.median_ms:.3f} ms")
        log.info("benchmark of %s: %s", doc.label, doc.bench_status)
        label = result.run_id or f"run {self.history.rowCount() + 1}"
        if doc is not self.document:
            self.add_history(label, last)
            self._update_enabled()
            self.run_finished.emit(result)
            return
        self.result = result
        self.status.setText(doc.bench_status)
        # What the run left to show lands one piece per event-loop turn (final curves, history
        # row, statistics and per-layer table, the graph's colouring): at once they kept the
        # window from repainting for 40-80 ms.
        in_turns(self.plot.stop_steps() + [lambda: self.add_history(label, last), lambda: self._finish_sweep(result),
                                           lambda: self.show_stats(last), lambda: self._colour_profile(last),
                                           self._update_enabled, lambda: self.run_finished.emit(result)],
                 alive=lambda: self.result is result, owner=self)

    def _finish_sweep(self, result: Any) -> None:
        if hasattr(result, "points"):
            self._sweep_points = list(result.points)
            self._draw_sweep()

    def _colour_profile(self, last: Any) -> None:
        """Colour the graph by each node's time in the profiled run and centre the hottest node."""
        if last.profile is not None and self.window.current_view() is not None:
            per_node, op_types = _per_node(last.profile)
            # Select and centre the hottest node at a readable zoom; fitting a long graph shows specks.
            self.window.current_view().color_by_names(per_node, "µs per run", select_hottest=True, op_types=op_types)

    def _on_error(self, exc: BaseException, doc: Any = None) -> None:
        from studio.advice import window_advice

        doc = doc if doc is not None else self.document
        text = describe(exc, f"Benchmark of {doc.label} failed" if doc is not None else "Benchmark failed")
        advice = window_advice(exc, text.hint)
        line = f"{text.headline}: {text.detail}" + (f" ({advice})" if advice else "")
        log.error("%s", line)
        if doc is not None:
            doc.bench_status = line
        if doc is self.document:
            from studio.advice import select_blockers

            select_blockers(self.window, doc, exc)  # point at the nodes that cannot run here
            self.plot.stop()
            self.status.setText(line)
            self.status.setToolTip(line)
            # The right column has the width for the whole message (engine messages can be long).
            self.results_title.setText(f"<span style='color:#d64545'>{html.escape(line)}</span>")
        self._update_enabled()

    def _on_cancel(self, doc: Any = None) -> None:
        doc = doc if doc is not None else self.document
        count = self.buffer.count if self.buffer is not None else 0
        if doc is not None:
            doc.bench_status = f"Cancelled after {count} iterations."
        if doc is self.document:
            self.plot.stop()
            self.status.setText(doc.bench_status if doc is not None else "Cancelled.")
        self._update_enabled()

    # History ------------------------------------------------------------------
    @property
    def runs(self) -> dict[str, np.ndarray]:
        return self.history_box.runs

    def load_history(self) -> None:
        """List the saved runs (earlier sessions too) on a worker; rows appear newest first."""
        self.history_box.load()

    def add_history(self, label: str, result: Any) -> None:
        self.history_box.add(label, result)

    def history_rows(self, *, visible_only: bool = True) -> list[list[str]]:
        """The history table's text, row by row (hidden rows left out unless asked)."""
        return self.history_box.rows(visible_only=visible_only)

    def update_overlays(self) -> None:
        self.history_box.update_overlays()

    def _filter_history(self) -> None:
        self.history_box.set_model(self.document.label if self.document is not None else "")

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
