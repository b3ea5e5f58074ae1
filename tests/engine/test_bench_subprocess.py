"""Benchmarks in a worker process (engine.bench.subprocess_runner): same results, errors and cancel as in-process."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal

import numpy as np
import onnx
import pytest

from engine import formats
from engine.backends import TargetOptions
from engine.bench import BenchResult, ProfileResult, benchmark, benchmark_in_subprocess
from engine.bench import subprocess_runner
from engine.bench.sweep import sweep
from engine.errors import Cancelled, InputError, TargetError
from engine.jobs import Job
from engine.model import _digest
from tests_helpers import fixture_by_name


@pytest.fixture(scope="module", autouse=True)
def _one_worker_for_the_module():
    """Tests share the pooled worker (a spawn costs about a second); end it after the module."""
    yield
    subprocess_runner.shutdown()


def _lenet():
    return formats.load(fixture_by_name("lenet5").onnx)  # sealed: matches its source file


def _workers() -> list[int]:
    return [p.pid for p in multiprocessing.active_children() if p.name == "dstudio-bench"]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_agrees_with_the_in_process_run():
    model = _lenet()
    seen: list[tuple[int, int]] = []
    fractions: list[float] = []
    job = Job(progress=lambda f, m: fractions.append(f), min_interval_s=0)
    here = benchmark(model, iterations=40, warmup=2)
    there = benchmark_in_subprocess(model, iterations=40, warmup=2, job=job,
                                    on_iteration=lambda i, ns: seen.append((i, ns)))
    assert isinstance(there, BenchResult)
    assert there.iterations == here.iterations == 40 == len(there.latencies_ns)
    assert seen == list(enumerate(there.latencies_ns))
    assert dataclasses.asdict(there.stats).keys() == dataclasses.asdict(here.stats).keys()
    assert there.stats.median_ms == pytest.approx(np.median(there.latencies_ns) / 1e6)
    for key in ("target", "model", "model_path", "batch", "options", "inputs", "warmup"):
        assert getattr(there, key) == getattr(here, key), key
    assert there.session_info["process"] == "subprocess"
    assert int(there.session_info["worker_pid"]) != os.getpid()
    assert there.session_info["model_digest"] == model.fingerprint  # the source file itself
    assert "worker process" in there.what_is_timed
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert set(there.to_dict()) == set(here.to_dict())


def test_errors_come_back_typed_with_the_same_one_line_message():
    model = _lenet()
    cases = [
        (InputError, dict(feeds={"x": np.zeros((1, 1, 16, 32), np.float32)}, iterations=2)),
        (InputError, dict(batch=4, iterations=2)),
        (InputError, dict(iterations=0)),
        (TargetError, dict(target="nope:cpu", iterations=2)),
    ]
    for kind, kwargs in cases:
        with pytest.raises(kind) as here:
            benchmark(model, **kwargs)
        with pytest.raises(kind) as there:
            benchmark_in_subprocess(model, **kwargs)
        assert str(there.value) == str(here.value)
        assert "\n" not in str(there.value)


def test_an_edited_model_is_what_the_worker_runs(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    model = _lenet()
    weight = model.onnx.graph.initializer[0]
    array = onnx.numpy_helper.to_array(weight) * 2
    weight.CopyFrom(onnx.numpy_helper.from_array(array, weight.name))
    assert not model.matches_source()
    r = benchmark_in_subprocess(model, iterations=3, warmup=0)
    assert r.session_info["model_digest"] == _digest(model.onnx) != model.fingerprint
    assert r.model_path == str(model.source_path)  # reported as the model the caller has
    assert not any(tmp_path.glob("dstudio-bench-*"))  # the temporary copy is gone


def test_profile_and_sweep_through_the_worker():
    model = _lenet()
    r = benchmark_in_subprocess(model, options=TargetOptions(profile=True), iterations=5, warmup=1)
    assert isinstance(r.profile, ProfileResult) and r.profile.by_node
    result = sweep(model, threads=[1, 2], runner=benchmark_in_subprocess, iterations=5, warmup=1)
    assert [p.threads for p in result.points] == [1, 2]
    pids = {p.result.session_info["worker_pid"] for p in result.points}
    assert len(pids) == 1  # one worker served the whole sweep


def test_cancel_stops_the_worker_run():
    model = _lenet()
    seen: list[int] = []
    job = Job(cancel=lambda: bool(seen))
    with pytest.raises(Cancelled):
        benchmark_in_subprocess(model, iterations=None, duration_s=60, warmup=0, job=job,
                                on_iteration=lambda i, ns: seen.append(i))
    # It stopped within the grace period, so it waits idle for the next run, which it serves.
    pids = _workers()
    assert len(pids) == 1
    r = benchmark_in_subprocess(model, iterations=2, warmup=0)
    assert int(r.session_info["worker_pid"]) == pids[0]


def test_cancel_kills_a_worker_that_does_not_stop(monkeypatch):
    monkeypatch.setattr(subprocess_runner, "STOP_GRACE_S", 0.0)
    pids: list[int] = []
    job = Job(cancel=lambda: bool(pids))
    with pytest.raises(Cancelled):
        benchmark_in_subprocess(_lenet(), iterations=None, duration_s=60, warmup=0, job=job,
                                on_iteration=lambda i, ns: pids.extend(_workers()[:1 - len(pids)]))
    assert pids and _gone(pids[0])
    assert _workers() == []


def test_a_worker_that_dies_is_a_target_error():
    def kill_it(i: int, ns: int) -> None:
        if i == 0:
            os.kill(_workers()[0], signal.SIGKILL)

    with pytest.raises(TargetError, match="benchmark worker exited"):
        benchmark_in_subprocess(_lenet(), iterations=None, duration_s=60, warmup=0, on_iteration=kill_it)
    r = benchmark_in_subprocess(_lenet(), iterations=2, warmup=0)  # a fresh worker takes over
    assert r.iterations == 2


def test_mindspore_targets_run_through_benchmark(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess_runner, "benchmark", lambda model, target, **kw: calls.append(target) or "ran")
    assert benchmark_in_subprocess(_lenet(), "mindspore:cpu") == "ran"
    assert calls == ["mindspore:cpu"]
