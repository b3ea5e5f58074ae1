"""MindIR ``mind_ir_version``: what a file's content needs, which runtimes accept it, and writing an older one.

MindSpore's ``mind_ir.proto`` numbers the versions by what the file may contain:

1. ``IR_VERSION``: every primitive is a PRIMITIVE (its settings are attributes);
2. ``IR_VERSION_WITH_PRIM_FUNCTION``: PRIMITIVE_FUNCTION primitives appear (MindSpore 2.3+
   writes ``ops`` functions such as ReLU, MatMul, BiasAdd this way: settings as operands);
3. ``IR_VERSION_WITH_SCALAR_GRAPH_HOLDER``: attributes of type SCALAR_GRAPH_HOLDER appear
   (symbolic shape arithmetic for dynamic shapes).

A runtime refuses a file whose *stated* version is above its maximum (Lite 2.0: "can only
support the maximum mind ir version: 1"). Relabelling a file does not help when its content
needs the newer version (Lite 2.0 then fails compiling the PRIMITIVE_FUNCTION nodes), so an
older version is written only when the content allows it, and otherwise refused naming the
primitives that block it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import FormatError

if TYPE_CHECKING:
    from engine.jobs import Job
    from engine.model import Model

#: Runtimes we know, with the highest mind_ir_version each reads (verified by running them).
RUNTIMES: tuple[tuple[str, int], ...] = (("MindSpore 2.10", 3), ("MindSpore Lite 2.0", 1))

_FUNCTION = 2  # PrimitiveProto.PRIMITIVE_FUNCTION
_GRAPH_HOLDER = 40  # AttributeProto.SCALAR_GRAPH_HOLDER


def _attributes(proto) -> Iterable:
    graphs = [proto.graph, *proto.functions]
    for graph in graphs:
        for node in graph.node:
            yield from node.attribute
    for prim in proto.primitives:
        yield from prim.attribute


def content_version(proto) -> tuple[int, dict[int, list[str]]]:
    """The lowest mind_ir_version that can hold this ModelProto, and why (version -> what needs it)."""
    needs: dict[int, list[str]] = {}
    functions = sorted({p.op_type for p in proto.primitives if p.prim_type == _FUNCTION})
    if functions:
        needs[2] = [f"PRIMITIVE_FUNCTION primitives: {', '.join(functions)}"]
    holders = sum(1 for a in _attributes(proto) if a.type == _GRAPH_HOLDER or a.HasField("graph_holder"))
    if holders:
        needs[3] = [f"{holders} SCALAR_GRAPH_HOLDER attribute{'s' if holders > 1 else ''} (dynamic shape arithmetic)"]
    return (max(needs) if needs else 1), needs


def metadata(proto) -> dict[str, str]:
    """Entries for ``Model.metadata``: the content's minimum version and the runtimes that accept the file."""
    stated = int(proto.mind_ir_version)
    least, needs = content_version(proto)
    accepts = []
    for runtime, highest in RUNTIMES:
        if stated <= highest:
            accepts.append(f"{runtime} yes")
        elif least <= highest:
            accepts.append(f"{runtime} no (reads up to {highest}; dstudio convert --mind-ir-version {highest})")
        else:
            accepts.append(f"{runtime} no (reads up to {highest}; content needs {least})")
    why = "; ".join(item for v in sorted(needs) for item in needs[v])
    return {"mind_ir_content": f"needs version {least}" + (f" ({why})" if why else ""),
            "runtimes": "; ".join(accepts)}


def describe(path: str | Path) -> dict[str, str]:
    """The version facts of a MindIR file, read without lowering it."""
    from engine.formats._proto import dstudio_mind_ir_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString(Path(path).read_bytes())
    return {"mind_ir_version": str(proto.mind_ir_version), **metadata(proto)}


def save(model: Model, path: str | Path, job: Job | None, *, version: int) -> None:
    """Write ``model`` as MindIR stating ``version``, when its content allows it.

    Raises:
        FormatError: the content needs a newer version, naming what needs it.
    """
    from engine.fileio import atomic_write_bytes, check_output_path
    from engine.formats import input_files
    from engine.formats._proto import dstudio_mind_ir_pb2 as pb
    from engine.formats.mindir.writer import MindIRWriter
    from engine.jobs import as_job

    path, job = Path(path), as_job(job)
    if version not in (1, 2, 3):
        raise FormatError(f"unknown mind_ir_version {version}; MindIR versions are 1, 2 and 3", path=path)
    check_output_path(path, input_files(model))
    proto = pb.ModelProto()
    proto.ParseFromString(MindIRWriter(model, path).run(job))
    least, needs = content_version(proto)
    if least > version:
        blockers = "; ".join(item for v in sorted(needs) if v > version for item in needs[v])
        raise FormatError(f"cannot write mind_ir_version {version}: this graph needs version {least} ({blockers})",
                          path=path, hint="runtimes that read only older versions cannot take this graph as MindIR; "
                          "MindSpore Lite takes it as .ms (dstudio convert X -o model.ms)")
    proto.mind_ir_version = version
    atomic_write_bytes(path, proto.SerializeToString())


def convert(src: str | Path, dst: str | Path, *, version: int, job: Job | None = None):
    """``dstudio convert SRC -o DST.mindir --mind-ir-version N``. Returns an ``engine.convert.ConvertResult``."""
    import time

    from engine import formats
    from engine.convert import ConvertResult
    from engine.fileio import check_output_path
    from engine.jobs import as_job

    src, dst = Path(src), Path(dst)
    job = as_job(job)
    check_output_path(dst, [src])
    start = time.perf_counter()
    model = formats.load(src, job=job.sub(0.0, 0.5))
    model.require_graph()
    loaded = time.perf_counter()
    save(model, dst, job.sub(0.5, 1.0), version=version)
    done = time.perf_counter()
    return ConvertResult(src, dst, model.source_format, f"mindir (mind_ir_version {version})", loaded - start,
                         done - loaded)
