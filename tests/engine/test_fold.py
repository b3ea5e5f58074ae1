"""Folding before MindIR writing: shape arithmetic becomes constants, results never change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.formats.mindir.fold import fold_for_export

ROOT = Path(__file__).resolve().parents[2]
F = TensorProto.FLOAT
I64 = TensorProto.INT64


def _model(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _c(name, array) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def _run(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def _same_results(model: onnx.ModelProto, feeds: dict) -> onnx.ModelProto:
    folded = fold_for_export(model)
    full = folded.assemble()
    onnx.checker.check_model(full)
    for a, b in zip(_run(model, feeds), _run(full, feeds)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    return folded.model


def test_computed_reshape_shape_becomes_a_constant():
    # Flatten the way torch exports x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat.
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, [2, 3, 4])],
                   [helper.make_tensor_value_info("y", F, [2, 12])],
                   [_c("zero", np.int64(0)), _c("axes0", [0]), _c("minus1", np.array([-1], np.int64))])
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    folded = _same_results(model, {"x": x})
    assert _ops(folded) == ["Reshape"]


def test_mask_arithmetic_folds_constant_of_shape_range_expand_where():
    # An attention-mask style chain: ConstantOfShape, Range, Expand, Equal, Where, Slice with
    # bounds computed from a shape, Cast, Mul, Div.
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "one", "two"], ["seq"]),            # [L]
        helper.make_node("ConstantOfShape", ["seq"], ["ones"], value=_c("v", np.array([1], np.int64))),
        helper.make_node("CumSum", ["ones", "zero_s"], ["pos1"]),
        helper.make_node("Squeeze", ["seq", "axes0"], ["seq_s"]),
        helper.make_node("Range", ["zero", "seq_s", "one_s"], ["pos"]),
        helper.make_node("Add", ["pos", "one"], ["pos_plus"]),
        helper.make_node("Equal", ["pos_plus", "pos1"], ["eq"]),
        helper.make_node("Where", ["eq", "fone", "fzero"], ["w"]),
        helper.make_node("Concat", ["one", "seq"], ["eshape"], axis=0),
        helper.make_node("Expand", ["w", "eshape"], ["mask"]),              # [1, L]
        helper.make_node("Cast", ["s"], ["sf"], to=F),
        helper.make_node("Div", ["sf", "ftwo"], ["half"]),
        helper.make_node("Slice", ["x", "zero", "seq", "one", "one"], ["xs"]),  # x[:, :L]
        helper.make_node("Mul", ["xs", "mask"], ["y0"]),
        helper.make_node("ReduceSum", ["half"], ["hs"], keepdims=0),
        helper.make_node("Mul", ["y0", "hs"], ["y"]),
    ]
    inits = [_c("one", np.array([1], np.int64)), _c("two", np.array([2], np.int64)),
             _c("zero", np.array([0], np.int64)), _c("axes0", np.array([0], np.int64)),
             _c("one_s", np.int64(1)), _c("fone", np.float32(1)), _c("fzero", np.float32(0)),
             _c("ftwo", np.float32(2))]
    # Range needs scalar start: reuse "zero" as a 1-element start is invalid, give a scalar.
    nodes[5] = helper.make_node("Range", ["zero_s", "seq_s", "one_s"], ["pos"])
    inits.append(_c("zero_s", np.int64(0)))
    model = _model(nodes, [helper.make_tensor_value_info("x", F, [3, 5])],
                   [helper.make_tensor_value_info("y", F, [3, 5])], inits)
    x = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    folded = _same_results(model, {"x": x})
    assert _ops(folded) == ["Slice", "Mul", "Mul"]  # only what reads x is left


def test_big_weights_are_never_read_or_copied():
    weight = np.random.default_rng(2).standard_normal((300, 300)).astype(np.float32)  # 90,000 elements
    nodes = [
        helper.make_node("Shape", ["w"], ["ws"]),
        helper.make_node("Reshape", ["x", "ws"], ["xr"]),
        helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),  # onnxscript folds single-use Transposes
        helper.make_node("MatMul", ["xr", "wt"], ["y"]),
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, [900, 100])],
                   [helper.make_tensor_value_info("y", F, [300, 300])], [_c("w", weight)])
    folded = fold_for_export(model, keep_elements=1000)
    assert _ops(folded.model) == ["Reshape", "Transpose", "MatMul"]
    stub = next(t for t in folded.model.graph.initializer if t.name == "w")
    assert list(stub.dims) == [300, 300] and not stub.raw_data
    assert any(t is model.graph.initializer[0] for t in folded.initializers)  # the original object
    x = np.random.default_rng(3).standard_normal((900, 100)).astype(np.float32)
    np.testing.assert_array_equal(_run(model, {"x": x})[0], _run(folded.assemble(), {"x": x})[0])


def test_outputs_over_the_limit_stay_computed():
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["big"], value=_c("v", np.array([0.5], np.float32))),
        helper.make_node("Add", ["x", "big"], ["y"]),
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, [64, 64])],
                   [helper.make_tensor_value_info("y", F, [64, 64])], [_c("shape", np.array([64, 64], np.int64))])
    assert _ops(fold_for_export(model, output_limit=1000).model) == ["ConstantOfShape", "Add"]
    small = fold_for_export(model, output_limit=10_000)
    assert _ops(small.model) == ["Add"]
    x = np.ones((64, 64), np.float32)
    np.testing.assert_array_equal(_run(small.assemble(), {"x": x})[0], x + 0.5)


def test_initializer_listed_as_input_is_a_constant_and_source_untouched():
    nodes = [helper.make_node("Add", ["a", "b"], ["c"]), helper.make_node("Reshape", ["x", "c"], ["y"])]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, [2, 6]), helper.make_tensor_value_info("a", I64, [2])],
                   [helper.make_tensor_value_info("y", F, [3, 4])],
                   [_c("a", np.array([1, 5], np.int64)), _c("b", np.array([2, -1], np.int64))])
    before = model.SerializeToString()
    folded = fold_for_export(model)
    assert model.SerializeToString() == before
    assert _ops(folded.model) == ["Reshape"] and [i.name for i in folded.model.graph.input] == ["x"]
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    np.testing.assert_array_equal(_run(folded.assemble(), {"x": x})[0], x.reshape(3, 4))


@pytest.mark.mindspore
def test_folded_reshape_converts_and_mindspore_matches(tmp_path):
    from engine.convert import convert

    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Relu", ["r"], ["y"]),
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, [2, 3, 4])],
                   [helper.make_tensor_value_info("y", F, [2, 12])],
                   [_c("zero", np.int64(0)), _c("axes0", [0]), _c("minus1", np.array([-1], np.int64))])
    x = np.random.default_rng(4).standard_normal((2, 3, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", _run(model, {"x": x})[0])
    onnx.save(model, tmp_path / "m.onnx")
    convert(tmp_path / "m.onnx", tmp_path / "m.mindir")
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([{"mindir": str(tmp_path / "m.mindir"), "inputs": [str(tmp_path / "x.npy")],
                                 "expected": [str(tmp_path / "y.npy")]}]))
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "ms_run.py"), str(jobs)],
                          capture_output=True, text=True, timeout=300)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    (result,) = json.loads(line[len("RESULT "):])
    assert "error" not in result, result
    assert result["shapes"] == [[2, 12]] and result["max_abs"] == [0.0]


def test_gather_elements_folds_where_onnx_reference_fails():
    # BERT's token-type ids: GatherElements over a 64-long constant buffer (onnx.reference
    # fails beyond 32 along the axis; the hand-written evaluation takes over).
    buffer = (np.arange(64, dtype=np.int64) % 3).reshape(1, 64)
    nodes = [
        helper.make_node("GatherElements", ["buf", "idx"], ["tt"], axis=1),
        helper.make_node("Cast", ["tt"], ["ttf"], to=F),
        helper.make_node("Add", ["x", "ttf"], ["y"]),
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, [1, 16])],
                   [helper.make_tensor_value_info("y", F, [1, 16])],
                   [_c("buf", buffer), _c("idx", np.array([[5, -1, *range(40, 54)]], np.int64))])
    x = np.random.default_rng(5).standard_normal((1, 16)).astype(np.float32)
    folded = _same_results(model, {"x": x})
    assert _ops(folded) == ["Add"]


def test_assembled_model_keeps_constants_only_a_subgraph_reads():
    then_g = helper.make_graph([helper.make_node("Add", ["x", "c"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", F, [2])])
    else_g = helper.make_graph([helper.make_node("Sub", ["x", "c"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", F, [2])])
    nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, [2]),
                           helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                   [helper.make_tensor_value_info("y", F, [2])], [_c("c", np.array([1.0, 2.0], np.float32))])
    x = np.array([5.0, 6.0], np.float32)
    for cond in (True, False):
        np.testing.assert_array_equal(_run(fold_for_export(model).assemble(), {"x": x, "cond": np.array(cond)})[0],
                                      x + [1, 2] if cond else x - [1, 2])


def test_model_local_functions_are_inlined_then_folded():
    # The dynamo exporter may emit model-local functions; their shape arithmetic folds too.
    fn = helper.make_function(
        "local", "FlattenLike", ["t"], ["o"],
        [helper.make_node("Shape", ["t"], ["s"]),
         helper.make_node("Constant", [], ["k"], value=_c("k", np.array([0], np.int64))),
         helper.make_node("Gather", ["s", "k"], ["n"], axis=0),
         helper.make_node("Constant", [], ["m1"], value=_c("m1", np.array([-1], np.int64))),
         helper.make_node("Concat", ["n", "m1"], ["shape"], axis=0),
         helper.make_node("Reshape", ["t", "shape"], ["o"])],
        opset_imports=[helper.make_opsetid("", 17)])
    graph = helper.make_graph([helper.make_node("FlattenLike", ["x"], ["y"], domain="local")], "g",
                              [helper.make_tensor_value_info("x", F, [2, 3, 4])],
                              [helper.make_tensor_value_info("y", F, [2, 12])])
    model = helper.make_model(graph, functions=[fn],
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    model.ir_version = 8
    x = np.random.default_rng(6).standard_normal((2, 3, 4)).astype(np.float32)
    folded = fold_for_export(model)
    assert _ops(folded.model) == ["Reshape"] and not folded.model.functions
    assert [o.domain for o in folded.model.opset_import] == [""]
    np.testing.assert_array_equal(_run(folded.assemble(), {"x": x})[0], x.reshape(2, 12))


def test_writer_accepts_a_model_whose_only_custom_domain_is_its_functions(tmp_path):
    from engine.convert import convert

    fn = helper.make_function("local", "Twice", ["t"], ["o"], [helper.make_node("Add", ["t", "t"], ["o"])],
                              opset_imports=[helper.make_opsetid("", 17)])
    graph = helper.make_graph([helper.make_node("Twice", ["x"], ["y"], domain="local")], "g",
                              [helper.make_tensor_value_info("x", F, [2])], [helper.make_tensor_value_info("y", F, [2])])
    model = helper.make_model(graph, functions=[fn],
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "f.onnx")
    convert(tmp_path / "f.onnx", tmp_path / "f.mindir")
    assert (tmp_path / "f.mindir").stat().st_size > 0


def test_writer_still_refuses_a_custom_domain_node(tmp_path):
    from engine.convert import convert
    from engine.errors import FormatError

    graph = helper.make_graph([helper.make_node("Foo", ["x"], ["y"], domain="com.example")], "g",
                              [helper.make_tensor_value_info("x", F, [2])], [helper.make_tensor_value_info("y", F, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    onnx.save(model, tmp_path / "c.onnx")
    with pytest.raises(FormatError, match=r"custom op domains \['com.example'\] cannot be written as MindIR"):
        convert(tmp_path / "c.onnx", tmp_path / "c.mindir")
    assert not (tmp_path / "c.mindir").exists()
