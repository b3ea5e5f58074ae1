"""`dstudio validate` and engine.validate.validate: verdicts, exit codes, JSON, bad inputs, MindSpore parity."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine import formats
from engine.cli import main
from engine.validate import default_tolerance, validate
from tests_helpers import fixture_by_name
from tests.engine.test_divergence import consumer, perturb


@pytest.fixture
def lenet_files(tmp_path):
    fx = fixture_by_name("lenet5")
    proto = onnx.load(str(fx.onnx))
    bad = tmp_path / "lenet_bad.onnx"
    onnx.save(perturb(proto, "conv2.weight"), str(bad))
    return fx, bad


def to_fp16(proto: onnx.ModelProto) -> onnx.ModelProto:
    """fp16 weights and math, fp32 inputs and outputs (Casts at both ends), names kept."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    graph = out.graph
    for t in graph.initializer:
        if t.data_type == TensorProto.FLOAT:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    x, y = graph.input[0].name, graph.output[0].name
    for node in graph.node:
        node.input[:] = [x + "_16" if i == x else i for i in node.input]
        node.output[:] = [y + "_16" if o == y else o for o in node.output]
    graph.node.insert(0, helper.make_node("Cast", [x], [x + "_16"], to=TensorProto.FLOAT16, name="cast_in"))
    graph.node.append(helper.make_node("Cast", [y + "_16"], [y], to=TensorProto.FLOAT, name="cast_out"))
    return out


