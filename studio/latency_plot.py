"""Live latency plots: per-iteration latency, histogram, sweep curve; updated in place on a timer."""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QSplitter, QVBoxLayout, QWidget

log = logging.getLogger(__name__)

#: One timer tick redraws one of the two live plots (latency, then histogram, then latency...), so a
#: tick costs one plot's paint; each plot is refreshed every 2 * REFRESH_MS.
REFRESH_MS = 100
HISTOGRAM_BINS = 40
#: overlay colours for history runs (the current run is always the first).
PALETTE = ("#2f7bd8", "#e08a1e", "#2e9e5b", "#b548c6", "#d64545", "#1aa3a3", "#7a7a7a")


class LatencyBuffer:
    """Latencies appended from the benchmark's worker thread, read by the GUI timer.

    Preallocated and grown by doubling, so ``append`` is cheap in the timed loop's callback.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._lock = threading.Lock()
        self._ms = np.empty(max(capacity, 16), dtype=np.float64)
        self.count = 0

    def append(self, index: int, latency_ns: int) -> None:
        with self._lock:
            if self.count == self._ms.size:
                self._ms = np.concatenate([self._ms, np.empty_like(self._ms)])
            self._ms[self.count] = latency_ns / 1e6
            self.count += 1

    def snapshot(self) -> np.ndarray:
        """A copy of the latencies so far, in ms."""
        with self._lock:
            return self._ms[: self.count].copy()

    def reset(self) -> None:
        with self._lock:
            self.count = 0


def style_plot(plot: pg.PlotWidget) -> None:
    """Follow the widget palette (light or dark) instead of pyqtgraph's black default; cache the axes.

    An axis repaints its ticks, labels and grid from a QPicture whose text is shaped again on every
    replay: about 3-6 ms per plot and paint, on every streaming refresh. Cached as a device pixmap
    it is a blit (0.3 ms) until pyqtgraph calls ``update()`` on it, which it does whenever the
    range, ticks or labels change.
    """
    palette = plot.palette()
    for name in ("left", "bottom", "top", "right"):
        plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    plot.setBackground(palette.color(QPalette.ColorRole.Base))
    text = palette.color(QPalette.ColorRole.Text)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
    plot.getPlotItem().titleLabel.setAttr("color", text.name())


def _plot(title: str, bottom: str, left: str, parent: QWidget) -> pg.PlotWidget:
    plot = pg.PlotWidget(parent)
    style_plot(plot)
    plot.setTitle(title, size="9pt")
    plot.setLabel("bottom", bottom)
    plot.setLabel("left", left)
    plot.showGrid(x=False, y=True, alpha=0.15)
    return plot


def _axis_unit(plot: pg.PlotWidget, side: str, unit: str, label: str) -> None:
    """Show ``side``'s ticks in ``unit`` (µs: values x 1000) for data kept in ms; no-op when already so."""
    scale = 1000.0 if unit == "µs" else 1.0
    axis = plot.getAxis(side)
    if axis.scale != scale or axis.labelText != label:
        axis.setScale(scale)
        plot.setLabel(side, label)


def _unit_for(hi_ms: float) -> str:
    return "µs" if hi_ms < 1.0 else "ms"


