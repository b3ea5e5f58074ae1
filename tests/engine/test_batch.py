"""Batch work on this machine: one job per model, failures isolated, resumable, combined reports."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.batch import BatchOptions, run_batch
from engine.batch.store import discover
from engine.batch.work import JobTask, run_job
from engine.cli import main
from engine.errors import FormatError, TargetError
from tests_helpers import LOCAL_FIXTURES

FAST = BatchOptions(stage="validate", parity_target="onnxruntime:cpu")


@pytest.fixture
def zoo(tmp_path: Path) -> Path:
    """Two fixture folders (a MindIR and an ONNX file each) and one file that is no model."""
    root = tmp_path / "zoo"
    for name in ("lenet5", "mlp_bn_dropout"):
        (root / name).mkdir(parents=True)
        for f in ("model.mindir", "model.onnx"):
            shutil.copy(LOCAL_FIXTURES / name / f, root / name / f)
    (root / "broken.mindir").write_bytes(b"\x8e\xce" * 500)
    return root


def _dense(path: Path, weight: np.ndarray) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "dense", [x], [y],
                              [numpy_helper.from_array(weight.astype(np.float32), "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_discover_labels_keep_folder_names(zoo: Path, tmp_path: Path) -> None:
    labels = [m.label for m in discover([str(zoo)], tmp_path / "out")]
    assert labels == ["broken.mindir", "lenet5/model.mindir", "lenet5/model.onnx",
                      "mlp_bn_dropout/model.mindir", "mlp_bn_dropout/model.onnx"]
    assert [m.label for m in discover([str(zoo / "*" / "*.mindir")])] == ["lenet5/model.mindir",
                                                                          "mlp_bn_dropout/model.mindir"]
    with pytest.raises(FormatError, match="no such file"):
        discover([str(zoo / "nothing*.onnx")])


def test_batch_isolates_failures_and_writes_reports(zoo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    seen: list[tuple[str, int, int]] = []
    report = run_batch([str(zoo)], out, FAST, workers=2,
                       on_result=lambda rec, i, n: seen.append((rec["model"], i, n)))
    by = {r["model"]: r for r in report.records}
    assert by["broken.mindir"]["status"] == "failed"
    assert by["broken.mindir"]["failed_stage"] == "load"
    assert "broken.mindir" in by["broken.mindir"]["error"] and "\n" not in by["broken.mindir"]["error"]
    for label in ("lenet5/model.mindir", "lenet5/model.onnx", "mlp_bn_dropout/model.mindir"):
        r = by[label]
        assert r["status"] == "ok", r["error"]
        assert r["parity"]["passed"] and r["parity"]["max_abs"] < 1e-5
        assert Path(r["conversion"]["output"]).is_file()
        assert r["where"]["pid"] != os.getpid()  # ran in a worker process
    assert by["lenet5/model.mindir"]["conversion"]["to"] == "onnx"
    assert by["lenet5/model.onnx"]["conversion"]["to"] == "mindir"
    assert sorted(i for _, i, _ in seen) == [1, 2, 3, 4, 5] and {n for *_, n in seen} == {5}
    assert not report.passed and report.count("ok") == 4 and report.count("failed") == 1
    data = json.loads((out / "batch.json").read_text())
    assert data["counts"] == {"ok": 4, "mismatch": 0, "failed": 1}
    rows = list(csv.DictReader((out / "batch.csv").read_text().splitlines()))
    assert {r["model"]: r["status"] for r in rows}["broken.mindir"] == "failed"
    html = (out / "report.html").read_text()
    assert "broken.mindir" in html and "<table>" in html


def test_rerun_skips_current_results_and_reruns_changed(zoo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    pattern = str(zoo / "*" / "*.mindir")
    first = run_batch([pattern], out, FAST, workers=0)
    assert sorted(first.ran) == ["lenet5/model.mindir", "mlp_bn_dropout/model.mindir"]
    again = run_batch([pattern], out, FAST, workers=0)
    assert again.ran == [] and sorted(again.skipped) == sorted(first.ran)
    assert [r["status"] for r in again.records] == ["ok", "ok"]
    # touched but unchanged: the hash says current
    lenet = zoo / "lenet5" / "model.mindir"
    os.utime(lenet, ns=(lenet.stat().st_atime_ns, lenet.stat().st_mtime_ns + 10**9))
    assert run_batch([pattern], out, FAST, workers=0).ran == []
    # changed content (same size): that model only
    shutil.copy(zoo / "mlp_bn_dropout" / "model.mindir", tmp_path / "keep.mindir")
    data = bytearray(lenet.read_bytes())
    data[-1] ^= 0xFF
    lenet.write_bytes(bytes(data))
    assert run_batch([pattern], out, FAST, workers=0).ran == ["lenet5/model.mindir"]
    # other options: every model again
    other = BatchOptions(stage="validate", parity_target="onnxruntime:cpu", seed=1)
    assert len(run_batch([pattern], out, other, workers=0).ran) == 2


def test_parity_mismatch_is_reported(tmp_path: Path) -> None:
    """A converted file whose outputs differ from the source's is a mismatch, not ok."""
    src = _dense(tmp_path / "m.onnx", np.eye(4))
    task = JobTask(label="m.onnx", file_name="m.onnx", path=str(src), out_path=str(tmp_path / "m.mindir"),
                   options=FAST)
    assert run_job(task)["status"] == "ok"
    import engine.batch.work as work

    real = work._convert

    def wrong(task, source, tmp, record):
        converted, out = real(task, source, tmp, record)
        from engine import formats

        bad = _dense(tmp / "bad.onnx", 2 * np.eye(4))
        return formats.load(bad), out

    work._convert = wrong
    try:
        record = run_job(task)
    finally:
        work._convert = real
    assert record["status"] == "mismatch" and record["failed_stage"] == "validate"
    assert record["parity"]["passed"] is False and "outputs differ" in record["error"]


