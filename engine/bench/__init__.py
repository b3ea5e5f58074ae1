"""Benchmarks: timed inference on a target, thread/batch sweeps, per-op profiles, reports and run history."""

from __future__ import annotations

from engine.bench.profile import OpTime, ProfileResult
from engine.bench.runner import BenchResult, benchmark
from engine.bench.stats import LatencyStats

__all__ = ["BenchResult", "LatencyStats", "OpTime", "ProfileResult", "benchmark"]
