"""Reduce-to-pool: axes as attribute and as input, keepdims 0 and 1, what stays a ReduceMean."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from engine.passes import get_pass
from tests.engine.passes.conftest import make, ops

Y = ["d0", "d1", "d2", "d3"]


@pytest.mark.parametrize("axes,keepdims,expected", [
    ([2, 3], 1, ["GlobalAveragePool"]),
    ([-1, -2], 1, ["GlobalAveragePool"]),
    ([2, 3], 0, ["GlobalAveragePool", "Flatten"]),
])
def test_axes_attribute(peer, axes, keepdims, expected):
    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=axes, keepdims=keepdims)
    model = make([node], [("x", [2, 5, 4, 3])], [("y", Y[:4 if keepdims else 2])], opset=13)
    result = get_pass("reduce_to_pool").call(model)
    assert result.modified and ops(result.model) == expected
    got = peer.same(model, result.model)
    assert got[0].shape == ((2, 5, 1, 1) if keepdims else (2, 5))


def test_axes_input_opset18(peer):
    node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1)
    model = make([node], [("x", [1, 4, 3, 3, 2])], [("y", Y + ["d4"])], {"axes": np.array([2, 3, 4], np.int64)}, opset=18)
    result = get_pass("reduce_to_pool").call(model)
    assert ops(result.model) == ["GlobalAveragePool"] and not result.model.graph.initializer
    peer.same(model, result.model)


@pytest.mark.parametrize("axes", [[2], [1, 2, 3], [0, 2, 3]])
def test_other_reductions_left_alone(axes):
    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=axes, keepdims=1)
    model = make([node], [("x", [2, 5, 4, 3])], [("y", Y)], opset=13)
    assert not get_pass("reduce_to_pool").call(model).modified
