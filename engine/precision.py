"""Running a target at a lower precision: the model is converted in memory, with parity proven.

This sits above both the backends and :mod:`engine.optimize` (whose parity gate opens
backend sessions): the runners (bench, validate, serving) open sessions through
:func:`open_session` here, which converts and then opens a plain fp32 session below.
``engine.backends`` itself never imports the optimizer, so the layers stay acyclic.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from engine.backends import DEFAULT_TARGET, TargetOptions, canonical_name
from engine.backends import open_session as open_backend_session
from engine.errors import TargetError
from engine.jobs import Job, as_job
from engine.model import Model

if TYPE_CHECKING:
    from engine.backends.base import Session

log = logging.getLogger(__name__)

#: Precision name -> (optimize preset, the pass that must survive the parity gate).
PRECISIONS: dict[str, tuple[str, str] | None] = {
    "fp32": None,
    "fp16": ("fp16", "fp16"),
    "int8": ("int8-static", "quantize_static"),
}


def at_precision(model: Model, precision: str, target: str, *, job: Job | None = None) -> tuple[Model, str]:
    """``model`` converted to ``precision`` for ``target``, and a one-line account of how.

    fp16 is the fp16 preset (sensitive ops stay fp32); int8 is static quantization calibrated
    on seeded random inputs. Each goes through :func:`engine.optimize.optimize`, so the
    converted model has passed the same parity gate as ``dstudio optimize``; a conversion
    that breaks parity is refused rather than timed.

    Raises:
        TargetError: unknown precision, a MindSpore target (it runs MindIR as written), or
            a conversion that fails parity on this model.
    """
    if precision not in PRECISIONS:
        raise TargetError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    plan = PRECISIONS[precision]
    if plan is None:
        return model, "fp32 as given"
    if target.startswith("mindspore"):
        raise TargetError(f"precision {precision} is for ONNX targets; MindSpore runs the MindIR as it is",
                          hint="use --precision fp32 on mindspore targets")
    from engine.optimize import optimize

    preset, required = plan
    result = optimize(model, preset=preset, target=target if not target.startswith("reference") else "onnxruntime:cpu",
                      measure_latency=False, job=as_job(job))
    step = next((s for s in result.steps if s.name == required), None)
    if step is None or not step.kept:
        why = step.reason if step is not None else "the pass did not run"
        raise TargetError(f"cannot run this model at {precision}: {why}",
                          path=model.source_path, hint="dstudio optimize --preset " + preset + " shows the details")
    cosine = result.parity.cosine if result.parity is not None and hasattr(result.parity, "cosine") else None
    note = f"{precision} via the {preset} preset" + (f" (cosine {cosine:.5f} to fp32)" if cosine is not None else "")
    log.info("%s: %s", model.name, note)
    return result.model, note


def open_session(model: Model, target: str = DEFAULT_TARGET, options: TargetOptions | None = None, *,
                 job: Job | None = None) -> Session:
    """:func:`engine.backends.open_session`, with ``options.precision`` applied first.

    fp16 and int8 convert ``model`` in memory (:func:`at_precision`), then open it as given;
    the session's ``info["precision"]`` says how.

    Raises:
        TargetError: as :func:`engine.backends.open_session`, or the precision cannot be applied.
    """
    options = options or TargetOptions()
    job = as_job(job)
    if options.precision == "fp32":
        return open_backend_session(model, target, options, job=job)
    job.report(0.0, f"converting to {options.precision}")
    converted, note = at_precision(model, options.precision, canonical_name(target), job=job)
    session = open_backend_session(converted, target, dataclasses.replace(options, precision="fp32"), job=job)
    session.info["precision"] = note
    return session
