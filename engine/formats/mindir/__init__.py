"""MindSpore MindIR: read into the canonical ONNX graph (keeping the original for display), and write."""

from __future__ import annotations

import json
import mmap
from pathlib import Path

from engine.formats import FileFormat, register
from engine.formats.protowire import LEN, VARINT, is_printable, scan_fields
from engine.jobs import Job
from engine.model import Model


def sniff(head: bytes, path: Path) -> bool:
    """MindIR ModelProto: ir_version (1) and producer (2) are short strings, graph is field 7."""
    fields = scan_fields(head, limit=16)
    if not fields:
        return False
    first = fields[0]
    if first.number != 1 or first.wire_type != LEN or not is_printable(first.value) or len(first.value) > 16:  # type: ignore[arg-type]
        return False
    numbers = {f.number for f in fields}
    if numbers <= {1}:
        return False  # a checkpoint: only repeated field 1
    known = {1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN, 6: LEN, 7: LEN, 8: LEN, 9: LEN, 10: VARINT, 11: LEN, 12: LEN, 13: VARINT, 14: LEN}
    return all(known.get(f.number) == f.wire_type for f in fields)


def load(path: Path, job: Job) -> Model:
    """Read a MindIR file and lower it to ONNX.

    A file always opens: nodes that cannot be lowered are listed in ``Model.unlowered`` (the
    model then has no ONNX graph, only its source graph and signature) and marked on the
    source nodes, instead of failing the read.
    """
    from engine.formats.mindir import lower, reader

    job.report(0.02, f"reading {path.name}")
    with path.open("rb") as fh:
        # Mapped, not read: weights are paged in one at a time while they are converted.
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            proto, raw_parameters = reader.parse_lazy(data, path)
            job.report(0.15, "decoding")
            graph = reader.decode(proto, path, raw_parameters, source=data)
            del proto, raw_parameters
            result = lower.lower_all(graph, path, job.sub(0.2, 0.95))
            graph.raw_parameters.clear()
            graph.source = None
        finally:
            _close_mapping(data)
    onnx_model = result.onnx
    metadata = dict(graph.metadata)
    source_nodes = reader.source_nodes(graph)
    report = {graph.short(name): outcome for name, outcome in result.node_report.items()}
    for source in source_nodes:
        if source.name in report:
            source.lowering, source.lowered_to, source.lowering_reason = report[source.name]
    if onnx_model is None:
        metadata["opset"] = "none (not convertible to ONNX)"
        return Model(onnx=None, params=result.parameters, source_path=path, source_format="mindir",
                     source_nodes=source_nodes, metadata=metadata, unlowered=result.failures,
                     signature=result.signature)
    opset = next((o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx")), lower.OPSET)
    metadata["opset"] = f"ai.onnx {opset} (converted)"  # 17, or 18/20 where an operator needed it
    metadata["parameters"] = json.dumps([t.name for t in onnx_model.graph.initializer if t.name in _param_names(onnx_model)])
    return Model(
        onnx=onnx_model,
        source_path=path,
        source_format="mindir",
        source_nodes=source_nodes,
        metadata=metadata,
    )


def _close_mapping(data: mmap.mmap) -> None:
    """Close the file mapping; while an exception's traceback still holds a view of it, leave that to GC.

    (A ``with`` block would raise BufferError here and hide the error that is on its way out.)
    """
    try:
        data.close()
    except BufferError:
        pass


def _param_names(model) -> set[str]:
    for prop in model.metadata_props:
        if prop.key == "parameters":
            return set(json.loads(prop.value))
    return set()


def save(model: Model, path: Path, job: Job) -> None:
    from engine.formats.mindir import writer

    writer.save(model, path, job)


FORMAT = register(
    FileFormat(
        name="mindir",
        label="MindSpore MindIR",
        suffixes=(".mindir",),
        kind="graph",
        sniff=sniff,
        load=load,
        save=save,
        priority=20,
    )
)
