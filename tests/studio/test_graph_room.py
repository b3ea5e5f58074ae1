"""The graph gets the room: docks collapsed until used, 1:1 at the top, left-to-right layout, minimap,
weights in the boxes with their values on a click, PNG/SVG export, MindSpore names people can read."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage

from engine import formats
from engine.graphview.weights import weight_array
from studio.graph_view import LEGIBLE_SCALE, OPEN_SCALE
from studio.main_window import MainWindow
from studio.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "data" / "mindspore"
LENET = DATA / "lenet5"
BOTTOM = ("bench_dock", "validate_dock", "jobs_dock", "log_dock")


def _window(qtbot, tmp_path: Path) -> MainWindow:
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = _window(qtbot, tmp_path)
    yield win
    win.close()


def _open(qtbot, window: MainWindow, path: Path, mode: str | None = None):
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        window.open_files([path])
    view = window.current_view()
    if view.document.is_graph:
        if mode is not None and view.mode != mode:
            view.show_mode(mode)
        qtbot.waitUntil(lambda: view.graph_view.graph is not None and view.graph_view.graph is view.graph,
                        timeout=30_000)
    return blocker.args[0], view


def _visible_docks(window: MainWindow) -> list[str]:
    return [name for name in BOTTOM if getattr(window, name).isVisible()]


def test_bottom_docks_are_collapsed_until_used(qtbot, window, tmp_path):
    assert _visible_docks(window) == []  # no model: the welcome page gets the room
    bar = window.dock_bar
    assert set(bar.buttons) == {"benchmark", "validate", "jobs", "log"}
    _open(qtbot, window, LENET / "model.ckpt")  # a checkpoint: still collapsed
    assert _visible_docks(window) == []
    _open(qtbot, window, LENET / "model.onnx")
    assert _visible_docks(window) == []
    graph_height = window.current_view().graph_view.height()
    assert graph_height > 0.75 * window.centralWidget().height()
    window.actions_by_name["benchmark"].trigger()  # used: it appears
    qtbot.waitUntil(lambda: window.bench_dock.isVisible(), timeout=5000)
    assert bar.buttons["benchmark"].isChecked()
    bar.buttons["log"].click()
    assert window.log_dock.isVisible()
    window.bench.shutdown()
    window.runner.wait_all()
    window.save_layout()
    # the next launch keeps what the person left
    again = _window(qtbot, tmp_path)
    try:
        assert "log_dock" in _visible_docks(again)
    finally:
        again.close()


@pytest.mark.parametrize("path, mode", [(LENET / "model.mindir", "source"), (LENET / "model.mindir", "canonical"),
                                        (LENET / "model.onnx", None)])
def test_graphs_open_at_one_to_one_at_the_top(qtbot, window, path, mode):
    _, view = _open(qtbot, window, path, mode)
    gv = view.graph_view
    assert gv.scale_factor() == pytest.approx(OPEN_SCALE)
    top_left = gv.mapToScene(QPoint(0, 0))
    first = min(gv.graph.nodes, key=lambda n: n.y)
    assert top_left.y() <= first.y - first.height / 2  # the inputs are in view, not the middle
    assert gv.viewport().rect().contains(gv.mapFromScene(QPointF(first.x, first.y)))
    # the labels are drawn at a size people read (no 7 px text)
    assert gv._style.bold_metrics.height() * gv.scale_factor() >= 11


def test_fit_on_a_long_graph_stays_legible(qtbot, window):
    _, view = _open(qtbot, window, LENET / "model.mindir")
    gv = view.graph_view
    gv.resize(gv.width(), 250)
    view.fit()
    assert gv.scale_factor() >= LEGIBLE_SCALE


def test_left_to_right_toggle_keeps_selection_and_colours(qtbot, window):
    _, view = _open(qtbot, window, LENET / "model.onnx")
    gv = view.graph_view
    view.select_node("4Conv")
    gv.color_by({"1Conv": 3.0, "4Conv": 1.0}, "µs")
    hot = gv.items["1Conv"].brush().color()
    with qtbot.waitSignal(gv.direction_changed, timeout=30_000, check_params_cb=lambda d: d == "LR"):
        view.graph_tools.horizontal.click()
    assert gv.graph.direction == "LR" and view.graph.direction == "TB"  # the document's graph is untouched
    conv, relu = gv.graph.node("1Conv"), gv.graph.node("2Relu")
    assert relu.x > conv.x and gv.items["2Relu"].pos().x() == relu.x
    assert gv.selected_node() == "4Conv"
    assert gv.items["1Conv"].brush().color() == hot
    with qtbot.waitSignal(gv.direction_changed, timeout=30_000):
        view.graph_tools.horizontal.click()
    assert gv.graph is view.graph and gv.graph.direction == "TB"
    # another mode keeps the chosen direction
    view.graph_tools.horizontal.click()
    qtbot.waitUntil(lambda: gv.graph.direction == "LR", timeout=30_000)


def test_minimap_shows_the_graph_and_moves_the_view(qtbot, window):
    _, view = _open(qtbot, window, LENET / "model.mindir")
    gv = view.graph_view
    minimap = gv.minimap
    assert minimap.isVisible()
    assert gv.viewport().geometry().contains(minimap.geometry())
    frame = minimap.visible_rect()
    assert frame.top() <= 1  # the view is at the graph's top
    target = QPoint(minimap.width() // 2, minimap.height() - 3)
    qtbot.mouseClick(minimap, Qt.MouseButton.LeftButton, pos=target)
    centre = gv.mapToScene(gv.viewport().rect().center())
    assert centre.y() > gv.graph.height * 0.6  # went to the bottom of the graph
    view.graph_tools.minimap.click()
    assert not minimap.isVisible()


def test_click_a_weight_shows_its_values_and_statistics(qtbot, window):
    doc, view = _open(qtbot, window, LENET / "model.onnx")
    gv = view.graph_view
    item = gv.items["1Conv"]
    assert [w.label for w in item.node.weights][0].startswith("W<6x1x5x5")
    view.select_node("1Conv")
    rect = item.weight_rect(0)
    point = gv.mapFromScene(item.mapToScene(rect.center()))
    name = item.node.weights[0].name
    with qtbot.waitSignal(gv.weight_selected, timeout=5000) as blocker:
        qtbot.mouseClick(gv.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert blocker.args == ["1Conv", name]
    props = window.properties
    qtbot.waitUntil(lambda: "Statistics/std" in props.rows(), timeout=10_000)
    values = weight_array(doc.model, name).astype(np.float64)
    rows = props.rows()
    assert float(rows["Statistics/min"]) == pytest.approx(values.min(), rel=1e-5)
    assert float(rows["Statistics/max"]) == pytest.approx(values.max(), rel=1e-5)
    assert float(rows["Statistics/mean"]) == pytest.approx(values.mean(), rel=1e-4, abs=1e-7)
    assert float(rows["Statistics/std"]) == pytest.approx(values.std(), rel=1e-4)
    assert rows["Values/first"].startswith(f"{values.ravel()[0]:.6g}")
    assert props.histogram.isVisible()
    assert "W<6x1x5x5>" in props.title.text()


def test_export_png_and_svg(qtbot, window, tmp_path):
    _, view = _open(qtbot, window, LENET / "model.onnx")
    gv = view.graph_view
    png, svg = tmp_path / "lenet.png", tmp_path / "lenet.svg"
    assert view.graph_tools.export_to(png) and view.graph_tools.export_to(svg)
    image = QImage(str(png))
    assert (image.width(), image.height()) == (round(gv.graph.width), round(gv.graph.height))
    conv = gv.graph.node("1Conv")
    pixel = image.pixelColor(round(conv.x - conv.width / 2 + 3), round(conv.y - conv.height / 2 + 8))
    assert pixel.name() == QColor("#3b7dd8").name()  # the Conv box in its category colour
    root = ET.parse(svg).getroot()
    texts = "".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    assert "Conv" in texts and "W<6x1x5x5>" in texts
    with qtbot.waitSignal(view.graph_tools.export_failed, timeout=2000):
        assert not view.graph_tools.export_to(tmp_path / "lenet.bmp")


def test_mindspore_names_in_graph_outline_and_properties(qtbot, window):
    _, view = _open(qtbot, window, LENET / "model.mindir", "source")
    gv = view.graph_view
    model = window.outline.model
    nodes = model.section("nodes")
    names = [model.index(r, 0, model.index(g, 0, nodes)).data()
             for g in range(model.rowCount(nodes)) for r in range(model.rowCount(model.index(g, 0, nodes)))]
    assert "conv1" in names and "fc3/BiasAdd" in names
    assert not any(n.startswith(("CNode_", "output:", "x:")) for n in names), names
    conv = next(n for n in gv.graph.nodes if n.title == "conv1")
    view.select_node(conv.id)
    rows = window.properties.rows()
    assert rows["name"] == "conv1" and rows["name in file"] == conv.name
    assert rows["Inputs/1"] == "conv1.weight"  # the parameter, not the Load that reads it
    assert "conv1" in window.properties.title.text()
    assert view.find("layer") == [] and view.find("fc2/BiasAdd")


def test_outline_filter_expands_matches(qtbot, window):
    _, view = _open(qtbot, window, LENET / "model.mindir", "source")
    outline = window.outline
    outline.filter.setText("conv2")
    proxy = outline.proxy
    found = []

    def walk(parent):
        for row in range(proxy.rowCount(parent)):
            index = proxy.index(row, 0, parent)
            if index.data() == "conv2":
                found.append(index)
            walk(index)

    walk(outline.tree.rootIndex())
    assert found, "the node row matches the filter"
    for index in found:  # every ancestor open, so the match is on screen
        parent = index.parent()
        while parent.isValid():
            assert outline.tree.isExpanded(parent)
            parent = parent.parent()
    outline.filter.setText("")
    nodes = proxy.mapFromSource(outline.model.section("nodes"))
    assert outline.tree.isExpanded(nodes)


def test_layout_direction_and_minimap_are_remembered(qtbot, tmp_path, monkeypatch):
    """The chosen direction and minimap apply to every graph opened after, in this window and the next."""
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    window = _window(qtbot, tmp_path)
    _, view = _open(qtbot, window, LENET / "model.onnx")
    with qtbot.waitSignal(view.graph_view.direction_changed, timeout=30_000):
        view.graph_tools.horizontal.click()
    view.graph_tools.minimap.click()
    _, other = _open(qtbot, window, LENET / "model.mindir")  # another tab opens left to right, no minimap
    qtbot.waitUntil(lambda: other.graph_view.graph.direction == "LR", timeout=30_000)
    assert other.graph_tools.horizontal.isChecked() and not other.graph_tools.minimap.isChecked()
    assert not other.graph_view.minimap.isVisible()
    window.close()

    again = _window(qtbot, tmp_path)  # the next session, same settings file
    _, view = _open(qtbot, again, LENET / "model.onnx")
    qtbot.waitUntil(lambda: view.graph_view.graph.direction == "LR", timeout=30_000)
    assert view.graph_tools.horizontal.isChecked() and not view.graph_tools.minimap.isChecked()
    view.graph_tools.horizontal.click()  # back to top-to-bottom: remembered too
    qtbot.waitUntil(lambda: view.graph_view.graph.direction == "TB", timeout=30_000)
    assert again.settings.value("graph/direction") == "TB"
    again.close()
