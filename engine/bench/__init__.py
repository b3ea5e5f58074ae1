"""Benchmarks: timed inference on a target, thread/batch sweeps, per-op profiles, reports and run history."""

from __future__ import annotations

from engine.bench.profile import OpTime, ProfileResult
from engine.bench.runner import BenchResult, benchmark
from engine.bench.stats import LatencyStats
from engine.bench.subprocess_runner import benchmark_in_subprocess

__all__ = ["BenchResult", "LatencyStats", "OpTime", "ProfileResult", "benchmark", "benchmark_in_subprocess"]
