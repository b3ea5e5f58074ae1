"""Inference targets: discovery (what this machine can run, and why not) and opening sessions.

A target name is ``backend:device`` ("onnxruntime:cpu", "mindspore:cpu") or ``reference``.
Backends import their runtime (onnxruntime, mindspore, onnx.reference) only when asked,
so importing this package is cheap and works with any subset installed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from engine.backends.base import Backend, Session, TargetInfo, TargetOptions
from engine.errors import TargetError
from engine.jobs import Job, as_job

if TYPE_CHECKING:
    from engine.model import Model

log = logging.getLogger(__name__)

__all__ = [
    "Backend",
    "Session",
    "TargetInfo",
    "TargetOptions",
    "DEFAULT_TARGET",
    "backends",
    "list_targets",
    "open_session",
    "parse_target",
]

DEFAULT_TARGET = "onnxruntime:cpu"

#: short names people type -> backend name.
_ALIASES = {"ort": "onnxruntime", "onnxruntime": "onnxruntime", "ms": "mindspore", "mindspore": "mindspore",
            "reference": "reference", "ref": "reference", "mindspore-lite": "mindspore-lite",
            "mslite": "mindspore-lite", "lite": "mindspore-lite"}


def backends() -> list[Backend]:
    """The built-in backends, in display order."""
    from engine.backends.mindspore_backend import MindSporeBackend
    from engine.backends.mslite_backend import MindSporeLiteBackend
    from engine.backends.onnxruntime_backend import OnnxRuntimeBackend
    from engine.backends.reference_backend import ReferenceBackend

    return [OnnxRuntimeBackend(), MindSporeBackend(), MindSporeLiteBackend(), ReferenceBackend()]


def list_targets() -> list[TargetInfo]:
    """Every known target, available or not, each unavailable one with the reason."""
    return [info for backend in backends() for info in backend.targets()]


def parse_target(target: str) -> tuple[str, str]:
    """``"ort:CUDA"`` -> ``("onnxruntime", "cuda")``; a bare backend name means its cpu device."""
    text = target.strip().lower()
    backend, _, device = text.partition(":")
    backend = _ALIASES.get(backend, backend)
    return backend, device or "cpu"


def canonical_name(target: str) -> str:
    """The name ``list_targets`` uses for ``target`` ("ort" -> "onnxruntime:cpu")."""
    backend, device = parse_target(target)
    return "reference" if backend == "reference" else f"{backend}:{device}"


def open_session(
    model: Model, target: str = DEFAULT_TARGET, options: TargetOptions | None = None, *, job: Job | None = None
) -> Session:
    """Open ``model`` on ``target`` and make it ready to run. Use it as a context manager.

    Raises:
        TargetError: the target is unknown or not available here (naming what is), or the
            runtime cannot load the model.
    """
    options = options or TargetOptions()
    job = as_job(job)
    backend_name, device = parse_target(target)
    infos = list_targets()
    name = canonical_name(target)
    info = next((i for i in infos if i.name == name), None)
    available = ", ".join(i.name for i in infos if i.available)
    if info is None:
        raise TargetError(f"unknown target {target!r}; available here: {available}",
                          hint="dstudio targets lists every target and why some are unavailable")
    if not info.available:
        raise TargetError(f"target {info.name} is not available: {info.reason}; available here: {available}")
    backend = next(b for b in backends() if b.name == backend_name)
    if options.precision != "fp32":
        # Conversion needs the optimizer, which opens sessions itself: it lives above this layer.
        raise TargetError(f"precision {options.precision} is applied by converting the model first: "
                          "open the session with engine.precision.open_session")
    session = backend.open(model, device, options, job)
    job.report(0.0, f"opening {info.name}")
    session.activate()
    return session
