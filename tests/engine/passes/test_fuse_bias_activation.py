"""MatMul+Add -> Gemm and activation fusion into ONNX Runtime's fused kernels."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from engine.passes import get_pass
from tests.engine.passes.conftest import load_fixture, make, ops

RNG = np.random.default_rng(3)


def test_matmul_add_to_gemm(peer):
    inits = {"W": RNG.standard_normal((4, 5)).astype(np.float32), "b": RNG.standard_normal(5).astype(np.float32)}
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Add", ["b", "m"], ["y"])]
    model = make(nodes, [("x", [3, 4])], [("y", [3, 5])], inits)
    result = get_pass("fuse_bias_activation", activations=False).call(model)
    assert ops(result.model) == ["Gemm"]
    peer.same(model, result.model)


def test_3d_matmul_is_left_alone():
    inits = {"W": RNG.standard_normal((4, 5)).astype(np.float32), "b": RNG.standard_normal(5).astype(np.float32)}
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])]
    model = make(nodes, [("x", [2, 3, 4])], [("y", [2, 3, 5])], inits)
    assert not get_pass("fuse_bias_activation", activations=False).call(model).modified


@pytest.mark.parametrize("act,attrs,extra", [("Relu", {}, []), ("LeakyRelu", {"alpha": 0.2}, []),
                                             ("Clip", {}, ["lo", "hi"]), ("Sigmoid", {}, [])])
def test_conv_activation(peer, act, attrs, extra):
    inits = {"w": RNG.standard_normal((4, 3, 3, 3)).astype(np.float32), "b": RNG.standard_normal(4).astype(np.float32),
             "lo": np.array([0.0], np.float32), "hi": np.array(0.5, np.float32)}  # MindIR gives [1]-shaped bounds
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"]), helper.make_node(act, ["c", *extra], ["y"], **attrs)]
    model = make(nodes, [("x", [1, 3, 5, 5])], [("y", [1, 4, 3, 3])], inits)
    result = get_pass("fuse_bias_activation", target="onnxruntime:cpu").call(model)
    assert ops(result.model) == ["FusedConv"]
    peer.same(model, result.model)
    assert not get_pass("fuse_bias_activation", target="reference").call(model).modified


def test_lenet_gemm_relu(peer):
    model = load_fixture("lenet5")
    result = get_pass("fuse_bias_activation").call(model)
    assert "Relu" not in ops(result.model) and "FusedGemm" in ops(result.model)
    peer.same(model, result.model)
