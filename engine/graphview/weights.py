"""A weight's values for the studio's weight inspector: where to find them, statistics, the first few."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine.inspect import TensorStats, tensor_stats

if TYPE_CHECKING:
    from engine.model import Model

HEAD = 12  # values shown as "a few values"


@dataclass
class WeightSummary:
    """What the weight inspector shows for one weight.

    Attributes:
        name: the tensor's name as found.
        shape: its dimensions.
        dtype: numpy dtype name.
        size: number of elements.
        stats: min, max, mean, std, zeros and a histogram (finite values only).
        head: the first :data:`HEAD` values in row-major order, as Python floats or ints.
        nonfinite: how many values are NaN or infinite.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    size: int
    stats: TensorStats
    head: list[float | int] = field(default_factory=list)
    nonfinite: int = 0

    def head_text(self) -> str:
        """The first values, comma-separated, with "…" when there are more."""
        text = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in self.head)
        return text + (", …" if self.size > len(self.head) else "")


def weight_array(model: Model, name: str) -> np.ndarray | None:
    """The values of weight ``name`` in ``model``, or None when the file does not store them.

    Looks in the parameters (a checkpoint, or an unlowered MindIR's), then the ONNX graph's
    initializers and ``Constant`` nodes. MindIR names may carry the graph prefix
    ("<graph>:conv1.weight"); the bare name is tried too.
    """
    names = [name] + ([name.rsplit(":", 1)[-1]] if ":" in name else [])
    if model.params is not None:
        for candidate in names:
            if candidate in model.params:
                return np.asarray(model.params[candidate])
    if model.onnx is not None:
        from onnx import helper, numpy_helper

        graph = model.onnx.graph
        for candidate in names:
            for tensor in graph.initializer:
                if tensor.name == candidate:
                    return numpy_helper.to_array(tensor)
        for node in graph.node:
            if node.op_type == "Constant" and node.output and node.output[0] in names and node.attribute:
                value = helper.get_attribute_value(node.attribute[0])
                return numpy_helper.to_array(value) if hasattr(value, "dims") else np.asarray(value)
    return None


def summarize_weight(model: Model, name: str, head: int = HEAD) -> WeightSummary | None:
    """Statistics and the first values of weight ``name``; None when its values are not stored."""
    array = weight_array(model, name)
    if array is None:
        return None
    flat = np.asarray(array).ravel()
    numeric = flat.dtype.kind in "biufc" or flat.dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2")
    if flat.dtype.kind == "c":
        flat = np.abs(flat)
    values = flat.astype(np.float64) if numeric and flat.dtype.kind not in "biu" else flat
    stats = tensor_stats(values) if numeric else TensorStats(float("nan"), float("nan"), float("nan"),
                                                             float("nan"), 0, [], [])
    nonfinite = int(np.count_nonzero(~np.isfinite(values))) if numeric and values.dtype.kind == "f" else 0
    first = [v.item() if hasattr(v, "item") else v for v in values[:head]]
    return WeightSummary(name, tuple(int(d) for d in np.shape(array)), np.asarray(array).dtype.name,
                         int(flat.size), stats, first, nonfinite)
