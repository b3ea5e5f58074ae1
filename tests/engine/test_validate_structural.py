"""Structural checks on small hand-built graphs and the fixtures, cross-checked with ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.model import Model
from engine.validate import check_structure

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, initializer=(), opset=17) -> Model:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializer))
    return Model(onnx=helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]))


def _vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def _codes(findings, severity=None):
    return {f.code for f in findings if severity is None or f.severity == severity}


def test_dangling_tensor_is_an_error_naming_node_and_tensor():
    model = _model([helper.make_node("Add", ["x", "ghost"], ["y"], name="add0")], [_vi("x", [2, 3])], [_vi("y", [2, 3])])
    findings = check_structure(model)
    dangling = [f for f in findings if f.code == "dangling-tensor"]
    assert len(dangling) == 1
    assert dangling[0].severity == "error" and dangling[0].node == "add0" and dangling[0].tensor == "ghost"
    assert findings[0].severity == "error"  # errors sort first
    # The ONNX checker (a peer) agrees the graph is broken.
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(model.onnx)


def test_graph_output_never_produced_is_dangling():
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="r")], [_vi("x", [2])], [_vi("y", [2]), _vi("nowhere", [2])])
    assert any(f.code == "dangling-tensor" and f.tensor == "nowhere" for f in check_structure(model))


def test_unused_initializer_unused_input_and_dead_node_are_warnings():
    w = numpy_helper.from_array(np.ones(3, np.float32), "w_unused")
    model = _model(
        [helper.make_node("Relu", ["x"], ["y"], name="live"), helper.make_node("Neg", ["x"], ["z"], name="dead")],
        [_vi("x", [2, 3]), _vi("spare", [1])],
        [_vi("y", [2, 3])],
        initializer=[w],
    )
    findings = check_structure(model)
    by_code = {f.code: f for f in findings}
    assert by_code["unused-initializer"].tensor == "w_unused" and by_code["unused-initializer"].severity == "warning"
    assert by_code["unused-input"].tensor == "spare"
    assert by_code["dead-node"].node == "dead"
    assert "error" not in {f.severity for f in findings}


def test_initializer_used_inside_a_subgraph_counts_as_used():
    then = helper.make_graph([helper.make_node("Add", ["x", "w"], ["t"])], "then", [], [_vi("t", [2])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [_vi("e", [2])])
    model = _model(
        [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other, name="if0")],
        [_vi("x", [2]), _vi("c", [], TensorProto.BOOL)],
        [_vi("y", [2])],
        initializer=[numpy_helper.from_array(np.ones(2, np.float32), "w")],
    )
    findings = check_structure(model, "onnxruntime:cpu")
    assert "unused-initializer" not in _codes(findings) and "dangling-tensor" not in _codes(findings)


def test_dynamic_and_unknown_dims_are_reported():
    x = _vi("x", ["batch", 3])
    u = helper.make_tensor_value_info("u", F, [None, 3])
    model = _model([helper.make_node("Add", ["x", "u"], ["y"], name="add")], [x, u], [_vi("y", ["batch", 3])])
    findings = check_structure(model)
    dyn = [f for f in findings if f.code == "dynamic-dim"]
    unknown = [f for f in findings if f.code == "unknown-dim"]
    assert dyn and dyn[0].severity == "info" and dyn[0].tensor == "x" and "'batch'" in dyn[0].message
    assert unknown and unknown[0].severity == "warning" and unknown[0].tensor == "u"


def test_strict_shape_inference_catches_type_mismatch():
    model = _model([helper.make_node("Add", ["x", "x"], ["y"], name="add0")], [_vi("x", [2])],
                   [_vi("y", [2], TensorProto.INT64)])
    findings = check_structure(model)
    err = [f for f in findings if f.code == "shape-inference"]
    assert err and err[0].severity == "error" and err[0].node == "add0"


def _ort_loads(model: Model) -> bool:
    import onnxruntime as ort

    try:
        ort.InferenceSession(model.onnx.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception:
        return False
    return True


def test_op_missing_from_onnxruntime_is_reported_and_ort_agrees():
    node = helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example", name="frob")
    graph = helper.make_graph([node], "g", [_vi("x", [2])], [_vi("y", [2])])
    model = Model(onnx=helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                               helper.make_opsetid("com.example", 1)]))
    findings = [f for f in check_structure(model, "onnxruntime:cpu") if f.code == "unsupported-op"]
    assert findings and findings[0].node == "frob" and findings[0].severity == "error"
    assert not _ort_loads(model)


def test_type_without_ort_cpu_kernel_is_reported_and_ort_agrees():
    # Relu-14 on CPU has float, double, int8 and int32 kernels, not int64.
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="relu64")], [_vi("x", [2], TensorProto.INT64)],
                   [_vi("y", [2], TensorProto.INT64)])
    findings = [f for f in check_structure(model, "onnxruntime:cpu") if f.code == "unsupported-op"]
    assert findings and findings[0].node == "relu64" and "int64" in findings[0].message
    assert not _ort_loads(model)
    ok = _model([helper.make_node("Relu", ["x"], ["y"], name="relu32")], [_vi("x", [2], TensorProto.INT32)],
                [_vi("y", [2], TensorProto.INT32)])
    assert "unsupported-op" not in _codes(check_structure(ok, "onnxruntime:cpu"))
    assert _ort_loads(ok)


def test_fp16_on_ort_cpu_is_a_fallback_warning_and_ort_runs_it():
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv16")],
                   [_vi("x", [1, 1, 4, 4], TensorProto.FLOAT16)], [_vi("y", [1, 1, 4, 4], TensorProto.FLOAT16)],
                   initializer=[numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float16), "w")])
    findings = check_structure(model, "onnxruntime:cpu")
    assert "fp16-fallback" in _codes(findings, "warning") and "unsupported-op" not in _codes(findings)
    assert _ort_loads(model)


def test_reference_target_reports_ops_it_does_not_implement():
    node = helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example", name="frob")
    graph = helper.make_graph([node], "g", [_vi("x", [2])], [_vi("y", [2])])
    model = Model(onnx=helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                               helper.make_opsetid("com.example", 1)]))
    assert "unsupported-op" in _codes(check_structure(model, "reference"), "error")


@pytest.mark.parametrize("name", ["lenet5", "mlp_bn_dropout", "tiny_transformer", "mobilenetv2_small"])
def test_mindspore_exported_fixtures_have_no_errors(name):
    from tests_helpers import fixture_by_name

    fx = fixture_by_name(name)
    model = Model(onnx=onnx.load(str(fx.onnx)))
    for target in ("onnxruntime:cpu", "reference"):
        errors = [str(f) for f in check_structure(model, target) if f.severity == "error"]
        assert errors == []
    assert _ort_loads(model)
