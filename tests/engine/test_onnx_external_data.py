"""ONNX external data: saved beside the model, refused when it points outside, and past 2 GB."""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine import formats
from engine.errors import FormatError
from engine.formats import onnx_format


def _matmul_model(weight: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, weight.shape[1]])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _point_external(tensor: onnx.TensorProto, location: str, length: int) -> None:
    tensor.ClearField("raw_data")
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        tensor.external_data.add(key=key, value=value)
    tensor.data_location = TensorProto.EXTERNAL


def test_external_data_round_trip(tmp_path):
    weight = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    path = tmp_path / "m.onnx"
    onnx_format.save_proto(_matmul_model(weight), path, external=True)
    assert (tmp_path / "m.onnx.data").stat().st_size >= weight.nbytes
    assert path.stat().st_size < weight.nbytes  # the weights really went out
    model = formats.load(path)
    got = numpy_helper.to_array(model.onnx.graph.initializer[0])
    np.testing.assert_array_equal(got, weight)
    x = np.ones((1, 64), np.float32)
    y = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, x @ weight, rtol=1e-5)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin"])
def test_external_data_outside_the_models_folder_is_refused(tmp_path, location):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(b"\0" * 1024)
    model = _matmul_model(np.zeros((16, 16), np.float32))
    _point_external(model.graph.initializer[0], location, 1024)
    path = folder / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(FormatError, match="outside the model's folder"):
        formats.load(path)


def test_missing_external_data_file_is_named(tmp_path):
    model = _matmul_model(np.zeros((16, 16), np.float32))
    _point_external(model.graph.initializer[0], "gone.bin", 1024)
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(FormatError, match="'gone.bin'.*missing"):
        formats.load(tmp_path / "m.onnx")


@pytest.mark.slow
def test_model_over_2gb_loads_and_saves(tmp_path):
    """A 2.3 GB weight, past protobuf's 2 GiB message limit, loads, saves (external data) and reloads.

    The source weight is a sparse file, so the disk barely notices it.
    """
    rows, cols = 2, (2_300_000_000 // 4) // 2
    model = _matmul_model(np.zeros((1, 1), np.float32))
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = rows
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = cols
    tensor = model.graph.initializer[0]
    del tensor.dims[:]
    tensor.dims.extend([rows, cols])
    nbytes = rows * cols * 4
    data = tmp_path / "big.bin"
    with data.open("wb") as fh:
        fh.truncate(nbytes)
    _point_external(tensor, "big.bin", nbytes)
    src = tmp_path / "big.onnx"
    src.write_bytes(model.SerializeToString())
    loaded = formats.load(src)
    assert loaded.onnx.graph.initializer[0].data_location == TensorProto.DEFAULT
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    formats.save(loaded, out_dir / "copy.onnx")
    del loaded
    assert (out_dir / "copy.onnx.data").stat().st_size >= nbytes
    again = formats.load(out_dir / "copy.onnx")
    tensor = again.onnx.graph.initializer[0]
    assert list(tensor.dims) == [rows, cols] and len(tensor.raw_data) == nbytes
    os.remove(out_dir / "copy.onnx.data")
