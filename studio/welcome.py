"""The start page shown when no document is open: open, the bundled sample, recent files."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from studio.icons import icon

log = logging.getLogger(__name__)


def sample_model() -> Path:
    """The bundled LeNet-5 MindIR, found through importlib.resources (not the working directory)."""
    return Path(str(resources.files("studio") / "resources" / "samples" / "lenet5.mindir"))


class WelcomeWidget(QWidget):
    """Big, quiet start page. Signals: open_requested(), file_requested(str)."""

    open_requested = Signal()
    file_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("<h2>Deploy Studio</h2>", self)
        text = QLabel("Drop a MindSpore MindIR, checkpoint or ONNX file here, or open one.\n"
                      "Then pick a target, and convert, validate or benchmark it.", self)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setEnabled(False)
        open_button = QPushButton(icon("open"), "Open a model…", self)
        open_button.clicked.connect(self.open_requested)
        sample = QPushButton(icon("graph"), "Open the LeNet-5 sample", self)
        sample.clicked.connect(lambda: self.file_requested.emit(str(sample_model())))
        sample.setEnabled(sample_model().exists())
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        for widget in (title, text, open_button, sample):
            layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(3)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
