"""What a model file holds: format, inputs, outputs, op counts, parameters, MACs, tensor statistics."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from engine.model import Model, unlowered_summary
from engine.params import ParameterSet


@dataclass
class TensorInfo:
    """A graph input or output: name, dtype name, shape (ints, or strings for named dims)."""

    name: str
    dtype: str
    shape: list[int | str]


@dataclass
class ParamInfo:
    """One parameter tensor: name, shape, dtype, element count, bytes."""

    name: str
    shape: list[int]
    dtype: str
    size: int
    nbytes: int


@dataclass
class ModelSummary:
    """Everything ``dstudio inspect`` prints; plain data, JSON-ready through :meth:`to_dict`."""

    path: str
    format: str
    kind: str
    producer: str
    metadata: dict[str, str]
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    op_counts: dict[str, int] = field(default_factory=dict)
    source_op_counts: dict[str, int] | None = None
    parameters: list[ParamInfo] = field(default_factory=list)
    param_count: int = 0
    param_bytes: int = 0
    macs: int | None = None
    #: MindIR: one entry per primitive without an ONNX lowering (primitive, count, first_node, reason)
    unlowered: list[dict[str, object]] = field(default_factory=list)

    @property
    def node_count(self) -> int:
        return sum(self.op_counts.values())

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["node_count"] = self.node_count
        return data


def summarize(model: Model) -> ModelSummary:
    """Summarise a graph or a parameter file."""
    metadata = {k: v for k, v in model.metadata.items() if k != "parameters"}
    summary = ModelSummary(
        path=str(model.source_path) if model.source_path else "",
        format=model.source_format,
        kind="graph" if model.is_graph else "params",
        producer=model.metadata.get("producer", ""),
        metadata=metadata,
    )
    if model.params is not None and not model.is_graph:
        _fill_params(summary, model.params.items())
        return summary
    if not model.is_lowered and model.signature is not None:
        return _fill_unlowered(summary, model)
    proto = model.require_graph()
    graph = proto.graph
    init_names = {t.name for t in graph.initializer}
    summary.inputs = [_value_info(v) for v in graph.input if v.name not in init_names]
    summary.outputs = [_value_info(v) for v in graph.output]
    summary.op_counts = dict(sorted(Counter(n.op_type for n in graph.node).items()))
    if model.source_nodes is not None:
        summary.source_op_counts = dict(sorted(Counter(n.op_type for n in model.source_nodes).items()))
    param_names = _parameter_names(model)
    summary.parameters = [_tensor_param(t) for t in graph.initializer if param_names is None or t.name in param_names]
    _totals(summary)
    summary.macs = _macs(proto)
    return summary


def _fill_unlowered(summary: ModelSummary, model: Model) -> ModelSummary:
    """A network that could not be lowered to ONNX: its signature, source ops and what is missing."""
    inputs, outputs = model.io_specs()
    summary.inputs = [TensorInfo(s.name, np.dtype(s.dtype).name, [d if d is not None else "?" for d in s.shape]) for s in inputs]
    summary.outputs = [TensorInfo(s.name, np.dtype(s.dtype).name, [d if d is not None else "?" for d in s.shape]) for s in outputs]
    summary.source_op_counts = dict(sorted(Counter(n.op_type for n in model.source_nodes or []).items()))
    summary.unlowered = unlowered_summary(model.unlowered)
    if model.params is not None:
        _fill_params(summary, model.params.items())
    return summary


def _parameter_names(model: Model) -> set[str] | None:
    raw = model.metadata.get("parameters")
    try:
        names = json.loads(raw) if raw else None
    except ValueError:
        return None
    return {str(n) for n in names} if isinstance(names, list) else None


def _tensor_param(tensor: onnx.TensorProto) -> ParamInfo:
    """A parameter row from a tensor's dims and type; its data is never decoded (it may be huge or odd)."""
    from engine.onnx_checks import data_nbytes

    shape = [int(d) for d in tensor.dims]
    size = 1
    for d in shape:
        size *= d
    return ParamInfo(name=tensor.name, shape=shape, dtype=dtype_name(tensor.data_type), size=size,
                     nbytes=data_nbytes(tensor))


def dtype_name(elem_type: int) -> str:
    """numpy's name for an ONNX element type ("float32"), ONNX's for types numpy lacks, or "unknown"."""
    if not elem_type:
        return "unknown"
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).name
    except (KeyError, TypeError, ValueError):
        pass
    try:
        return onnx.TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"unknown({elem_type})"


def _fill_params(summary: ModelSummary, items) -> None:
    for name, array in items:
        array = np.asarray(array)
        summary.parameters.append(
            ParamInfo(name=name, shape=list(array.shape), dtype=str(array.dtype), size=int(array.size), nbytes=int(array.nbytes))
        )
    _totals(summary)


def _totals(summary: ModelSummary) -> None:
    summary.param_count = sum(p.size for p in summary.parameters)
    summary.param_bytes = sum(p.nbytes for p in summary.parameters)


def _value_info(value: onnx.ValueInfoProto) -> TensorInfo:
    ttype = value.type.tensor_type
    dtype = dtype_name(ttype.elem_type)
    shape: list[int | str] = []
    for dim in ttype.shape.dim:
        shape.append(dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or "?"))
    return TensorInfo(name=value.name, dtype=dtype, shape=shape)


