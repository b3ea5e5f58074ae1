"""Serve panel: run `dstudio serve` on the current model (URL, live request counts) and load-test an endpoint.

The server is a child process (``QProcess``), so requests never touch the window's
interpreter; its counts come from the V2 statistics route, polled with
``QNetworkAccessManager`` on a timer (no thread blocks on the network). The load test is
``engine.serving.loadtest`` on the task runner; each concurrency level's result reaches the
table and the latency-vs-throughput plot on the GUI thread as it finishes.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QProcess, Qt, QTimer, QUrl, Signal
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkReply, QNetworkRequest
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.errors import describe
from studio.latency_plot import style_plot

if TYPE_CHECKING:
    from studio.document import Document
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)

STATS_INTERVAL_MS = 500
COLUMNS = ["Concurrency", "Requests", "Errors", "Throughput/s", "p50 ms", "p90 ms", "p99 ms"]


def serve_command(path: Path, name: str, target: str, port: int, workers: int) -> tuple[str, list[str]]:
    """Program and arguments of ``dstudio serve`` (the frozen app is its own ``dstudio``)."""
    args = ["serve", str(path), "--name", name, "--target", target, "--port", str(port), "--workers", str(workers)]
    if getattr(sys, "frozen", False):
        return sys.executable, args
    return sys.executable, ["-m", "engine.cli", *args]


class _Relay(QObject):
    """Carries a load test's per-level results from the worker thread to the GUI thread."""

    point = Signal(object)


