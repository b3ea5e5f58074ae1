"""Benchmark runner, statistics, sweeps, profiles, reports and run history (engine.bench)."""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
import xml.etree.ElementTree as ET

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.backends import TargetOptions
from engine.bench import BenchResult, LatencyStats, benchmark, history
from engine.bench.report import write_report
from engine.bench.runner import judge
from engine.bench.sweep import sweep
from engine.errors import Cancelled, InputError, TargetError
from engine.jobs import Job
from engine.model import Model
from tests_helpers import fixture_by_name


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))


def _lenet() -> Model:
    fx = fixture_by_name("lenet5")
    return Model(onnx=onnx.load(fx.onnx), source_path=fx.onnx)


def _dynamic_model() -> Model:
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "dyn",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])], initializer=[w])
    return Model(onnx=helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def test_stats_agree_with_statistics_module():
    ns = [int(v) for v in np.random.default_rng(1).integers(1_000_000, 9_000_000, size=101)]
    s = LatencyStats.from_ns(ns)
    ms = [v / 1e6 for v in ns]
    assert s.median_ms == pytest.approx(statistics.median(ms))
    assert s.mean_ms == pytest.approx(statistics.fmean(ms))
    assert s.std_ms == pytest.approx(statistics.pstdev(ms))
    assert s.min_ms == min(ms) and s.max_ms == max(ms)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    assert s.p90_ms == pytest.approx(q[89]) and s.p99_ms == pytest.approx(q[98])
    assert s.cv == pytest.approx(statistics.pstdev(ms) / statistics.fmean(ms))
    assert np.isnan(LatencyStats.from_ns([]).median_ms)


def test_benchmark_counts_and_callbacks():
    seen = []
    r = benchmark(_lenet(), iterations=25, warmup=2, on_iteration=lambda i, ns: seen.append((i, ns)))
    assert r.iterations == 25 == len(r.latencies_ns)
    assert seen == list(enumerate(r.latencies_ns))
    assert r.throughput_per_s == pytest.approx(1e9 / np.mean(r.latencies_ns))
    assert r.stats.median_ms == pytest.approx(np.median(r.latencies_ns) / 1e6)
    assert r.session_create_ms > 0 and r.first_inference_ms > 0
    assert "output" in r.what_is_timed and "perf_counter_ns" in r.what_is_timed
    d = r.to_dict()
    for key in ("target", "model", "iterations", "stats", "throughput_per_s", "latencies_ms"):
        assert key in d
    assert set(d["stats"]) >= {"min_ms", "mean_ms", "median_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "std_ms"}
    assert d["latencies_ms"] == pytest.approx([ns / 1e6 for ns in r.latencies_ns])
    back = BenchResult.from_dict(json.loads(json.dumps(d)))
    assert back.stats == r.stats and back.latencies_ns == r.latencies_ns


def test_benchmark_duration_mode():
    r = benchmark(_lenet(), iterations=None, duration_s=0.2, warmup=1)
    assert r.iterations >= 1 and len(r.latencies_ns) == r.iterations


def test_cancel_between_iterations():
    calls = []

    def on_iteration(i, ns):
        calls.append(i)

    job = Job(cancel=lambda: len(calls) >= 5)
    with pytest.raises(Cancelled):
        benchmark(_lenet(), iterations=10_000, warmup=0, job=job, on_iteration=on_iteration)
    assert len(calls) == 5


def test_progress_reported():
    fractions = []
    benchmark(_lenet(), iterations=20, warmup=1, job=Job(progress=lambda f, m: fractions.append(f), min_interval_s=0))
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_bad_feeds_and_target():
    with pytest.raises(InputError, match="axis 2 is 16, not 32"):
        benchmark(_lenet(), feeds={"x": np.zeros((1, 1, 16, 32), np.float32)}, iterations=2)
    with pytest.raises(InputError, match="fixed batch dimension"):
        benchmark(_lenet(), batch=4, iterations=2)
    with pytest.raises(TargetError, match="unknown target"):
        benchmark(_lenet(), "nope:cpu", iterations=2)


def test_given_feeds_are_used():
    fx = fixture_by_name("lenet5")
    r = benchmark(_lenet(), feeds={"x": fx.inputs()[0]}, iterations=3, warmup=0)
    assert r.inputs["source"] == "given" and r.inputs["shapes"] == {"x": [1, 1, 32, 32]}


def test_batch_sweep_on_dynamic_model():
    res = sweep(_dynamic_model(), threads=[1], batches=[1, 4], iterations=10, warmup=1)
    assert [p.batch for p in res.points] == [1, 4]
    for p in res.points:
        assert p.result.inputs["shapes"]["x"] == [p.batch, 16]
        assert p.result.throughput_per_s == pytest.approx(p.batch * 1e9 / np.mean(p.result.latencies_ns))
        assert p.result.options["threads"] == 1
    assert res.to_dict()["kind"] == "sweep"


def test_profile_op_types_match_graph():
    model = _lenet()
    r = benchmark(model, iterations=10, warmup=1, options=TargetOptions(profile=True, graph_optimization="disable"))
    assert r.profile is not None
    assert {o.op_type for o in r.profile.by_op_type} == {n.op_type for n in model.onnx.graph.node}
    assert {o.name for o in r.profile.by_node} <= {n.name for n in model.onnx.graph.node}
    assert sum(o.percent for o in r.profile.by_op_type) == pytest.approx(100.0)
    assert r.profile.by_node == sorted(r.profile.by_node, key=lambda o: -o.total_us)


def test_judge_warns_on_unstable_and_pathologically_slow():
    stats = LatencyStats.from_ns([1_000_000_000, 1_000_000_000, 2_000_000_000, 900_000_000])
    r = BenchResult(target="mindspore:cpu", model="m", iterations=4, latencies_ns=[], stats=stats,
                    throughput_per_s=1.0, session_create_ms=0, first_inference_ms=0, batch=1,
                    options={"env": {}}, macs=480_000_000)
    text = " | ".join(judge(r))
    assert "unstable" in text and "pathologically slow" in text and "ONEDNN_MAX_CPU_ISA" in text
    r.options = {"env": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}
    r.stats, r.iterations = LatencyStats.from_ns([20_000_000] * 20), 20
    assert judge(r) == []


def test_report_files(tmp_path):
    r = benchmark(_lenet(), iterations=12, warmup=1, options=TargetOptions(profile=True))
    paths = write_report(tmp_path / "rep", r)
    data = json.loads(paths["json"].read_text())
    assert data["iterations"] == 12 and data["profile"]["by_op_type"]
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert [float(row["latency_ms"]) for row in rows] == pytest.approx([ns / 1e6 for ns in r.latencies_ns], abs=1e-6)
    html = paths["html"].read_text()
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) == 4  # latency line, histogram, op types, nodes
    for s in svgs:
        ET.fromstring(s)  # well-formed
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")


def test_sweep_report_has_curve(tmp_path):
    res = sweep(_dynamic_model(), batches=[1, 2], iterations=5, warmup=0)
    html = write_report(tmp_path / "s", res)["html"].read_text()
    assert "Latency vs throughput" in html
    assert html.count("<svg") == 1 + 2 * 2


def test_history_roundtrip(tmp_path):
    a = benchmark(_lenet(), iterations=3, warmup=0)
    b = benchmark(_lenet(), iterations=4, warmup=0)
    ida, idb = history.save_run(a.to_dict()), history.save_run(b.to_dict())
    assert history.runs_dir() == tmp_path / "data" / "runs"
    listed = [r.run_id for r in history.list_runs()]
    assert set(listed) == {ida, idb}
    assert history.load_run(ida)["iterations"] == 3
    assert history.load_run(idb[:-1])["iterations"] == 4  # unique prefix
    assert history.load_run(str(history.runs_dir() / f"{ida}.json"))["run_id"] == ida
    with pytest.raises(InputError, match="no run 'zzz'"):
        history.load_run("zzz")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InputError, match="not a benchmark run"):
        history.load_run(str(tmp_path / "x.json"))


