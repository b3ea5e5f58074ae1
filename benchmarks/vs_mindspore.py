"""MindSpore (MindIR, native) vs ONNX Runtime on every fixture: median latency, ratio, and output parity.

Usage: .venv/bin/python benchmarks/vs_mindspore.py [--iterations 30] [--names lenet5,resnet18]

For each fixture: ``mindspore:cpu`` on model.mindir with the default environment and with
ONEDNN_MAX_CPU_ISA=AVX2 (each in its own worker process), and ``onnxruntime:cpu`` on our
conversion of model.mindir (or, while the MindIR reader is missing, MindSpore's own
model.onnx export, labelled so). Prints; never asserts on time. Skips without MindSpore.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BASES = [ROOT / "tests/data/mindspore", ROOT.parent / "shared/fixtures/mindspore"]
NAMES = ("lenet5", "mlp_bn_dropout", "tiny_transformer", "mobilenetv2_small", "resnet18")


def _folder(name: str) -> Path | None:
    return next((b / name for b in BASES if (b / name / "model.mindir").exists()), None)


def _models(folder: Path):
    """(MindIR model for mindspore, ONNX model for onnxruntime, label of the ONNX one)."""
    import onnx

    from engine import formats
    from engine.model import Model

    try:
        converted = formats.load(folder / "model.mindir")
        if converted.onnx is not None and converted.source_format == "mindir":
            return converted, converted, "our MindIR->ONNX conversion"
    except Exception as exc:  # reader not landed or cannot read this file yet
        print(f"  (MindIR reader: {str(exc).splitlines()[0][:120]})")
    graph = onnx.load(folder / "model.onnx")
    ms_model = Model(onnx=graph, source_path=folder / "model.mindir", source_format="mindir")
    return ms_model, Model(onnx=graph, source_path=folder / "model.onnx"), "MindSpore's own model.onnx export"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--names", default=",".join(NAMES))
    args = ap.parse_args(argv)
    if importlib.util.find_spec("mindspore") is None:
        print("skipped: MindSpore is not installed")
        return 0
    from engine.backends import TargetOptions, open_session
    from engine.bench import benchmark

    print("what: median of per-call wall clock (outputs copied to numpy), fixture input; MindSpore timed in its "
          f"worker process; {args.warmup} warm-up + up to {args.iterations} timed runs")
    rows = []
    for name in args.names.split(","):
        folder = _folder(name)
        if folder is None:
            print(f"{name}: fixture not found, skipped")
            continue
        print(f"{name}:")
        ms_model, ort_model, label = _models(folder)
        x = np.load(folder / "input_0.npy")
        feed_name = ort_model.onnx.graph.input[0].name
        ort_r = benchmark(ort_model, "onnxruntime:cpu", feeds={feed_name: x}, iterations=args.iterations, warmup=args.warmup)
        with open_session(ort_model, "onnxruntime:cpu") as s:
            ort_out = list(s.infer({feed_name: x}).values())[0]
        expected = np.load(folder / "expected_0.npy")
        line = {"name": name, "ort_ms": ort_r.stats.median_ms, "onnx": label}
        for tag, env in (("default", {}), ("AVX2", {"ONEDNN_MAX_CPU_ISA": "AVX2"})):
            opts = TargetOptions(env=env)
            # resnet18 takes ~1 s a run on the default oneDNN path here: fewer runs there
            iters = args.iterations if ort_r.stats.median_ms < 3 or tag == "AVX2" else max(5, args.iterations // 3)
            ms_in = {ms_model.onnx.graph.input[0].name: x}
            r = benchmark(ms_model, "mindspore:cpu", options=opts, feeds=ms_in, iterations=iters, warmup=args.warmup)
            with open_session(ms_model, "mindspore:cpu", opts) as s:
                ms_out = list(s.infer(ms_in).values())[0]
            line[f"ms_{tag}_ms"] = r.stats.median_ms
            line[f"ms_{tag}_diff"] = float(np.abs(ms_out - ort_out).max())
            line[f"ms_{tag}_vs_expected"] = float(np.abs(ms_out - expected).max())
            line[f"ms_{tag}_warn"] = [w for w in r.warnings if "slow" in w]
        line["ort_vs_expected"] = float(np.abs(ort_out - expected).max())
        rows.append(line)
        print(f"  onnxruntime:cpu ({label}): median {line['ort_ms']:.3f} ms; max|ORT - MindSpore expected| "
              f"{line['ort_vs_expected']:.3g}")
        for tag in ("default", "AVX2"):
            ms = line[f"ms_{tag}_ms"]
            print(f"  mindspore:cpu env={tag}: median {ms:.3f} ms; ratio MindSpore/ORT {ms / line['ort_ms']:.2f}x; "
                  f"max|MindSpore - ORT| {line[f'ms_{tag}_diff']:.3g}; max|MindSpore - expected| "
                  f"{line[f'ms_{tag}_vs_expected']:.3g}")
            for w in line[f"ms_{tag}_warn"]:
                print(f"    warning: {w}")
    if rows:
        print("\nsummary (median ms)")
        print(f"{'fixture':20} {'ORT':>9} {'MS default':>11} {'MS AVX2':>9} {'MS/ORT':>7} {'MS-AVX2/ORT':>12} {'max|diff|':>10}")
        for r in rows:
            print(f"{r['name']:20} {r['ort_ms']:9.3f} {r['ms_default_ms']:11.3f} {r['ms_AVX2_ms']:9.3f} "
                  f"{r['ms_default_ms'] / r['ort_ms']:7.2f} {r['ms_AVX2_ms'] / r['ort_ms']:12.2f} "
                  f"{max(r['ms_default_diff'], r['ms_AVX2_diff']):10.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
