"""The targets, bench and compare commands, through engine.cli.main."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engine.cli import main
from tests_helpers import fixture_by_name


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def lenet_onnx() -> str:
    return str(fixture_by_name("lenet5").onnx)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, no traceback
    return err[0]


def test_targets_json(capsys):
    import onnxruntime as ort

    assert main(["targets", "--json"]) == 0
    infos = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert infos["onnxruntime:cpu"]["available"] is True
    assert infos["onnxruntime:cuda"]["available"] == ("CUDAExecutionProvider" in ort.get_available_providers()
                                                      and infos["onnxruntime:cuda"]["reason"] == "")
    assert all(t["available"] or t["reason"] for t in infos.values())
    assert main(["targets"]) == 0
    assert "onnxruntime:tensorrt" in capsys.readouterr().out


def test_bench_json_and_history(capsys, lenet_onnx, tmp_path):
    assert main(["bench", lenet_onnx, "-n", "7", "--warmup", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["iterations"] == 7 and len(data["latencies_ms"]) == 7
    assert data["stats"]["median_ms"] == pytest.approx(float(np.median(data["latencies_ms"])))
    saved = json.loads((tmp_path / "data" / "runs" / f"{data['run_id']}.json").read_text())
    assert saved["latencies_ms"] == data["latencies_ms"]


def test_bench_text_and_report(capsys, lenet_onnx, tmp_path):
    fx = fixture_by_name("lenet5")
    rc = main(["bench", lenet_onnx, "-n", "5", "--warmup", "0", "--inputs", str(fx.folder / "input_0.npy"),
               "--profile", "--top", "3", "--report", str(tmp_path / "rep")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "median" in out and "time by op type" in out and "recorded as run" in out
    assert {p.name for p in (tmp_path / "rep").iterdir()} == {"result.json", "latencies.csv", "report.html"}


def test_bench_sweep(capsys, lenet_onnx):
    assert main(["bench", lenet_onnx, "-n", "3", "--warmup", "0", "--threads", "1,2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "sweep" and [p["threads"] for p in data["points"]] == [1, 2]


def test_bench_wrong_shape(capsys, lenet_onnx, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 28, 28), np.float32))
    assert main(["bench", lenet_onnx, "--inputs", str(tmp_path / "x.npy")]) == 1
    line = _error_line(capsys)
    assert "'x'" in line and "[1, 1, 28, 28]" in line


def test_bench_wrong_dtype(capsys, lenet_onnx, tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 1, 32, 32), np.float64))
    assert main(["bench", lenet_onnx, "--inputs", str(tmp_path / "x.npz")]) == 1
    assert "dtype float64, the model expects float32" in _error_line(capsys)


def test_bench_missing_input(capsys, tmp_path):
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "add",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2])])
    path = tmp_path / "add.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    np.savez(tmp_path / "a.npz", a=np.zeros(2, np.float32))
    assert main(["bench", str(path), "--inputs", str(tmp_path / "a.npz")]) == 1
    assert "missing input 'b'" in _error_line(capsys)


def test_bench_unknown_target(capsys, lenet_onnx):
    assert main(["bench", lenet_onnx, "--target", "tpu"]) == 1
    line = _error_line(capsys)
    assert "unknown target 'tpu'" in line and "onnxruntime:cpu" in line


def test_bench_usage_errors(capsys, lenet_onnx):
    assert main(["bench", lenet_onnx, "--env", "NOEQUALS"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["bench", lenet_onnx, "--threads", "a,b"]) == 2
    capsys.readouterr()


def test_compare(capsys, lenet_onnx):
    ids = []
    for _ in range(2):
        assert main(["bench", lenet_onnx, "-n", "4", "--warmup", "0", "--json"]) == 0
        ids.append(json.loads(capsys.readouterr().out)["run_id"])
    assert main(["compare", *ids, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in rows] == ids
    assert rows[0]["median_ratio"] == 1.0
    assert rows[1]["median_ratio"] == pytest.approx(rows[1]["median_ms"] / rows[0]["median_ms"])
    assert main(["compare", *ids]) == 0
    assert "1.000x" in capsys.readouterr().out
    assert main(["compare", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(i in out for i in ids)
    assert main(["compare", "no-such-run"]) == 1
    assert "no run 'no-such-run'" in _error_line(capsys)
    assert main(["compare"]) == 2
