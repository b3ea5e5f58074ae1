"""Export: bind a parameter set (checkpoint, safetensors, npz) into a graph by name, then save it.

Binding is a strict ``load_state_dict`` over the canonical ONNX graph's initializers:
every graph parameter must be given with the same shape and dtype, entries the graph
does not have (optimizer state such as ``moments.*``, ``global_step``, ``learning_rate``)
are reported and tolerated, and names match with or without MindIR's ``<graph>:`` prefix.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from engine import formats
from engine.errors import BindingError, FormatError
from engine.fileio import check_output_path
from engine.jobs import Job, as_job
from engine.model import Model
from engine.params import BindingReport, ParameterSet

log = logging.getLogger(__name__)

_FLOAT_TYPES = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.DOUBLE,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.BFLOAT16,
}


@dataclass
class ExportResult:
    """Where an export wrote, in which format, and how the parameters bound."""

    output: Path
    format: str
    report: BindingReport

    def __bool__(self) -> bool:
        return self.report.ok

    def to_dict(self) -> dict[str, object]:
        return {"output": str(self.output), "format": self.format, "report": self.report.to_dict()}


def match_key(name: str) -> str:
    """The name parameters match by: MindIR's ``<graph>:`` prefix (up to the last ':') removed."""
    return name.rsplit(":", 1)[-1]


def parameter_initializers(model: Model) -> tuple[list[onnx.TensorProto], set[str]]:
    """The initializers a parameter set may bind into, and the names of those it must bind.

    When the loader recorded ``metadata["parameters"]`` (MindIR does: a JSON list of the
    network's parameters), exactly those are both. Otherwise every floating-point
    initializer may be bound, and those with more than one element are required: exporters
    store scalar constants (ReLU6 bounds, GeLU coefficients, LayerNorm epsilon in
    MindSpore's own ONNX files) as initializers too, and they are not in any checkpoint.
    """
    graph = model.require_graph().graph
    listed = model.metadata.get("parameters")
    if listed:
        names = json.loads(listed) if isinstance(listed, str) else list(listed)
        wanted = set(names) | {match_key(n) for n in names}
        chosen = [t for t in graph.initializer if t.name in wanted or match_key(t.name) in wanted]
        return chosen, {t.name for t in chosen}
    chosen = [t for t in graph.initializer if t.data_type in _FLOAT_TYPES]
    required = {t.name for t in chosen if int(np.prod(t.dims, dtype=np.int64)) > 1}
    return chosen, required


def graph_parameters(model: Model) -> ParameterSet:
    """A graph's parameters as a ParameterSet (what ``--params other.onnx`` binds)."""
    chosen, _ = parameter_initializers(model)
    return ParameterSet((t.name, numpy_helper.to_array(t)) for t in chosen)


