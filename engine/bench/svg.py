"""Small dependency-free SVG charts (line, histogram, horizontal bars) for self-contained reports."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np

W, H = 640, 260
ML, MR, MT, MB = 64, 16, 28, 40  # margins: left, right, top, bottom
COLOR = "#2a6fdb"
COLOR2 = "#d9822b"


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not np.isfinite(lo) or not np.isfinite(hi):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / n
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = np.ceil(lo / step) * step
    return [float(v) for v in np.arange(start, hi + step * 0.5, step) if v <= hi + 1e-12]


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _frame(title: str, xlabel: str, ylabel: str, x0: float, x1: float, y0: float, y1: float) -> tuple[list[str], callable]:
    pw, ph = W - ML - MR, H - MT - MB
    sx = (lambda x: ML + (x - x0) / (x1 - x0) * pw) if x1 > x0 else (lambda x: ML + pw / 2)
    sy = (lambda y: MT + ph - (y - y0) / (y1 - y0) * ph) if y1 > y0 else (lambda y: MT + ph / 2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
        f'font-family="sans-serif" font-size="11">',
        f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
        f'<text x="{ML + pw / 2}" y="{H - 6}" text-anchor="middle">{escape(xlabel)}</text>',
        f'<text x="14" y="{MT + ph / 2}" text-anchor="middle" transform="rotate(-90 14 {MT + ph / 2})">{escape(ylabel)}</text>',
    ]
    for t in _nice_ticks(y0, y1):
        y = sy(t)
        parts.append(f'<line x1="{ML}" x2="{ML + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{ML - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for t in _nice_ticks(x0, x1):
        x = sx(t)
        parts.append(f'<text x="{x:.1f}" y="{MT + ph + 14}" text-anchor="middle">{_fmt(t)}</text>')

    def scale(x: float, y: float) -> tuple[float, float]:
        return sx(x), sy(y)

    return parts, scale


def line_chart(xs: Sequence[float], ys: Sequence[float], *, title: str, xlabel: str, ylabel: str,
               markers: bool = False, labels: Sequence[str] | None = None, max_points: int = 4000) -> str:
    """A line (and optionally marker) chart; long series are decimated to ``max_points``."""
    xs_a, ys_a = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if xs_a.size == 0:
        return ""
    if xs_a.size > max_points:
        idx = np.linspace(0, xs_a.size - 1, max_points).astype(int)
        xs_a, ys_a = xs_a[idx], ys_a[idx]
    y_lo = min(0.0, float(np.nanmin(ys_a)))
    parts, scale = _frame(title, xlabel, ylabel, float(xs_a.min()), float(xs_a.max()), y_lo, float(np.nanmax(ys_a)) * 1.05)
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (scale(a, b) for a, b in zip(xs_a, ys_a)))
    parts.append(f'<polyline fill="none" stroke="{COLOR}" stroke-width="1.2" points="{pts}"/>')
    if markers:
        for i, (a, b) in enumerate(zip(xs_a, ys_a)):
            x, y = scale(a, b)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{COLOR2}"/>')
            if labels is not None and i < len(labels):
                parts.append(f'<text x="{x + 5:.1f}" y="{y - 5:.1f}">{escape(labels[i])}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def histogram(values: Sequence[float], *, title: str, xlabel: str, bins: int = 40) -> str:
    """A histogram of ``values``, clipped at the 99.5th percentile so one outlier cannot flatten it."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return ""
    hi = float(np.percentile(v, 99.5))
    lo = float(v.min())
    counts, edges = np.histogram(np.clip(v, lo, hi), bins=bins, range=(lo, hi if hi > lo else lo + 1e-9))
    parts, scale = _frame(title, xlabel, "runs", float(edges[0]), float(edges[-1]), 0.0, float(counts.max()) * 1.05)
    for c, a, b in zip(counts, edges[:-1], edges[1:]):
        x0, y0 = scale(a, c)
        x1, y1 = scale(b, 0)
        parts.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{max(x1 - x0 - 1, 0.5):.1f}" '
                     f'height="{max(y1 - y0, 0):.1f}" fill="{COLOR}"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, unit: str) -> str:
    """Horizontal bars, one per label, largest first as given."""
    if not labels:
        return ""
    row = 18
    height = MT + row * len(labels) + 12
    left = 180
    width = W - left - 80
    vmax = max(values) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (lab, val) in enumerate(zip(labels, values)):
        y = MT + i * row
        bw = width * val / vmax
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(lab[:28])}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{bw:.1f}" height="{row - 5}" fill="{COLOR}"/>')
        parts.append(f'<text x="{left + bw + 4:.1f}" y="{y + 12}">{_fmt(val)} {escape(unit)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
