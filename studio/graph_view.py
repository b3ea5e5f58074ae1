"""The graph view: paints a laid-out DisplayGraph; zoom, pan, search, selection, heat colouring.

It opens at 1:1 at the graph's top (its inputs), as Netron does; "Fit" never zooms out
past a legible scale; the layout direction (top to bottom, left to right) is a toggle whose
layout runs on a worker; a minimap shows where the view is; weights drawn in a node can be
clicked; the whole graph exports as PNG or SVG.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QLinearGradient,
    QMouseEvent,
    QPainter,
    QPalette,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QToolTip, QWidget

from engine.graphview.categories import heat_color
from engine.graphview.graph import DisplayGraph, search, step
from studio.graph_items import EdgeLayerItem, GraphStyle, NodeItem, prepare_paint, take_prepared

__all__ = ["GraphView", "prepare_paint"]  # prepare_paint: called by the layout worker (studio.document)

log = logging.getLogger(__name__)

MIN_SCALE = 1e-4
MAX_SCALE = 8.0
OPEN_SCALE = 1.0  # a graph opens at 1:1 (never enlarged past it), at its top
LEGIBLE_SCALE = 0.75  # "Fit" and select_node never leave labels smaller than this
READABLE_SCALE = LEGIBLE_SCALE  # the name older callers use


class GraphView(QGraphicsView):
    """A zoomable, pannable view of one graph.

    Signals:
        node_selected(str): a node was selected (click, :meth:`select_node`, :meth:`find`).
        weight_selected(str, str): a weight line inside a node was clicked (node id, weight name).
        direction_changed(str): the graph shown is now laid out "TB" or "LR".
    """

    node_selected = Signal(str)
    weight_selected = Signal(str, str)
    direction_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None, runner: Any = None) -> None:
        """Args:
            parent: the owning widget.
            runner: a :class:`studio.workers.TaskRunner` for re-layouts; without one they run
                inline (tests, small graphs).
        """
        super().__init__(parent)
        self.runner = runner
        self.direction = "TB"
        self._variants: dict[int, tuple[DisplayGraph, DisplayGraph]] = {}  # id(original) -> (original, relaid)
        self._original: DisplayGraph | None = None
        self._heat: tuple[dict[str, float], str] | None = None
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
        from studio.minimap import MinimapWidget

        self.minimap = MinimapWidget(self)
        self.horizontalScrollBar().valueChanged.connect(self.minimap.sync)
        self.verticalScrollBar().valueChanged.connect(self.minimap.sync)

    # Public API ---------------------------------------------------------------
    def set_graph(self, graph: DisplayGraph) -> None:
        """Show ``graph``, which must already be laid out (engine.graphview.layout).

        A graph laid out in another direction than the view's is shown as it is and laid
        out again (on the runner) in the view's direction, then swapped in.
        """
        self._original = graph
        variant = self._variants.get(id(graph))
        if graph.direction != self.direction and variant is not None:
            self._show(variant[1])
            return
        self._show(graph, **take_prepared(graph))
        if graph.direction != self.direction:
            self._relayout(graph, self.direction)

    def set_direction(self, direction: str) -> None:
        """Lay the graph out "TB" (top to bottom) or "LR" (left to right); keeps selection and colours."""
        if direction == self.direction:
            return
        self.direction = direction
        original = self._original
        if original is None:
            return
        if original.direction == direction:
            self._show(original, keep_state=True)
        elif id(original) in self._variants:
            self._show(self._variants[id(original)][1], keep_state=True)
        else:
            self._relayout(original, direction)

    def _relayout(self, graph: DisplayGraph, direction: str) -> None:
        from engine.graphview.layout import relayout
        from studio.graph_items import EdgeGeometry
        from studio.minimap import render_overview

        def work(job: Any) -> tuple[DisplayGraph, EdgeGeometry, Any]:
            # Layout, edge paths and the overview image are all thread-safe: only the swap is left
            # to the GUI thread.
            relaid = relayout(graph, direction)
            return relaid, EdgeGeometry(relaid.edges, direction), render_overview(relaid)

        def done(result: tuple[DisplayGraph, EdgeGeometry, Any], original: DisplayGraph = graph) -> None:
            relaid, geometry, overview = result
            self._variants[id(original)] = (original, relaid)
            if self._original is original and self.direction == relaid.direction:
                self._show(relaid, keep_state=True, geometry=geometry, overview=overview)

        if self.runner is None:
            done(work(None))
            return
        self.runner.start(f"graph-direction:{id(self)}", f"Lay out {graph.name or 'graph'} ({direction})",
                          work, on_result=done)

    def _show(self, graph: DisplayGraph, keep_state: bool = False, geometry: Any = None, overview: Any = None) -> None:
        """Put ``graph`` in the scene; ``keep_state``: the same graph in another direction keeps
        its selection and colours. ``geometry`` (edge paths) and ``overview`` (minimap image)
        may come ready-made from a worker."""
        selected = self.selected_node() if keep_state and self.graph is not None else None
        heat = self._heat if keep_state else None
        if keep_state and self.graph is not None and len(graph.nodes) == len(self.items) \
                and all(n.id in self.items for n in graph.nodes):
            self._move_items(graph, geometry)  # the same nodes elsewhere: move the boxes, new edges
            self._initial_view()
            self.minimap.set_graph(graph, overview)
            if selected is not None:
                self.select_node(selected)
            self.direction_changed.emit(graph.direction)
            return
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
        self.edge_layer = EdgeLayerItem(graph.edges, self._style, graph.direction, geometry)
        scene.addItem(self.edge_layer)
        for node in graph.nodes:
            item = NodeItem(node, self._style)
            scene.addItem(item)
            self.items[node.id] = item
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        scene.setSceneRect(QRectF(0, 0, max(graph.width, 1.0), max(graph.height, 1.0)))
        self._heat = None
        if heat is not None:
            self.color_by(*heat)
        self._initial_view()
        self.minimap.set_graph(graph, overview)
        if selected is not None and selected in self.items:
            self.select_node(selected)
        self.direction_changed.emit(graph.direction)
        log.debug("graph view: %d node items (%s)", len(self.items), graph.direction)

    def _move_items(self, graph: DisplayGraph, geometry: Any = None) -> None:
        """Re-place the existing boxes at ``graph``'s coordinates and replace the edge layer.

        Cheaper than rebuilding thousands of items; colours, highlights and selection stay.
        """
        scene = self.scene()
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        if self.edge_layer is not None:
            scene.removeItem(self.edge_layer)
        self.edge_layer = EdgeLayerItem(graph.edges, self._style, graph.direction, geometry)
        scene.addItem(self.edge_layer)
        for node in graph.nodes:
            item = self.items[node.id]
            item.node = node
            item.setPos(node.x, node.y)
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        scene.setSceneRect(QRectF(0, 0, max(graph.width, 1.0), max(graph.height, 1.0)))
        self.graph = graph

    def fit(self) -> None:
        """Zoom to show the whole graph, but never below a legible scale.

        A graph too long to fit legibly (resnet18 top to bottom) is shown at
        :data:`LEGIBLE_SCALE`, centred across and kept where the view was along the flow;
        the minimap shows the whole of it.
        """
        if self.graph is None:
            return
        rect = self.scene().sceneRect()
        view = self.viewport().rect()
        if rect.isEmpty() or view.isEmpty():
            return
        fit = min(view.width() / rect.width(), view.height() / rect.height())
        if fit >= LEGIBLE_SCALE:
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
            self._clamp_scale()
            return
        here = self.mapToScene(view.center())
        self.resetTransform()
        self.scale(LEGIBLE_SCALE, LEGIBLE_SCALE)
        if self.graph.direction == "LR":
            self.centerOn(QPointF(here.x(), rect.center().y()))
        else:
            self.centerOn(QPointF(rect.center().x(), here.y()))
        self.minimap.sync()

    def fit_is_clamped(self) -> bool:
        """True when the whole graph does not fit at a legible scale."""
        rect, view = self.scene().sceneRect(), self.viewport().rect()
        if self.graph is None or rect.isEmpty() or view.isEmpty():
            return False
        return min(view.width() / rect.width(), view.height() / rect.height()) < LEGIBLE_SCALE

    def zoom_by(self, factor: float) -> None:
        """Zoom in (factor > 1) or out (< 1), within sane limits."""
        if factor <= 0 or not math.isfinite(factor):
            return
        current = self.transform().m11()
        target = min(MAX_SCALE, max(MIN_SCALE, current * factor))
        if target != current:
            self.scale(target / current, target / current)
            self.minimap.sync()

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
        self._heat = None if values is None else (dict(values), label)
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

    def export_image(self, path: str | Path) -> Path:
        """Write the whole graph to ``path`` as PNG (by suffix ``.png``) or SVG (``.svg``).

        PNG renders at 1:1 up to 16,384 pixels on the long side (scaled down past that);
        SVG is vector, at scene units. Returns the path written.

        Raises:
            ValueError: no graph is shown, or the suffix is neither .png nor .svg.
            OSError: the file cannot be written.
        """
        from studio.graph_export import export_scene

        if self.graph is None:
            raise ValueError("there is no graph to export")
        return export_scene(self.scene(), Path(path), self.graph.name or "graph")

    # Qt overrides ---------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        hit: tuple[str, str] | None = None
        if event.button() == Qt.MouseButton.LeftButton:
            item = self.itemAt(event.position().toPoint())
            if isinstance(item, NodeItem):
                line = item.weight_at(item.mapFromScene(self.mapToScene(event.position().toPoint())))
                if line is not None:
                    hit = (item.node_id, item.node.weights[line].name)
        super().mousePressEvent(event)
        if hit is not None:
            self.weight_selected.emit(*hit)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        """Esc clears the selection and search marks; arrows walk the graph from the selected
        node (along the flow to a consumer or back to a producer, across to a neighbour in
        its row), or pan when nothing is selected."""
        key = event.key()
        if key == Qt.Key.Key_Escape:
            self.clear_selection()
            event.accept()
            return
        arrows = {Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1), Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0)}
        if key not in arrows or self.graph is None:
            super().keyPressEvent(event)
            return
        dx, dy = arrows[key]
        current = self.selected_node()
        target = self.neighbour(current, dx, dy) if current is not None else None
        if target is not None:
            self.select_node(target)
        elif current is None:
            step = self.viewport().width() * 0.1 if dx else self.viewport().height() * 0.1
            bar = self.horizontalScrollBar() if dx else self.verticalScrollBar()
            bar.setValue(bar.value() + int((dx or dy) * step))
        event.accept()

    def clear_selection(self) -> None:
        """Nothing selected, no search matches marked."""
        for node_id in self._highlighted:
            if node_id in self.items:
                self.items[node_id].set_highlighted(False)
        self._highlighted = []
        self.scene().clearSelection()

    def neighbour(self, node_id: str, dx: int, dy: int) -> str | None:
        """The node an arrow key (dx, dy on screen) leads to from ``node_id``, or None."""
        return step(self.graph, node_id, dx, dy) if self.graph is not None else None

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.ToolTip:  # node tooltips are made on demand (NodeItem.toolTip)
            item = self.itemAt(event.pos())
            if isinstance(item, NodeItem):
                QToolTip.showText(event.globalPos(), item.toolTip(), self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.minimap.reposition()
        self.minimap.sync()

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
        """1:1 at the graph's top (left edge when laid out left to right), as Netron opens.

        A graph smaller than the view is centred; a wider one is centred on its first row.
        """
        self.resetTransform()
        rect = self.scene().sceneRect()
        view = self.viewport().rect()
        if rect.isEmpty() or view.isEmpty() or self.graph is None:
            return
        scale = OPEN_SCALE
        self.scale(scale, scale)
        half_w, half_h = view.width() / scale / 2, view.height() / scale / 2
        first = [n for n in self.graph.nodes if n.layer == 0] or self.graph.nodes[:1]
        if self.graph.direction == "LR":
            x = rect.left() + half_w if rect.width() > 2 * half_w else rect.center().x()
            y = first[0].y if rect.height() > 2 * half_h else rect.center().y()
        else:
            y = rect.top() + half_h if rect.height() > 2 * half_h else rect.center().y()
            x = first[0].x if rect.width() > 2 * half_w else rect.center().x()
        self.centerOn(QPointF(x, y))

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
