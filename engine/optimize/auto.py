"""``--preset auto``: build every precision variant, time them on the target, keep the fastest
that stays within tolerance (the model as given is a candidate, so the pick is never slower
than doing nothing, as measured)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from engine.jobs import Job, as_job
from engine.model import Model
from engine.optimize.chain import build_passes, run_chain
from engine.optimize.gate import Gate
from engine.optimize.presets import AUTO_VARIANTS, CLEANUP, VARIANT_TAILS
from engine.optimize.report import VariantReport

log = logging.getLogger(__name__)

def search(
    model: Model,
    gate: Gate,
    shared: dict[str, Any],
    *,
    pass_options: dict[str, dict[str, Any]] | None = None,
    variants: tuple[str, ...] = AUTO_VARIANTS,
    iterations: int = 30,
    rounds: int = 3,
    job: Job | None = None,
) -> tuple[list[VariantReport], VariantReport]:
    """Build and time the variants; return them all and the chosen one.

    Timing is interleaved (``rounds`` rounds over all candidates) so that a burst of load
    on a shared machine does not favour whichever variant ran in a quiet moment.
    """
    job = as_job(job)
    job.report(0.0, "clean-up")
    base, base_steps, base_precision = run_chain(model, build_passes(CLEANUP, shared, pass_options), gate,
                                                 measure_latency=False, job=job.sub(0.0, 0.15))
    plain = VariantReport("plain", model=model, steps=[])
    plain.parity = gate.check(model, "float32")
    reports = [plain]
    n = max(len(variants), 1)
    for i, name in enumerate(variants):
        sub = job.sub(0.15 + 0.55 * i / n, 0.15 + 0.55 * (i + 1) / n)
        tail = build_passes(VARIANT_TAILS[name], shared, pass_options)
        final, steps, precision = run_chain(base, tail, gate, precision=base_precision, measure_latency=False, job=sub)
        v = VariantReport(name, steps=base_steps + steps)
        # A variant is what its whole chain makes: if any of its passes was rejected
        # (parity failure or error) the variant does not exist, rather than silently
        # being the clean-up model under another name.
        failed = next((s for s in steps if not s.kept), None)
        if failed is not None:
            v.reason = f"{failed.name}: {failed.reason}"
            v.parity = failed.parity
            v.size, v.nodes = failed.size_after, sum(failed.ops_after.values())
            reports.append(v)
            continue
        v.model = final
        v.parity = gate.check(final, precision)
        reports.append(v)
    for v in reports:
        if v.model is not None:
            proto = v.model.require_graph()
            v.size, v.nodes = proto.ByteSize(), len(proto.graph.node)
    _time(reports, gate, iterations, rounds, job.sub(0.7, 1.0))
    usable = [v for v in reports if v.usable]
    chosen = min(usable, key=lambda v: v.latency_ms) if usable else plain
    chosen.chosen = True
    for v in reports:
        if v is chosen:
            v.reason = "fastest within tolerance"
        elif not v.reason:
            if v.parity is not None and not v.parity.passed:
                v.reason = f"parity failed: {v.parity.detail}"
            elif v.latency_ms is None:
                v.reason = "could not be timed on the target"
            else:
                v.reason = f"slower ({v.latency_ms:.3g} ms vs {chosen.latency_ms:.3g} ms)"
    job.report(1.0, f"chose {chosen.name}")
    return reports, chosen


def _time(reports: list[VariantReport], gate: Gate, iterations: int, rounds: int, job: Job) -> None:
    timed = [v for v in reports if v.model is not None and "target cannot run it" not in (v.parity.detail if v.parity else "")]
    per_round = max(iterations // max(rounds, 1), 1)
    samples: dict[str, list[int]] = {v.name: [] for v in timed}
    total = max(len(timed) * rounds, 1)
    done = 0
    for _ in range(rounds):
        for v in timed:
            job.report(done / total, f"timing {v.name}")
            try:
                samples[v.name] += gate.latencies_ns(v.model, per_round)
            except Exception as exc:  # a variant the target cannot time is simply not picked
                log.info("cannot time %s: %s", v.name, exc)
                samples[v.name] = []
            done += 1
    for v in timed:
        if samples[v.name]:
            v.latency_ms = float(np.median(samples[v.name])) / 1e6
            mean = float(np.mean(samples[v.name]))
            v.cv = float(np.std(samples[v.name])) / mean if mean > 0 and len(samples[v.name]) > 1 else None
