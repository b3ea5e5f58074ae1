"""Dead-code elimination: drop what cannot change an output.

Rewrite rules:
    1. ``Dropout`` in inference form (no ``training_mode``, or a constant false one, and
       no reader of its mask) becomes ``Identity``.
    2. ``y = Identity(x)`` is removed and readers of ``y`` read ``x``; when ``y`` is a
       graph output, ``x`` is renamed ``y`` instead, and when ``x`` is also a graph input
       the node stays (the model's signature never changes).
    3. Nodes none of whose outputs are read (by a node, a subgraph or a graph output)
       are removed, repeatedly, so whole dead branches go.
    4. Initializers nobody reads are removed (from ``graph.input`` too when the IR
       version allows initializers outside the inputs).

Library: onnx_ir's ``RemoveUnusedNodesPass`` (rules 3-4). Rules 1-2 are hand-written:
onnx_ir's ``IdentityEliminationPass`` renames ``x`` to ``y`` even when ``x`` is another
graph output, which loses that output (see ``_graph.eliminate_identities``).
"""

from __future__ import annotations

import logging

import onnx

from engine.passes import _graph
from engine.passes._ir import from_ir, to_ir
from engine.passes.base import Pass, PassResult

log = logging.getLogger(__name__)


class DeadCodeElimination(Pass):
    """Remove identity-like and unread nodes and unused initializers."""

    name = "dead_code"
    summary = "remove Identity, inference Dropout, unread nodes and unused initializers"

    def call(self, model: onnx.ModelProto) -> PassResult:
        from onnx_ir.passes import common

        out = _graph.copy_model(model)
        dropouts = _dropout_to_identity(out)
        before_nodes, before_inits = len(out.graph.node), len(out.graph.initializer)
        _graph.eliminate_identities(out.graph)
        irm = to_ir(out)
        common.RemoveUnusedNodesPass()(irm)
        out = from_ir(irm)
        if out.ir_version >= 4:
            _graph.prune_unused_initializers(out.graph)
        nodes = before_nodes - len(out.graph.node)
        inits = before_inits - len(out.graph.initializer)
        notes = []
        if dropouts:
            notes.append(f"{dropouts} Dropout made Identity")
        if nodes or inits:
            notes.append(f"removed {nodes} nodes, {inits} initializers")
        return PassResult(out, bool(dropouts or nodes or inits), notes)


def _dropout_to_identity(model: onnx.ModelProto) -> int:
    graph = model.graph
    readers = _graph.consumers(graph)
    outputs = _graph.output_names(graph) | _graph.names_read_by_subgraphs(graph)
    inits = _graph.initializer_map(graph)
    prods = _graph.producers(graph)
    count = 0
    for node in graph.node:
        if node.op_type != "Dropout" or node.domain not in ("", "ai.onnx"):
            continue
        if len(node.output) > 1 and node.output[1] and (node.output[1] in readers or node.output[1] in outputs):
            continue  # someone reads the mask
        if len(node.input) >= 3 and node.input[2]:
            training = _graph.constant_value(graph, node.input[2], inits, prods)
            if training is None or bool(training):
                continue
        if _graph.attr(node, "is_test", 1) == 0 and _opset_before_7(model):
            continue  # old Dropout in training mode
        node.op_type = "Identity"
        del node.input[1:]
        del node.output[1:]
        del node.attribute[:]
        count += 1
    return count


def _opset_before_7(model: onnx.ModelProto) -> bool:
    return 0 < _graph.opset_version(model) < 7
