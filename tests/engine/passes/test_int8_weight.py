"""Weight-only int8: size at most 30% of fp32 and cosine >= 0.99 on the fixture inputs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from engine.optimize.presets import preset_passes
from engine.passes import get_pass
from engine.passes.int8_weight import quantize_symmetric
from tests.conftest import fixture_by_name
from tests.engine.passes.conftest import make


@pytest.mark.parametrize("name", ["lenet5", "mobilenetv2_small", "tiny_transformer", "resnet18"])
def test_size_and_cosine_targets(peer, name):
    import onnx

    fx = fixture_by_name(name)
    model = onnx.load(str(fx.onnx))
    out = model
    for p in preset_passes("int8-weight"):
        out = get_pass(p).call(out).model
    ratio = out.ByteSize() / model.ByteSize()
    feeds = {fx.meta["inputs"][0]["onnx_name"]: fx.inputs()[0]}
    cos = peer.cosine(model, out, feeds)
    assert ratio <= 0.30, f"{name}: int8-weight is {ratio:.1%} of fp32"
    assert cos >= 0.99, f"{name}: cosine {cos:.5f}"
    assert any(n.op_type == "DequantizeLinear" for n in out.graph.node)


def test_per_channel_axis_follows_reader(peer):
    rng = np.random.default_rng(0)
    b = rng.standard_normal((32, 16)).astype(np.float32) * np.linspace(0.01, 10, 16, dtype=np.float32)
    model = make([helper.make_node("Gemm", ["x", "B"], ["y"])], [("x", [2, 32])], [("y", [2, 16])], {"B": b})
    out = get_pass("int8_weight").call(model).model
    dq = next(n for n in out.graph.node if n.op_type == "DequantizeLinear")
    assert [a.i for a in dq.attribute if a.name == "axis"] == [1]  # Gemm B without transB: columns
    scale = next(numpy_helper.to_array(t) for t in out.graph.initializer if t.name == dq.input[1])
    assert scale.shape == (16,)
    # Columns differ 1000x in scale: per-channel keeps the small ones, per-tensor does not.
    feeds = peer.feeds(model)
    ref = peer.run(model, feeds)[0]
    err_channel = np.abs(peer.run(out, feeds)[0] - ref)[:, 0].max()
    per_tensor = get_pass("int8_weight", per_channel=False).call(model).model
    err_tensor = np.abs(peer.run(per_tensor, feeds)[0] - ref)[:, 0].max()
    assert err_channel < err_tensor / 10
    assert peer.cosine(model, out, feeds) >= 0.999


def test_quantize_symmetric_roundtrip():
    w = np.random.default_rng(1).standard_normal((8, 3, 3, 3)).astype(np.float32)
    q, s = quantize_symmetric(w, 0)
    assert q.dtype == np.int8 and np.abs(q).max() <= 127
    np.testing.assert_allclose(q * s.reshape(-1, 1, 1, 1), w, atol=float(s.max()) / 2 + 1e-7)
