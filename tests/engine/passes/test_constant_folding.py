"""Constant folding against ONNX Runtime: same outputs, constants gone."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from engine.passes import get_pass
from tests.engine.passes.conftest import load_fixture, make, ops


def _model():
    rng = np.random.default_rng(1)
    c = helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(rng.standard_normal(4).astype(np.float32)))
    nodes = [
        c,
        helper.make_node("Mul", ["c", "w"], ["cw"]),         # constant * initializer: folds
        helper.make_node("Shape", ["x"], ["s"]),              # static shape: folds
        helper.make_node("Reshape", ["cw", "s"], ["cw2"]),    # depends only on folded values
        helper.make_node("Add", ["x", "cw2"], ["y"]),
    ]
    return make(nodes, [("x", [2, 4])], [("y", [2, 4])], {"w": rng.standard_normal((2, 4)).astype(np.float32)})


@pytest.mark.parametrize("use_onnxscript", [True, False])
def test_folds_input_independent_nodes(peer, use_onnxscript):
    model = _model()
    result = get_pass("constant_folding", use_onnxscript=use_onnxscript).call(model)
    assert result.modified
    assert "Constant" not in ops(result.model) and "Mul" not in ops(result.model)
    assert "Add" in ops(result.model)
    peer.same(model, result.model)
    assert ops(model) == ["Constant", "Mul", "Shape", "Reshape", "Add"]  # input untouched


def test_nothing_to_fold_is_unmodified():
    model = make([helper.make_node("Relu", ["x"], ["y"])], [("x", [3])], [("y", [3])])
    assert not get_pass("constant_folding").call(model).modified


def test_tiny_transformer_constants_fold_exactly(peer):
    model = load_fixture("tiny_transformer")
    result = get_pass("constant_folding").call(model)
    assert ops(model).count("Constant") == 22
    assert "Constant" not in ops(result.model)
    assert len(result.model.graph.node) < len(model.graph.node)
    peer.same(model, result.model, rtol=0, atol=0)
