"""The studio's one error channel: describe engine errors, and catch unexpected ones."""

from __future__ import annotations

import logging
import sys
import traceback
from dataclasses import dataclass
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from engine.errors import EngineError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorText:
    """How an error reads in a panel: a short headline, the detail, and what to do."""

    headline: str
    detail: str
    hint: str = ""
    expected: bool = True

    def one_line(self) -> str:
        text = f"{self.headline}: {self.detail}" if self.detail else self.headline
        return f"{text} ({self.hint})" if self.hint else text


def describe(exc: BaseException, action: str = "") -> ErrorText:
    """Turn an exception into panel text; engine errors keep their file, node and hint.

    Args:
        exc: the exception a task or a slot raised.
        action: what was being done ("Cannot open bad.onnx"), used as the headline.
    """
    if isinstance(exc, EngineError):
        detail = exc.message
        if exc.node:
            detail += f" (node {exc.node})"
        headline = action or (str(exc.path) if exc.path else "Error")
        if exc.path is not None and action and exc.path.name not in action:
            detail = f"{exc.path}: {detail}"
        return ErrorText(headline, detail, exc.hint or "", True)
    text = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
    return ErrorText(action or "Unexpected error", detail, "see the log for the traceback", False)


class ErrorReporter(QObject):
    """Receives unexpected errors from any thread and shows them on the GUI thread."""

    error_reported = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._previous = None
        self.parent_widget: QWidget | None = None
        self.show_dialogs = True
        self.error_reported.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        """Install as ``sys.excepthook``: log, then show a dialog; the window keeps running."""
        self._previous = sys.excepthook
        sys.excepthook = self.excepthook

    def uninstall(self) -> None:
        if self._previous is not None:
            sys.excepthook = self._previous
            self._previous = None

    def excepthook(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            if self._previous:
                self._previous(exc_type, exc, tb)
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unexpected error:\n%s", text)
        described = describe(exc)
        self.error_reported.emit(described.one_line(), text)

    def _show(self, message: str, details: str) -> None:
        if not self.show_dialogs:
            return
        box = QMessageBox(QMessageBox.Icon.Critical, "Deploy Studio: unexpected error", message,
                          QMessageBox.StandardButton.Close, self.parent_widget)
        box.setInformativeText("The window keeps running. The full traceback is in the log.")
        box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
