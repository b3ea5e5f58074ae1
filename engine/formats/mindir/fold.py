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
       constants it leaves unused go away. ``ConstantOfShape`` folds too, and sequence
       ops whose items are known (``SequenceConstruct -> ConcatFromSequence``) become
       tensor ops.
    3. Folded outputs over ``output_limit`` elements stay computed (memory), and inputs
       over ``keep_elements`` elements are never read (big weights are seen only as
       typed, shaped values), so the step costs the small tensors, not the weights.
    4. An initializer that is also a graph input is a constant here (the writer gives
       MindIR fixed weights), not an overridable input.
    5. Ops that ``onnx.reference`` (onnxscript's evaluator) cannot evaluate are evaluated
       with numpy here: ``GatherElements`` (onnx 1.23's fails past 32 along the axis, which
       leaves BERT's token-type ids computed).
    6. Floating-point initializers of more than one element are weights: the folder sees
       them as typed inputs, so no fold renames a parameter (a checkpoint still binds).
    7. Nodes are put back in the form the graph's opset has. onnxscript's sequence
       rewrites (``SequenceConstruct -> ConcatFromSequence`` becomes ``Unsqueeze`` +
       ``Concat``, ``SplitToSequence`` becomes ``Split`` [+ ``Squeeze``]) emit the
       opset-13 ``Unsqueeze``/``Squeeze``/``Split`` with axes and sizes as inputs (and
       opset 18's ``num_outputs``) whatever the graph imports; in an opset-11 graph
       (MindSpore's ONNX export, yolov8n's ``Stack``) ONNX shape inference then knows
       nothing past them. Below opset 13 a constant axes/split input becomes the
       attribute; below 18 ``num_outputs`` goes (an even split is those opsets' default).
    8. ``SplitToSequence`` with a 1-D ``split`` input and ``keepdims=0`` gets ``keepdims=1``
       first: ONNX ignores keepdims when split is given (ONNX Runtime and onnx.reference
       keep the axis), but onnxscript's rewrite squeezes it, a wrong shape. A scalar split
       is left as is (onnxscript squeezes like ONNX Runtime; onnx.reference keeps the axis).

Library versus hand code: rules 1-2 are onnxscript's optimizer
(``onnxscript.optimizer.fold_constants`` with its node-level ONNX shape inference,
evaluating with ``onnx.reference``) and onnx_ir's passes (inlining, unused-node removal,
lifting ``Constant`` nodes). Hand-written here: rule 2's ``ConstantOfShape`` opt-in
(onnxscript keeps it by default to keep files small), a cheap scan that skips the folder
when no node can fold (resnet-style exports), rules 5, 7 and 8, rules 3-4 (presenting big weights
as shaped graph inputs so the folder cannot read or copy them) and the hand-back of a
weight-less folded graph plus the original initializers, by reference, to the writer.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
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
        used = _names_read(full.graph) | {o.name for o in full.graph.output}
        for name in used:
            if name in by_name:
                full.graph.initializer.add().CopyFrom(by_name[name])
        return full


def _names_read(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name a node of ``graph`` or of its subgraphs (outer-scope reads) takes in."""
    names: set[str] = set()
    for node in graph.node:
        names.update(node.input)
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                names |= _names_read(sub)
    return names


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
        if (tensor_elements(tensor) <= keep_elements and tensor.data_location != onnx.TensorProto.EXTERNAL
                and not _is_weight(tensor)):
            light.graph.initializer.add().CopyFrom(tensor)
        else:
            big[tensor.name] = tensor
            light.graph.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    return light, big


def _is_weight(tensor: onnx.TensorProto) -> bool:
    """A floating-point tensor of more than one element is a weight: it keeps its name (rule 6).

    Folding ``Unsqueeze(conv1.bias)`` into a new constant would rename the parameter, and a
    checkpoint bound to the written MindIR would no longer find it. Shape arithmetic is
    integer and scalars are not parameters, so nothing the writer needs folded is lost.
    """
    return tensor.data_type in _FLOAT_TYPES and tensor_elements(tensor) > 1


_FLOAT_TYPES = frozenset({onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                          onnx.TensorProto.BFLOAT16})


def _worth_folding(graph: onnx.GraphProto) -> bool:
    """Whether any node could fold: a cheap scan that spares the folder's import and walk."""
    known = {t.name for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" or (node.op_type == "Identity" and node.input and node.input[0] in known):
            known.update(node.output)  # the writer folds these itself (torch exports shared weights so)
        elif node.op_type in _ALWAYS_FOLD or (node.input and all(not i or i in known for i in node.input)):
            return True
    return False


#: Ops that send the graph to the folder even with computed inputs: shape-only values, and the
#: sequence ops onnxscript rewrites into tensor ops (yolov8n's ``Stack``), which MindIR has no form for.
_ALWAYS_FOLD = frozenset({"Shape", "Size", "SequenceConstruct", "ConcatFromSequence", "SplitToSequence"})


def _fold(light: onnx.ModelProto, keep_elements: int, output_limit: int) -> onnx.ModelProto:
    if not light.functions and not _worth_folding(light.graph):
        return light
    _split_keeps_axis(light)
    import onnx_ir as ir
    from onnx_ir.passes import common
    import onnxscript.optimizer as oso

    irm = ir.serde.deserialize_model(light)
    if irm.functions:
        common.InlinePass()(irm)
        common.RemoveUnusedFunctionsPass()(irm)
        common.RemoveUnusedOpsetsPass()(irm)  # the functions' domains, so the writer does not see them

    def should_fold(node) -> bool | None:
        # onnxscript keeps ConstantOfShape to keep files small; the writer needs it constant
        # (its output is still capped by output_size_limit).
        return True if node.op_type == "ConstantOfShape" and node.domain in ("", "ai.onnx") else None

    folder_log = logging.getLogger("onnxscript.optimizer._constant_folding")
    level = folder_log.level
    folder_log.setLevel(logging.ERROR)  # it warns on each op onnx.reference cannot evaluate; rule 5 covers some
    # Folding evaluates what the model would compute anyway (T5's log(0) that a Where later
    # masks): numpy's floating-point warnings about it are not the user's concern here.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            for _ in range(3):  # the hand-written round may expose more for onnxscript
                oso.fold_constants(irm, onnx_shape_inference=True, input_size_limit=keep_elements,
                                   output_size_limit=output_limit, should_fold=should_fold)
                common.RemoveUnusedNodesPass()(irm)
                if not _fold_by_hand(irm.graph, keep_elements, output_limit):
                    break
        finally:
            folder_log.setLevel(level)
    common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(irm)
    model = ir.serde.serialize_model(irm)
    _to_own_opset(model)
    return model


#: Rule 7: the input that opset 13 made of an attribute, by op.
_INPUT_TO_ATTR = {"Unsqueeze": "axes", "Squeeze": "axes", "Split": "split"}


def _to_own_opset(model: onnx.ModelProto) -> int:
    """Rule 7: opset-13/18 forms the folder wrote into an older graph become that opset's; returns how many."""
    version = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if not version or version >= 18:
        return 0
    graph = model.graph
    consts = {t.name: t for t in graph.initializer}
    changed = 0
    for node in _all_nodes(graph):
        if node.domain not in ("", "ai.onnx") or node.op_type not in _INPUT_TO_ATTR:
            continue
        attrs = {a.name: a for a in node.attribute}
        if node.op_type == "Split" and "num_outputs" in attrs:
            node.attribute.remove(attrs["num_outputs"])  # opsets 2-17 split evenly by the output count
            changed += 1
        name = node.input[1] if len(node.input) > 1 else ""
        if version >= 13 or not name or name not in consts or _INPUT_TO_ATTR[node.op_type] in attrs:
            continue  # a computed axes input stays: the writer refuses it, naming the node
        values = [int(v) for v in onnx.numpy_helper.to_array(consts[name]).ravel()]
        node.attribute.append(onnx.helper.make_attribute(_INPUT_TO_ATTR[node.op_type], values))
        del node.input[1:]
        changed += 1
    if changed:
        read = _names_read(graph) | {o.name for o in graph.output}
        unused = [t for t in graph.initializer if t.name not in read]
        for tensor in unused:
            graph.initializer.remove(tensor)
    return changed


def _split_keeps_axis(model: onnx.ModelProto) -> int:
    """Rule 8: ``keepdims=0`` is dropped where a 1-D ``split`` makes ONNX ignore it; returns how many."""
    nodes = [n for n in _all_nodes(model.graph) if n.op_type == "SplitToSequence" and n.domain in ("", "ai.onnx")
             and len(n.input) > 1 and n.input[1] and any(a.name == "keepdims" and a.i == 0 for a in n.attribute)]
    if not nodes:
        return 0
    ranks = {i.name: len(i.type.tensor_type.shape.dim) for i in model.graph.input if i.type.tensor_type.HasField("shape")}
    ranks.update({t.name: len(t.dims) for t in model.graph.initializer})
    for node in _all_nodes(model.graph):
        value = next((a.t for a in node.attribute if a.name == "value" and a.HasField("t")), None)
        if node.op_type == "Constant" and value is not None:
            ranks[node.output[0]] = len(value.dims)
        elif node.op_type == "Constant" and any(a.name in ("value_int", "value_float") for a in node.attribute):
            ranks[node.output[0]] = 0
        elif node.op_type == "Constant" and any(a.name in ("value_ints", "value_floats") for a in node.attribute):
            ranks[node.output[0]] = 1
    if any(n.input[1] not in ranks for n in nodes):  # a computed split: its rank from shape inference
        try:
            inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
        except Exception:  # noqa: BLE001 - an unknown rank is handled below
            inferred = []
        for info in inferred:
            if info.type.tensor_type.HasField("shape"):
                ranks.setdefault(info.name, len(info.type.tensor_type.shape.dim))
    changed = 0
    for node in nodes:
        rank = ranks.get(node.input[1])
        if rank is None:
            # onnxscript rewrites it only once the split's rank is known, which it may learn
            # past this point: keep the axis as ONNX says (a scalar split is rank 0, known).
            rank = 1
        if rank == 1:
            for attr in node.attribute:
                if attr.name == "keepdims":
                    attr.i = 1
            changed += 1
    return changed


def _all_nodes(graph: onnx.GraphProto):
    """The nodes of ``graph`` and of its subgraphs, depth first."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _all_nodes(sub)


def _gather_elements(inputs: list, attrs: dict) -> list:
    data, indices = inputs[0], inputs[1]
    axis = int(attrs.get("axis", 0)) % data.ndim
    indices = np.where(indices < 0, indices + data.shape[axis], indices)
    return [np.take_along_axis(data, indices.astype(np.int64), axis=axis)]


#: Rule 5: numpy evaluations of ops ``onnx.reference`` gets wrong or lacks, as onnxscript
#: then leaves them computed (onnx 1.23's GatherElements fails on an axis over 32 long).
_BY_HAND = {"GatherElements": _gather_elements}


def _fold_by_hand(graph, keep_elements: int, output_limit: int) -> int:
    """Evaluate the ``_BY_HAND`` ops whose inputs are all constants; returns how many folded."""
    import onnx_ir as ir

    folded = 0
    for node in list(graph):
        fn = _BY_HAND.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        if fn is None or any(v is not None and v.is_graph_output() for v in node.outputs):
            continue
        if any(v is not None and (v.const_value is None or v.is_graph_input() or v.const_value.size > keep_elements)
               for v in node.inputs):
            continue
        arrays = [v.const_value.numpy() if v is not None else None for v in node.inputs]
        results = fn(arrays, {name: attr.value for name, attr in node.attributes.items()})
        if any(r.size > output_limit for r in results):
            continue
        for out, array in zip(node.outputs, results):
            value = ir.Value(name=f"{out.name}__folded", shape=ir.Shape(array.shape),
                             type=ir.TensorType(ir.DataType.from_numpy(array.dtype)), const_value=ir.tensor(array))
            out.replace_all_uses_with(value)
            graph.register_initializer(value)
        graph.remove(node, safe=True)
        folded += 1
    return folded


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
