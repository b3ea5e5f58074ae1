"""Scene items for the graph view: one NodeItem per node, one EdgeLayerItem for all edges.

Both paint with level of detail: below a zoom threshold text, arrowheads and rounded
corners are skipped, so a fully zoomed-out 5,000-node graph repaints quickly. Edges share
one item that culls by the exposed rectangle with numpy, instead of thousands of items.
A node's weights are drawn inside its box under the title (``W<64x3x7x7>``), one line
each, and can be clicked (:meth:`NodeItem.weight_at`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from engine.graphview.categories import node_color, text_on
from engine.graphview.graph import DisplayEdge, DisplayGraph, DisplayNode
from engine.graphview.layout import MAX_WEIGHT_LINES, WEIGHT_LINE, header_height, weight_lines

TEXT_LOD = 0.45  # below this scale, boxes are plain rectangles without text
DETAIL_LOD = 0.2  # below this, no rounded corners or arrowheads
LABEL_LOD = 0.9  # edge shape labels from this scale up


_COLORS: dict[tuple[str, str], tuple[QColor, QColor]] = {}


def _fill_and_text(category: str, lowering: str) -> tuple[QColor, QColor]:
    """A box's fill and the text colour that reads on it (cached: a handful of pairs per graph)."""
    pair = _COLORS.get((category, lowering))
    if pair is None:
        fill = QColor(node_color(category, lowering))
        pair = _COLORS[(category, lowering)] = (fill, QColor(text_on(fill.name())))
    return QColor(pair[0]), QColor(pair[1])


class NodeItem(QGraphicsItem):
    """One node's box: fill by category (or heat), op type and short name, selection outline."""

    def __init__(self, node: DisplayNode, style: GraphStyle) -> None:
        super().__init__()
        self.node = node
        self.style = style
        self.highlighted = False
        self._rect = QRectF(-node.width / 2, -node.height / 2, node.width, node.height)
        self._fill, self._text = _fill_and_text(node.category, node.lowering)
        self._header = header_height(node)
        self._lines: list[str] | None = None  # weight lines, made on first use (5,000 items open faster)
        self.setPos(node.x, node.y)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setZValue(1)

    @property
    def _weight_lines(self) -> list[str]:
        if self._lines is None:
            self._lines = weight_lines(self.node) if self.node.kind == "op" else []
        return self._lines

    def toolTip(self) -> str:  # noqa: N802 - the name Qt uses; GraphView shows it on a tooltip event
        """Op type and readable name, the name in the file, the weights, why it was not converted.

        Made when asked for rather than set on every item (GraphView.viewportEvent shows it).
        """
        node = self.node
        tip = f"{node.op_type}  {node.title}"
        if node.name and node.name != node.title:
            tip += f"\nin the file: {node.name}"
        for w in node.weights:
            tip += f"\n{w.label}  {w.name}"
        if node.lowering in ("failed", "skipped"):
            tip += f"\nnot converted to ONNX: {node.lowering_reason}"
        return tip

    @property
    def node_id(self) -> str:
        return self.node.id

    def brush(self) -> QBrush:
        """The current fill."""
        return QBrush(self._fill)

    def set_fill(self, color: QColor) -> None:
        """Fill with ``color`` and pick black or white text to match."""
        self._fill = QColor(color)
        self._text = QColor(text_on(self._fill.name()))
        self.update()

    def reset_fill(self) -> None:
        """Back to the category colour (the error colour for a node that could not be lowered)."""
        self._fill, self._text = _fill_and_text(self.node.category, self.node.lowering)
        self.update()

    def set_highlighted(self, on: bool) -> None:
        if on != self.highlighted:
            self.highlighted = on
            self.update()

    def weight_rect(self, line: int) -> QRectF:
        """The rectangle (item coordinates) of weight line ``line``."""
        r = self._rect
        return QRectF(r.left() + 4, r.top() + self._header + line * WEIGHT_LINE, r.width() - 8, WEIGHT_LINE)

    def weight_at(self, pos: QPointF) -> int | None:
        """Index into ``node.weights`` of the weight line at ``pos`` (item coordinates), or None.

        The "+N more" line (more weights than the box shows) answers None.
        """
        for line in range(len(self._weight_lines)):
            if self.weight_rect(line).contains(pos):
                hidden = len(self.node.weights) > MAX_WEIGHT_LINES and line == MAX_WEIGHT_LINES - 1
                return None if hidden else line
        return None

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self._rect.adjusted(-3, -3, 3, 3)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self._rect)
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        rect = self._rect
        selected = self.isSelected()
        if lod < DETAIL_LOD:
            painter.fillRect(rect, self.style.highlight if (selected or self.highlighted) else self._fill)
            return
        if selected:
            painter.setPen(QPen(self.style.selected, 3))
        elif self.highlighted:
            painter.setPen(QPen(self.style.match, 2.5))
        else:
            painter.setPen(QPen(self._fill.darker(140), 1))
        painter.setBrush(self._fill)
        painter.drawRoundedRect(rect, 5, 5)
        if lod < TEXT_LOD:
            return
        painter.setPen(self._text)
        node = self.node
        head = QRectF(rect.left(), rect.top(), rect.width(), self._header)
        if node.short_name and node.kind == "op":
            top = QRectF(head.left() + 4, head.top() + 2, head.width() - 8, head.height() / 2)
            bottom = QRectF(head.left() + 4, head.center().y() - 1, head.width() - 8, head.height() / 2 - 2)
            painter.setFont(self.style.bold)
            painter.drawText(top, Qt.AlignmentFlag.AlignCenter,
                             self.style.bold_metrics.elidedText(node.label, Qt.TextElideMode.ElideRight, top.width()))
            painter.setFont(self.style.small)
            painter.drawText(bottom, Qt.AlignmentFlag.AlignCenter,
                             self.style.small_metrics.elidedText(node.short_name, Qt.TextElideMode.ElideMiddle,
                                                                 bottom.width()))
        else:
            painter.setFont(self.style.bold)
            text = node.label if node.kind == "op" else f"{node.label}: {node.short_name or node.name}"
            inner = head.adjusted(4, 0, -4, 0)
            painter.drawText(inner, Qt.AlignmentFlag.AlignCenter,
                             self.style.bold_metrics.elidedText(text, Qt.TextElideMode.ElideRight, inner.width()))
        if self._weight_lines:
            # The weights sit on a lighter band, like Netron's: one line each, left aligned.
            band = QRectF(rect.left() + 1, rect.top() + self._header, rect.width() - 2,
                          rect.height() - self._header - 1)
            painter.fillRect(band, self.style.weight_band)
            painter.setPen(self.style.weight_text)
            painter.setFont(self.style.small)
            for line, text in enumerate(self._weight_lines):
                box = self.weight_rect(line).adjusted(2, 0, -2, 0)
                painter.drawText(box, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                                 self.style.small_metrics.elidedText(text, Qt.TextElideMode.ElideRight, box.width()))


