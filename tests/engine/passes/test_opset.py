"""Opset conversion with onnx.version_converter: 11 -> 17 keeps outputs."""

from __future__ import annotations

import pytest

from engine.passes import get_pass
from engine.passes._graph import opset_version
from tests.engine.passes.conftest import load_fixture


@pytest.mark.parametrize("name", ["tiny_transformer", "mobilenetv2_small"])
def test_11_to_17(peer, name):
    model = load_fixture(name)
    result = get_pass("opset", version=17).call(model)
    assert opset_version(model) == 11 and opset_version(result.model) == 17
    peer.same(model, result.model)
    assert not get_pass("opset", version=17).call(result.model).modified
