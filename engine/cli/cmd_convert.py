"""`dstudio convert SRC -o DST`: MindIR <-> ONNX through the canonical graph; ckpt <-> safetensors <-> npz."""

from __future__ import annotations

import argparse

from engine.cli.output import ProgressBar, print_json
from engine.convert import convert


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a model between MindIR and ONNX, or parameters between ckpt, safetensors and npz",
        description="Convert a network file (MindIR <-> ONNX) or a parameter file (ckpt <-> safetensors <-> npz). "
        "The output format follows DST's suffix unless --to is given. "
        "The input is never overwritten; the output is written to a temporary file and renamed.",
    )
    p.add_argument("src", nargs="?", help="input model (.mindir, .onnx) or parameter file (.ckpt, .safetensors, .npz)")
    p.add_argument("-o", "--output", help="output file")
    p.add_argument("--to", choices=["onnx", "mindir", "mslite", "ckpt", "safetensors", "npz"],
                   help="output format (default: from the output suffix; .ms is mslite)")
    p.add_argument("--precision", choices=["fp32", "fp16", "int8"], default=None,
                   help="for .ms output only: Lite's fp16 weights or 8-bit weight quantization (default fp32)")
    p.add_argument("--mind-ir-version", type=int, choices=[1, 2, 3], metavar="N",
                   help="for MindIR output: state mind_ir_version N (1 for MindSpore Lite 2.0) when the graph's "
                   "content allows it; otherwise refused, naming what needs a newer version")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--list-ops", action="store_true", help="list the MindSpore primitives the converter lowers, then exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_ops:
        from engine.formats.mindir.lower import supported_primitives

        ops = supported_primitives()
        print_json({"primitives": ops}) if args.json else print("\n".join(ops))
        return 0
    if not args.src or not args.output:
        from engine.cli import UsageError

        raise UsageError("SRC and -o/--output are required")
    to_ms = args.to == "mslite" or (args.to is None and args.output.lower().endswith(".ms"))
    if args.precision and not to_ms:
        from engine.cli import UsageError

        raise UsageError("--precision applies to .ms output (MindSpore Lite); for ONNX use dstudio optimize")
    to_mindir = args.to == "mindir" or (args.to is None and args.output.lower().endswith(".mindir"))
    if args.mind_ir_version and not to_mindir:
        from engine.cli import UsageError

        raise UsageError("--mind-ir-version applies to MindIR output")
    with ProgressBar(enabled=None if not args.json else False) as bar:
        if args.mind_ir_version:
            from engine.formats import mindir_versions

            result = mindir_versions.convert(args.src, args.output, version=args.mind_ir_version, job=bar.job())
        elif to_ms:
            from engine.formats.mslite import writer

            result = writer.convert(args.src, args.output, precision=args.precision or "fp32", job=bar.job())
        else:
            result = convert(args.src, args.output, fmt=args.to, job=bar.job())
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"wrote {result.output} ({result.format}, from {result.source_format}) in {result.seconds:.2f} s")
    return 0
