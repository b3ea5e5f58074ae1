"""The "Package for serving" dialog: a validated MindSpore Serving servable or Triton model repository."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QSpinBox

from studio.job_dialog import JobDialog, PathEdit

if TYPE_CHECKING:
    from studio.document import Document
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)

#: format -> (label, targets the runtime has, in order).
FORMATS = {
    "triton": ("Triton (ONNX Runtime backend)", ["onnxruntime:cpu", "onnxruntime:cuda", "onnxruntime:tensorrt",
                                                 "onnxruntime:openvino"]),
    "mindspore-serving": ("MindSpore Serving", ["mindspore:cpu", "mindspore:gpu", "mindspore:ascend"]),
}


class PackageDialog(JobDialog):
    """Write the current model as a serving package and show its validation."""

    run_text = "Package"

    def __init__(self, window: MainWindow, document: Document) -> None:
        super().__init__(window, f"Package {document.title} for serving")
        self.document = document
        self.format = QComboBox(self)
        for key, (label, _) in FORMATS.items():
            self.format.addItem(label, key)
        self.target = QComboBox(self)
        self.name = QLineEdit(re.sub(r"[^A-Za-z0-9_.-]", "_", document.path.stem) or "model", self)
        self.folder = PathEdit(str(document.path.parent / "serving"), "Package into folder", folder=True, parent=self)
        self.max_batch = QSpinBox(self)
        self.max_batch.setRange(-1, 4096)
        self.max_batch.setSpecialValueText("auto (8 when the batch can be dynamic)")
        self.max_batch.setValue(-1)
        self.instances = QSpinBox(self)
        self.instances.setRange(1, 64)
        self.force = QCheckBox("Replace a package of the same name", self)
        self.format.currentIndexChanged.connect(self._on_format)
        self.form.addRow("Model", QLabel(str(document.path), self))
        self.form.addRow("Format", self.format)
        self.form.addRow("Target", self.target)
        self.form.addRow("Name", self.name)
        self.form.addRow("Into folder", self.folder)
        self.form.addRow("Max batch", self.max_batch)
        self.form.addRow("Instances", self.instances)
        self.form.addRow("", self.force)
        self.result: Any = None
        self._on_format(0)

    def _on_format(self, _index: int) -> None:
        from engine.backends import list_targets

        available = {i.name for i in list_targets() if i.available}
        key = self.format.currentData()
        self.target.clear()
        for t in FORMATS[key][1]:
            self.target.addItem(t if t in available else f"{t} (validated on the CPU here)", t)
        self.max_batch.setEnabled(key == "triton")

    def make_job(self) -> tuple[str, Callable[[Any], Any]] | None:
        name = self.name.text().strip()
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name or ""):
            self.status.setText("Give a name of letters, digits, '_', '.' or '-' (it becomes the model's URL).")
            return None
        if not self.folder.edit.text().strip():
            self.status.setText("Choose a folder to write the package into (Browse…).")
            return None
        fmt, target, folder = self.format.currentData(), self.target.currentData(), self.folder.path()
        max_batch = None if self.max_batch.value() < 0 or fmt != "triton" else self.max_batch.value()
        instances, force = self.instances.value(), self.force.isChecked()
        model = self.document.model

        def work(job: Any) -> Any:
            from engine.serving.package import package

            return package(model, fmt, folder, target=target, name=name, max_batch=max_batch, instances=instances,
                           overwrite=force, job=job)

        return f"Package {self.document.title} for {fmt}", work

    def on_result(self, result: Any) -> None:
        self.result = result
        v = result.validation
        outputs = v.get("parity", {}).get("outputs", [])
        worst = max((o.get("max_abs") or 0.0 for o in outputs), default=0.0)
        verdict = ("<span style='color:#2a8a3a'><b>Validated</b></span>" if result.passed
                   else "<span style='color:#d64545'><b>Validation failed</b></span>")
        batch = v.get("batch_check")
        lines = [f"Wrote <b>{html.escape(str(result.folder))}</b> ({len(result.files)} files).",
                 f"{verdict}: packaged model on {html.escape(v['candidate']['target'])} vs the source on "
                 f"{html.escape(v['reference']['target'])}, max abs error {worst:.3g}"
                 + (f"; a batch of {batch['batch']} {'matches' if batch['passed'] else 'differs from'} one by one"
                    if batch else "") + "."]
        lines += [f"<span style='color:#d64545'>{html.escape(e)}</span>"
                  for e in (v.get("error"), (batch or {}).get("error")) if e]
        lines += [f"<i>{html.escape(n)}</i>" for n in result.notes]
        lines.append(f"How to start the server: {html.escape(str(result.folder / 'README.md'))}")
        self.status.setText("<br>".join(lines))
        self.adjustSize()
