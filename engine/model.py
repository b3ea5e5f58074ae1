"""The canonical in-memory model: an ONNX graph and/or a parameter set, with provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hashlib

import onnx

from engine.params import ParameterSet


def _digest(model: onnx.ModelProto) -> str:
    """A hash of the graph, built piece by piece so a large model is never serialised whole."""
    h = hashlib.blake2b(digest_size=16)
    graph = model.graph
    for group in (graph.input, graph.output, graph.node, graph.initializer, graph.sparse_initializer, model.opset_import):
        h.update(len(group).to_bytes(8, "little"))
        for item in group:
            h.update(item.SerializeToString(deterministic=True))
    return h.hexdigest()


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


def approx_size(model: onnx.ModelProto) -> int:
    """Bytes a model will take on disk, estimated from its weights without serialising it.

    (protobuf's ByteSize() serialises the whole message to measure it, which doubles peak
    memory on a large model; this is exact for raw-data weights and close for the rest.)
    """
    total = 0
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            continue
        count = 1
        for dim in tensor.dims:
            count *= dim
        try:
            itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        except (KeyError, TypeError, ValueError):
            itemsize = 4
        total += count * itemsize + len(tensor.name) + 16
    return total + 256 * len(model.graph.node)
