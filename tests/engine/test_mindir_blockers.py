"""Every node that blocks MindIR export is named, not only the first; echoes downstream are not."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from engine.formats.mindir.blockers import describe, find_blockers
from engine.model import Model

F = TensorProto.FLOAT


def test_every_blocking_op_is_named_once_with_its_node_count(tmp_path):
    nodes = [
        helper.make_node("Det", ["x"], ["d"], name="det1"),              # no rule
        helper.make_node("Relu", ["d"], ["r"], name="relu_after_det"),   # fine, but downstream
        helper.make_node("Reshape", ["x", "s"], ["xr"], name="reshape_ok"),
        helper.make_node("Det", ["xr"], ["d2"], name="det2"),
        helper.make_node("Cast", ["d"], ["di"], to=TensorProto.INT64, name="cast"),
        helper.make_node("Reshape", ["x", "di"], ["echo"], name="echo"),  # shape not constant: an echo
        helper.make_node("Multinomial", ["x"], ["m"], name="multi", sample_size=2),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", F, [3, 3])],
        [helper.make_tensor_value_info(n, t, None) for n, t in (("r", F), ("d2", F), ("echo", F), ("m", TensorProto.INT32))],
        initializer=[numpy_helper.from_array(np.array([3, 3], np.int64), "s")])
    model = Model(onnx=helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    blockers = find_blockers(model, tmp_path / "m.mindir")
    assert [(b.op, b.node) for b in blockers] == [("Det", "det1"), ("Det", "det2"), ("Multinomial", "multi")]
    line = describe(blockers)
    assert line.startswith("2 ops block MindIR export: Det (2 nodes; first det1: no MindIR rule), Multinomial (1 node")
    assert "\n" not in line and "echo" not in line


def test_a_convertible_model_has_no_blockers(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", F, [2])], [helper.make_tensor_value_info("y", F, [2])])
    model = Model(onnx=helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert find_blockers(model, tmp_path / "m.mindir") == []
