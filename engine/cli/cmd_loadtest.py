"""``dstudio loadtest URL --model NAME``: closed-loop load test of a V2 endpoint, per concurrency level."""

from __future__ import annotations

import argparse
import re

from engine.cli.output import ProgressBar, print_json, table

EPILOG = """\
examples:
  dstudio serve model.mindir --port 8000 &
  dstudio loadtest http://127.0.0.1:8000 --model model --concurrency 1,4,16 --duration 10s
  dstudio loadtest http://127.0.0.1:8000 --model model --json-tensors --report out/

Each level runs N clients in a closed loop (the next request leaves when the answer arrives)
for a warm-up, then a timed window. Throughput counts requests completed inside the window;
latency is send-to-answer-read wall clock. --report writes result.json, latencies.csv and
report.html (with the latency-vs-throughput curve), the same report as dstudio bench.
"""


def duration(text: str) -> float:
    """``10``, ``10s``, ``500ms``, ``1m`` -> seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 10s, 500ms, 1m)")
    value = float(m.group(1)) * {"ms": 1e-3, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]
    if value <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive, not {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "loadtest",
        help="closed-loop load test of a V2 inference endpoint",
        description="Send V2 infer requests to a server at several concurrency levels; report throughput and "
        "latency percentiles per level.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("url", help="server URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--model", "-m", required=True, help="model name on the server")
    p.add_argument("--concurrency", "-c", default="1,4,16", metavar="N[,N...]", help="levels (default 1,4,16)")
    p.add_argument("--duration", "-d", type=duration, default=10.0, metavar="T",
                   help="timed window per level (default 10s)")
    p.add_argument("--warmup", type=duration, default=1.0, metavar="T", help="untimed warm-up per level (default 1s)")
    p.add_argument("--json-tensors", action="store_true",
                   help="send tensors as JSON lists (default: raw bytes, Triton's binary extension)")
    p.add_argument("--batch", type=int, metavar="N", help="size of a dynamic batch dimension in the inputs")
    p.add_argument("--inputs", metavar="FILE", help="inputs to send: .npy (one input) or .npz by name")
    p.add_argument("--seed", type=int, default=0, help="seed for generated inputs (default 0)")
    p.add_argument("--report", metavar="DIR", help="write result.json, latencies.csv and report.html here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.cli import UsageError
    from engine.cli.cmd_bench import _int_list
    from engine.serving.loadtest import loadtest

    levels = _int_list(args.concurrency, "--concurrency")
    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch must be at least 1, not {args.batch}")
    feeds = None
    if args.inputs:
        from engine.inputs import TensorSpec, load_feeds
        from engine.serving import v2
        from engine.serving.client import V2Client

        with V2Client(args.url) as client:
            meta = client.metadata(args.model)
        specs = [TensorSpec(t["name"], v2.dtype_of(t["datatype"]), tuple(d if d >= 0 else None for d in t["shape"]))
                 for t in meta.get("inputs", [])]
        feeds = load_feeds(args.inputs, specs)
    with ProgressBar(enabled=None if not args.json else False) as bar:
        result = loadtest(args.url, args.model, concurrency=levels, duration_s=args.duration,
                          warmup_s=args.warmup, binary=not args.json_tensors, batch=args.batch, seed=args.seed,
                          feeds=feeds, job=bar.job())
    paths = {}
    if args.report:
        from engine.bench.report import write_report

        paths = write_report(args.report, result)
    if args.json:
        data = result.to_dict()
        data["report"] = {k: str(v) for k, v in paths.items()}
        print_json(data)
        return 0
    rows = []
    for p in result.points:
        s = p.result.stats
        rows.append([p.concurrency, p.result.iterations, p.errors, f"{p.result.throughput_per_s:.1f}",
                     f"{s.median_ms:.3f}", f"{s.p90_ms:.3f}", f"{s.p99_ms:.3f}", f"{s.max_ms:.3f}"])
    print(f"{args.model} at {result.url} ({result.protocol} tensors, {args.duration:g} s per level)")
    print(table(rows, ["concurrency", "requests", "errors", "throughput/s", "p50 ms", "p90 ms", "p99 ms", "max ms"]))
    for p in result.points:
        if p.errors:
            print(f"warning: concurrency {p.concurrency}: {p.errors} failed requests; first: {p.first_error}")
    for role, path in paths.items():
        print(f"wrote {path} ({role})")
    return 0
