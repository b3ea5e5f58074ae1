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


def test_op_without_a_mindir_rule_is_refused_and_nothing_written(tmp_path):
    import onnx
    from onnx import helper

    graph = helper.make_graph(
        [helper.make_node("Det", ["x"], ["y"], name="det")], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [3, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [])],
    )
    src = tmp_path / "det.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), src)
    with pytest.raises(UnsupportedOpError, match="'Det' has no MindIR rule"):
        convert(src, tmp_path / "det.mindir")
    assert not (tmp_path / "det.mindir").exists()


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
