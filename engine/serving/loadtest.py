"""Closed-loop load test of a V2 endpoint: throughput and latency percentiles per concurrency level.

Closed loop: each of ``concurrency`` clients (a thread with its own keep-alive connection)
sends the next request as soon as the previous answer arrives. Each level first warms up,
then counts the requests that complete inside a timed window; latency is wall clock from
sending a request to having read its whole answer. The request body is encoded once, before
timing, so the figures are the server's (and the loopback's), not the client's encoder.

Results are :class:`engine.bench.sweep.SweepResult` subclasses holding one
:class:`engine.bench.runner.BenchResult` per level, so ``engine.bench.report.write_report``
writes the same JSON/CSV/HTML report (with its latency-vs-throughput curve) as ``bench``.
"""

from __future__ import annotations

import datetime as _dt
import http.client
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.bench.runner import BenchResult, machine_info
from engine.bench.stats import LatencyStats
from engine.bench.sweep import SweepPoint, SweepResult
from engine.errors import InputError, TargetError
from engine.jobs import Job, as_job
from engine.serving import v2
from engine.serving.client import V2Client, feeds_for

log = logging.getLogger(__name__)

WHAT_IS_TIMED = ("wall clock (time.perf_counter_ns) from sending one V2 infer request over HTTP/1.1 keep-alive "
                 "to having read its whole answer, per client; closed loop (the next request leaves when the "
                 "answer arrives); request bodies encoded once before timing; only requests completed inside "
                 "the timed window count; throughput = completed requests x batch / window")


@dataclass
class LoadPoint(SweepPoint):
    """One concurrency level: the bench-style result plus what only a load test has."""

    concurrency: int = 1
    errors: int = 0
    first_error: str = ""
    window_s: float = 0.0

    @property
    def label(self) -> str:
        return f"c{self.concurrency}"

    def to_dict(self) -> dict:
        return {**super().to_dict(), "concurrency": self.concurrency, "errors": self.errors,
                "first_error": self.first_error, "window_s": self.window_s,
                "requests": self.result.iterations}


@dataclass
class LoadTestResult(SweepResult):
    """Every level of one load test, in the order run."""

    url: str = ""
    protocol: str = "binary"
    points: list[LoadPoint] = field(default_factory=list)  # type: ignore[assignment]

    def to_dict(self) -> dict:
        return {**super().to_dict(), "kind": "loadtest", "url": self.url, "protocol": self.protocol}


def _client_loop(url: str, path: str, body: bytes, headers: dict[str, str], start_at: float, end_at: float,
                 out: list[int], errors: list[str], stop: threading.Event) -> None:
    """One closed-loop client: requests back to back until ``end_at``; keeps latencies completed in the window."""
    client = V2Client(url)
    try:
        while not stop.is_set():
            t0 = time.perf_counter_ns()
            if t0 / 1e9 >= end_at:
                break
            try:
                status, _, data = client.request("POST", path, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.01)
                continue
            t1 = time.perf_counter_ns()
            if status != 200:
                errors.append(f"HTTP {status}: {data[:200].decode(errors='replace')}")
                continue
            if t0 / 1e9 >= start_at and t1 / 1e9 <= end_at:
                out.append(t1 - t0)
    finally:
        client.close()


