"""The toolbar's target chooser: the engine's discovered targets, threads and precision."""

from __future__ import annotations

import logging
import os
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from studio.features import engine_attr, feature

log = logging.getLogger(__name__)

TARGET_ROLE = Qt.ItemDataRole.UserRole + 1

#: Precision choices: what each means and which optimize preset produces it.
PRECISIONS = (("fp32", "as stored (no conversion)"),
              ("fp16", "float16 weights and compute (sensitive ops stay fp32), converted in memory with parity checked"),
              ("int8", "static int8 quantization calibrated on seeded random inputs, converted in memory with parity checked"))


#: What a person calls each target; the engine's id follows in brackets.
TARGET_LABELS = {
    "onnxruntime:cpu": "ONNX Runtime, CPU", "onnxruntime:cuda": "ONNX Runtime, NVIDIA GPU (CUDA)",
    "onnxruntime:tensorrt": "ONNX Runtime, NVIDIA TensorRT", "onnxruntime:dml": "ONNX Runtime, DirectML (Windows GPU)",
    "onnxruntime:coreml": "ONNX Runtime, Core ML (Apple)", "onnxruntime:openvino": "ONNX Runtime, Intel OpenVINO",
    "mindspore:cpu": "MindSpore, CPU", "mindspore:gpu": "MindSpore, NVIDIA GPU", "mindspore:ascend": "MindSpore, Ascend NPU",
    "reference": "ONNX reference evaluator (slow, exact)",
}

#: Targets that exist only on one operating system (sys.platform prefix): not listed elsewhere.
PLATFORM_ONLY = {"onnxruntime:dml": "win", "onnxruntime:coreml": "darwin"}


def target_label(name: str) -> str:
    """``ONNX Runtime, CPU (onnxruntime:cpu)``; the bare id for targets without a known label."""
    label = TARGET_LABELS.get(name)
    return f"{label} ({name})" if label else name


def runs_on_this_os(name: str) -> bool:
    import sys

    only = PLATFORM_ONLY.get(name)
    return only is None or sys.platform.startswith(only)


