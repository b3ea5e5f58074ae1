"""Per-node and per-op-type time from an ONNX Runtime profiler trace (Chrome trace JSON)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class OpTime:
    """Time spent in one node or one op type, summed over the profiled runs."""

    name: str
    op_type: str
    total_us: float
    calls: int
    percent: float

    @property
    def mean_us_per_call(self) -> float:
        return self.total_us / max(self.calls, 1)

    def to_dict(self) -> dict:
        return {**asdict(self), "mean_us_per_call": self.mean_us_per_call}


@dataclass
class ProfileResult:
    """Where the time goes: nodes and op types, largest first.

    ``total_us`` is the kernel time summed over ``iterations`` runs (excludes the time
    ONNX Runtime spends between kernels, so it is below iterations x latency).
    """

    iterations: int
    total_us: float
    by_node: list[OpTime] = field(default_factory=list)
    by_op_type: list[OpTime] = field(default_factory=list)

    def top(self, n: int = 10, *, by: str = "op_type") -> list[OpTime]:
        return (self.by_op_type if by == "op_type" else self.by_node)[:n]

    def to_dict(self) -> dict:
        return {
            "iterations": self.iterations,
            "total_us": self.total_us,
            "by_node": [o.to_dict() for o in self.by_node],
            "by_op_type": [o.to_dict() for o in self.by_op_type],
        }


def _kernel_events(path: Path) -> Iterator[dict]:
    """The trace's kernel-time events, parsed one line at a time.

    ONNX Runtime writes one event per line inside a JSON array. Parsing line by line (and
    only the kernel-time lines) never holds the interpreter for one long call, so a studio
    window stays responsive while a worker thread reads a big trace. A file not laid out
    that way is parsed whole.
    """
    with path.open(encoding="utf-8") as fh:
        first = fh.readline().strip()
        if first != "[":
            fh.seek(0)
            yield from json.load(fh)
            return
        for line in fh:
            if "_kernel_time" not in line:
                continue
            line = line.strip().rstrip(",")
            if line.startswith("{"):
                yield json.loads(line)


def parse_ort_profile(trace_path: str | Path, *, iterations: int) -> ProfileResult:
    """Aggregate the ``Node`` kernel events of an ONNX Runtime profile file."""
    events = _kernel_events(Path(trace_path))
    node_time: dict[str, float] = defaultdict(float)
    node_calls: dict[str, int] = defaultdict(int)
    node_type: dict[str, str] = {}
    for ev in events:
        if ev.get("cat") != "Node" or ev.get("ph") != "X":
            continue
        name = str(ev.get("name", ""))
        if not name.endswith("_kernel_time"):
            continue  # fence_before / fence_after bookkeeping
        node = name[: -len("_kernel_time")]
        node_time[node] += float(ev.get("dur", 0))
        node_calls[node] += 1
        node_type[node] = str(ev.get("args", {}).get("op_name", "?"))
    total = sum(node_time.values())
    by_node = [
        OpTime(n, node_type[n], t, node_calls[n], 100.0 * t / total if total else 0.0) for n, t in node_time.items()
    ]
    by_node.sort(key=lambda o: -o.total_us)
    type_time: dict[str, float] = defaultdict(float)
    type_calls: dict[str, int] = defaultdict(int)
    for o in by_node:
        type_time[o.op_type] += o.total_us
        type_calls[o.op_type] += o.calls
    by_type = [
        OpTime(t, t, us, type_calls[t], 100.0 * us / total if total else 0.0) for t, us in type_time.items()
    ]
    by_type.sort(key=lambda o: -o.total_us)
    return ProfileResult(iterations=iterations, total_us=total, by_node=by_node, by_op_type=by_type)
