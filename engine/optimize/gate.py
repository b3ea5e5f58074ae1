"""The parity gate: run a candidate on the target, compare with the reference, time it."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from engine.errors import Cancelled, EngineError
from engine.bench.stats import LatencyStats
from engine.jobs import Job, as_job
from engine.model import Model
from engine.optimize.report import ParitySummary

log = logging.getLogger(__name__)

#: Pass precision class -> the validate module's precision name.
PRECISION_NAMES = {"fp32": "float32", "fp16": "float16", "int8": "int8"}
_ORDER = ("float32", "float16", "int8")

#: A quantised candidate must keep at least this cosine similarity on every float output.
MIN_COSINE = 0.99


def looser(a: str, b: str) -> str:
    return max(a, b, key=_ORDER.index)


@dataclass
class Gate:
    """Reference outputs of the unoptimised model and the rules candidates are judged by.

    Attributes:
        target: where candidates run.
        feeds: the seeded inputs every run uses.
        reference: the unoptimised model's outputs on ``feeds``.
        rtol, atol: explicit tolerances (None: by precision, from engine.validate).
        min_cosine: the int8 criterion.
        warmup, iterations: the small benchmark per candidate.
    """

    target: str
    feeds: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    rtol: float | None = None
    atol: float | None = None
    min_cosine: float = MIN_COSINE
    warmup: int = 3
    iterations: int = 20
    inputs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, model: Model, target: str, *, seed: int = 0, feeds: dict | None = None, **kwargs: Any) -> Gate:
        """Run the unoptimised model once to get the reference outputs."""
        from engine.inputs import input_specs, make_feeds

        specs = input_specs(model.require_graph())
        if feeds is None:
            feeds = make_feeds(specs, seed=seed)
            inputs = {"source": "random", "seed": seed}
        else:
            inputs = {"source": "given"}
        inputs["shapes"] = {k: list(v.shape) for k, v in feeds.items()}
        reference = run(model, target, feeds)
        return cls(target=target, feeds=feeds, reference=reference, inputs=inputs, **kwargs)

    def judge(self, outputs: dict[str, np.ndarray], precision: str) -> ParitySummary:
        """Parity of ``outputs`` against the reference at ``precision`` (a validate name)."""
        from engine.validate.parity import compare_outputs  # the module: the package also holds the runners

        try:
            report = compare_outputs(self.reference, outputs, rtol=self.rtol, atol=self.atol,
                                     precision=precision, reference_label="unoptimised", candidate_label="optimised")
        except EngineError as exc:
            return ParitySummary(False, precision, math.inf, -1.0, detail=str(exc))
        max_abs = max((o.max_abs for o in report.outputs), default=0.0)
        cosine = min((o.cosine for o in report.outputs), default=1.0)
        first = report.outputs[0] if report.outputs else None
        summary = ParitySummary(False, precision, max_abs, cosine, rtol=first.rtol if first else None,
                                atol=first.atol if first else None, report=report.to_dict())
        if precision == "int8":
            # Quantised graphs: cosine on float outputs, exact on integer ones; explicit
            # tolerances, when given, must hold as well.
            bad = []
            for o in report.outputs:
                ref = np.asarray(self.reference[o.name])
                if ref.dtype.kind == "f":
                    if not (o.cosine >= self.min_cosine and math.isfinite(o.max_abs)):
                        bad.append(f"{o.name}: cosine {o.cosine:.4f} < {self.min_cosine}")
                elif not o.passed:
                    bad.append(f"{o.name}: {o.mismatches} elements differ")
                if (self.rtol is not None or self.atol is not None) and not o.passed:
                    bad.append(f"{o.name}: max_abs {o.max_abs:.3g} beyond the given tolerance")
            summary.min_cosine = self.min_cosine
            summary.passed = not bad
            summary.detail = "; ".join(bad)
        else:
            summary.passed = bool(report.passed)
            if not summary.passed:
                summary.detail = "; ".join(
                    f"{o.name}: max_abs {o.max_abs:.3g} > atol {o.atol:g} + rtol {o.rtol:g}*|ref|"
                    for o in report.outputs if not o.passed)
        return summary

    def check(self, model: Model, precision: str) -> ParitySummary:
        """Run ``model`` on the target and judge it; a model the target rejects fails."""
        try:
            outputs = run(model, self.target, self.feeds)
        except Cancelled:
            raise
        except Exception as exc:
            return ParitySummary(False, precision, math.inf, -1.0, detail=f"target cannot run it: {_one_line(exc)}")
        return self.judge(outputs, precision)

    def latency(self, model: Model, job: Job | None = None, iterations: int | None = None) -> float | None:
        """Median latency in ms over a small benchmark; None if the target cannot run it."""
        try:
            latencies = self.latencies_ns(model, iterations or self.iterations, job=job)
        except Cancelled:
            raise
        except EngineError as exc:
            log.info("cannot time candidate: %s", exc)
            return None
        return float(LatencyStats.from_ns(latencies).median_ms)

    def latencies_ns(self, model: Model, iterations: int, job: Job | None = None) -> list[int]:
        """Per-run latencies in ns, timed as ``dstudio bench`` times them (one first run,
        ``warmup`` untimed runs in all, then ``iterations`` timed ones, each a host-to-host call).

        The gate opens backend sessions itself (fp32, default options) rather than calling
        :func:`engine.bench.benchmark`: bench applies precisions through this optimizer.
        """
        from engine.backends import open_session

        job = as_job(job)
        latencies: list[int] = []
        with open_session(model, self.target, job=job) as session:
            session.infer(self.feeds)
            for _ in session.timed(self.feeds, iterations=max(self.warmup - 1, 0), cancel=job.cancel):
                job.check()
            for ns in session.timed(self.feeds, iterations=iterations, cancel=job.cancel):
                latencies.append(ns)
                job.check()
        return latencies


def run(model: Model, target: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from engine.backends import open_session

    with open_session(model, target) as session:
        return session.infer(feeds)


def wrap(base: Model, proto: onnx.ModelProto, note: str | None = None) -> Model:
    """A Model like ``base`` (provenance kept) holding ``proto``."""
    metadata = dict(base.metadata)
    if note:
        metadata["optimized"] = note
    return dataclasses.replace(base, onnx=proto, source_nodes=None, metadata=metadata)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:240]
