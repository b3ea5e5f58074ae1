"""Does engine.bench measure what a bare ONNX Runtime loop measures? Interleaved rounds, one process.

Usage: .venv/bin/python benchmarks/bench_fidelity.py [--rounds 5] [--iterations 100] [MODEL.onnx ...]

Default models: mobilenetv2_small (tests/data), and resnet18 when ../shared has it. Prints
both medians and their ratio (target: within 3%); never asserts on time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = [ROOT / "tests/data/mindspore/mobilenetv2_small/model.onnx",
              ROOT.parent / "shared/fixtures/mindspore/resnet18/model.onnx"]


def bare_loop(path: Path, feeds: dict, iterations: int, warmup: int) -> list[int]:
    """The peer: a plain InferenceSession timed with perf_counter_ns around run()."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        sess.run(None, feeds)
    out = []
    for _ in range(iterations):
        t = time.perf_counter_ns()
        sess.run(None, feeds)
        out.append(time.perf_counter_ns() - t)
    return out


def main(argv: list[str] | None = None) -> int:
    from engine import formats
    from engine.bench import benchmark
    from engine.inputs import input_specs, make_feeds

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args(argv)
    models = args.models or [p for p in CANDIDATES if p.exists()]
    print("what: median latency of engine.bench.benchmark (onnxruntime:cpu, default options) vs a bare "
          "onnxruntime InferenceSession loop, same inputs, same process, interleaved rounds")
    for path in models:
        model = formats.load(path)
        feeds = make_feeds(input_specs(model.onnx), seed=0)
        ours: list[int] = []
        bare: list[int] = []
        for r in range(args.rounds):
            order = ("ours", "bare") if r % 2 == 0 else ("bare", "ours")  # alternate who goes first
            for who in order:
                if who == "ours":
                    ours += benchmark(model, iterations=args.iterations, warmup=args.warmup, feeds=feeds).latencies_ns
                else:
                    bare += bare_loop(path, feeds, args.iterations, args.warmup)
        m_ours, m_bare = np.median(ours) / 1e6, np.median(bare) / 1e6
        ratio = m_ours / m_bare
        print(f"{path.parent.name}/{path.name}: {args.rounds} rounds x {args.iterations} iterations each side")
        print(f"  engine.bench median {m_ours:.4f} ms   bare ORT median {m_bare:.4f} ms   ratio {ratio:.4f} "
              f"({'within' if abs(ratio - 1) <= 0.03 else 'OUTSIDE'} 3%)")
        print(f"  p90: engine {np.percentile(ours, 90) / 1e6:.4f} ms, bare {np.percentile(bare, 90) / 1e6:.4f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
