"""Every node that blocks MindIR export is named, not only the first; echoes downstream are not."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from engine.formats.mindir.blockers import describe, find_blockers
from engine.model import Model

F = TensorProto.FLOAT


def test_every_blocking_op_is_named_once_with_its_node_count(tmp_path):
    nodes = [
        helper.make_node("Bernoulli", ["x"], ["b"], name="bern1"),       # no rule (random: never exact)
        helper.make_node("ReduceSum", ["b"], ["d"], keepdims=0, name="sum_after_bern"),
        helper.make_node("Relu", ["d"], ["r"], name="relu_after_bern"),  # fine, but downstream
        helper.make_node("Reshape", ["x", "s"], ["xr"], name="reshape_ok"),
        helper.make_node("Bernoulli", ["xr"], ["d2"], name="bern2"),
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
    assert [(b.op, b.node) for b in blockers] == [("Bernoulli", "bern1"), ("Bernoulli", "bern2"), ("Multinomial", "multi")]
    line = describe(blockers)
    assert line.startswith("2 ops block MindIR export: Bernoulli (2 nodes; first bern1: no MindIR rule), Multinomial (1 node")
    assert "\n" not in line and "echo" not in line


def test_a_convertible_model_has_no_blockers(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", F, [2])], [helper.make_tensor_value_info("y", F, [2])])
    model = Model(onnx=helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert find_blockers(model, tmp_path / "m.mindir") == []


def test_convert_refuses_in_one_line_naming_every_blocking_op(tmp_path, capsys):
    from engine.cli import main

    nodes = [
        helper.make_node("NonZero", ["x"], ["nz"], name="nonzero"),
        helper.make_node("RoiAlign", ["x4", "rois", "idx"], ["roi"], name="roialign", output_height=2, output_width=2),
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", F, [2, 3]), helper.make_tensor_value_info("x4", F, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("nz", TensorProto.INT64, [2, "n"]), helper.make_tensor_value_info("roi", F, [1, 1, 2, 2]),
         helper.make_tensor_value_info("r", F, [2, 3])],
        initializer=[numpy_helper.from_array(np.array([[0, 0, 3, 3]], np.float32), "rois"),
                     numpy_helper.from_array(np.array([0], np.int64), "idx")])
    src = tmp_path / "two.onnx"
    src.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    dst = tmp_path / "m.mindir"
    code = main(["convert", str(src), "-o", str(dst)])
    out, err = capsys.readouterr()
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "2 ops block MindIR export" in lines[0]
    assert "NonZero (1 node; first nonzero" in lines[0] and "RoiAlign (1 node; first roialign" in lines[0]
    assert not dst.exists() and list(tmp_path.iterdir()) == [src]
