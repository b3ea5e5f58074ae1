"""Benchmark panel presentation: every statistic visible, history columns, microsecond axes, Tab leaves the table."""

from __future__ import annotations

import numpy as np
import pytest

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
    qtbot.waitExposed(window)
    names = set(window.bench.stat_values())
    assert {"min", "median", "p90", "p99", "max", "std", "throughput", "cv", "iterations"} <= names
    assert stats.verticalScrollBar().maximum() == 0
    shown = stats.viewport().rect()
    for row in range(stats.rowCount()):
        for col in range(stats.columnCount()):
            assert shown.contains(stats.visualItemRect(stats.item(row, col))), (row, col)
    assert not stats.tabKeyNavigation()


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
