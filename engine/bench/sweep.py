"""Sweeps: the same benchmark over thread counts and batch sizes, for a latency-vs-throughput curve."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.backends import DEFAULT_TARGET, TargetOptions
from engine.bench.runner import BenchResult, benchmark
from engine.jobs import Job, as_job

if TYPE_CHECKING:
    from engine.model import Model

log = logging.getLogger(__name__)


@dataclass
class SweepPoint:
    """One (threads, batch) cell of a sweep."""

    threads: int | None
    batch: int
    result: BenchResult

    def to_dict(self) -> dict:
        s = self.result.stats
        return {"threads": self.threads, "batch": self.batch, "median_ms": s.median_ms, "p90_ms": s.p90_ms,
                "p99_ms": s.p99_ms, "cv": s.cv, "throughput_per_s": self.result.throughput_per_s}


@dataclass
class SweepResult:
    """Every point of a sweep, in the order run (threads outer, batch inner)."""

    target: str
    model: str
    points: list[SweepPoint] = field(default_factory=list)
    run_id: str = ""

    @property
    def started_at(self) -> str:
        return self.points[0].result.started_at if self.points else ""

    def to_dict(self) -> dict:
        return {
            "kind": "sweep", "run_id": self.run_id, "started_at": self.started_at, "target": self.target, "model": self.model,
            "points": [p.to_dict() for p in self.points],
            "runs": [p.result.to_dict() for p in self.points],
        }


def sweep(
    model: Model,
    target: str = DEFAULT_TARGET,
    *,
    threads: Sequence[int | None] = (None,),
    batches: Sequence[int | None] = (None,),
    options: TargetOptions | None = None,
    job: Job | None = None,
    on_point: Callable[[SweepPoint], None] | None = None,
    runner: Callable[..., BenchResult] = benchmark,
    **bench_kwargs,
) -> SweepResult:
    """Benchmark every (threads, batch) pair; other keyword arguments go to :func:`benchmark`.

    ``runner`` times each point: :func:`benchmark`, or anything with its signature
    (:func:`engine.bench.subprocess_runner.benchmark_in_subprocess`).
    """
    options = options or TargetOptions()
    job = as_job(job)
    pairs = [(t, b) for t in threads for b in batches]
    out = SweepResult(target=target, model=model.name)
    for i, (t, b) in enumerate(pairs):
        opts = dataclasses.replace(options, threads=t if t is not None else options.threads)
        label = f"threads={t if t is not None else 'default'} batch={b if b is not None else 'model'}"
        sub = job.sub(i / len(pairs), (i + 1) / len(pairs))
        sub.report(0.0, label)
        result = runner(model, target, options=opts, batch=b, job=sub, **bench_kwargs)
        point = SweepPoint(threads=opts.threads, batch=result.batch, result=result)
        out.points.append(point)
        out.target, out.model = result.target, result.model
        if on_point is not None:
            on_point(point)
    return out
