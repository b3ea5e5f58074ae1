"""First divergent node: a perturbed weight is traced to the node that reads it, on ORT and the reference evaluator."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from engine.errors import InputError
from engine.model import Model
from engine.validate import find_first_divergence
from tests_helpers import fixture_by_name


def perturb(proto: onnx.ModelProto, weight: str, scale: float = 1.5) -> onnx.ModelProto:
    """A copy of ``proto`` with initializer ``weight`` scaled."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    tensor = next(t for t in out.graph.initializer if t.name == weight)
    tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * scale, weight))
    return out


def consumer(proto: onnx.ModelProto, weight: str) -> onnx.NodeProto:
    return next(n for n in proto.graph.node if weight in n.input)


def _feeds(fx):
    proto = onnx.load(str(fx.onnx))
    return proto, {proto.graph.input[0].name: fx.inputs()[0]}


@pytest.mark.parametrize("target", ["onnxruntime:cpu", "reference"])
@pytest.mark.parametrize("weight", ["conv1.weight", "conv2.weight", "fc2.weight", "fc3.bias"])
def test_lenet5_perturbed_weight_is_found(target, weight):
    proto, feeds = _feeds(fixture_by_name("lenet5"))
    bad = perturb(proto, weight)
    found = find_first_divergence(Model(onnx=proto), Model(onnx=bad), feeds, reference_target=target)
    node = consumer(proto, weight)
    assert found is not None
    assert (found.node, found.op_type, found.output) == (node.name, node.op_type, node.output[0])
    assert found.span == 1 and found.inputs_agree is not False
    # The reported error is the real one (differential against a direct ORT run of that tensor).
    import onnxruntime as ort

    def value(model):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        m.graph.output.append(onnx.ValueInfoProto(name=node.output[0]))
        return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            [node.output[0]], feeds)[0]

    assert found.max_abs == pytest.approx(float(np.abs(value(proto) - value(bad)).max()), rel=1e-3)


def test_mobilenet_bisects_in_few_runs_with_bounded_tensors():
    proto, feeds = _feeds(fixture_by_name("mobilenetv2_small"))
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    target_node = convs[len(convs) // 2]
    bad = perturb(proto, target_node.input[1])
    found = find_first_divergence(Model(onnx=proto), Model(onnx=bad), feeds, max_tensors=4)
    assert found is not None and found.node == target_node.name and found.op_type == "Conv"
    assert found.span == 1
    # Bisection, not a node-by-node scan: far fewer runs than nodes.
    assert found.runs <= 6 < len(proto.graph.node) // 10


def test_identical_models_have_no_divergence():
    proto, feeds = _feeds(fixture_by_name("lenet5"))
    assert find_first_divergence(Model(onnx=proto), None, feeds, reference_target="onnxruntime:cpu",
                                 candidate_target="reference") is None


def test_tolerance_is_respected():
    proto, feeds = _feeds(fixture_by_name("lenet5"))
    bad = perturb(proto, "conv2.weight", scale=1.0 + 1e-7)
    assert find_first_divergence(Model(onnx=proto), Model(onnx=bad), feeds) is None
    found = find_first_divergence(Model(onnx=proto), Model(onnx=perturb(proto, "conv2.weight", 1.01)), feeds,
                                  rtol=0.0, atol=1e-4)
    assert found is not None and found.node == "4Conv" and found.atol == 1e-4


def test_graphs_without_shared_names_are_refused():
    proto, feeds = _feeds(fixture_by_name("lenet5"))
    renamed = onnx.ModelProto()
    renamed.CopyFrom(proto)
    for node in renamed.graph.node:
        node.output[0] = "other_" + node.output[0]
        node.input[0] = node.input[0] if node.input[0] == "x" else "other_" + node.input[0]
    with pytest.raises(InputError, match="share no intermediate"):
        find_first_divergence(Model(onnx=proto), Model(onnx=renamed), feeds)


def test_marking_outputs_leaves_the_model_unchanged():
    proto, feeds = _feeds(fixture_by_name("lenet5"))
    before = proto.SerializeToString()
    find_first_divergence(Model(onnx=proto), Model(onnx=perturb(proto, "fc1.weight")), feeds)
    assert proto.SerializeToString() == before
