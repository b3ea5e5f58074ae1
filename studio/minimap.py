"""The graph's minimap: the whole graph in miniature in a corner, the visible part framed; click to go there."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QWidget

from engine.graphview.categories import node_color
from engine.graphview.graph import DisplayGraph

if TYPE_CHECKING:
    from studio.graph_view import GraphView

log = logging.getLogger(__name__)

BOX = 180  # the longer side of the minimap, in pixels
MIN_SIDE = 28  # a long thin graph still gets a strip this wide
MARGIN = 10  # from the view's corner


def render_overview(graph: DisplayGraph) -> QImage:
    """The nodes of ``graph`` as filled boxes on a transparent image at most :data:`BOX` pixels long.

    Safe on a worker thread (a QImage, no widgets, no palette, no text); the widget paints
    its background under it.
    """
    scale = BOX / max(graph.width, graph.height)
    w = max(MIN_SIDE, round(graph.width * scale))
    h = max(MIN_SIDE, round(graph.height * scale))
    image = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    sx, sy = w / graph.width, h / graph.height
    colors: dict[tuple[str, str], QColor] = {}
    for node in graph.nodes:
        key = (node.category, node.lowering)
        color = colors.get(key)
        if color is None:
            color = colors[key] = QColor(node_color(*key))
        painter.fillRect(QRectF((node.x - node.width / 2) * sx, (node.y - node.height / 2) * sy,
                                max(1.0, node.width * sx), max(1.0, node.height * sy)), color)
    painter.end()
    return image


class MinimapWidget(QWidget):
    """An overview in the bottom-right corner of a :class:`studio.graph_view.GraphView`.

    The nodes are painted once into an image when the graph changes (a 5,000-node graph
    costs a few milliseconds); each repaint only draws that image and the frame of the
    visible area. A press or drag centres the view on that point.
    """

    def __init__(self, view: GraphView) -> None:
        super().__init__(view)
        self.view = view
        self.graph: DisplayGraph | None = None
        self._image: QImage | None = None
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move the view")
        self.hide()
        self.enabled_by_user = True

    # Public API -----------------------------------------------------------------
    def set_graph(self, graph: DisplayGraph | None, image: QImage | None = None) -> None:
        """Show ``graph``'s overview (None hides the minimap).

        ``image`` is :func:`render_overview` of the graph made beforehand (on a worker);
        without it the overview is rendered here.
        """
        self.graph = graph
        self._image = None
        if graph is None or not graph.nodes or graph.width <= 0 or graph.height <= 0:
            self.hide()
            return
        if image is None:
            image = render_overview(graph)
        self._image = image
        self.resize(image.width(), image.height())
        self.reposition()
        self.sync()

    def set_enabled_by_user(self, on: bool) -> None:
        """Show or hide the minimap (the toolbar toggle)."""
        self.enabled_by_user = on
        self.sync()

    def sync(self) -> None:
        """Shown when enabled and some of the graph is out of view (a graph in view needs no map); repainted."""
        whole = QRectF(0, 0, self.width(), self.height()).adjusted(1, 1, -1, -1)
        needed = self._image is not None and not self.visible_rect().contains(whole)
        self.setVisible(self.enabled_by_user and needed)
        if self.isVisible():
            self.update()

    def reposition(self) -> None:
        """Keep to the bottom-right corner of the view's viewport."""
        viewport = self.view.viewport().geometry()
        self.move(viewport.right() - self.width() - MARGIN, viewport.bottom() - self.height() - MARGIN)
        self.raise_()

    def visible_rect(self) -> QRectF:
        """The part of the scene the view shows, in minimap pixels."""
        if self.graph is None or self._image is None:
            return QRectF()
        scene = self.view.mapToScene(self.view.viewport().rect()).boundingRect()
        sx, sy = self._factors()
        return QRectF(scene.left() * sx, scene.top() * sy, scene.width() * sx, scene.height() * sy)

    # Qt overrides ---------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        if self._image is None:
            return
        painter = QPainter(self)
        base = QColor(self.palette().color(QPalette.ColorRole.Base))
        base.setAlpha(225)
        painter.fillRect(self.rect(), base)
        painter.drawImage(0, 0, self._image)
        text = QColor(self.palette().color(QPalette.ColorRole.Text))
        painter.setPen(QPen(text, 1))
        painter.drawRect(QRectF(0, 0, self.width() - 1, self.height() - 1))
        frame = self.visible_rect().intersected(QRectF(0, 0, self.width() - 1, self.height() - 1))
        highlight = QColor(self.palette().color(QPalette.ColorRole.Highlight))
        painter.setPen(QPen(highlight, 2))
        fill = QColor(highlight)
        fill.setAlpha(40)
        painter.setBrush(fill)
        painter.drawRect(frame)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._go(event.position())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._go(event.position())
        event.accept()

    # Internals ------------------------------------------------------------------
    def _factors(self) -> tuple[float, float]:
        assert self.graph is not None
        return self.width() / self.graph.width, self.height() / self.graph.height

    def _go(self, pos: QPointF) -> None:
        if self.graph is None or self._image is None:
            return
        sx, sy = self._factors()
        self.view.centerOn(QPointF(pos.x() / sx, pos.y() / sy))
        self.update()
