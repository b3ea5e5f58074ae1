"""Multiply-accumulate counts of the heavy ops (Conv, ConvTranspose, Gemm, MatMul), from inferred shapes."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from math import prod

import onnx

from engine.model import copy_without_weights

log = logging.getLogger(__name__)

COUNTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def _with_concrete_inputs(model: onnx.ModelProto, input_shapes: Mapping[str, Sequence[int]] | None, batch: int) -> onnx.ModelProto:
    """A copy whose graph inputs have fixed dims: from ``input_shapes``, else ``batch`` / 1 for dynamic ones."""
    # Shape inference needs weights' types, not their data (copying it could stall a window).
    copy = copy_without_weights(model, keep_elements=64)
    input_shapes = input_shapes or {}
    for value in copy.graph.input:
        if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
            continue
        dims = value.type.tensor_type.shape.dim
        given = input_shapes.get(value.name)
        for i, d in enumerate(dims):
            if given is not None and i < len(given):
                d.Clear()
                d.dim_value = int(given[i])
            elif not d.HasField("dim_value"):
                d.Clear()
                d.dim_value = batch if i == 0 else 1
    return copy


def _shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    shapes: dict[str, list[int | None]] = {}
    values = list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)
    for value in values:
        tt = value.type.tensor_type
        if tt.HasField("shape"):
            shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def _known(shape: list[int | None] | None) -> bool:
    return shape is not None and all(isinstance(d, int) for d in shape)


def node_macs(node: onnx.NodeProto, shapes: Mapping[str, list[int | None]]) -> int | None:
    """MACs of one node, or None when it is not counted or its shapes are unknown."""
    get = shapes.get
    if node.op_type in ("Conv", "ConvTranspose"):
        w = get(node.input[1]) if len(node.input) > 1 else None
        group = next((a.i for a in node.attribute if a.name == "group"), 1) or 1
        if node.op_type == "Conv":
            y = get(node.output[0])
            if not (_known(w) and _known(y)) or len(y) < 2:
                return None
            # per output element: (Cin/group) * prod(kernel) MACs; w = [Cout, Cin/group, k...]
            return int(prod(y) * prod(w[1:]))
        x = get(node.input[0])
        if not (_known(w) and _known(x)) or len(x) < 2:
            return None
        # ConvTranspose: every input element scatters into (Cout/group) * prod(kernel) outputs.
        return int(prod(x) * prod(w[1:]))
    if node.op_type == "Gemm":
        a, b = get(node.input[0]), get(node.input[1])
        if not (_known(a) and _known(b)) or len(a) != 2 or len(b) != 2:
            return None
        trans_a = next((x.i for x in node.attribute if x.name == "transA"), 0)
        trans_b = next((x.i for x in node.attribute if x.name == "transB"), 0)
        m, k = (a[1], a[0]) if trans_a else (a[0], a[1])
        n = b[0] if trans_b else b[1]
        return int(m * k * n)
    if node.op_type == "MatMul":
        a, b, y = get(node.input[0]), get(node.input[1]), get(node.output[0])
        if not (_known(a) and _known(b)) or not a or not b:
            return None
        k = a[-1]
        if _known(y) and y:
            return int(prod(y) * k)
        m = a[-2] if len(a) > 1 else 1
        n = b[-1] if len(b) > 1 else 1
        return int(m * n * k)
    return None


def estimate_macs(
    model: onnx.ModelProto, *, input_shapes: Mapping[str, Sequence[int]] | None = None, batch: int = 1
) -> int | None:
    """Total MACs of Conv, ConvTranspose, Gemm and MatMul nodes for one run (other ops ignored).

    Shapes come from ONNX shape inference with dynamic input dims fixed by ``input_shapes``
    or set to ``batch`` (first dim) / 1. Returns None when the graph has none of these ops
    with known shapes (or shape inference fails). Ops inside subgraphs are not counted.
    """
    from engine.errors import FormatError
    from engine.onnx_checks import check_graph_dims

    concrete = _with_concrete_inputs(model, input_shapes, batch)
    try:
        # ONNX's C++ shape inference aborts the process on a negative dim: check first.
        check_graph_dims(concrete, data=False)
    except FormatError as exc:
        log.debug("no MAC estimate: %s", exc)
        return None
    try:
        inferred = onnx.shape_inference.infer_shapes(concrete)
    except Exception as exc:  # shape inference rejects some graphs ORT still runs
        log.debug("shape inference failed, no MAC estimate: %s", exc)
        return None
    shapes = _shapes(inferred)
    total = 0
    counted = False
    for node in inferred.graph.node:
        if node.op_type in COUNTED_OPS and node.domain in ("", "ai.onnx"):
            macs = node_macs(node, shapes)
            if macs is None:
                log.debug("no shape for %s node %s; not counted", node.op_type, node.name)
                continue
            total += macs
            counted = True
    return total if counted else None
