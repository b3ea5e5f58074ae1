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
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--graph", help="the network (.mindir or .onnx)")
    source.add_argument("--net", metavar="FILE.py:CLASS",
                        help="a MindSpore network definition: builds the Cell, binds --params, runs Model.predict on "
                        "the input and exports through MindSpore (ONNX through our converter when MindSpore's fails)")
    p.add_argument("--args", metavar="JSON", help="with --net: the Cell's constructor arguments (JSON list or object)")
    p.add_argument("--input-shape", metavar="DIMS", help="with --net: input shape, e.g. 1,3,224,224 (seeded normal input)")
    p.add_argument("--inputs", metavar="FILE.npy", help="with --net: the input as a .npy instead of a seeded one")
    p.add_argument("--seed", type=int, default=0, help="with --net: seed of the generated input (default 0)")
    p.add_argument("--params", required=True, help="the parameters (.ckpt, .safetensors, .npz, or another network)")
    p.add_argument("-o", "--output", required=True, help="output file; never one of the inputs")
    p.add_argument("--to", choices=["onnx", "mindir"], help="output format (default: from the output suffix)")
    p.add_argument("--force", action="store_true", help="bind what fits; keep the graph's own values for the rest")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.net:
        return _run_net(args)
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


def _run_net(args: argparse.Namespace) -> int:
    from engine.netexport import export_net, parse_args_json

    shape = None
    if args.input_shape:
        try:
            shape = tuple(int(d) for d in args.input_shape.replace("x", ",").split(",") if d.strip())
        except ValueError:
            from engine.cli import UsageError

            raise UsageError(f"--input-shape takes integers like 1,3,224,224, not {args.input_shape!r}") from None
    with ProgressBar(enabled=None if not args.json else False) as bar:
        try:
            result = export_net(args.net, args.params, args.output, input_shape=shape, inputs=args.inputs,
                                args=parse_args_json(args.args), seed=args.seed, force=args.force, job=bar.job())
        except BindingError as exc:
            if isinstance(exc.report, BindingReport):
                if args.json:
                    print_json({"output": None, "format": None, "report": exc.report.to_dict()})
                else:
                    print(report_table(exc.report))
            raise
    if args.json:
        print_json(result.to_dict())
        return 0
    print(report_table(result.report))
    print(f"predict: {len(result.outputs)} output(s) {', '.join(str(list(o.shape)) for o in result.outputs)} "
          f"on input {list(result.input_shape)}")
    print(f"wrote {result.output} ({result.format}, {result.method}); its outputs vs predict: max abs "
          f"{result.predict_max_abs:.3g}")
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
