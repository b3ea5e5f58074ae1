"""Fixing and freeing dims, with shape inference re-run."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engine.errors import EngineError
from engine.passes import get_pass
from tests.engine.passes.conftest import load_fixture, make


def _dynamic():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "seq", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "seq", 4])
    stale = helper.make_tensor_value_info("r", TensorProto.FLOAT, ["N", "seq", 4])
    return make([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Neg", ["r"], ["y"])], [x], [y],
                value_info=[stale])


def _dims(model, name):
    for vi in (*model.graph.value_info, *model.graph.output, *model.graph.input):
        if vi.name == name:
            return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]
    return None


def test_fix_batch_and_named_dim_reinfers(peer):
    result = get_pass("fix_shapes", batch=3, dims={"seq": 7}).call(_dynamic())
    assert result.modified
    assert _dims(result.model, "x") == [3, 7, 4]
    assert _dims(result.model, "r") == [3, 7, 4]  # intermediate re-inferred, not stale
    assert _dims(result.model, "y") == [3, 7, 4]
    feeds = {"x": np.ones((3, 7, 4), np.float32)}
    np.testing.assert_array_equal(peer.run(result.model, feeds)[0], -feeds["x"])


def test_unknown_dim_name_is_an_error():
    with pytest.raises(EngineError, match="no input dimension named"):
        get_pass("fix_shapes", dims={"nope": 2}).call(_dynamic())


def test_dynamic_batch_runs_other_batches(peer):
    model = load_fixture("mobilenetv2_small")
    result = get_pass("fix_shapes", dynamic_batch=True).call(model)
    assert _dims(result.model, "x")[0] == "batch"
    onnx.checker.check_model(result.model)
    feeds = peer.feeds(model)
    x3 = np.concatenate([feeds["x"]] * 3)
    out3 = peer.run(result.model, {"x": x3})[0]
    ref = peer.run(model, feeds)[0]
    assert out3.shape[0] == 3
    np.testing.assert_allclose(out3[2:3], ref, rtol=1e-4, atol=1e-5)


def test_contradiction_is_reported():
    # A constant of batch 2 broadcasts with batch 1, not with batch 4.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6])
    model = make([helper.make_node("Add", ["x", "c"], ["y"])], [x], [y], {"c": np.ones((2, 6), np.float32)})
    with pytest.raises(EngineError, match="contradict"):
        get_pass("fix_shapes", batch=4).call(model)
