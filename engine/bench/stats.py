"""Latency statistics over per-iteration timings in nanoseconds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

#: coefficient of variation above which a run is called unstable.
UNSTABLE_CV = 0.25


@dataclass
class LatencyStats:
    """Summary of latencies, all in milliseconds; ``cv`` = std / mean (unitless).

    Percentiles use linear interpolation between closest ranks (numpy's default); ``std_ms``
    is the population standard deviation.
    """

    min_ms: float
    mean_ms: float
    median_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    std_ms: float
    cv: float

    @classmethod
    def from_ns(cls, latencies_ns: Sequence[int]) -> LatencyStats:
        """Statistics of ``latencies_ns``; all NaN when there are none."""
        if len(latencies_ns) == 0:
            nan = float("nan")
            return cls(nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
        ms = np.asarray(latencies_ns, dtype=np.float64) / 1e6
        p50, p90, p95, p99, p999 = np.percentile(ms, [50, 90, 95, 99, 99.9])
        mean = float(ms.mean())
        std = float(ms.std())
        return cls(
            min_ms=float(ms.min()),
            mean_ms=mean,
            median_ms=float(p50),
            p90_ms=float(p90),
            p95_ms=float(p95),
            p99_ms=float(p99),
            p999_ms=float(p999),
            max_ms=float(ms.max()),
            std_ms=std,
            cv=std / mean if mean > 0 else float("nan"),
        )

    def to_dict(self) -> dict:
        return asdict(self)
