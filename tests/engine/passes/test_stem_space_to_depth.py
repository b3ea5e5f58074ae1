"""Stem space-to-depth: kernel sizes, pads, auto_pad, bias; what it must leave alone."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from engine.passes import get_pass
from tests.engine.passes.conftest import make, ops

RNG = np.random.default_rng(11)


def _conv_model(c=3, k=7, size=(16, 16), bias=True, m=16, **attrs):
    inits = {"w": RNG.standard_normal((m, c, k, k)).astype(np.float32)}
    inputs = ["x", "w"]
    if bias:
        inits["b"] = RNG.standard_normal(m).astype(np.float32)
        inputs.append("b")
    attrs.setdefault("strides", [2, 2])
    node = helper.make_node("Conv", inputs, ["y"], name="stem", **attrs)
    return make([node], [("x", [1, c, *size])], [("y", ["d0", "d1", "d2", "d3"])], inits)


@pytest.mark.parametrize("c,k,attrs", [
    (3, 7, {"pads": [3, 3, 3, 3]}),          # ResNet stem
    (3, 3, {"pads": [1, 1, 1, 1]}),
    (1, 3, {"pads": [0, 0, 0, 0]}),
    (3, 5, {"pads": [2, 1, 1, 2]}),          # asymmetric
    (3, 4, {"pads": [1, 1, 1, 1]}),          # even kernel
    (3, 3, {"auto_pad": "SAME_UPPER"}),      # MobileNetV2 stem as MindSpore exports it
    (2, 3, {"auto_pad": "SAME_LOWER"}),
    (3, 3, {"auto_pad": "VALID"}),
])
def test_rewrite_matches_onnxruntime(peer, c, k, attrs):
    model = _conv_model(c=c, k=k, size=(18, 14), bias=c != 2, **attrs)
    result = get_pass("stem_space_to_depth").call(model)
    assert result.modified and ops(result.model) == ["SpaceToDepth", "Conv"]
    conv = result.model.graph.node[1]
    assert [a.ints for a in conv.attribute if a.name == "strides"] == [[1, 1]]
    peer.same(model, result.model, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kwargs", [
    {"c": 4},                                   # enough channels already
    {"size": (15, 16)},                         # odd height
    {"strides": [1, 1]},
    {"strides": [2, 2], "dilations": [2, 2]},
    {"strides": [2, 2], "group": 3},
])
def test_left_alone(kwargs):
    kw = dict(kwargs)
    c = kw.pop("c", 3)
    size = kw.pop("size", (16, 16))
    if kw.get("group"):
        model = _conv_model(c=c, k=3, size=size, m=3, **kw)
        model.graph.initializer[0].dims[1] = 1
        model.graph.initializer[0].raw_data = RNG.standard_normal((3, 1, 3, 3)).astype(np.float32).tobytes()
    else:
        model = _conv_model(c=c, k=3, size=size, pads=[1, 1, 1, 1], **kw)
    assert not get_pass("stem_space_to_depth").call(model).modified


def test_dynamic_spatial_dims_left_alone():
    model = _conv_model(k=3, pads=[1, 1, 1, 1])
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "h", "w"
    assert not get_pass("stem_space_to_depth").call(model).modified
