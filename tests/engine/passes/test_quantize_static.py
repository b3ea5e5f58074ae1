"""Static int8 via onnxruntime.quantization: QDQ and QOperator, three calibration methods."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import EngineError, InputError
from engine.passes import get_pass
from tests.engine.passes.conftest import load_fixture, ops


@pytest.mark.parametrize("method,fmt", [("minmax", "qdq"), ("entropy", "qdq"), ("percentile", "qoperator")])
def test_lenet_methods_and_formats(peer, method, fmt):
    model = load_fixture("lenet5")
    result = get_pass("quantize_static", method=method, quant_format=fmt, samples=4, seed=100).call(model)
    assert result.modified
    marker = "QuantizeLinear" if fmt == "qdq" else "QLinearConv"
    assert marker in ops(result.model)
    assert peer.cosine(model, result.model) >= 0.99


def test_mobilenet_with_calibration_file(peer, tmp_path):
    model = load_fixture("mobilenetv2_small")
    rng = np.random.default_rng(5)
    path = tmp_path / "calib.npz"
    np.savez(path, x=rng.standard_normal((4, 1, 3, 128, 128)).astype(np.float32))
    result = get_pass("quantize_static", calibration=str(path)).call(model)
    assert "4 calibration samples" in result.notes[0]
    assert peer.cosine(model, result.model) >= 0.99


def test_bad_calibration_and_options():
    model = load_fixture("lenet5")
    with pytest.raises(InputError, match="lacks input"):
        get_pass("quantize_static", calibration={"nope": np.zeros((1, 1, 32, 32), np.float32)}).call(model)
    with pytest.raises(EngineError, match="unknown calibration method"):
        get_pass("quantize_static", method="magic")
