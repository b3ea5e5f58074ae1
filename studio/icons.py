"""Icons drawn as SVG under resources/icons (the package studio.resources), found through importlib.resources."""

from __future__ import annotations

import functools
import logging

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from studio.assets import resource

log = logging.getLogger(__name__)

_SIZES = (16, 20, 24, 32, 48, 64)


def icon_names() -> list[str]:
    """Every icon shipped with the studio (file stems)."""
    folder = resource("icons")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".svg"))


def svg_bytes(name: str) -> bytes:
    """The SVG source of icon ``name``; FileNotFoundError if there is none."""
    return resource("icons", f"{name}.svg").read_bytes()


@functools.lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """A QIcon rendered from ``name``.svg at the usual sizes (works from a zip or a frozen app)."""
    try:
        renderer = QSvgRenderer(QByteArray(svg_bytes(name)))
    except FileNotFoundError:
        log.warning("no icon named %s", name)
        return QIcon()
    result = QIcon()
    for size in _SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        renderer.render(painter)
        painter.end()
        result.addPixmap(pixmap)
    return result
