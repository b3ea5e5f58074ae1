"""The convert dialog: destination and format; the converted model opens beside the source."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QComboBox, QLabel

from studio.job_dialog import JobDialog, PathEdit

if TYPE_CHECKING:
    from studio.document import Document
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)


#: Default output formats, most expected first (the source's own format is skipped).
PREFERRED_TARGETS = ("onnx", "mindir", "safetensors", "npz", "ckpt")


def writable_graph_formats() -> list[Any]:
    return writable_formats("graph")


def writable_formats(kind: str) -> list[Any]:
    """Formats of ``kind`` ("graph" or "params") the engine can write."""
    from engine import formats

    return [f for f in formats.formats() if f.kind == kind and f.save is not None]


class ConvertDialog(JobDialog):
    """Convert the current document: a network to another graph format (MindIR <-> ONNX), a parameter
    file to another parameter format (ckpt <-> safetensors <-> npz)."""

    run_text = "Convert"

    def __init__(self, window: MainWindow, document: Document) -> None:
        super().__init__(window, f"Convert {document.title}")
        self.document = document
        self.format = QComboBox(self)
        for spec in writable_formats("graph" if document.is_graph else "params"):
            self.format.addItem(f"{spec.label} ({spec.suffixes[0]})", spec)
        # The usual other side: MindIR <-> ONNX, ckpt -> safetensors; then whatever else can be written.
        order = {name: rank for rank, name in enumerate(PREFERRED_TARGETS)}
        candidates = [i for i in range(self.format.count())
                      if self.format.itemData(i).name != document.model.source_format]
        best = min(candidates, key=lambda i: order.get(self.format.itemData(i).name, len(order)), default=0)
        self.format.setCurrentIndex(best)
        self.destination = PathEdit(self._default_path(), "Convert to", self._file_filter(), save=True, parent=self)
        self._default = self.destination.edit.text()
        self.format.currentIndexChanged.connect(self._on_format_changed)
        self.form.addRow("Source", QLabel(str(document.path), self))
        self.form.addRow("Format", self.format)
        self.form.addRow("Destination", self.destination)
        self.result: Any = None
        self.selected_blockers: list[str] = []

    def _suffix(self) -> str:
        spec = self.format.currentData()
        return spec.suffixes[0] if spec else ".onnx"

    def _file_filter(self) -> str:
        spec = self.format.currentData()
        return f"{spec.label} (*{' *'.join(spec.suffixes)})" if spec else "All files (*)"

    def _default_path(self) -> str:
        """Beside the source, with the format's suffix, never on an existing file (MindSpore's own export)."""
        from engine.fileio import free_path

        path = self.document.path.with_suffix(self._suffix())
        if path == self.document.path:
            path = path.with_name(f"{path.stem}.converted{path.suffix}")
        return str(free_path(path, avoid=[self.document.path]))

    def _on_format_changed(self, _index: int) -> None:
        """A default destination follows the format; a typed one keeps its name and takes the format's suffix."""
        text = self.destination.edit.text().strip()
        if not text or text == self._default:
            self._default = self._default_path()
            self.destination.setText(self._default)
        else:
            self.destination.setText(str(Path(text).with_suffix(self._suffix())))
        self.destination._filter = self._file_filter()

    def make_job(self) -> tuple[str, Callable[[Any], Any]] | None:
        from studio.features import feature

        if not feature("convert"):
            self.status.setText(feature("convert").reason)
            return None
        spec = self.format.currentData()
        if not self.destination.edit.text().strip():
            self.status.setText("Choose a file name for the converted model (Browse…).")
            return None
        src, dst = self.document.path, self.destination.path()
        if dst.is_dir():
            self.status.setText(f"{dst} is a folder: choose a file name inside it (Browse…).")
            return None
        if dst.suffix.lower() not in [s.lower() for s in spec.suffixes]:
            self.status.setText(f"{dst.name} does not end in {spec.suffixes[0]}, but the format is {spec.label}: "
                                f"name it {dst.with_suffix(spec.suffixes[0]).name}, or choose the format that "
                                "matches the name.")
            return None
        if not self.confirm_overwrite(dst):
            return None

        def work(job: Any) -> Any:
            from engine.convert import convert

            return convert(src, dst, fmt=spec.name, job=job)

        return f"Convert {src.name} to {dst.name}", work

    def _failed(self, exc: BaseException) -> None:
        """Show the refusal, then list every node that blocks the conversion and select them in the graph."""
        super()._failed(exc)
        blockers = list(getattr(self.document.model, "unlowered", None) or [])
        if not blockers:
            return
        items = "<br>".join(f"&nbsp;• <b>{html.escape(b.node)}</b> ({html.escape(b.primitive)})"
                            + (f" in {html.escape(b.scope)}" if b.scope else "") for b in blockers)
        from studio.errors import describe

        detail = html.escape(describe(exc).detail)
        # The window's own advice replaces the engine's command-line hint.
        self.status.setText(f"<span style='color:#d64545'><b>Failed</b>: {detail}</span><br>{len(blockers)} node(s) "
                            f"block the conversion, selected in the graph:<br>{items}<br><i>The model stays open in "
                            "its tab; a mindspore target runs the MindIR as it is.</i>")
        self.adjustSize()
        view = self.window.view_for(self.document)
        if view is None:
            return
        ids = [b.node for b in blockers]

        def select(mode: str = "source") -> None:
            if mode == "source":
                self.selected_blockers = view.select_nodes(ids)

        if view.mode != "source":
            view.mode_changed.connect(select)  # selected once the source graph is shown
            view.show_mode("source")
        select()

    def on_result(self, result: Any) -> None:
        self.result = result
        self.status.setText(f"Wrote <b>{result.output}</b> ({result.format}) in {result.seconds:.2f} s; "
                            "it opens in a new tab.")
        self.window.open_files([result.output])