def run_level(url: str, model: str, body: bytes, headers: dict[str, str], *, concurrency: int, duration_s: float,
              warmup_s: float, cancel: Callable[[], bool] | None = None) -> tuple[list[int], list[str], float]:
    """One closed-loop level; returns (latencies in ns, error messages, timed window in s)."""
    now = time.perf_counter()
    start_at = now + warmup_s
    end_at = start_at + duration_s
    per_client: list[list[int]] = [[] for _ in range(concurrency)]
    errors: list[str] = []
    stop = threading.Event()
    path = f"/v2/models/{model}/infer"
    threads = [threading.Thread(target=_client_loop, name=f"dstudio-load-{i}", daemon=True,
                                args=(url, path, body, headers, start_at, end_at, per_client[i], errors, stop))
               for i in range(concurrency)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if cancel is not None and cancel():
            stop.set()
        for t in threads:
            t.join(timeout=0.05)
    latencies = [ns for lat in per_client for ns in lat]
    return latencies, errors, duration_s


def loadtest(
    url: str,
    model: str,
    *,
    concurrency: Sequence[int] = (1, 4, 16),
    duration_s: float = 10.0,
    warmup_s: float = 1.0,
    binary: bool = True,
    batch: int | None = None,
    seed: int = 0,
    feeds: dict[str, np.ndarray] | None = None,
    job: Job | None = None,
    on_point: Callable[[LoadPoint], None] | None = None,
) -> LoadTestResult:
    """Load-test ``model`` at ``url`` at each concurrency level in turn.

    Args:
        concurrency: closed-loop client counts, one level each.
        duration_s: timed window of each level.
        warmup_s: untimed requests before each window.
        binary: tensors as raw bytes (Triton's binary extension) rather than JSON lists.
        batch: size of a dynamic first dimension in the generated inputs.
        feeds: inputs to send (default: seeded from the model's metadata).
        on_point: called with each level's result as it finishes.

    Raises:
        TargetError: the server is not there, not ready, or has no such model; or every
            request of a level failed (the first error is named).
        InputError: bad levels or durations.
    """
    job = as_job(job)
    levels = list(concurrency)
    if not levels or any(c < 1 for c in levels):
        raise InputError(f"concurrency levels must be at least 1, not {levels}")
    if not duration_s > 0 or warmup_s < 0:
        raise InputError(f"duration must be positive and warm-up not negative (got {duration_s}, {warmup_s})")
    with V2Client(url, timeout_s=30) as probe:
        if not probe.ready():
            raise TargetError(f"no V2 server ready at {url} (GET /v2/health/ready failed)",
                              hint="start one with dstudio serve MODEL")
        meta = probe.metadata(model)
        feeds = feeds if feeds is not None else feeds_for(meta, seed=seed, batch=batch)
        probe.infer(model, feeds, binary=binary)  # a request the server refuses fails here, with its reason
    body, headers = v2.encode_request(feeds, binary=binary)
    run_batch = int(next(iter(feeds.values())).shape[0]) if feeds and next(iter(feeds.values())).ndim else 1
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    result = LoadTestResult(target=url, model=model, url=url, protocol="binary" if binary else "json")
    for i, c in enumerate(levels):
        job.report(i / len(levels), f"concurrency {c}")
        latencies, errors, window = run_level(url, model, body, headers, concurrency=c, duration_s=duration_s,
                                              warmup_s=warmup_s, cancel=job.cancel)
        job.check()
        if not latencies:
            first = errors[0] if errors else "no request completed inside the window"
            raise TargetError(f"load test of {model} at {url}, concurrency {c}: {first}")
        stats = LatencyStats.from_ns(latencies)
        bench = BenchResult(
            target=f"{url} c={c}", model=model, iterations=len(latencies), latencies_ns=latencies, stats=stats,
            throughput_per_s=len(latencies) * run_batch / window, session_create_ms=float("nan"),
            first_inference_ms=float("nan"), batch=run_batch,
            options={"concurrency": c, "duration_s": duration_s, "warmup_s": warmup_s, "protocol": result.protocol,
                     "request_bytes": len(body)},
            warnings=[f"{len(errors)} requests failed at concurrency {c}; first: {errors[0]}"] if errors else [],
            what_is_timed=WHAT_IS_TIMED, warmup=0, inputs={"shapes": {k: list(v.shape) for k, v in feeds.items()},
                                                           "dtypes": {k: v.dtype.name for k, v in feeds.items()}},
            session_info={"server": meta.get("platform", "")}, machine=machine_info(), started_at=started,
        )
        point = LoadPoint(threads=None, batch=run_batch, result=bench, concurrency=c, errors=len(errors),
                          first_error=errors[0] if errors else "", window_s=window)
        result.points.append(point)
        if on_point is not None:
            on_point(point)
    job.report(1.0, "done")
    return result
