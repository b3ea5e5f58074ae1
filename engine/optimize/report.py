"""Plain-data results of an optimisation: one row per pass, one per auto variant."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.model import Model


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


@dataclass
class ParitySummary:
    """How a candidate's outputs compare with the unoptimised model's on the same inputs.

    Attributes:
        passed: within tolerance (and, for int8, cosine >= ``min_cosine`` on every output).
        precision: the precision it was judged at ("float32", "float16", "int8").
        max_abs: the largest absolute error over all outputs.
        cosine: the smallest cosine similarity over all outputs.
        rtol, atol: tolerances applied (None for the cosine-only int8 rule).
        detail: why it failed, when it did.
        report: the full :class:`engine.validate.ParityReport` as a dict.
    """

    passed: bool
    precision: str
    max_abs: float
    cosine: float
    rtol: float | None = None
    atol: float | None = None
    min_cosine: float | None = None
    detail: str = ""
    report: dict[str, Any] | None = None

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "precision": self.precision, "max_abs": _num(self.max_abs),
                "cosine": _num(self.cosine), "rtol": self.rtol, "atol": self.atol, "min_cosine": self.min_cosine,
                "detail": self.detail, "report": self.report}


@dataclass
class StepReport:
    """One pass of a chain.

    Attributes:
        name: the pass's registry name.
        options: the options it ran with.
        modified: the pass changed the graph.
        kept: its output became the input of the next pass.
        reason: why not kept ("unchanged", "parity failed: ...", "error: ..."), or "" if kept;
            "kept (forced)" when a parity failure was kept under ``force``.
        notes: what the pass says it did.
        ops_before, ops_after: node counts by op type.
        size_before, size_after: serialized model bytes.
        latency_ms: median latency of its output on the target (None when not measured).
        parity: the parity check of its output (None when it changed nothing).
        seconds: time the pass itself took.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    modified: bool = False
    kept: bool = False
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    ops_before: dict[str, int] = field(default_factory=dict)
    ops_after: dict[str, int] = field(default_factory=dict)
    size_before: int = 0
    size_after: int = 0
    latency_ms: float | None = None
    parity: ParitySummary | None = None
    seconds: float = 0.0

    @property
    def nodes_before(self) -> int:
        return sum(self.ops_before.values())

    @property
    def nodes_after(self) -> int:
        return sum(self.ops_after.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "options": {k: _plain(v) for k, v in self.options.items()},
            "modified": self.modified, "kept": self.kept, "reason": self.reason, "notes": list(self.notes),
            "ops_before": dict(self.ops_before), "ops_after": dict(self.ops_after),
            "nodes_before": self.nodes_before, "nodes_after": self.nodes_after,
            "size_before": self.size_before, "size_after": self.size_after,
            "latency_ms": _num(self.latency_ms), "parity": self.parity.to_dict() if self.parity else None,
            "seconds": self.seconds,
        }


@dataclass
class VariantReport:
    """One candidate of ``--preset auto``.

    Attributes:
        name: "plain" (the model as given), "fp32", "fp16", "int8-weight", ...
        latency_ms: median latency on the target.
        size: serialized bytes.
        parity: its final outputs against the unoptimised model's.
        chosen: it is the one kept.
        cv: coefficient of variation of its timed runs (None when not timed); above
            ``engine.bench.stats.UNSTABLE_CV`` the latency comparison may be noise.
        reason: why it was not chosen ("slower than X", "parity failed", "error: ...").
        steps: the pass rows of its chain.
    """

    name: str
    latency_ms: float | None = None
    size: int = 0
    nodes: int = 0
    parity: ParitySummary | None = None
    chosen: bool = False
    reason: str = ""
    steps: list[StepReport] = field(default_factory=list)
    model: Model | None = field(default=None, repr=False)
    cv: float | None = None

    @property
    def usable(self) -> bool:
        return self.model is not None and self.parity is not None and self.parity.passed and self.latency_ms is not None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "latency_ms": _num(self.latency_ms), "size": self.size, "nodes": self.nodes,
                "parity": self.parity.to_dict() if self.parity else None, "chosen": self.chosen,
                "cv": _num(self.cv), "reason": self.reason, "steps": [s.to_dict() for s in self.steps]}


@dataclass
class OptimizeResult:
    """Everything :func:`engine.optimize.optimize` measured, and the model it kept.

    Attributes:
        model: the optimised model (the input itself when nothing was kept).
        target: where latency and parity were measured.
        preset: the preset used, if any.
        steps: one row per pass (for ``auto``: the chosen variant's).
        baseline_latency_ms, baseline_size, baseline_ops: the unoptimised model.
        variants: the ``auto`` candidates (empty otherwise).
        chosen: the chosen ``auto`` variant.
        parity: the final model against the unoptimised one.
        inputs: how the parity inputs were made.
    """

    model: Model
    target: str
    preset: str | None
    steps: list[StepReport]
    baseline_latency_ms: float | None
    baseline_size: int
    baseline_ops: dict[str, int]
    final_latency_ms: float | None = None
    parity: ParitySummary | None = None
    variants: list[VariantReport] = field(default_factory=list)
    chosen: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def final_size(self) -> int:
        return self.model.onnx.ByteSize() if self.model.onnx is not None else 0

    @property
    def rejected(self) -> list[StepReport]:
        """Passes whose output failed parity or raised and was therefore dropped."""
        return [s for s in self.steps if s.modified is not None and not s.kept and s.reason not in ("", "unchanged")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "preset": self.preset, "chosen": self.chosen,
            "baseline": {"latency_ms": _num(self.baseline_latency_ms), "size": self.baseline_size,
                         "ops": dict(self.baseline_ops), "nodes": sum(self.baseline_ops.values())},
            "final": {"latency_ms": _num(self.final_latency_ms), "size": self.final_size,
                      "nodes": len(self.model.onnx.graph.node) if self.model.onnx is not None else 0,
                      "parity": self.parity.to_dict() if self.parity else None},
            "steps": [s.to_dict() for s in self.steps],
            "variants": [v.to_dict() for v in self.variants],
            "inputs": self.inputs,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return f"<{type(value).__name__}>"
