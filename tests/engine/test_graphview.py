"""Display graph and layered layout (engine.graphview), without Qt."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine import formats
from engine.graphview import build_display_graph, category_of, layout, search
from engine.graphview.build import short_name, summarise
from engine.graphview.categories import CATEGORIES, CATEGORY_COLORS, heat_color, text_on
from engine.graphview.graph import INPUT, OUTPUT
from engine.model import Model, SourceNode
from tests_helpers import fixture_by_name


def _onnx_counts(proto: onnx.ModelProto) -> tuple[int, int]:
    """Expected boxes and arrows, counted straight from the ONNX graph."""
    g = proto.graph
    inits = {t.name for t in g.initializer}
    inputs = [i.name for i in g.input if i.name not in inits]
    produced = set(inputs) | {o for n in g.node for o in n.output}
    edges = set()
    for i, node in enumerate(g.node):
        for name in node.input:
            if name in produced:
                edges.add((i, name))
    return len(g.node) + len(inputs) + len(g.output), len(edges) + len(g.output)


def _assert_sound_layout(graph) -> None:
    by_id = {n.id: n for n in graph.nodes}
    for edge in graph.edges:
        assert by_id[edge.source].layer < by_id[edge.target].layer, edge
        assert len(edge.points) >= 2
        ys = [p[1] for p in edge.points]
        assert ys == sorted(ys), f"edge {edge.tensor} goes up somewhere: {ys}"
    rows: dict[int, list] = {}
    for node in graph.nodes:
        assert node.width > 0 and node.height > 0
        assert 0 <= node.x - node.width / 2 and node.x + node.width / 2 <= graph.width
        assert 0 <= node.y - node.height / 2 and node.y + node.height / 2 <= graph.height
        rows.setdefault(node.layer, []).append(node)
    # Same layer, same row; rows stacked top to bottom without overlap.
    tops = []
    for layer in sorted(rows):
        ys = {n.y for n in rows[layer]}
        assert len(ys) == 1, f"layer {layer} is not one row"
        row = sorted(rows[layer], key=lambda n: n.x)
        for a, b in zip(row, row[1:]):
            assert a.x + a.width / 2 <= b.x - b.width / 2 + 1e-6, f"{a.id} overlaps {b.id}"
        tops.append((min(n.y - n.height / 2 for n in row), max(n.y + n.height / 2 for n in row)))
    for (_, bottom), (top, _) in zip(tops, tops[1:]):
        assert bottom < top


@pytest.mark.parametrize("name", ["lenet5", "mobilenetv2_small"])
def test_canonical_counts_match_onnx(name: str) -> None:
    model = formats.load(fixture_by_name(name).onnx)
    graph = build_display_graph(model, "canonical")
    nodes, edges = _onnx_counts(model.onnx)
    assert len(graph.nodes) == nodes
    assert len(graph.edges) == edges
    assert sum(n.kind == INPUT for n in graph.nodes) == 1
    assert sum(n.kind == OUTPUT for n in graph.nodes) == len(model.onnx.graph.output)
    # Initializers are weight annotations, never boxes.
    names = {n.name for n in graph.nodes}
    assert not names & {t.name for t in model.onnx.graph.initializer}


def test_lenet5_details() -> None:
    model = formats.load(fixture_by_name("lenet5").onnx)
    graph = layout(build_display_graph(model))
    assert graph.mode == "canonical"  # an ONNX file has no source graph
    conv = graph.node(search(graph, "conv")[0])
    assert conv.op_type == "Conv" and conv.category == "conv"
    assert [w.name for w in conv.weights] == ["conv1.weight", "conv1.bias"]
    assert conv.weights[0].shape == (6, 1, 5, 5) and conv.weights[0].dtype == "float32"
    assert conv.attributes["kernel_shape"] == [5, 5]
    first = next(e for e in graph.edges if e.source.startswith("input:"))
    assert first.label == "1x1x32x32"
    assert any(e.label == "1x6x28x28" for e in graph.edges)  # from shape inference
    _assert_sound_layout(graph)


@pytest.mark.parametrize("name", ["lenet5", "mobilenetv2_small", "tiny_transformer", "mlp_bn_dropout"])
def test_layout_is_sound(name: str) -> None:
    graph = layout(build_display_graph(formats.load(fixture_by_name(name).onnx)))
    _assert_sound_layout(graph)


def test_search_by_op_and_name() -> None:
    graph = build_display_graph(formats.load(fixture_by_name("mobilenetv2_small").onnx))
    convs = search(graph, "CONV")
    assert convs and all("conv" in graph.node(i).op_type.lower() or "conv" in graph.node(i).name.lower()
                         for i in convs)
    assert graph.node(convs[0]).op_type == "Conv"
    adds = search(graph, "add")
    assert adds and graph.node(adds[0]).op_type == "Add"
    by_name = search(graph, "features.0.act")
    assert by_name and all("features.0.act" in graph.node(i).short_name for i in by_name)
    assert search(graph, "no-such-thing") == []
    assert search(graph, "  ") == []


def _source_nodes() -> list[SourceNode]:
    """A MindIR-like graph: Load/UpdateState/MakeTuple/Depend plumbing around Conv2D/BiasAdd/ReLU."""
    g = "net_graph"
    return [
        SourceNode("U", "Constant", [], ["U"], {"value": "UMonad"}),
        SourceNode(f"{g}:load_w", "Load", [f"{g}:conv.weight", "U"], [f"{g}:load_w"]),
        SourceNode(f"{g}:conv", "Conv2D", [f"{g}:x", f"{g}:load_w"], [f"{g}:conv"],
                   {"kernel_size": [3, 3], "shape": [1, 4, 8, 8]}, "Default/conv-Conv2d/Conv2D-op0"),
        SourceNode(f"{g}:load_b", "Load", [f"{g}:conv.bias", "U"], [f"{g}:load_b"]),
        SourceNode("fmt", "Constant", [], ["fmt"], {"value": "NCHW"}),
        SourceNode(f"{g}:bias", "BiasAdd", [f"{g}:conv", f"{g}:load_b", "fmt"], [f"{g}:bias"],
                   {"input_names": ["x", "b", "data_format"]}),
        SourceNode(f"{g}:relu", "ReLU", [f"{g}:bias"], [f"{g}:relu"]),
        SourceNode(f"{g}:tuple", "MakeTuple", [f"{g}:load_w", f"{g}:load_b"], [f"{g}:tuple"]),
        SourceNode(f"{g}:state", "UpdateState", ["U", f"{g}:tuple"], [f"{g}:state"]),
        SourceNode(f"{g}:out", "Depend", [f"{g}:relu", f"{g}:state"], [f"{g}:out"]),
    ]


def test_source_mode_hides_plumbing() -> None:
    weights = Model(onnx=None, source_format="mindir", source_nodes=_source_nodes())
    graph = build_display_graph(weights)  # auto -> source
    assert graph.mode == "source"
    ops = [n.op_type for n in graph.nodes]
    assert ops == ["Input", "Conv2D", "BiasAdd", "ReLU", "Output"]
    conv = graph.node("net_graph:conv")
    assert [w.name for w in conv.weights] == ["net_graph:conv.weight"]
    assert conv.short_name == "conv"
    bias = graph.node("net_graph:bias")
    assert bias.attributes["data_format"] == "NCHW"  # folded constant, named by input_names
    assert [w.name for w in bias.weights] == ["net_graph:conv.bias"]
    pairs = {(e.source, e.target) for e in graph.edges}
    assert pairs == {("input:net_graph:x", "net_graph:conv"), ("net_graph:conv", "net_graph:bias"),
                     ("net_graph:bias", "net_graph:relu"), ("net_graph:relu", "output:net_graph:relu")}
    assert next(e for e in graph.edges if e.source == "net_graph:conv").label == "1x4x8x8"
    _assert_sound_layout(layout(graph))


def test_source_weight_shapes_come_from_canonical_graph() -> None:
    w = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "conv.weight")
    proto = helper.make_model(helper.make_graph([], "g", [], [], [w]))
    model = Model(onnx=proto, source_format="mindir", source_nodes=_source_nodes())
    conv = build_display_graph(model, "source").node("net_graph:conv")
    assert conv.weights[0].shape == (4, 3, 3, 3) and conv.weights[0].dtype == "float32"
    assert len(build_display_graph(model, "canonical").nodes) == 0


def test_tuple_get_item_resolves_through_make_tuple_and_multi_output() -> None:
    nodes = [
        SourceNode("bn", "BatchNorm", ["x"], ["bn"], {"shape": [[1, 4], [4], [4]]}),
        SourceNode("i0", "Constant", [], ["i0"], {"value": 0}),
        SourceNode("y", "TupleGetItem", ["bn", "i0"], ["y"]),
        SourceNode("t", "MakeTuple", ["y", "x"], ["t"]),
        SourceNode("i1", "Constant", [], ["i1"], {"value": 1}),
        SourceNode("z", "TupleGetItem", ["t", "i1"], ["z"]),
        SourceNode("add", "Add", ["y", "z"], ["add"]),
    ]
    graph = build_display_graph(Model(source_nodes=nodes), "source")
    assert [n.op_type for n in graph.nodes] == ["Input", "BatchNorm", "Add", "Output"]
    pairs = {(e.source, e.target, e.label) for e in graph.edges}
    assert ("bn", "add", "1x4") in pairs and ("input:x", "add", "") in pairs


def test_modes_are_checked() -> None:
    with pytest.raises(ValueError, match="no source graph"):
        build_display_graph(Model(onnx=helper.make_model(helper.make_graph([], "g", [], []))), "source")
    with pytest.raises(ValueError, match="only parameters"):
        build_display_graph(Model(), "canonical")
    with pytest.raises(ValueError, match="unknown graph mode"):
        build_display_graph(Model(), "sideways")


def test_constant_nodes_fold_into_consumers() -> None:
    shape = helper.make_node("Constant", [], ["s"], value=numpy_helper.from_array(np.array([1, -1], np.int64)))
    reshape = helper.make_node("Reshape", ["x", "s"], ["y"], name="r")
    proto = helper.make_model(helper.make_graph(
        [shape, reshape], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]))
    graph = build_display_graph(Model(onnx=proto))
    assert [n.op_type for n in graph.nodes] == ["Input", "Reshape", "Output"]
    assert graph.node("r").weights[0].value == "[1, -1]"
    assert next(e for e in graph.edges if e.target == "output:y").label == "1x6"


def _resnet_like(blocks: int) -> onnx.ModelProto:
    nodes, x = [], "x"
    for b in range(blocks):
        nodes += [
            helper.make_node("Conv", [x, "w"], [f"c{b}"], name=f"c{b}", pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", [f"c{b}", "s", "z", "z", "s"], [f"n{b}"], name=f"n{b}"),
            helper.make_node("Relu", [f"n{b}"], [f"r{b}"], name=f"r{b}"),
            helper.make_node("Conv", [f"r{b}", "w"], [f"d{b}"], name=f"d{b}", pads=[1, 1, 1, 1]),
            helper.make_node("Add", [f"d{b}", x], [f"a{b}"], name=f"a{b}"),
            helper.make_node("Relu", [f"a{b}"], [f"o{b}"], name=f"o{b}"),
        ]
        if b % 4 == 3:  # a two-branch block, as at a ResNet downsample
            nodes += [helper.make_node("Conv", [x, "w"], [f"p{b}"], name=f"p{b}", pads=[1, 1, 1, 1]),
                      helper.make_node("Add", [f"o{b}", f"p{b}"], [f"q{b}"], name=f"q{b}")]
            x = f"q{b}"
        else:
            x = f"o{b}"
    inits = [numpy_helper.from_array(np.zeros((2, 2, 3, 3), np.float32), "w"),
             numpy_helper.from_array(np.ones(2, np.float32), "s"),
             numpy_helper.from_array(np.zeros(2, np.float32), "z")]
    return helper.make_model(helper.make_graph(
        nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 2, 4, 4])], inits))


def test_five_thousand_nodes() -> None:
    proto = _resnet_like(770)
    assert len(proto.graph.node) >= 5000
    graph = layout(build_display_graph(Model(onnx=proto)))
    nodes, edges = _onnx_counts(proto)
    assert len(graph.nodes) == nodes and len(graph.edges) == edges
    _assert_sound_layout(graph)
    # Residual chains stay near-vertical: the graph is far taller than wide (no sideways drift).
    assert graph.width < 2000 < graph.height / 50
    assert all(e.label == "1x2x4x4" for e in graph.edges)


def test_cycles_are_broken_not_fatal() -> None:
    nodes = [SourceNode("a", "Add", ["x", "c"], ["a"]), SourceNode("b", "Mul", ["a"], ["b"]),
             SourceNode("c", "Relu", ["b"], ["c"])]
    graph = layout(build_display_graph(Model(source_nodes=nodes), "source"))
    assert graph.is_laid_out
    assert all(len(e.points) >= 2 for e in graph.edges)


def test_categories() -> None:
    cases = {"Conv": "conv", "Conv2D": "conv", "REF::Conv2D:4": "conv", "Gemm": "matmul", "MatMul": "matmul",
             "Relu": "activation", "ReLU6": "activation", "BatchNormalization": "normalization",
             "BatchNorm": "normalization", "MaxPool": "pooling", "AvgPool": "pooling", "Add": "elementwise",
             "BiasAdd": "elementwise", "Reshape": "shape", "Flatten": "shape", "Gather": "tensor",
             "StridedSlice": "tensor", "ReduceMean": "reduction", "Constant": "constant", "Load": "constant",
             "Input": "io", "SomethingNew": "other", "com.microsoft.FusedConv": "conv"}
    assert {op: category_of(op) for op in cases} == cases
    assert set(CATEGORY_COLORS) == set(CATEGORIES)
    assert text_on("#ffffff") == "#000000" and text_on("#000000") == "#ffffff"
    assert heat_color(0.0) != heat_color(1.0) and heat_color(float("nan")) == heat_color(0.0)


def test_summaries_and_short_names() -> None:
    assert summarise(np.arange(4)) == [0, 1, 2, 3]
    assert summarise(np.zeros((64, 3, 7, 7), np.float32)) == "float32[64x3x7x7]"
    assert summarise(list(range(40))).endswith("(40 items)]")
    assert summarise(b"NCHW") == "NCHW"
    assert short_name("x", "Default/layer1-SequentialCell/0-BasicBlock/conv1-Conv2d/Conv2D-op3") == "layer1.0.conv1"
    assert short_name("graph:CNode_24:1") == "CNode_24"
