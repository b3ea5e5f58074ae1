"""``dstudio bench MODEL``: timed inference on a target, sweeps, profiles, reports and run history."""

from __future__ import annotations

import argparse
import math

from engine.cli.output import ProgressBar, print_json, table

EPILOG = """\
examples:
  dstudio bench model.onnx
  dstudio bench model.mindir --target mindspore:cpu --env ONEDNN_MAX_CPU_ISA=AVX2
  dstudio bench model.onnx --threads 1,2,4 --batch 1,8 --report out/
  dstudio bench model.onnx --duration 10 --profile --top 15 --json
  dstudio compare last <run-id>

Every run is recorded in the run history ($DSTUDIO_DATA_DIR/runs or the user data folder);
`dstudio compare --list` lists them. Timings are wall clock per inference, outputs copied
back to host, inputs prepared beforehand; session creation and warm-up are reported apart.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="time inference of a model on a target",
        description="Time a model on a target: warm-up, then per-iteration latencies and their statistics, "
        "throughput, session-creation and first-inference time. Lists of --threads/--batch run a sweep.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model file (.onnx, .mindir)")
    p.add_argument("--target", "-t", default="onnxruntime:cpu", help="target (default onnxruntime:cpu; see dstudio targets)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--iterations", "-n", type=int, metavar="N", help="timed iterations (default 100)")
    g.add_argument("--duration", type=float, metavar="S", help="time for S seconds instead of a fixed count")
    p.add_argument("--warmup", type=int, default=10, metavar="N", help="untimed warm-up runs (default 10)")
    p.add_argument("--threads", metavar="N[,N...]", help="intra-op threads; a list runs a sweep")
    p.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32",
                   help="run at this precision: the model is converted in memory with parity checked "
                   "(fp16: sensitive ops stay fp32; int8: static, calibrated on seeded random inputs)")
    p.add_argument("--batch", metavar="N[,N...]", help="size of a dynamic batch dimension; a list runs a sweep")
    p.add_argument("--graph-opt", default="all", choices=["disable", "basic", "extended", "all"],
                   help="ONNX Runtime graph optimization level (default all)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="target environment knob, e.g. ONEDNN_MAX_CPU_ISA=AVX2 for MindSpore (repeatable)")
    p.add_argument("--inputs", metavar="FILE", help="inputs: .npy for a one-input model, .npz by input name")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                   help="shape of a generated input with dynamic dims, e.g. x=1x3x224x224 (repeatable); "
                   "dynamic dims not given run at 1, with a warning")
    p.add_argument("--seed", type=int, default=0, help="seed for generated inputs (default 0)")
    p.add_argument("--profile", action="store_true", help="per-node profile (ONNX Runtime profiler), after timing")
    p.add_argument("--top", type=int, default=10, metavar="N", help="rows of the profile to show (default 10)")
    p.add_argument("--report", metavar="DIR", help="write result.json, latencies.csv and report.html here")
    p.add_argument("--no-history", action="store_true", help="do not record this run in the run history")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def parse_shapes(items: list[str]) -> dict[str, tuple[int, ...]]:
    """``--shape x=1x3x224x224`` arguments by input name (a usage error when malformed or repeated)."""
    from engine.cli import UsageError
    from engine.errors import InputError
    from engine.inputs import parse_shape_arg

    shapes: dict[str, tuple[int, ...]] = {}
    for item in items:
        try:
            name, shape = parse_shape_arg(item)
        except InputError as exc:
            raise UsageError(f"--shape: {exc.message}") from exc
        if name in shapes:
            raise UsageError(f"--shape: input {name!r} given twice")
        shapes[name] = shape
    return shapes


def _int_list(text: str | None, flag: str) -> list[int | None]:
    from engine.cli import UsageError

    if text is None:
        return [None]
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{flag} takes integers separated by commas, not {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise UsageError(f"{flag} values must be at least 1, not {text!r}")
    return values


def _env(pairs: list[str]) -> dict[str, str]:
    from engine.cli import UsageError

    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--env takes KEY=VALUE, not {pair!r}")
        env[key.strip()] = value
    return env


def run(args: argparse.Namespace) -> int:
    from engine import formats
    from engine.backends import TargetOptions
    from engine.bench import history
    from engine.bench.sweep import sweep
    from engine.cli import UsageError
    from engine.inputs import load_feeds

    if args.iterations is not None and args.iterations < 1:
        raise UsageError(f"--iterations must be at least 1, not {args.iterations}")
    if args.duration is not None and not (args.duration > 0 and math.isfinite(args.duration)):
        raise UsageError(f"--duration must be a positive number of seconds, not {args.duration}")
    if args.warmup < 0:
        raise UsageError(f"--warmup must be 0 or more, not {args.warmup}")
    threads = _int_list(args.threads, "--threads")
    batches = _int_list(args.batch, "--batch")
    options = TargetOptions(graph_optimization=args.graph_opt, env=_env(args.env), profile=args.profile,
                            precision=args.precision)
    iterations = args.iterations if args.iterations is not None else (None if args.duration else 100)

    with ProgressBar() as bar:
        job = bar.job()
        model = formats.load(args.model, job=job.sub(0.0, 0.05))
        feeds = None
        shapes = parse_shapes(args.shape)
        if args.inputs:
            if batches != [None]:
                raise UsageError("--batch cannot be combined with --inputs (the file fixes the shapes)")
            if shapes:
                raise UsageError("--shape cannot be combined with --inputs (the file fixes the shapes)")
            feeds = load_feeds(args.inputs, model.io_specs()[0])
        result = sweep(model, args.target, threads=threads, batches=batches, options=options,
                       job=job.sub(0.05, 1.0), warmup=args.warmup, iterations=iterations,
                       duration_s=args.duration, feeds=feeds, seed=args.seed,
                       shapes=shapes or None)
    single = result.points[0].result if len(result.points) == 1 else None
    record = single if single is not None else result
    if not args.no_history:
        record.run_id = history.save_run(record.to_dict())
    paths = {}
    if args.report:
        from engine.bench.report import write_report

        paths = write_report(args.report, record)
    if args.json:
        data = record.to_dict()
        if paths:
            data["report_files"] = {k: str(v) for k, v in paths.items()}
        print_json(data)
        return 0
    _print_text(result, single, args.top)
    if record.run_id:
        print(f"\nrecorded as run {record.run_id} (dstudio compare {record.run_id} ...)")
    for role, path in paths.items():
        print(f"wrote {role}: {path}")
    return 0


def _print_text(result, single, top: int) -> None:
    first = result.points[0].result
    print(f"{first.model} on {first.target}: {first.inputs.get('source')} inputs "
          + ", ".join(f"{k} {first.inputs['dtypes'][k]}{v}" for k, v in first.inputs.get("shapes", {}).items()))
    if first.options.get("env"):
        print("env: " + " ".join(f"{k}={v}" for k, v in sorted(first.options["env"].items())))
    if single is not None:
        s = single.stats
        rows = [
            ("iterations", single.iterations, ""), ("median", f"{s.median_ms:.4g}", "ms"),
            ("mean", f"{s.mean_ms:.4g}", "ms"), ("min", f"{s.min_ms:.4g}", "ms"), ("p90", f"{s.p90_ms:.4g}", "ms"),
            ("p95", f"{s.p95_ms:.4g}", "ms"), ("p99", f"{s.p99_ms:.4g}", "ms"), ("max", f"{s.max_ms:.4g}", "ms"),
            ("std", f"{s.std_ms:.4g}", "ms"), ("CV", f"{s.cv:.1%}", ""),
            ("throughput", f"{single.throughput_per_s:.4g}", "inferences/s"),
            ("session create", f"{single.session_create_ms:.4g}", "ms"),
            ("first inference", f"{single.first_inference_ms:.4g}", "ms"),
        ]
        if single.gmacs_per_s is not None:
            rows.append(("compute", f"{single.gmacs_per_s:.3g}", f"GMAC/s ({single.macs / 1e6:.4g} MMAC per run)"))
        print(table(rows, ["", "value", "unit"]))
    else:
        rows = [(p.threads or "default", p.batch, p.result.iterations, f"{p.result.stats.median_ms:.4g}",
                 f"{p.result.stats.p90_ms:.4g}", f"{p.result.stats.cv:.1%}", f"{p.result.throughput_per_s:.4g}")
                for p in result.points]
        print(table(rows, ["threads", "batch", "runs", "median ms", "p90 ms", "CV", "throughput/s"]))
    print(f"timed: {first.what_is_timed}")
    if first.session_info.get("precision"):
        print(f"precision: {first.session_info['precision']}")
    for w in sorted({w for p in result.points for w in p.result.warnings}):
        print(f"warning: {w}")
    for p in result.points:
        prof = p.result.profile
        if prof is None:
            continue
        n = prof.iterations
        print(f"\nprofile ({n} runs, threads {p.threads or 'default'}, batch {p.batch}): time by op type")
        print(table([(o.name, o.calls // max(n, 1), f"{o.total_us / n:.1f}", f"{o.percent:.1f}%") for o in prof.top(top)],
                    ["op type", "nodes", "µs/run", "share"]))
        print("slowest nodes")
        print(table([(o.name, o.op_type, f"{o.total_us / n:.1f}", f"{o.percent:.1f}%") for o in prof.top(top, by="node")],
                    ["node", "op type", "µs/run", "share"]))