class ServePanel(QWidget):
    """Start/stop a local V2 server for a model, show its URL and counts; run load tests against a URL.

    Signals:
        server_started(str): the base URL, once the server listens.
        server_stopped(str): why ("stopped", or the server's last error line).
        stats_changed(dict): the model's statistics, on each poll.
        point_added(object): a load test level's ``LoadPoint``.
        loadtest_finished(object): the whole ``LoadTestResult``.
    """

    server_started = Signal(str)
    server_stopped = Signal(str)
    stats_changed = Signal(dict)
    point_added = Signal(object)
    loadtest_finished = Signal(object)

    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.document: Document | None = None
        self.process: QProcess | None = None
        self.url = ""
        self.model_name = ""
        self.result: Any = None
        self._stderr = ""
        self._net = QNetworkAccessManager(self)
        # one connection to a method of this widget (not a lambda per reply): Qt drops it with the
        # widget, so a reply that lands after the window closed cannot touch deleted labels
        self._net.finished.connect(self._on_stats)
        self._timer = QTimer(self)
        self._timer.setInterval(STATS_INTERVAL_MS)
        self._timer.timeout.connect(self._poll_stats)
        self._relay = _Relay(self)
        self._relay.point.connect(self._on_point)
        self._build()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        server = QGroupBox("Local V2 endpoint (dstudio serve)", self)
        form = QFormLayout(server)
        self.model_label = QLabel("open a model first", server)
        self.target = QComboBox(server)
        self.port = QSpinBox(server)
        self.port.setRange(0, 65535)
        self.port.setValue(8000)
        self.port.setSpecialValueText("any free port")
        self.workers = QSpinBox(server)
        self.workers.setRange(1, 64)
        self.start_button = QPushButton("Start", server)
        self.start_button.clicked.connect(self.toggle_server)
        self.url_label = QLabel("not serving", server)
        self.url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.counts = QLabel("", server)
        form.addRow("Model", self.model_label)
        form.addRow("Target", self.target)
        form.addRow("Port", self.port)
        form.addRow("Instances", self.workers)
        form.addRow("", self.start_button)
        form.addRow("URL", self.url_label)
        form.addRow("Requests", self.counts)

        load = QGroupBox("Load test (closed loop)", self)
        lform = QFormLayout(load)
        self.lt_url = QLineEdit("http://127.0.0.1:8000", load)
        self.lt_model = QLineEdit("", load)
        self.lt_levels = QLineEdit("1,4,16", load)
        self.lt_duration = QDoubleSpinBox(load)
        self.lt_duration.setRange(0.1, 3600)
        self.lt_duration.setValue(5.0)
        self.lt_duration.setSuffix(" s per level")
        self.lt_json = QCheckBox("JSON tensors (default: binary)", load)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run load test", load)
        self.run_button.clicked.connect(self.run_loadtest)
        self.stop_button = QPushButton("Stop", load)
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self._stop_loadtest)
        self.save_button = QPushButton("Save report…", load)
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save_report)
        for b in (self.run_button, self.stop_button, self.save_button):
            buttons.addWidget(b)
        lform.addRow("URL", self.lt_url)
        lform.addRow("Model", self.lt_model)
        lform.addRow("Concurrency", self.lt_levels)
        lform.addRow("Duration", self.lt_duration)
        lform.addRow("", self.lt_json)
        lform.addRow(buttons)
        self.lt_status = QLabel("", load)
        self.lt_status.setWordWrap(True)
        lform.addRow(self.lt_status)
        self.table = QTableWidget(0, len(COLUMNS), load)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.plot = pg.PlotWidget(load)
        self.plot.setLabel("bottom", "throughput (inferences/s)")
        self.plot.setLabel("left", "median latency (ms)")
        self.plot.showGrid(x=False, y=True)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)  # milliseconds stay milliseconds
        style_plot(self.plot)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#2a6fdb", width=2), symbol="o", symbolBrush="#d9822b")
        row = QHBoxLayout()
        row.addWidget(self.table, 1)
        row.addWidget(self.plot, 1)
        lform.addRow(row)

        layout = QVBoxLayout(self)
        layout.addWidget(server)
        layout.addWidget(load, 1)

    # -- server ------------------------------------------------------------------------------
    def set_document(self, document: Document | None) -> None:
        """The model Start serves (the file on disk); refilled targets are the available ones."""
        from engine.backends import list_targets

        self.document = document
        self.model_label.setText(str(document.path) if document else "open a model first")
        self.target.clear()
        for info in list_targets():
            if info.available and info.backend in ("onnxruntime", "mindspore"):
                self.target.addItem(info.name, info.name)
        self.start_button.setEnabled(document is not None and document.is_graph or self.serving)

    @property
    def serving(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def toggle_server(self) -> None:
        if self.serving:
            self.stop_server()
        else:
            self.start_server()

    def start_server(self) -> None:
        import re

        if self.document is None or self.serving:
            return
        self.model_name = re.sub(r"[^A-Za-z0-9_.-]", "_", self.document.path.stem) or "model"
        program, args = serve_command(self.document.path, self.model_name, self.target.currentData() or
                                      "onnxruntime:cpu", self.port.value(), self.workers.value())
        proc = QProcess(self)
        proc.readyReadStandardOutput.connect(self._on_stdout)
        proc.readyReadStandardError.connect(self._on_stderr)
        proc.finished.connect(self._on_finished)
        self._stderr = ""
        self.process = proc
        self.url_label.setText("starting…")
        self.start_button.setText("Stop")
        proc.start(program, args)

    def stop_server(self, wait_ms: int = 0) -> None:
        """Ask the server to stop (SIGTERM: it finishes requests in flight); optionally wait."""
        if not self.serving:
            return
        self.url_label.setText("stopping…")
        self.process.terminate()
        if wait_ms and not self.process.waitForFinished(wait_ms):
            self.process.kill()
            self.process.waitForFinished(2000)

    def _on_stdout(self) -> None:
        text = bytes(self.process.readAllStandardOutput()).decode(errors="replace")
        for line in text.splitlines():
            if line.startswith("serving ") and " at " in line:
                self.url = line.split(" at ", 1)[1].split("/v2/", 1)[0]
                self.url_label.setText(f"{self.url}/v2/models/{self.model_name}")
                self.lt_url.setText(self.url)
                self.lt_model.setText(self.model_name)
                self._timer.start()
                self.server_started.emit(self.url)

    def _on_stderr(self) -> None:
        self._stderr += bytes(self.process.readAllStandardError()).decode(errors="replace")
        self._stderr = self._stderr[-4000:]

    def _on_finished(self, code: int, _status: Any) -> None:
        self._timer.stop()
        lines = [ln for ln in self._stderr.splitlines() if ln.strip() and ln.strip() != "stopped"]
        why = "stopped" if code == 0 else (lines[-1] if lines else f"exited with status {code}")
        self.url = ""
        self.url_label.setText("not serving" if code == 0 else f"<span style='color:#d64545'>{why}</span>")
        self.start_button.setText("Start")
        self.server_stopped.emit(why)

    def _poll_stats(self) -> None:
        if not self.url:
            return
        self._net.get(QNetworkRequest(QUrl(f"{self.url}/v2/models/{self.model_name}/stats")))

    def _on_stats(self, reply: QNetworkReply) -> None:
        data = bytes(reply.readAll())
        reply.deleteLater()
        if reply.error() != QNetworkReply.NetworkError.NoError:
            return
        try:
            (entry,) = json.loads(data)["model_stats"]
        except (ValueError, KeyError, TypeError):
            return
        self.counts.setText(f"{entry['inference_count']} answered, {entry['fail_count']} refused, "
                            f"{entry['in_flight']} in flight")
        self.stats_changed.emit(entry)

    # -- load test ---------------------------------------------------------------------------
    def run_loadtest(self) -> None:
        try:
            levels = [int(v) for v in self.lt_levels.text().split(",") if v.strip()]
        except ValueError:
            levels = []
        if not levels or any(v < 1 for v in levels):
            self.lt_status.setText("Concurrency takes whole numbers of 1 or more, separated by commas (1,4,16).")
            return
        url, model = self.lt_url.text().strip(), self.lt_model.text().strip()
        if not url or not model:
            self.lt_status.setText("Give the server URL and the model name (Start fills both in).")
            return
        duration, binary = self.lt_duration.value(), not self.lt_json.isChecked()
        self.table.setRowCount(0)
        self.curve.setData([], [])
        self.result = None
        self.save_button.setEnabled(False)
        relay = self._relay

        def work(job: Any) -> Any:
            from engine.serving.loadtest import loadtest

            return loadtest(url, model, concurrency=levels, duration_s=duration, binary=binary, job=job,
                            on_point=relay.point.emit)

        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.lt_status.setText(f"Running {len(levels)} levels of {duration:g} s…")
        self.task = self.window.runner.start("serve:loadtest", f"Load test {model}", work, on_result=self._on_done,
                                             on_error=self._on_error, on_cancel=self._on_cancel)

    def _stop_loadtest(self) -> None:
        task = getattr(self, "task", None)
        if task is not None and task.state == "running":
            task.cancel()

    def _on_point(self, point: Any) -> None:
        s = point.result.stats
        row = self.table.rowCount()
        self.table.insertRow(row)
        cells = [point.concurrency, point.result.iterations, point.errors, f"{point.result.throughput_per_s:.1f}",
                 f"{s.median_ms:.3f}", f"{s.p90_ms:.3f}", f"{s.p99_ms:.3f}"]
        for col, value in enumerate(cells):
            self.table.setItem(row, col, QTableWidgetItem(str(value)))
        xs = [float(self.table.item(r, 3).text()) for r in range(self.table.rowCount())]
        ys = [float(self.table.item(r, 4).text()) for r in range(self.table.rowCount())]
        order = sorted(range(len(xs)), key=xs.__getitem__)
        self.curve.setData([xs[i] for i in order], [ys[i] for i in order])
        self.point_added.emit(point)

    def _finish(self, text: str) -> None:
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.lt_status.setText(text)

    def _on_done(self, result: Any) -> None:
        self.result = result
        self.save_button.setEnabled(True)
        best = max(result.points, key=lambda p: p.result.throughput_per_s)
        self._finish(f"Done: best {best.result.throughput_per_s:.1f} inferences/s at concurrency {best.concurrency} "
                     f"({result.protocol} tensors).")
        self.loadtest_finished.emit(result)

    def _on_error(self, exc: BaseException) -> None:
        text = describe(exc)
        log.error("load test failed: %s", text.one_line())
        self._finish(f"<span style='color:#d64545'><b>Failed</b>: {text.detail}</span>")

    def _on_cancel(self) -> None:
        self._finish("Stopped.")

    def _save_report(self) -> None:
        if self.result is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Save load test report into")
        if folder:
            self.save_report(Path(folder))

    def save_report(self, folder: Path) -> dict[str, Path]:
        """Write result.json, latencies.csv and report.html (bench's report) into ``folder``."""
        from engine.bench.report import write_report

        paths = write_report(folder, self.result)
        self.lt_status.setText(f"Saved {paths['html']}")
        return paths


class ServeDialog(QDialog):
    """A non-modal window holding the serve panel; closing it hides it, the server keeps running."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setWindowTitle("Serve and load test")
        self.panel = ServePanel(window, self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        self.resize(900, 640)
        window.installEventFilter(self)  # the server stops (cleanly) when the main window closes

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if obj is self.parent() and event.type() == QEvent.Type.Close:
            self.panel.stop_server(wait_ms=5000)
        return False


def show_serve_dialog(window: MainWindow) -> ServeDialog:
    """The window's one serve dialog (created on first use), showing the current document."""
    dialog = getattr(window, "serve_dialog", None)
    if dialog is None:
        dialog = ServeDialog(window)
        window.serve_dialog = dialog
    dialog.panel.set_document(window.current_document())
    dialog.show()
    dialog.raise_()
    return dialog
