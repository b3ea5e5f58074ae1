"""Run a chain of passes, proving each: op counts, size, latency and parity after every pass."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from engine.errors import Cancelled
from engine.jobs import Job, as_job
from engine.model import Model
from engine.optimize.gate import PRECISION_NAMES, Gate, looser, wrap
from engine.optimize.report import StepReport
from engine.passes import Pass, get_pass
from engine.passes._graph import op_counts

log = logging.getLogger(__name__)

def build_passes(specs: Sequence[str | Pass], shared: dict[str, Any],
                 pass_options: dict[str, dict[str, Any]] | None = None) -> list[Pass]:
    """Pass instances for names (with shared and per-pass options) or ready instances."""
    pass_options = pass_options or {}
    out = []
    for spec in specs:
        if isinstance(spec, Pass):
            out.append(spec)
        else:
            out.append(get_pass(spec, shared=shared, **pass_options.get(spec, {})))
    return out


def run_chain(
    model: Model,
    passes: Sequence[Pass],
    gate: Gate,
    *,
    precision: str = "float32",
    force: bool = False,
    measure_latency: bool = True,
    job: Job | None = None,
) -> tuple[Model, list[StepReport], str]:
    """Apply ``passes`` in order; keep each output only if it passes the gate.

    Args:
        model: where the chain starts (already judged at ``precision``).
        passes: the passes, in order.
        gate: reference outputs and parity rules.
        precision: the precision ``model`` computes in; a kept lossy pass loosens it.
        force: keep outputs that fail parity (still reported as failures).
        measure_latency: time each kept output on the target.
        job: progress and cancel.

    Returns:
        The last kept model, one report per pass, and the precision it computes in.
    """
    job = as_job(job)
    current = model
    steps: list[StepReport] = []
    n = max(len(passes), 1)
    for i, p in enumerate(passes):
        sub = job.sub(i / n, (i + 1) / n)
        sub.report(0.0, p.name or type(p).__name__)
        step, candidate, step_precision = _one_pass(current, p, gate, precision, force, measure_latency, sub)
        if step.kept and candidate is not None:
            current, precision = candidate, step_precision
        steps.append(step)
        sub.report(1.0, step.name)
    return current, steps, precision


def _one_pass(current: Model, p: Pass, gate: Gate, precision: str, force: bool, measure_latency: bool,
              job: Job) -> tuple[StepReport, Model | None, str]:
    proto = current.require_graph()
    step = StepReport(name=p.name or type(p).__name__, options=p.options(),
                      ops_before=op_counts(proto), size_before=proto.ByteSize())
    step_precision = looser(precision, PRECISION_NAMES.get(p.precision, "float32"))
    t0 = time.perf_counter()
    try:
        result = p.call(proto)
    except Cancelled:
        raise
    except Exception as exc:  # a pass that breaks is reported, never fatal to the chain
        log.warning("pass %s failed: %s", step.name, exc)
        step.seconds = time.perf_counter() - t0
        step.reason = f"error: {_one_line(exc)}"
        step.ops_after, step.size_after = step.ops_before, step.size_before
        return step, None, precision
    step.seconds = time.perf_counter() - t0
    step.modified = bool(result.modified)
    step.notes = list(result.notes)
    if not step.modified:
        step.kept, step.reason = True, "unchanged"
        step.ops_after, step.size_after = step.ops_before, step.size_before
        return step, None, precision
    step.ops_after, step.size_after = op_counts(result.model), result.model.ByteSize()
    candidate = wrap(current, result.model, note=step.name)
    job.report(0.3, f"{step.name}: parity")
    step.parity = gate.check(candidate, step_precision)
    runnable = "target cannot run it" not in step.parity.detail
    if measure_latency and runnable and (step.parity.passed or force):
        job.report(0.6, f"{step.name}: timing")
        step.latency_ms = gate.latency(candidate)
    if step.parity.passed:
        step.kept = True
    elif force and runnable:
        step.kept, step.reason = True, f"kept (forced): parity failed: {step.parity.detail}"
    else:
        step.reason = f"parity failed: {step.parity.detail}"
    return step, candidate, step_precision


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:240]
