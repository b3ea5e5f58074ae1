"""Ascend AIR files: recognised so that ``inspect`` names them, never read (they need an Ascend host).

MindSpore writes AIR (``export(..., file_format="AIR")``) only on Ascend; it is a protobuf
``ge.proto.ModelDef`` (name 1, version 2, custom_version 3, graph 7, attr 11) that Ascend's
ATC compiles to an offline ``.om`` model. Reading one here would mean a second graph IR for
a target this machine cannot run, so the file is identified and refused with what to do.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import FormatError
from engine.formats import FileFormat, register
from engine.formats.protowire import LEN, VARINT, scan_fields
from engine.jobs import Job
from engine.model import Model

_FIELDS = {1: LEN, 2: VARINT, 3: LEN, 7: LEN, 11: LEN}


def sniff(head: bytes, path: Path) -> bool:
    """A ``.air`` file whose leading protobuf fields fit GE's ModelDef (name, version, graphs)."""
    if path.suffix.lower() != ".air":
        return False
    fields = scan_fields(head, limit=8)
    if not fields:
        return False
    return all(_FIELDS.get(f.number) == f.wire_type for f in fields) and any(f.number == 7 for f in fields)


def load(path: Path, job: Job) -> Model:
    """Always refuses, saying what the file is and where it runs."""
    raise FormatError(
        "is an Ascend AIR model (GE ModelDef): it is compiled and run only on an Ascend host with CANN "
        "(atc --framework=1 converts it to .om), so it is not opened here",
        path=path,
        hint="open the network's MindIR or ONNX export instead (MindSpore writes both on any host)",
    )


FORMAT = register(
    FileFormat(name="air", label="Ascend AIR model", suffixes=(".air",), kind="graph", sniff=sniff, load=load,
               priority=5, description="Ascend Intermediate Representation (recognised, needs an Ascend host)")
)
