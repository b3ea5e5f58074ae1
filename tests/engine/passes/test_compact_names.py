"""Compact names: smaller file, same signature, same outputs."""

from __future__ import annotations

from engine.passes import get_pass
from tests.engine.passes.conftest import load_fixture


def test_tiny_transformer(peer):
    model = load_fixture("tiny_transformer")
    result = get_pass("compact_names").call(model)
    assert result.model.ByteSize() < model.ByteSize() * 0.9
    assert [i.name for i in result.model.graph.input] == [i.name for i in model.graph.input]
    assert [o.name for o in result.model.graph.output] == [o.name for o in model.graph.output]
    peer.same(model, result.model, rtol=0, atol=0)
