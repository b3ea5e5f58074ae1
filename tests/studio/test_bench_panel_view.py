"""Benchmark panel presentation: every statistic visible, history columns, microsecond axes, Tab leaves the table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from studio.latency_plot import LatencyPlot
from studio.main_window import MainWindow
from studio.settings import Settings


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.close()


def test_every_statistic_is_visible_without_scrolling(qtbot, window):
    stats = window.bench.stats
    window.bench_dock.show()  # bottom docks start hidden until used; this is the panel as it shows
    window.bench_dock.raise_()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: stats.isVisible(), timeout=5_000)
    names = set(window.bench.stat_values())
    assert {"min", "median", "p90", "p99", "max", "std", "throughput", "cv", "iterations"} <= names
    assert stats.verticalScrollBar().maximum() == 0
    shown = stats.viewport().rect()
    for row in range(stats.rowCount()):
        for col in range(stats.columnCount()):
            assert shown.contains(stats.visualItemRect(stats.item(row, col))), (row, col)
    assert not stats.tabKeyNavigation()
    column = window.bench.results.parentWidget().parentWidget()  # the results column's scroll area
    assert column.verticalScrollBar().maximum() == 0, "the column fits the dock without scrolling"


def test_history_has_the_columns_a_comparison_needs(window):
    headers = [window.bench.history.horizontalHeaderItem(c).text() for c in range(window.bench.history.columnCount())]
    for name in ("Model", "Target", "Precision", "Threads", "Batch", "Inputs", "Median ms"):
        assert name in headers


def test_small_latencies_get_a_microsecond_axis(qtbot):
    plot = LatencyPlot()
    qtbot.addWidget(plot)
    plot.show_latencies(np.array([0.042, 0.051, 0.047]))
    assert plot.unit == "µs"
    assert plot.latency.getAxis("left").scale == 1000.0
    assert plot.latency.getAxis("left").labelText == "µs"
    _, y = plot.current.getOriginalDataset()
    np.testing.assert_allclose(y, [0.042, 0.051, 0.047])  # the data stays in ms; only the ticks scale
    plot.show_latencies(np.array([3.2, 14.0]))
    assert plot.unit == "ms" and plot.latency.getAxis("left").scale == 1.0


LENET = Path(__file__).resolve().parents[1] / "data" / "mindspore" / "lenet5" / "model.onnx"


@pytest.fixture
def lenet_window(qtbot, window):
    with qtbot.waitSignal(window.document_opened, timeout=60_000):
        window.open_files([LENET])
    window.bench.warmup.setValue(1)
    window.bench.iterations.setValue(10)
    return window


def test_profile_fills_a_sortable_per_layer_table_that_selects_nodes(qtbot, lenet_window):
    bench = lenet_window.bench
    bench.profile.setChecked(True)
    with qtbot.waitSignal(bench.run_finished, timeout=120_000) as blocker:
        bench.run()
    profile = blocker.args[0].profile
    table = bench.profile_table
    assert bench.details.currentWidget() is table
    assert table.rowCount() == len(profile.by_node) > 0
    per_run = [float(table.item(r, 2).data(Qt.ItemDataRole.UserRole)) for r in range(table.rowCount())]
    assert per_run == sorted(per_run, reverse=True)
    table.sortByColumn(2, Qt.SortOrder.AscendingOrder)  # numeric, not text order
    per_run = [float(table.item(r, 2).data(Qt.ItemDataRole.UserRole)) for r in range(table.rowCount())]
    assert per_run == sorted(per_run)
    view = lenet_window.current_view()
    row = next(r for r in range(table.rowCount())
               if any(n.name == table.item(r, 0).text() for n in view.graph.nodes))
    name = table.item(row, 0).text()
    table.cellClicked.emit(row, 0)
    qtbot.waitUntil(lambda: view.selected_node() is not None, timeout=10_000)
    assert next(n.name for n in view.graph.nodes if n.id == view.selected_node()) == name


def test_sweep_fills_the_sweep_table(qtbot, lenet_window):
    bench = lenet_window.bench
    bench.sweep.setCurrentText("threads")
    bench.sweep_values.setText("1, 2")
    with qtbot.waitSignal(bench.run_finished, timeout=120_000) as blocker:
        bench.run()
    points = blocker.args[0].points
    assert bench.sweep_table.rowCount() == len(points) == 2
    assert [bench.sweep_table.item(r, 0).text() for r in range(2)] == ["1", "2"]
    # the sweep curve takes the histogram's place at full height, one tick per value swept
    assert bench.plot.sweep.isVisible() and not bench.plot.histogram.isVisible()
    assert bench.plot.sweep.width() > bench.plot.latency.width() // 3


def test_environment_knobs_reach_the_run(qtbot, lenet_window):
    bench = lenet_window.bench
    bench.env.setText("NOT A PAIR")
    bench.run()
    assert lenet_window.runner.current("bench") is None
    assert "KEY=VALUE" in bench.status.text()
    bench.env.setText("DSTUDIO_TEST_KNOB=1")
    with qtbot.waitSignal(bench.run_finished, timeout=120_000) as blocker:
        bench.run()
    assert blocker.args[0].options["env"] == {"DSTUDIO_TEST_KNOB": "1"}


def test_per_layer_rows_of_a_mindir_read_as_the_graph_names_them(qtbot, window):
    """A profiled MindIR's rows show the graph's names (``conv1``), not ONNX Runtime's; a click still selects."""
    path = Path(__file__).resolve().parents[1] / "data" / "mindspore" / "mobilenetv2_small" / "model.mindir"
    with qtbot.waitSignal(window.document_opened, timeout=60_000):
        window.open_files([path])
    bench = window.bench
    bench.warmup.setValue(1)
    bench.iterations.setValue(5)
    bench.profile.setChecked(True)
    view = window.current_view()
    with qtbot.waitSignal(view.colors_applied, timeout=120_000):
        bench.run()
    qtbot.waitUntil(lambda: bench.profile_table.rowCount() > 0, timeout=10_000)
    table = bench.profile_table
    graph = view.document.graphs["canonical"]
    readable = {n.display_name: n for n in graph.nodes if n.display_name}
    runtime = {n.name for n in graph.nodes}
    rows = [table.item(r, 0) for r in range(table.rowCount())]
    relabelled = [item for item in rows if item.text() in readable and item.text() not in runtime]
    assert len(relabelled) >= len(rows) // 2  # most rows read like the graph (some are runtime-only nodes)
    item = relabelled[0]
    raw = item.data(Qt.ItemDataRole.UserRole)
    assert raw != item.text() and raw in item.toolTip()
    table.cellClicked.emit(item.row(), 0)
    qtbot.waitUntil(lambda: view.selected_node() is not None, timeout=10_000)
    assert graph.node(view.selected_node()).display_name == item.text()


