"""A batch's combined report: one row per model as a table, batch.json, batch.csv and report.html.

The HTML page uses the benchmark report's style sheet and SVG charts (``engine.bench``), so
both reports look alike and there is one chart writer.
"""

from __future__ import annotations

import csv
import io
import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.bench import svg
from engine.bench.report import _CSS
from engine.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from engine.batch.runner import BatchReport

HEADERS = ["model", "status", "conversion", "parity", "where", "seconds"]


def bench_columns(records: list[dict[str, Any]]) -> list[str]:
    """One latency column per benchmark target (with its node when placed), in first-seen order."""
    cols: list[str] = []
    for r in records:
        for b in r.get("bench") or []:
            name = _bench_name(b)
            if name not in cols:
                cols.append(name)
    return cols


def _bench_name(entry: dict[str, Any]) -> str:
    return entry["target"] + (f"@{entry['node']}" if entry.get("node") else "")


def where(record: dict[str, Any]) -> str:
    """Where a job ran: the node's name in a cluster, else the host and worker process."""
    w = record.get("where") or {}
    if w.get("node"):
        return str(w["node"])
    if w.get("host"):
        return f"{w['host']} pid {w.get('pid', '?')}"
    return ""


def rows(records: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Headers and one row of text cells per model (the CLI's table and the studio's)."""
    cols = bench_columns(records)
    out = []
    for r in records:
        conv = r.get("conversion") or {}
        parity = r.get("parity")
        cells = [r["model"], r["status"], f"{conv['from']} -> {conv['to']}" if conv else "",
                 "" if parity is None else f"{'pass' if parity['passed'] else 'FAIL'} ({parity['max_abs']:.2g})",
                 where(r), f"{r.get('seconds', 0.0):.2f}"]
        bench = {_bench_name(b): b for b in r.get("bench") or []}
        for c in cols:
            b = bench.get(c)
            cells.append("" if b is None else "error" if b.get("error") else f"{b['median_ms']:.3g} ms")
        out.append(cells)
    return HEADERS + [f"{c} median" for c in cols], out


def to_csv(records: list[dict[str, Any]]) -> str:
    """One row per model: status, error, conversion, parity, where, and median/p90 per target."""
    cols = bench_columns(records)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", "status", "failed_stage", "error", "from", "to", "output", "parity_passed", "parity_max_abs",
                "host", "node", "seconds"] + [f"{c} {s}" for c in cols for s in ("median_ms", "p90_ms", "where")])
    for r in records:
        conv = r.get("conversion") or {}
        parity = r.get("parity") or {}
        wh = r.get("where") or {}
        row = [r["model"], r["status"], r.get("failed_stage") or "", r.get("error") or "", conv.get("from", ""),
               conv.get("to", ""), conv.get("output") or "", parity.get("passed", ""), parity.get("max_abs", ""),
               wh.get("host", ""), wh.get("node", ""), f"{r.get('seconds', 0.0):.3f}"]
        bench = {_bench_name(b): b for b in r.get("bench") or []}
        for c in cols:
            b = bench.get(c) or {}
            bw = b.get("where") or {}
            row += [b.get("median_ms", ""), b.get("p90_ms", ""), bw.get("node") or bw.get("host", "")]
        w.writerow(row)
    return buf.getvalue()


def render_html(report: BatchReport) -> str:
    """A self-contained page: counts, the per-model table with errors, latency per target charts."""
    headers, body_rows = rows(report.records)
    title = f"Batch {report.options.get('stage', '')}: {len(report.records)} models"
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("ok", "mismatch", "failed"))
    parts = [f"<h1>{escape(title)}</h1>",
             f"<p class='small'>{escape(report.mode)} · {report.wall_seconds:.1f} s wall · ran {len(report.ran)}, "
             f"skipped {len(report.skipped)} current · {escape(counts)}</p>",
             "<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers + ["error"]) + "</tr>"]
    for r, cells in zip(report.records, body_rows):
        cls = "" if r["status"] == "ok" else " class='warn'"
        parts.append(f"<tr{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in cells)
                     + f"<td>{escape(r.get('error') or '')}</td></tr>")
    parts.append("</table>")
    for col in bench_columns(report.records):
        pts = [(r["model"], b["median_ms"]) for r in report.records for b in r.get("bench") or []
               if _bench_name(b) == col and not b.get("error")]
        if pts:
            pts.sort(key=lambda p: -p[1])
            parts.append(svg.bar_chart([p[0] for p in pts], [p[1] for p in pts],
                                       title=f"Median latency on {col}", unit="ms"))
    conv = [(r["model"], r["seconds"]) for r in report.records if r.get("seconds")]
    if conv:
        conv.sort(key=lambda p: -p[1])
        parts.append(svg.bar_chart([p[0] for p in conv], [p[1] for p in conv], title="Job wall time", unit="s"))
    parts.append(f"<p class='small'>options {escape(json.dumps(report.options))}</p>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>")


def write_reports(outdir: str | Path, report: BatchReport) -> dict[str, Path]:
    """batch.json, batch.csv and report.html in ``outdir``; returns role -> path."""
    outdir = Path(outdir)
    paths = {"json": outdir / "batch.json", "csv": outdir / "batch.csv", "html": outdir / "report.html"}
    atomic_write_bytes(paths["json"], json.dumps(report.to_dict(), indent=1, default=str).encode())
    atomic_write_bytes(paths["csv"], to_csv(report.records).encode())
    atomic_write_bytes(paths["html"], render_html(report).encode())
    return paths
