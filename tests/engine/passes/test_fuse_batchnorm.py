"""BatchNorm folding: grouped/depthwise convs, no bias, epsilon, Gemm/MatMul, shared weights."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from engine.passes import get_pass
from tests.engine.passes.conftest import load_fixture, make, ops

RNG = np.random.default_rng(7)


def _bn_inits(c: int, prefix: str = "bn") -> dict:
    return {f"{prefix}_g": RNG.uniform(0.5, 2, c).astype(np.float32), f"{prefix}_b": RNG.standard_normal(c).astype(np.float32),
            f"{prefix}_m": RNG.standard_normal(c).astype(np.float32), f"{prefix}_v": RNG.uniform(0.01, 2, c).astype(np.float32)}


def _bn(src: str, out: str, prefix: str = "bn", eps: float = 1e-3):
    return helper.make_node("BatchNormalization", [src, f"{prefix}_g", f"{prefix}_b", f"{prefix}_m", f"{prefix}_v"],
                            [out], epsilon=eps)


@pytest.mark.parametrize("group,bias", [(1, True), (1, False), (2, True), (8, False)])
def test_conv_groups_bias_epsilon(peer, group, bias):
    c = 8
    w = RNG.standard_normal((c, c // group, 3, 3)).astype(np.float32)
    inits = {"w": w, **_bn_inits(c)}
    conv_in = ["x", "w"]
    if bias:
        inits["b"] = RNG.standard_normal(c).astype(np.float32)
        conv_in.append("b")
    nodes = [helper.make_node("Conv", conv_in, ["c"], group=group, pads=[1, 1, 1, 1]), _bn("c", "y", eps=0.1)]
    model = make(nodes, [("x", [1, c, 6, 6])], [("y", [1, c, 6, 6])], inits)
    result = get_pass("fuse_batchnorm").call(model)
    assert result.modified and ops(result.model) == ["Conv"]
    conv = result.model.graph.node[0]
    assert len(conv.input) == 3 and [a.i for a in conv.attribute if a.name == "group"] == [group]
    peer.same(model, result.model)


def test_conv_read_elsewhere_is_not_folded(peer):
    inits = {"w": RNG.standard_normal((4, 4, 1, 1)).astype(np.float32), **_bn_inits(4)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), _bn("c", "y"), helper.make_node("Relu", ["c"], ["z"])]
    model = make(nodes, [("x", [1, 4, 3, 3])], [("y", [1, 4, 3, 3]), ("z", [1, 4, 3, 3])], inits)
    result = get_pass("fuse_batchnorm").call(model)
    assert not result.modified and "BatchNormalization" in ops(result.model)


def test_shared_weight_is_copied_not_edited(peer):
    inits = {"w": RNG.standard_normal((4, 4, 1, 1)).astype(np.float32), **_bn_inits(4)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), _bn("c", "y"), helper.make_node("Conv", ["x", "w"], ["z"])]
    model = make(nodes, [("x", [1, 4, 3, 3])], [("y", [1, 4, 3, 3]), ("z", [1, 4, 3, 3])], inits)
    result = get_pass("fuse_batchnorm").call(model)
    assert result.modified and "BatchNormalization" not in ops(result.model)
    peer.same(model, result.model)


@pytest.mark.parametrize("trans_b,beta,with_c", [(1, 1.0, True), (0, 0.5, True), (0, 1.0, False)])
def test_gemm(peer, trans_b, beta, with_c):
    b = RNG.standard_normal((6, 5) if trans_b else (5, 6)).astype(np.float32)
    inits = {"B": b, **_bn_inits(6)}
    gin = ["x", "B"]
    if with_c:
        inits["C"] = RNG.standard_normal(6).astype(np.float32)
        gin.append("C")
    nodes = [helper.make_node("Gemm", gin, ["g"], transB=trans_b, beta=beta), _bn("g", "y")]
    model = make(nodes, [("x", [3, 5])], [("y", [3, 6])], inits)
    result = get_pass("fuse_batchnorm").call(model)
    assert ops(result.model) == ["Gemm"]
    peer.same(model, result.model)


def test_matmul_add_and_bare_matmul(peer):
    inits = {"W": RNG.standard_normal((5, 6)).astype(np.float32), "b": RNG.standard_normal(6).astype(np.float32),
             **_bn_inits(6), **_bn_inits(6, "bn2"), "W2": RNG.standard_normal((6, 6)).astype(np.float32)}
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]), _bn("a", "h"),
             helper.make_node("MatMul", ["h", "W2"], ["m2"]), _bn("m2", "y", "bn2")]
    model = make(nodes, [("x", [3, 5])], [("y", [3, 6])], inits)
    result = get_pass("fuse_batchnorm").call(model)
    assert "BatchNormalization" not in ops(result.model)
    peer.same(model, result.model)


def test_mindspore_batchnorm1d_through_reshape(peer):
    model = get_pass("constant_folding").call(load_fixture("mlp_bn_dropout")).model
    result = get_pass("fuse_batchnorm").call(model)
    assert "BatchNormalization" not in ops(result.model)
    peer.same(model, result.model)
    tidy = get_pass("shape_simplify").call(result.model).model
    assert sorted(set(ops(tidy))) == ["Gemm", "Relu"]
    peer.same(model, tidy)


def test_mobilenetv2_depthwise(peer):
    model = load_fixture("mobilenetv2_small")
    result = get_pass("fuse_batchnorm").call(model)
    assert ops(model).count("BatchNormalization") == 52 and "BatchNormalization" not in ops(result.model)
    assert any(a.name == "group" and a.i > 1 for n in result.model.graph.node for a in n.attribute)
    peer.same(model, result.model)