def test_runtime_names_of_fused_nodes_resolve_to_the_fusions_head():
    """A node ONNX Runtime named after the fusion's last output resolves to the node of its op type up the chain."""
    from engine.graphview.graph import DisplayGraph, DisplayNode, WeightInfo
    from studio.document import RuntimeNames, match_node_names

    nodes = [DisplayNode(id="conv", label="Conv", name="conv", op_type="Conv", category="conv", inputs=["x", "w"], outputs=["y:1"],
                         weights=[WeightInfo(name="w", shape=(8, 3, 3, 3), dtype="float32")]),
             DisplayNode(id="bn", label="BatchNormalization", name="bn", op_type="BatchNormalization", category="norm",
                         inputs=["y:1"], outputs=["y:2"]),
             DisplayNode(id="act", label="Clip", name="act", op_type="Clip", category="activation", inputs=["y:2"], outputs=["y:3"]),
             DisplayNode(id="act2", label="Relu", name="act2", op_type="Relu", category="activation", inputs=["y:3"], outputs=["y:4"])]
    names = RuntimeNames(DisplayGraph(nodes=nodes, edges=[]))
    assert names.resolve("y:3_nchwc", "Conv") == "conv"  # the fused Conv is the graph's Conv
    assert names.resolve("y:3_nchwc") == "act"  # without the op type: the tensor's producer
    assert names.resolve("y:4", "Gemm") == "act2"  # no node of that type up the chain: the producer
    assert names.resolve("act2_kernel_time", "Relu") == "act2" and names.resolve("unknown") is None
    got = names.match({"y:3_nchwc": 2.0, "conv": 1.0, "unknown": 9.0}, {"y:3_nchwc": "Conv"})
    assert got == {"conv": 3.0}
    assert match_node_names({"y:3_nchwc": 2.0}, [n.name for n in nodes]) == {}  # names alone guess nothing
