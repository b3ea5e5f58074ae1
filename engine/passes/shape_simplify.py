"""Shape simplification: remove layout and type ops that do nothing, merge chains of them.

Rewrite rules (shapes come from ONNX shape inference with data propagation):
    1. ``Reshape``, ``Flatten``, ``Squeeze``, ``Unsqueeze`` and ``Expand`` whose output
       shape equals the input's (all dims known) are removed.
    2. ``Reshape(Reshape(x, s1), s2)`` becomes ``Reshape(x, s2)`` when ``s2`` is a constant
       without zeros (a 0 would copy a dim of the intermediate tensor).
    3. ``Transpose`` with the identity permutation is removed.
    4. ``Transpose(Transpose(x, p1), p2)`` becomes ``Transpose(x, p)`` with
       ``p[i] = p1[p2[i]]`` (and then rule 3 may remove it).
    5. ``Cast`` to the element type its input already has is removed.

Removed nodes go through our identity elimination, which keeps graph output
names. All rules are hand-written; onnx's shape inference supplies the shapes.
"""

from __future__ import annotations

import logging

import onnx

from engine.passes import _graph
from engine.passes._ir import from_ir, to_ir
from engine.passes.base import Pass, PassResult

log = logging.getLogger(__name__)

_SAME_SHAPE_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Expand"}


class ShapeSimplify(Pass):
    """Drop no-op reshapes, transposes and casts; merge reshape and transpose chains."""

    name = "shape_simplify"
    summary = "remove no-op Reshape/Squeeze/Transpose/Cast, merge Reshape and Transpose chains"

    def call(self, model: onnx.ModelProto) -> PassResult:
        out = _graph.copy_model(model)
        counts = {"no-op": 0, "reshape chains": 0, "transpose chains": 0}
        for _ in range(4):  # each round may expose more (a merged chain becoming a no-op)
            changed = self._round(out, counts)
            if not changed:
                break
        total = sum(counts.values())
        if total:
            from onnx_ir.passes import common

            _graph.eliminate_identities(out.graph)
            irm = to_ir(out)
            common.RemoveUnusedNodesPass()(irm)
            out = from_ir(irm)
        notes = [f"{v} {k}" for k, v in counts.items() if v]
        return PassResult(out, bool(total), notes)

    def _round(self, model: onnx.ModelProto, counts: dict[str, int]) -> int:
        graph = model.graph
        inferred = _graph.infer_shapes(_graph.copy_model(model))
        types = _elem_types(inferred)
        inits = _graph.initializer_map(graph)
        prods = _graph.producers(graph)
        readers = _graph.consumers(graph)
        changed = 0
        for node in graph.node:
            if node.domain not in ("", "ai.onnx") or node.op_type == "Identity":
                continue
            op = node.op_type
            if op in _SAME_SHAPE_OPS and node.input and node.output:
                src = _graph.static_shape(inferred, node.input[0])
                dst = _graph.static_shape(inferred, node.output[0])
                if _known(src) and _known(dst) and src == dst:
                    _make_identity(node)
                    counts["no-op"] += 1
                    changed += 1
                    continue
            if op == "Reshape" and len(node.input) >= 2:
                inner = prods.get(node.input[0])
                shape = _graph.constant_value(graph, node.input[1], inits, prods)
                if (inner is not None and inner.op_type == "Reshape" and inner.domain in ("", "ai.onnx")
                        and shape is not None and not (shape == 0).any() and _graph.attr(node, "allowzero", 0) == 0):
                    node.input[0] = inner.input[0]
                    counts["reshape chains"] += 1
                    changed += 1
                    continue
            if op == "Transpose":
                perm = _graph.attr(node, "perm")
                if perm is not None and list(perm) == list(range(len(perm))):
                    _make_identity(node)
                    counts["no-op"] += 1
                    changed += 1
                    continue
                inner = prods.get(node.input[0])
                if inner is not None and inner.op_type == "Transpose" and inner.domain in ("", "ai.onnx"):
                    p1, p2 = _graph.attr(inner, "perm"), perm
                    if p1 is not None and p2 is not None and len(p1) == len(p2):
                        _graph.set_attr(node, "perm", [int(p1[i]) for i in p2])
                        node.input[0] = inner.input[0]
                        counts["transpose chains"] += 1
                        changed += 1
                        continue
            if op == "Cast":
                to = _graph.attr(node, "to")
                src_type = types.get(node.input[0])
                if to is not None and src_type is not None and src_type == to:
                    _make_identity(node)
                    counts["no-op"] += 1
                    changed += 1
        del readers
        return changed


def _known(shape) -> bool:
    return shape is not None and all(d is not None for d in shape)


def _make_identity(node: onnx.NodeProto) -> None:
    node.op_type = "Identity"
    node.domain = ""
    del node.input[1:]
    del node.output[1:]
    del node.attribute[:]


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    types = {t.name: t.data_type for t in model.graph.initializer}
    for vi in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
    return types
