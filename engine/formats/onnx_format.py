"""ONNX: load and save, including external data kept safely inside the model's folder."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from onnx import external_data_helper

from engine.errors import FormatError
from engine.fileio import atomic_path
from engine.formats import FileFormat, register
from engine.formats.protowire import LEN, VARINT, scan_fields
from engine.jobs import Job
from engine.model import Model, approx_size

# protobuf refuses to serialise a single message past 2 GiB; above this, weights go out.
PROTO_LIMIT = 2**31 - 1
EXTERNAL_THRESHOLD = 1 << 30


def sniff(head: bytes, path: Path) -> bool:
    """ONNX ModelProto: ir_version (1) is a varint; graph (7) and opset_import (8) are messages."""
    fields = scan_fields(head, limit=12)
    if not fields:
        return False
    numbers = {f.number: f.wire_type for f in fields}
    if numbers.get(1) not in (None, VARINT):
        return False
    known = {1: VARINT, 2: LEN, 3: LEN, 4: LEN, 5: VARINT, 6: LEN, 7: LEN, 8: LEN, 14: LEN, 20: LEN, 25: LEN}
    if any(known.get(n, -1) != wt for n, wt in numbers.items()):
        return False
    return 1 in numbers or 7 in numbers


def check_external_locations(model: onnx.ModelProto, base_dir: Path, path: Path) -> None:
    """Refuse external-data locations that are absolute or lead outside ``base_dir``."""
    base = base_dir.resolve()
    for tensor in external_data_helper._get_all_tensors(model):
        if not external_data_helper.uses_external_data(tensor):
            continue
        info = external_data_helper.ExternalDataInfo(tensor)
        location = info.location
        target = (base / location).resolve()
        if os.path.isabs(location) or (target != base and base not in target.parents):
            raise FormatError(
                f"tensor {tensor.name!r} points its external data at {location!r}, outside the model's folder",
                path=path,
                hint="refusing to read it; move the data file beside the model",
            )
        if not target.exists():
            raise FormatError(f"external data file {location!r} for tensor {tensor.name!r} is missing", path=path)


def load(path: Path, job: Job) -> Model:
    job.report(0.05, f"reading {path.name}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise FormatError(f"not a valid ONNX model ({_short(exc)})", path=path) from exc
    if not model.HasField("graph") or (not model.graph.node and not model.graph.output):
        raise FormatError("ONNX file has no graph (truncated, or another kind of protobuf)", path=path)
    check_external_locations(model, path.parent, path)
    external_data_helper.load_external_data_for_model(model, str(path.parent))
    job.report(0.8, "checking")
    try:
        # full_check=False: shape inference here would reject models ORT still runs.
        onnx.checker.check_model(model if approx_size(model) < PROTO_LIMIT else str(path))
    except onnx.checker.ValidationError as exc:
        raise FormatError(f"ONNX model is invalid: {_short(exc)}", path=path) from exc
    metadata = {
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "ir_version": str(model.ir_version),
        "opset": ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import),
    }
    return Model(onnx=model, source_path=path, source_format="onnx", metadata=metadata)


def save_proto(model: onnx.ModelProto, path: Path, *, external: bool | None = None) -> None:
    """Write an ONNX ModelProto atomically; weights go to ``<name>.data`` when large.

    Args:
        external: force (True) or forbid (False) external data; None decides by size.
    """
    size = approx_size(model)
    if external is None:
        external = size > EXTERNAL_THRESHOLD
    if not external:
        with atomic_path(path) as tmp, tmp.open("wb") as fh:
            write_streaming(model, fh)
        return
    data_name = path.name + ".data"
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    with atomic_path(path.parent / data_name) as tmp_data:
        external_data_helper.convert_model_to_external_data(
            copy, all_tensors_to_one_file=True, location=tmp_data.name, size_threshold=1024
        )
        external_data_helper.write_external_data_tensors(copy, str(path.parent))
        for tensor in external_data_helper._get_all_tensors(copy):
            if external_data_helper.uses_external_data(tensor):
                external_data_helper.set_external_data(
                    tensor, location=data_name,
                    offset=external_data_helper.ExternalDataInfo(tensor).offset,
                    length=external_data_helper.ExternalDataInfo(tensor).length,
                )
        with atomic_path(path) as tmp:
            tmp.write_bytes(copy.SerializeToString())


def _without_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose main graph has no initializers (everything else copied)."""
    light = onnx.ModelProto()
    for field, value in model.ListFields():
        if field.name == "graph":
            continue
        target = getattr(light, field.name)
        if field.is_repeated:
            target.extend(value)
        elif field.type == field.TYPE_MESSAGE:
            target.CopyFrom(value)
        else:
            setattr(light, field.name, value)
    for field, value in model.graph.ListFields():
        if field.name == "initializer":
            continue
        target = getattr(light.graph, field.name)
        if field.is_repeated:
            target.extend(value)
        else:
            setattr(light.graph, field.name, value)
    return light


def write_streaming(model: onnx.ModelProto, fh) -> None:
    """Serialise ``model`` to ``fh`` one initializer at a time.

    ``SerializeToString`` would hold the whole file in memory (twice, inside protobuf and
    as Python bytes) beside the model. Here the graph's initializers (field 5 of
    GraphProto) are written one by one after the rest of the graph; protobuf does not care
    about field order, so the file is what onnx.save would write, up to field order.
    """
    from engine.formats.protowire import LEN, encode_varint, spans

    light = _without_initializers(model).SerializeToString()
    graph = next(s for s in spans(light) if s.number == 7)
    inits = model.graph.initializer
    sizes = [t.ByteSize() for t in inits]
    tag = encode_varint(5 << 3 | LEN)
    graph_len = (graph.end - graph.payload) + sum(len(tag) + len(encode_varint(n)) + n for n in sizes)
    fh.write(light[:graph.start])
    fh.write(encode_varint(7 << 3 | LEN) + encode_varint(graph_len))
    fh.write(light[graph.payload:graph.end])
    for tensor, size in zip(inits, sizes):
        fh.write(tag + encode_varint(size))
        fh.write(tensor.SerializeToString())
    fh.write(light[graph.end:])


def save(model: Model, path: Path, job: Job) -> None:
    proto = model.require_graph()
    job.report(0.1, f"writing {path.name}")
    save_proto(proto, path)


def _short(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


FORMAT = register(
    FileFormat(
        name="onnx",
        label="ONNX",
        suffixes=(".onnx",),
        kind="graph",
        sniff=sniff,
        load=load,
        save=save,
        priority=10,
    )
)
