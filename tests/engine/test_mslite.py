"""MindSpore Lite .ms reader: files written by Lite's converter (scripts/make_ms_fixture.py), and broken ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from engine import formats
from engine.errors import FormatError, UnsupportedOpError

DATA = Path(__file__).resolve().parents[1] / "data"
LENET_MS = DATA / "mslite" / "lenet5.ms"
LENET_INT8 = DATA / "mslite" / "lenet5_int8.ms"
LENET_ONNX = DATA / "mindspore" / "lenet5" / "model.onnx"


def _onnx_weights() -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(LENET_ONNX)).graph.initializer}


def test_lenet5_opens_with_its_nine_lite_nodes():
    model = formats.load(LENET_MS)
    assert model.source_format == "mslite" and model.is_graph and not model.is_lowered
    ops = [n.op_type for n in model.source_nodes]
    assert ops == ["Conv2DFusion", "MaxPoolFusion", "Conv2DFusion", "MaxPoolFusion", "Transpose", "Flatten",
                   "MatMulFusion", "MatMulFusion", "MatMulFusion"]
    # Lite fused each ReLU into the op before it; the last Gemm has none.
    acts = [n.attributes.get("activation_type") for n in model.source_nodes]
    assert acts == ["RELU", None, "RELU", None, None, None, "RELU", "RELU", None]
    conv1 = model.source_nodes[0]
    assert conv1.attributes["kernel_size"] == [5, 5] and conv1.attributes["out_channel"] == 6
    assert conv1.inputs == ["x", "conv1.weight", "conv1.bias"]
    inputs, outputs = model.io_specs()
    assert [(s.name, s.shape) for s in inputs] == [("x", (1, 32, 32, 1))]  # Lite's default: NHWC
    assert [s.shape for s in outputs] == [(1, 10)]
    assert "ONNX" in model.metadata["producer"]


def test_lenet5_weights_are_the_onnx_weights():
    """Lite stores conv kernels as KHWC; the values are MindSpore's, bit for bit."""
    params = formats.load(LENET_MS).params
    ref = _onnx_weights()
    for name, want in ref.items():
        got = params[name]
        if got.ndim == 4:
            got = got.transpose(0, 3, 1, 2)
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_int8_weights_carry_per_channel_quant_params():
    from engine.formats.mslite import reader

    graph = reader.read(LENET_INT8.read_bytes(), LENET_INT8)
    fc1 = next(t for t in graph.tensors if t.name == "fc1.weight")
    q = fc1.array()
    assert q.dtype == np.int8 and q.shape == (120, 400) and len(fc1.quant_params) == 120
    scale = np.array([p.scale for p in fc1.quant_params])[:, None]
    zero = np.array([p.zero_point for p in fc1.quant_params])[:, None]
    error = np.abs((q - zero) * scale - _onnx_weights()["fc1.weight"])
    assert (error <= scale / 2 + 1e-9).all()
    model = formats.load(LENET_INT8)
    assert "fc1.weight (int8, 120 scales)" in model.metadata["quantized"]
    gemm = next(n for n in model.source_nodes if "fc1.weight" in n.inputs)
    assert gemm.attributes["quant fc1.weight"].startswith("int8 scale=")


def test_lite_1x_header_is_refused_by_name(tmp_path):
    data = bytearray(LENET_MS.read_bytes())
    data[4:8] = b"MSL1"
    path = tmp_path / "old.ms"
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=r"MindSpore Lite 1\.x model \(identifier MSL1\).*deprecated"):
        formats.load(path)


@pytest.mark.parametrize("cut", [12, 1000, 120_000])
def test_truncated_file_is_a_format_error(tmp_path, cut):
    path = tmp_path / "cut.ms"
    path.write_bytes(LENET_MS.read_bytes()[:cut])
    with pytest.raises(FormatError, match="cut.ms"):
        formats.load(path)


def test_onnx_targets_refuse_a_ms_file_saying_why():
    from engine.backends import open_session

    with pytest.raises(UnsupportedOpError, match="Conv2DFusion.*mindspore-lite:cpu"):
        open_session(formats.load(LENET_MS), "onnxruntime:cpu")


def test_air_file_is_recognised_and_refused(tmp_path):
    from engine.formats.protowire import encode_varint

    def field(number: int, wire: int, payload: bytes) -> bytes:
        return encode_varint(number << 3 | wire) + payload

    body = field(1, 2, encode_varint(3) + b"net") + field(2, 0, encode_varint(1)) + field(7, 2, encode_varint(2) + b"\x0a\x00")
    path = tmp_path / "net.air"
    path.write_bytes(body)
    assert formats.detect(path).name == "air"
    with pytest.raises(FormatError, match="Ascend AIR model.*Ascend host"):
        formats.load(path)


def test_precision_is_for_ms_output_only(tmp_path, capsys):
    from engine.cli import main

    assert main(["convert", str(LENET_ONNX), "-o", str(tmp_path / "x.onnx"), "--precision", "int8"]) != 0
    assert "--precision applies to .ms output" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_graph_view_shows_fused_activations():
    from engine.graphview import build_display_graph

    graph = build_display_graph(formats.load(LENET_MS), "source")
    labels = [n.label for n in graph.nodes if n.kind == "op"]
    assert labels.count("Conv2DFusion + RELU") == 2 and labels.count("MatMulFusion + RELU") == 2
    assert "MatMulFusion" in labels  # the last Gemm has no activation
    conv = next(n for n in graph.nodes if n.label.startswith("Conv2DFusion"))
    assert [w.name for w in conv.weights] == ["conv1.weight", "conv1.bias"]


def test_refusal_names_lite_ops_and_the_lite_target():
    from engine.errors import UnsupportedOpError

    with pytest.raises(UnsupportedOpError, match=r"5 MindSpore Lite ops in ONNX: Conv2DFusion \(2 nodes, first 1Conv\)") as info:
        formats.load(LENET_MS).require_graph()
    assert "mindspore-lite:cpu runs the .ms itself" in str(info.value.hint)
