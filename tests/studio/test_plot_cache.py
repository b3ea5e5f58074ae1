"""The plots' axes are cached as pixmaps (cheap repaints) yet still redraw when their range changes."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QGraphicsItem

from studio.latency_plot import LatencyPlot


def _axis_pixels(plot, side: str) -> np.ndarray:
    """The pixels of one axis of ``plot`` as the window would show them."""
    image = plot.grab().toImage()
    rect = plot.getAxis(side).sceneBoundingRect()
    top_left = plot.mapFromScene(rect.topLeft())
    bottom_right = plot.mapFromScene(rect.bottomRight())
    crop = image.copy(top_left.x(), top_left.y(), bottom_right.x() - top_left.x(), bottom_right.y() - top_left.y())
    crop = crop.convertToFormat(crop.Format.Format_RGB32)
    data = np.frombuffer(crop.constBits(), np.uint8, crop.sizeInBytes())
    return data.reshape(crop.height(), crop.bytesPerLine())[:, : crop.width() * 4].copy()


def test_axes_are_cached_and_redrawn_when_the_range_changes(qtbot):
    widget = LatencyPlot()
    qtbot.addWidget(widget)
    widget.resize(900, 300)
    widget.show()
    qtbot.waitExposed(widget)
    for side in ("left", "bottom"):
        assert widget.latency.getAxis(side).cacheMode() == QGraphicsItem.CacheMode.DeviceCoordinateCache

    widget.show_latencies(np.linspace(1.0, 2.0, 100))
    qtbot.wait(50)
    before = _axis_pixels(widget.latency, "left")
    widget.show_latencies(np.linspace(1.0, 2.0, 100))  # same data: the cached axis is reused as it was
    qtbot.wait(50)
    assert np.array_equal(before, _axis_pixels(widget.latency, "left"))

    widget.show_latencies(np.linspace(300.0, 900.0, 100))  # new range: new tick labels on the left axis
    qtbot.wait(50)
    after = _axis_pixels(widget.latency, "left")
    assert before.shape == after.shape
    assert not np.array_equal(before, after)
