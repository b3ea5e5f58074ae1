"""The graph's own tools beside search and zoom: layout direction, minimap, export as PNG/SVG."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QMenu, QToolButton, QWidget

from studio.graph_view import GraphView
from studio.icons import icon

log = logging.getLogger(__name__)


class GraphToolsWidget(QWidget):
    """Three tool buttons that act on one :class:`studio.graph_view.GraphView`.

    Signals:
        exported(str): the graph was written to this path.
        export_failed(str): one line saying why it was not.
    """

    exported = Signal(str)
    export_failed = Signal(str)

    #: where the person's choices are kept (a :class:`studio.settings.Settings` key each).
    DIRECTION_KEY = "graph/direction"
    MINIMAP_KEY = "graph/minimap"

    def __init__(self, view: GraphView, parent: QWidget | None = None, settings: Any = None) -> None:
        super().__init__(parent)
        self.view = view
        self.settings = settings
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.horizontal = QToolButton(self)
        self.horizontal.setText("Left to right")
        self.horizontal.setIcon(icon("layout-horizontal"))
        self.horizontal.setCheckable(True)
        self.horizontal.setToolTip("Left to right: lay the graph out horizontally instead of top to bottom")
        self.horizontal.toggled.connect(self._on_horizontal)
        view.direction_changed.connect(self._on_direction)
        self.minimap = QToolButton(self)
        self.minimap.setText("Minimap")
        self.minimap.setIcon(icon("minimap"))
        self.minimap.setCheckable(True)
        self.minimap.setChecked(True)
        self.minimap.setToolTip("Minimap: an overview of the whole graph in the corner")
        self.minimap.toggled.connect(self._on_minimap)
        self.export = QToolButton(self)
        self.export.setText("Export image")
        self.export.setIcon(icon("export"))
        self.export.setToolTip("Export image: save the whole graph as PNG or SVG")
        self.export.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export)
        menu.addAction("As PNG image…", lambda: self.export_dialog(".png"))
        menu.addAction("As SVG image…", lambda: self.export_dialog(".svg"))
        self.export.setMenu(menu)
        for button in (self.horizontal, self.minimap, self.export):
            button.setAutoRaise(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            layout.addWidget(button)
        self.folder = Path.home()
        if settings is not None:  # the last choices, for every graph opened since
            if str(settings.value(self.DIRECTION_KEY, "TB")) == "LR":
                self.horizontal.setChecked(True)
            if str(settings.value(self.MINIMAP_KEY, "true")).lower() in ("false", "0"):
                self.minimap.setChecked(False)

    def _on_horizontal(self, on: bool) -> None:
        self.view.set_direction("LR" if on else "TB")
        if self.settings is not None:
            self.settings.set_value(self.DIRECTION_KEY, "LR" if on else "TB")

    def _on_minimap(self, on: bool) -> None:
        self.view.minimap.set_enabled_by_user(on)
        if self.settings is not None:
            self.settings.set_value(self.MINIMAP_KEY, "true" if on else "false")

    def export_dialog(self, suffix: str) -> None:
        """Ask where to save, then export."""
        graph = self.view.graph
        name = (graph.name if graph is not None and graph.name else "graph") + suffix
        filters = "PNG image (*.png)" if suffix == ".png" else "SVG image (*.svg)"
        path, _ = QFileDialog.getSaveFileName(self, "Export graph", str(self.folder / name), filters)
        if path:
            target = Path(path)
            if target.suffix.lower() not in (".png", ".svg"):
                target = target.with_suffix(suffix)  # the format follows the menu item chosen
            self.folder = target.parent
            self.export_to(target)

    def export_to(self, path: str | Path) -> bool:
        """Export to ``path``; says why in the log (and ``export_failed``) when it cannot."""
        try:
            written = self.view.export_image(path)
        except (OSError, ValueError) as exc:
            message = f"Cannot export the graph to {Path(path).name}: {exc}"
            log.error("%s", message)
            self.export_failed.emit(message)
            return False
        self.exported.emit(str(written))
        return True

    def _on_direction(self, direction: str) -> None:
        self.horizontal.blockSignals(True)
        self.horizontal.setChecked(self.view.direction == "LR")
        self.horizontal.blockSignals(False)
