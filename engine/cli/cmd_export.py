"""`dstudio export --graph G --params P -o DST`: bind a parameter file into a graph and write it."""

from __future__ import annotations

import argparse

from engine.cli.output import ProgressBar, print_json, table
from engine.errors import BindingError
from engine.export import export
from engine.params import BindingReport


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="bind a checkpoint (or safetensors/npz) into a graph and write the model",
        description="Bind parameters into a network by name, like a strict load_state_dict: every graph "
        "parameter must be given with its shape and dtype; entries the graph lacks (optimizer state) are "
        "reported and ignored. Names match with or without MindIR's '<graph>:' prefix. Refuses, writing "
        "nothing, when a parameter is missing or mis-shaped, unless --force.",
    )
    p.add_argument("--graph", required=True, help="the network (.mindir or .onnx)")
    p.add_argument("--params", required=True, help="the parameters (.ckpt, .safetensors, .npz, or another network)")
    p.add_argument("-o", "--output", required=True, help="output file; never one of the inputs")
    p.add_argument("--to", choices=["onnx", "mindir"], help="output format (default: from the output suffix)")
    p.add_argument("--force", action="store_true", help="bind what fits; keep the graph's own values for the rest")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with ProgressBar(enabled=None if not args.json else False) as bar:
        try:
            result = export(args.graph, args.params, args.output, fmt=args.to, force=args.force, job=bar.job())
        except BindingError as exc:
            if args.json and isinstance(exc.report, BindingReport):
                print_json({"output": None, "format": None, "report": exc.report.to_dict()})
            raise
    if args.json:
        print_json(result.to_dict())
        return 0
    print(report_table(result.report))
    kept = "" if result.report.ok else " (forced: the graph's own values kept for the rest)"
    print(f"wrote {result.output} ({result.format}){kept}")
    return 0


def report_table(report: BindingReport, limit: int = 5) -> str:
    """Counts of matched, missing, mismatched and unexpected tensors, with the first names."""
    mismatched = [f"{n} graph {list(g)} {gd} vs file {list(p)} {pd}" for n, g, p, gd, pd in report.mismatched]
    rows = [
        ("matched", len(report.matched), ""),
        ("missing", len(report.missing), _first(report.missing, limit)),
        ("mismatched", len(report.mismatched), _first(mismatched, limit)),
        ("unexpected (ignored)", len(report.unexpected), _first(report.unexpected, limit)),
    ]
    return table(rows, ["tensors", "count", "names"])


def _first(names: list[str], limit: int) -> str:
    shown = "; ".join(names[:limit])
    return shown + (f"; +{len(names) - limit} more" if len(names) > limit else "")
