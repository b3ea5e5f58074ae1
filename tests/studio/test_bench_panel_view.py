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
