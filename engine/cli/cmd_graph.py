"""`dstudio graph FILE -o graph.svg`: the graph the window draws, as an SVG file."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine import formats
from engine.cli.output import ProgressBar
from engine.errors import OutputPathError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "graph",
        help="draw a model's graph as SVG",
        description="Lay out a model's graph as the window shows it (MindSpore plumbing folded away, "
        "nodes named by scope, weights in the boxes) and write it as SVG. PNG export is in the window "
        "(the graph's Export button), which renders through Qt.",
    )
    p.add_argument("file", help="a .mindir or .onnx file")
    p.add_argument("-o", "--output", required=True, help="the .svg file to write")
    p.add_argument("--mode", choices=("auto", "source", "canonical"), default="auto",
                   help="source: the file's own graph (MindSpore op names); canonical: the ONNX it becomes "
                   "(default auto: source when the file has one)")
    p.add_argument("--direction", choices=("TB", "LR"), default="TB",
                   help="top to bottom (default) or left to right")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.fileio import atomic_write_bytes, check_output_path
    from engine.graphview import build_display_graph, layout
    from engine.graphview.svg import to_svg

    output = Path(args.output)
    if output.suffix.lower() != ".svg":
        raise OutputPathError("dstudio graph writes SVG: name the output *.svg (PNG export is in the window)",
                              path=output)
    output = check_output_path(output, [args.file])
    with ProgressBar() as bar:
        model = formats.load(args.file, job=bar.job())
    try:
        graph = build_display_graph(model, args.mode)
    except ValueError as exc:  # the wrong mode for this file, or a parameter file: a usage problem
        from engine.cli import UsageError

        raise UsageError(f"{Path(args.file).name}: {exc}".replace("use the canonical view", "use --mode canonical")) from None
    layout(graph, args.direction)
    atomic_write_bytes(output, to_svg(graph).encode("utf-8"))
    print(f"wrote {output} ({len(graph.nodes)} nodes, {len(graph.edges)} edges, {graph.mode} graph, {args.direction})")
    return 0
