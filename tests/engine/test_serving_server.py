"""``dstudio serve`` as a subprocess: V2 answers match a direct run, bad requests get V2 errors, it stops cleanly."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.serving import v2
from engine.serving.client import V2Client
from tests_helpers import ROOT, fixture_by_name

START_DEADLINE_S = 120.0
MAX_BODY_MB = 8


class Server:
    """A running ``dstudio serve`` subprocess, its URL, and the file its stderr goes to (never a full pipe)."""

    def __init__(self, proc: subprocess.Popen, url: str, name: str, stderr) -> None:
        self.proc, self.url, self.name, self.stderr = proc, url, name, stderr

    def err(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self) -> tuple[int, str]:
        """SIGTERM (terminate on Windows), then the exit status and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM if os.name == "posix" else signal.CTRL_BREAK_EVENT)
        try:
            self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            pytest.fail(f"server did not stop within 30 s of SIGTERM; stderr: {self.err()[-2000:]}")
        err = self.err()
        self.stderr.close()
        return self.proc.returncode, err


def _start(model: Path, name: str, *extra: str) -> Server:
    """Start ``dstudio serve`` on a free loopback port; read the URL it prints; poll ready with a deadline."""
    cmd = [sys.executable, "-m", "engine.cli", "serve", str(model), "--port", "0", "--name", name,
           "--max-body-mb", str(MAX_BODY_MB), *extra]
    stderr = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + START_DEADLINE_S
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = ""
    while time.monotonic() < deadline and proc.poll() is None:
        if sel.select(timeout=0.2):
            line = proc.stdout.readline()
            if line.startswith("serving "):
                break
    sel.close()
    server = Server(proc, "", name, stderr)
    if not line.startswith("serving "):
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"dstudio serve did not start: {line!r} {out[-500:]} {server.err()[-2000:]}")
    server.url = line.split(" at ", 1)[1].split("/v2/", 1)[0]
    with V2Client(server.url) as client:
        assert client.wait_ready(START_DEADLINE_S)
    return server


@pytest.fixture(scope="module")
def resnet18_server() -> Iterator[tuple[Server, object]]:
    fx = fixture_by_name("resnet18")
    server = _start(fx.mindir, "resnet18")
    yield server, fx
    if server.proc.poll() is None:
        server.stop()


def _direct(model_path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from engine import formats
    from engine.backends import open_session

    with open_session(formats.load(model_path), "onnxruntime:cpu") as s:
        return s.infer(feeds)


def _post(client: V2Client, path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    status, _, data = client.request("POST", path, body, headers or {"Content-Type": "application/json"})
    return status, json.loads(data)


def test_resnet18_v2_infer_matches_direct_run_then_survives_bad_requests(resnet18_server):
    server, fx = resnet18_server
    (x,) = fx.inputs()
    feeds = {"x": x}
    direct = _direct(fx.mindir, feeds)
    with V2Client(server.url) as client:
        meta = client.metadata("resnet18")
        assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [1, 3, 224, 224]}]
        for binary in (False, True):
            got = client.infer("resnet18", feeds, binary=binary)
            assert list(got) == list(direct)
            for k in direct:
                assert got[k].shape == direct[k].shape
                assert float(np.abs(got[k] - direct[k]).max()) <= 1e-5

        infer = "/v2/models/resnet18/infer"
        wrong_shape, _ = v2.encode_request({"x": x[..., :223]})
        status, err = _post(client, infer, wrong_shape)
        assert status == 400 and "'x'" in err["error"] and "223" in err["error"]
        wrong_dtype, _ = v2.encode_request({"x": x.astype(np.float64)})
        status, err = _post(client, infer, wrong_dtype)
        assert status == 400 and "float64" in err["error"] and "float32" in err["error"]
        status, err = _post(client, "/v2/models/nosuch/infer", wrong_shape)
        assert status == 404 and "nosuch" in err["error"]
        status, err = _post(client, infer, b'{"inputs": [{"name": "x", "shape": [1, 3')
        assert status == 400 and "malformed JSON" in err["error"]
        status, err = client.get_json("/v2/models/nosuch")
        assert status == 404 and "error" in err

    # oversized: the server answers 413 from the declared length, before the body is sent
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        size = (MAX_BODY_MB + 1) * 1024 * 1024
        sock.sendall(f"POST {infer} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert "limit" in json.loads(body)["error"]

    # still serving, with the same answer
    with V2Client(server.url) as client:
        got = client.infer("resnet18", feeds)
        assert float(np.abs(got["output"] - direct["output"]).max()) <= 1e-5
        status, stats = client.get_json("/v2/models/resnet18/stats")
        assert status == 200
        (entry,) = stats["model_stats"]
        assert entry["inference_count"] >= 3 and entry["fail_count"] >= 3  # 404s never reach the model
    rc, err = server.stop()
    assert rc == 0, err[-2000:]
    assert "Traceback" not in err


def test_lenet5_serve_and_loadtest_report(tmp_path, lenet5):
    from engine.bench.report import write_report
    from engine.serving.loadtest import loadtest

    server = _start(lenet5.mindir, "lenet5", "--workers", "2")
    try:
        result = loadtest(server.url, "lenet5", concurrency=[1, 2], duration_s=0.5, warmup_s=0.1)
        assert [p.concurrency for p in result.points] == [1, 2]
        for p in result.points:
            assert p.errors == 0 and p.result.iterations > 0
            s = p.result.stats
            assert 0 < s.min_ms <= s.median_ms <= s.p90_ms <= s.p99_ms <= s.max_ms
            assert p.result.throughput_per_s == pytest.approx(p.result.iterations / p.window_s)
        paths = write_report(tmp_path, result)
        data = json.loads(paths["json"].read_text())
        assert data["kind"] == "loadtest" and [pt["concurrency"] for pt in data["points"]] == [1, 2]
        html = paths["html"].read_text()
        assert "Latency vs throughput" in html and ">c2<" in html
        assert "nan ms" not in html  # a load test opens no session: the report does not invent its timings
        rows = paths["csv"].read_text().splitlines()
        assert len(rows) == 1 + sum(p.result.iterations for p in result.points)

        from engine.cli import main

        rc = main(["loadtest", server.url, "--model", "nosuch", "-c", "1", "-d", "0.2s"])
        assert rc == 1
    finally:
        rc, err = server.stop()
    assert rc == 0, err[-2000:]


def test_serve_refuses_a_taken_port(lenet5):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "engine.cli", "serve", str(lenet5.mindir), "--port", str(port)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and f"127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr


def test_server_sessions_do_not_spin_unless_asked():
    from engine.backends import TargetOptions
    from engine.backends.onnxruntime_backend import session_options
    from engine.cli import build_parser

    key = "session.intra_op.allow_spinning"
    assert session_options(TargetOptions(spin_wait=False)).get_session_config_entry(key) == "0"
    assert not _has_entry(session_options(TargetOptions()), key)  # bench and the rest keep ORT's default (spin)
    args = build_parser().parse_args(["serve", "m.onnx"])
    assert args.spin_wait is False
    assert build_parser().parse_args(["serve", "m.onnx", "--spin-wait"]).spin_wait is True


def _has_entry(so, key: str) -> bool:
    try:
        so.get_session_config_entry(key)
    except Exception:  # ORT raises when the entry was never set
        return False
    return True
