"""Export a graph scene as PNG (raster, 1:1 up to a size limit) or SVG (vector, QSvgGenerator)."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QGraphicsScene

log = logging.getLogger(__name__)

MAX_PNG_SIDE = 16384  # QImage and most viewers cope up to here; larger graphs are scaled down
FORMATS = {".png": "PNG image", ".svg": "SVG vector image"}


def export_scene(scene: QGraphicsScene, path: Path, title: str = "graph") -> Path:
    """Render the whole of ``scene`` into ``path`` (.png or .svg), via a temporary file and a rename.

    Raises:
        ValueError: the suffix is neither .png nor .svg.
        OSError: the file cannot be written.
    """
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path.name}: export as .png or .svg (got {path.suffix or 'no suffix'})")
    source = scene.sceneRect()
    saved = [i for i in scene.selectedItems()]
    for item in saved:  # the picture shows the graph, not today's selection
        item.setSelected(False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=suffix, dir=str(path.parent))
    os.close(fd)
    try:
        if suffix == ".png":
            _write_png(scene, source, tmp)
        else:
            _write_svg(scene, source, tmp, title)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        for item in saved:
            item.setSelected(True)
    log.info("exported the graph to %s", path)
    return path


def _background(scene: QGraphicsScene) -> QColor:
    views = scene.views()
    return views[0].palette().color(QPalette.ColorRole.Base) if views else QColor("white")


def _write_png(scene: QGraphicsScene, source: QRectF, path: str) -> None:
    scale = min(1.0, MAX_PNG_SIDE / max(source.width(), source.height(), 1.0))
    size = QSize(max(1, round(source.width() * scale)), max(1, round(source.height() * scale)))
    image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(_background(scene))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    scene.render(painter, QRectF(0, 0, size.width(), size.height()), source, Qt.AspectRatioMode.KeepAspectRatio)
    painter.end()
    if not image.save(path, "PNG"):
        raise OSError(f"{path}: could not write the PNG")


def _write_svg(scene: QGraphicsScene, source: QRectF, path: str, title: str) -> None:
    from PySide6.QtSvg import QSvgGenerator

    generator = QSvgGenerator()
    generator.setFileName(path)
    generator.setSize(QSize(max(1, round(source.width())), max(1, round(source.height()))))
    generator.setViewBox(QRectF(0, 0, source.width(), source.height()))
    generator.setTitle(title)
    generator.setDescription("Exported by Deploy Studio")
    painter = QPainter()
    if not painter.begin(generator):
        raise OSError(f"{path}: could not write the SVG")
    painter.fillRect(QRectF(0, 0, source.width(), source.height()), _background(scene))
    scene.render(painter, QRectF(0, 0, source.width(), source.height()), source)
    painter.end()
