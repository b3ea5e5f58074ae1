"""Dead-code elimination: unread nodes go, graph outputs and signatures stay."""

from __future__ import annotations

import numpy as np
from onnx import helper

from engine.passes import get_pass
from tests.engine.passes.conftest import make, ops


def test_removes_dead_branch_identity_and_dropout(peer):
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Identity", ["r"], ["i1"]),
        helper.make_node("Dropout", ["i1"], ["d"]),
        helper.make_node("Sigmoid", ["d"], ["y"]),
        helper.make_node("Exp", ["x"], ["dead1"]),              # nobody reads it
        helper.make_node("Mul", ["dead1", "w_unused"], ["dead2"]),
        helper.make_node("Identity", ["y"], ["out2"]),          # Identity into a graph output
    ]
    w = np.ones((2, 3), np.float32)
    model = make(nodes, [("x", [2, 3])], [("y", [2, 3]), ("out2", [2, 3])], {"w_unused": w})
    result = get_pass("dead_code").call(model)
    assert result.modified
    got = result.model
    assert [o.name for o in got.graph.output] == ["y", "out2"]
    assert "Exp" not in ops(got) and "Mul" not in ops(got) and "Dropout" not in ops(got)
    assert not any(t.name == "w_unused" for t in got.graph.initializer)
    assert ops(got).count("Identity") <= 1
    peer.same(model, got)


def test_identity_from_input_to_output_is_kept(peer):
    model = make([helper.make_node("Identity", ["x"], ["y"])], [("x", [3])], [("y", [3])])
    result = get_pass("dead_code").call(model)
    assert ops(result.model) == ["Identity"]
    assert [i.name for i in result.model.graph.input] == ["x"]
    peer.same(model, result.model)


def test_dropout_with_read_mask_stays():
    nodes = [helper.make_node("Dropout", ["x"], ["y", "mask"])]
    model = make(nodes, [("x", [3])], [("y", [3]), helper.make_tensor_value_info("mask", 9, [3])])
    assert "Dropout" in ops(get_pass("dead_code").call(model).model)


def test_graph_output_that_is_also_read_is_kept(peer):
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["b"])]
    model = make(nodes, [("x", [3])], [("a", [3]), ("b", [3])])
    result = get_pass("dead_code").call(model)
    assert not result.modified
    peer.same(model, result.model)
