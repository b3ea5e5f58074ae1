"""ONNX -> MindIR: the written files run in MindSpore itself and give MindSpore's own outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from engine import formats
from engine.convert import convert
from engine.errors import UnsupportedOpError
from tests_helpers import fixture_or_skip

from tests_helpers import ALL_NAMES, HAVE_MINDSPORE

ROOT = Path(__file__).resolve().parents[2]


def _available(names):
    found = []
    for name in names:
        try:
            found.append(fixture_or_skip(name))
        except pytest.skip.Exception:
            continue
    return found


@pytest.mark.parametrize("source", ["mindir", "onnx"])
def test_written_mindir_reads_back_and_matches_without_mindspore(ms_fixture, source, tmp_path):
    """Our own reader and ORT agree with MindSpore's expected outputs on what the writer wrote."""
    out = tmp_path / "model.mindir"
    convert(getattr(ms_fixture, source), out)
    model = formats.load(out)
    assert model.source_format == "mindir"
    session = ort.InferenceSession(model.onnx.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(session.get_inputs(), ms_fixture.inputs())}
    for y, e in zip(session.run(None, feeds), ms_fixture.expected()):
        assert float(np.abs(y - e).max()) <= 1e-4 * max(1.0, float(np.abs(e).max()))


def test_parameters_keep_their_names_and_bytes(lenet5, tmp_path):
    out = tmp_path / "m.mindir"
    convert(lenet5.onnx, out)
    back = formats.load(out)
    original = {t.name: t.raw_data for t in formats.load(lenet5.onnx).onnx.graph.initializer}
    written = {t.name: t.raw_data for t in back.onnx.graph.initializer if t.name in original}
    assert set(json.loads(back.metadata["parameters"])) >= set(lenet5.meta["param_names"])
    for name in lenet5.meta["param_names"]:
        assert written[name] == original[name]


def test_streamed_parameters_make_the_same_message_as_building_it_whole(lenet5, tmp_path):
    """save() splices each parameter's bytes into the graph field; the file parses to the very
    message the writer builds in memory, and the spill file leaves nothing behind."""
    from engine.formats._proto import dstudio_mind_ir_pb2 as pb
    from engine.formats.mindir.writer import MindIRWriter
    from engine.jobs import as_job

    out = tmp_path / "m.mindir"
    model = formats.load(lenet5.onnx)
    formats.save(model, out)
    streamed, built = pb.ModelProto(), pb.ModelProto()
    streamed.ParseFromString(out.read_bytes())
    built.ParseFromString(MindIRWriter(model, out).run(as_job(None)))
    assert len(streamed.graph.parameter) >= len(lenet5.meta["param_names"]) > 0
    assert all(p.raw_data for p in streamed.graph.parameter)
    assert streamed == built
    assert [p.name for p in tmp_path.iterdir()] == ["m.mindir"]


def test_op_without_a_mindir_rule_is_refused_and_nothing_written(tmp_path):
    import onnx
    from onnx import helper

    graph = helper.make_graph(
        [helper.make_node("Bernoulli", ["x"], ["y"], name="bern")], "g",  # random: never exact, never a rule
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [3, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [3, 3])],
    )
    src = tmp_path / "bern.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), src)
    with pytest.raises(UnsupportedOpError, match="'Bernoulli' has no MindIR rule"):
        convert(src, tmp_path / "bern.mindir")
    assert not (tmp_path / "bern.mindir").exists()


def _one_node(tmp_path, node, inputs, outputs, name="m", inits=()):
    import onnx
    from onnx import helper

    graph = helper.make_graph([node], "g", inputs, outputs, initializer=list(inits))
    src = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), src)
    return src


def test_refusals_name_the_input_file_not_the_output(tmp_path):
    from onnx import TensorProto, helper

    src = _one_node(tmp_path, helper.make_node("Bernoulli", ["x"], ["y"], name="bern"),
                    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
                    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 3])])
    with pytest.raises(UnsupportedOpError) as info:
        convert(src, tmp_path / "out.mindir")
    assert str(info.value).startswith(str(src))
    assert "out.mindir" not in str(info.value)


@pytest.mark.parametrize("dtype", ["STRING", "FLOAT8E4M3FN", "INT4", "FLOAT4E2M1"])
def test_graph_input_dtype_without_mindir_type_is_one_typed_line(tmp_path, dtype):
    from onnx import TensorProto, helper

    elem = getattr(TensorProto, dtype)
    src = _one_node(tmp_path, helper.make_node("Identity", ["x"], ["y"]),
                    [helper.make_tensor_value_info("x", elem, [2])], [helper.make_tensor_value_info("y", elem, [2])])
    with pytest.raises(UnsupportedOpError, match=f"graph input 'x' has dtype {dtype}, which MindIR has no type for"):
        convert(src, tmp_path / "out.mindir")
    assert not (tmp_path / "out.mindir").exists()


def _conv(strides):
    from onnx import helper

    return helper.make_node("Conv", ["x", "w"], ["y"], strides=strides, kernel_shape=[1, 1])


