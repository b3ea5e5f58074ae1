"""Batch work on a Ray cluster: two simulated nodes on this machine, with different resources and labels."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.batch import BatchOptions, run_batch
from engine.cli import main
from engine.errors import TargetError
from tests_helpers import DATA, LOCAL_FIXTURES, SHARED_FIXTURES

ray = pytest.importorskip("ray", reason="Ray not installed (pip install 'deploy-studio[cluster]')")

pytestmark = pytest.mark.slow

FAST = BatchOptions(stage="validate", parity_target="onnxruntime:cpu")
NODE = {"num_cpus": 1, "object_store_memory": 128 * 2**20}


@pytest.fixture(scope="module")
def cluster():
    """A head node with resource node_a and label zone=lab, a worker node with node_b and zone=edge."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={**NODE, "resources": {"node_a": 1}, "labels": {"zone": "lab"},
                                                      "include_dashboard": False})
    c.add_node(**NODE, resources={"node_b": 1}, labels={"zone": "edge"})
    c.wait_for_nodes()
    yield c
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    """The shared fixtures' MindIR files (the local copies without ../shared), a broken file, one that fails conversion."""
    base = SHARED_FIXTURES if (SHARED_FIXTURES / "lenet5" / "model.mindir").exists() else LOCAL_FIXTURES
    root = tmp_path_factory.mktemp("zoo")
    for folder in sorted(p for p in base.iterdir() if (p / "model.mindir").exists()):
        (root / folder.name).mkdir()
        shutil.copy(folder / "model.mindir", root / folder.name / "model.mindir")
    (root / "broken").mkdir()
    (root / "broken" / "model.mindir").write_bytes(b"not a mindir" * 100)
    (root / "unknown_ops").mkdir()  # opens, but its primitives have no ONNX form: fails conversion
    shutil.copy(DATA / "mindir_unknown" / "lenet5_renamed" / "model.mindir", root / "unknown_ops" / "model.mindir")
    return root


def _node_ids(cluster) -> dict[str, str]:
    """zone label -> node id, asked of Ray (connects the test process)."""
    if not ray.is_initialized():
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    return {n["Labels"]["zone"]: n["NodeID"] for n in ray.nodes() if n["Alive"]}


def test_batch_runs_on_both_nodes_isolates_failures_and_resumes(cluster, zoo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = run_batch([str(zoo)], out, FAST, cluster=cluster.address)
    by = {r["model"]: r for r in report.records}
    broken = by["broken/model.mindir"]
    assert broken["status"] == "failed" and broken["failed_stage"] == "load"
    assert str(zoo / "broken" / "model.mindir") in broken["error"]  # the user's file, not the node's copy
    assert "dstudio-batch-" not in broken["error"]
    unknown = by["unknown_ops/model.mindir"]
    assert unknown["status"] == "failed" and unknown["failed_stage"] == "convert"
    assert "Conv2DNobodyKnows" in unknown["error"] and str(zoo / "unknown_ops" / "model.mindir") in unknown["error"]
    good = [r for label, r in by.items() if label not in ("broken/model.mindir", "unknown_ops/model.mindir")]
    assert len(good) >= 4 and all(r["status"] == "ok" for r in good), [r["error"] for r in good]
    nodes = {r["where"]["node"] for r in report.records}
    assert nodes == {"zone=lab", "zone=edge"}  # the report says where each job ran: both nodes
    assert all(Path(r["conversion"]["output"]).is_file() for r in good)  # written back by the driver
    assert report.mode.startswith("ray cluster")
    assert "zone=edge" in (out / "batch.csv").read_text()

    again = run_batch([str(zoo)], out, FAST, cluster=cluster.address)
    assert again.ran == [] and len(again.skipped) == len(report.records)


def test_pinned_benchmark_and_jobs_run_on_their_node(cluster, zoo: Path, tmp_path: Path) -> None:
    ids = _node_ids(cluster)
    opts = BatchOptions(stage="bench", targets=("onnxruntime:cpu@node_b", "reference@zone=lab"),
                        parity_target="onnxruntime:cpu", iterations=3, warmup=1)
    report = run_batch([str(zoo / "lenet5"), str(zoo / "broken")], tmp_path / "out", opts, cluster=cluster.address,
                       on="zone=edge")
    lenet = next(r for r in report.records if r["model"] == "lenet5/model.mindir")
    assert lenet["status"] == "ok", lenet["error"]
    assert lenet["where"]["node_id"] == ids["edge"]  # --on zone=edge
    bench = {b["target"]: b for b in lenet["bench"]}
    assert bench["onnxruntime:cpu"]["where"]["node_id"] == ids["edge"]  # resource node_b is on that node
    assert bench["reference"]["where"]["node_id"] == ids["lab"]
    assert bench["onnxruntime:cpu"]["median_ms"] > 0 and bench["reference"]["node"] == "zone=lab"
    broken = next(r for r in report.records if r["model"] == "broken/model.mindir")
    assert broken["status"] == "failed" and broken["where"]["node_id"] == ids["edge"]
    assert broken["bench"] == []  # no placed benchmark of a model that never loaded


def test_unknown_node_is_refused_naming_the_nodes(cluster, zoo: Path, tmp_path: Path) -> None:
    opts = BatchOptions(stage="bench", targets=("onnxruntime:cpu@gpu_box",))
    with pytest.raises(TargetError, match="no node of the cluster is 'gpu_box'; nodes: .*zone=edge"):
        run_batch([str(zoo / "lenet5")], tmp_path / "out", opts, cluster=cluster.address)


def test_targets_lists_each_node(cluster, capsys) -> None:
    assert main(["targets", "--cluster", cluster.address]) == 0
    out = capsys.readouterr().out
    assert "node zone=lab" in out and "node zone=edge" in out
    assert "onnxruntime:cpu@zone=edge" in out and "CPU " in out


def test_external_data_needs_a_shared_path(cluster, tmp_path: Path) -> None:
    """The object store carries the model file alone; --shared-fs lets the nodes read its weights file."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder = tmp_path / "ext"
    folder.mkdir()
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y],
                              [numpy_helper.from_array(np.eye(8, dtype=np.float32), "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "m.onnx",
              save_as_external_data=True, location="m.data", size_threshold=0)
    opts = BatchOptions(stage="bench", targets=("onnxruntime:cpu@node_b",), parity_target="onnxruntime:cpu",
                        iterations=2, warmup=0)
    alone = run_batch([str(folder / "m.onnx")], tmp_path / "out", opts, cluster=cluster.address).records[0]
    assert alone["status"] == "failed" and alone["failed_stage"] == "transport"
    assert "--shared-fs" in alone["error"] and str(folder / "m.onnx") in alone["error"]
    shared = run_batch([str(folder / "m.onnx")], tmp_path / "out", opts, cluster=cluster.address,
                       shared_fs=True).records[0]
    assert shared["status"] == "ok", shared["error"]
    assert Path(shared["conversion"]["output"]).is_file() and shared["bench"][0]["median_ms"] > 0
