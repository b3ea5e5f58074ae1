"""Serving overhead: `dstudio serve` throughput under a closed-loop load vs in-process `bench` throughput.

Usage: .venv/bin/python benchmarks/serve.py [--model M] [--rounds 3] [--duration 5] [--concurrency 1,4,16]
       [--workers 1] [--json-tensors] [--json OUT.json]

Default model: resnet18 from ../shared (skips, exit 0, when absent). Each round times the
model in process (engine.bench.benchmark, onnxruntime:cpu: once with default options, the
figure `dstudio bench` prints, and once with the server's settings, ONNX Runtime's spinning
off unless --spin-wait), then load-tests the server (a `dstudio serve` subprocess on a free
loopback port, onnxruntime:cpu, its default options) at every concurrency level. Many short
rounds interleave the two, so each ratio compares measurements seconds apart and drifting
load from other programs hits both; prints each round, the load average, and the median
ratio serving / in-process per level (target: at least 0.70 at concurrency 4 on 2 cores).
The load generator runs on the same cores as the server, as a client on the same host would.
Never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT.parent / "shared/fixtures/mindspore/resnet18/model.mindir"
TARGET_RATIO = 0.70


def start_server(model: Path, name: str, workers: int, threads: int | None, spin: bool) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "engine.cli", "serve", str(model), "--port", "0", "--name", name,
           "--workers", str(workers)] + (["--threads", str(threads)] if threads else []) + (["--spin-wait"] if spin else [])
    # stderr to a file: an undrained pipe would stall a chatty server once it fills
    err = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if sel.select(timeout=0.2):
            line = proc.stdout.readline()
            if line.startswith("serving "):
                return proc, line.split(" at ", 1)[1].split("/v2/", 1)[0]
    proc.kill()
    proc.communicate()
    err.seek(0)
    raise SystemExit(f"server did not start: {err.read()[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    from engine import formats
    from engine.backends import TargetOptions
    from engine.bench import benchmark
    from engine.serving.loadtest import loadtest

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per measurement (default 2)")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--workers", type=int, default=1, help="server model instances (default 1)")
    ap.add_argument("--threads", type=int, help="intra-op threads, in process and in the server (default: ORT's)")
    ap.add_argument("--json-tensors", action="store_true", help="JSON tensors instead of the binary extension")
    ap.add_argument("--spin-wait", action="store_true", help="the server lets ONNX Runtime spin (dstudio serve's "
                    "default is off); in process is timed both ways in every round either way")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    if not args.model.exists():
        print(f"skip: {args.model} not found (resnet18 lives in ../shared/fixtures/mindspore)")
        return 0
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        print("skip: the serve extra is not installed (pip install -e '.[serve]')")
        return 0
    levels = [int(c) for c in args.concurrency.split(",")]
    model = formats.load(args.model)
    name = "bench_model"
    print(f"what: {args.model.parent.name}/{args.model.name} on onnxruntime:cpu; in-process engine.bench.benchmark "
          f"vs dstudio serve ({args.workers} instance(s), {'JSON' if args.json_tensors else 'binary'} tensors) under "
          f"a closed-loop load test at concurrency {levels}; {args.duration:g} s each, {args.rounds} interleaved rounds; "
          f"{os.cpu_count()} CPUs")
    if hasattr(os, "getloadavg"):
        print(f"load average before: {os.getloadavg()[0]:.1f}")
    proc, url = start_server(args.model, name, args.workers, args.threads, args.spin_wait)
    rounds = []
    try:
        for r in range(args.rounds):
            inproc = benchmark(model, "onnxruntime:cpu", options=TargetOptions(threads=args.threads),
                               iterations=None, duration_s=args.duration, warmup=10)
            # the same settings as the server's sessions: the like-for-like peer
            alike = benchmark(model, "onnxruntime:cpu", iterations=None, duration_s=args.duration, warmup=10,
                              options=TargetOptions(threads=args.threads, spin_wait=args.spin_wait))
            result = loadtest(url, name, concurrency=levels, duration_s=args.duration, warmup_s=0.3,
                              binary=not args.json_tensors)
            row = {"in_process_per_s": inproc.throughput_per_s, "in_process_median_ms": inproc.stats.median_ms,
                   "in_process_alike_per_s": alike.throughput_per_s,
                   "levels": {p.concurrency: {"per_s": p.result.throughput_per_s, "p50_ms": p.result.stats.median_ms,
                                              "p90_ms": p.result.stats.p90_ms, "p99_ms": p.result.stats.p99_ms,
                                              "errors": p.errors} for p in result.points}}
            rounds.append(row)
            cells = "  ".join(f"c{c} {v['per_s']:.1f}/s ({v['per_s'] / row['in_process_per_s']:.2f}x, "
                              f"p50 {v['p50_ms']:.2f} ms, p99 {v['p99_ms']:.2f} ms)" for c, v in row["levels"].items())
            print(f"round {r + 1}: in process {row['in_process_per_s']:.1f}/s (median {row['in_process_median_ms']:.2f} ms), "
                  f"with the server's settings {row['in_process_alike_per_s']:.1f}/s  |  {cells}", flush=True)
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    if hasattr(os, "getloadavg"):
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    summary = {}
    spin = "spin on" if args.spin_wait else "spin off"
    print(f"\n{'concurrency':>11}  {'serving/s':>9}  {'bench/s':>8}  {'ratio (IQR)':>20}  "
          f"{'bench ' + spin + '/s':>17}  {'ratio (IQR)':>20}")

    def spread(ratios: list[float]) -> str:
        q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else (ratios[0], 0, ratios[0])
        return f"{statistics.median(ratios):.2f} ({q1:.2f}-{q3:.2f})"

    for c in levels:
        ratios = [row["levels"][c]["per_s"] / row["in_process_per_s"] for row in rounds]
        alike = [row["levels"][c]["per_s"] / row["in_process_alike_per_s"] for row in rounds]
        served = statistics.median(row["levels"][c]["per_s"] for row in rounds)
        inproc = statistics.median(row["in_process_per_s"] for row in rounds)
        inproc_alike = statistics.median(row["in_process_alike_per_s"] for row in rounds)
        summary[c] = {"ratio_median": statistics.median(ratios), "ratios": ratios, "serving_per_s": served,
                      "in_process_per_s": inproc, "ratio_alike_median": statistics.median(alike),
                      "ratios_alike": alike, "in_process_alike_per_s": inproc_alike}
        print(f"{c:>11}  {served:>9.1f}  {inproc:>8.1f}  {spread(ratios):>20}  {inproc_alike:>17.1f}  {spread(alike):>20}")
    if 4 in summary:
        for key, what in (("ratio_median", "dstudio bench's default settings"),
                          ("ratio_alike_median", f"the server's settings ({spin})")):
            ratio = summary[4][key]
            print(f"target: concurrency 4 at >= {TARGET_RATIO:.0%} of in-process throughput with {what}: "
                  f"{ratio:.0%} -> {'met' if ratio >= TARGET_RATIO else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