class GraphStyle:
    """Pens, fonts and colours shared by all items, derived from the widget's palette."""

    def __init__(self, font: QFont, text: QColor, highlight: QColor) -> None:
        size = font.pointSizeF() if font.pointSizeF() > 0 else 9.0
        self.bold = QFont(font)
        self.bold.setPointSizeF(max(8.0, size * 0.95))
        self.bold.setBold(True)
        self.small = QFont(font)
        self.small.setPointSizeF(max(7.0, size * 0.85))
        self.bold_metrics = QFontMetricsF(self.bold)
        self.small_metrics = QFontMetricsF(self.small)
        self.highlight = QColor(highlight)
        self.selected = QColor(text)  # the text colour rings a box on any fill, light or dark
        self.match = QColor("#ffb000")
        self.edge = QColor(text)
        self.edge.setAlphaF(0.55)
        self.label = QColor(text)
        self.label.setAlphaF(0.8)
        self.weight_band = QColor(255, 255, 255, 170)  # weights read dark on a light band, on any fill
        self.weight_text = QColor("#202020")


class EdgeGeometry:
    """The painter paths, bounding boxes and label flags of a graph's edges.

    Plain data (QPainterPath is reentrant), so a worker can build it for a large graph and
    the GUI thread only wraps it in an :class:`EdgeLayerItem`.
    """

    def __init__(self, edges: list[DisplayEdge], direction: str = "TB") -> None:
        horizontal = direction == "LR"
        self.direction = direction
        self.edges = [e for e in edges if len(e.points) >= 2]
        self.paths: list[QPainterPath] = []
        boxes = np.zeros((len(self.edges), 4))
        for i, edge in enumerate(self.edges):
            pts = edge.points
            path = QPainterPath(QPointF(*pts[0]))
            for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
                if (y0 == y1) if horizontal else (x0 == x1):
                    path.lineTo(x1, y1)
                elif horizontal:  # a horizontal-tangent curve, as flows read left to right
                    mid = (x0 + x1) / 2
                    path.cubicTo(mid, y0, mid, y1, x1, y1)
                else:  # a vertical-tangent curve, as flows read top to bottom
                    mid = (y0 + y1) / 2
                    path.cubicTo(x0, mid, x1, mid, x1, y1)
            self.paths.append(path)
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            boxes[i] = (min(xs), min(ys), max(xs), max(ys))
        self.boxes = boxes
        # One tensor fanning out to several consumers is labelled once, not once per arrow.
        labelled: set[tuple[str, str]] = set()
        self.show_label: list[bool] = []
        for edge in self.edges:
            key = (edge.source, edge.tensor)
            self.show_label.append(bool(edge.label) and key not in labelled)
            labelled.add(key)
        if len(boxes):
            x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
            self.bounds = QRectF(x0, y0, boxes[:, 2].max() - x0, boxes[:, 3].max() - y0).adjusted(-20, -20, 120, 20)
        else:
            self.bounds = QRectF()


