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
    lowering: str = ""  # MindIR: "" (not tracked), "ok", "failed" or "skipped" (an input failed)
    lowered_to: list[str] = field(default_factory=list)  # the ONNX op types this node became
    lowering_reason: str = ""  # why it failed or was skipped


@dataclass(frozen=True)
class UnloweredNode:
    """A source node the conversion to ONNX could not express.

    Attributes:
        primitive: the MindSpore primitive name (``Conv2D``).
        node: the node's name in the file.
        scope: its scope (``Default/conv1-Conv2d/Conv2D-op0``), where the file states one.
        reason: why it was not lowered (no rule, or the rule's refusal).
    """

    primitive: str
    node: str
    scope: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"primitive": self.primitive, "node": self.node, "scope": self.scope, "reason": self.reason}


def unlowered_summary(nodes: list[UnloweredNode]) -> list[dict[str, object]]:
    """Per primitive, in first-seen order: name, count, first node and the first node's reason."""
    groups: dict[str, dict[str, object]] = {}
    for item in nodes:
        entry = groups.setdefault(item.primitive, {"primitive": item.primitive, "count": 0,
                                                   "first_node": item.scope or item.node, "reason": item.reason})
        entry["count"] = int(entry["count"]) + 1  # type: ignore[call-overload]
    return list(groups.values())


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
        unlowered: source nodes the conversion to ONNX could not express. When any are
            listed, ``onnx`` is None: the file is open (source graph, MindSpore targets)
            but everything that needs the ONNX graph refuses, naming all of them.
        signature: (inputs, outputs) as :class:`engine.inputs.TensorSpec` lists, for a
            network without an ONNX graph (an unlowered MindIR); None otherwise.
    """

    onnx: onnx.ModelProto | None = None
    params: ParameterSet | None = None
    source_path: Path | None = None
    source_format: str = "onnx"
    source_nodes: list[SourceNode] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    unlowered: list[UnloweredNode] = field(default_factory=list)
    signature: tuple[list, list] | None = None
    fingerprint: str | None = field(default=None, repr=False)

    def seal(self) -> None:
        """Remember the graph as read, so :meth:`matches_source` can tell later edits."""
        self.fingerprint = _digest(self.onnx) if self.onnx is not None else None

    def matches_source(self) -> bool:
        """True when the graph is still exactly what was read from ``source_path``.

        Backends use this to run the source file itself (MindSpore on a MindIR) only when
        no pass, binding or edit has changed the graph since it was opened. A network
        without an ONNX graph (an unlowered MindIR) cannot be edited, so it always matches.
        """
        if self.onnx is None and self.unlowered:
            return self.source_path is not None
        return (
            self.fingerprint is not None
            and self.source_path is not None
            and self.onnx is not None
            and _digest(self.onnx) == self.fingerprint
        )

    @property
    def is_graph(self) -> bool:
        """True for a network (with an ONNX graph, or a source graph that could not be lowered)."""
        return self.onnx is not None or (bool(self.unlowered) and self.source_nodes is not None)

    @property
    def is_lowered(self) -> bool:
        """True when the network has its canonical ONNX graph."""
        return self.onnx is not None

    def unlowered_message(self) -> str:
        """One line naming every primitive without an ONNX lowering (empty when there is none)."""
        if not self.unlowered:
            return ""
        parts = []
        for entry in unlowered_summary(self.unlowered):
            count = int(entry["count"])  # type: ignore[call-overload]
            where = f"{count} node{'s' if count > 1 else ''}, first {entry['first_node']}"
            reason = str(entry["reason"])
            no_rule = reason.endswith("has no ONNX lowering yet") or self.source_format == "mslite"
            parts.append(f"{entry['primitive']} ({where})" + ("" if no_rule else f": {reason}"))
        noun = "primitive" if len(parts) == 1 else "primitives"
        if self.source_format == "mslite":  # a .ms file: Lite's own ops, run as they are on mindspore-lite:cpu
            noun = "Lite op" if len(parts) == 1 else "Lite ops"
        return f"cannot express {len(parts)} MindSpore {noun} in ONNX: " + "; ".join(parts)

    def io_specs(self) -> tuple[list, list]:
        """(inputs, outputs) as TensorSpec lists, from the ONNX graph or the source's signature."""
        from engine.inputs import input_specs, output_specs

        if self.onnx is None and self.signature is not None:
            return list(self.signature[0]), list(self.signature[1])
        graph = self.require_graph()
        return input_specs(graph), output_specs(graph)

    @property
    def name(self) -> str:
        return self.source_path.name if self.source_path else (self.onnx.graph.name if self.onnx else "model")

    def require_graph(self) -> onnx.ModelProto:
        """The ONNX graph, or a clear error if this file holds only parameters."""
        from engine.errors import FormatError, UnsupportedOpError

        if self.onnx is None and self.unlowered:
            raise UnsupportedOpError(
                self.unlowered_message(),
                path=self.source_path,
                hint="the file still opens (dstudio inspect, the window), and "
                + ("mindspore-lite:cpu runs the .ms itself" if self.source_format == "mslite"
                   else "mindspore targets run the MindIR itself"),
            )
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
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            total += tensor_nbytes(tensor) + len(tensor.name) + 16
    return total + 256 * len(model.graph.node)


def tensor_elements(tensor: onnx.TensorProto) -> int:
    """Element count of a tensor, from its dims (no data is read)."""
    count = 1
    for dim in tensor.dims:
        count *= dim
    return count


def tensor_nbytes(tensor: onnx.TensorProto) -> int:
    """Bytes of a tensor's data, from its dims and dtype (no data is read)."""
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        itemsize = 4
    return tensor_elements(tensor) * itemsize


def copy_without_weights(model: onnx.ModelProto, *, keep_elements: int | None = None) -> onnx.ModelProto:
    """A copy of ``model`` that leaves the main graph's weight data behind.

    Args:
        keep_elements: None drops the initializers altogether (the streaming writer adds
            them back one at a time). A number keeps initializers of up to that many
            elements whole (shape tensors that shape inference reads) and the larger ones
            as name, type and dims only, which is all shape inference needs of a weight.

    Copying field by field avoids ``CopyFrom`` (a full copy of every weight) and the
    serialisation protobuf would do to measure or copy the whole message.
    """
    light = onnx.ModelProto()
    for field_desc, value in model.ListFields():
        if field_desc.name == "graph":
            continue
        target = getattr(light, field_desc.name)
        if field_desc.is_repeated:
            target.extend(value)
        elif field_desc.type == field_desc.TYPE_MESSAGE:
            target.CopyFrom(value)
        else:
            setattr(light, field_desc.name, value)
    for field_desc, value in model.graph.ListFields():
        if field_desc.name == "initializer":
            continue
        target = getattr(light.graph, field_desc.name)
        if field_desc.is_repeated:
            target.extend(value)
        else:
            setattr(light.graph, field_desc.name, value)
    if keep_elements is None:
        return light
    for tensor in model.graph.initializer:
        if tensor_elements(tensor) <= keep_elements:
            light.graph.initializer.add().CopyFrom(tensor)
        else:
            light.graph.initializer.add(name=tensor.name, dims=tensor.dims, data_type=tensor.data_type)
    return light
