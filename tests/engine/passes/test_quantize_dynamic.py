"""Dynamic int8 via onnxruntime.quantization: integer MatMuls, cosine >= 0.99."""

from __future__ import annotations

import pytest

from engine.passes import get_pass
from tests.engine.passes.conftest import load_fixture, ops


@pytest.mark.parametrize("name", ["mlp_bn_dropout", "tiny_transformer"])
def test_quantizes_gemms(peer, name):
    model = load_fixture(name)
    result = get_pass("quantize_dynamic").call(model)
    assert result.modified
    assert "MatMulInteger" in ops(result.model) and "Gemm" not in ops(result.model)
    assert peer.cosine(model, result.model) >= 0.99
