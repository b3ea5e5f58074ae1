"""A large ONNX file is parsed a graph field at a time and checked without its large weights: same model, same refusals."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine import formats
from engine.errors import FormatError
from engine.formats import onnx_format
from engine.formats.onnx_pieces import checker_copy, load_in_pieces

F = TensorProto.FLOAT


def _model(op: str = "MatMul", opset: int = 17) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((64, 32)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.arange(32, dtype=np.float32), "b")
    nodes = [helper.make_node(op, ["x", "w"], ["h"], name="mm"), helper.make_node("Add", ["h", "b"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, [2, 64])],
                              [helper.make_tensor_value_info("y", F, [2, 32])], initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="pieces")
    helper.set_model_props(model, {"k": "v"})
    return model


def test_pieces_parse_to_the_model_onnx_load_reads(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_model(), path)
    assert load_in_pieces(path) == onnx.load(str(path), load_external_data=False)


def test_a_truncated_file_does_not_parse(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(_model().SerializeToString()[:-100])
    with pytest.raises(Exception):
        load_in_pieces(path)


def test_checker_copy_turns_large_weights_into_inputs():
    light = checker_copy(_model(), max_bytes=1024)
    assert [t.name for t in light.graph.initializer] == ["b"]  # 128 bytes stay; w's 8 KiB do not
    assert [v.name for v in light.graph.input] == ["x", "w"]
    onnx.checker.check_model(light)


@pytest.fixture
def big_threshold(monkeypatch):
    """Every file counts as large, so the piecewise path runs on small test models."""
    monkeypatch.setattr(onnx_format, "CHECK_FROM_PATH", 0)


def test_large_path_loads_the_same_model(tmp_path, big_threshold):
    path = tmp_path / "m.onnx"
    onnx.save(_model(), path)
    assert formats.load(path).onnx == onnx.load(str(path))


def test_large_path_still_refuses_what_the_checker_refuses(tmp_path, big_threshold):
    path = tmp_path / "m.onnx"
    onnx.save(_model(op="Gelu", opset=17), path)  # Gelu joined the default domain at opset 20
    with pytest.raises(FormatError, match="ONNX model is invalid"):
        formats.load(path)


def test_large_path_refuses_a_weight_whose_bytes_do_not_fit(tmp_path, big_threshold):
    model = _model()
    model.graph.initializer[0].raw_data = model.graph.initializer[0].raw_data[:-4]
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(FormatError, match="initializer 'w'"):
        formats.load(path)


def test_large_path_refuses_a_truncated_file_in_one_line(tmp_path, big_threshold):
    path = tmp_path / "m.onnx"
    path.write_bytes(_model().SerializeToString()[:-100])
    with pytest.raises(FormatError, match="not a valid ONNX model") as info:
        formats.load(path)
    assert "\n" not in str(info.value)
