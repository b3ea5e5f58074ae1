"""`dstudio batch convert|validate|bench DIR_OR_GLOB... -o OUTDIR`: a model zoo, one job per model."""

from __future__ import annotations

import argparse
import sys

from engine.cli.output import print_json, table

EPILOG = """\
stages (each includes the one before):
  convert   convert every MindIR to ONNX and every ONNX to MindIR
  validate  ... then run the converted file and its source on the same seeded inputs and
            compare the outputs (--parity-target auto: each file on its own runtime, a MindIR
            on mindspore:cpu when MindSpore is installed)
  bench     ... then time each --target (MindIR on mindspore targets, ONNX on the others)

Results go to OUTDIR: converted/ (the converted files; one whose outputs differ from its
source's is kept only as NAME.mismatch), results/ (one JSON per model, written
as each job ends), batch.json, batch.csv and report.html. A rerun skips models whose stored
result is current (same file size and mtime, or same SHA-256, and the same options).

Without --cluster the jobs run in worker processes on this machine. With --cluster
(auto, host:port or ray://host:port; needs deploy-studio[cluster]) they run on a Ray cluster,
spread over its nodes; -t TARGET@NODE times TARGET on one node (NODE: a custom resource,
a label such as zone=lab, a host name or a node id), --on NODE runs every job there.

exit status: 0 every model ok; 1 a model failed or its outputs differ (the report says
which), or the batch could not run; 2 usage error.

examples:
  dstudio batch validate zoo/ -o out/
  dstudio batch bench 'zoo/**/*.mindir' -o out/ -t onnxruntime:cpu -t mindspore:cpu
  dstudio batch bench zoo/ -o out/ --cluster auto -t onnxruntime:cpu@gpu_box
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="convert, validate and benchmark many models, locally or on a Ray cluster",
        description="One job per model in the folders, files or glob patterns given: convert it to the other "
        "format, check the converted file against the source, time it; a table and a combined report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("stage", choices=["convert", "validate", "bench"], help="what each job does")
    p.add_argument("inputs", nargs="+", metavar="DIR_OR_GLOB", help="model files, folders or glob patterns")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for results and reports")
    p.add_argument("-t", "--target", action="append", metavar="TARGET[@NODE]",
                   help="benchmark target (repeatable; default onnxruntime:cpu); @NODE places it on a cluster node")
    p.add_argument("--parity-target", default="auto", metavar="TARGET",
                   help="where source and converted file run for the parity check (default auto)")
    p.add_argument("--iterations", type=int, default=20, help="timed runs per target (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs before them (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated inputs (default 0)")
    p.add_argument("-j", "--workers", type=int, metavar="N",
                   help="local worker processes (default: the CPUs, at most 8; 0 runs in this process)")
    p.add_argument("--cluster", metavar="ADDRESS", help="run on a Ray cluster: auto, host:port or ray://host:port")
    p.add_argument("--on", metavar="NODE", help="with --cluster: run every job on this node")
    p.add_argument("--shared-fs", action="store_true",
                   help="with --cluster: the nodes see these paths (NFS...); models and converted files go by path, "
                   "not through Ray's object store (needed for ONNX models with external data)")
    p.add_argument("--force", action="store_true", help="rerun every model, even those with current results")
    p.add_argument("--retry-failed", action="store_true", help="rerun the models whose stored result failed")
    p.add_argument("--json", action="store_true", help="print the combined report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.batch import BatchOptions, run_batch
    from engine.cli import UsageError

    if args.iterations < 1 or args.warmup < 0:
        raise UsageError("--iterations must be at least 1 and --warmup at least 0")
    if args.workers is not None and args.workers < 0:
        raise UsageError("--workers must be 0 or more")
    if (args.on or args.shared_fs) and not args.cluster:
        raise UsageError("--on and --shared-fs are about a cluster's nodes; give --cluster too")
    if args.target and args.stage != "bench":
        raise UsageError(f"-t/--target chooses benchmark targets; 'batch {args.stage}' times nothing (use 'batch bench')")
    options = BatchOptions(stage=args.stage, targets=tuple(args.target or ["onnxruntime:cpu"]),
                           parity_target=args.parity_target, iterations=args.iterations, warmup=args.warmup,
                           seed=args.seed)

    def progress(record: dict, finished: int, total: int) -> None:
        from engine.batch.report import where

        line = f"[{finished}/{total}] {record['model']}: {record['status']}"
        line += f" ({record.get('seconds', 0.0):.1f} s, {where(record)})"
        if record.get("error"):
            line += f": {record['error']}"
        print(line, file=sys.stderr, flush=True)

    report = run_batch(args.inputs, args.output, options, cluster=args.cluster, on=args.on,
                       shared_fs=args.shared_fs, workers=args.workers,
                       force=args.force, retry_failed=args.retry_failed, on_result=progress)
    if args.json:
        print_json(report.to_dict())
    else:
        print(render(report))
    return 0 if report.passed else 1


def render(report) -> str:
    """The batch as a table, failures with their error line, counts and where the reports are."""
    from engine.batch.report import rows

    headers, body = rows(report.records)
    lines = [table(body, headers)]
    for r in report.records:
        if r.get("error"):
            lines.append(f"{r['model']}: {r['status']} at {r.get('failed_stage')}: {r['error']}")
    lines.append(f"{report.count('ok')} ok, {report.count('mismatch')} mismatch, {report.count('failed')} failed; "
                 f"ran {len(report.ran)}, skipped {len(report.skipped)} current; {report.wall_seconds:.1f} s "
                 f"({report.mode})")
    if report.files:
        lines.append("report: " + ", ".join(str(p) for p in report.files.values()))
    return "\n".join(lines)


def render_nodes(address: str, *, as_json: bool = False, available_only: bool = False) -> int:
    """``dstudio targets --cluster``: each node's own targets, grouped by node, with host, CPU and accelerators."""
    from engine.batch.cluster import list_cluster_targets

    nodes = list_cluster_targets(address)
    if available_only:
        for n in nodes:
            n["targets"] = [t for t in n["targets"] if t.get("available")]
    if as_json:
        print_json(nodes)
        return 0
    for n in nodes:
        print(f"node {n['name']}  host {n['host']} ({n['ip']})  id {n['node_id'][:12]}")
        print(f"  CPU {n['cpu_model']}, {n['cpus']:g} Ray CPUs; accelerators: {', '.join(n['accelerators']) or 'none'}")
        rows = [(f"{t['name']}@{n['name']}", "yes" if t.get("available") else "no", t.get("version", ""),
                 t.get("reason", "")) for t in n["targets"]]
        print("  " + table(rows, ["target", "available", "version", "reason"]).replace("\n", "\n  "))
    return 0
