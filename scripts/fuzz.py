"""Long fuzz campaign: N seeded mutants per format through load, inspect and convert; new defects saved.

Usage::

    nice .venv/bin/python scripts/fuzz.py --format npz --count 20000 --out corpora/fuzz
    nice .venv/bin/python scripts/fuzz.py --format all --count 2000 --seed 7

Each mutant runs in a forked child with a per-stage time limit (5 s) and a memory bound
(4x the input + 200 MB). The script prints the outcome counts per format, and writes one
reproducer per distinct defect (outcome, stage, exception type, code site) under
``--out/<format>/<n>/`` with the files and an ``info.json`` saying what happened. It exits
1 when any mutant crashed, hung, blew memory, escaped untyped or wrote a bad output.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz import harness  # noqa: E402
from tests.fuzz.mutate import mutate  # noqa: E402
from tests.fuzz.seeds import FORMATS, load_seeds  # noqa: E402


def campaign(fmt: str, count: int, seed: int, out: Path | None, timeout: float, large: bool,
             quiet: bool = False, extra: Path | None = None) -> dict:
    seeds = load_seeds(fmt, large=large)
    if extra is not None:  # more seed files of this format (e.g. MindIRs our writer made from ONNX's node tests)
        from tests.fuzz.mutate import Seed

        main = f"model.{fmt}"
        seeds += [Seed(p.stem, {main: p.read_bytes()}, main, fmt) for p in sorted(extra.glob(f"*.{fmt}"))]
    counts: Counter[str] = Counter()
    by_stage: Counter[str] = Counter()
    found: dict[tuple, dict] = {}
    catch_all: Counter[str] = Counter()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"dstudio-fuzz-{fmt}-") as tmp:
        for i in range(count):
            rng = random.Random(f"{fmt}:{seed}:{i}")
            mutant = mutate(rng.choice(seeds), rng)
            result = harness.run_mutant(mutant, Path(tmp) / "case", stage_timeout=timeout)
            counts[result.outcome] += 1
            if result.kind == "catch-all":
                counts["typed-by-catch-all"] += 1
                catch_all[f"{result.where}: {result.error.split(': ', 2)[-1][:80]}"] += 1
            by_stage[f"{result.stage or 'all'}:{result.outcome}"] += 1
            if result.bad and result.signature not in found:
                info = {"format": fmt, "index": i, "seed": seed, "recipe": mutant.recipe, "outcome": result.outcome,
                        "stage": result.stage, "kind": result.kind, "where": result.where, "error": result.error,
                        "growth_mb": result.growth >> 20, "main": mutant.main}
                found[result.signature] = info
                if not quiet:
                    print(f"[{fmt} #{i}] {result.outcome} in {result.stage}: {result.kind} {result.where} "
                          f"{result.error[:160]} ({mutant.recipe[:120]})", flush=True)
                if out is not None:
                    folder = out / fmt / str(len(found))
                    folder.mkdir(parents=True, exist_ok=True)
                    for name, data in mutant.files.items():
                        (folder / name).write_bytes(data)
                    (folder / "info.json").write_text(json.dumps(info, indent=2))
            if (i + 1) % 500 == 0 and (not quiet or (i + 1) % 2000 == 0):
                print(f"  {fmt}: {i + 1}/{count} {dict(counts)} ({time.monotonic() - start:.0f} s)", flush=True)
    return {"format": fmt, "count": count, "seed": seed, "outcomes": dict(counts), "by_stage": dict(by_stage),
            "distinct_defects": len(found), "defects": list(found.values()),
            "catch_all": dict(catch_all.most_common(50)), "seconds": round(time.monotonic() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", default="all", choices=("all",) + FORMATS)
    parser.add_argument("--count", type=int, default=1000, help="mutants per format")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per stage before a run is a hang")
    parser.add_argument("--out", type=Path, help="folder for new reproducers (and summary.json)")
    parser.add_argument("--large", action="store_true", help="also mutate the larger fixtures")
    parser.add_argument("--quiet", action="store_true", help="print only the per-format summary lines")
    parser.add_argument("--extra-seeds", type=Path, metavar="DIR",
                        help="also mutate the *.<format> files in DIR (e.g. MindIRs written from ONNX's node tests)")
    args = parser.parse_args(argv)
    harness.prepare()
    reports = []
    for fmt in FORMATS if args.format == "all" else (args.format,):
        report = campaign(fmt, args.count, args.seed, args.out, args.timeout, args.large, quiet=args.quiet,
                          extra=args.extra_seeds)
        reports.append(report)
        print(f"{fmt}: {report['count']} mutants in {report['seconds']} s: {report['outcomes']}; "
              f"{report['distinct_defects']} distinct defects", flush=True)
        if args.out is not None:  # after each format, so a long campaign's finished formats are kept
            args.out.mkdir(parents=True, exist_ok=True)
            name = f"summary-{args.format}-{args.seed}.json"
            (args.out / name).write_text(json.dumps(reports, indent=2))
    return 1 if any(r["distinct_defects"] for r in reports) else 0


if __name__ == "__main__":
    raise SystemExit(main())
