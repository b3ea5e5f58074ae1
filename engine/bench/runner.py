"""Timed inference: warm-up, per-iteration latencies, statistics and the warnings they call for."""

from __future__ import annotations

import datetime as _dt
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine.backends import DEFAULT_TARGET, TargetOptions, canonical_name
from engine.bench.stats import UNSTABLE_CV, LatencyStats
from engine.errors import Cancelled, InputError
from engine.inputs import check_feeds, make_feeds
from engine.jobs import Job, as_job
from engine.precision import open_session  # applies options.precision (fp16, int8), then opens

if TYPE_CHECKING:
    from engine.bench.profile import ProfileResult
    from engine.model import Model

log = logging.getLogger(__name__)

#: below this many GMAC/s a CPU run is pathologically slow (a modern core does 10+).
SLOW_GMACS = 1.0
#: ... but only for models with at least this many MACs: below it, fixed per-call costs (the
#: framework's dispatch, a worker process, copying outputs) dominate and a low rate says nothing.
#: At SLOW_GMACS this much compute takes 50 ms, far above any fixed overhead.
SLOW_MIN_MACS = 50_000_000

WHAT_IS_TIMED = (
    "wall clock (time.perf_counter_ns) around one inference call per iteration, including the copy "
    "of every output back to host numpy arrays; inputs are prepared on the host before timing and "
    "reused; session creation and warm-up are excluded{where}"
)


@dataclass
class BenchResult:
    """One benchmark run: every latency, their statistics, and the conditions they were taken in."""

    target: str
    model: str
    iterations: int
    latencies_ns: list[int]
    stats: LatencyStats
    throughput_per_s: float
    session_create_ms: float
    first_inference_ms: float
    batch: int
    options: dict
    warnings: list[str] = field(default_factory=list)
    what_is_timed: str = ""
    profile: ProfileResult | None = None
    warmup: int = 0
    macs: int | None = None
    inputs: dict = field(default_factory=dict)
    session_info: dict = field(default_factory=dict)
    machine: dict = field(default_factory=dict)
    started_at: str = ""
    run_id: str = ""
    model_path: str = ""

    @property
    def gmacs_per_s(self) -> float | None:
        """Achieved GMAC/s from the median latency, when the model's MACs are known."""
        if not self.macs or not self.stats.median_ms or np.isnan(self.stats.median_ms):
            return None
        return self.macs / (self.stats.median_ms * 1e6)

    def to_dict(self) -> dict:
        return {
            "kind": "bench",
            "run_id": self.run_id,
            "started_at": self.started_at,
            "target": self.target,
            "model": self.model,
            "model_path": self.model_path,
            "iterations": self.iterations,
            "warmup": self.warmup,
            "batch": self.batch,
            "options": self.options,
            "stats": self.stats.to_dict(),
            "throughput_per_s": self.throughput_per_s,
            "session_create_ms": self.session_create_ms,
            "first_inference_ms": self.first_inference_ms,
            "macs": self.macs,
            "gmacs_per_s": self.gmacs_per_s,
            "warnings": list(self.warnings),
            "what_is_timed": self.what_is_timed,
            "inputs": self.inputs,
            "session_info": self.session_info,
            "machine": self.machine,
            "profile": self.profile.to_dict() if self.profile is not None else None,
            "latencies_ms": [ns / 1e6 for ns in self.latencies_ns],
        }

    @classmethod
    def from_dict(cls, data: dict) -> BenchResult:
        """Rebuild a result saved by :meth:`to_dict` (the profile stays a plain dict)."""
        lat = [int(round(ms * 1e6)) for ms in data.get("latencies_ms", [])]
        return cls(
            target=data["target"], model=data["model"], iterations=data["iterations"], latencies_ns=lat,
            stats=LatencyStats(**data["stats"]), throughput_per_s=data["throughput_per_s"],
            session_create_ms=data.get("session_create_ms", float("nan")),
            first_inference_ms=data.get("first_inference_ms", float("nan")), batch=data.get("batch", 1),
            options=data.get("options", {}), warnings=data.get("warnings", []),
            what_is_timed=data.get("what_is_timed", ""), warmup=data.get("warmup", 0), macs=data.get("macs"),
            inputs=data.get("inputs", {}), session_info=data.get("session_info", {}),
            machine=data.get("machine", {}), started_at=data.get("started_at", ""), run_id=data.get("run_id", ""),
            model_path=data.get("model_path", ""),
        )