class LatencyPlot(QWidget):
    """Latency vs iteration (one PlotDataItem per run), a histogram, and a sweep curve.

    The current run's curve is fed from a :class:`LatencyBuffer` by a timer, never per sample.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.latency = _plot("Latency per iteration", "iteration", "ms", self)
        self.latency.addLegend(offset=(-10, 10))
        self.histogram = _plot("Distribution", "ms", "count", self)
        self.sweep = _plot("Sweep", "threads", "median ms", self)
        self.sweep.addLegend(offset=(-10, 10))
        self.current = self._curve(self.latency, PALETTE[0], "current")
        self.hist_item = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(47, 123, 216, 110), pen=PALETTE[0])
        self.histogram.addItem(self.hist_item)
        self.sweep_median = self.sweep.plot([], [], pen=pg.mkPen(PALETTE[0], width=2), symbol="o", symbolSize=6,
                                            name="median")
        self.sweep_p90 = self.sweep.plot([], [], pen=pg.mkPen(PALETTE[1], width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine),
                                         symbol="t", symbolSize=6, name="p90")
        self.sweep.hide()
        self.overlays: dict[str, pg.PlotDataItem] = {}
        self.buffer: LatencyBuffer | None = None
        self.shown = 0
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._on_tick)
        self._tick = 0
        self._hist_shown = 0
        self.streaming = False
        self._ranges: dict[str, tuple[float, float]] = {}
        self.unit = "ms"  # the latency axes' unit: µs when every value is below 1 ms (data stays in ms)
        self._top = top = QSplitter(self)
        top.addWidget(self.latency)
        top.addWidget(self.histogram)
        top.addWidget(self.sweep)  # a sweep takes the histogram's place, at full height
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 1)
        top.setStretchFactor(2, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(top)
        layout.addLayout(row, 1)

    def plots(self) -> list[pg.PlotWidget]:
        """The three plot widgets: latency, histogram, sweep."""
        return [self.latency, self.histogram, self.sweep]

    @staticmethod
    def _curve(plot: pg.PlotWidget, colour: str, name: str) -> pg.PlotDataItem:
        # A 1 px cosmetic pen takes the rasteriser's fast path; wider pens are stroked (several times slower).
        curve = plot.plot([], [], pen=pg.mkPen(colour, width=1), name=name)
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        return curve

    # Streaming ----------------------------------------------------------------
    def start(self, buffer: LatencyBuffer, label: str = "current", expected: int | None = None) -> None:
        """Follow ``buffer`` until :meth:`stop`; the curve grows as iterations stream in.

        Args:
            buffer: filled by the benchmark's worker thread.
            label: the legend entry of the current run.
            expected: the number of iterations when known, so the x axis is fixed from the start.
        """
        self.buffer = buffer
        self.shown = 0
        self.current.setData([], [])
        self.hist_item.setData([0.0, 1.0], [0.0])
        self._rename_current(label)
        # While streaming, ranges only grow, in steps: an axis whose range is unchanged repaints
        # from its cached picture, where a moving range regenerates ticks and text (in Python) on
        # every paint. Auto-range would also lay the axes out again inside the paint.
        for plot in (self.latency, self.histogram):
            plot.getPlotItem().vb.disableAutoRange()
        self._ranges = {}
        if expected:
            self._ranges["x"] = (0.0, float(max(expected - 1, 1)))
        self.streaming = True
        self._tick = 0
        self._hist_shown = 0
        self._timer.start()

    def stop(self) -> None:
        """Stop following and draw the final state, with ranges fitted to it."""
        for step in self.stop_steps():
            step()

    def stop_steps(self) -> list[Any]:
        """:meth:`stop` as steps to run one per event-loop turn (one plot's final drawing each);
        following stops at once."""
        self._timer.stop()
        self.streaming = False
        buffer = self.buffer

        def final(plot: pg.PlotWidget, draw: Any, shown: Any) -> None:
            if buffer is not None and buffer is self.buffer:
                ms = buffer.snapshot()
                if ms.size != shown():
                    draw(ms)
            plot.getPlotItem().vb.enableAutoRange()

        return [lambda: final(self.latency, self._latency, lambda: self.shown),
                lambda: final(self.histogram, self._histogram, lambda: self._hist_shown)]

    def _on_tick(self) -> None:
        if self.buffer is None or self.buffer.count == 0:
            return
        self._tick += 1
        ms = self.buffer.snapshot()
        if self._tick % 2:
            self._latency(ms)
        elif ms.size != self._hist_shown:
            self._histogram(ms)

    def refresh(self) -> None:
        """Pull new samples from the buffer and update both plots in place."""
        if self.buffer is None:
            return
        ms = self.buffer.snapshot()
        if ms.size != self.shown:
            self._latency(ms)
        if ms.size != self._hist_shown:
            self._histogram(ms)

    def _grow(self, key: str, lo: float, hi: float, *, floor: float | None = None) -> tuple[float, float]:
        """The sticky range for ``key``: unchanged while [lo, hi] fits, else widened with headroom."""
        if hi <= lo:
            hi = lo + max(abs(lo) * 1e-3, 1e-6)
        old = self._ranges.get(key)
        if old is not None and old[0] <= lo and hi <= old[1]:
            return old
        span = hi - lo
        new = (lo - 0.25 * span, hi + 0.25 * span)
        if old is not None:
            new = (min(new[0], old[0]), max(new[1], old[1]))
        if floor is not None:
            new = (max(new[0], floor), new[1])
        self._ranges[key] = new
        return new

    def set_unit(self, unit: str) -> None:
        """Label the latency plot's value axis in ``ms`` or ``µs``; only tick labels scale, the data stays in ms."""
        if unit != self.unit:
            self.unit = unit
            _axis_unit(self.latency, "left", unit, unit)

    def _fit_unit(self, ms: np.ndarray) -> None:
        if ms.size:
            self.set_unit("µs" if float(np.max(ms)) < 1.0 else "ms")

    def _latency(self, ms: np.ndarray) -> None:
        self._fit_unit(ms)
        self.shown = ms.size
        self.current.setData(np.arange(ms.size, dtype=np.float64), ms)
        if self.streaming and ms.size:
            x = self._ranges.get("x")
            if x is None or ms.size - 1 > x[1]:
                self._ranges["x"] = x = (0.0, float(max(2 * ms.size, 16)))
            y = self._grow("y", float(ms.min()), float(ms.max()), floor=0.0)
            self.latency.getPlotItem().vb.setRange(xRange=x, yRange=y, padding=0)

    def _histogram(self, ms: np.ndarray) -> None:
        self._hist_shown = ms.size
        if ms.size == 0:
            return
        hi = float(np.percentile(ms, 99.5)) if ms.size > 50 else float(ms.max())  # clip the long tail
        lo = float(ms.min())
        if hi <= lo:
            hi = lo + 1e-3
        if self.streaming:
            lo, hi = self._grow("bins", lo, hi, floor=0.0)  # fixed bins while they hold the data
        _axis_unit(self.histogram, "bottom", _unit_for(hi), _unit_for(hi))  # its own range: the tail is clipped
        counts, edges = np.histogram(np.clip(ms, lo, hi), bins=HISTOGRAM_BINS, range=(lo, hi))
        self.hist_item.setData(edges, counts.astype(np.float64))
        if self.streaming:
            top = self._ranges.get("count", (0.0, 0.0))[1]
            if counts.max() > top:
                self._ranges["count"] = (0.0, float(2 * counts.max()))
            self.histogram.getPlotItem().vb.setRange(xRange=(lo, hi), yRange=self._ranges["count"], padding=0)

    def show_latencies(self, latencies_ms: np.ndarray, label: str | None = None) -> None:
        """Show a finished run (e.g. the active document's last one) as the current curve."""
        self._timer.stop()
        if label is not None:
            self._rename_current(label)
        self.buffer = None
        self.shown = int(latencies_ms.size)
        self._fit_unit(latencies_ms)
        self.current.setData(np.arange(latencies_ms.size, dtype=np.float64), latencies_ms)
        self._histogram(latencies_ms)

    def _rename_current(self, label: str) -> None:
        """Name the current run in the legend (a legend keeps the name a curve had when it was added)."""
        self.current.opts["name"] = label
        legend = self.latency.getPlotItem().legend
        entry = legend.getLabel(self.current) if legend is not None else None
        if entry is not None and entry.text != label:
            entry.setText(label)

    def clear(self) -> None:
        """Empty the current curve, the histogram and the sweep (a model with no run yet)."""
        self._timer.stop()
        self.streaming = False
        self.buffer = None
        self.shown = 0
        self._hist_shown = 0
        self.current.setData([], [])
        self.hist_item.setData([0.0, 1.0], [0.0])
        self.hide_sweep()
        self.latency.getPlotItem().vb.enableAutoRange()
        hist = self.histogram.getPlotItem().vb
        hist.disableAutoRange()  # the placeholder bar must not autoscale into a -400..400 frame
        hist.setRange(xRange=(0.0, 1.0), yRange=(0.0, 1.0), padding=0)

    def point_count(self) -> int:
        """How many points the current curve holds (its full data, before downsampling)."""
        x, _ = self.current.getOriginalDataset()
        return 0 if x is None else len(x)

    # History overlays and sweeps ---------------------------------------------
    def set_overlays(self, runs: dict[str, np.ndarray]) -> None:
        """Overlay past runs (label -> latencies in ms); one item per run, reused across calls."""
        for key in list(self.overlays):
            if key not in runs:
                item = self.overlays.pop(key)
                self.latency.removeItem(item)
        for i, (key, ms) in enumerate(runs.items()):
            item = self.overlays.get(key)
            if item is None:
                item = self._curve(self.latency, PALETTE[(i + 1) % len(PALETTE)], key)
                self.overlays[key] = item
            item.setData(np.arange(ms.size, dtype=np.float64), ms)

    def show_sweep(self, parameter: str, values: list[float], medians: list[float], p90s: list[float]) -> None:
        """Draw the sweep curve (``parameter`` on x, one tick per value swept) in place of the histogram."""
        self.sweep.setLabel("bottom", parameter)
        self.sweep.setTitle(f"Sweep over {parameter}", size="9pt")
        unit = _unit_for(max([*medians, *p90s], default=1.0))
        _axis_unit(self.sweep, "left", unit, f"median / p90 {unit}")
        self.sweep.getAxis("bottom").setTicks([[(float(v), f"{v:g}") for v in values]])
        self.sweep_median.setData(values, medians)
        self.sweep_p90.setData(values, p90s)
        self.histogram.hide()
        self.sweep.show()
        self._share(0.55, 0.0)

    def hide_sweep(self) -> None:
        if self.sweep.isHidden():
            return
        self.sweep.hide()
        self.histogram.show()
        self._share(0.75, 0.25)

    def _share(self, latency: float, histogram: float) -> None:
        """Split the top row's width: the latency curve, the histogram, the sweep gets the rest."""
        total = sum(self._top.sizes())
        if total <= 0:
            return  # not laid out yet: the stretch factors decide
        first, second = int(total * latency), int(total * histogram)
        self._top.setSizes([first, second, max(total - first - second, 0)])

    def save_png(self, path: str) -> bool:
        """Save the plots as they are on screen."""
        return self.grab().save(path, "PNG")

    def series(self) -> dict[str, Any]:
        return {"current": self.current, **self.overlays}