def _macs(proto: onnx.ModelProto) -> int | None:
    try:
        from engine.flops import estimate_macs
    except ModuleNotFoundError:
        return None
    try:
        return estimate_macs(proto)
    except Exception:  # MACs are a nicety; never fail a summary over them
        return None


@dataclass
class TensorStats:
    """Summary statistics and a histogram of one tensor."""

    min: float
    max: float
    mean: float
    std: float
    zeros: int
    counts: list[int]
    edges: list[float]


def tensor_stats(array: np.ndarray, bins: int = 50) -> TensorStats:
    """Min, max, mean, std, zero count and a histogram (NaN/Inf ignored in the statistics)."""
    values = np.asarray(array).astype(np.float64, copy=False).ravel()
    finite = values[np.isfinite(values)] if values.size else values
    if finite.size == 0:
        return TensorStats(float("nan"), float("nan"), float("nan"), float("nan"), 0, [], [])
    counts, edges = np.histogram(finite, bins=bins)
    return TensorStats(
        min=float(finite.min()),
        max=float(finite.max()),
        mean=float(finite.mean()),
        std=float(finite.std()),
        zeros=int(np.count_nonzero(finite == 0)),
        counts=counts.tolist(),
        edges=edges.tolist(),
    )


@dataclass
class ParamDiff:
    """Differences between two parameter sets."""

    added: list[str]
    removed: list[str]
    changed_shape: list[tuple[str, list[int], list[int]]]
    max_abs_diff: dict[str, float]
    #: max |a - b| / max |a| per tensor (inf where a is all zero and b is not; 0 for identical tensors)
    max_rel_diff: dict[str, float] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed_shape) and all(v == 0 for v in self.max_abs_diff.values())

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def diff_params(a: ParameterSet, b: ParameterSet) -> ParamDiff:
    """Compare two parameter sets: names only in b (added), only in a (removed), shapes, values."""
    added = [n for n in b if n not in a]
    removed = [n for n in a if n not in b]
    changed: list[tuple[str, list[int], list[int]]] = []
    diffs: dict[str, float] = {}
    rel: dict[str, float] = {}
    for name in a:
        if name not in b:
            continue
        x, y = np.asarray(a[name]), np.asarray(b[name])
        if x.shape != y.shape:
            changed.append((name, list(x.shape), list(y.shape)))
            continue
        if x.size == 0:
            diffs[name] = rel[name] = 0.0
            continue
        x64 = x.astype(np.float64)
        delta = np.abs(x64 - y.astype(np.float64))
        diffs[name] = float(np.nanmax(delta))
        scale = float(np.nanmax(np.abs(x64)))
        rel[name] = diffs[name] / scale if scale > 0 else (0.0 if diffs[name] == 0 else float("inf"))
    return ParamDiff(added=added, removed=removed, changed_shape=changed, max_abs_diff=diffs, max_rel_diff=rel)


def format_summary(summary: ModelSummary) -> str:
    """The human-readable text ``dstudio inspect`` prints."""
    lines = [f"{Path(summary.path).name or 'model'}: {summary.format} ({summary.kind})"]
    if summary.producer:
        lines.append(f"  producer   {summary.producer}")
    for key, value in summary.metadata.items():
        if key != "producer" and value:
            lines.append(f"  {key:<10} {value}")
    if summary.kind == "graph":
        lines.append("inputs:")
        lines += [f"  {t.name}  {t.dtype}  {shape_text(t.shape)}" for t in summary.inputs]
        lines.append("outputs:")
        lines += [f"  {t.name}  {t.dtype}  {shape_text(t.shape)}" for t in summary.outputs]
        if summary.source_op_counts is not None:
            lines.append(f"source ops ({sum(summary.source_op_counts.values())}):")
            lines += [f"  {op:<24} {n}" for op, n in summary.source_op_counts.items()]
        if summary.unlowered:
            count = len(summary.unlowered)
            lines.append(f"not convertible to ONNX: {count} primitive{'s' if count > 1 else ''} without a lowering:")
            for entry in summary.unlowered:
                reason = str(entry["reason"])
                note = "" if reason.endswith("has no ONNX lowering yet") else f"  ({reason})"
                lines.append(f"  {entry['primitive']:<24} {entry['count']}  first {entry['first_node']}{note}")
        else:
            lines.append(f"{'ONNX ops' if summary.source_op_counts is not None else 'ops'} ({summary.node_count}):")
            lines += [f"  {op:<24} {n}" for op, n in summary.op_counts.items()]
    else:
        lines.append("parameters:")
        lines += [f"  {p.name:<40} {p.dtype:<9} {shape_text(p.shape)}" for p in summary.parameters]
    lines.append(f"parameters: {len(summary.parameters)} tensors, {summary.param_count:,} values, {human_bytes(summary.param_bytes)}")
    if summary.macs is not None:
        lines.append(f"MACs: {summary.macs:,}")
    return "\n".join(lines)


def shape_text(shape: list[int | str] | None) -> str:
    """A shape as ``[1, 3, 224, 224]`` ("?" when unknown)."""
    return "[" + ", ".join(str(d) for d in shape) + "]" if shape is not None else "?"


def human_bytes(n: float) -> str:
    """A byte count in B, KiB, MiB or GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.0f} B"
