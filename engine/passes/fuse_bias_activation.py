"""Bias and activation fusion: fewer, bigger kernels.

Rewrite rules:
    1. ``Add(MatMul(A, W), b)`` with 2-D ``A``, constant 2-D ``W`` and a constant bias
       that broadcasts along the last axis becomes ``Gemm(A, W, b)`` (standard ONNX, any
       runtime).
    2. Only where the target is ONNX Runtime (which has the contrib kernels):
       ``act(Conv(...))`` becomes ``com.microsoft.FusedConv`` and ``act(Gemm(...))``
       becomes ``com.microsoft.FusedGemm`` for ``act`` in Relu, LeakyRelu, Sigmoid, Tanh,
       HardSigmoid and Clip with constant bounds. Saved this way the fusion survives a
       session with graph optimisation turned down, and loading skips the fusion work.
The fused node must be the only reader of the producer's output, and that output must
not be a graph output. Hand-written; ONNX Runtime's kernels execute the contrib ops.
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
from onnx import helper

from engine.passes import _graph
from engine.passes.base import Pass, PassResult

log = logging.getLogger(__name__)

MS_DOMAIN = "com.microsoft"
_ACTIVATIONS = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "Clip"}


class FuseBiasActivation(Pass):
    """MatMul+Add into Gemm; Conv/Gemm+activation into ONNX Runtime's fused kernels.

    Args:
        target: the deployment target; activation fusion only for ``onnxruntime*``.
        activations: force activation fusion on (True) or off (False); None decides by
            target.
    """

    name = "fuse_bias_activation"
    summary = "MatMul+Add -> Gemm; Conv/Gemm + activation -> fused kernels (ONNX Runtime targets)"

    def __init__(self, target: str = "onnxruntime:cpu", activations: bool | None = None) -> None:
        self.target = target
        self.activations = activations

    def call(self, model: onnx.ModelProto) -> PassResult:
        out = _graph.copy_model(model)
        gemms = _matmul_add_to_gemm(out)
        use_act = self.activations if self.activations is not None else self.target.startswith("onnxruntime")
        fused = _fuse_activations(out) if use_act else {}
        notes = []
        if gemms:
            notes.append(f"{gemms} MatMul+Add -> Gemm")
        notes += [f"{n} {k}" for k, n in fused.items()]
        if fused:
            _graph.ensure_opset(out, MS_DOMAIN, 1)
        return PassResult(out, bool(gemms or fused), notes)


def _matmul_add_to_gemm(model: onnx.ModelProto) -> int:
    graph = model.graph
    shapes = _graph.infer_shapes(_graph.copy_model(model))
    inits, prods = _graph.initializer_map(graph), _graph.producers(graph)
    readers = _graph.consumers(graph)
    outputs = _graph.output_names(graph) | _graph.names_read_by_subgraphs(graph)
    doomed = []
    for add in graph.node:
        if add.op_type != "Add" or add.domain not in ("", "ai.onnx") or len(add.input) != 2:
            continue
        for x_idx in (0, 1):
            mm = prods.get(add.input[x_idx])
            if mm is None or mm.op_type != "MatMul" or mm.domain not in ("", "ai.onnx"):
                continue
            mid = add.input[x_idx]
            if len(readers.get(mid, [])) != 1 or mid in outputs:
                continue
            w = _graph.constant_value(graph, mm.input[1], inits, prods)
            bias = _graph.constant_value(graph, add.input[1 - x_idx], inits, prods)
            a_shape = _graph.static_shape(shapes, mm.input[0])
            if w is None or bias is None or w.ndim != 2 or a_shape is None or len(a_shape) != 2:
                continue
            if bias.size not in (1, w.shape[1]) or (bias.ndim == 2 and bias.shape[0] != 1) or bias.ndim > 2:
                continue
            if bias.dtype != w.dtype:
                continue
            bias_name = mm.name + "_gemm_bias" if mm.name else "gemm_bias"
            bias_name = _graph.NameGen(model)(bias_name)
            _graph.add_initializer(graph, bias_name, np.broadcast_to(bias.reshape(-1), (w.shape[1],)).copy())
            add.op_type = "Gemm"
            add.input[:] = [mm.input[0], mm.input[1], bias_name]
            add.name = add.name or mm.name
            doomed.append(mm)
            break
    _graph.remove_nodes(graph, doomed)
    _graph.prune_unused_initializers(graph)
    return len(doomed)


def _activation_attrs(graph, act: onnx.NodeProto, inits, prods) -> dict | None:
    op = act.op_type
    if op in ("Relu", "Sigmoid", "Tanh"):
        return {"activation": op}
    if op == "LeakyRelu":
        return {"activation": op, "activation_params": [float(_graph.attr(act, "alpha", 0.01))]}
    if op == "HardSigmoid":
        return {"activation": op, "activation_params": [float(_graph.attr(act, "alpha", 0.2)),
                                                        float(_graph.attr(act, "beta", 0.5))]}
    if op == "Clip":
        lo, hi = _graph.attr(act, "min", None), _graph.attr(act, "max", None)
        if len(act.input) > 1:
            lo = _graph.constant_value(graph, act.input[1], inits, prods) if act.input[1] else None
            if len(act.input) > 2 and act.input[2]:
                hi = _graph.constant_value(graph, act.input[2], inits, prods)
                if hi is None:
                    return None
            if act.input[1] and lo is None:
                return None
        if any(v is not None and np.size(v) != 1 for v in (lo, hi)):
            return None  # per-element bounds have no fused form
        lo = float(np.finfo(np.float32).min) if lo is None else float(np.asarray(lo).reshape(-1)[0])
        hi = float(np.finfo(np.float32).max) if hi is None else float(np.asarray(hi).reshape(-1)[0])
        return {"activation": "Clip", "activation_params": [lo, hi]}
    return None


def _fuse_activations(model: onnx.ModelProto) -> dict[str, int]:
    graph = model.graph
    types = {t.name: t.data_type for t in graph.initializer}
    inits, prods = _graph.initializer_map(graph), _graph.producers(graph)
    readers = _graph.consumers(graph)
    outputs = _graph.output_names(graph) | _graph.names_read_by_subgraphs(graph)
    counts = {"Conv+act -> FusedConv": 0, "Gemm+act -> FusedGemm": 0}
    doomed = []
    for act in graph.node:
        if act.op_type not in _ACTIVATIONS or act.domain not in ("", "ai.onnx"):
            continue
        src = act.input[0]
        prod = prods.get(src)
        if prod is None or prod.domain not in ("", "ai.onnx") or prod.op_type not in ("Conv", "Gemm"):
            continue
        if len(readers.get(src, [])) != 1 or src in outputs:
            continue
        # The contrib kernels are float32 on CPU: fuse only float32 weights.
        if types.get(prod.input[1], onnx.TensorProto.FLOAT) != onnx.TensorProto.FLOAT:
            continue
        attrs = _activation_attrs(graph, act, inits, prods)
        if attrs is None:
            continue
        key = "Conv+act -> FusedConv" if prod.op_type == "Conv" else "Gemm+act -> FusedGemm"
        prod.op_type = "FusedConv" if prod.op_type == "Conv" else "FusedGemm"
        prod.domain = MS_DOMAIN
        if prod.op_type == "FusedGemm" and "activation_params" in attrs:
            # FusedGemm names its parameters per activation.
            params = attrs.pop("activation_params")
            names = {"LeakyRelu": ["activation_alpha"], "HardSigmoid": ["activation_alpha", "activation_beta"]}.get(
                attrs["activation"])
            if names is None:
                prod.op_type, prod.domain = ("Gemm", "")
                continue
            attrs.update(dict(zip(names, params)))
        for k, v in attrs.items():
            prod.attribute.append(helper.make_attribute(k, v))
        prod.output[0] = act.output[0]
        doomed.append(act)
        counts[key] += 1
    _graph.remove_nodes(graph, doomed)
    _graph.prune_unused_initializers(graph)
    return {k: v for k, v in counts.items() if v}
