"""The packaged app's --self-test, run from source: open the sample, convert it, time 20 iterations."""

from __future__ import annotations


def test_self_test_passes_from_source(qapp, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    from studio.selftest import run

    assert run(timeout_s=120.0) == 0


def test_self_test_fails_when_the_lite_worker_is_missing(qapp, tmp_path, monkeypatch):
    """A frozen build that forgot the Lite worker script fails its self-test, not a person's run."""
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    from engine.backends import mslite_env
    from studio.selftest import run

    monkeypatch.setattr(mslite_env, "WORKER", tmp_path / "missing" / "mslite_worker.py")
    assert run(timeout_s=30.0) == 1
