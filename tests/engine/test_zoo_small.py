"""Small mindcv zoo models (scripts/make_zoo_corpus.py --tiny) convert and match MindSpore's own output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from engine import formats

ZOO_DIR = Path(__file__).resolve().parents[1] / "data" / "zoo"
CASES = sorted(p.name for p in ZOO_DIR.iterdir() if (p / "model.mindir").exists())


def test_the_small_zoo_is_there():
    assert {"tiny_vit", "tiny_mobilenet_v3", "tiny_shufflenet_v2"} <= set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_zoo_model_converts_and_matches_mindspore(name, tmp_path):
    folder = ZOO_DIR / name
    meta = json.loads((folder / "meta.json").read_text())
    out = tmp_path / "model.onnx"
    formats.save(formats.load(folder / "model.mindir"), out)
    onnx.checker.check_model(str(out), full_check=True)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feeds = {i.name: np.load(folder / m["file"]) for i, m in zip(session.get_inputs(), meta["inputs"])}
    outputs = session.run(None, feeds)
    expected = [np.load(folder / m["file"]) for m in meta["outputs"]]
    assert len(outputs) == len(expected)
    for k, (y, e) in enumerate(zip(outputs, expected)):
        assert y.shape == e.shape, f"output {k}"
        scale = float(np.abs(e).max())
        assert scale > 1e-2, f"output {k} is degenerate ({scale}); the comparison would prove nothing"
        err = float(np.abs(y.astype(np.float64) - e.astype(np.float64)).max())
        assert err <= 1e-4 * max(1.0, scale), f"output {k}: max abs error {err}"
