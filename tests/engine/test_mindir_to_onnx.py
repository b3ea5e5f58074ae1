"""MindIR -> ONNX conversion against MindSpore's own outputs on every shared fixture."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from engine import formats
from engine.convert import convert


def run_ort(model: onnx.ModelProto, inputs: list[np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
    return session.run(None, feeds)


def assert_matches_mindspore(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(actual) == len(expected)
    for y, e in zip(actual, expected):
        assert y.shape == e.shape and y.dtype == e.dtype
        tolerance = 1e-4 * max(1.0, float(np.abs(e).max()))
        assert float(np.abs(y - e).max()) <= tolerance


def test_converted_onnx_passes_full_check_and_matches_mindspore(ms_fixture, tmp_path):
    out = tmp_path / "model.onnx"
    result = convert(ms_fixture.mindir, out)
    assert result.format == "onnx" and result.source_format == "mindir"
    written = onnx.load(str(out))
    onnx.checker.check_model(written, full_check=True)
    assert_matches_mindspore(run_ort(written, ms_fixture.inputs()), ms_fixture.expected())


def test_source_graph_is_kept_as_the_file_has_it(ms_fixture):
    model = formats.load(ms_fixture.mindir)
    meta = ms_fixture.meta["mindir"]
    counts: dict[str, int] = {}
    for node in model.source_nodes:
        if node.op_type != "Constant":
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    assert counts == meta["op_counts"]
    conv = next((n for n in model.source_nodes if n.op_type == "Conv2D"), None)
    if conv is not None:
        assert "kernel_size" in conv.attributes and conv.scope.startswith("Default/")


def test_parameters_keep_checkpoint_names(ms_fixture):
    model = formats.load(ms_fixture.mindir)
    names = json.loads(model.metadata["parameters"])
    assert names == ms_fixture.meta["param_names"][: len(names)] or set(ms_fixture.meta["param_names"]) <= set(names)
    inits = {t.name for t in model.onnx.graph.initializer}
    assert set(names) <= inits


def test_inputs_keep_mindspore_names_and_types(ms_fixture):
    model = formats.load(ms_fixture.mindir)
    graph_inputs = [i for i in model.onnx.graph.input]
    meta_inputs = ms_fixture.meta["inputs"]
    assert [i.name for i in graph_inputs] == [m["onnx_name"] for m in meta_inputs]
    for value, meta in zip(graph_inputs, meta_inputs):
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        assert dims == meta["shape"]
        assert onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type) == np.dtype(meta["dtype"])


def test_tiny_transformer_converts_although_mindspore_could_not_export_it_cleanly():
    from tests_helpers import fixture_or_skip

    fx = fixture_or_skip("tiny_transformer")
    model = formats.load(fx.mindir)
    ops = {n.op_type for n in model.onnx.graph.node}
    assert {"LayerNormalization", "Gather", "Softmax", "Tanh"} <= ops
    assert_matches_mindspore(run_ort(model.onnx, fx.inputs()), fx.expected())


@pytest.mark.parametrize("name", ["lenet5", "mobilenetv2_small"])
def test_reference_evaluator_agrees(name):
    """ONNX's own reference evaluator, independent of ORT, gets MindSpore's numbers too."""
    from onnx.reference import ReferenceEvaluator
    from tests_helpers import fixture_or_skip

    fx = fixture_or_skip(name)
    model = formats.load(fx.mindir)
    evaluator = ReferenceEvaluator(model.onnx)
    inputs = fx.inputs()
    outputs = evaluator.run(None, {model.onnx.graph.input[0].name: inputs[0]})
    assert_matches_mindspore(outputs, fx.expected())
