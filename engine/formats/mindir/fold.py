"""Folding before MindIR writing: shape arithmetic and other input-independent values become constants.

PyTorch's exporters compute reshape targets, masks, position ids and slice bounds at run
time (``Shape -> Gather -> Unsqueeze -> Concat -> Reshape``, ``ConstantOfShape``,
``Range``, ``Expand`` of a constant, ``Where(Equal(...))``). MindIR inputs have static
shapes, so all of it is known before writing, and MindSpore's primitives want such
operands as constants. This step runs before the writer looks at any node.

Rewrite rules, in order:
    1. Model-local functions are inlined (the dynamo exporter may emit some).
    2. A node whose inputs are all constants, or whose output depends only on static
       shapes (``Shape``, ``Size``), is evaluated once and becomes a constant; the
       constants it leaves unused go away. ``ConstantOfShape`` folds too.
    3. Folded outputs over ``output_limit`` elements stay computed (memory), and inputs
       over ``keep_elements`` elements are never read (big weights are seen only as
       typed, shaped values), so the step costs the small tensors, not the weights.
    4. An initializer that is also a graph input is a constant here (the writer gives
       MindIR fixed weights), not an overridable input.

Library versus hand code: rules 1-2 are onnxscript's optimizer
(``onnxscript.optimizer.fold_constants`` with its node-level ONNX shape inference,
evaluating with ``onnx.reference``) and onnx_ir's passes (inlining, unused-node removal,
lifting ``Constant`` nodes). Hand-written here: rule 2's ``ConstantOfShape`` opt-in
(onnxscript keeps it by default to keep files small), rules 3-4 (presenting big weights
as shaped graph inputs so the folder cannot read or copy them) and the hand-back of a
weight-less folded graph plus the original initializers, by reference, to the writer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import onnx

from engine.model import copy_without_weights, tensor_elements

log = logging.getLogger(__name__)

#: Initializers up to this many elements are visible to the folder (shape tensors, small
#: constants); bigger ones are weights and are seen only through their type and shape.
KEEP_ELEMENTS = 1 << 16
#: Largest folded output kept as a constant, in elements (4 MiB of float32).
OUTPUT_LIMIT = 1 << 20


@dataclass
class FoldedGraph:
    """A folded graph for the writer, without the weights' data.

    Attributes:
        model: nodes, inputs, outputs and value types after folding; initializers over
            ``keep_elements`` appear as stubs (name, type and dims, no data).
        initializers: every constant the graph may read, by tensor: the source model's
            initializers (the same objects, never copied) and the folded values.
        folded: how many nodes folding removed.
    """

    model: onnx.ModelProto
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    folded: int = 0

    def assemble(self) -> onnx.ModelProto:
        """A complete, runnable model (copies the weights: for tests and inspection)."""
        full = copy_without_weights(self.model)
        by_name = {t.name: t for t in self.initializers}
        used = {name for node in full.graph.node for name in node.input} | {o.name for o in full.graph.output}
        for name in used:
            if name in by_name:
                full.graph.initializer.add().CopyFrom(by_name[name])
        return full


def fold_for_export(proto: onnx.ModelProto, *, keep_elements: int = KEEP_ELEMENTS,
                    output_limit: int = OUTPUT_LIMIT) -> FoldedGraph:
    """Fold what is computable before writing; ``proto`` is left untouched.

    Args:
        proto: the canonical model (graph inputs with static shapes fold the most).
        keep_elements: initializers up to this size may be read and folded.
        output_limit: folded outputs over this many elements stay as nodes.

    Returns:
        The folded graph and the constants it reads. When onnxscript cannot fold the
        graph (it raises), the graph comes back unfolded: folding is an optimisation, and
        the writer refuses what it then cannot express.
    """
    light, big = _light_copy(proto, keep_elements)
    nodes_before = len(light.graph.node)
    try:
        folded = _fold(light, keep_elements, output_limit)
    except Exception as exc:  # noqa: BLE001 - a folder bug must not stop the export
        log.warning("constant folding skipped: %s", exc)
        folded = light
    _inputs_back_to_stubs(folded, big)
    original = {t.name for t in proto.graph.initializer}
    extra = [t for t in folded.graph.initializer if t.name not in original]  # folded values
    return FoldedGraph(folded, [*proto.graph.initializer, *extra], max(nodes_before - len(folded.graph.node), 0))


def _light_copy(proto: onnx.ModelProto, keep_elements: int) -> tuple[onnx.ModelProto, dict[str, onnx.TensorProto]]:
    """The graph with small initializers whole and big ones as typed graph inputs (rule 3-4)."""
    light = copy_without_weights(proto)
    names = {t.name for t in proto.graph.initializer}
    kept_inputs = [i for i in light.graph.input if i.name not in names]
    del light.graph.input[:]
    light.graph.input.extend(kept_inputs)
    big: dict[str, onnx.TensorProto] = {}
    for tensor in proto.graph.initializer:
        if tensor_elements(tensor) <= keep_elements and tensor.data_location != onnx.TensorProto.EXTERNAL:
            light.graph.initializer.add().CopyFrom(tensor)
        else:
            big[tensor.name] = tensor
            light.graph.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    return light, big


def _fold(light: onnx.ModelProto, keep_elements: int, output_limit: int) -> onnx.ModelProto:
    import onnx_ir as ir
    from onnx_ir.passes import common
    import onnxscript.optimizer as oso

    irm = ir.serde.deserialize_model(light)
    if irm.functions:
        common.InlinePass()(irm)
        common.RemoveUnusedFunctionsPass()(irm)

    def should_fold(node) -> bool | None:
        # onnxscript keeps ConstantOfShape to keep files small; the writer needs it constant
        # (its output is still capped by output_size_limit).
        return True if node.op_type == "ConstantOfShape" and node.domain in ("", "ai.onnx") else None

    for _ in range(2):  # a second round folds what the first one's shapes exposed
        result = oso.fold_constants(irm, onnx_shape_inference=True, input_size_limit=keep_elements,
                                    output_size_limit=output_limit, should_fold=should_fold)
        common.RemoveUnusedNodesPass()(irm)
        if not result.modified:
            break
    common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(irm)
    return ir.serde.serialize_model(irm)


def _inputs_back_to_stubs(model: onnx.ModelProto, big: dict[str, onnx.TensorProto]) -> None:
    """Turn the big weights' stand-in graph inputs back into data-less initializers."""
    graph = model.graph
    inputs = [i for i in graph.input if i.name not in big]
    present = {i.name for i in graph.input if i.name in big}
    del graph.input[:]
    graph.input.extend(inputs)
    for name in present:
        tensor = big[name]
        graph.initializer.add(name=name, dims=tensor.dims, data_type=tensor.data_type)
