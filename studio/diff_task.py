"""Diff the parameters of an open parameter file against another file, on a worker."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog

from studio.errors import describe

if TYPE_CHECKING:
    from studio.document import Document
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)


def start_diff(window: MainWindow, document: Document, other: str | Path | None = None) -> None:
    """Ask for the other file (unless given) and show engine.inspect.diff_params in the document's tab."""
    if other is None:
        from engine import formats

        other, _ = QFileDialog.getOpenFileName(window, f"Diff {document.title} with", str(document.path.parent),
                                               formats.file_dialog_filter())
        if not other:
            return
    other = Path(other)
    params_a = document.model.params
    view = document.view  # type: ignore[attr-defined]

    def work(job: Any) -> Any:
        from engine import formats
        from engine.export import graph_parameters
        from engine.inspect import diff_params

        model = formats.load(other, job=job.sub(0.0, 0.7))
        params_b = model.params if model.params is not None else graph_parameters(model)
        job.report(0.8, "comparing")
        return diff_params(params_a, params_b)

    def failed(exc: BaseException) -> None:
        window.messages.show_error(describe(exc, f"Cannot diff with {other.name}"))

    window.runner.start(f"diff:{document.path}", f"Diff {document.title} with {other.name}", work,
                        on_result=lambda diff: view.params_view.show_diff(f"{other.parent.name}/{other.name}", diff), on_error=failed)
