"""Shape simplification: no-op reshapes, casts and transposes go; chains merge; outputs agree."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from engine.passes import get_pass
from tests.engine.passes.conftest import load_fixture, make, ops


def test_rules(peer):
    nodes = [
        helper.make_node("Reshape", ["x", "same"], ["r0"]),            # no-op
        helper.make_node("Reshape", ["r0", "flat"], ["r1"]),
        helper.make_node("Reshape", ["r1", "back"], ["r2"]),           # chain -> one Reshape, then no-op
        helper.make_node("Cast", ["r2"], ["c"], to=TensorProto.FLOAT),  # same type
        helper.make_node("Transpose", ["c"], ["t1"], perm=[1, 0, 2]),
        helper.make_node("Transpose", ["t1"], ["t2"], perm=[1, 0, 2]),  # cancels
        helper.make_node("Transpose", ["t2"], ["t3"], perm=[2, 0, 1]),
        helper.make_node("Transpose", ["t3"], ["y"], perm=[0, 2, 1]),   # merges to one
    ]
    inits = {"same": np.array([2, 3, 4]), "flat": np.array([6, 4]), "back": np.array([2, 3, 4])}
    model = make(nodes, [("x", [2, 3, 4])], [("y", [4, 3, 2])], inits)
    result = get_pass("shape_simplify").call(model)
    assert result.modified
    assert ops(result.model) == ["Transpose"]
    assert [o.name for o in result.model.graph.output] == ["y"]
    peer.same(model, result.model, rtol=0, atol=0)


def test_reshape_with_zero_is_not_merged(peer):
    nodes = [helper.make_node("Reshape", ["x", "a"], ["r"]), helper.make_node("Reshape", ["r", "b"], ["y"])]
    model = make(nodes, [("x", [2, 3, 4])], [("y", [6, 2, 2])], {"a": np.array([6, 4]), "b": np.array([0, 2, 2])})
    result = get_pass("shape_simplify").call(model)
    assert ops(result.model).count("Reshape") == 2  # 0 copies a dim of the *intermediate* tensor
    peer.same(model, result.model)


def test_real_transformer(peer):
    model = get_pass("constant_folding").call(load_fixture("tiny_transformer")).model
    result = get_pass("shape_simplify").call(model)
    assert result.modified and "Cast" not in ops(result.model)
    peer.same(model, result.model, rtol=0, atol=0)
