"""Optimise a model with passes whose every step is proven: op counts, size, latency, parity.

:func:`optimize` runs a chain of passes (by name, by preset, or the default clean-up and
fusion). After each pass the output runs on the target with the same seeded inputs as the
unoptimised model; a pass whose outputs drift beyond tolerance is reported and dropped
(unless ``force``), and the chain continues from the last good model. ``preset="auto"``
builds every precision variant, times them and keeps the fastest that stays in tolerance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.errors import EngineError
from engine.jobs import Job, as_job
from engine.model import Model
from engine.optimize.auto import search
from engine.optimize.chain import build_passes, run_chain
from engine.optimize.gate import MIN_COSINE, Gate
from engine.optimize.presets import AUTO_VARIANTS, PRESETS, preset_passes
from engine.optimize.report import OptimizeResult, ParitySummary, StepReport, VariantReport
from engine.passes import Pass
from engine.passes._graph import op_counts

log = logging.getLogger(__name__)

__all__ = ["AUTO_VARIANTS", "MIN_COSINE", "PRESETS", "OptimizeResult", "ParitySummary", "StepReport",
           "VariantReport", "optimize", "preset_passes"]

#: Random calibration samples are drawn from seeds this far from the parity inputs' seed,
#: so a quantised model is never judged on the very inputs it was calibrated with.
CALIBRATION_SEED_OFFSET = 1000


def optimize(
    model: Model,
    *,
    passes: Sequence[str | Pass] | None = None,
    preset: str | None = None,
    target: str = "onnxruntime:cpu",
    calibration: object = None,
    rtol: float | None = None,
    atol: float | None = None,
    force: bool = False,
    measure_latency: bool = True,
    job: Job | None = None,
    pass_options: dict[str, dict[str, Any]] | None = None,
    seed: int = 0,
    feeds: dict[str, np.ndarray] | None = None,
    iterations: int = 20,
    min_cosine: float = MIN_COSINE,
    auto_variants: Sequence[str] = AUTO_VARIANTS,
) -> OptimizeResult:
    """Optimise ``model`` for ``target``, proving each pass.

    Args:
        model: a model with a graph.
        passes: pass names (or :class:`~engine.passes.Pass` instances), in order.
        preset: "default", "fp32", "fp16", "int8-weight", "int8-dynamic", "int8-static" or
            "auto"; neither ``passes`` nor ``preset``: clean-up and fusion.
        target: where parity and latency are measured (and what fusion targets).
        calibration: samples for static quantisation (``.npz`` path, arrays or feed dicts);
            None: seeded random inputs.
        rtol, atol: explicit parity tolerances (default: by precision, from engine.validate).
        force: keep pass outputs that fail parity (still reported). ``auto`` never picks one.
        measure_latency: time the input and every kept pass output (``auto`` always times).
        job: progress and cancel.
        pass_options: per-pass constructor options, ``{"fix_shapes": {"batch": 4}}``.
        seed: seed of the parity inputs.
        feeds: parity inputs to use instead of random ones.
        iterations: timed iterations per measurement.
        min_cosine: the cosine every float output of a quantised model must keep.
        auto_variants: the variants ``auto`` tries besides the model as given.

    Raises:
        EngineError: unknown pass or preset, both passes and preset given, no graph.
        TargetError: the target cannot run the unoptimised model.
    """
    job = as_job(job)
    if passes and preset:
        raise EngineError("give a list of passes or a preset, not both")
    model.require_graph()
    proto = model.onnx
    job.report(0.0, "reference run")
    gate = Gate.build(model, target, seed=seed, feeds=feeds, rtol=rtol, atol=atol, iterations=iterations,
                      min_cosine=min_cosine)
    shared = {"target": target, "calibration": calibration, "seed": seed + CALIBRATION_SEED_OFFSET}
    result = OptimizeResult(model=model, target=target, preset=preset, steps=[], baseline_latency_ms=None,
                            baseline_size=proto.ByteSize(), baseline_ops=op_counts(proto), inputs=dict(gate.inputs))
    if preset == "auto":
        variants, chosen = search(model, gate, shared, pass_options=pass_options, variants=tuple(auto_variants),
                                  iterations=max(iterations, 30),
                                  job=job.sub(0.02, 1.0))
        plain = variants[0]
        result.variants, result.chosen = variants, chosen.name
        result.model = chosen.model if chosen.model is not None else model
        result.steps = chosen.steps
        result.baseline_latency_ms = plain.latency_ms
        result.final_latency_ms = chosen.latency_ms
        result.parity = chosen.parity
        return result
    names = list(passes) if passes else preset_passes(preset)
    chain = build_passes(names, shared, pass_options)
    if measure_latency:
        job.report(0.02, "timing the input")
        result.baseline_latency_ms = gate.latency(model)
    final, steps, precision = run_chain(model, chain, gate, force=force, measure_latency=measure_latency,
                                        job=job.sub(0.05, 1.0))
    result.model, result.steps = final, steps
    changed = [s for s in steps if s.kept and s.modified]
    result.parity = changed[-1].parity if changed else gate.check(model, "float32")
    result.final_latency_ms = changed[-1].latency_ms if changed else result.baseline_latency_ms
    job.report(1.0, "done")
    return result