def machine_info() -> dict:
    """Facts about this machine that a timing depends on."""
    import os

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version()}


def model_label(model: Model) -> str:
    """``folder/file`` for a model read from disk (fixtures are all called model.onnx), else its name."""
    path = model.source_path
    if path is None:
        return model.name
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def _batch_of(feeds: dict[str, np.ndarray]) -> int:
    first = next(iter(feeds.values()), None)
    return int(first.shape[0]) if first is not None and first.ndim > 0 else 1


class _CancelWatch:
    """Polls the cancel check while a run is in flight and interrupts the session.

    Checks between iterations cannot stop one long inference; this thread asks the backend
    to abort the call in progress (ONNX Runtime's terminate flag), so a cancel takes effect
    within about one poll interval plus one kernel. The interrupted call's error becomes
    :class:`Cancelled`.
    """

    POLL_S = 0.02

    def __init__(self, session: object, job: Job) -> None:
        import threading

        self._session = session
        self._job = job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="dstudio-cancel-watch", daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(self.POLL_S):
            if self._job.cancel():
                self._session.interrupt()  # type: ignore[attr-defined]
                return

    def __enter__(self) -> _CancelWatch:
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._stop.set()
        self._thread.join()
        if exc is not None and not isinstance(exc, Cancelled) and self._job.cancel():
            raise Cancelled() from exc
        return False


