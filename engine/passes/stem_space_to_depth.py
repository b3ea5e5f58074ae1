"""Stem space-to-depth: a stride-2 Conv over few channels becomes SpaceToDepth + a stride-1 Conv.

Int8 convolution kernels (ONNX Runtime's QLinearConv on x86) are built for channel counts
that fill a SIMD lane; an image stem (3 channels, 7x7, stride 2) got about a fifth of the
MACs per second of the later 3x3 convs and took ~40% of an int8 ResNet-18's time
(ONNX Runtime 1.32, AVX-512 VNNI). Regrouping the input 2x2 gives 4x
the channels at half the resolution, and the same arithmetic up to float rounding.

Rewrite rules:
    1. ``Conv(x, W, b)`` with 2-D stride 2, dilation 1, ``group`` 1, explicit pads
       (or ``auto_pad`` SAME_UPPER / SAME_LOWER / VALID, made explicit),
       initializer ``W`` of at most ``max_channels`` input channels, and an input whose
       spatial dims are static and even becomes
       ``Conv(SpaceToDepth(x, blocksize=2), W', b)`` with stride 1. Along each spatial
       axis, kernel tap ``u`` (with begin pad ``p``) reads row ``2i + u - p``; writing
       ``u - p = 2a + d`` (``d`` in {0, 1}) it moves to tap ``a + pb`` of channel
       ``(d_h * 2 + d_w) * C + c`` (SpaceToDepth's channel order), so ``W'`` is
       ``[M, 4C, ka, ka']`` with ``pb = -min(a)`` and ``ka = max(a) - min(a) + 1``; the
       new pads are ``pb`` and whatever keeps the output size.
    2. Skipped: a new end pad that would be negative (a kernel that ignores trailing
       rows), odd or dynamic spatial dims, a weight from a Constant node.

It pays only for int8 kernels (fp32's NCHWc kernels handle 3 channels well and get
slower), so presets put it just before static quantization, which keeps the
SpaceToDepth in float. Hand-written (numpy).
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
from onnx import helper

from engine.passes import _graph
from engine.passes.base import Pass, PassResult

log = logging.getLogger(__name__)


class StemSpaceToDepth(Pass):
    """Rewrite thin stride-2 convolutions as SpaceToDepth(2) + stride-1 Conv.

    Args:
        max_channels: rewrite convolutions with at most this many input channels.
    """

    name = "stem_space_to_depth"
    summary = "stride-2 Conv over <= 3 channels -> SpaceToDepth + stride-1 Conv (for int8 kernels)"

    def __init__(self, max_channels: int = 3) -> None:
        self.max_channels = max_channels

    def call(self, model: onnx.ModelProto) -> PassResult:
        out = _graph.copy_model(model)
        graph = out.graph
        inferred = _graph.infer_shapes(_graph.copy_model(model))
        inits, prods = _graph.initializer_map(graph), _graph.producers(graph)
        new_name = _graph.NameGen(out)
        nodes, count = [], 0
        for node in graph.node:
            plan = self._plan(node, graph, inferred, inits, prods)
            if plan is None:
                nodes.append(node)
                continue
            weight, pads = plan
            s2d_out = new_name(node.input[0] + "_s2d")
            w_name = _graph.add_initializer(graph, new_name(node.input[1] + "_s2d"), weight)
            nodes.append(helper.make_node("SpaceToDepth", [node.input[0]], [s2d_out], blocksize=2,
                                          name=new_name((node.name or "conv") + "_space_to_depth")))
            conv = helper.make_node("Conv", [s2d_out, w_name, *node.input[2:]], list(node.output),
                                    name=node.name, kernel_shape=list(weight.shape[2:]), strides=[1, 1], pads=pads)
            nodes.append(conv)
            count += 1
        if count:
            del graph.node[:]
            graph.node.extend(nodes)
            _graph.prune_unused_initializers(graph)
        notes = [f"{count} stride-2 Conv over <= {self.max_channels} channels -> SpaceToDepth + Conv"] if count else []
        return PassResult(out, bool(count), notes)

    def _plan(self, node, graph, inferred, inits, prods) -> tuple[np.ndarray, list[int]] | None:
        if node.op_type != "Conv" or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
            return None
        if node.input[1] not in inits:  # a Constant-node weight would be left behind unread
            return None
        w = _graph.constant_value(graph, node.input[1], inits, prods)
        if w is None or w.ndim != 4 or w.shape[1] > self.max_channels or w.dtype != np.float32:
            return None
        if (_graph.attr(node, "group", 1) != 1 or list(_graph.attr(node, "strides", [1, 1])) != [2, 2]
                or list(_graph.attr(node, "dilations", [1, 1])) != [1, 1]):
            return None
        shape = _graph.static_shape(inferred, node.input[0])
        if shape is None or len(shape) != 4 or any(not isinstance(d, int) or d <= 0 for d in shape[2:]):
            return None
        if any(d % 2 for d in shape[2:]) or shape[1] != w.shape[1]:
            return None
        pads = _explicit_pads(node, shape[2:], w.shape[2:])
        if pads is None:
            return None
        taps, new_pads_begin, new_pads_end = [], [], []
        for axis in range(2):
            size, k, pb, pe = shape[2 + axis], w.shape[2 + axis], pads[axis], pads[2 + axis]
            a = [(u - pb) // 2 for u in range(k)]
            a_min, ka = min(a), max(a) - min(a) + 1
            out_size = (size + pb + pe - k) // 2 + 1
            end = out_size - 1 + ka - size // 2 + a_min
            if end < 0:
                return None
            taps.append([(ai - a_min, (u - pb) - 2 * ai) for u, ai in zip(range(k), a)])
            new_pads_begin.append(-a_min)
            new_pads_end.append(end)
        m, c = w.shape[:2]
        kh, kw = max(t[0] for t in taps[0]) + 1, max(t[0] for t in taps[1]) + 1
        out = np.zeros((m, 4 * c, kh, kw), np.float32)
        for u, (ah, dh) in enumerate(taps[0]):
            for v, (aw, dw) in enumerate(taps[1]):
                ch = (dh * 2 + dw) * c
                out[:, ch:ch + c, ah, aw] = w[:, :, u, v]
        return out, new_pads_begin + new_pads_end



def _explicit_pads(node: onnx.NodeProto, sizes, kernel) -> list[int] | None:
    """The Conv's pads as [h_begin, w_begin, h_end, w_end] (stride 2), auto_pad resolved."""
    auto = _graph.attr(node, "auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto == "NOTSET":
        return list(_graph.attr(node, "pads", [0, 0, 0, 0]))
    if auto == "VALID":
        return [0, 0, 0, 0]
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        return None
    begin, end = [], []
    for size, k in zip(sizes, kernel):
        total = max(((size + 1) // 2 - 1) * 2 + k - size, 0)
        small, large = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else large)
        end.append(large if auto == "SAME_UPPER" else small)
    return begin + end