class TargetChooser(QWidget):
    """Target, threads and precision; unavailable targets are greyed with the reason as tooltip.

    Signals:
        target_changed(str): the selected target's name ("onnxruntime:cpu").
    """

    target_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.targets: list[Any] = []
        self.remote: list[dict[str, Any]] = []  # a cluster's nodes, listed below (set_remote)
        self.combo = QComboBox(self)
        self.combo.setMinimumContentsLength(16)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._model = QStandardItemModel(self)
        self.combo.setModel(self._model)
        self.combo.currentIndexChanged.connect(self._on_index)
        self.threads = QSpinBox(self)
        self.threads.setRange(0, max(os.cpu_count() or 1, 1) * 2)
        self.threads.setSpecialValueText("auto")
        self.threads.setPrefix("threads ")
        self.threads.setToolTip("Intra-op threads for the session (auto: the runtime's default)")
        self.precision = QComboBox(self)
        for name, what in PRECISIONS:
            self.precision.addItem(name)
            row = self.precision.count() - 1
            self.precision.setItemData(row, what, Qt.ItemDataRole.ToolTipRole)
        self.precision.setToolTip("Numeric precision the model runs in")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QLabel("Target", self))
        layout.addWidget(self.combo)
        layout.addWidget(self.threads)
        layout.addWidget(self.precision)

    def refresh(self, targets: list[Any] | None = None, preferred: str = "") -> None:
        """Fill from ``targets`` (default: engine.backends.list_targets())."""
        if targets is None:
            if not feature("targets"):
                self._model.clear()
                item = QStandardItem("no targets")
                item.setEnabled(False)
                item.setToolTip(feature("targets").reason)
                self._model.appendRow(item)
                self.combo.setToolTip(feature("targets").reason)
                return
            targets = engine_attr("targets")()  # type: ignore[operator]
        self.targets = [t for t in targets if runs_on_this_os(t.name)]  # no DirectML on Linux, no Core ML off macOS
        keep = preferred or self.current_target()
        self.combo.blockSignals(True)
        self._model.clear()
        for info in self.targets:
            label = target_label(info.name) + ("" if info.available else "  (unavailable)")
            item = QStandardItem(label)
            item.setData(info.name, TARGET_ROLE)
            item.setEnabled(bool(info.available))
            tip = info.reason or ("available" if info.available else "not available")
            if getattr(info, "version", ""):
                tip += f"\n{info.backend} {info.version}"
            item.setToolTip(tip)
            self._model.appendRow(item)
        self._append_remote()
        self.combo.blockSignals(False)
        if not self.select(keep):
            first = next((i for i, t in enumerate(self.targets) if t.available), -1)
            if first >= 0:
                self.combo.setCurrentIndex(first)
        self._on_index(self.combo.currentIndex())

    def set_remote(self, nodes: list[dict[str, Any]]) -> None:
        """Show a Ray cluster's nodes' targets (engine.batch.cluster.list_cluster_targets) below this machine's.

        They are grouped by host and listed for information: the window's panels run on this
        machine, so remote targets are used through the batch dialog (``TARGET@NODE``).
        """
        self.remote = list(nodes)
        self.combo.blockSignals(True)
        while self._model.rowCount() > len(self.targets):
            self._model.removeRow(self._model.rowCount() - 1)
        self._append_remote()
        self.combo.blockSignals(False)

    def _append_remote(self) -> None:
        by_host: dict[str, list[dict[str, Any]]] = {}
        for node in self.remote:
            by_host.setdefault(node["host"], []).append(node)
        for host, nodes in sorted(by_host.items()):
            header = QStandardItem(f"── {host} ──")
            header.setEnabled(False)
            header.setToolTip(", ".join(f"{n['name']}: {n['cpu_model']}" for n in nodes))
            self._model.appendRow(header)
            for node in nodes:
                for t in node["targets"]:
                    item = QStandardItem(f"  {t['name']}@{node['name']}" + ("" if t.get("available") else "  (unavailable)"))
                    item.setEnabled(False)
                    item.setToolTip(f"runs on {host} ({node['name']}); use it in the batch dialog (drop a folder) "
                                    f"as {t['name']}@{node['name']}" + (f"\n{t['reason']}" if t.get("reason") else ""))
                    self._model.appendRow(item)

    def select(self, name: str) -> bool:
        """Select target ``name`` if known and available."""
        for row, info in enumerate(self.targets):
            if info.name == name and info.available:
                self.combo.setCurrentIndex(row)
                return True
        return False

    def current_target(self) -> str:
        value = self.combo.currentData(TARGET_ROLE)
        return str(value) if value else ""

    def current_info(self) -> Any:
        return next((t for t in self.targets if t.name == self.current_target()), None)

    def thread_count(self) -> int | None:
        return self.threads.value() or None

    def target_options(self, *, profile: bool = False) -> Any:
        """engine.backends.TargetOptions for the current choices."""
        from engine.backends import TargetOptions

        return TargetOptions(threads=self.thread_count(), profile=profile, precision=self.precision.currentText())

    def _on_index(self, index: int) -> None:
        info = self.current_info()
        if info is not None:
            # MindSpore runs the MindIR as written: lower precisions are for ONNX targets.
            ms = info.name.startswith("mindspore")
            for row in range(1, self.precision.count()):
                item = self.precision.model().item(row)
                item.setEnabled(not ms)
                what = PRECISIONS[row][1]
                item.setToolTip(f"not on {info.name}: MindSpore runs the MindIR as written; fp16 and int8 are "
                                "made in memory for ONNX Runtime targets" if ms else what)
            if ms:
                self.precision.setCurrentIndex(0)
            self.combo.setToolTip(f"{info.name}: {info.reason or 'available'}")
            self.target_changed.emit(info.name)