def benchmark(
    model: Model,
    target: str = DEFAULT_TARGET,
    *,
    options: TargetOptions | None = None,
    warmup: int = 10,
    iterations: int | None = 100,
    duration_s: float | None = None,
    batch: int | None = None,
    feeds: dict | None = None,
    seed: int = 0,
    job: Job | None = None,
    on_iteration: Callable[[int, int], None] | None = None,
    shapes: dict | None = None,
) -> BenchResult:
    """Time ``model`` on ``target``.

    Runs ``warmup`` untimed iterations, then ``iterations`` timed ones, or as many as fit in
    ``duration_s`` (both given: whichever ends first). Cancel is checked between iterations.

    Args:
        feeds: inputs to use; otherwise seeded random inputs (``seed``, ``batch``, ``shapes``).
        on_iteration: called with (index, latency_ns) after each timed iteration.
        shapes: shapes of generated inputs by input name (None where a dimension is not
            chosen); a dynamic dimension nothing chooses runs at 1, with a warning.

    Raises:
        InputError: feeds do not match the model, or ``batch`` does not fit it.
        TargetError: the target is unknown, unavailable or cannot load the model.
        Cancelled: the job was cancelled.
    """
    options = options or TargetOptions()
    job = as_job(job)
    if iterations is None and duration_s is None:
        raise InputError("give a number of iterations or a duration")
    if iterations is not None and iterations < 1:
        raise InputError(f"iterations must be at least 1, not {iterations}")
    graph = model.onnx  # None for an unlowered MindIR, which only MindSpore targets open
    started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    specs = model.io_specs()[0]
    defaulted: list[str] = []
    if feeds is None:
        from engine.inputs import unresolved_dims

        feeds = make_feeds(specs, seed=seed, batch=batch, shapes=shapes)
        input_desc = {"source": "random", "seed": seed}
        defaulted = unresolved_dims(specs, batch=batch, shapes=shapes)
        if defaulted:
            input_desc["defaulted_dims"] = defaulted
    else:
        check_feeds(feeds, specs)
        input_desc = {"source": "given"}
    input_desc["shapes"] = {k: list(v.shape) for k, v in feeds.items()}
    input_desc["dtypes"] = {k: v.dtype.name for k, v in feeds.items()}
    run_batch = _batch_of(feeds)

    job.report(0.0, f"opening {target}")
    t0 = time.perf_counter_ns()
    session = open_session(model, target, options, job=job)
    session_create_ms = (time.perf_counter_ns() - t0) / 1e6
    latencies: list[int] = []
    profile = None
    with session, _CancelWatch(session, job):
        t1 = time.perf_counter_ns()
        session.infer(feeds)
        first_ms = (time.perf_counter_ns() - t1) / 1e6
        job.report(0.02, "warming up")
        for _ in session.timed(feeds, iterations=max(warmup - 1, 0), cancel=job.cancel):
            job.check()
        total = iterations
        start = time.monotonic()
        for i, ns in enumerate(session.timed(feeds, iterations=iterations, duration_s=duration_s, cancel=job.cancel)):
            latencies.append(ns)
            if on_iteration is not None:
                on_iteration(i, ns)
            frac = (i + 1) / total if total else 0.0
            if duration_s is not None:
                frac = max(frac, (time.monotonic() - start) / duration_s)
            job.report(0.05 + 0.9 * min(frac, 1.0), f"{i + 1} runs")
        if options.profile:
            profile = session.profile_impl(feeds, min(max(len(latencies), 10), 100), job=job.sub(0.95, 1.0))
        warnings = list(session.warnings)
        session_info = dict(session.info)
    job.report(1.0, "done")

    stats = LatencyStats.from_ns(latencies)
    from engine.flops import estimate_macs

    macs = estimate_macs(graph, input_shapes={k: v.shape for k, v in feeds.items()}) if graph is not None else None
    where = ""
    if session.target.startswith("mindspore:"):
        where = "; timed inside the MindSpore worker process (GraphCell call + Tensor.asnumpy), no pipe in the timed region"
    result = BenchResult(
        target=canonical_name(target), model=model_label(model), iterations=len(latencies), latencies_ns=latencies,
        stats=stats,
        throughput_per_s=run_batch * 1e9 / float(np.mean(latencies)) if latencies else float("nan"),
        session_create_ms=session_create_ms, first_inference_ms=first_ms, batch=run_batch,
        options={**options.to_dict(), "warmup": warmup, "requested_iterations": iterations, "duration_s": duration_s},
        warnings=warnings, what_is_timed=WHAT_IS_TIMED.format(where=where), profile=profile, warmup=warmup,
        macs=macs, inputs=input_desc, session_info=session_info, machine=machine_info(), started_at=started_at,
        model_path=str(model.source_path or ""),
    )
    if defaulted:
        result.warnings.append(
            f"dynamic dimensions without a chosen size ran at 1: {', '.join(defaulted)}; "
            "these timings are for a smaller input than the model's real one")
    result.warnings.extend(judge(result))
    for w in result.warnings:
        log.info("%s: %s", result.target, w)
    return result


def judge(result: BenchResult) -> list[str]:
    """Warnings a person should see next to these numbers."""
    out = []
    s = result.stats
    if result.iterations < 10:
        out.append(f"only {result.iterations} timed iterations; statistics are rough")
    if not np.isnan(s.cv) and s.cv > UNSTABLE_CV:
        out.append(
            f"unstable timings: coefficient of variation {s.cv:.0%} (std {s.std_ms:.3g} ms over mean "
            f"{s.mean_ms:.3g} ms); close other programs or run longer"
        )
    rate = result.gmacs_per_s
    big_enough = (result.macs or 0) >= SLOW_MIN_MACS
    if rate is not None and rate < SLOW_GMACS and result.target.endswith(":cpu") and s.median_ms > 5 and big_enough:
        hint = ""
        if result.target.startswith("mindspore:") and "ONEDNN_MAX_CPU_ISA" not in result.options.get("env", {}):
            hint = "; MindSpore's default oneDNN path is very slow on some AVX-512 CPUs, try --env ONEDNN_MAX_CPU_ISA=AVX2"
        out.append(
            f"pathologically slow: {rate:.2f} GMAC/s achieved ({result.macs / 1e6:.0f} MMAC in "
            f"{s.median_ms:.1f} ms median); a CPU core normally does well over {SLOW_GMACS:g}{hint}"
        )
    return out
