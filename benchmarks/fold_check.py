"""Folding never changes results: ONNX Runtime on each folded model against the original.

Usage: python benchmarks/fold_check.py [--corpus DIR] [--no-node-tests]

Runs :func:`engine.formats.mindir.fold.fold_for_export` on every ONNX backend node test
(the 1,884 models ``onnx.backend.test.loader.load_model_tests(kind="node")`` builds) and on
each model of the torch corpus (``corpora/torch``, skipped when absent), runs the folded
model (``FoldedGraph.assemble()``) and the original in ONNX Runtime on the same inputs,
and compares: floats ``allclose(rtol=1e-5, atol=1e-6)``, everything else exactly. Prints
counts (same, differ, folded model ORT rejects, fold crashed), the names of any that
differ, how many models folding changed and how long folding took.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _same(a, b) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True))
    return bool((a == b).all())


def check(name: str, model, feeds: dict, stats: dict) -> None:
    import onnxruntime as ort

    from engine.formats.mindir.fold import fold_for_export

    try:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        wanted = {i.name for i in sess.get_inputs()}
        ref = sess.run(None, {k: v for k, v in feeds.items() if k in wanted})
    except Exception:  # noqa: BLE001 - ORT cannot run the original: nothing to compare
        stats["ORT fails on the original"] += 1
        return
    t0 = time.perf_counter()
    try:
        folded = fold_for_export(model)
        full = folded.assemble()
    except Exception as exc:  # noqa: BLE001
        stats["fold crashed"] += 1
        print(f"CRASH {name}: {type(exc).__name__}: {exc}")
        return
    stats["fold seconds"] += time.perf_counter() - t0
    stats["changed by folding"] += bool(folded.folded)
    try:
        sess = ort.InferenceSession(full.SerializeToString(), providers=["CPUExecutionProvider"])
        wanted = {i.name for i in sess.get_inputs()}
        out = sess.run(None, {k: v for k, v in feeds.items() if k in wanted})
    except Exception as exc:  # noqa: BLE001
        stats["ORT rejects the folded model"] += 1
        print(f"REJECTED {name}: {str(exc).splitlines()[0][:200]}")
        return
    if len(out) == len(ref) and all(_same(a, b) for a, b in zip(out, ref)):
        stats["same"] += 1
    else:
        stats["differ"] += 1
        print(f"DIFFER {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpora" / "torch")
    parser.add_argument("--no-node-tests", action="store_true")
    args = parser.parse_args()
    import onnx
    import onnxruntime as ort

    ort.set_default_logger_severity(4)
    stats = dict.fromkeys(["same", "differ", "ORT rejects the folded model", "fold crashed",
                           "ORT fails on the original", "changed by folding"], 0)
    stats["fold seconds"] = 0.0
    if not args.no_node_tests:
        from onnx.backend.test.loader import load_model_tests

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cases = load_model_tests(kind="node")
        for case in cases:
            inputs, _ = case.data_sets[0]
            check(case.name, case.model, {i.name: v for i, v in zip(case.model.graph.input, inputs)}, stats)
        print(f"ONNX node tests ({len(cases)}): " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                                            for k, v in stats.items()))
    folders = sorted(p.parent for p in args.corpus.glob("*/meta.json")) if args.corpus.is_dir() else []
    if not folders:
        print(f"skipped the torch corpus: none at {args.corpus}")
        return 0
    stats = dict.fromkeys(stats, 0) | {"fold seconds": 0.0}
    for folder in folders:
        meta = json.loads((folder / "meta.json").read_text())
        feeds = {i["name"]: np.load(folder / i["file"]) for i in meta["inputs"]}
        check(folder.name, onnx.load(folder / "model.onnx"), feeds, stats)
    print(f"torch corpus ({len(folders)}): " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                                        for k, v in stats.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
