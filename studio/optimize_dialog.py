"""The optimize dialog: preset or passes, per-pass table, auto variants table; the kept model opens beside."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
)

from studio.job_dialog import JobDialog, PathEdit

if TYPE_CHECKING:
    from studio.document import Document
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)

CUSTOM = "custom passes"


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}{unit}"
    return f"{value}{unit}"


def _table(headers: list[str], parent: Any) -> QTableWidget:
    table = QTableWidget(0, len(headers), parent)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


class OptimizeDialog(JobDialog):
    """Run engine.optimize with a preset (``auto`` builds and times variants) or chosen passes."""

    run_text = "Optimize"

    def __init__(self, window: MainWindow, document: Document) -> None:
        super().__init__(window, f"Optimize {document.title}")
        self.resize(900, 640)
        self.document = document
        from engine.optimize import PRESETS
        from engine.passes import pass_names

        self.preset = QComboBox(self)
        self.preset.addItems([*PRESETS, CUSTOM])
        self.passes = QListWidget(self)
        for name in pass_names():
            item = QListWidgetItem(name, self.passes)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
        self.passes.setMaximumHeight(120)
        self.passes.setEnabled(False)
        self.preset.currentTextChanged.connect(lambda t: self.passes.setEnabled(t == CUSTOM))
        self.destination = PathEdit(str(document.path.with_name(f"{document.path.stem}.optimized.onnx")),
                                    "Save optimized model", "ONNX (*.onnx);;MindIR (*.mindir)", save=True, parent=self)
        self.target_label = QLabel(window.targets.current_target() or "no target", self)
        self.iterations = QSpinBox(self)
        self.iterations.setRange(1, 100_000)
        self.iterations.setValue(20)
        self.iterations.setToolTip("Timed iterations per latency measurement (auto times each variant)")
        self.form.addRow("Preset", self.preset)
        self.form.addRow("Passes", self.passes)
        self.form.addRow("Measured on", self.target_label)
        self.form.addRow("Iterations", self.iterations)
        self.form.addRow("Save kept model to", self.destination)
        self.steps = _table(["Pass", "Kept", "Reason", "Nodes", "Size", "Latency", "Parity"], self)
        self.variants = _table(["Variant", "Chosen", "Latency", "Size", "Nodes", "Parity", "Reason"], self)
        self.variants_label = QLabel("<b>Variants</b> (preset auto)", self)
        self.extra.addWidget(QLabel("<b>Passes</b>", self))
        self.extra.addWidget(self.steps, 1)
        self.extra.addWidget(self.variants_label)
        self.extra.addWidget(self.variants, 1)
        self.variants.hide()
        self.variants_label.hide()
        self.result: Any = None

    def make_job(self) -> tuple[str, Callable[[Any], Any]] | None:
        preset = self.preset.currentText()
        passes = None
        if preset == CUSTOM:
            passes = [self.passes.item(i).text() for i in range(self.passes.count())
                      if self.passes.item(i).checkState() == Qt.CheckState.Checked]
            if not passes:
                self.status.setText("Tick at least one pass, or pick a preset.")
                return None
            preset = None
        target = self.window.targets.current_target() or "onnxruntime:cpu"
        model, destination = self.document.model, self.destination.path()
        iterations = self.iterations.value()

        def work(job: Any) -> Any:
            from engine import formats
            from engine.optimize import optimize

            result = optimize(model, passes=passes, preset=preset, target=target, iterations=iterations,
                              job=job.sub(0.0, 0.9))
            formats.save(result.model, destination, job=job.sub(0.9, 1.0))
            return result, destination

        return f"Optimize {self.document.title} ({preset or ', '.join(passes or [])})", work

    def on_result(self, payload: Any) -> None:
        result, destination = payload
        self.result = result
        self._fill_steps(result.steps)
        if result.variants:
            self._fill_variants(result.variants)
        base, final = result.baseline_latency_ms, result.final_latency_ms
        speed = f", latency {base:.3f} → {final:.3f} ms" if base and final else ""
        chosen = f", chose {result.chosen}" if result.chosen else ""
        self.status.setText(f"Kept {sum(s.kept for s in result.steps)} of {len(result.steps)} passes{chosen}{speed}; "
                            f"size {result.baseline_size:,} → {result.final_size:,} bytes. Wrote <b>{destination}</b>.")
        self.window.open_files([destination])

    def _fill_steps(self, steps: list[Any]) -> None:
        self.steps.setRowCount(len(steps))
        for r, s in enumerate(steps):
            parity = "" if s.parity is None else ("pass" if s.parity.passed else f"FAIL {s.parity.detail}")
            cells = [s.name, "yes" if s.kept else "no", s.reason, f"{s.nodes_before} → {s.nodes_after}",
                     f"{s.size_before:,} → {s.size_after:,}", _fmt(s.latency_ms, " ms"), parity]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 1:
                    item.setForeground(QColor("#2e9e5b" if s.kept else "#6b7785"))
                self.steps.setItem(r, c, item)

    def _fill_variants(self, variants: list[Any]) -> None:
        self.variants.show()
        self.variants_label.show()
        self.variants.setRowCount(len(variants))
        for r, v in enumerate(variants):
            parity = "" if v.parity is None else ("pass" if v.parity.passed else "FAIL")
            cells = [v.name, "✔" if v.chosen else "", _fmt(v.latency_ms, " ms"), f"{v.size:,}", str(v.nodes),
                     parity, v.reason]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if v.chosen:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.variants.setItem(r, c, item)
