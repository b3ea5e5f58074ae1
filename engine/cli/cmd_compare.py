"""``dstudio compare``: recorded benchmark runs side by side, with ratios to the first."""

from __future__ import annotations

import argparse

from engine.cli import UsageError
from engine.cli.output import print_json, table

METRICS = ("median_ms", "mean_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "std_ms")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare recorded benchmark runs side by side",
        description="Compare benchmark runs from the run history (ids, unique id prefixes, 'last') or "
        "result JSON files. Ratios are to the first run named (baseline).",
    )
    p.add_argument("runs", nargs="*", metavar="RUN", help="run ids, id prefixes, 'last', or result.json paths")
    p.add_argument("--list", action="store_true", help="list recent runs instead")
    p.add_argument("--limit", type=int, default=20, help="how many runs --list shows (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _flatten(record: dict) -> list[dict]:
    """A sweep holds several runs; a bench record is one."""
    if record.get("kind") == "sweep":
        return [dict(r, run_id=f"{record['run_id']}[{i}]") for i, r in enumerate(record.get("runs", []))]
    return [record]


def run(args: argparse.Namespace) -> int:
    from engine.bench import history

    if args.list:
        runs = history.list_runs(limit=args.limit)
        if args.json:
            print_json([r.to_dict() for r in runs])
            return 0
        if not runs:
            print(f"no runs recorded yet in {history.runs_dir()}")
            return 0
        rows = [(r.run_id, r.started_at, r.kind, r.model, r.target,
                 "" if r.median_ms is None else f"{r.median_ms:.4g}") for r in runs]
        print(table(rows, ["run", "started", "kind", "model", "target", "median ms"]))
        return 0
    if not args.runs:
        raise UsageError("name at least one run (or use --list)")
    records = [r for ref in args.runs for r in _flatten(history.load_run(ref))]
    base = records[0]
    out = []
    for rec in records:
        row = {"run_id": rec.get("run_id"), "model": rec.get("model"), "target": rec.get("target"),
               "batch": rec.get("batch"), "threads": (rec.get("options") or {}).get("threads"),
               "env": (rec.get("options") or {}).get("env") or {}, "iterations": rec.get("iterations"),
               "throughput_per_s": rec.get("throughput_per_s")}
        for m in METRICS:
            row[m] = rec["stats"].get(m)
        b = base["stats"].get("median_ms")
        row["median_ratio"] = (row["median_ms"] / b) if b else None
        bt = base.get("throughput_per_s")
        row["throughput_ratio"] = (row["throughput_per_s"] / bt) if bt else None
        out.append(row)
    if args.json:
        print_json(out)
        return 0
    rows = []
    for r in out:
        env = " ".join(f"{k}={v}" for k, v in sorted(r["env"].items()))
        rows.append((r["run_id"], r["model"], r["target"] + (f" [{env}]" if env else ""), r["threads"] or "default",
                     r["batch"], f"{r['median_ms']:.4g}", f"{r['p90_ms']:.4g}", f"{r['p99_ms']:.4g}",
                     f"{r['throughput_per_s']:.4g}", f"{r['median_ratio']:.3f}x" if r["median_ratio"] else "",
                     f"{r['throughput_ratio']:.3f}x" if r["throughput_ratio"] else ""))
    print(table(rows, ["run", "model", "target", "threads", "batch", "median ms", "p90 ms", "p99 ms",
                       "thru/s", "median vs 1st", "thru vs 1st"]))
    return 0
