"""Compact names: shorter tensor and node names and no cached shapes, for the smallest file.

MindSpore's exports name every tensor by its full scope ("7-Default/layers-SequentialCell/
0-TransformerBlock/..."), which in a small int8 model outweighs the weights. Rewrite rules:
    1. Every intermediate tensor (not a graph input or output) is renamed ``t<n>``, in
       node order; initializers ``w<n>``. Graph inputs and outputs keep their names, so
       the model's signature is unchanged.
    2. Node names become ``n<n>``; doc strings are dropped.
    3. ``value_info`` (cached intermediate shapes, re-derivable by shape inference) is
       dropped.
Main graph only; a model with subgraphs is left as it is. Hand-written.
"""

from __future__ import annotations

import logging

import onnx

from engine.passes import _graph
from engine.passes.base import Pass, PassResult

log = logging.getLogger(__name__)


class CompactNames(Pass):
    """Rename intermediate tensors and nodes to short names; drop value_info and doc strings."""

    name = "compact_names"
    summary = "short tensor/node names, no value_info (smaller files; graph I/O names kept)"

    def call(self, model: onnx.ModelProto) -> PassResult:
        out = _graph.copy_model(model)
        graph = out.graph
        if any(any(_graph.subgraphs(n)) for n in graph.node):
            return PassResult(out, False, ["skipped: the graph has subgraphs"])
        before = out.ByteSize()
        keep = {v.name for v in graph.input} | {v.name for v in graph.output}
        mapping: dict[str, str] = {}
        for i, t in enumerate(graph.initializer):
            if t.name not in keep:
                mapping[t.name] = f"w{i}"
        count = 0
        for node in graph.node:
            for name in node.output:
                if name and name not in keep and name not in mapping:
                    mapping[name] = f"t{count}"
                    count += 1
        for t in graph.initializer:
            t.name = mapping.get(t.name, t.name)
            t.doc_string = ""
        for i, node in enumerate(graph.node):
            node.input[:] = [mapping.get(n, n) for n in node.input]
            node.output[:] = [mapping.get(n, n) for n in node.output]
            node.name = f"n{i}"
            node.doc_string = ""
        del graph.value_info[:]
        after = out.ByteSize()
        return PassResult(out, after != before, [f"{before} -> {after} bytes"])