def bind_parameters(
    graph: Model, params: ParameterSet, *, force: bool = False, job: Job | None = None
) -> tuple[Model, BindingReport]:
    """Bind ``params`` into a copy of ``graph``'s initializers by name.

    Args:
        graph: a Model with a canonical ONNX graph.
        params: name -> array; names with or without a ``<graph>:`` prefix.
        force: bind what fits and keep the graph's own values for the rest, instead of
            refusing when something is missing or mismatched.
        job: progress and cancel plumbing.

    Returns:
        The new Model (the input is not modified) and the binding report.

    Raises:
        BindingError: something is missing or mismatched and ``force`` is False; it
            carries the report and names the first offending tensors.
    """
    job = as_job(job)
    proto = graph.require_graph()
    chosen, required = parameter_initializers(graph)
    exact = {t.name: t for t in chosen}
    by_key: dict[str, list[onnx.TensorProto]] = {}
    for t in chosen:
        by_key.setdefault(match_key(t.name), []).append(t)

    report = BindingReport()
    values: dict[str, np.ndarray] = {}
    total = max(len(params), 1)
    for i, (name, array) in enumerate(params.items()):
        target = exact.get(name)
        if target is None:
            candidates = by_key.get(match_key(name), [])
            target = candidates[0] if len(candidates) == 1 else None
        if target is None or target.name in values:
            report.unexpected.append(name)
            continue
        graph_shape = tuple(int(d) for d in target.dims)
        graph_dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(target.data_type))
        array = np.asarray(array)
        if graph_shape != tuple(array.shape) or graph_dtype != array.dtype.newbyteorder("="):
            report.mismatched.append((target.name, graph_shape, tuple(array.shape), str(graph_dtype), str(array.dtype)))
            values[target.name] = None  # type: ignore[assignment]  # seen; not missing
            continue
        values[target.name] = array
        report.matched.append(target.name)
        job.report(0.8 * (i + 1) / total, f"binding {name}")
    report.missing = [t.name for t in chosen if t.name in required and t.name not in values]

    if not report.ok and not force:
        raise BindingError(
            f"parameters do not fit the graph: {report.summary()}",
            report=report,
            hint="fix the names or shapes, or bind what fits with force (--force)",
        )
    if report.unexpected:
        log.info("ignored %d entries the graph does not have: %s", len(report.unexpected), report.unexpected[:5])

    bound = onnx.ModelProto()
    bound.CopyFrom(proto)
    for tensor in bound.graph.initializer:
        value = values.get(tensor.name)
        if value is not None:
            tensor.CopyFrom(numpy_helper.from_array(np.require(value, requirements="C"), name=tensor.name))
    job.report(1.0, f"bound {len(report.matched)} tensors")
    metadata = dict(graph.metadata)
    metadata["bound_parameters"] = str(len(report.matched))
    model = Model(
        onnx=bound,
        source_path=graph.source_path,
        source_format=graph.source_format,
        source_nodes=graph.source_nodes,
        metadata=metadata,
    )
    return model, report


def export(
    graph_path: str | Path,
    params_path: str | Path,
    output: str | Path,
    *,
    fmt: str | None = None,
    force: bool = False,
    job: Job | None = None,
) -> ExportResult:
    """Read a graph and a parameter file, bind the parameters, and write the result.

    Args:
        graph_path: a network (MindIR, ONNX).
        params_path: a parameter file (checkpoint, safetensors, npz) or another network
            whose parameters to take.
        output: the file to write; never one of the inputs. Written through a temporary
            file and a rename, so a refused or failed export leaves nothing behind.
        fmt: output format name ("onnx", "mindir"); default from the output's suffix.
        force: bind what fits instead of refusing (see :func:`bind_parameters`).
        job: progress and cancel plumbing.

    Raises:
        BindingError: the parameters do not fit and ``force`` is False.
        FormatError: an input cannot be read, or the output format cannot hold a graph.
        OutputPathError: the output is an input, a folder, or in a missing folder.
    """
    job = as_job(job)
    graph_path, params_path = Path(graph_path), Path(params_path)
    output = check_output_path(output, [graph_path, params_path])
    spec = formats.get(fmt) if fmt else formats.for_suffix(output)
    if spec is None:
        raise FormatError("cannot tell the output format from the suffix", path=output,
                          hint="use .onnx or .mindir, or pass the format (--to)")
    if spec.kind != "graph" or spec.save is None:
        raise FormatError(f"cannot export a network as {spec.label}", path=output,
                          hint="export to a graph format (onnx, mindir)")

    graph = formats.load(graph_path, job=job.sub(0.0, 0.4))
    graph.require_graph()
    source = formats.load(params_path, job=job.sub(0.4, 0.6))
    params = source.params if source.params is not None else graph_parameters(source)
    try:
        model, report = bind_parameters(graph, params, force=force, job=job.sub(0.6, 0.7))
    except BindingError as exc:
        raise BindingError(exc.message, report=exc.report, path=params_path, hint=exc.hint) from None
    model.metadata["parameters_from"] = str(params_path)
    formats.save(model, output, fmt=spec.name, job=job.sub(0.7, 1.0))
    log.info("exported %s + %s -> %s (%s)", graph_path, params_path, output, spec.name)
    return ExportResult(output=output, format=spec.name, report=report)
