"""Real PyTorch exports -> MindIR: how many convert, run in MindSpore and match torch's own output.

Usage: python benchmarks/torch_corpus.py [CORPUS] [--models NAME ...] [--timeout S] [--json FILE]

CORPUS (default corpora/torch) is what ``scripts/make_torch_corpus.py`` writes (or
``scripts/make_zoo_corpus.py --onnx corpora/zoo_onnx``: MindSpore's own ONNX exports of its zoo): one folder
per model with model.onnx, input_*.npy, expected_*.npy (torch's output) and meta.json.
For each model: ONNX Runtime on the original (a sanity check of the export), conversion to
MindIR with the engine (timed), then MindSpore 2.10 running the MindIR in a child process
with a timeout, compared with torch's output.

Match bound, per float output: ``allclose(rtol=1e-3, atol=1e-4)``, or, for outputs whose
magnitudes are large (random-weight networks give logits in the hundreds), a max abs
error within 1e-4 of the output's largest magnitude. Integer outputs must be equal.
A refused model lists every blocking op (with its node count, first node and reason),
not only the first: the conversion is replayed node by node, a failing node's outputs
stand in as placeholders so later nodes are still tried. Ops without a rule are listed
wherever they are; other refusals downstream of a blocked node (a shape that became
data-dependent there, an operand that is no longer constant) are left out as echoes. Skips cleanly (exit 0) without the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT = ROOT / "corpora" / "torch"
RTOL, ATOL, REL = 1e-3, 1e-4, 1e-4

CHILD = r"""
import os, sys, json
os.environ.setdefault("GLOG_v", "3")
import numpy as np
import mindspore as ms
from mindspore import nn
ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
mindir, out_dir = sys.argv[1], sys.argv[2]
inputs = [np.load(p) for p in sys.argv[3:]]
net = nn.GraphCell(ms.load(mindir))
outs = net(*[ms.Tensor(a) for a in inputs])
outs = outs if isinstance(outs, (tuple, list)) else (outs,)
for i, o in enumerate(outs):
    np.save(os.path.join(out_dir, f"out_{i}.npy"), o.asnumpy())
