"""Weight-only int8: weights stored as int8 with per-channel scales, dequantised in the graph.

The size win of quantisation with no calibration data and float32 activations (so
accuracy loss is only the weights' rounding). Rewrite rules:
    1. A float32 initializer with at least ``min_elements`` elements becomes an int8
       initializer ``q = clip(round(w / s), -127, 127)`` with symmetric scales
       ``s = max|w| / 127`` (zero point 0), and a ``DequantizeLinear`` node gives every
       former reader the float32 tensor back.
    2. Scales are per output channel where the reader says which axis that is: Conv
       weight axis 0, ConvTranspose axis 1 (group 1), Gemm B axis 0 with ``transB`` else
       1, MatMul B its last axis, Gather data axis 0 (one scale per embedding row); per
       tensor otherwise or when readers disagree.
    3. Per-axis DequantizeLinear needs opset 13: an older model is converted first with
       ``onnx.version_converter`` (noted in the result).
    4. Initializers that are graph inputs (overridable) or graph outputs are left alone.

Hand-written (numpy): ONNX Runtime's weight-only quantizers cover MatMul only (int4/8
MatMulNBits), not Conv or Gather.
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
from onnx import helper, numpy_helper

from engine.passes import _graph
from engine.passes.base import Pass, PassResult
from engine.passes.opset import at_least

log = logging.getLogger(__name__)

QMAX = 127


class Int8WeightOnly(Pass):
    """Store large float32 weights as per-channel int8 plus DequantizeLinear.

    Args:
        min_elements: smaller initializers (biases, norms) stay float32.
        per_channel: per-channel scales where the axis is known (else per tensor).
    """

    name = "int8_weight"
    summary = "weights stored int8 per-channel + DequantizeLinear (no calibration, ~4x smaller)"
    precision = "int8"

    def __init__(self, min_elements: int = 256, per_channel: bool = True) -> None:
        self.min_elements = min_elements
        self.per_channel = per_channel

    def call(self, model: onnx.ModelProto) -> PassResult:
        notes = []
        out = at_least(model, 13)
        if out is model:
            out = _graph.copy_model(model)
        else:
            notes.append(f"opset {_graph.opset_version(model)} -> 13 for per-axis DequantizeLinear")
        graph = out.graph
        readers = _graph.consumers(graph)
        protected = {i.name for i in graph.input} | _graph.output_names(graph)
        new_name = _graph.NameGen(out)
        dq_nodes = []
        kept, before_bytes, after_bytes = [], 0, 0
        for tensor in list(graph.initializer):
            if (tensor.data_type != onnx.TensorProto.FLOAT or tensor.name in protected
                    or int(np.prod(tensor.dims)) < self.min_elements or tensor.name not in readers):
                kept.append(tensor)
                continue
            w = numpy_helper.to_array(tensor)
            axis = _axis_for(tensor.name, readers[tensor.name], w.ndim) if self.per_channel else None
            q, scale = quantize_symmetric(w, axis)
            q_name, s_name, z_name = (new_name(tensor.name + suffix) for suffix in ("_int8", "_scale", "_zero"))
            kept += [numpy_helper.from_array(q, q_name), numpy_helper.from_array(scale, s_name),
                     numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), z_name)]
            attrs = {"axis": axis} if axis is not None else {}
            dq_nodes.append(helper.make_node("DequantizeLinear", [q_name, s_name, z_name], [tensor.name],
                                             name=new_name(tensor.name + "_dequantize"), **attrs))
            before_bytes += w.nbytes
            after_bytes += q.nbytes + 2 * scale.nbytes
        if not dq_nodes:
            return PassResult(out, bool(notes), notes)
        del graph.initializer[:]
        graph.initializer.extend(kept)
        nodes = dq_nodes + list(graph.node)  # DQs first: their outputs feed anything later
        del graph.node[:]
        graph.node.extend(nodes)
        notes.append(f"{len(dq_nodes)} weights int8: {before_bytes / 1e6:.2f} MB -> {after_bytes / 1e6:.2f} MB")
        return PassResult(out, True, notes)


def quantize_symmetric(w: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantisation; ``axis`` None for one scale, else one per slice."""
    w64 = w.astype(np.float64)
    if axis is None:
        amax = np.abs(w64).max(initial=0.0)
        scale = np.array(amax / QMAX if amax > 0 else 1.0, dtype=np.float32)
        q = np.clip(np.rint(w64 / scale), -QMAX, QMAX).astype(np.int8)
        return q, scale
    reduce = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w64).max(axis=reduce, initial=0.0) if reduce else np.abs(w64)
    scale = np.where(amax > 0, amax / QMAX, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w64 / scale.reshape(shape)), -QMAX, QMAX).astype(np.int8)
    return q, scale


def _axis_for(name: str, readers: list[onnx.NodeProto], ndim: int) -> int | None:
    axes = set()
    for node in readers:
        axes.add(_reader_axis(name, node, ndim))
    axes.discard("any")
    if len(axes) != 1:
        return None
    axis = axes.pop()
    return axis if isinstance(axis, int) and 0 <= axis < ndim and ndim >= 2 else None


def _reader_axis(name: str, node: onnx.NodeProto, ndim: int):
    op = node.op_type if node.domain in ("", "ai.onnx") else None
    idx = list(node.input).index(name)
    if op == "Conv" and idx == 1:
        return 0
    if op == "ConvTranspose" and idx == 1 and _graph.attr(node, "group", 1) == 1:
        return 1
    if op == "Gemm" and idx == 1:
        return 0 if _graph.attr(node, "transB", 0) else 1
    if op == "MatMul" and idx == 1:
        return ndim - 1
    if op == "Gather" and idx == 0 and _graph.attr(node, "axis", 0) == 0:
        return 0
    return None
