"""The optimize dialog: preset or passes, per-pass table, auto variants table; the kept model opens beside."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialogButtonBox,
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

#: What each preset does, for its tooltip (the pass list is appended from the engine).
PRESET_TEXT = {
    "default": "clean-up and fusion at fp32",
    "fp32": "clean-up and fusion, stays fp32",
    "fp16": "fp16 weights and compute; sensitive ops stay fp32",
    "int8-weight": "int8 weights, dequantized at run time",
    "int8-dynamic": "int8 weights, activations quantized per run",
    "int8-static": "int8 weights and activations, calibrated on sample inputs",
    "auto": "build every variant, time each on the target, keep the fastest within tolerance",
    CUSTOM: "tick the passes to run, in order",
}


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


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

        from engine.optimize import preset_passes
        from engine.passes import pass_class

        self.preset = QComboBox(self)
        for i, name in enumerate([*PRESETS, CUSTOM]):
            self.preset.addItem(name)
            tip = PRESET_TEXT.get(name, "")
            if name not in (CUSTOM, "auto"):
                try:
                    tip += " (passes: " + ", ".join(preset_passes(name)) + ")"
                except Exception:  # noqa: BLE001 - a tooltip never stops the dialog
                    pass
            self.preset.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.preset_help = QLabel(self)
        self.preset_help.setWordWrap(True)
        self.preset.currentIndexChanged.connect(
            lambda i: self.preset_help.setText(self.preset.itemData(i, Qt.ItemDataRole.ToolTipRole) or ""))
        self.passes = QListWidget(self)
        for name in pass_names():
            item = QListWidgetItem(name, self.passes)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            try:
                item.setToolTip(_first_line(pass_class(name).__doc__))
            except Exception:  # noqa: BLE001 - a tooltip never stops the dialog
                pass
        self.passes.setMaximumHeight(120)
        self.passes.setEnabled(False)
        self.preset.currentTextChanged.connect(lambda t: self.passes.setEnabled(t == CUSTOM))
        from engine.fileio import free_path

        default = free_path(document.path.with_name(f"{document.path.stem}.optimized.onnx"))
        self.destination = PathEdit(str(default),
                                    "Save optimized model", "ONNX (*.onnx);;MindIR (*.mindir)", save=True, parent=self)
        self.target_label = QLabel(window.targets.current_target() or "no target", self)
        self.iterations = QSpinBox(self)
        self.iterations.setRange(1, 100_000)
        self.iterations.setValue(20)
        self.iterations.setToolTip("Timed iterations per latency measurement (auto times each variant)")
        self.form.addRow("Preset", self.preset)
        self.form.addRow("", self.preset_help)
        self.form.addRow("Passes", self.passes)
        self.form.addRow("Measured on", self.target_label)
        self.form.addRow("Iterations", self.iterations)
        self.form.addRow("Save kept model to", self.destination)
        self.steps = _table(["Pass", "Kept", "Reason", "Nodes", "Size", "Latency", "Parity"], self)
        self.variants = _table(["Variant", "Chosen", "Latency", "CV", "Size", "Nodes", "Parity", "Reason"], self)
        self.variants.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.stop_button = self.buttons.addButton("Stop", QDialogButtonBox.ButtonRole.ActionRole)
        self.stop_button.setToolTip("Stop the optimisation; nothing is written")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.variants_label = QLabel("<b>Variants</b> (preset auto)", self)
        self.extra.addWidget(QLabel("<b>Passes</b>", self))
        self.extra.addWidget(self.steps, 1)
        self.extra.addWidget(self.variants_label)
        self.extra.addWidget(self.variants, 1)
        self.variants.hide()
        self.variants_label.hide()
        self.preset_help.setText(self.preset.itemData(0, Qt.ItemDataRole.ToolTipRole) or "")
        self.result: Any = None

    def start(self) -> None:
        super().start()
        if self.task is not None and self.task.state == "running":
            self.stop_button.setEnabled(True)
            self.task.finished.connect(lambda _state: self.stop_button.setEnabled(False))

    def stop(self) -> None:
        """Cancel the running optimisation (the dialog stays open)."""
        if self.task is not None and self.task.state == "running":
            self.status.setText("Stopping…")
            self.task.cancel()

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
        if not self.destination.edit.text().strip():
            self.status.setText("Choose a file name for the optimized model (Browse…).")
            return None
        if not self.confirm_overwrite(destination):
            return None

        def work(job: Any) -> Any:
            from engine import formats
            from engine.optimize import optimize

            result = optimize(model, passes=passes, preset=preset, target=target, iterations=iterations,
                              job=job.sub(0.0, 0.9))
            formats.save(result.model, destination, job=job.sub(0.9, 1.0))
            return result, destination

        return f"Optimize {self.document.title} ({preset or ', '.join(passes or [])})", work

    def on_result(self, payload: Any) -> None:
        from engine.bench.stats import UNSTABLE_CV

        result, destination = payload
        self.result = result
        self._fill_steps(result.steps)
        if result.variants:
            self._fill_variants(result.variants)
        base, final = result.baseline_latency_ms, result.final_latency_ms
        speed = f", latency {base:.3f} → {final:.3f} ms" if base and final else ""
        chosen = f"; chose <b>{result.chosen}</b>" if result.chosen else ""
        changed = [s for s in result.steps if s.kept and s.modified]
        unstable = [v for v in result.variants if v.cv is not None and v.cv > UNSTABLE_CV]
        noise = ""
        if unstable:
            noise = ("<br><span style='color:#c77c0e'>Timings were unstable (CV " + ", ".join(
                f"{v.name} {v.cv:.0%}" for v in unstable) + "): the latency ranking may be noise; close other "
                "programs or raise Iterations.</span>")
        self.status.setText(f"Kept {len(changed)} of {len(result.steps)} passes (those that changed the model)"
                            f"{chosen}{speed}; size {result.baseline_size:,} → {result.final_size:,} bytes. "
                            f"Wrote <b>{destination}</b>.{noise}")
        self.progress.setFormat("100% done" + (f": chose {result.chosen}" if result.chosen else ""))
        self.window.open_files([destination])

    def _fill_steps(self, steps: list[Any]) -> None:
        self.steps.setRowCount(len(steps))
        for r, s in enumerate(steps):
            parity = "" if s.parity is None else ("pass" if s.parity.passed else f"FAIL {s.parity.detail}")
            kept = "unchanged" if not s.modified else ("yes" if s.kept else "no")
            cells = [s.name, kept, s.reason, f"{s.nodes_before} → {s.nodes_after}",
                     f"{s.size_before:,} → {s.size_after:,}", _fmt(s.latency_ms, " ms"), parity]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 1:
                    item.setForeground(QColor("#2e9e5b" if s.kept and s.modified else "#6b7785"))
                self.steps.setItem(r, c, item)

    def _fill_variants(self, variants: list[Any]) -> None:
        self.variants.show()
        self.variants_label.show()
        self.variants.setRowCount(len(variants))
        for r, v in enumerate(variants):
            parity = "" if v.parity is None else ("pass" if v.parity.passed else "FAIL")
            cv = getattr(v, "cv", None)
            cells = [v.name, "✔" if v.chosen else "", _fmt(v.latency_ms, " ms"), "" if cv is None else f"{cv:.0%}",
                     f"{v.size:,}", str(v.nodes), parity, v.reason]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if v.chosen:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.variants.setItem(r, c, item)
        chosen = next((r for r, v in enumerate(variants) if v.chosen), None)
        if chosen is not None:
            self.variants.selectRow(chosen)
            self.variants.scrollToItem(self.variants.item(chosen, 0), QAbstractItemView.ScrollHint.EnsureVisible)