def test_bench_records_latency_per_target(tmp_path: Path) -> None:
    src = _dense(tmp_path / "m.onnx", np.eye(4))
    opts = BatchOptions(stage="bench", targets=("onnxruntime:cpu", "reference"), parity_target="onnxruntime:cpu",
                        iterations=3, warmup=1)
    report = run_batch([str(src)], tmp_path / "out", opts, workers=0)
    bench = {b["target"]: b for b in report.records[0]["bench"]}
    assert set(bench) == {"onnxruntime:cpu", "reference"}
    assert all(b["error"] is None and b["median_ms"] > 0 and b["iterations"] == 3 for b in bench.values())
    assert bench["onnxruntime:cpu"]["file"] == "onnx"


def test_placing_on_a_node_needs_a_cluster(tmp_path: Path) -> None:
    src = _dense(tmp_path / "m.onnx", np.eye(4))
    opts = BatchOptions(stage="bench", targets=("onnxruntime:cpu@node_b",))
    with pytest.raises(TargetError, match="needs a cluster"):
        run_batch([str(src)], tmp_path / "out", opts, workers=0)
    with pytest.raises(TargetError, match="unknown target"):
        run_batch([str(src)], tmp_path / "out", BatchOptions(stage="bench", targets=("nosuch:cpu",)), workers=0)


