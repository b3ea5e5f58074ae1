"""Constant folding: compute at optimisation time whatever does not depend on the inputs.

Rewrite rules:
    1. A node whose inputs are all constants (initializers that cannot be overridden, or
       ``Constant`` outputs) is evaluated once and replaced by an initializer holding its
       value. Random generators are never folded.
    2. ``Shape``/``Size`` of a tensor whose shape is static become constants (and what
       depends only on them folds in turn), which turns MindSpore's shape arithmetic into
       plain constants.
    3. ``Constant`` nodes become initializers, so later passes see one kind of constant.
    4. Nodes left with no reader are removed (graph outputs always stay).

Library: onnxscript's optimizer (``onnxscript.optimizer.fold_constants``) does 1-2 and
onnx_ir's ``LiftConstantsToInitializersPass``/``RemoveUnusedNodesPass`` do 3-4. Without
onnxscript, a small hand-written folder evaluates rule 1 with ``onnx.reference``.
"""

from __future__ import annotations

import logging

import onnx
from onnx import numpy_helper

from engine.passes import _graph
from engine.passes._ir import from_ir, have_onnxscript, to_ir
from engine.passes.base import Pass, PassResult

log = logging.getLogger(__name__)

_NEVER_FOLD = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial",
               "Bernoulli", "If", "Loop", "Scan", "SequenceEmpty"}


class ConstantFolding(Pass):
    """Fold everything that does not depend on the model's inputs into initializers.

    Args:
        size_limit: largest folded output, in elements (bigger results stay computed).
        use_onnxscript: use onnxscript's folder when installed (False forces the fallback).
    """

    name = "constant_folding"
    summary = "fold input-independent nodes and Constant nodes into initializers"

    def __init__(self, size_limit: int = 1 << 22, use_onnxscript: bool = True) -> None:
        self.size_limit = size_limit
        self.use_onnxscript = use_onnxscript

    def call(self, model: onnx.ModelProto) -> PassResult:
        before = _graph.op_counts(model)
        if self.use_onnxscript and have_onnxscript():
            out = self._fold_onnxscript(model)
            how = "onnxscript"
        else:
            out = _graph.copy_model(model)
            _fold_reference(out, self.size_limit)
            how = "onnx.reference"
        after = _graph.op_counts(out)
        removed = sum(before.values()) - sum(after.values())
        modified = before != after or len(out.graph.initializer) != len(model.graph.initializer)
        return PassResult(out, modified, [f"{removed} nodes folded away ({how})"] if modified else [])

    def _fold_onnxscript(self, model: onnx.ModelProto) -> onnx.ModelProto:
        from onnx_ir.passes import common
        import onnxscript.optimizer as oso

        irm = to_ir(model)
        oso.fold_constants(irm, onnx_shape_inference=False, input_size_limit=self.size_limit,
                           output_size_limit=self.size_limit)
        common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(irm)
        common.RemoveUnusedNodesPass()(irm)
        return from_ir(irm)


def _fold_reference(model: onnx.ModelProto, size_limit: int) -> None:
    """Rule 1 and 3-4 without onnxscript: evaluate constant nodes one by one, in place."""
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    opsets = {imp.domain or "": imp.version for imp in model.opset_import}
    known = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for name in {i.name for i in graph.input}:
        known.pop(name, None)  # overridable at run time
    doomed = []
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type in _NEVER_FOLD or any(_graph.subgraphs(node)):
            continue
        if not all((not n) or n in known for n in node.input):
            continue
        try:
            feeds = [numpy_helper.from_array(known[n], n) for n in dict.fromkeys(node.input) if n]
            outs_vi = [onnx.helper.make_value_info(o, onnx.TypeProto()) for o in node.output if o]
            fn = onnx.helper.make_model(
                onnx.helper.make_graph([node], "fold", [], outs_vi, initializer=feeds),
                opset_imports=[onnx.helper.make_opsetid("", opsets.get("", 17))],
            )
            values = ReferenceEvaluator(fn).run(None, {})
        except Exception as exc:  # an op the reference evaluator lacks stays as is
            log.debug("cannot fold %s (%s): %s", node.name, node.op_type, exc)
            continue
        outs = [o for o in node.output if o]
        if any(getattr(v, "size", 0) > size_limit for v in values):
            continue
        for name, value in zip(outs, values):
            known[name] = value
            graph.initializer.append(numpy_helper.from_array(value, name))
        doomed.append(node)
    _graph.remove_nodes(graph, doomed)
    _graph.prune_unused_initializers(graph)
