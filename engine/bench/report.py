"""Benchmark reports on disk: result.json, latencies.csv and a self-contained report.html (inline SVG)."""

from __future__ import annotations

import csv
import io
import json
import logging
from html import escape
from pathlib import Path

from engine.bench import svg
from engine.bench.runner import BenchResult
from engine.bench.sweep import SweepResult
from engine.errors import OutputPathError
from engine.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

_CSS = """body{font-family:sans-serif;margin:24px;max-width:980px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.warn{color:#a33}
.small{color:#666;font-size:12px}svg{display:block;margin:12px 0}"""


def write_report(folder: str | Path, result: BenchResult | SweepResult) -> dict[str, Path]:
    """Write result.json, latencies.csv and report.html into ``folder`` (created if needed).

    Returns:
        file role -> path written.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError("report path is a file; give a folder", path=folder)
    folder.mkdir(parents=True, exist_ok=True)
    runs = [p.result for p in result.points] if isinstance(result, SweepResult) else [result]
    paths = {"json": folder / "result.json", "csv": folder / "latencies.csv", "html": folder / "report.html"}
    atomic_write_bytes(paths["json"], json.dumps(result.to_dict(), indent=1, default=str).encode())
    atomic_write_bytes(paths["csv"], latencies_csv(runs).encode())
    atomic_write_bytes(paths["html"], render_html(result).encode())
    return paths


def latencies_csv(runs: list[BenchResult]) -> str:
    """One row per timed iteration: run, target, threads, batch, iteration, latency_ms."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["run", "target", "threads", "batch", "iteration", "latency_ms"])
    for r_i, r in enumerate(runs):
        for i, ns in enumerate(r.latencies_ns):
            w.writerow([r_i, r.target, r.options.get("threads") or "", r.batch, i, f"{ns / 1e6:.6f}"])
    return buf.getvalue()


def _stats_table(runs: list[BenchResult]) -> str:
    head = ["target", "threads", "batch", "inputs", "runs", "median ms", "mean ms", "p90 ms", "p99 ms", "min ms", "max ms",
            "CV", "throughput/s"]
    rows = []
    for r in runs:
        s = r.stats
        shapes = (r.inputs or {}).get("shapes") or {}
        cells = [r.target, r.options.get("threads") or "default", r.batch,
                 ", ".join(f"{k} {'x'.join(str(d) for d in v) or 'scalar'}" for k, v in shapes.items()), r.iterations]
        cells += [f"{v:.4g}" for v in (s.median_ms, s.mean_ms, s.p90_ms, s.p99_ms, s.min_ms, s.max_ms)]
        cells += [f"{s.cv:.1%}", f"{r.throughput_per_s:.4g}"]
        rows.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"


def _run_section(r: BenchResult) -> str:
    ms = [ns / 1e6 for ns in r.latencies_ns]
    parts = [
        f"<h2>{escape(r.target)} · threads {escape(str(r.options.get('threads') or 'default'))} · batch {r.batch}</h2>",
        # a load test opens no session of its own (session_create_ms is NaN): say only what was measured
        f"<p class='small'>"
        + (f"session created in {r.session_create_ms:.1f} ms; first inference {r.first_inference_ms:.2f} ms; "
           f"{r.warmup} warm-up runs; " if r.session_create_ms == r.session_create_ms else "")
        + f"options {escape(json.dumps(r.options))}</p>",
        svg.line_chart(range(len(ms)), ms, title="Latency per iteration", xlabel="iteration", ylabel="ms"),
        svg.histogram(ms, title="Latency distribution", xlabel="ms"),
    ]
    if r.profile is not None:
        top = r.profile.top(15, by="op_type")
        parts.append(svg.bar_chart([o.name for o in top], [o.total_us / r.profile.iterations for o in top],
                                   title=f"Time by op type (per run, {r.profile.iterations} profiled runs)", unit="µs"))
        nodes = r.profile.top(15, by="node")
        parts.append(svg.bar_chart([f"{o.name} ({o.op_type})" for o in nodes],
                                   [o.total_us / r.profile.iterations for o in nodes],
                                   title="Slowest nodes (per run)", unit="µs"))
    return "\n".join(parts)


def render_html(result: BenchResult | SweepResult) -> str:
    """A single HTML file with every chart inline; opens anywhere, needs nothing else."""
    runs = [p.result for p in result.points] if isinstance(result, SweepResult) else [result]
    first = runs[0]
    title = f"Benchmark: {first.model} on {first.target}"
    body = [f"<h1>{escape(title)}</h1>", f"<p class='small'>{escape(first.started_at)} · run {escape(result.run_id)} · "
            f"{escape(json.dumps(first.machine))}</p>", _stats_table(runs)]
    warnings = sorted({w for r in runs for w in r.warnings})
    if warnings:
        body.append("<ul>" + "".join(f"<li class='warn'>{escape(w)}</li>" for w in warnings) + "</ul>")
    body.append(f"<p class='small'>What is timed: {escape(first.what_is_timed)}</p>")
    if isinstance(result, SweepResult) and len(result.points) > 1:
        pts = sorted(result.points, key=lambda p: p.result.throughput_per_s)
        # a point may name itself (a load test's concurrency level); sweeps say threads and batch
        labels = [getattr(p, "label", "") or f"t{p.threads or 'd'} b{p.batch}" for p in pts]
        body.append(svg.line_chart([p.result.throughput_per_s for p in pts], [p.result.stats.median_ms for p in pts],
                                   title="Latency vs throughput", xlabel="throughput (inferences/s)",
                                   ylabel="median latency (ms)", markers=True, labels=labels))
    body.extend(_run_section(r) for r in runs)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>")
