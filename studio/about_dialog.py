"""The About box: versions of the studio, engine, Qt and the runtimes (found without importing them)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from engine import __version__ as engine_version
from studio.icons import icon

log = logging.getLogger(__name__)


def distribution_version(name: str) -> str:
    """A package's installed version from its metadata, without importing it (MindSpore is slow to import)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    import pyqtgraph

    return {
        "Deploy Studio engine": engine_version,
        "ONNX": distribution_version("onnx"),
        "ONNX Runtime": distribution_version("onnxruntime"),
        "MindSpore": distribution_version("mindspore"),
        "Qt": qVersion(),
        "PySide6": pyside_version,
        "pyqtgraph": pyqtgraph.__version__,
        "NumPy": distribution_version("numpy"),
        "Python": platform.python_version(),
        "Platform": platform.platform(),
    }


class AboutDialog(QDialog):
    """Names and versions, selectable so they can be pasted into a bug report."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Deploy Studio")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        logo = QLabel(self)
        logo.setPixmap(icon("deploy-studio").pixmap(64, 64))
        rows = "".join(f"<tr><td>{k}</td><td><b>{v}</b></td></tr>" for k, v in versions().items())
        self.text = QLabel(
            "<h3>Deploy Studio</h3><p>Inspect, convert, export, optimize, validate and benchmark "
            "MindSpore (MindIR, checkpoint) and ONNX models.</p>"
            f"<table cellspacing='4'>{rows}</table>", self)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(logo, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
