"""Half precision: store weights and compute in float16, keeping fragile parts in float32.

Rewrite rules:
    1. float32 initializers and tensors become float16 (values beyond float16's range are
       clamped to +-65504, tiny ones to its smallest subnormal, so nothing becomes inf).
    2. With ``keep_io`` (default) graph inputs and outputs stay float32; Casts sit at the
       edges, so callers feed and read the same dtypes as before.
    3. Ops in the block list stay float32 with Casts around them: ONNX Runtime's default
       list (ML ops, TopK, Range, Min/Max, ...) plus, with ``keep_sensitive``, the ops
       where float16 loses accuracy: Softmax, LayerNormalization, normalisations,
       reductions, Exp/Log/Pow/Sqrt/Div, and everything in a non-default domain.
    4. Named nodes in ``keep_nodes`` stay float32.

Library: ``onnxruntime.transformers.float16.convert_float_to_float16`` (ONNX Runtime's copy
of onnxconverter-common's converter) does 1-4; this wrapper supplies the block lists.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import onnx

from engine.passes import _graph
from engine.passes.base import Pass, PassResult

log = logging.getLogger(__name__)

#: Ops whose float16 results drift: large sums, exponentials, divisions by small numbers.
SENSITIVE_OPS = (
    "Softmax", "LogSoftmax", "LayerNormalization", "BatchNormalization", "InstanceNormalization",
    "GroupNormalization", "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp",
    "ReduceProd", "Exp", "Log", "Pow", "Sqrt", "Reciprocal", "Div", "Erf", "CumSum", "Range",
)


class Float16(Pass):
    """Convert to float16 with ONNX Runtime's converter and a block list.

    Args:
        keep_io: keep graph inputs and outputs float32.
        keep_sensitive: keep :data:`SENSITIVE_OPS` in float32.
        keep_ops: more op types to keep in float32.
        keep_nodes: node names to keep in float32.
    """

    name = "fp16"
    summary = "float16 weights and compute; I/O and sensitive ops (Softmax, norms, reductions) stay float32"
    precision = "fp16"

    def __init__(self, keep_io: bool = True, keep_sensitive: bool = True,
                 keep_ops: Sequence[str] = (), keep_nodes: Sequence[str] = ()) -> None:
        self.keep_io = keep_io
        self.keep_sensitive = keep_sensitive
        self.keep_ops = list(keep_ops)
        self.keep_nodes = list(keep_nodes)

    def block_list(self, model: onnx.ModelProto) -> list[str]:
        from onnxruntime.transformers import float16

        ops = set(float16.DEFAULT_OP_BLOCK_LIST) | set(self.keep_ops)
        if self.keep_sensitive:
            ops |= set(SENSITIVE_OPS)
        # Contrib and custom ops have float32-only kernels more often than not.
        ops |= {n.op_type for n in model.graph.node if n.domain not in ("", "ai.onnx")}
        return sorted(ops)

    def call(self, model: onnx.ModelProto) -> PassResult:
        from onnxruntime.transformers import float16

        before = sum(1 for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the converter warns about clamped values
            out = float16.convert_float_to_float16(
                _graph.copy_model(model),
                keep_io_types=self.keep_io,
                op_block_list=self.block_list(model),
                node_block_list=self.keep_nodes,
            )
        # The converter appends the Casts it inserts for graph inputs at the end of the node
        # list; ONNX Runtime tolerates that, onnx.load's checker does not.
        _graph.topological_sort(out.graph)
        after = sum(1 for t in out.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16)
        casts = sum(1 for n in out.graph.node if n.op_type == "Cast") - sum(
            1 for n in model.graph.node if n.op_type == "Cast")
        return PassResult(out, True, [f"{after} of {before} float32 initializers now float16, {casts} Casts added"])
