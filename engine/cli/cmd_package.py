"""``dstudio package MODEL -f FORMAT -o DIR``: a deploy package for MindSpore Serving or Triton, validated."""

from __future__ import annotations

import argparse

from engine.cli.output import ProgressBar, print_json

EPILOG = """\
examples:
  dstudio package model.mindir -f triton -o repo/ --name resnet18 --max-batch 8 --instances 2
  dstudio package model.mindir -f triton -o repo/ -t onnxruntime:cuda
  dstudio package model.onnx -f mindspore-serving -o servables/ -t mindspore:ascend

Triton: DIR/<name>/config.pbtxt + DIR/<name>/1/model.onnx (ONNX Runtime backend; dynamic
batching when --max-batch > 0, the default 8 when the batch dimension can be made dynamic).
MindSpore Serving: DIR/serving_server.py + DIR/<name>/servable_config.py + DIR/<name>/1/<name>.mindir.
Both carry README.md (start command, example request), validation.json (the packaged model
against the source on seeded inputs, saved as validation_inputs.npz) and a client script.

exit status: 0 written and validated; 1 refused, or written but the validation failed
(the report says what differs); 2 usage error.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "package",
        help="write a validated deploy package for MindSpore Serving or Triton",
        description="Write MODEL as a MindSpore Serving servable or a Triton model repository in DIR, with a "
        "README and a validation report of the packaged model against the source.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model file (.onnx, .mindir)")
    p.add_argument("--format", "-f", required=True, choices=["mindspore-serving", "triton"], help="package format")
    p.add_argument("--output", "-o", required=True, metavar="DIR", help="folder to write into (created if needed)")
    p.add_argument("--target", "-t", help="device: onnxruntime:cpu|cuda|tensorrt|openvino for Triton (default cpu), "
                   "mindspore:cpu|gpu|ascend for MindSpore Serving (default cpu)")
    p.add_argument("--name", help="model / servable name (default: the file name without suffix)")
    p.add_argument("--max-batch", type=int, metavar="N",
                   help="Triton max_batch_size (default 8 when the batch dimension can be made dynamic, else 0)")
    p.add_argument("--instances", type=int, default=1, metavar="N", help="model instances (default 1)")
    p.add_argument("--threads", type=int, metavar="N", help="Triton: ONNX Runtime intra_op_thread_count")
    p.add_argument("--graph-opt", default="all", choices=["disable", "basic", "extended", "all"],
                   help="Triton: ONNX Runtime graph optimization level (default all)")
    p.add_argument("--force", action="store_true", help="replace an existing package of the same name in DIR")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from engine import formats
    from engine.cli import UsageError
    from engine.serving.package import package

    if args.instances < 1:
        raise UsageError(f"--instances must be at least 1, not {args.instances}")
    if args.max_batch is not None and args.max_batch < 0:
        raise UsageError(f"--max-batch must be 0 or more, not {args.max_batch}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be at least 1, not {args.threads}")
    with ProgressBar(enabled=None if not args.json else False) as bar:
        job = bar.job()
        model = formats.load(args.model, job=job.sub(0.0, 0.1))
        result = package(model, args.format, args.output, target=args.target, name=args.name,
                         max_batch=args.max_batch, instances=args.instances, threads=args.threads,
                         graph_optimization=args.graph_opt, overwrite=args.force, job=job.sub(0.1, 1.0))
    if args.json:
        print_json(result.to_dict())
    else:
        v = result.validation
        print(f"wrote {args.format} package {result.name} in {result.folder} ({len(result.files)} files; "
              f"model {result.model_file})")
        worst = max((o.get("max_abs") or 0.0 for o in v.get("parity", {}).get("outputs", [])), default=0.0)
        print(f"validation {'passed' if result.passed else 'FAILED'}: packaged on {v['candidate']['target']} vs "
              f"source on {v['reference']['target']}, max abs error {worst:.3g}"
              + (f"; batch of {v['batch_check']['batch']} {'matches' if v['batch_check']['passed'] else 'DIFFERS from'}"
                 " one by one" if v.get("batch_check") else ""))
        for problem in (v.get("error"), (v.get("batch_check") or {}).get("error")):
            if problem:
                print(f"problem: {problem}")
        for note in result.notes:
            print(f"note: {note}")
        print(f"see {result.folder / 'README.md'}")
    if not result.passed:
        print(f"error: {result.folder}: the packaged model does not match the source; see validation.json",
              file=sys.stderr)
        return 1
    return 0