def run_cli(capsys, *argv):
    code = main(["validate", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_perturbed_weight_fails_and_names_the_conv(lenet_files, capsys):
    fx, bad = lenet_files
    code, out, err = run_cli(capsys, fx.onnx, "--against", bad)
    assert code == 1, err
    node = consumer(onnx.load(str(fx.onnx)), "conv2.weight")
    assert f"first divergent node" in out and node.name in out and "FAIL" in out.splitlines()[-1]
    for header in ("max abs", "max rel", "mean abs", "cosine", "min atol"):
        assert header in out


def test_json_report_shape(lenet_files, capsys):
    fx, bad = lenet_files
    code, out, _ = run_cli(capsys, fx.onnx, "--against", bad, "--json")
    data = json.loads(out)
    assert code == 1 and data["passed"] is False
    assert data["outputs"][0]["passed"] is False and data["outputs"][0]["max_abs"] > 0
    assert {"max_abs", "max_rel", "mean_abs", "cosine", "min_passing_atol"} <= set(data["outputs"][0])
    assert len(data["comparisons"]) == 1
    assert data["first_divergent"]["node"] == "4Conv" and data["first_divergent"]["op_type"] == "Conv"


def test_model_against_itself_passes(lenet_files, capsys):
    fx, _ = lenet_files
    code, out, err = run_cli(capsys, fx.onnx, "--against", fx.onnx, "--target", "onnxruntime:cpu")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "PASS"


def test_no_divergence_flag_skips_the_search(lenet_files, capsys):
    fx, bad = lenet_files
    code, out, _ = run_cli(capsys, fx.onnx, "--against", bad, "--no-divergence", "--json")
    data = json.loads(out)
    assert code == 1 and data["first_divergent"] is None and "turned off" in data["divergence_note"]


def test_fp16_candidate_is_judged_with_fp16_tolerances(lenet_files, tmp_path):
    fx, _ = lenet_files
    proto = onnx.load(str(fx.onnx))
    half = tmp_path / "lenet_fp16.onnx"
    onnx.save(to_fp16(proto), str(half))
    model, candidate = formats.load(fx.onnx), formats.load(half)
    # The reference evaluator computes fp16 ops in fp16 (ORT CPU would upcast them).
    report = validate(model, against=candidate, targets=["reference"], find_divergence=False)
    out = report.comparisons[0].outputs[0]
    assert report.passed, report.to_dict()
    assert (out.rtol, out.atol) == default_tolerance(np.float16) and out.precision == "float16"
    assert out.max_abs > default_tolerance(np.float32)[1]  # fp16 numerics really differ ...
    strict = validate(model, against=candidate, targets=["reference"], rtol=1e-4, atol=1e-5, find_divergence=False)
    assert not strict.passed  # ... and fail fp32 tolerances


def test_min_passing_atol_from_the_cli_passes_and_just_below_fails(lenet_files, capsys):
    fx, bad = lenet_files
    _, out, _ = run_cli(capsys, fx.onnx, "--against", bad, "--json", "--rtol", "0")
    atol = json.loads(out)["outputs"][0]["min_passing_atol"]
    code, _, _ = run_cli(capsys, fx.onnx, "--against", bad, "--rtol", "0", "--atol", repr(atol), "--no-divergence")
    assert code == 0
    code, _, _ = run_cli(capsys, fx.onnx, "--against", bad, "--rtol", "0", "--atol",
                         repr(float(np.nextafter(atol, 0))), "--no-divergence")
    assert code == 1


def test_user_inputs_are_used(lenet_files, tmp_path):
    fx, _ = lenet_files
    report = validate(formats.load(fx.onnx), targets=["onnxruntime:cpu", "reference"], inputs_path=fx.folder / "input_0.npy")
    assert report.passed and report.inputs["source"].endswith("input_0.npy")


@pytest.mark.parametrize("make, message", [
    (lambda d: np.save(d / "x.npy", np.zeros((1, 1, 16, 16), np.float32)), "shape"),
    (lambda d: np.save(d / "x.npy", np.zeros((1, 1, 32, 32), np.float64)), "dtype"),
    (lambda d: np.savez(d / "x.npz", wrong=np.zeros((1, 1, 32, 32), np.float32)), "unknown input 'wrong'"),
])
def test_bad_inputs_file_is_one_error_line(lenet_files, tmp_path, capsys, make, message):
    fx, _ = lenet_files
    make(tmp_path)
    path = next(tmp_path.glob("x.np*"))
    code, out, err = run_cli(capsys, fx.onnx, "--inputs", path)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:") and message in err


def test_unknown_target_is_one_error_line(lenet_files, capsys):
    fx, _ = lenet_files
    code, out, err = run_cli(capsys, fx.onnx, "--target", "nosuch:npu")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "unknown target 'nosuch:npu'" in err


def test_negative_tolerance_is_a_usage_error(lenet_files, capsys):
    fx, _ = lenet_files
    code, _, err = run_cli(capsys, fx.onnx, "--atol", "-1")
    assert code == 2 and "--atol" in err


def test_structural_error_fails_validation():
    # Built in memory: formats.load already refuses such a file when reading it.
    from engine.model import Model

    graph = helper.make_graph([helper.make_node("Add", ["x", "ghost"], ["y"], name="add0")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    report = validate(Model(onnx=proto), targets=["onnxruntime:cpu"])
    assert not report.passed
    assert any(f.code == "dangling-tensor" and f.node == "add0" for f in report.errors)
    assert report.runs[0].error is not None  # ONNX Runtime refuses it too


def test_structural_warnings_do_not_fail(tmp_path, capsys):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r"),
                               helper.make_node("Neg", ["x"], ["dead"], name="dead")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                              initializer=[numpy_helper.from_array(np.ones(2, np.float32), "w")])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    code, out, _ = run_cli(capsys, path, "--target", "onnxruntime:cpu", "--target", "reference")
    assert code == 0  # warnings do not fail
    assert "WARNING unused-initializer" in out and "WARNING dead-node" in out


@pytest.mark.mindspore
def test_mindir_on_mindspore_onnxruntime_and_reference(capsys):
    fx = fixture_by_name("lenet5")
    code, out, err = run_cli(capsys, fx.mindir, "--target", "mindspore:cpu", "--target", "onnxruntime:cpu",
                             "--target", "reference", "--inputs", fx.folder / "input_0.npy", "--json")
    data = json.loads(out)
    assert code == 0, err
    assert [r["target"] for r in data["runs"]] == ["mindspore:cpu", "onnxruntime:cpu", "reference"]
    assert len(data["comparisons"]) == 2 and all(c["passed"] for c in data["comparisons"])
    assert data["runs"][0]["error"] is None


@pytest.mark.mindspore
def test_mindspore_run_matches_its_recorded_outputs():
    """The reference run of a MindIR on mindspore:cpu reproduces MindSpore's saved outputs."""
    from engine.validate import compare_outputs
    from engine.validate.runner import _run

    fx = fixture_by_name("lenet5")
    model = formats.load(fx.mindir)
    name = model.onnx.graph.input[0].name
    run, outputs = _run(model, "mindspore:cpu", {name: fx.inputs()[0]}, None)
    assert run.error is None
    ref = {k: e for k, e in zip(outputs, fx.expected())}
    assert compare_outputs(ref, outputs).passed