def test_cli_batch(zoo: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    rc = main(["batch", "validate", str(zoo / "lenet5"), "-o", str(out), "-j", "0",
               "--parity-target", "onnxruntime:cpu"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "[1/2] lenet5/model.mindir: ok" in cap.err or "[1/2] lenet5/model.onnx: ok" in cap.err
    assert "2 ok, 0 mismatch, 0 failed; ran 2" in cap.out
    rc = main(["batch", "convert", str(zoo), "-o", str(out), "-j", "0", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 1 and data["counts"]["failed"] == 1
    assert main(["batch", "convert", str(zoo), "-o", str(out), "-t", "onnxruntime:cpu"]) == 2
    assert main(["batch", "bench", str(zoo), "-o", str(out), "-t", "onnxruntime:cpu@node_b"]) == 1
    assert "needs a cluster" in capsys.readouterr().err


@pytest.mark.mindspore
@pytest.mark.slow
def test_auto_parity_runs_mindir_on_mindspore(zoo: Path, tmp_path: Path) -> None:
    report = run_batch([str(zoo / "lenet5" / "model.mindir")], tmp_path / "out", BatchOptions(stage="validate"),
                       workers=0)
    parity = report.records[0]["parity"]
    assert report.records[0]["status"] == "ok", report.records[0]["error"]
    assert parity["reference"].endswith("on mindspore:cpu") and parity["candidate"].endswith("on onnxruntime:cpu")


def test_ray_is_imported_only_for_a_cluster() -> None:
    """The engine and the CLI (batch included) start without importing Ray."""
    import subprocess
    import sys

    code = ("import sys, engine.batch, engine.batch.report, engine.cli; engine.cli.build_parser(); "
            "sys.exit(1 if 'ray' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def crash_on_broken(task: JobTask) -> dict:
    """A job function whose worker dies (as in a native crash) on one model, for the pool test."""
    if task.label == "dies.onnx":
        os._exit(3)
    return {"model": task.label, "status": "ok"}


def test_a_worker_that_dies_fails_only_its_model() -> None:
    from engine.batch.local import run_pool

    items = [(i, JobTask(label=name, file_name=name, path=None, out_path=None, options=FAST))
             for i, name in enumerate(["a.onnx", "dies.onnx", "b.onnx", "c.onnx"])]
    results = dict(run_pool(items, 2, lambda: False, fn=crash_on_broken))
    assert sorted(results) == [0, 1, 2, 3]
    assert results[1]["status"] == "failed" and "worker process died" in results[1]["error"]
    assert all(results[i]["status"] == "ok" for i in (0, 2, 3))


def test_an_unreachable_cluster_is_refused_in_one_line(tmp_path: Path) -> None:
    """Nobody listening at the address: a TargetError at once (Ray alone retries for minutes)."""
    src = _dense(tmp_path / "m.onnx", np.eye(4))
    with pytest.raises(TargetError, match=r"cannot connect to the Ray cluster at 127\.0\.0\.1:9|needs Ray"):
        run_batch([str(src)], tmp_path / "out", FAST, cluster="127.0.0.1:9")


def test_a_lost_worker_is_not_a_current_result(tmp_path: Path) -> None:
    from engine.batch.store import ModelFile, ResultStore, source_info

    src = _dense(tmp_path / "m.onnx", np.eye(4))
    model, store = ModelFile(src, "m.onnx"), ResultStore(tmp_path / "out")
    record = {"model": "m.onnx", "status": "failed", "failed_stage": "convert", "options": FAST.key(),
              "source": source_info(model, src.read_bytes())}
    store.save(record, model)
    assert store.current(model, FAST.key())[0] is not None  # the model's own failure: current
    assert store.current(model, FAST.key(), retry_failed=True)[0] is None
    store.save({**record, "failed_stage": "worker"}, model)
    assert store.current(model, FAST.key())[0] is None  # a lost worker: run it again


def test_no_wrong_or_stale_file_is_left_in_converted(tmp_path: Path, monkeypatch) -> None:
    import engine.batch.work as work

    src = _dense(tmp_path / "m.onnx", np.eye(4))
    out = tmp_path / "out"
    first = run_batch([str(src)], out, FAST, workers=0).records[0]
    converted = Path(first["conversion"]["output"])
    assert first["status"] == "ok" and converted.name == "m.onnx.mindir" and converted.is_file()
    real = work._convert

    def wrong(task, source, tmp, record):
        from engine import formats

        _, path = real(task, source, tmp, record)
        return formats.load(_dense(tmp / "bad.onnx", 2 * np.eye(4))), path

    monkeypatch.setattr(work, "_convert", wrong)
    record = run_batch([str(src)], out, FAST, workers=0, force=True).records[0]
    assert record["status"] == "mismatch"
    assert not converted.exists() and Path(record["conversion"]["output"]) == converted.with_name("m.onnx.mindir.mismatch")
    assert Path(record["conversion"]["output"]).is_file()
    monkeypatch.setattr(work, "_convert", real)
    assert run_batch([str(src)], out, FAST, workers=0, force=True).records[0]["status"] == "ok"
    assert converted.is_file() and not converted.with_name("m.onnx.mindir.mismatch").exists()
    src.write_bytes(b"no longer a model")
    record = run_batch([str(src)], out, FAST, workers=0).records[0]
    assert record["status"] == "failed" and not converted.exists()  # the stale conversion is gone
