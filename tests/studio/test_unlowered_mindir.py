"""A MindIR with primitives nobody knows opens in the window, its unlowered nodes marked with why."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from engine.graphview.categories import UNLOWERED_COLOR, color_of
from studio.main_window import MainWindow
from studio.settings import Settings

RENAMED = Path(__file__).resolve().parents[1] / "data" / "mindir_unknown" / "lenet5_renamed" / "model.mindir"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def test_unlowered_nodes_are_marked_in_outline_graph_and_properties(qtbot, window):
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        window.open_files([RENAMED])
    doc = blocker.args[0]
    assert doc.model.unlowered and doc.is_graph
    view = window.current_view()
    assert view.mode == "source"
    qtbot.waitUntil(lambda: view.graph_view is not None and bool(view.graph_view.items), timeout=30_000)

    # Outline: a section of what could not be converted, each primitive and node in the error colour.
    model = window.outline.model
    section = model.section("unlowered")
    assert section.isValid()
    groups = [model.index(r, 0, section) for r in range(model.rowCount(section))]
    assert [g.data() for g in groups] == ["Conv2DNobodyKnows", "FlattenNobodyKnows"]
    assert model.index(0, 3, section).data() == "2"
    assert groups[0].data(Qt.ItemDataRole.ForegroundRole) == QColor(UNLOWERED_COLOR)
    conv_rows = [model.index(r, 0, groups[0]) for r in range(model.rowCount(groups[0]))]
    assert len(conv_rows) == 2
    assert "has no ONNX lowering" in conv_rows[0].data(Qt.ItemDataRole.ToolTipRole)

    # Graph: the failed nodes in the error colour, the others in their category's colour.
    items = view.graph_view.items
    failed = [i for i in items.values() if i.node.lowering == "failed"]
    assert sorted(i.node.op_type for i in failed) == ["Conv2DNobodyKnows", "Conv2DNobodyKnows", "FlattenNobodyKnows"]
    assert all(i.brush().color() == QColor(UNLOWERED_COLOR) for i in failed)
    relu = next(i for i in items.values() if i.node.op_type == "ReLU")
    assert relu.node.lowering == "skipped"
    assert relu.brush().color() == QColor(color_of(relu.node.category))
    assert "not converted to ONNX" in failed[0].toolTip()

    # Properties: selecting a failed node says why.
    node_id = failed[0].node_id
    window.properties.show_node(node_id)
    rows = window.properties.rows()
    assert rows["ONNX conversion/status"] == "not lowered"
    assert "Conv2DNobodyKnows" in rows["ONNX conversion/reason"] and "no ONNX lowering" in rows["ONNX conversion/reason"]
    window.properties.show_node(relu.node_id)
    assert "Conv2D-op0" in window.properties.rows()["ONNX conversion/reason"]


def test_control_flow_mindir_opens_with_the_call_lowered_to_if(qtbot, window):
    path = Path(__file__).resolve().parents[1] / "data" / "mindir_control" / "if_branch" / "model.mindir"
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        window.open_files([path])
    doc = blocker.args[0]
    assert doc.model.is_lowered and not doc.model.unlowered
    view = window.current_view()
    qtbot.waitUntil(lambda: view.graph_view is not None and bool(view.graph_view.items), timeout=30_000)
    call = next(i for i in view.graph_view.items.values() if i.node.op_type == "Call")
    window.properties.show_node(call.node_id)
    rows = window.properties.rows()
    assert rows["ONNX conversion/status"] == "lowered"
    assert "If" in rows["ONNX conversion/ONNX ops"].split(", ")
    assert not window.outline.model.section("unlowered").isValid()
