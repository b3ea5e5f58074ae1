"""The start page shown when no document is open: open, the bundled sample, recent files, a drop target."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.icons import icon

log = logging.getLogger(__name__)

#: Recent files listed on the start page (the File menu keeps the full list).
WELCOME_RECENT = 8
DROP_STYLE = "#dropZone { border: 2px dashed palette(highlight); border-radius: 10px; background: palette(alternate-base); }"
IDLE_STYLE = "#dropZone { border: 2px dashed palette(mid); border-radius: 10px; }"


def sample_model() -> Path:
    """The bundled LeNet-5 MindIR, found through importlib.resources (not the working directory)."""
    from studio.assets import resource  # the top-level resources/, shipped as studio.resources

    return Path(str(resource("samples", "lenet5.mindir")))


def _short(path: Path) -> str:
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


class WelcomeWidget(QWidget):
    """Big, quiet start page with a drop zone that lights up while files are dragged over it.

    Recent files are read from the window's settings each time the page is shown.

    Signals:
        open_requested(): the Open button.
        file_requested(str): the sample or a recent file.
    """

    open_requested = Signal()
    file_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.drop_active = False
        self.zone = QFrame(self)
        self.zone.setObjectName("dropZone")
        self.zone.setStyleSheet(IDLE_STYLE)
        title = QLabel("<h2>Deploy Studio</h2>", self.zone)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint = QLabel("Drop a MindSpore MindIR, checkpoint or ONNX file here, or open one.\n"
                           "Then pick a target, and convert, validate or benchmark it.", self.zone)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        open_button = QPushButton(icon("open"), "Open a model…", self.zone)
        open_button.clicked.connect(self.open_requested)
        sample = QPushButton(icon("graph"), "Open the LeNet-5 sample", self.zone)
        sample.clicked.connect(lambda: self.file_requested.emit(str(sample_model())))
        sample.setEnabled(sample_model().exists())
        self.recent_title = QLabel("<b>Recent</b>", self.zone)
        self.recent_box = QWidget(self.zone)
        self.recent_layout = QVBoxLayout(self.recent_box)
        self.recent_layout.setContentsMargins(0, 0, 0, 0)
        self.recent_layout.setSpacing(2)
        self.recent_buttons: list[QPushButton] = []
        inner = QVBoxLayout(self.zone)
        inner.setContentsMargins(40, 30, 40, 30)
        for widget in (title, self.hint, open_button, sample, self.recent_title, self.recent_box):
            inner.addWidget(widget, 0, Qt.AlignmentFlag.AlignHCenter)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.zone, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
        self.set_recent([])

    # Recent files -------------------------------------------------------------
    def set_recent(self, paths: list[str]) -> None:
        """List up to WELCOME_RECENT recent files that still exist, newest first."""
        for button in self.recent_buttons:
            button.deleteLater()
        self.recent_buttons = []
        for raw in paths:
            path = Path(raw)
            if not path.is_file():
                continue
            button = QPushButton(icon("graph"), _short(path), self.recent_box)
            button.setFlat(True)
            button.setToolTip(str(path))
            button.clicked.connect(lambda _checked=False, p=str(path): self.file_requested.emit(p))
            self.recent_layout.addWidget(button, 0, Qt.AlignmentFlag.AlignLeft)
            self.recent_buttons.append(button)
            if len(self.recent_buttons) == WELCOME_RECENT:
                break
        self.recent_title.setVisible(bool(self.recent_buttons))

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        settings = getattr(self.window(), "settings", None)
        if settings is not None:
            self.set_recent(settings.recent_files())
        super().showEvent(event)

    # Drop target --------------------------------------------------------------
    def _set_drop_active(self, active: bool) -> None:
        self.drop_active = active
        self.zone.setStyleSheet(DROP_STYLE if active else IDLE_STYLE)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            self._set_drop_active(True)
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802 - Qt override
        self._set_drop_active(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        """Hand the files to the window (the one place drops are decided)."""
        self._set_drop_active(False)
        handle = getattr(self.window(), "handle_drop", None)
        if handle is not None and handle(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()
