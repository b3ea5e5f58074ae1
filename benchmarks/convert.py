"""MindIR -> ONNX conversion: wall time and peak memory for resnet18, beside onnx.load of the result.

Usage: python benchmarks/convert.py [MODEL.mindir] [--repeat N]

Each measurement runs in a fresh child process so peak RSS (ru_maxrss) belongs to that one
step: imports are done first and their footprint is subtracted. Targets (issue #2): under
0.5 s, and peak memory under 2x the file size. Prints measured figures only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent / "shared" / "fixtures" / "mindspore" / "resnet18" / "model.mindir"
FALLBACK = ROOT / "tests" / "data" / "mindspore" / "mobilenetv2_small" / "model.mindir"

CHILD = r"""
import json, resource, sys, time, tempfile, os
import onnx
from engine import formats
from engine.formats.mindir import lower, export_ops  # import everything before the baseline
src, step = sys.argv[1], sys.argv[2]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = os.path.join(tempfile.mkdtemp(), "model.onnx")
if step == "onnx_load":
    formats.load(src).onnx and formats.save(formats.load(src), out)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter(); onnx.load(out); dt = time.perf_counter() - t
else:
    t = time.perf_counter()
    model = formats.load(src)
    loaded = time.perf_counter()
    formats.save(model, out)
    dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": dt, "peak_kib": peak - base}))
"""


def run_child(src: Path, step: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(src), step], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    src = args.model or (DEFAULT if DEFAULT.exists() else FALLBACK)
    if not src.exists():
        print(f"skipped: {src} not found")
        return 0
    size = src.stat().st_size
    convert = [run_child(src, "convert") for _ in range(args.repeat)]
    load = [run_child(src, "onnx_load") for _ in range(args.repeat)]
    t_convert = statistics.median(r["seconds"] for r in convert)
    peak = max(r["peak_kib"] for r in convert) * 1024
    t_load = statistics.median(r["seconds"] for r in load)
    print(f"model: {src} ({size / 2**20:.1f} MiB)")
    print(f"MindIR -> ONNX (read, lower, write): median {t_convert * 1000:.0f} ms over {args.repeat} runs "
          f"(target < 500 ms: {'met' if t_convert < 0.5 else f'missed by {(t_convert - 0.5) * 1000:.0f} ms'})")
    print(f"peak memory above imports: {peak / 2**20:.1f} MiB = {peak / size:.2f}x the file "
          f"(target < 2x: {'met' if peak < 2 * size else 'missed'})")
    print(f"onnx.load of the result: median {t_load * 1000:.0f} ms; conversion / onnx.load = {t_convert / t_load:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
