"""BatchNorm folding: merge inference-mode BatchNormalization into the linear op before it.

With ``s = gamma / sqrt(var + epsilon)`` and ``t = beta - mean * s`` a BatchNormalization is
``y = x * s[c] + t[c]`` over channel axis 1. Rewrite rules:
    1. ``BN(Conv(x, W, b))`` -> ``Conv(x, W * s[m], b * s + t)``: one scale per output
       channel ``m``, which is also right for grouped and depthwise convolutions
       (``W`` is ``[M, C/group, k...]`` whatever ``group`` is). A Conv without bias gets one.
    2. ``BN(Gemm(A, B, C))`` on a 2-D output -> ``Gemm`` with the columns of ``B`` scaled
       (rows when ``transB``) and ``C' = C * s + t / beta`` (``beta = 1`` when absent/zero).
    3. ``BN(MatMul(x, W) [+ b])`` on a 2-D output -> the same with ``W[:, m] *= s[m]`` and
       ``b' = b * s + t`` (an Add with the bias is created when there was none).
    4. Rules 2-3 also apply through a ``Reshape`` that only appends 1-dims
       (``[N, M] -> [N, M, 1, 1]``, MindSpore's BatchNorm1d export).
The producer must be read only by the BN (or its Reshape), the BN must be in inference
form (one output), its parameters constants. Weights shared with other nodes are copied,
never edited in place. Hand-written (numpy); the BN node becomes an Identity that
our identity elimination removes.
"""

from __future__ import annotations

import logging

import numpy as np
import onnx

from engine.passes import _graph
from engine.passes._ir import from_ir, to_ir
from engine.passes.base import Pass, PassResult

log = logging.getLogger(__name__)


class FuseBatchNorm(Pass):
    """Fold BatchNormalization into the Conv, Gemm or MatMul(+Add) that feeds it."""

    name = "fuse_batchnorm"
    summary = "fold BatchNormalization into Conv / Gemm / MatMul+Add"

    def call(self, model: onnx.ModelProto) -> PassResult:
        out = _graph.copy_model(model)
        folded = _Folder(out).run()
        if sum(folded.values()):
            from onnx_ir.passes import common

            _graph.eliminate_identities(out.graph)
            irm = to_ir(out)
            common.RemoveUnusedNodesPass()(irm)
            out = from_ir(irm)
            _graph.prune_unused_initializers(out.graph)
        notes = [f"folded {n} BatchNormalization into {op}" for op, n in folded.items() if n]
        return PassResult(out, bool(sum(folded.values())), notes)


