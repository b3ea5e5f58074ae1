"""The convert dialog: destination and format; the converted model opens beside the source."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QComboBox, QLabel

from studio.job_dialog import JobDialog, PathEdit

if TYPE_CHECKING:
    from studio.document import Document
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)


def writable_graph_formats() -> list[Any]:
    from engine import formats

    return [f for f in formats.formats() if f.kind == "graph" and f.save is not None]


class ConvertDialog(JobDialog):
    """Convert the current document to another graph format (MindIR <-> ONNX)."""

    run_text = "Convert"

    def __init__(self, window: MainWindow, document: Document) -> None:
        super().__init__(window, f"Convert {document.title}")
        self.document = document
        self.format = QComboBox(self)
        for spec in writable_graph_formats():
            self.format.addItem(f"{spec.label} ({spec.suffixes[0]})", spec)
        other = next((i for i in range(self.format.count())
                      if self.format.itemData(i).name != document.model.source_format), 0)
        self.format.setCurrentIndex(other)
        self.destination = PathEdit(self._default_path(), "Convert to", "All files (*)", save=True, parent=self)
        self.format.currentIndexChanged.connect(lambda _: self.destination.setText(self._default_path()))
        self.form.addRow("Source", QLabel(str(document.path), self))
        self.form.addRow("Format", self.format)
        self.form.addRow("Destination", self.destination)
        self.result: Any = None

    def _default_path(self) -> str:
        spec = self.format.currentData()
        suffix = spec.suffixes[0] if spec else ".onnx"
        path = self.document.path.with_suffix(suffix)
        if path == self.document.path:
            path = path.with_name(f"{path.stem}.converted{suffix}")
        return str(path)

    def make_job(self) -> tuple[str, Callable[[Any], Any]] | None:
        from studio.features import feature

        if not feature("convert"):
            self.status.setText(feature("convert").reason)
            return None
        src, dst, spec = self.document.path, self.destination.path(), self.format.currentData()

        def work(job: Any) -> Any:
            from engine.convert import convert

            return convert(src, dst, fmt=spec.name, job=job)

        return f"Convert {src.name} to {dst.name}", work

    def on_result(self, result: Any) -> None:
        self.result = result
        self.status.setText(f"Wrote <b>{result.output}</b> ({result.format}) in {result.seconds:.2f} s; "
                            "it opens in a new tab.")
        self.window.open_files([result.output])
