"""float16 conversion: fp32 I/O kept, sensitive ops kept in fp32, outputs within fp16 tolerance."""

from __future__ import annotations

import onnx
import pytest

from engine.passes import get_pass
from tests.engine.passes.conftest import load_fixture


@pytest.mark.parametrize("name", ["lenet5", "tiny_transformer"])
def test_fixture_within_fp16_tolerance(peer, name):
    model = load_fixture(name)
    result = get_pass("fp16").call(model)
    got = result.model
    assert all(i.type.tensor_type.elem_type == model.graph.input[k].type.tensor_type.elem_type
               for k, i in enumerate(got.graph.input))
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for o in got.graph.output)
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in got.graph.initializer)
    assert got.ByteSize() < model.ByteSize()
    peer.same(model, got, rtol=1e-2, atol=1e-2)


def test_softmax_stays_float32():
    model = load_fixture("tiny_transformer")
    got = onnx.shape_inference.infer_shapes(get_pass("fp16").call(model).model)
    types = {v.name: v.type.tensor_type.elem_type for v in got.graph.value_info}
    softmax = [n for n in got.graph.node if n.op_type == "Softmax"]
    assert softmax and all(types.get(n.output[0]) == onnx.TensorProto.FLOAT for n in softmax)
    gemm_out = [types.get(n.output[0]) for n in got.graph.node if n.op_type == "Gemm"]
    assert onnx.TensorProto.FLOAT16 in gemm_out


def test_keep_sensitive_off_converts_softmax():
    model = load_fixture("tiny_transformer")
    got = onnx.shape_inference.infer_shapes(get_pass("fp16", keep_sensitive=False).call(model).model)
    types = {v.name: v.type.tensor_type.elem_type for v in got.graph.value_info}
    assert any(types.get(n.output[0]) == onnx.TensorProto.FLOAT16 for n in got.graph.node if n.op_type == "Softmax")


@pytest.mark.parametrize("name", ["lenet5", "mobilenetv2_small"])
def test_result_is_topologically_sorted_and_reopens(tmp_path, name):
    """ORT's converter appends input Casts last; the pass must leave a graph onnx.load accepts."""
    from engine import formats
    from engine.model import Model

    result = get_pass("fp16").call(load_fixture(name))
    onnx.checker.check_model(result.model)  # raises on out-of-order nodes
    path = tmp_path / "fp16.onnx"
    formats.save(Model(onnx=result.model), path)
    assert formats.load(path).onnx.graph.node


def test_topological_sort_orders_appended_nodes():
    from onnx import TensorProto, helper

    from engine.passes._graph import topological_sort

    graph = helper.make_graph(
        [helper.make_node("Relu", ["c"], ["y"], name="late"), helper.make_node("Cast", ["x"], ["c"], to=1, name="cast")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    assert topological_sort(graph) is True
    assert [n.name for n in graph.node] == ["cast", "late"]
    assert topological_sort(graph) is False