class _Folder:
    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.graph = model.graph
        self.new_name = _graph.NameGen(model)
        self.shapes = _graph.infer_shapes(_graph.copy_model(model))

    def run(self) -> dict[str, int]:
        folded = {"Conv": 0, "Gemm": 0, "MatMul": 0}
        for bn in list(self.graph.node):
            if bn.op_type != "BatchNormalization" or bn.domain not in ("", "ai.onnx"):
                continue
            # Fresh maps each time: an earlier fold rewired names and added initializers.
            self.inits = _graph.initializer_map(self.graph)
            self.prods = _graph.producers(self.graph)
            self.readers = _graph.consumers(self.graph)
            self.outputs = _graph.output_names(self.graph) | _graph.names_read_by_subgraphs(self.graph)
            kind = self._fold_one(bn)
            if kind:
                folded[kind] += 1
        return {k: v for k, v in folded.items() if v}

    # -- helpers -----------------------------------------------------------------------
    def _const(self, name: str) -> np.ndarray | None:
        return _graph.constant_value(self.graph, name, self.inits, self.prods) if name else None

    def _only_reader(self, tensor: str, node: onnx.NodeProto) -> bool:
        readers = self.readers.get(tensor, [])
        return len(readers) == 1 and readers[0] is node and tensor not in self.outputs

    def _put(self, node: onnx.NodeProto, index: int, value: np.ndarray, base: str) -> None:
        """Store ``value`` as a fresh initializer and make ``node.input[index]`` read it."""
        name = self.new_name(base)
        _graph.add_initializer(self.graph, name, value)
        while len(node.input) <= index:
            node.input.append("")
        node.input[index] = name

    def _bn_params(self, bn: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray] | None:
        if len([o for o in bn.output if o]) != 1 or _graph.attr(bn, "training_mode", 0):
            return None
        if _graph.attr(bn, "spatial", 1) != 1:
            return None
        vals = [self._const(n) for n in bn.input[1:5]]
        if len(vals) != 4 or any(v is None for v in vals):
            return None
        gamma, beta, mean, var = (v.astype(np.float64) for v in vals)
        eps = float(_graph.attr(bn, "epsilon", 1e-5))
        scale = gamma / np.sqrt(var + eps)
        return scale, beta - mean * scale

    # -- rules ---------------------------------------------------------------------------
    def _fold_one(self, bn: onnx.NodeProto) -> str | None:
        params = self._bn_params(bn)
        if params is None:
            return None
        scale, shift = params
        src = bn.input[0]
        producer = self.prods.get(src)
        reshape = None
        if producer is not None and producer.op_type == "Reshape" and self._appends_ones(producer):
            if not self._only_reader(src, bn):
                return None
            reshape, src = producer, producer.input[0]
            producer = self.prods.get(src)
        if producer is None or producer.domain not in ("", "ai.onnx"):
            return None
        if not self._only_reader(src, reshape or bn):
            return None
        kind = None
        if producer.op_type == "Conv" and reshape is None:
            kind = self._into_conv(producer, scale, shift)
        elif producer.op_type == "Gemm" and self._rank(src) == 2:
            kind = self._into_gemm(producer, scale, shift)
        elif producer.op_type == "Add" and self._rank(src) == 2:
            kind = self._into_matmul_add(producer, scale, shift)
        elif producer.op_type == "MatMul" and self._rank(src) == 2:
            kind = self._into_matmul(producer, scale, shift)
        if kind:
            # BN becomes Identity; the Reshape (if any) stays and shape_simplify drops it.
            bn.op_type = "Identity"
            del bn.input[1:]
            del bn.attribute[:]
        return kind

    def _rank(self, name: str) -> int | None:
        shape = _graph.static_shape(self.shapes, name)
        return None if shape is None else len(shape)

    def _appends_ones(self, reshape: onnx.NodeProto) -> bool:
        src = _graph.static_shape(self.shapes, reshape.input[0])
        dst = _graph.static_shape(self.shapes, reshape.output[0])
        if not src or not dst or None in src or None in dst or len(src) != 2:
            return False
        return dst[:2] == src and all(d == 1 for d in dst[2:])

    def _into_conv(self, conv: onnx.NodeProto, scale, shift) -> str | None:
        w = self._const(conv.input[1])
        b = self._const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else None
        if w is None or w.shape[0] != scale.shape[0] or (len(conv.input) > 2 and conv.input[2] and b is None):
            return None
        dtype = w.dtype
        bias = np.zeros(w.shape[0]) if b is None else b.astype(np.float64)
        w2 = (w.astype(np.float64) * scale.reshape(-1, *([1] * (w.ndim - 1)))).astype(dtype)
        b2 = (bias * scale + shift).astype(dtype)
        self._put(conv, 1, w2, conv.input[1] + "_bnfold")
        self._put(conv, 2, b2, (conv.name or "conv") + "_bias_bnfold")
        return "Conv"

    def _into_gemm(self, gemm: onnx.NodeProto, scale, shift) -> str | None:
        if _graph.attr(gemm, "transA", 0) not in (0, 1):
            return None
        b = self._const(gemm.input[1])
        c = self._const(gemm.input[2]) if len(gemm.input) > 2 and gemm.input[2] else None
        if b is None or b.ndim != 2 or (len(gemm.input) > 2 and gemm.input[2] and c is None):
            return None
        trans_b = _graph.attr(gemm, "transB", 0)
        m = b.shape[0] if trans_b else b.shape[1]
        if m != scale.shape[0]:
            return None
        beta = float(_graph.attr(gemm, "beta", 1.0))
        if c is None or beta == 0.0:
            c, beta = np.zeros(m), 1.0
            _graph.set_attr(gemm, "beta", 1.0)
        dtype = b.dtype
        b2 = b.astype(np.float64) * (scale[:, None] if trans_b else scale[None, :])
        c2 = np.broadcast_to(c.astype(np.float64), np.broadcast_shapes(c.shape, (m,))) * scale + shift / beta
        self._put(gemm, 1, b2.astype(dtype), gemm.input[1] + "_bnfold")
        self._put(gemm, 2, c2.astype(dtype), (gemm.name or "gemm") + "_bias_bnfold")
        return "Gemm"

    def _into_matmul(self, matmul: onnx.NodeProto, scale, shift) -> str | None:
        w = self._const(matmul.input[1])
        if w is None or w.ndim != 2 or w.shape[1] != scale.shape[0]:
            return None
        self._put(matmul, 1, (w.astype(np.float64) * scale[None, :]).astype(w.dtype), matmul.input[1] + "_bnfold")
        # y = x @ W' + t: append an Add reading a fresh shift initializer.
        out = matmul.output[0]
        mid = self.new_name(out + "_matmul")
        matmul.output[0] = mid
        shift_name = self.new_name((matmul.name or "matmul") + "_bias_bnfold")
        _graph.add_initializer(self.graph, shift_name, shift.astype(w.dtype))
        add = onnx.helper.make_node("Add", [mid, shift_name], [out], name=self.new_name((matmul.name or "matmul") + "_bnadd"))
        idx = list(self.graph.node).index(matmul)
        self.graph.node.insert(idx + 1, add)
        return "MatMul"

    def _into_matmul_add(self, add: onnx.NodeProto, scale, shift) -> str | None:
        for x_idx in (0, 1):
            matmul = self.prods.get(add.input[x_idx])
            bias = self._const(add.input[1 - x_idx])
            if matmul is None or matmul.op_type != "MatMul" or bias is None:
                continue
            w = self._const(matmul.input[1])
            if w is None or w.ndim != 2 or w.shape[1] != scale.shape[0] or not self._only_reader(add.input[x_idx], add):
                continue
            if bias.ndim > 1 and bias.shape[:-1] != (1,) * (bias.ndim - 1):
                continue
            self._put(matmul, 1, (w.astype(np.float64) * scale[None, :]).astype(w.dtype), matmul.input[1] + "_bnfold")
            b2 = np.broadcast_to(bias.reshape(-1).astype(np.float64), scale.shape) * scale + shift
            self._put(add, 1 - x_idx, b2.astype(w.dtype), (add.name or "add") + "_bias_bnfold")
            return "MatMul"
        return None
