"""Reduce-to-pool: a spatial-mean ReduceMean becomes GlobalAveragePool.

MindSpore exports its global pooling head as ``ReduceMean(axes=[2, 3], keepdims=1)``.
The two compute the same; GlobalAveragePool is what ONNX Runtime's quantizer has an
int8 kernel for (QLinearGlobalAveragePool), so the head of a quantized network stays in
int8 instead of dequantizing for the mean.

Rewrite rules:
    1. ``ReduceMean(x)`` with ``keepdims`` 1 over exactly the axes ``2 .. rank-1`` of an
       input of known rank >= 3 (axes as an attribute, opset < 18, or a constant second
       input, opset >= 18; negative axes normalised) becomes ``GlobalAveragePool(x)``.
    2. The same with ``keepdims`` 0 becomes ``Flatten(GlobalAveragePool(x), axis=1)``
       (``[N, C, 1, 1] -> [N, C]``, the head MindSpore's MobileNetV2 exports).
    3. Partial spatial reductions, reductions over N or C and empty axes are left alone.
Hand-written; onnx's shape inference supplies the rank.
"""

from __future__ import annotations

import logging

import onnx
from onnx import helper

from engine.passes import _graph
from engine.passes.base import Pass, PassResult

log = logging.getLogger(__name__)


class ReduceToPool(Pass):
    """Rewrite ``ReduceMean`` over all spatial axes as ``GlobalAveragePool`` (+ ``Flatten``)."""

    name = "reduce_to_pool"
    summary = "ReduceMean over the spatial axes -> GlobalAveragePool (+ Flatten without keepdims)"

    def call(self, model: onnx.ModelProto) -> PassResult:
        out = _graph.copy_model(model)
        graph = out.graph
        inferred = _graph.infer_shapes(_graph.copy_model(model))
        inits, prods = _graph.initializer_map(graph), _graph.producers(graph)
        new_name = _graph.NameGen(out)
        nodes, count = [], 0
        for node in graph.node:
            nodes.append(node)
            if node.op_type != "ReduceMean" or node.domain not in ("", "ai.onnx") or not node.input:
                continue
            shape = _graph.static_shape(inferred, node.input[0])
            if shape is None or len(shape) < 3:
                continue
            axes = _graph.attr(node, "axes")
            if len(node.input) > 1 and node.input[1]:
                value = _graph.constant_value(graph, node.input[1], inits, prods)
                axes = None if value is None else value.ravel().tolist()
            if not axes:
                continue
            rank = len(shape)
            if sorted(int(a) % rank for a in axes) != list(range(2, rank)):
                continue
            keep = _graph.attr(node, "keepdims", 1)
            node.op_type = "GlobalAveragePool"
            del node.input[1:]
            del node.attribute[:]
            if not keep:
                pooled, node.output[0] = node.output[0], new_name(node.output[0] + "_pooled")
                nodes.append(helper.make_node("Flatten", [node.output[0]], [pooled], axis=1,
                                              name=new_name((node.name or "reduce_mean") + "_flatten")))
            count += 1
        if count:
            del graph.node[:]
            graph.node.extend(nodes)
            _graph.prune_unused_initializers(graph)
        notes = [f"{count} ReduceMean -> GlobalAveragePool"] if count else []
        return PassResult(out, bool(count), notes)
