"""Targets: discovery, sessions on ONNX Runtime / the reference evaluator / MindSpore, MAC estimates."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.backends import TargetOptions, list_targets, open_session, parse_target
from engine.errors import InputError, TargetError
from engine.flops import estimate_macs
from engine.model import Model
from tests_helpers import LOCAL_NAMES, fixture_by_name


def _onnx_model(name: str) -> Model:
    fx = fixture_by_name(name)
    return Model(onnx=onnx.load(fx.onnx), source_path=fx.onnx, source_format="onnx")


def test_targets_agree_with_onnxruntime_build():
    import onnxruntime as ort

    infos = {i.name: i for i in list_targets()}
    for name in ("onnxruntime:cpu", "onnxruntime:cuda", "onnxruntime:tensorrt", "onnxruntime:dml",
                 "onnxruntime:coreml", "onnxruntime:openvino", "mindspore:cpu", "mindspore:gpu",
                 "mindspore:ascend", "reference"):
        assert name in infos
    assert infos["onnxruntime:cpu"].available and infos["reference"].available
    in_build = set(ort.get_available_providers())
    if "CUDAExecutionProvider" not in in_build:
        assert not infos["onnxruntime:cuda"].available
        assert "not in this build" in infos["onnxruntime:cuda"].reason
    for info in infos.values():
        assert info.available or info.reason, info.name


def test_parse_target_aliases():
    assert parse_target("ort") == ("onnxruntime", "cpu")
    assert parse_target("ONNXRuntime:CUDA") == ("onnxruntime", "cuda")
    assert parse_target("ms") == ("mindspore", "cpu")


def test_unknown_and_unavailable_targets_are_refused():
    model = _onnx_model("lenet5")
    with pytest.raises(TargetError, match="unknown target 'tpu:0'.*available here: .*onnxruntime:cpu"):
        open_session(model, "tpu:0")
    unavailable = [i for i in list_targets() if not i.available]
    if unavailable:
        with pytest.raises(TargetError, match="is not available"):
            open_session(model, unavailable[0].name)


@pytest.mark.parametrize("name", LOCAL_NAMES)
def test_onnxruntime_matches_mindspore_outputs(name):
    fx = fixture_by_name(name)
    model = _onnx_model(name)
    with open_session(model, "onnxruntime:cpu", TargetOptions(threads=1)) as sess:
        outs = sess.infer({sess.input_specs[0].name: fx.inputs()[0]})
        assert list(outs) == [o.name for o in model.onnx.graph.output]
    np.testing.assert_allclose(list(outs.values())[0], fx.expected()[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["lenet5", "mlp_bn_dropout"])
def test_reference_agrees_with_onnxruntime(name):
    # mlp_bn_dropout has opset-11 BatchNormalization, which plain onnx.reference gets wrong
    fx = fixture_by_name(name)
    model = _onnx_model(name)
    feeds = {"x": fx.inputs()[0]}
    with open_session(model, "reference") as ref, open_session(model, "onnxruntime:cpu") as ort_sess:
        a, b = ref.infer(feeds), ort_sess.infer(feeds)
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_infer_checks_feeds_and_session_closes():
    model = _onnx_model("lenet5")
    sess = open_session(model)
    with sess:
        with pytest.raises(InputError, match="'x' has dtype float64"):
            sess.infer({"x": np.zeros((1, 1, 32, 32))})
        with pytest.raises(InputError, match="missing input 'x'"):
            sess.infer({})
    assert sess._sess is None  # deactivated by the context manager


def test_options_validated():
    with pytest.raises(TargetError, match="graph optimization level"):
        TargetOptions(graph_optimization="max")
    with pytest.raises(TargetError, match="at least 1"):
        TargetOptions(threads=0)


def test_env_on_onnxruntime_is_recorded_with_a_warning():
    with open_session(_onnx_model("lenet5"), options=TargetOptions(env={"FOO": "1"})) as sess:
        assert any("not applied" in w for w in sess.warnings)


# -- MAC estimates -------------------------------------------------------------------------

def test_macs_by_formula():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, 10, 10])
    w = numpy_helper.from_array(np.zeros((8, 2, 3, 3), np.float32), "w")  # group=2: Cin/group = 2
    g = numpy_helper.from_array(np.zeros((8 * 8 * 8, 5), np.float32), "g")
    m = numpy_helper.from_array(np.zeros((3, 5, 7), np.float32), "m")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], group=2),  # -> [n, 8, 8, 8]
        helper.make_node("Flatten", ["c"], ["f"]),
        helper.make_node("Gemm", ["f", "g"], ["y"]),  # [n, 512] x [512, 5]
        helper.make_node("Unsqueeze", ["y", "axes"], ["u"]),  # [1, n, 5]
        helper.make_node("MatMul", ["u", "m"], ["z"]),  # [1,n,5] x [3,5,7] -> [3, n, 7]
    ]
    axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
                              initializer=[w, g, m, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for n in (1, 3):
        conv = n * 8 * 8 * 8 * (2 * 3 * 3)
        gemm = n * 512 * 5
        matmul = 3 * n * 7 * 5
        assert estimate_macs(model, batch=n) == conv + gemm + matmul


def test_macs_lenet_matches_architecture():
    # LeNet-5 on 32x32: conv 6@5x5 -> 28x28, conv 16@5x5 on 6 channels -> 10x10, dense 400-120-84-10
    expected = 6 * 28 * 28 * 25 + 16 * 10 * 10 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10
    assert estimate_macs(_onnx_model("lenet5").onnx) == expected


def test_macs_none_without_counted_ops():
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    assert estimate_macs(helper.make_model(graph)) is None


# -- MindSpore -----------------------------------------------------------------------------

def _mindir_model(name: str) -> Model:
    """The fixture's canonical graph with its MindIR as the source (what the MindIR loader yields)."""
    fx = fixture_by_name(name)
    try:
        from engine import formats

        return formats.load(fx.mindir)
    except Exception:  # MindIR reader not landed yet: same graph, MindIR provenance
        return Model(onnx=onnx.load(fx.onnx), source_path=fx.mindir, source_format="mindir")


