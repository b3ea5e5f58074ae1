"""The canonical in-memory model: an ONNX graph and/or a parameter set, with provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hashlib

import onnx

from engine.params import ParameterSet


def _digest(model: onnx.ModelProto) -> str:
    return hashlib.blake2b(model.SerializeToString(deterministic=True), digest_size=16).hexdigest()


@dataclass
class SourceNode:
    """A node as the source file has it (MindSpore op names and attributes), for display.

    ``attributes`` hold plain Python values (ints, floats, strings, lists, numpy arrays).
    """

    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, Any] = field(default_factory=dict)
    scope: str = ""


@dataclass
class Model:
    """One opened file, in canonical form.

    Attributes:
        onnx: the canonical graph (ONNX), or None for a pure parameter file.
        params: the parameter set of a parameter file (checkpoint, safetensors, npz).
        source_path: where it was read from (None if built in memory).
        source_format: registry name of the format it was read from ("onnx", "mindir", ...).
        source_nodes: the graph as the source file has it, when it differs from ``onnx``
            (MindIR: MindSpore primitives, Load/Depend plumbing and all).
        metadata: producer, versions and other facts the source file states.
    """

    onnx: onnx.ModelProto | None = None
    params: ParameterSet | None = None
    source_path: Path | None = None
    source_format: str = "onnx"
    source_nodes: list[SourceNode] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    fingerprint: str | None = field(default=None, repr=False)

    def seal(self) -> None:
        """Remember the graph as read, so :meth:`matches_source` can tell later edits."""
        self.fingerprint = _digest(self.onnx) if self.onnx is not None else None

    def matches_source(self) -> bool:
        """True when the graph is still exactly what was read from ``source_path``.

        Backends use this to run the source file itself (MindSpore on a MindIR) only when
        no pass, binding or edit has changed the graph since it was opened.
        """
        return (
            self.fingerprint is not None
            and self.source_path is not None
            and self.onnx is not None
            and _digest(self.onnx) == self.fingerprint
        )

    @property
    def is_graph(self) -> bool:
        return self.onnx is not None

    @property
    def name(self) -> str:
        return self.source_path.name if self.source_path else (self.onnx.graph.name if self.onnx else "model")

    def require_graph(self) -> onnx.ModelProto:
        """The ONNX graph, or a clear error if this file holds only parameters."""
        from engine.errors import FormatError

        if self.onnx is None:
            raise FormatError(
                f"is a {self.source_format} parameter file, not a network",
                path=self.source_path,
                hint="export it with a graph first (dstudio export --graph G --params P)",
            )
        return self.onnx
