"""A bounded, seeded fuzz run per format in ``make test``: no crash, hang, memory blow-up, untyped error or bad output.

The campaign runs in a fresh interpreter (``scripts/fuzz.py``), which forks one child per
mutant: forking the test process itself, which may hold ONNX Runtime's thread pools by
then, could deadlock a child. Limits are generous here (30 s a stage) so that a loaded
machine never makes a slow run look like a hang; scripts/fuzz.py uses the issue's 5 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.seeds import FORMATS

ROOT = Path(__file__).resolve().parents[2]
COUNT = 60  # mutants per format: a few seconds a format on 2 cores
SEED = 20261130


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz.py"), "--format", "all", "--count", str(COUNT),
         "--seed", str(SEED), "--timeout", "30", "--out", str(out), "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    summary = out / f"summary-all-{SEED}.json"
    assert summary.exists(), f"fuzz run did not finish (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return {r["format"]: r for r in json.loads(summary.read_text())}


@pytest.mark.parametrize("fmt", FORMATS)
def test_mutants_fail_cleanly(campaign, fmt):
    report = campaign[fmt]
    assert sum(v for k, v in report["outcomes"].items() if k != "typed-by-catch-all") == COUNT
    defects = [f"{d['outcome']} in {d['stage']}: {d['kind']} at {d['where']}: {d['error'][:200]} "
               f"(mutant {d['index']}: {d['recipe'][:160]})" for d in report["defects"]]
    assert not defects, "\n".join(defects)
    # The harness must be exercising something: some mutants load, some are refused.
    assert report["outcomes"].get("typed", 0) > 0