class EdgeLayerItem(QGraphicsItem):
    """Every edge of the graph, painted by one item with culling and level of detail."""

    def __init__(self, edges: list[DisplayEdge], style: GraphStyle, direction: str = "TB",
                 geometry: EdgeGeometry | None = None) -> None:
        """Args:
            edges: the laid-out edges.
            style: shared pens and fonts.
            direction: "TB" or "LR" (curve tangents, arrowheads, label places).
            geometry: ``EdgeGeometry(edges, direction)`` built beforehand (on a worker).
        """
        super().__init__()
        self.style = style
        self.horizontal = direction == "LR"
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setZValue(0)
        geometry = geometry if geometry is not None else EdgeGeometry(edges, direction)
        self._edges = geometry.edges
        self._paths = geometry.paths
        self._boxes = geometry.boxes
        self._show_label = geometry.show_label
        self._bounds = geometry.bounds

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self._bounds

    def visible(self, rect: QRectF) -> np.ndarray:
        """Indices of edges whose bounding boxes meet ``rect``."""
        b = self._boxes
        if not len(b):
            return np.zeros(0, dtype=int)
        mask = ((b[:, 2] >= rect.left() - 120) & (b[:, 0] <= rect.right() + 10)
                & (b[:, 3] >= rect.top() - 10) & (b[:, 1] <= rect.bottom() + 10))
        return np.flatnonzero(mask)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        pen = QPen(self.style.edge, 1.2 if lod >= DETAIL_LOD else 0)  # 0 = cosmetic hairline
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        shown = self.visible(option.exposedRect)
        paths = self._paths
        for i in shown:
            painter.drawPath(paths[i])
        if lod < DETAIL_LOD:
            return
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.style.edge)
        for i in shown:
            x, y = self._edges[i].points[-1]
            if self.horizontal:
                head = [QPointF(x, y), QPointF(x - 7, y - 3.5), QPointF(x - 7, y + 3.5)]
            else:
                head = [QPointF(x, y), QPointF(x - 3.5, y - 7), QPointF(x + 3.5, y - 7)]
            painter.drawPolygon(QPolygonF(head))
        if lod < LABEL_LOD:
            return
        painter.setPen(self.style.label)
        painter.setFont(self.style.small)
        for i in shown:
            edge = self._edges[i]
            if self._show_label[i]:
                x, y = edge.points[0]
                painter.drawText(QPointF(x + 4, y - 4) if self.horizontal else QPointF(x + 4, y + 12), edge.label)


#: id(graph) -> (graph, edge geometry, minimap image) made by :func:`prepare_paint` on a worker
MAX_PREPARED = 4
_PREPARED: dict[int, tuple[DisplayGraph, Any, Any]] = {}


def prepare_paint(graph: DisplayGraph) -> None:
    """Build ``graph``'s edge paths and minimap image ahead of :meth:`GraphView.set_graph`.

    Meant for the worker that lays the graph out (both are thread-safe), so that opening a
    large graph leaves less to the GUI thread; set_graph takes them once.
    """
    from studio.minimap import render_overview

    if graph.is_laid_out:
        _PREPARED[id(graph)] = (graph, EdgeGeometry(graph.edges, graph.direction), render_overview(graph))
        while len(_PREPARED) > MAX_PREPARED:  # graphs laid out but never shown are not kept alive
            _PREPARED.pop(next(iter(_PREPARED)), None)


def take_prepared(graph: DisplayGraph) -> dict[str, Any]:
    """The ``geometry`` and ``overview`` prepared for ``graph`` (as keyword arguments), once; {} if none."""
    entry = _PREPARED.pop(id(graph), None)
    if entry is None or entry[0] is not graph:
        return {}
    return {"geometry": entry[1], "overview": entry[2]}
