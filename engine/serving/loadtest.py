"""Closed-loop load test of a V2 endpoint: throughput and latency percentiles per concurrency level.

Closed loop: each of ``concurrency`` clients (a coroutine with its own keep-alive connection)
sends the next request as soon as the previous answer arrives. Each level first warms up,
then counts the requests that complete inside a timed window; latency is wall clock from
sending a request to having read its whole answer. The request body is encoded once, before
timing, so the figures are the server's (and the loopback's), not the client's encoder.

Results are :class:`engine.bench.sweep.SweepResult` subclasses holding one
:class:`engine.bench.runner.BenchResult` per level, so ``engine.bench.report.write_report``
writes the same JSON/CSV/HTML report (with its latency-vs-throughput curve) as ``bench``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
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


class _Conn:
    """One keep-alive HTTP/1.1 connection on asyncio streams: send prepared bytes, read one whole answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if fields.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
            body = bytes(body)
        else:
            body = await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, body


async def _client_loop(host: str, port: int, request: bytes, start_ns: int, end_ns: int, out: list[int],
                       errors: list[str]) -> None:
    """One closed-loop client: requests back to back until ``end_ns``; keeps latencies completed in the window."""
    conn = _Conn(host, port)
    clock = time.perf_counter_ns
    try:
        while True:
            t0 = clock()
            if t0 >= end_ns:
                break
            try:
                status, data = await conn.exchange(request)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                await conn.close()
                await asyncio.sleep(0.01)
                continue
            t1 = clock()
            if status != 200:
                errors.append(f"HTTP {status}: {data[:200].decode(errors='replace')}")
                continue
            if t0 >= start_ns and t1 <= end_ns:
                out.append(t1 - t0)
    finally:
        await conn.close()


def run_level(url: str, model: str, body: bytes, headers: dict[str, str], *, concurrency: int, duration_s: float,
              warmup_s: float, cancel: Callable[[], bool] | None = None) -> tuple[list[int], list[str], float]:
    """One closed-loop level; returns (latencies in ns, error messages, timed window in s).

    The clients are coroutines on one event loop in this thread (no GIL hand-offs between
    client threads, which at a few hundred requests a second would time the client).
    """
    from engine.serving.client import split_url

    host, port, prefix = split_url(url)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (f"POST {prefix}/v2/models/{model}/infer HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Content-Length: {len(body)}\r\n{head}\r\n").encode() + body
    per_client: list[list[int]] = [[] for _ in range(concurrency)]
    errors: list[str] = []

    async def main() -> None:
        start_ns = time.perf_counter_ns() + int(warmup_s * 1e9)
        end_ns = start_ns + int(duration_s * 1e9)
        tasks = [asyncio.create_task(_client_loop(host, port, request, start_ns, end_ns, per_client[i], errors))
                 for i in range(concurrency)]
        while not all(t.done() for t in tasks):
            if cancel is not None and cancel():
                for t in tasks:
                    t.cancel()
                break
            await asyncio.wait(tasks, timeout=0.05)
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    return [ns for lat in per_client for ns in lat], errors, duration_s


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
