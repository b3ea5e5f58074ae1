"""The 'pathologically slow' warning speaks only where compute, not fixed per-call overhead, sets the time."""

from __future__ import annotations

from engine.bench.runner import SLOW_MIN_MACS, BenchResult, judge
from engine.bench.stats import LatencyStats


def _result(macs: int, median_ns: int) -> BenchResult:
    return BenchResult(target="mindspore:cpu", model="m", iterations=50, latencies_ns=[median_ns] * 50,
                       stats=LatencyStats.from_ns([median_ns] * 50), throughput_per_s=1.0, session_create_ms=0,
                       first_inference_ms=0, batch=1, options={"env": {}}, macs=macs)


def test_tiny_model_with_fixed_overhead_is_not_called_slow():
    # lenet5-sized (0.4 MMAC) at 6 ms per call: 0.07 GMAC/s, but the time is the framework's per-call cost
    assert not any("pathologically slow" in w for w in judge(_result(400_000, 6_000_000)))


def test_big_model_at_a_low_rate_is_called_slow():
    warnings = judge(_result(SLOW_MIN_MACS * 4, 800_000_000))  # 200 MMAC in 800 ms: 0.25 GMAC/s
    assert any("pathologically slow" in w for w in warnings)
