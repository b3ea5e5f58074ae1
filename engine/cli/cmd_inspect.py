"""`dstudio inspect FILE`: format, inputs, outputs, ops, parameters."""

from __future__ import annotations

import argparse

from engine import formats
from engine.cli.output import ProgressBar, print_json
from engine.inspect import format_summary, summarize


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="show what a model or parameter file holds",
        description="Show a file's format, producer, inputs and outputs (dtype, shape), op counts "
        "(MindSpore primitives and the ONNX ops they convert to, for MindIR), parameters and MACs. "
        "For a checkpoint, its parameter table.",
    )
    p.add_argument("file", help="a .mindir, .onnx, .ckpt, .safetensors or .npz file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with ProgressBar(enabled=None if not args.json else False) as bar:
        model = formats.load(args.file, job=bar.job())
    summary = summarize(model)
    if args.json:
        print_json(summary.to_dict())
    else:
        print(format_summary(summary))
    return 0
