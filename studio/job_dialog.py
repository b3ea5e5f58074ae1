"""Base of the dialogs that run one engine job (convert, export, optimize) with progress and errors inline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.errors import describe

if TYPE_CHECKING:
    from studio.main_window import MainWindow
    from studio.workers import Task

log = logging.getLogger(__name__)


class PathEdit(QWidget):
    """A line edit with a browse button (open or save a file, or choose a folder)."""

    def __init__(self, path: str, caption: str, file_filter: str = "", *, save: bool = False, folder: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(path, self)
        self.edit.setMinimumWidth(380)
        button = QPushButton("Browse…", self)
        button.clicked.connect(self._browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(button)
        self._caption, self._filter, self._save, self._folder = caption, file_filter, save, folder

    def _browse(self) -> None:
        if self._folder:
            path = QFileDialog.getExistingDirectory(self, self._caption, self.edit.text())
            if path:
                self.edit.setText(path)
            return
        dialog = QFileDialog.getSaveFileName if self._save else QFileDialog.getOpenFileName
        path, _ = dialog(self, self._caption, self.edit.text(), self._filter)
        if path:
            self.edit.setText(path)

    def path(self) -> Path:
        return Path(self.edit.text().strip()).expanduser()

    def setText(self, text: str) -> None:  # noqa: N802 - mirrors QLineEdit
        self.edit.setText(text)


class JobDialog(QDialog):
    """A form, a Run button, a progress bar, and the job's result or error shown in place.

    Subclasses fill :attr:`form` and implement :meth:`make_job`. Signals: job_finished(object).
    """

    job_finished = Signal(object)
    run_text = "Run"

    def __init__(self, window: MainWindow, title: str) -> None:
        super().__init__(window)
        self.window = window
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.form = QFormLayout()
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.run_button = self.buttons.addButton(self.run_text, QDialogButtonBox.ButtonRole.ActionRole)
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        self.layout_ = QVBoxLayout(self)
        self.layout_.addLayout(self.form)
        self.extra = QVBoxLayout()
        self.layout_.addLayout(self.extra, 1)
        self.layout_.addWidget(self.progress)
        self.layout_.addWidget(self.status)
        self.layout_.addWidget(self.buttons)
        self.task: Task | None = None
        self.overwrite_box: QMessageBox | None = None
        self._confirmed: Path | None = None  # a destination the user agreed to replace

    def confirm_overwrite(self, dst: Path) -> bool:
        """True when ``dst`` may be written: it does not exist, or the user chose Replace for it.

        Otherwise asks (window-modal, not blocking) and returns False; Replace starts the job
        again, Keep says nothing was written. Call from :meth:`make_job` before returning a job.
        """
        if not dst.exists() or self._confirmed == dst:
            self._confirmed = None
            return True
        box = QMessageBox(QMessageBox.Icon.Warning, "Replace file?",
                          f"{dst.name} already exists in {dst.parent}.", QMessageBox.StandardButton.NoButton, self)
        box.setInformativeText("Replacing it loses what it holds now. Keep it and choose another name, or replace it.")
        replace = box.addButton("Replace", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep it", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        self.overwrite_box = box

        def answered(_result: int) -> None:
            self.overwrite_box = None
            if box.clickedButton() is replace:
                self._confirmed = dst
                self.start()
            else:
                self.status.setText(f"Nothing written: {dst.name} was kept. Choose another name.")
            box.deleteLater()

        box.finished.connect(answered)
        box.open()
        return False

    def make_job(self) -> tuple[str, Callable[[Any], Any]] | None:
        """(title, fn(job)) to run, or None after showing why not in :attr:`status`."""
        raise NotImplementedError

    def on_result(self, result: Any) -> None:
        """Show the result (GUI thread)."""

    def start(self) -> None:
        made = self.make_job()
        if made is None:
            return
        title, fn = made
        self.run_button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText("")
        self.task = self.window.runner.start(f"dialog:{type(self).__name__}", title, fn,
                                             on_result=self._done, on_error=self._failed,
                                             on_cancel=self._cancelled)
        self.task.progress_changed.connect(self._progress)

    def _progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.progress.setFormat(f"{fraction:.0%} {message}")

    def _done(self, result: Any) -> None:
        self.run_button.setEnabled(True)
        self.progress.setValue(1000)
        self.on_result(result)
        self.job_finished.emit(result)

    def _failed(self, exc: BaseException) -> None:
        self.run_button.setEnabled(True)
        self.progress.hide()
        from studio.advice import window_advice

        text = describe(exc)
        log.error("%s failed: %s", self.windowTitle(), text.one_line())
        advice = window_advice(exc, text.hint)
        self.status.setText(f"<span style='color:#d64545'><b>Failed</b>: {text.detail}</span>"
                            + (f"<br><i>{advice}</i>" if advice else ""))

    def _cancelled(self) -> None:
        self.run_button.setEnabled(True)
        self.status.setText("Cancelled; nothing was written.")

    def reject(self) -> None:
        if self.task is not None and self.task.state == "running":
            self.task.cancel()
        super().reject()
