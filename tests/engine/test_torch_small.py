"""Small real PyTorch exports (tests/data/torch_small): folding keeps results, MindSpore matches torch.

The models come from ``scripts/make_torch_corpus.py --models resnet_tiny bert_tiny gpt2_tiny``
(torch's classic exporter, opset 17, random weights under a fixed seed): torchvision's
ResNet stem and BasicBlocks at width 16-32, a 2-layer BERT and a 2-layer GPT-2 at hidden
size 32, each with an input and torch's own output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from engine.formats.mindir.fold import fold_for_export

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "torch_small"
NAMES = ["resnet_tiny", "bert_tiny", "gpt2_tiny"]
#: What the MindIR writer does with each today: "match", or the op its one-line refusal names.
EXPECTED = {"resnet_tiny": "match", "bert_tiny": "match", "gpt2_tiny": "match"}
#: Ops that only compute shapes, masks and positions from static shapes: none may survive folding.
SHAPE_OPS = {"Shape", "Size", "ConstantOfShape", "Range", "Expand", "Unsqueeze", "Concat", "Equal", "GatherElements"}


def _meta(name: str) -> dict:
    return json.loads((DATA / name / "meta.json").read_text())


def _feeds(name: str) -> dict[str, np.ndarray]:
    return {i["name"]: np.load(DATA / name / i["file"]) for i in _meta(name)["inputs"]}


def _expected(name: str) -> list[np.ndarray]:
    return [np.load(DATA / name / o["file"]) for o in _meta(name)["outputs"]]


def _close(actual: np.ndarray, expected: np.ndarray) -> bool:
    """The corpus benchmark's bound: allclose(1e-3, 1e-4), or 1e-4 of the largest magnitude."""
    err = float(np.abs(actual.astype(np.float64) - expected).max())
    return bool(np.allclose(actual, expected, rtol=1e-3, atol=1e-4)) or err <= 1e-4 * float(np.abs(expected).max())


@pytest.mark.parametrize("name", NAMES)
def test_torch_export_is_what_onnxruntime_runs(name):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(DATA / name / "model.onnx"), providers=["CPUExecutionProvider"])
    for actual, expected in zip(sess.run(None, _feeds(name)), _expected(name)):
        assert actual.shape == expected.shape and _close(actual, expected)


@pytest.mark.parametrize("name", NAMES)
def test_folding_a_real_export_keeps_results_and_leaves_no_shape_arithmetic(name):
    import onnxruntime as ort

    model = onnx.load(DATA / name / "model.onnx")
    folded = fold_for_export(model)
    left = Counter(n.op_type for n in folded.model.graph.node)
    assert not SHAPE_OPS & set(left), left
    feeds = _feeds(name)

    def run(m):
        return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)

    for before, after in zip(run(model), run(folded.assemble())):
        np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in NAMES if EXPECTED[n] == "match"])
def test_written_mindir_reads_back_and_matches_torch_without_mindspore(name, tmp_path):
    """Round trip: our MindIR reader lowers what the writer wrote, ORT runs it, torch agrees."""
    import onnxruntime as ort

    from engine import formats
    from engine.convert import convert

    out = tmp_path / "model.mindir"
    convert(DATA / name / "model.onnx", out)
    back = formats.load(out)
    assert back.source_format == "mindir"
    session = ort.InferenceSession(back.onnx.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(session.get_inputs(), _feeds(name).values())}
    for actual, expected in zip(session.run(None, feeds), _expected(name)):
        assert actual.shape == expected.shape and _close(actual, expected)


@pytest.fixture(scope="module")
def mindspore_runs(tmp_path_factory):
    """Convert each model, run all the MindIRs in one MindSpore child (tests/ms_run.py)."""
    from engine.convert import convert
    from engine.errors import UnsupportedOpError

    folder = tmp_path_factory.mktemp("torch_small")
    jobs, refusals = [], {}
    for name in NAMES:
        out = folder / f"{name}.mindir"
        try:
            convert(DATA / name / "model.onnx", out)
        except UnsupportedOpError as exc:
            refusals[name] = str(exc)
            continue
        meta = _meta(name)
        jobs.append((name, {"mindir": str(out), "inputs": [str(DATA / name / i["file"]) for i in meta["inputs"]],
                            "expected": [str(DATA / name / o["file"]) for o in meta["outputs"]]}))
    results = {}
    if jobs:
        job_file = folder / "jobs.json"
        job_file.write_text(json.dumps([job for _, job in jobs]))
        proc = subprocess.run([sys.executable, str(ROOT / "tests" / "ms_run.py"), str(job_file)],
                              capture_output=True, text=True, timeout=600)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        assert line, proc.stderr[-2000:]
        results = dict(zip([name for name, _ in jobs], json.loads(line[len("RESULT "):])))
    return results, refusals


@pytest.mark.mindspore
@pytest.mark.parametrize("name", NAMES)
def test_mindspore_runs_the_converted_export_and_matches_torch(mindspore_runs, name):
    results, refusals = mindspore_runs
    if EXPECTED[name] != "match":
        message = refusals.get(name, "")
        assert "\n" not in message and f"ONNX {EXPECTED[name]}" in message, message or "converted"
        return
    assert name not in refusals, refusals.get(name)
    result = results[name]
    assert "error" not in result, result["error"]
    expected = _expected(name)
    assert result["shapes"] == [list(e.shape) for e in expected]
    for err, e in zip(result["max_abs"], expected):
        # ms_run reports the max abs error; the bound is the corpus benchmark's relative one.
        assert err <= max(1e-4 + 1e-3 * float(np.abs(e).min()), 1e-4 * float(np.abs(e).max())), (err, name)


def test_corpus_benchmark_skips_cleanly_without_a_corpus(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "torch_corpus.py"), str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("skipped: no corpus at"), proc.stdout + proc.stderr


@pytest.mark.mindspore
def test_corpus_benchmark_runs_on_the_small_exports():
    # tests/data/torch_small has the corpus layout, so the benchmark's own code runs in make test.
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "torch_corpus.py"), str(DATA)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = sum(1 for n in NAMES if EXPECTED[n] == "match")
    assert f"{expected}/{len(NAMES)} real ONNX models convert to MindIR that MindSpore runs and matches" in proc.stdout
