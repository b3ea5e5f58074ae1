"""ONNX: load and save, including external data kept safely inside the model's folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import onnx
from onnx import external_data_helper

from engine.errors import FormatError
from engine.fileio import atomic_path
from engine.formats import EXTERNAL_FILES_KEY, FileFormat, register
from engine.formats.onnx_pieces import checker_copy, load_in_pieces
from engine.formats.protowire import LEN, VARINT, scan_fields
from engine.jobs import Job
from engine.model import Model, approx_size, copy_without_weights, tensor_nbytes
from engine.onnx_checks import check_consistent, check_graph_dims, check_text, data_nbytes

# protobuf refuses to serialise a single message past 2 GiB; above this, weights go out.
PROTO_LIMIT = 2**31 - 1
EXTERNAL_THRESHOLD = 1 << 30
CHECK_FROM_PATH = 64 << 20


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


def check_external_locations(model: onnx.ModelProto, base_dir: Path, path: Path) -> list[str]:
    """Refuse external data that lies outside ``base_dir`` or does not fit its file; return the files used.

    Every tensor's location must be a relative path to a regular file inside the model's
    folder (not the model itself), and its offset and length whole numbers whose range
    lies inside that file and holds exactly the bytes the tensor's dims need.
    """
    base = base_dir.resolve()
    used: list[str] = []
    for tensor in external_data_helper._get_all_tensors(model):
        if not external_data_helper.uses_external_data(tensor):
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location", "")
        target = (base / location.replace("\0", "")).resolve()
        if not location or "\0" in location or os.path.isabs(location) or (target != base and base not in target.parents):
            raise FormatError(
                f"tensor {tensor.name!r} points its external data at {location!r}, outside the model's folder",
                path=path,
                hint="refusing to read it; move the data file beside the model",
            )
        if not target.exists():
            raise FormatError(f"external data file {location!r} for tensor {tensor.name!r} is missing", path=path)
        if not target.is_file() or target == path.resolve():
            raise FormatError(f"tensor {tensor.name!r} reads its external data from {location!r}, "
                              "which is not a separate data file", path=path)
        size = target.stat().st_size
        numbers = {}
        for key in ("offset", "length"):
            text = entries.get(key)
            if text is None:
                continue
            if not text.isdigit():
                raise FormatError(f"tensor {tensor.name!r}: external data {key} {text!r} is not a whole number >= 0",
                                  path=path)
            numbers[key] = int(text)
        offset = numbers.get("offset", 0)
        length = numbers.get("length", size - offset)
        if offset + length > size:
            raise FormatError(f"tensor {tensor.name!r}: external data bytes {offset}..{offset + length} lie past the "
                              f"end of {location!r} ({size} bytes); truncated?", path=path)
        need = data_nbytes(tensor)
        if tensor.data_type not in (onnx.TensorProto.STRING,) and length != need:
            raise FormatError(f"tensor {tensor.name!r}: external data holds {length} bytes but dims "
                              f"{list(tensor.dims)} need {need}", path=path)
        if location not in used:
            used.append(location)
    return used


def load(path: Path, job: Job) -> Model:
    job.report(0.05, f"reading {path.name}")
    try:
        if path.stat().st_size > CHECK_FROM_PATH:  # one graph field at a time: never the file and the model at once
            model = load_in_pieces(path)
        else:
            model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise FormatError(f"not a valid ONNX model ({_short(exc)})", path=path) from exc
    if not model.HasField("graph") or (not model.graph.node and not model.graph.output):
        raise FormatError("ONNX file has no graph (truncated, or another kind of protobuf)", path=path)
    check_text(model, path)
    check_graph_dims(model, path)  # before any C++ checker or allocation sees the declared sizes
    external_files = check_external_locations(model, path.parent, path)
    job.report(0.3, "checking")
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    try:
        # The checker reads external-data models from the path itself, and sees big ones
        # without their large weights (check_graph_dims has checked those sizes): given the
        # proto it would serialise a copy, given the path it would read and parse it again.
        big = approx_size(model) > CHECK_FROM_PATH
        onnx.checker.check_model(str(path) if external else checker_copy(model) if big else model)
    except onnx.checker.ValidationError as exc:
        raise FormatError(f"ONNX model is invalid: {_short(exc)}", path=path) from exc
    except UnicodeDecodeError as exc:  # the C++ checker hands back names that are not UTF-8
        raise FormatError(f"ONNX model is invalid: a name or string field is not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start} of {exc.object[:40]!r})", path=path) from exc
    if external:
        job.report(0.5, "reading external data")
        external_data_helper.load_external_data_for_model(model, str(path.parent))
    metadata = {
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "ir_version": str(model.ir_version),
        "opset": ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import),
    }
    if external_files:
        metadata[EXTERNAL_FILES_KEY] = json.dumps(external_files)
    return Model(onnx=model, source_path=path, source_format="onnx", metadata=metadata)


def save_proto(model: onnx.ModelProto, path: Path, *, external: bool | None = None) -> None:
    """Write an ONNX ModelProto atomically; weights go to ``<name>.data`` when large.

    Args:
        external: force (True) or forbid (False) external data; None decides by size
            (over 1 GiB, so that models past protobuf's 2 GiB limit can be written).
    """
    if external is None:
        external = approx_size(model) > EXTERNAL_THRESHOLD
    if not external:
        with atomic_path(path) as tmp, tmp.open("wb") as fh:
            write_streaming(model, fh)
        return
    data_name = path.name + ".data"
    with atomic_path(path.parent / data_name) as tmp_data, tmp_data.open("wb") as data_fh:

        def externalize(tensor: onnx.TensorProto) -> bytes:
            # Typed-field data (float_data...) stays inline: protobuf bounds it, and re-encoding it
            # as raw bytes would need a dtype conversion that odd types (strings, 4-bit) lack.
            if (tensor.data_location == onnx.TensorProto.EXTERNAL or not tensor.HasField("raw_data")
                    or tensor_nbytes(tensor) < 1024):
                return tensor.SerializeToString()
            raw = tensor.raw_data
            offset = -(-data_fh.tell() // 4096) * 4096  # page-aligned, so readers can mmap
            data_fh.seek(offset)
            data_fh.write(raw)
            stub = onnx.TensorProto(name=tensor.name, dims=tensor.dims, data_type=tensor.data_type,
                                    data_location=onnx.TensorProto.EXTERNAL)
            for key, value in (("location", data_name), ("offset", str(offset)), ("length", str(len(raw)))):
                stub.external_data.add(key=key, value=value)
            return stub.SerializeToString()

        with atomic_path(path) as tmp, tmp.open("wb") as fh:
            write_streaming(model, fh, tensor_bytes=externalize)


def write_streaming(model: onnx.ModelProto, fh, tensor_bytes=None) -> None:
    """Serialise ``model`` to ``fh`` one initializer at a time.

    ``SerializeToString`` would hold the whole file in memory (twice, inside protobuf and
    as Python bytes) beside the model. Here the graph's initializers (field 5 of
    GraphProto) are written one by one after the rest of the graph; protobuf does not care
    about field order, so the file is what onnx.save would write, up to field order.
    """
    from engine.formats.protowire import LEN, encode_varint, spans

    light = copy_without_weights(model).SerializeToString()
    graph = next(s for s in spans(light) if s.number == 7)
    inits = model.graph.initializer
    tag = encode_varint(5 << 3 | LEN)
    if tensor_bytes is None:
        sizes = [t.ByteSize() for t in inits]
        chunks = (t.SerializeToString() for t in inits)
    else:  # transformed tensors (external data): small stubs, so keep them to know their sizes
        stubs = [tensor_bytes(t) for t in inits]
        sizes = [len(b) for b in stubs]
        chunks = iter(stubs)
    graph_len = (graph.end - graph.payload) + sum(len(tag) + len(encode_varint(n)) + n for n in sizes)
    fh.write(light[:graph.start])
    fh.write(encode_varint(7 << 3 | LEN) + encode_varint(graph_len))
    fh.write(light[graph.payload:graph.end])
    for size, chunk in zip(sizes, chunks):
        fh.write(tag + encode_varint(size))
        fh.write(chunk)
    fh.write(light[graph.end:])


def save(model: Model, path: Path, job: Job) -> None:
    """Write the graph, after checking that the file will pass ``onnx.checker`` with ``full_check``."""
    proto = model.require_graph()
    job.report(0.05, "checking the graph")
    # The problem lies in the graph read from the input, so the error names the input.
    try:
        check_consistent(proto, model.source_path or path)
    except FormatError as exc:
        raise FormatError(exc.message, path=exc.path, node=exc.node, hint=f"nothing written to {path.name}") from None
    job.report(0.1, f"writing {path.name}")
    save_proto(proto, path)


def _short(exc: BaseException) -> str:
    """One line from a possibly multi-line library message (the checker's span several)."""
    text = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    text = text or type(exc).__name__
    return text if len(text) <= 400 else text[:397] + "..."


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