print("DONE", len(outs))
"""


def compare(actual: np.ndarray, expected: np.ndarray) -> tuple[bool, float]:
    """Whether ``actual`` matches ``expected`` under the bound above, and the max abs error."""
    if actual.shape != expected.shape:
        return False, float("inf")
    if actual.size == 0:
        return True, 0.0
    if expected.dtype.kind in "iub":
        err = float(np.abs(actual.astype(np.float64) - expected.astype(np.float64)).max())
        return err == 0.0, err
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    if not (np.isfinite(a) == np.isfinite(e)).all():
        return False, float("inf")
    finite = np.isfinite(e)
    err = float(np.abs(a[finite] - e[finite]).max()) if finite.any() else 0.0
    scale = float(np.abs(e[finite]).max()) if finite.any() else 0.0
    ok = bool(np.allclose(a, e, rtol=RTOL, atol=ATOL, equal_nan=True)) or err <= REL * scale
    return ok, err


def blocking_nodes(model, path: Path) -> list[tuple[str, str, str]]:
    """Every node the MindIR writer refuses, as (op type, node name, reason)."""
    from engine.formats.mindir.blockers import find_blockers

    return [(b.op, b.node, b.reason) for b in find_blockers(model, path)]


def run_mindspore(mindir: Path, inputs: list[Path], timeout: float) -> tuple[list[np.ndarray] | None, str]:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc = subprocess.run([sys.executable, "-c", CHILD, str(mindir), tmp, *map(str, inputs)],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"timeout after {timeout:.0f} s"
        if proc.returncode or "DONE" not in proc.stdout:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith(("[WARNING", "[INFO"))]
            error = next((ln for ln in reversed(lines) if "Error" in ln or "error" in ln), lines[-1] if lines else f"exit {proc.returncode}")
            return None, error.strip()[:300]
        count = int(proc.stdout.split("DONE", 1)[1].split()[0])
        return [np.load(Path(tmp) / f"out_{i}.npy") for i in range(count)], ""


def check_model(folder: Path, timeout: float) -> dict:
    import onnxruntime as ort

    from engine import formats
    from engine.errors import EngineError

    meta = json.loads((folder / "meta.json").read_text())
    src = folder / "model.onnx"
    inputs = [folder / i["file"] for i in meta["inputs"]]
    expected = [np.load(folder / o["file"]) for o in meta["outputs"]]
    exporter = f"{meta['exporter']}{meta['opset']}" if "opset" in meta else meta["exporter"].split(" export")[0]
    rec: dict = {"name": meta["name"], "exporter": exporter, "size_mib": src.stat().st_size / 2**20}
    try:
        sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
        # torch's meta names each input; MindSpore's export (make_zoo_corpus --onnx) keeps the graph's order
        names = [i.get("name") or g.name for i, g in zip(meta["inputs"], sess.get_inputs())]
        feeds = {name: np.load(folder / i["file"]) for name, i in zip(names, meta["inputs"])}
        ort_out = sess.run(None, feeds)
        rec["ort_ok"], rec["ort_err"] = zip(*(compare(a, e) for a, e in zip(ort_out, expected))) if expected else ((), ())
        rec["ort_ok"], rec["ort_err"] = all(rec["ort_ok"]), max(rec["ort_err"], default=0.0)
    except Exception as exc:  # noqa: BLE001
        rec["ort_ok"], rec["ort_err"] = False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.mindir"
        t0 = time.perf_counter()
        try:
            model = formats.load(src)
            formats.save(model, out, fmt="mindir")
            rec["convert_s"] = time.perf_counter() - t0
        except EngineError as exc:
            rec["convert_s"] = time.perf_counter() - t0
            rec["status"], rec["error"] = "refused", str(exc.message)
            try:
                rec["blocking"] = blocking_nodes(model, out)
            except Exception as exc2:  # noqa: BLE001
                rec["blocking"] = [("?", "", f"replay failed: {type(exc2).__name__}: {exc2}")]
            return rec
        except Exception as exc:  # noqa: BLE001 - a traceback from the writer is a crash
            rec["convert_s"] = time.perf_counter() - t0
            rec["status"], rec["error"] = "crash", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            return rec
        outs, error = run_mindspore(out, inputs, timeout)
    if outs is None:
        rec["status"], rec["error"] = ("timeout" if error.startswith("timeout") else "ms-fails"), error
        return rec
    if len(outs) != len(expected):
        rec["status"], rec["error"] = "wrong", f"{len(outs)} outputs, torch gives {len(expected)}"
        return rec
    results = [compare(a, e) for a, e in zip(outs, expected)]
    rec["max_err"] = max(err for _, err in results)
    rec["status"] = "match" if all(ok for ok, _ in results) else "wrong"
    if rec["status"] == "wrong":
        rec["error"] = "; ".join(f"{o['name']}: {'shape ' + str(list(a.shape)) + ' vs ' + str(o['shape']) if a.shape != e.shape else f'max err {err:.3g}'}"
                                 for (ok, err), a, e, o in zip(results, outs, expected, meta["outputs"]) if not ok)
    return rec


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--timeout", type=float, default=600, help="seconds MindSpore may take per model")
    parser.add_argument("--json", type=Path, help="also write the records here")
    args = parser.parse_args()
    folders = sorted(p.parent for p in args.corpus.glob("*/meta.json")) if args.corpus.is_dir() else []
    if args.models:
        folders = [f for f in folders if f.name in args.models]
    if not folders:
        print(f"skipped: no corpus at {args.corpus} (make it with: python scripts/make_torch_corpus.py, in a torch venv)")
        return 0
    os.environ.setdefault("GLOG_v", "3")
    records, blockers = [], Counter()
    print(f"bound: allclose(rtol={RTOL}, atol={ATOL}) or max abs err <= {REL} x max|expected|; ints exact")
    for folder in folders:
        rec = check_model(folder, args.timeout)
        records.append(rec)
        ort_note = "ort ok" if rec.get("ort_ok") else f"ORT MISMATCH {rec.get('ort_err')}"
        detail = f"max err {rec['max_err']:.3g}" if "max_err" in rec else rec.get("error", "")
        print(f"{rec['name']:40s} {rec['exporter']:10s} {rec['status']:8s} convert {rec.get('convert_s', 0):6.2f} s  "
              f"{ort_note:14s} {detail[:240]}", flush=True)
        by_op: dict[str, list[tuple[str, str]]] = {}
        for op, node, reason in rec.get("blocking", []):
            by_op.setdefault(op, []).append((node, reason))
        for op, nodes in by_op.items():
            node, reason = nodes[0]
            print(f"    blocks: {op:18s} x{len(nodes):<4d} first {node[:48]:48s} {reason[:150]}")
            blockers[op] += 1
    counts = Counter(r["status"] for r in records)
    print("classes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if blockers:
        print("blocking ops by number of models: " + ", ".join(f"{op} ({n})" for op, n in blockers.most_common()))
    print(f"{counts['match']}/{len(records)} real ONNX models convert to MindIR that MindSpore runs and matches")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
