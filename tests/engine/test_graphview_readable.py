"""Readable display graphs (engine.graphview): left-to-right layout, weights in boxes, MindSpore names, weight values."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper

from engine import formats
from engine.graphview import build_display_graph, layout
from engine.graphview.build import PLUMBING, scope_path
from engine.graphview.graph import OP, WeightInfo, weight_role
from engine.graphview.layout import MAX_WEIGHT_LINES, relayout, weight_lines
from engine.graphview.weights import summarize_weight, weight_array
from engine.inspect import summarize
from tests_helpers import fixture_by_name


def _no_overlaps(graph, axis: str) -> None:
    """Boxes in one layer never overlap along ``axis`` ("x" for TB rows, "y" for LR columns)."""
    rows: dict[int, list] = {}
    for node in graph.nodes:
        rows.setdefault(node.layer, []).append(node)
    for row in rows.values():
        spans = sorted((getattr(n, axis) - (n.width if axis == "x" else n.height) / 2,
                        getattr(n, axis) + (n.width if axis == "x" else n.height) / 2) for n in row)
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start >= end - 1e-6


@pytest.mark.parametrize("name", ["lenet5", "mobilenetv2_small"])
def test_left_to_right_layout_flows_right(name: str) -> None:
    graph = layout(build_display_graph(formats.load(fixture_by_name(name).onnx)), "LR")
    assert graph.direction == "LR"
    by_id = {n.id: n for n in graph.nodes}
    for edge in graph.edges:
        source, target = by_id[edge.source], by_id[edge.target]
        assert source.layer < target.layer
        xs = [p[0] for p in edge.points]
        assert xs == sorted(xs), f"edge {edge.tensor} goes left somewhere: {xs}"
        assert xs[0] == pytest.approx(source.x + source.width / 2)  # leaves the right side
        assert xs[-1] == pytest.approx(target.x - target.width / 2)  # enters the left side
    _no_overlaps(graph, "y")
    layers = {n.layer for n in graph.nodes}
    assert max(n.x + n.width / 2 for n in graph.nodes) <= graph.width
    assert max(n.y + n.height / 2 for n in graph.nodes) <= graph.height
    assert len(layers) > 3


def test_relayout_copies_and_leaves_the_original() -> None:
    graph = layout(build_display_graph(formats.load(fixture_by_name("lenet5").onnx)))
    before = [(n.x, n.y) for n in graph.nodes]
    other = relayout(graph, "LR")
    assert other is not graph and graph.direction == "TB" and other.direction == "LR"
    assert [(n.x, n.y) for n in graph.nodes] == before
    assert [n.id for n in other.nodes] == [n.id for n in graph.nodes]
    assert (other.width > other.height) != (graph.width > graph.height) or other.width != graph.width
    with pytest.raises(ValueError, match="direction"):
        layout(graph, "BT")


def test_weights_are_labelled_with_their_schema_role_and_sized_into_the_box() -> None:
    graph = layout(build_display_graph(formats.load(fixture_by_name("lenet5").onnx)))
    conv = next(n for n in graph.nodes if n.op_type == "Conv")
    proto = formats.load(fixture_by_name("lenet5").onnx).onnx
    inits = {t.name: tuple(t.dims) for t in proto.graph.initializer}
    w, b = conv.weights
    assert (w.role, b.role) == ("W", "B")  # the Conv schema's input names
    assert w.label == "W<" + "x".join(str(d) for d in inits[w.name]) + ">"
    assert b.label == f"B<{inits[b.name][0]}>"
    plain = next(n for n in graph.nodes if n.kind == OP and not n.weights)
    assert conv.height > plain.height  # two weight lines under the title
    assert weight_lines(conv) == [w.label, b.label]


def test_many_weights_show_the_first_and_a_count() -> None:
    from engine.graphview.graph import DisplayNode

    node = DisplayNode("n", "Op", "n", "Op", "other",
                       weights=[WeightInfo(f"w{i}", (i + 1,)) for i in range(6)], short_name="n")
    lines = weight_lines(node)
    assert len(lines) == MAX_WEIGHT_LINES
    assert lines[-1] == f"+{6 - MAX_WEIGHT_LINES + 1} more"


def test_weight_roles_from_names() -> None:
    assert weight_role("conv1.weight") == "W"
    assert weight_role("graph:fc.bias") == "B"
    assert weight_role("layer1.0.bn1.gamma") == "gamma"
    assert scope_path("", "Default/layer1-SequentialCell/0-BasicBlock/conv1-Conv2d/Conv2D-op0") == "layer1.0.conv1"
    assert scope_path("", "Default/Flatten-op0") == "Flatten-op0"
    assert scope_path("/layer1/conv/Conv") == ""  # not a MindSpore scope: the name stays as it is


def test_mindspore_nodes_read_by_scope_and_parameter_names() -> None:
    model = formats.load(fixture_by_name("lenet5").mindir)
    graph = build_display_graph(model, "source")
    ops = [n for n in graph.nodes if n.kind == OP]
    titles = [n.title for n in ops]
    assert len(set(titles)) == len(titles)  # unique, so the outline and search can use them
    assert not any(t.startswith(("CNode_", "output:", "x:")) for t in titles), titles
    assert titles[:3] == ["conv1", "conv1/BiasAdd", "relu"]
    conv = ops[0]
    assert conv.name.startswith("output:")  # the file's own name is kept
    assert conv.input_labels == ["input x", "conv1.weight"]  # the parameter read through Load
    bias = ops[1]
    assert bias.input_labels[0].startswith("conv1 [")  # the producer by its readable name, with its shape
    assert bias.input_labels[1] == "conv1.bias"
    # what the graph does not draw is counted, and matches the file's own op counts
    counts = summarize(model).source_op_counts
    assert graph.hidden_ops == {op: c for op, c in counts.items() if op in PLUMBING or op == "Constant"}
    assert sum(graph.hidden_ops.values()) + len(ops) == sum(counts.values())


def test_weight_summary_matches_numpy() -> None:
    model = formats.load(fixture_by_name("lenet5").onnx)
    tensor = model.onnx.graph.initializer[0]
    expected = numpy_helper.to_array(tensor)
    summary = summarize_weight(model, tensor.name)
    assert summary is not None and summary.shape == expected.shape
    assert summary.stats.min == pytest.approx(float(expected.min()))
    assert summary.stats.max == pytest.approx(float(expected.max()))
    assert summary.stats.mean == pytest.approx(float(expected.astype(np.float64).mean()))
    assert summary.stats.std == pytest.approx(float(expected.astype(np.float64).std()))
    assert sum(summary.stats.counts) == expected.size
    assert summary.head == pytest.approx(expected.ravel()[:12].tolist())
    assert summary.head_text().endswith("…")
    assert summarize_weight(model, "no such weight") is None


def test_weight_array_of_a_mindir_parameter_and_a_folded_constant() -> None:
    from onnx import TensorProto, helper

    model = formats.load(fixture_by_name("lenet5").mindir)
    array = weight_array(model, "conv1.weight")
    assert array is not None and array.shape == (6, 1, 5, 5)
    assert weight_array(model, "lenet:conv1.weight") is not None  # a graph-prefixed name
    const = helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.arange(4, dtype=np.int64)))
    add = helper.make_node("Add", ["x", "k"], ["y"])
    proto = helper.make_model(helper.make_graph(
        [const, add], "g", [helper.make_tensor_value_info("x", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [4])]))
    from engine.model import Model

    summary = summarize_weight(Model(onnx=proto), "k")
    assert summary is not None and summary.head == [0, 1, 2, 3] and summary.stats.max == 3


def test_tuple_items_are_labelled_with_a_shape_not_an_index() -> None:
    """BatchNorm's output reaches ReLU through TupleGetItem(0): the edge says 1x16x..., not "[0]"."""
    model = formats.load(fixture_by_name("mobilenetv2_small").mindir)
    graph = build_display_graph(model, "source")
    by_id = {n.id: n for n in graph.nodes}
    from_bn = [e for e in graph.edges if by_id[e.source].op_type == "BatchNorm"]
    assert from_bn and all(e.label and not e.label.startswith("[") for e in from_bn)
    assert all("x" in e.label for e in from_bn)


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_arrow_steps_follow_the_flow_in_either_direction(direction: str) -> None:
    from engine.graphview.graph import step

    graph = layout(build_display_graph(formats.load(fixture_by_name("lenet5").onnx)), direction)
    down, up = ((1, 0), (-1, 0)) if direction == "LR" else ((0, 1), (0, -1))
    assert step(graph, "1Conv", *down) == "2Relu"
    assert step(graph, "2Relu", *up) == "1Conv"
    first = next(n.id for n in graph.nodes if n.kind == "input")
    assert step(graph, first, *up) is None  # nothing feeds an input
    across = (0, 1) if direction == "LR" else (1, 0)
    assert step(graph, "1Conv", *across) is None  # lenet is a single chain: no neighbour in its row
    assert step(graph, "no such node", *down) is None


def test_canonical_inputs_read_by_producer_name_and_shape() -> None:
    graph = build_display_graph(formats.load(fixture_by_name("lenet5").mindir), "canonical")
    ops = [n for n in graph.nodes if n.kind == OP]
    conv = ops[0]
    assert conv.input_labels[0].startswith("input x [")
    assert conv.input_labels[1:] == [n for n in conv.inputs[1:]]  # weights by their own names
    by_id = {n.id: n for n in graph.nodes}
    for node in ops[1:]:
        for tensor, label in zip(node.inputs, node.input_labels):
            edge = next((e for e in graph.edges if e.target == node.id and e.tensor == tensor), None)
            if edge is not None and by_id[edge.source].kind == OP:
                assert label.startswith(by_id[edge.source].title + " ["), (tensor, label)
