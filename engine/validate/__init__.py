"""Validation: structural checks, output parity across models and targets, first divergent node."""

from __future__ import annotations

from engine.validate.divergence import Divergence, find_first_divergence
from engine.validate.parity import OutputParity, ParityReport, compare_arrays, compare_outputs, default_tolerance
from engine.validate.runner import Run, ValidationReport, validate
from engine.validate.structural import Finding, check_structure, check_target_support
from engine.validate.tolerances import TOLERANCES, graph_precision

__all__ = [
    "TOLERANCES",
    "Divergence",
    "Finding",
    "OutputParity",
    "ParityReport",
    "Run",
    "ValidationReport",
    "check_structure",
    "check_target_support",
    "compare_arrays",
    "compare_outputs",
    "default_tolerance",
    "find_first_divergence",
    "graph_precision",
    "validate",
]
