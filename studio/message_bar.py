"""An inline, dismissable message strip (drop feedback, open errors) above the documents."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from studio.errors import ErrorText
from studio.icons import icon

log = logging.getLogger(__name__)

_STYLES = {
    "error": ("#fbe9e9", "#8f1d1d", "#e4a3a3"),
    "warning": ("#fdf3e1", "#7a4b00", "#edc98a"),
    "info": ("#e8f1fc", "#1c4577", "#a9c6ee"),
}


class MessageBar(QFrame):
    """Shows one message at a time with a severity colour; hidden until there is one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self)
        close.setIcon(icon("cancel"))
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.severity = ""
        self.hide()

    def show_text(self, text: str, severity: str = "info") -> None:
        background, foreground, border = _STYLES.get(severity, _STYLES["info"])
        self.setStyleSheet(f"#messageBar {{ background: {background}; border: 1px solid {border}; }}"
                           f" #messageBar QLabel {{ color: {foreground}; }}")
        self.severity = severity
        self.label.setText(text)
        self.show()

    def show_error(self, error: ErrorText) -> None:
        text = f"<b>{error.headline}</b>: {error.detail}"
        if error.hint:
            text += f"<br><i>{error.hint}</i>"
        self.show_text(text, "error")

    def text(self) -> str:
        return self.label.text()