@pytest.mark.mindspore
@pytest.mark.slow
def test_mindspore_benchmark_records_env():
    fx = fixture_by_name("lenet5")
    model = Model(onnx=onnx.load(fx.onnx), source_path=fx.mindir, source_format="mindir")
    seen = []
    r = benchmark(model, "mindspore:cpu", iterations=5, warmup=1, options=TargetOptions(env={"ONEDNN_MAX_CPU_ISA": "AVX2"}),
                  on_iteration=lambda i, ns: seen.append(ns))
    assert r.iterations == 5 and seen == r.latencies_ns
    assert r.options["env"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    assert "MindSpore worker" in r.what_is_timed


def test_cancel_interrupts_a_long_inference_in_flight():
    """A cancel during one long ONNX Runtime call stops that call (terminate flag), not the next."""
    import time

    import onnx
    from onnx import TensorProto, helper

    from engine.model import Model

    n = 1024
    nodes, prev = [], "x"
    for k in range(200):  # ~200 GFLOP: tens of seconds on a small CPU, so only an interrupt ends it early
        nodes.append(helper.make_node("MatMul", [prev, "w"], [f"y{k}"]))
        prev = f"y{k}"
    weight = onnx.numpy_helper.from_array(np.full((n, n), 1.0 / n, np.float32), "w")
    graph = helper.make_graph(nodes, "slow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [n, n])], initializer=[weight])
    model = Model(onnx=helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    started = []

    def cancel() -> bool:
        if not started:
            started.append(time.monotonic())
        return time.monotonic() - started[0] > 0.3

    with pytest.raises(Cancelled) as info:
        benchmark(model, iterations=3, warmup=0, job=Job(cancel=cancel))
    cause = info.value.__cause__
    assert cause is not None and "terminate" in str(cause).lower()


@pytest.mark.parametrize("precision,marker", [("fp16", "Cast"), ("int8", "QuantizeLinear")])
def test_precision_converts_in_memory_with_parity(precision, marker):
    """A lower precision is applied by conversion (proved by the optimize gate), and recorded."""
    from engine.backends import TargetOptions
    from engine.precision import open_session

    model = _lenet()
    options = TargetOptions(precision=precision)
    with open_session(model, "onnxruntime:cpu", options) as session:
        assert precision in session.info["precision"] and "cosine" in session.info["precision"]
    result = benchmark(model, iterations=5, warmup=1, options=options)
    assert result.options["precision"] == precision
    assert precision in result.session_info["precision"]
    # the source model itself is untouched
    assert not any(n.op_type == marker for n in model.onnx.graph.node if marker == "QuantizeLinear")


def test_precision_is_refused_on_mindspore_and_unknown_values():
    from engine.backends import TargetOptions
    from engine.precision import at_precision

    with pytest.raises(TargetError, match="for ONNX targets"):
        at_precision(_lenet(), "fp16", "mindspore:cpu")
    with pytest.raises(TargetError, match="unknown precision"):
        TargetOptions(precision="int4")
