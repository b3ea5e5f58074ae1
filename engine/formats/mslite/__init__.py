"""MindSpore Lite ``.ms`` (FlatBuffers ``MSL2``): opened for display and the mindspore-lite target; written by Lite.

A ``.ms`` graph is made of Lite's own ops (``Conv2DFusion`` with a fused activation, ...),
which have no ONNX lowering here: the file opens like an unlowered MindIR (source graph,
signature, weights), runs on ``mindspore-lite:cpu`` as it is, and the targets that need
ONNX say why they cannot take it. Lite 1.x files (``MSL0``/``MSL1``) are refused by name.
Writing goes through Lite's own converter (:mod:`engine.formats.mslite.writer`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.formats import FileFormat, register
from engine.jobs import Job
from engine.model import Model, SourceNode, UnloweredNode

LITE_REASON = "a MindSpore Lite op: the file runs as it is on mindspore-lite:cpu"


def sniff(head: bytes, path: Path) -> bool:
    """An FlatBuffers root offset, then the ``MSL`` identifier (old versions too, to refuse them by name)."""
    if len(head) < 12 or head[4:7] != b"MSL" or head[7:8] not in (b"0", b"1", b"2"):
        return False
    root = int.from_bytes(head[:4], "little")
    return 8 <= root < (1 << 31)


def load(path: Path, job: Job) -> Model:
    """Read an ``.ms`` file: Lite ops as the source graph, constant tensors as the parameters."""
    from engine.formats.mslite import reader
    from engine.inputs import TensorSpec
    from engine.params import ParameterSet

    job.report(0.05, f"reading {path.name}")
    graph = reader.read(path.read_bytes(), path)
    tensors = graph.tensors
    params = []
    for t in tensors:
        if t.node_type == "value" and t.is_constant:
            arr = t.array()
            if arr is not None:
                params.append((t.name, arr))
    nodes = []
    for node in graph.nodes:
        attributes = dict(node.attributes)
        if node.quant_type != "QUANT_NONE":
            attributes["quant_type"] = node.quant_type
        for index in node.inputs:
            t = tensors[index]
            if t.quant_params:
                attributes[f"quant {t.name}"] = _quant_text(t)
        nodes.append(SourceNode(name=node.name, op_type=node.op_type, inputs=[tensors[i].name for i in node.inputs],
                                outputs=[tensors[i].name for i in node.outputs], attributes=attributes))
    specs = ([_spec(tensors[i]) for i in graph.inputs], [_spec(tensors[i]) for i in graph.outputs])
    quantized = [t for t in tensors if t.quant_params]
    metadata = {
        "format": "MindSpore Lite model (MSL2, FlatBuffers)",
        "producer": f"MindSpore Lite converter (from {graph.fmk_type})",
        "version": graph.version,
        "graph": graph.name,
        "subgraphs": str(len(graph.subgraphs)),
        "tensors": str(len(tensors)),
        "quantized": ", ".join(f"{t.name} ({t.dtype_name}, {len(t.quant_params)} scale"
                               f"{'s' if len(t.quant_params) > 1 else ''})" for t in quantized[:8])
        + (f", ... {len(quantized)} in all" if len(quantized) > 8 else ""),
        "opset": "none (MindSpore Lite ops)",
    }
    unlowered = [UnloweredNode(primitive=n.op_type, node=n.name, scope="", reason=LITE_REASON) for n in graph.nodes]
    return Model(onnx=None, params=ParameterSet(params), source_path=path, source_format="mslite",
                 source_nodes=nodes, metadata={k: v for k, v in metadata.items() if v}, unlowered=unlowered,
                 signature=(specs[0], specs[1]))


def _spec(tensor):
    from engine.inputs import TensorSpec

    dtype = np.dtype(tensor.dtype_name) if tensor.type_id in _numpy_ids() else np.dtype("float32")
    return TensorSpec(tensor.name, dtype, tuple(d if d >= 0 else None for d in tensor.dims))


def _numpy_ids() -> set[int]:
    from engine.formats.mslite.schema import TYPE_IDS

    return set(TYPE_IDS)


def _quant_text(tensor) -> str:
    first = tensor.quant_params[0]
    more = f" (+{len(tensor.quant_params) - 1} channels)" if len(tensor.quant_params) > 1 else ""
    return f"{tensor.dtype_name} scale={first.scale:.6g} zero_point={first.zero_point} bits={first.num_bits}{more}"


def save(model: Model, path: Path, job: Job) -> None:
    """Write ``.ms`` through Lite's converter (fp32); see :mod:`engine.formats.mslite.writer`."""
    from engine.formats.mslite import writer

    writer.save(model, path, job)


FORMAT = register(
    FileFormat(
        name="mslite",
        label="MindSpore Lite model",
        suffixes=(".ms",),
        kind="graph",
        sniff=sniff,
        load=load,
        save=save,
        priority=60,
        description="MindSpore Lite FlatBuffers model (MSL2), as Lite's converter writes it",
    )
)
