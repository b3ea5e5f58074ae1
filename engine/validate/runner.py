"""Validation end to end: structural checks, runs on every target, parity, first divergent node.

The first run is the reference: the model on the first target. Every other target runs
the same model, and ``against`` runs on the first target; each is compared with the
reference on the same inputs (seeded from the input metadata, or the user's file).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import EngineError, InputError, TargetError
from engine.jobs import Job, as_job
from engine.model import Model
from engine.validate.divergence import Divergence
from engine.validate.parity import ParityReport, compare_outputs
from engine.validate.structural import SEVERITIES, Finding, check_structure, check_target_support
from engine.validate.tolerances import graph_precision, loosest

log = logging.getLogger(__name__)

#: targets that run the canonical ONNX graph, so intermediate tensors can be marked.
ONNX_BACKENDS = ("onnxruntime", "reference")


@dataclass
class Run:
    """One execution: a model on a target.

    Attributes:
        label: how reports name it ("model.onnx on onnxruntime:cpu").
        model: file name of the model.
        target: target name.
        seconds: wall time of open + one inference (not a benchmark).
        error: why it failed, or None.
    """

    label: str
    model: str
    target: str
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "model": self.model, "target": self.target,
                "seconds": round(self.seconds, 4), "error": self.error}


@dataclass
class ValidationReport:
    """Everything ``validate`` found.

    Attributes:
        findings: structural findings, errors first.
        runs: every run, the reference first.
        comparisons: parity of each later run against the reference run.
        first_divergent: where the first failing ONNX comparison starts to differ, or None.
        divergent_between: labels of the two runs that search compared.
        divergence_note: why no first divergent node was searched for, when it was not.
        inputs: name -> {"shape", "dtype"} of the inputs used, and their source.
        notes: other remarks (output pairing by position, ...).
    """

    findings: list[Finding] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    comparisons: list[ParityReport] = field(default_factory=list)
    first_divergent: Divergence | None = None
    divergent_between: tuple[str, str] | None = None
    divergence_note: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def passed(self) -> bool:
        """No structural errors, every run succeeded, every comparison within tolerance."""
        return (not self.errors and all(r.error is None for r in self.runs)
                and bool(self.comparisons) and all(c.passed for c in self.comparisons))

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        first = self.comparisons[0].to_dict()["outputs"] if self.comparisons else []
        return {
            "passed": self.passed,
            "outputs": first,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "findings": [f.to_dict() for f in self.findings],
            "runs": [r.to_dict() for r in self.runs],
            "first_divergent": self.first_divergent.to_dict() if self.first_divergent else None,
            "divergent_between": list(self.divergent_between) if self.divergent_between else None,
            "divergence_note": self.divergence_note,
            "inputs": self.inputs,
            "notes": list(self.notes),
        }


def validate(
    model: Model,
    *,
    against: Model | None = None,
    targets: Sequence[str] = ("onnxruntime:cpu",),
    feeds: Mapping[str, np.ndarray] | None = None,
    inputs_path: str | Path | None = None,
    seed: int = 0,
    rtol: float | None = None,
    atol: float | None = None,
    find_divergence: bool = True,
    options: object | None = None,
    job: Job | None = None,
    shapes: Mapping[str, Sequence[int | None]] | None = None,
) -> ValidationReport:
    """Check ``model``'s structure, run it (and ``against``) and compare the outputs.

    Args:
        model: the model to validate; its first-target run is the reference.
        against: another model to compare with on the first target (an optimized, converted
            or edited copy).
        targets: targets to run ``model`` on; each after the first is compared with the first.
        feeds: inputs by name; default: ``inputs_path``, else seeded from input metadata.
        inputs_path: a ``.npy`` (one input) or ``.npz`` (by name) file of inputs.
        seed: seed for generated inputs.
        rtol: relative tolerance (default: by dtype and the candidate's compute precision).
        atol: absolute tolerance (default: by dtype and the candidate's compute precision).
        find_divergence: search for the first divergent node when an ONNX comparison fails.
        options: ``engine.backends.TargetOptions`` for every session.
        job: progress and cancel.
        shapes: shapes of generated inputs by input name (None where a dimension is not
            chosen); a dynamic dimension nothing chooses runs at 1, with a note.

    Raises:
        TargetError: a target is unknown or unavailable here.
        InputError: the inputs do not fit the model.
        FormatError: a model holds no graph.
    """
    from engine.inputs import check_feeds, input_specs, load_feeds, make_feeds, unresolved_dims

    job = as_job(job)
    targets = list(dict.fromkeys(targets)) or ["onnxruntime:cpu"]
    _check_targets(targets)
    graph = model.require_graph()
    report = ValidationReport()

    job.report(0.0, "structural checks")
    report.findings = check_structure(model, targets[0])
    for target in targets[1:]:
        report.findings += [f for f in check_target_support(model, target) if f.severity != "info"]
    if against is not None:
        other = against.require_graph()
        report.findings += [_tag(f, against.name) for f in check_structure(against, targets[0])
                            if f.severity != "info"]
        check_feeds_against = input_specs(other)
    else:
        check_feeds_against = None
    report.findings.sort(key=lambda f: SEVERITIES.index(f.severity))

    specs = input_specs(graph)
    if feeds is not None:
        feeds = {k: np.asarray(v) for k, v in feeds.items()}
        check_feeds(feeds, specs, source="given feeds")
        source = "given"
    elif inputs_path is not None:
        feeds = load_feeds(inputs_path, specs)
        source = str(inputs_path)
    else:
        feeds = make_feeds(specs, seed=seed, shapes=shapes)
        source = f"generated (seed {seed})"
        defaulted = unresolved_dims(specs, shapes=shapes)
        if defaulted:
            report.notes.append(f"dynamic dimensions without a chosen size ran at 1: {', '.join(defaulted)}")
    if check_feeds_against is not None:
        check_feeds(feeds, check_feeds_against, source=f"inputs for {against.name}")
    report.inputs = {"source": source,
                     "tensors": {k: {"shape": list(v.shape), "dtype": v.dtype.name} for k, v in feeds.items()}}

    plan: list[tuple[Model, str]] = [(model, t) for t in targets]
    if against is not None:
        plan.append((against, targets[0]))
    results: list[dict[str, np.ndarray] | None] = []
    for i, (m, target) in enumerate(plan):
        job.report(0.05 + 0.6 * i / len(plan), f"running {m.name} on {target}")
        run, outputs = _run(m, target, feeds, options)
        report.runs.append(run)
        results.append(outputs)
        if run.error:
            report.findings.append(Finding("error", "run-failed", f"{run.label}: {run.error}"))

    ref = results[0]
    failing: tuple[int, ParityReport] | None = None
    if ref is not None:
        for i in range(1, len(plan)):
            if results[i] is None:
                continue
            cand_model = plan[i][0]
            precision = None
            if cand_model is not model:
                precision = loosest([graph_precision(graph), graph_precision(cand_model.require_graph())])
            cand = _pair_outputs(ref, results[i], report.runs[i].label, report.notes)
            parity = compare_outputs(ref, cand, rtol=rtol, atol=atol, precision=precision,
                                     reference_label=report.runs[0].label, candidate_label=report.runs[i].label)
            report.comparisons.append(parity)
            if not parity.passed and failing is None:
                failing = (i, parity)
    if len(plan) < 2:
        report.notes.append("only one run: nothing to compare (add --target or --against)")

    if failing is not None and find_divergence:
        _locate(report, plan, feeds, rtol, atol, options, job.sub(0.7, 1.0))
    elif failing is not None:
        report.divergence_note = "first-divergence search turned off"
    job.report(1.0, "validated")
    return report


def _check_targets(targets: Sequence[str]) -> None:
    """Fail fast, before any work, on a target that is unknown or unavailable here."""
    from engine.backends import canonical_name, list_targets

    infos = {i.name: i for i in list_targets()}
    available = ", ".join(n for n, i in infos.items() if i.available)
    for target in targets:
        info = infos.get(canonical_name(target))
        if info is None:
            raise TargetError(f"unknown target {target!r}; available here: {available}",
                              hint="dstudio targets lists every target and why some are unavailable")
        if not info.available:
            raise TargetError(f"target {info.name} is not available: {info.reason}; available here: {available}")


def _run(model: Model, target: str, feeds: Mapping[str, np.ndarray], options) -> tuple[Run, dict | None]:
    from engine.backends import canonical_name
    from engine.precision import open_session

    name = canonical_name(target)
    run = Run(label=f"{model.name} on {name}", model=model.name, target=name)
    start = time.perf_counter()
    try:
        with open_session(model, target, options) as session:
            outputs = session.infer(dict(feeds))
    except InputError:
        raise
    except EngineError as exc:
        run.error = str(exc)
        return run, None
    finally:
        run.seconds = time.perf_counter() - start
    return run, {k: np.asarray(v) for k, v in outputs.items()}


def _pair_outputs(ref: dict, cand: dict, label: str, notes: list[str]) -> dict:
    """Candidate outputs keyed by the reference's names; by position when the names differ."""
    if set(ref) == set(cand) or len(ref) != len(cand):
        return cand
    pairs = ", ".join(f"{c!r}->{r!r}" for r, c in zip(ref, cand) if r != c)
    notes.append(f"{label}: output names differ; paired by position ({pairs})")
    return dict(zip(ref, cand.values()))


def _locate(report: ValidationReport, plan, feeds, rtol, atol, options, job: Job) -> None:
    """Search the first divergent node for the first failing comparison both of whose runs are ONNX."""
    from engine.backends import parse_target
    from engine.validate.divergence import find_first_divergence

    ref_model, ref_target = plan[0]
    onnx_ok = [i for i in range(1, len(plan)) if report.runs[i].error is None
               and not report.comparisons[_comparison_index(report, i)].passed
               and parse_target(plan[i][1])[0] in ONNX_BACKENDS]
    if parse_target(ref_target)[0] not in ONNX_BACKENDS or not onnx_ok:
        report.divergence_note = ("intermediate tensors can only be compared between two ONNX runs "
                                  "(onnxruntime, reference); MindSpore runs the MindIR as a whole")
        return
    i = onnx_ok[0]
    cand_model, cand_target = plan[i]
    report.divergent_between = (report.runs[0].label, report.runs[i].label)
    try:
        report.first_divergent = find_first_divergence(
            ref_model, cand_model, feeds, reference_target=ref_target, candidate_target=cand_target,
            rtol=rtol, atol=atol, options=options, job=job)
    except InputError as exc:
        report.divergence_note = exc.message
        return
    except EngineError as exc:
        report.divergence_note = f"first-divergence search failed: {exc}"
        return
    if report.first_divergent is None:
        report.divergence_note = ("no intermediate tensor differs beyond tolerance; the outputs differ "
                                  "only at the end, or the graphs share no comparable names")


def _comparison_index(report: ValidationReport, run_index: int) -> int:
    """Index into ``report.comparisons`` of run ``run_index`` (failed runs have none)."""
    return sum(1 for r in report.runs[1:run_index] if r.error is None)


def _tag(finding: Finding, name: str) -> Finding:
    return Finding(finding.severity, finding.code, f"{name}: {finding.message}", finding.node, finding.tensor)