@pytest.mark.mindspore
@pytest.mark.slow
def test_mindspore_runs_mindir_in_worker_with_env():
    fx = fixture_by_name("lenet5")
    model = _mindir_model("lenet5")
    opts = TargetOptions(env={"ONEDNN_MAX_CPU_ISA": "AVX2"})
    with open_session(model, "mindspore:cpu", opts) as sess:
        outs = sess.infer({sess.input_specs[0].name: fx.inputs()[0]})
        lat = list(sess.timed({sess.input_specs[0].name: fx.inputs()[0]}, iterations=3))
        assert sess.info["mindir"] == "source file"
        assert sess.info["env"] == "ONEDNN_MAX_CPU_ISA=AVX2"
        proc = sess._proc
        assert proc.is_alive()
    assert not proc.is_alive()  # the worker ends with the session
    np.testing.assert_allclose(list(outs.values())[0], fx.expected()[0], rtol=1e-5, atol=1e-6)
    assert len(lat) == 3 and all(ns > 0 for ns in lat)


@pytest.mark.mindspore
def test_mindspore_onnx_source_needs_mindir_writer():
    from engine import formats
    from engine.errors import EngineError

    fx = fixture_by_name("lenet5")
    model = _onnx_model("lenet5")
    try:
        writer = formats.get("mindir").save
    except EngineError:
        writer = None
    if writer is None:
        with pytest.raises(TargetError, match="writing MindIR is not available"):
            open_session(model, "mindspore:cpu")
        return
    try:
        sess = open_session(model, "mindspore:cpu")
    except TargetError as exc:  # writer present but not finished: one clear line, no traceback
        assert "MindIR" in str(exc)
        return
    with sess:
        assert sess.info["mindir"] == "converted from the canonical graph"
        out = sess.infer({"x": fx.inputs()[0]})
    np.testing.assert_allclose(list(out.values())[0], fx.expected()[0], rtol=1e-4, atol=1e-5)
