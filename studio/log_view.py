"""The log dock: engine and studio log records, from any thread, shown on the GUI thread."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QTextCharFormat
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)

#: Loggers whose records the dock shows.
WATCHED_LOGGERS = ("engine", "studio")
MAX_LINES = 5000


class _Bridge(QObject):
    record_emitted = Signal(int, str)


class QtLogHandler(logging.Handler):
    """A logging handler that forwards formatted records through a queued Qt signal."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.bridge = _Bridge()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bridge.record_emitted.emit(record.levelno, self.format(record))
        except RuntimeError:  # the dock is gone (window closed); drop the record
            pass
        except Exception:
            self.handleError(record)


class LogView(QWidget):
    """Shows log records with a level filter; attaches itself to the engine and studio loggers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_LINES)
        self.text.setFont(QFont("monospace", 9))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.level = QComboBox(self)
        for name in ("DEBUG", "INFO", "WARNING", "ERROR"):
            self.level.addItem(name, getattr(logging, name))
        self.level.setCurrentIndex(1)
        self.level.setToolTip("Lowest level shown")
        self.level.currentIndexChanged.connect(self._refilter)
        clear = QPushButton("Clear", self)
        clear.clicked.connect(self.text.clear)
        bar = QHBoxLayout()
        bar.addWidget(self.level)
        bar.addStretch(1)
        bar.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.text)
        self.lines: list[tuple[int, str]] = []
        self.handler = QtLogHandler()
        self.handler.bridge.record_emitted.connect(self.append, Qt.ConnectionType.QueuedConnection)
        for name in WATCHED_LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self.handler)
            if logger.level == logging.NOTSET or logger.level > logging.INFO:
                logger.setLevel(logging.INFO)

    def detach(self) -> None:
        """Remove the handler from the loggers (call when the window closes)."""
        for name in WATCHED_LOGGERS:
            logging.getLogger(name).removeHandler(self.handler)

    def append(self, level: int, text: str) -> None:
        """Add one line (GUI thread); warnings and errors are coloured."""
        self.lines.append((level, text))
        del self.lines[:-MAX_LINES]
        if level < int(self.level.currentData()):
            return
        fmt = QTextCharFormat()
        if level >= logging.ERROR:
            fmt.setForeground(QColor("#d64545"))
        elif level >= logging.WARNING:
            fmt.setForeground(QColor("#c77c0e"))
        cursor = self.text.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        if not self.text.document().isEmpty():
            cursor.insertBlock()
        cursor.insertText(text, fmt)
        self.text.verticalScrollBar().setValue(self.text.verticalScrollBar().maximum())

    def _refilter(self) -> None:
        lines, self.lines = self.lines, []
        self.text.clear()
        for level, text in lines:
            self.append(level, text)

    def plain_text(self) -> str:
        return self.text.toPlainText()
