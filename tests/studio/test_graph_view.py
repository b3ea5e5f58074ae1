"""The graph view widget: items, search, clicks, heat colouring and a painted grab."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage, QPalette

from engine import formats
from engine.graphview import build_display_graph, layout
from studio.graph_items import NodeItem
from studio.graph_view import LEGIBLE_SCALE, GraphView
from tests_helpers import fixture_by_name


@pytest.fixture
def lenet_graph():
    return layout(build_display_graph(formats.load(fixture_by_name("lenet5").onnx)))


@pytest.fixture
def view(qtbot, lenet_graph) -> GraphView:
    widget = GraphView()
    qtbot.addWidget(widget)
    widget.resize(700, 600)
    widget.set_graph(lenet_graph)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.paint_count > 0)
    return widget


def test_one_item_per_node(view: GraphView, lenet_graph) -> None:
    items = [i for i in view.scene().items() if isinstance(i, NodeItem)]
    assert len(items) == len(lenet_graph.nodes) == 14
    assert {i.node_id for i in items} == {n.id for n in lenet_graph.nodes}
    item = view.items["1Conv"]
    assert (item.pos().x(), item.pos().y()) == (lenet_graph.node("1Conv").x, lenet_graph.node("1Conv").y)


def test_find_selects_a_conv_and_emits(qtbot, view: GraphView) -> None:
    with qtbot.waitSignal(view.node_selected, timeout=2000) as blocker:
        ids = view.find("conv")
    assert ids == ["1Conv", "4Conv"]
    assert blocker.args == ["1Conv"]
    assert view.selected_node() == "1Conv"
    assert view.items["4Conv"].highlighted and not view.items["2Relu"].highlighted
    assert view.find("no such op") == []
    assert not view.items["4Conv"].highlighted


def test_click_selects_node(qtbot, view: GraphView) -> None:
    view.select_node("2Relu")  # centres on it
    target = view.items["3MaxPool"]
    point = view.mapFromScene(target.scenePos())
    assert view.viewport().rect().contains(point)
    with qtbot.waitSignal(view.node_selected, timeout=2000) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert blocker.args == ["3MaxPool"]
    assert view.selected_node() == "3MaxPool"


def test_click_on_empty_space_selects_nothing(qtbot, view: GraphView) -> None:
    view.select_node("2Relu")
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(3, 3))
    assert view.selected_node() is None


def test_color_by_changes_brush(view: GraphView) -> None:
    before = view.items["1Conv"].brush().color()
    view.color_by({"1Conv": 5.0, "4Conv": 1.0}, "time (ms)")
    hot, cold = view.items["1Conv"].brush().color(), view.items["4Conv"].brush().color()
    assert hot != before and hot != cold
    assert view.items["2Relu"].brush().color() == view.palette().color(QPalette.ColorRole.Mid)
    view.color_by(None)
    assert view.items["1Conv"].brush().color() == before


def test_zoom_and_fit(view: GraphView) -> None:
    view.resize(700, 1600)  # tall enough for lenet5 (weights drawn in the boxes) at a legible scale
    view.fit()
    fitted = view.scale_factor()
    assert not view.fit_is_clamped() and fitted >= LEGIBLE_SCALE
    rect = view.mapFromScene(view.scene().sceneRect()).boundingRect()
    assert view.viewport().rect().adjusted(-2, -2, 2, 2).contains(rect)
    view.zoom_by(2.0)
    assert view.scale_factor() == pytest.approx(fitted * 2)
    view.zoom_by(0.0)  # ignored
    assert view.scale_factor() == pytest.approx(fitted * 2)


def test_fit_clamps_to_a_legible_zoom(view: GraphView) -> None:
    view.resize(700, 300)  # the whole graph would need far less than a legible scale
    view.fit()
    assert view.fit_is_clamped()
    assert view.scale_factor() == pytest.approx(LEGIBLE_SCALE)
    view.zoom_by(0.5)  # zooming out by hand still goes below it
    assert view.scale_factor() == pytest.approx(LEGIBLE_SCALE / 2)


def test_grab_to_png_shows_the_graph(qtbot, view: GraphView, tmp_path: Path) -> None:
    path = tmp_path / "lenet5.png"
    view.select_node("1Conv")
    assert view.grab().save(str(path))
    image = QImage(str(path))
    assert image.width() == 700
    conv = QColor("#3b7dd8")
    point = view.mapFromScene(view.items["1Conv"].scenePos() + view.items["1Conv"].boundingRect().topLeft() / 2)
    assert image.pixelColor(point).name() == conv.name()  # painted in its category colour


def test_dark_palette_repaints(qtbot, view: GraphView) -> None:
    palette = view.palette()
    palette.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    view.setPalette(palette)
    before = view.paint_count
    view.viewport().update()
    qtbot.waitUntil(lambda: view.paint_count > before)
    assert view.backgroundBrush().color().name() == "#1e1e1e"
    assert view.edge_layer is not None and view.edge_layer.style.edge.red() > 200


def test_arrows_walk_the_graph_and_escape_clears(qtbot, view: GraphView) -> None:
    view.setFocus()
    view.select_node("1Conv")
    qtbot.keyClick(view, Qt.Key.Key_Down)  # along the flow: Conv -> Relu
    assert view.selected_node() == "2Relu"
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert view.selected_node() == "1Conv"
    view.find("conv")
    assert view.items["4Conv"].highlighted
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert view.selected_node() is None and not view.items["4Conv"].highlighted
    before = view.verticalScrollBar().value()
    qtbot.keyClick(view, Qt.Key.Key_Down)  # nothing selected: pans
    assert view.verticalScrollBar().value() > before


def test_paint_prepared_on_a_worker_is_used_once(qtbot, lenet_graph) -> None:
    import threading

    from studio import graph_items, graph_view

    worker = threading.Thread(target=graph_view.prepare_paint, args=(lenet_graph,))
    worker.start()
    worker.join()
    prepared = graph_items._PREPARED[id(lenet_graph)]
    widget = GraphView()
    qtbot.addWidget(widget)
    widget.set_graph(lenet_graph)
    assert widget.edge_layer._paths is prepared[1].paths  # not rebuilt on the GUI thread
    assert id(lenet_graph) not in graph_items._PREPARED
    assert widget.minimap._image is prepared[2]


def test_tooltip_is_made_on_demand(qtbot, view: GraphView) -> None:
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    view.select_node("1Conv")
    item = view.items["1Conv"]
    pos = view.mapFromScene(item.scenePos())
    event = QHelpEvent(QHelpEvent.Type.ToolTip, pos, view.viewport().mapToGlobal(pos))
    QApplication.sendEvent(view.viewport(), event)
    assert QToolTip.isVisible() and QToolTip.text() == item.toolTip()
    assert item.toolTip().startswith("Conv  ") and "W<6x1x5x5>" in item.toolTip()


def test_minimap_only_when_part_of_the_graph_is_out_of_view(qtbot, view: GraphView) -> None:
    view.resize(700, 300)  # lenet5 is taller than this
    qtbot.waitUntil(lambda: view.minimap.isVisible())
    view.resize(1400, 2400)
    view.set_graph(view.graph)  # 1:1, the whole graph in view
    qtbot.waitUntil(lambda: not view.minimap.isVisible())
    view.zoom_by(4.0)
    assert view.minimap.isVisible()
