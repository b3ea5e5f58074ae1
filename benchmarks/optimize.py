"""Optimisation benchmark: every precision variant of the MindSpore fixtures on ONNX Runtime CPU.

For resnet18 (when ../shared has it), mobilenetv2_small and tiny_transformer, builds the
variants with ``engine.optimize`` (each pass parity-gated), then times them interleaved
on onnxruntime:cpu and prints latency, size and parity, beside MindSpore's own ONNX export
on ONNX Runtime ("plain") and MindSpore's own CPU inference (from the fixture's meta.json).
Checks the targets (int8 weight-only <= 30% size with cosine >= 0.99; int8 static resnet18
<= 0.5x fp32 latency with cosine >= 0.99) and says by how much each is met or missed.
Timings on a shared machine are noisy: this prints what it measures and asserts nothing.

    .venv/bin/python benchmarks/optimize.py [--models resnet18,mobilenetv2_small] [--iterations 60]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_DIRS = [ROOT / "tests" / "data" / "mindspore", ROOT.parent / "shared" / "fixtures" / "mindspore"]
MODELS = ("resnet18", "mobilenetv2_small", "tiny_transformer")

#: The int8-static chain without its int8-only rewrites (stem space-to-depth, pooled
#: head): the before of those rewrites, kept to show what they buy.
PLAIN_STATIC = ["constant_folding", "dead_code", "shape_simplify", "fuse_batchnorm", "shape_simplify", "quantize_static"]

#: variant -> (preset or explicit pass list, pass options)
VARIANTS = {
    "fp32 (clean+fuse)": ("fp32", {}),
    "fp16": ("fp16", {}),
    "int8-weight": ("int8-weight", {}),
    "int8-dynamic": ("int8-dynamic", {}),
    "int8-static qdq u8s8": ("int8-static", {}),
    "int8-static qdq s8s8": ("int8-static", {"quantize_static": {"activation_type": "int8"}}),
    "int8-static qoperator": ("int8-static", {"quantize_static": {"quant_format": "qoperator"}}),
    "int8-static percentile": ("int8-static", {"quantize_static": {"method": "percentile"}}),
    "int8-static percentile, no stem/head rewrite": (PLAIN_STATIC, {"quantize_static": {"method": "percentile"}}),
}


def find(name: str) -> Path | None:
    for base in FIXTURE_DIRS:
        if (base / name / "model.onnx").exists():
            return base / name
    return None


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def run_model(name: str, folder: Path, iterations: int, rounds: int) -> list[dict]:
    from engine import formats
    from engine.bench import benchmark
    from engine.optimize import optimize
    from engine.optimize.gate import run

    meta = json.loads((folder / "meta.json").read_text())
    plain = formats.load(folder / "model.onnx")
    input_name = meta["inputs"][0]["onnx_name"]
    x = np.load(folder / meta["inputs"][0]["file"])
    expected = np.load(folder / meta["outputs"][0]["file"])
    feeds = {input_name: x}
    ref = next(iter(run(plain, "onnxruntime:cpu", feeds).values()))
    calib = [{input_name: np.random.default_rng(100 + i).standard_normal(x.shape).astype(x.dtype)} for i in range(16)]

    rows = [{"variant": "MindSpore export (plain)", "model": plain, "size": plain.onnx.ByteSize(), "gate": "-",
             "build_s": 0.0}]
    for label, (preset, options) in VARIANTS.items():
        t0 = time.perf_counter()
        try:
            chain = {"passes": preset} if isinstance(preset, list) else {"preset": preset}
            res = optimize(plain, **chain, pass_options=options, calibration=calib, measure_latency=False)
        except Exception as exc:
            rows.append({"variant": label, "error": str(exc).splitlines()[0][:80]})
            continue
        rejected = [s for s in res.steps if not s.kept]
        rows.append({"variant": label, "model": res.model, "size": res.final_size, "build_s": time.perf_counter() - t0,
                     "gate": "ok" if not rejected else "dropped " + ",".join(s.name for s in rejected)})
    timed = [r for r in rows if "model" in r]
    samples: dict[str, list[int]] = {r["variant"]: [] for r in timed}
    per_round = max(iterations // rounds, 1)
    for _ in range(rounds):
        for r in timed:
            res = benchmark(r["model"], "onnxruntime:cpu", warmup=5, iterations=per_round, feeds=feeds)
            samples[r["variant"]] += list(res.latencies_ns)
    for r in timed:
        r["median_ms"] = float(np.median(samples[r["variant"]])) / 1e6
        out = next(iter(run(r["model"], "onnxruntime:cpu", feeds).values()))
        r["cos_fp32"] = cosine(ref, out)
        r["cos_ms"] = cosine(expected, out)
        r["max_abs"] = float(np.abs(out.astype(np.float64) - ref).max())
    return rows, meta


def report(name: str, rows: list[dict], meta: dict) -> list[str]:
    from engine.cli.output import table

    base = rows[0]
    fp32 = next(r for r in rows if r["variant"].startswith("fp32"))
    timing = meta.get("timing", {})
    ms_cpu = timing.get("mindspore_cpu", {}).get("median_ms")
    ms_avx2 = timing.get("mindspore_cpu_onednn_avx2", {}).get("median_ms")
    table_rows = []
    for r in rows:
        if "error" in r:
            table_rows.append((r["variant"], "-", "-", "-", "-", "-", "-", r["error"]))
            continue
        table_rows.append((r["variant"], f"{r['median_ms']:.3f}", f"{r['median_ms'] / fp32['median_ms']:.2f}x",
                           f"{r['size'] / 1e6:.2f} MB", f"{r['size'] / base['size']:.0%}", f"{r['cos_fp32']:.5f}",
                           f"{r['max_abs']:.2g}", r["gate"]))
    table_rows.append(("MindSpore CPU (meta.json)", f"{ms_cpu:.1f}" if ms_cpu else "-",
                       f"{ms_cpu / fp32['median_ms']:.0f}x" if ms_cpu else "-", "-", "-", "-", "-", "not re-measured"))
    if ms_avx2:
        table_rows.append(("MindSpore CPU oneDNN AVX2", f"{ms_avx2:.2f}", f"{ms_avx2 / fp32['median_ms']:.1f}x",
                           "-", "-", "-", "-", "from meta.json"))
    print(f"\n== {name} ({meta['inputs'][0]['shape']}) on onnxruntime:cpu ==")
    print(table(table_rows, ["variant", "median ms", "vs fp32", "size", "vs export", "cos vs fp32", "max_abs", "gate"]))
    lines = []
    w = next((r for r in rows if r["variant"] == "int8-weight" and "error" not in r), None)
    if w:
        ratio = w["size"] / base["size"]
        ok = ratio <= 0.30 and w["cos_fp32"] >= 0.99
        lines.append(f"{name}: int8-weight size {ratio:.1%} of fp32 (target <= 30%), cosine {w['cos_fp32']:.5f} "
                     f"(>= 0.99): {'MET' if ok else 'MISSED by ' + f'{(ratio - 0.30) * 100:.1f} points'}")
    if name == "resnet18":
        statics = [r for r in rows if r["variant"].startswith("int8-static") and "error" not in r
                   and r["cos_fp32"] >= 0.99 and "no stem" not in r["variant"]]
        if statics:
            best = min(statics, key=lambda r: r["median_ms"])
            ratio = best["median_ms"] / fp32["median_ms"]
            verdict = "MET" if ratio <= 0.5 else f"MISSED by {ratio - 0.5:.2f}x ({ratio:.2f}x of fp32 instead of 0.50x)"
            lines.append(f"resnet18: best int8 static = {best['variant']}: {best['median_ms']:.3f} ms vs fp32 "
                         f"{fp32['median_ms']:.3f} ms = {ratio:.2f}x (target <= 0.5x), cosine {best['cos_fp32']:.5f}: {verdict}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--iterations", type=int, default=60, help="timed runs per variant (split over rounds)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the variants")
    args = ap.parse_args(argv)
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}, CPU, default session options; interleaved timing, "
          f"{args.iterations} runs per variant in {args.rounds} rounds; cosine on the fixture input vs the export's output")
    verdicts = []
    for name in args.models.split(","):
        folder = find(name)
        if folder is None:
            print(f"\n== {name}: fixture not found, skipped ==")
            continue
        rows, meta = run_model(name, folder, args.iterations, args.rounds)
        verdicts += report(name, rows, meta)
    print("\ntargets:")
    for line in verdicts:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
