"""MindSpore Lite target vs ONNX Runtime on the MindSpore fixtures: conversion time, session start, latency.

Usage::

    nice .venv/bin/python benchmarks/mslite.py [--iterations 300] [--threads 1]

Prints, per model: Lite's ONNX -> .ms conversion (new, then cached), session start and the
median / p90 latency on mindspore-lite:cpu and onnxruntime:cpu with the same thread count,
and their ratio. Skips (exit 0) when the Lite environment is absent.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    from engine import formats
    from engine.backends import TargetOptions, mslite_env, open_session

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    reason = mslite_env.unavailable_reason()
    if reason:
        print(f"skipped: mindspore-lite:cpu unavailable: {reason}")
        return 0
    os.environ["DSTUDIO_MSLITE_CACHE"] = tempfile.mkdtemp(prefix="dstudio-mslite-bench-")
    from tests_helpers import LOCAL_FIXTURES

    print(f"{'model':<20} {'convert new/cached s':>21} {'target':<20} {'start ms':>9} {'median ms':>10} {'p90 ms':>8}")
    for name in ("lenet5", "mobilenetv2_small"):
        folder = LOCAL_FIXTURES / name
        if not (folder / "model.mindir").exists():
            print(f"{name}: fixture absent, skipped")
            continue
        model = formats.load(folder / "model.mindir")
        onnx_bytes = model.require_graph().SerializeToString()
        t0 = time.perf_counter()
        mslite_env.convert_onnx(onnx_bytes)
        t1 = time.perf_counter()
        mslite_env.convert_onnx(onnx_bytes)
        t2 = time.perf_counter()
        import numpy as np

        feeds = {model.require_graph().graph.input[0].name: np.load(folder / "input_0.npy")}
        medians = {}
        for target in ("mindspore-lite:cpu", "onnxruntime:cpu"):
            start = time.perf_counter()
            with open_session(model, target, TargetOptions(threads=args.threads)) as session:
                started = (time.perf_counter() - start) * 1e3
                list(session.timed(feeds, iterations=20))
                lat = sorted(v / 1e6 for v in session.timed(feeds, iterations=args.iterations))
            medians[target] = statistics.median(lat)
            conv = f"{t1 - t0:.2f}/{t2 - t1:.3f}" if target.startswith("mindspore-lite") else ""
            print(f"{name:<20} {conv:>21} {target:<20} {started:>9.0f} {medians[target]:>10.4f} "
                  f"{lat[int(0.9 * len(lat))]:>8.4f}")
        print(f"{name:<20} lite/ort median ratio {medians['mindspore-lite:cpu'] / medians['onnxruntime:cpu']:.2f} "
              f"({args.threads} thread{'s' if args.threads > 1 else ''}, {args.iterations} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
