"""Parameter sets: ordered name -> array, and binding them into a graph by name."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np


class ParameterSet(Mapping[str, np.ndarray]):
    """An ordered, read-mostly mapping of parameter name to numpy array.

    Order is the order of the source file, so a round trip writes tensors back in the
    order they were read.
    """

    def __init__(self, items: Iterable[tuple[str, np.ndarray]] | Mapping[str, np.ndarray] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._data: OrderedDict[str, np.ndarray] = OrderedDict((k, np.asarray(v)) for k, v in pairs)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        self._data[name] = np.asarray(value)

    @property
    def total_elements(self) -> int:
        """Number of scalar values across all tensors."""
        return int(sum(int(a.size) for a in self._data.values()))

    @property
    def total_bytes(self) -> int:
        """Bytes of raw tensor data across all tensors."""
        return int(sum(int(a.nbytes) for a in self._data.values()))

    def __repr__(self) -> str:
        return f"ParameterSet({len(self)} tensors, {self.total_elements} values)"


@dataclass
class BindingReport:
    """What happened when a parameter set was bound into a graph, like a strict load_state_dict.

    ``matched`` are names bound; ``missing`` are graph parameters the set lacks;
    ``unexpected`` are set entries the graph does not have; ``mismatched`` are
    ``(name, graph_shape, given_shape, graph_dtype, given_dtype)`` rows that do not fit.
    """

    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...], str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is missing or mismatched (unexpected entries are tolerated)."""
        return not self.missing and not self.mismatched

    def __bool__(self) -> bool:
        return self.ok

    def summary(self) -> str:
        """One line: counts, then the first names of each problem."""
        parts = [f"{len(self.matched)} matched"]
        if self.missing:
            parts.append(f"{len(self.missing)} missing ({_names(self.missing)})")
        if self.mismatched:
            rows = [f"{n} graph {list(g)} {gd} vs file {list(p)} {pd}" for n, g, p, gd, pd in self.mismatched]
            parts.append(f"{len(self.mismatched)} mismatched ({_names(rows)})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected ({_names(self.unexpected)})")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "matched": list(self.matched),
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "mismatched": [
                {"name": n, "graph_shape": list(g), "given_shape": list(p), "graph_dtype": gd, "given_dtype": pd}
                for n, g, p, gd, pd in self.mismatched
            ],
        }


def _names(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", +{len(items) - limit} more" if len(items) > limit else "")
