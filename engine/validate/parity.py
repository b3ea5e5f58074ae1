"""Output parity: per-output error statistics and a pass/fail verdict under a tolerance.

An element passes when ``|candidate - reference| - rtol * |reference| <= atol`` (numpy's
``allclose`` rule, written so that :attr:`OutputParity.min_passing_atol` is exactly the
smallest ``atol`` that passes). NaN and Inf are compared by position: a NaN (or an Inf of
the same sign) where the reference has one matches; a non-finite value opposite a finite
one is a mismatch with an infinite error.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.validate.tolerances import TOLERANCES, default_tolerance, output_precision, precision_name

log = logging.getLogger(__name__)

__all__ = ["OutputParity", "ParityReport", "compare_arrays", "compare_outputs", "default_tolerance"]

# |reference| is floored here for max_rel, so exact zeros do not divide by zero.
REL_FLOOR = 1e-12


@dataclass
class OutputParity:
    """How one output of a candidate run compares with the reference run.

    Attributes:
        name: output name (the reference's).
        dtype: "reference_dtype" or "reference_dtype->candidate_dtype" when they differ.
        shape: the output shape.
        max_abs: largest ``|c - r|`` (inf when a non-finite value meets a finite one).
        max_rel: largest ``|c - r| / max(|r|, 1e-12)``.
        mean_abs: mean ``|c - r|`` over elements where both are finite.
        cosine: cosine similarity of the flattened finite values (1.0 for two zero tensors).
        rtol: relative tolerance applied.
        atol: absolute tolerance applied.
        passed: every element within tolerance.
        min_passing_atol: the smallest ``atol`` that would pass at this ``rtol`` (inf if
            no atol can, because of NaN/Inf mismatches).
        mismatch_fraction: fraction of elements outside tolerance.
        mismatches: number of elements outside tolerance.
        nonfinite_mismatches: elements where exactly one side is NaN/Inf (or Infs differ).
        precision: the precision the tolerance was chosen for ("float32", "float16", ...).
        worst_index: index of the largest excess over tolerance, or None.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    mean_abs: float
    cosine: float
    rtol: float
    atol: float
    passed: bool
    min_passing_atol: float
    mismatch_fraction: float
    mismatches: int = 0
    nonfinite_mismatches: int = 0
    precision: str = "float32"
    worst_index: tuple[int, ...] | None = None

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values; non-finite floats become None."""
        out = asdict(self)
        out["shape"] = list(self.shape)
        out["worst_index"] = None if self.worst_index is None else list(self.worst_index)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out


@dataclass
class ParityReport:
    """Per-output parity of one candidate run against one reference run.

    Attributes:
        outputs: one entry per output, in the reference's output order.
        reference: label of the reference run (e.g. "model.onnx on onnxruntime:cpu").
        candidate: label of the candidate run.
    """

    outputs: list[OutputParity] = field(default_factory=list)
    reference: str = "reference"
    candidate: str = "candidate"

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failed_outputs(self) -> list[OutputParity]:
        return [o for o in self.outputs if not o.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reference": self.reference,
            "candidate": self.candidate,
            "outputs": [o.to_dict() for o in self.outputs],
        }


def compare_outputs(
    reference: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    *,
    rtol: float | None = None,
    atol: float | None = None,
    precision: str | None = None,
    reference_label: str = "reference",
    candidate_label: str = "candidate",
) -> ParityReport:
    """Compare two runs output by output.

    Args:
        reference: output name -> array from the trusted run.
        candidate: output name -> array from the run under test (same names and shapes).
        rtol: relative tolerance; default from the outputs' dtypes (or ``precision``).
        atol: absolute tolerance; default from the outputs' dtypes (or ``precision``).
        precision: the precision the candidate *computes* in ("float16", "int8", ...) when
            its outputs do not show it (an fp16 graph with fp32 inputs and outputs).
            Float outputs are judged at the looser of this and their dtypes.
        reference_label: how reports name the reference run.
        candidate_label: how reports name the candidate run.

    Raises:
        InputError: the two runs have different output names or shapes.
    """
    missing = [n for n in reference if n not in candidate]
    extra = [n for n in candidate if n not in reference]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from {candidate_label}: {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"only in {candidate_label}: {', '.join(map(repr, extra))}")
        raise InputError(
            "the two runs have different outputs (" + "; ".join(parts) + ")",
            hint="compare models with the same outputs, or rename them",
        )
    outputs = [
        compare_arrays(name, np.asarray(reference[name]), np.asarray(candidate[name]),
                       rtol=rtol, atol=atol, precision=precision, candidate_label=candidate_label)
        for name in reference
    ]
    return ParityReport(outputs=outputs, reference=reference_label, candidate=candidate_label)


def tolerance_for(
    ref: np.ndarray, cand: np.ndarray, *, rtol: float | None, atol: float | None, precision: str | None = None
) -> tuple[float, float, str]:
    """The ``(rtol, atol, precision name)`` two arrays are judged at; explicit values win."""
    prec = output_precision(ref, cand)
    if precision is not None and prec != "exact":
        from engine.validate.tolerances import loosest

        prec = loosest([prec, precision_name(precision)])
    d_rtol, d_atol = TOLERANCES[prec]
    return (d_rtol if rtol is None else float(rtol)), (d_atol if atol is None else float(atol)), prec


def compare_arrays(
    name: str,
    ref: np.ndarray,
    cand: np.ndarray,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    precision: str | None = None,
    candidate_label: str = "candidate",
) -> OutputParity:
    """Error statistics of one candidate array against its reference.

    Raises:
        InputError: the shapes differ.
    """
    if ref.shape != cand.shape:
        raise InputError(
            f"output {name!r} has shape {list(cand.shape)} in {candidate_label} but {list(ref.shape)} in the reference",
            hint="the models disagree on output shapes; check input shapes and batch size",
        )
    rtol_v, atol_v, prec = tolerance_for(ref, cand, rtol=rtol, atol=atol, precision=precision)
    dtype = str(ref.dtype) if ref.dtype == cand.dtype else f"{ref.dtype}->{cand.dtype}"
    r = _as_float64(ref)
    c = _as_float64(cand)
    size = r.size
    if size == 0:
        return OutputParity(name, dtype, tuple(ref.shape), 0.0, 0.0, 0.0, 1.0, rtol_v, atol_v, True, 0.0, 0.0,
                            precision=prec)

    finite = np.isfinite(r) & np.isfinite(c)
    # Non-finite pairs match when both are NaN or both are the same infinity.
    same_nonfinite = ~finite & ((np.isnan(r) & np.isnan(c)) | (r == c))
    bad_nonfinite = ~finite & ~same_nonfinite

    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(finite, np.abs(c - r), 0.0)
        excess = err - rtol_v * np.where(finite, np.abs(r), 0.0)
    excess = np.where(same_nonfinite, -np.inf, excess)
    excess = np.where(bad_nonfinite, np.inf, excess)
    fails = excess > atol_v
    n_fail = int(np.count_nonzero(fails))
    n_bad = int(np.count_nonzero(bad_nonfinite))

    max_abs = math.inf if n_bad else float(err.max())
    rel = err / np.maximum(np.abs(np.where(finite, r, 0.0)), REL_FLOOR)
    max_rel = math.inf if n_bad else float(rel.max())
    n_finite = int(np.count_nonzero(finite))
    mean_abs = float(err.sum() / n_finite) if n_finite else 0.0
    worst = int(np.argmax(excess))
    min_atol = float(max(excess.flat[worst], 0.0))
    return OutputParity(
        name=name,
        dtype=dtype,
        shape=tuple(int(d) for d in ref.shape),
        max_abs=max_abs,
        max_rel=max_rel,
        mean_abs=mean_abs,
        cosine=_cosine(r[finite], c[finite]),
        rtol=rtol_v,
        atol=atol_v,
        passed=n_fail == 0,
        min_passing_atol=min_atol,
        mismatch_fraction=n_fail / size,
        mismatches=n_fail,
        nonfinite_mismatches=n_bad,
        precision=prec,
        worst_index=tuple(int(i) for i in np.unravel_index(worst, ref.shape)) if ref.ndim else (),
    )


def _as_float64(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.bool_ or a.dtype.kind in "iu":
        return a.astype(np.float64)
    if a.dtype.kind == "c":
        return np.abs(a).astype(np.float64)
    try:
        return a.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cannot compare outputs of dtype {a.dtype} numerically") from exc


def _cosine(r: np.ndarray, c: np.ndarray) -> float:
    if r.size == 0:
        return 1.0
    scale = max(float(np.abs(r).max()), float(np.abs(c).max()))
    if scale > 0.0:  # scale first so the norms cannot overflow
        r, c = r / scale, c / scale
    nr = float(np.linalg.norm(r))
    nc = float(np.linalg.norm(c))
    if nr == 0.0 and nc == 0.0:
        return 1.0
    if nr == 0.0 or nc == 0.0 or not (math.isfinite(nr) and math.isfinite(nc)):
        return 0.0
    return float(np.clip(np.dot(r.ravel(), c.ravel()) / (nr * nc), -1.0, 1.0))
