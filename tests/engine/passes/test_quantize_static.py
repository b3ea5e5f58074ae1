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


def test_mobilenet_int8_static_chain_keeps_stem_float_and_head_int8(peer):
    """The int8-static preset's tail: stem rewrite, pooled head, then quantization."""
    from engine.optimize.presets import VARIANT_TAILS

    model = load_fixture("mobilenetv2_small")
    work = model
    for name in ["fuse_batchnorm", *VARIANT_TAILS["int8-static"]]:
        work = get_pass(name, **({"samples": 4, "seed": 100} if name == "quantize_static" else {})).call(work).model
    nodes = work.graph.node
    prods = {o: n for n in nodes for o in n.output}
    readers = {i: n for n in nodes for i in n.input}
    s2d = [n for n in nodes if n.op_type == "SpaceToDepth"]
    assert len(s2d) == 1 and s2d[0].input[0] == model.graph.input[0].name  # float: reads the input itself
    assert readers[s2d[0].output[0]].op_type == "QuantizeLinear"
    pool = next(n for n in nodes if n.op_type == "GlobalAveragePool")
    assert prods[pool.input[0]].op_type == "DequantizeLinear" and readers[pool.output[0]].op_type == "QuantizeLinear"
    assert "ReduceMean" not in ops(work)
    assert peer.cosine(model, work) >= 0.99
