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
