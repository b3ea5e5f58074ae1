"""The graph view: paints a laid-out DisplayGraph; zoom, pan, search, selection, heat colouring."""

from __future__ import annotations

import logging
import math

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPalette, QWheelEvent
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QWidget

from engine.graphview.categories import heat_color
from engine.graphview.graph import DisplayGraph, search
from studio.graph_items import EdgeLayerItem, GraphStyle, NodeItem

log = logging.getLogger(__name__)

MIN_SCALE = 1e-4
MAX_SCALE = 8.0
READABLE_SCALE = 0.6  # set_graph opens at least this close, at the top, when fitting would be smaller


class GraphView(QGraphicsView):
    """A zoomable, pannable view of one graph.

    Signals:
        node_selected(str): a node was selected (click, :meth:`select_node`, :meth:`find`).
    """

    node_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.graph: DisplayGraph | None = None
        self.items: dict[str, NodeItem] = {}
        self.edge_layer: EdgeLayerItem | None = None
        self.paint_count = 0  # paint events so far; benchmarks and tests wait on it
        self._legend: tuple[str, float, float] | None = None
        self._highlighted: list[str] = []
        self._quiet = False
        self._last_emitted: str | None = None
        self._style = self._make_style()
        self._apply_palette()
        self.scene().selectionChanged.connect(self._on_selection_changed)

    # Public API ---------------------------------------------------------------
    def set_graph(self, graph: DisplayGraph) -> None:
        """Show ``graph``, which must already be laid out (engine.graphview.layout)."""
        scene = self.scene()
        self._quiet = True
        try:
            scene.clear()
        finally:
            self._quiet = False
        self.items.clear()
        self._highlighted = []
        self._legend = None
        self._last_emitted = None
        self.graph = graph
        # Adding thousands of items one by one re-indexes the scene each time; index once after.
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.edge_layer = EdgeLayerItem(graph.edges, self._style)
        scene.addItem(self.edge_layer)
        for node in graph.nodes:
            item = NodeItem(node, self._style)
            scene.addItem(item)
            self.items[node.id] = item
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        scene.setSceneRect(QRectF(0, 0, max(graph.width, 1.0), max(graph.height, 1.0)))
        self._initial_view()
        log.debug("graph view: %d node items", len(self.items))

    def fit(self) -> None:
        """Zoom to show the whole graph."""
        if self.graph is None:
            return
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._clamp_scale()

    def zoom_by(self, factor: float) -> None:
        """Zoom in (factor > 1) or out (< 1), within sane limits."""
        if factor <= 0 or not math.isfinite(factor):
            return
        current = self.transform().m11()
        target = min(MAX_SCALE, max(MIN_SCALE, current * factor))
        if target != current:
            self.scale(target / current, target / current)

    def scale_factor(self) -> float:
        """The current zoom (1.0 = one scene unit per pixel)."""
        return self.transform().m11()

    def find(self, text: str) -> list[str]:
        """Highlight nodes matching ``text``; select and centre on the first. Returns their ids."""
        for node_id in self._highlighted:
            if node_id in self.items:
                self.items[node_id].set_highlighted(False)
        if self.graph is None:
            self._highlighted = []
            return []
        ids = search(self.graph, text)
        self._highlighted = ids
        for node_id in ids:
            self.items[node_id].set_highlighted(True)
        if ids:
            self.select_node(ids[0])
        return ids

    def select_node(self, node_id: str) -> None:
        """Select ``node_id``, centre on it (zooming in to readable if needed), emit node_selected."""
        item = self.items.get(node_id)
        if item is None:
            return
        self._quiet = True
        try:
            self.scene().clearSelection()
            item.setSelected(True)
        finally:
            self._quiet = False
        if self.scale_factor() < READABLE_SCALE:
            self.zoom_by(READABLE_SCALE / self.scale_factor())
        self.centerOn(item)
        self._last_emitted = node_id
        self.node_selected.emit(node_id)

    def selected_node(self) -> str | None:
        """The id of the selected node, or None."""
        for item in self.scene().selectedItems():
            if isinstance(item, NodeItem):
                return item.node_id
        return None

    def color_by(self, values: dict[str, float] | None, label: str = "") -> None:
        """Colour nodes by a value (time, error) on a heat ramp; None restores category colours.

        Nodes without a value are drawn in a muted grey so the measured ones stand out.
        """
        if values is None:
            for item in self.items.values():
                item.reset_fill()
            self._legend = None
            self.viewport().update()
            return
        finite = [float(v) for k, v in values.items() if k in self.items and math.isfinite(float(v))]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
        span = hi - lo
        muted = QColor(self.palette().color(QPalette.ColorRole.Mid))
        for node_id, item in self.items.items():
            value = values.get(node_id)
            if value is None or not math.isfinite(float(value)):
                item.set_fill(muted)
            else:
                t = (float(value) - lo) / span if span > 0 else 1.0
                item.set_fill(QColor(heat_color(t)))
        self._legend = (label, lo, hi)
        self.viewport().update()

    # Qt overrides ---------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if delta:
            self.zoom_by(1.0015 ** delta)
        event.accept()

    def paintEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)
        self.paint_count += 1

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self._style = self._make_style()
            self._apply_palette()
            for item in self.items.values():
                item.style = self._style
            if self.edge_layer is not None:
                self.edge_layer.style = self._style
            self.viewport().update()
        super().changeEvent(event)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt override
        if self._legend is None:
            return
        label, lo, hi = self._legend
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        text = self.palette().color(QPalette.ColorRole.Text)
        base = QColor(self.palette().color(QPalette.ColorRole.Base))
        base.setAlphaF(0.85)
        box = QRectF(10, 10, 240, 46)
        painter.fillRect(box, base)
        painter.setPen(text)
        painter.drawText(QRectF(18, 12, 224, 18), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         label or "value")
        bar = QRectF(18, 32, 120, 10)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        for t in (0.0, 0.25, 0.5, 0.75, 1.0):
            gradient.setColorAt(t, QColor(heat_color(t)))
        painter.fillRect(bar, gradient)
        painter.drawText(QRectF(144, 28, 100, 18), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         f"{lo:.3g} - {hi:.3g}")
        painter.restore()

    # Internals ---------------------------------------------------------------------
    def _make_style(self) -> GraphStyle:
        palette = self.palette()
        return GraphStyle(self.font(), palette.color(QPalette.ColorRole.Text),
                          palette.color(QPalette.ColorRole.Highlight))

    def _apply_palette(self) -> None:
        self.setBackgroundBrush(self.palette().color(QPalette.ColorRole.Base))

    def _initial_view(self) -> None:
        """Fit when the whole graph is readable; otherwise open readable at the top (the inputs)."""
        self.resetTransform()
        rect = self.scene().sceneRect()
        view = self.viewport().rect()
        if rect.isEmpty() or view.isEmpty():
            return
        fit = min(view.width() / rect.width(), view.height() / rect.height())
        if fit >= READABLE_SCALE:
            self.fit()
            return
        scale = max(READABLE_SCALE, min(1.0, view.width() / rect.width()))
        self.scale(scale, scale)
        first = next((n for n in self.graph.nodes if n.layer == 0), None) if self.graph else None
        x = first.x if first is not None else rect.center().x()
        self.centerOn(QPointF(x, rect.top() + view.height() / scale / 2))

    def _clamp_scale(self) -> None:
        current = self.scale_factor()
        if current > MAX_SCALE:
            self.zoom_by(MAX_SCALE / current)
        elif current < MIN_SCALE:
            self.zoom_by(MIN_SCALE / current)

    def _on_selection_changed(self) -> None:
        if self._quiet:
            return
        node_id = self.selected_node()
        if node_id is not None and node_id != self._last_emitted:
            self._last_emitted = node_id
            self.node_selected.emit(node_id)
        elif node_id is None:
            self._last_emitted = None
