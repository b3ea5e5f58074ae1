"""Dynamic int8 via onnxruntime.quantization: integer MatMuls, cosine >= 0.99, and the gate refusing failures.

ONNX Runtime's u8s8 kernels differ by instruction set: without VNNI, pairs of u8 x s8
products are summed in saturating 16-bit lanes, so full-range int8 weights can clip
(tiny_transformer: cosine 0.85 on such a CPU, 0.9999 with VNNI). The accuracy test pins
``reduce_range`` (7-bit weights: 2 x 255 x 64 < 2^15, nothing saturates on any x86-64),
and the full-range behaviour is tested through what matters on every CPU: the parity
gate's decision agrees with the measured cosine, and a model whose int8 parity fails is
refused by the ``int8-dynamic`` preset and by ``auto``.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.model import Model
from engine.passes import get_pass
from engine.passes.quantize_dynamic import QuantizeDynamic
from tests.engine.passes.conftest import load_fixture, ops


@pytest.mark.parametrize("name", ["mlp_bn_dropout", "tiny_transformer"])
def test_quantizes_gemms(peer, name):
    model = load_fixture(name)
    result = QuantizeDynamic(reduce_range=True).call(model)
    assert result.modified
    assert "MatMulInteger" in ops(result.model) and "Gemm" not in ops(result.model)
    assert peer.cosine(model, result.model) >= 0.99


def test_full_range_is_judged_by_the_gate(peer):
    """Whatever this CPU's kernels give, the gate keeps full-range int8 exactly when its cosine holds."""
    from engine.optimize.gate import MIN_COSINE, Gate

    model = load_fixture("tiny_transformer")
    result = get_pass("quantize_dynamic").call(model)
    assert result.modified and "MatMulInteger" in ops(result.model)
    feeds = peer.feeds(model)
    reference = dict(zip([o.name for o in model.graph.output], peer.run(model, feeds)))
    outputs = dict(zip([o.name for o in result.model.graph.output], peer.run(result.model, feeds)))
    gate = Gate(target="onnxruntime:cpu", feeds=feeds, reference=reference)
    verdict = gate.judge(outputs, "int8")
    assert verdict.passed == (peer.cosine(model, result.model, feeds) >= MIN_COSINE)


def _outlier_model():
    """x[4,16] joined with a constant 1e4 column, then MatMul: dynamic int8 zeroes every real activation.

    The weight row of the outlier column is zero, so the float output depends only on x,
    which one activation scale of ~1e4/255 rounds to nothing: int8 parity fails on any CPU.
    """
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((17, 8)).astype(np.float32)
    weight[16] = 0.0
    graph = helper.make_graph(
        [helper.make_node("Concat", ["x", "outlier"], ["joined"], axis=1),
         helper.make_node("MatMul", ["joined", "w"], ["y"])],
        "outlier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
        [numpy_helper.from_array(np.full((4, 1), 1e4, np.float32), "outlier"), numpy_helper.from_array(weight, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_gate_refuses_int8_that_fails_parity(peer):
    from engine.optimize import optimize

    proto = _outlier_model()
    quantized = get_pass("quantize_dynamic").call(proto)
    assert quantized.modified and peer.cosine(proto, quantized.model) < 0.99  # the premise, on any CPU
    result = optimize(Model(onnx=proto), preset="int8-dynamic", measure_latency=False)
    step = next(s for s in result.steps if s.name == "quantize_dynamic")
    assert not step.kept and not step.parity.passed
    assert "MatMulInteger" not in {n.op_type for n in result.model.onnx.graph.node}


def test_auto_does_not_choose_failing_int8():
    from engine.optimize import optimize

    result = optimize(Model(onnx=_outlier_model()), preset="auto", auto_variants=("int8-dynamic",), iterations=3)
    by_name = {v.name: v for v in result.variants}
    assert not by_name["int8-dynamic"].chosen and by_name["int8-dynamic"].model is None
    assert result.chosen == "plain"
