"""``dstudio targets``: what this machine can run, and for each known target it cannot, why."""

from __future__ import annotations

import argparse

from engine.cli.output import print_json, table


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "targets",
        help="list inference targets and whether this machine can run them",
        description="List every known inference target (ONNX Runtime execution providers, MindSpore devices, "
        "the ONNX reference evaluator), whether it is available here, and why not.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--available", action="store_true", help="only the targets this machine can run")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="list each node of a Ray cluster (auto, host:port, ray://host:port) with its own targets")
    p.add_argument("--setup", choices=["mindspore-lite"],
                   help="create the environment a target needs (mindspore-lite: a Python 3.7 venv with "
                   "mindspore-lite 2.0.0 from PyPI, under the user data dir or $DSTUDIO_MSLITE_VENV)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.backends import list_targets

    if args.setup:
        import sys
        import time

        from engine.backends import mslite_env

        start = time.perf_counter()
        print(f"creating {mslite_env.venv_dir()} ({mslite_env.LITE_REQUIREMENT})...", file=sys.stderr)
        python = mslite_env.setup()
        print(f"mindspore-lite:cpu ready ({python}) in {time.perf_counter() - start:.0f} s")
        return 0
    if args.cluster:
        from engine.cli.cmd_batch import render_nodes

        return render_nodes(args.cluster, as_json=args.json, available_only=args.available)
    infos = list_targets()
    if args.available:
        infos = [i for i in infos if i.available]
    if args.json:
        print_json([i.to_dict() for i in infos])
        return 0
    rows = [(i.name, "yes" if i.available else "no", i.version, i.reason) for i in infos]
    print(table(rows, ["target", "available", "version", "reason"]))
    return 0