@pytest.mark.parametrize("case", ["conv_zero_stride", "conv_three_strides", "cast_unknown_type", "split_bad_sizes",
                                  "constant_two_values"])
def test_bad_attributes_give_typed_errors_not_tracebacks(tmp_path, case):
    """The fuzzer's crash sites in export rules (conv, cast, split, constant, _same_pads) raise typed errors."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    x4 = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])
    w = numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w")
    nodes = {
        "conv_zero_stride": (helper.make_node("Conv", ["x", "w"], ["y"], strides=[0, 0], auto_pad="SAME_UPPER"), [x4], [w]),
        "conv_three_strides": (_conv([1, 1, 1]), [x4], [w]),
        "cast_unknown_type": (helper.make_node("Cast", ["x"], ["y"], to=9999), [x4], []),
        "split_bad_sizes": (helper.make_node("Split", ["x", "s"], ["y", "z"], axis=2), [x4],
                            [numpy_helper.from_array(np.array([3, 3], np.int64), "s")]),
        "constant_two_values": (helper.make_node("Constant", [], ["y"], value_float=1.0, value_int=2), [x4], []),
    }
    node, inputs, inits = nodes[case]
    outputs = [y, helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 1, 4, 4])] if case == "split_bad_sizes" else [y]
    src = _one_node(tmp_path, node, inputs, outputs, inits=inits)
    with pytest.raises(UnsupportedOpError, match=f"ONNX {node.op_type} cannot be written as MindIR") as info:
        convert(src, tmp_path / "out.mindir")
    assert "\n" not in str(info.value) and str(src) in str(info.value)
    assert not (tmp_path / "out.mindir").exists()


def test_flatten_at_the_rank_gives_onnx_shape(tmp_path):
    """Flatten(axis == rank) on [1, 32] is (32, 1) in ONNX, never (1, 32)."""
    from onnx import TensorProto, helper

    src = _one_node(tmp_path, helper.make_node("Flatten", ["x"], ["y"], axis=2),
                    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
                    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [32, 1])])
    convert(src, tmp_path / "out.mindir")
    back = formats.load(tmp_path / "out.mindir")
    x = np.arange(32, dtype=np.float32).reshape(1, 32)
    (y,) = ort.InferenceSession(back.onnx.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert y.shape == (32, 1)
    np.testing.assert_array_equal(y.ravel(), x.ravel())


@pytest.fixture(scope="module")
def mindspore_results(tmp_path_factory):
    """Write every fixture both ways (MindIR->MindIR, MindSpore's ONNX->MindIR), run all in one MindSpore child."""
    if not HAVE_MINDSPORE:
        pytest.skip("MindSpore not installed")
    folder = tmp_path_factory.mktemp("written")
    jobs, keys = [], []
    for fx in _available(ALL_NAMES):
        for source in ("mindir", "onnx"):
            out = folder / f"{fx.name}_from_{source}.mindir"
            convert(getattr(fx, source), out)
            meta = fx.meta
            jobs.append({"mindir": str(out), "inputs": [str(fx.folder / i["file"]) for i in meta["inputs"]],
                         "expected": [str(fx.folder / o["file"]) for o in meta["outputs"]]})
            keys.append(f"{fx.name}/{source}")
    job_file = folder / "jobs.json"
    job_file.write_text(json.dumps(jobs))
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "ms_run.py"), str(job_file)],
                          capture_output=True, text=True, timeout=600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, proc.stderr[-2000:]
    return dict(zip(keys, json.loads(line[len("RESULT "):])))


@pytest.mark.mindspore
@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("source", ["mindir", "onnx"])
def test_mindspore_runs_what_we_wrote(mindspore_results, name, source):
    key = f"{name}/{source}"
    if key not in mindspore_results:
        pytest.skip(f"fixture {name} not available")
    result = mindspore_results[key]
    assert "error" not in result, result.get("error")
    for err, scale in zip(result["max_abs"], result["scale"]):
        assert err <= 1e-4 * scale


def test_model_knows_when_it_no_longer_matches_its_source(lenet5):
    model = formats.load(lenet5.mindir)
    assert model.matches_source()
    weight = next(t for t in model.onnx.graph.initializer if t.name == "conv1.weight")
    weight.raw_data = (np.frombuffer(weight.raw_data, np.float32) * 2).astype(np.float32).tobytes()
    assert not model.matches_source()


@pytest.mark.mindspore
def test_mindspore_target_runs_the_edited_graph_not_the_stale_file(lenet5):
    """After an edit, MindSpore must run what the model now is (written afresh), not the file on disk."""
    from engine.backends import open_session

    model = formats.load(lenet5.mindir)
    weight = next(t for t in model.onnx.graph.initializer if t.name == "fc3.bias")
    weight.raw_data = (np.frombuffer(weight.raw_data, np.float32) + 1.0).astype(np.float32).tobytes()
    x = lenet5.inputs()[0]
    with open_session(model, "mindspore:cpu") as session:
        (y,) = session.infer({"x": x}).values()
    np.testing.assert_allclose(y, lenet5.expected()[0] + 1.0, atol=1e-4)
