"""Which engine features exist in this install, so panels can disable themselves with a reason."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Feature:
    """Whether an engine entry point can be used, and why not when it cannot."""

    available: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.available


#: feature name -> (module, attribute, what a person reads when it is missing)
FEATURES: dict[str, tuple[str, str, str]] = {
    "inspect": ("engine.inspect", "summarize", "model summaries"),
    "graph": ("engine.graphview", "build_display_graph", "graph display"),
    "layout": ("engine.graphview", "layout", "graph layout"),
    "convert": ("engine.convert", "convert", "conversion"),
    "export": ("engine.export", "export", "export of parameters into a graph"),
    "bind": ("engine.export", "bind_parameters", "parameter binding"),
    "targets": ("engine.backends", "list_targets", "target discovery"),
    "bench": ("engine.bench", "benchmark", "benchmarking"),
    "validate": ("engine.validate", "validate", "validation"),
    "optimize": ("engine.optimize", "optimize", "optimization"),
    "graph_view": ("studio.graph_view", "GraphView", "the graph view widget"),
}

_found: dict[str, Feature] = {}


def feature(name: str) -> Feature:
    """Check one feature; a missing one is re-checked each call (engine parts land over time)."""
    if name in _found:
        return _found[name]
    module_name, attr, what = FEATURES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return Feature(False, f"{what} is not in this build ({module_name} is missing)")
        raise
    if not hasattr(module, attr):
        return Feature(False, f"{what} is not in this build ({module_name}.{attr} is missing)")
    _found[name] = Feature(True)
    return _found[name]


def engine_attr(name: str) -> object:
    """The engine callable behind feature ``name`` (call :func:`feature` first)."""
    module_name, attr, _ = FEATURES[name]
    return getattr(importlib.import_module(module_name), attr)
