"""``dstudio graph`` and engine.graphview.svg: the window's graph as SVG, written without Qt."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from engine import formats
from engine.cli import main
from engine.graphview import build_display_graph, layout
from engine.graphview.graph import DisplayGraph, DisplayNode
from engine.graphview.svg import to_svg
from tests_helpers import fixture_by_name

SVG = "{http://www.w3.org/2000/svg}"


def _parse(text: str) -> ET.Element:
    return ET.fromstring(text.encode("utf-8"))


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_every_node_and_edge_is_drawn(direction: str) -> None:
    graph = layout(build_display_graph(formats.load(fixture_by_name("lenet5").mindir), "source"), direction)
    root = _parse(to_svg(graph))
    assert float(root.get("width")) == pytest.approx(graph.width, abs=0.1)
    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert [g.get("id") for g in groups] == [n.id for n in graph.nodes]
    edges = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "edges")
    assert len(edges.findall(f"{SVG}path")) == len(graph.edges)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "W<6x1x5x5>" in texts and "B<6>" in texts  # weights inside the boxes
    assert "conv1" in texts and not any(t.startswith("output:") for t in texts if t)  # scope names
    conv = next(g for g in groups if g.get("id") == graph.nodes[1].id)
    rect = conv.find(f"{SVG}rect")
    node = graph.nodes[1]
    assert float(rect.get("x")) == pytest.approx(node.x - node.width / 2, abs=0.1)
    assert rect.get("fill") == "#3b7dd8"  # the Conv category colour, as the window draws it


def test_names_are_escaped_and_layout_is_required() -> None:
    node = DisplayNode('a"<b>&c', "Op<x>", 'a"<b>&c', "Op<x>", "other", short_name="<s>")
    graph = layout(DisplayGraph(nodes=[node], name="g&h"))
    root = _parse(to_svg(graph))  # well-formed despite the markup in the names
    assert next(g for g in root.iter(f"{SVG}g") if g.get("class") == "node").get("id") == 'a"<b>&c'
    with pytest.raises(ValueError, match="lay the graph out"):
        to_svg(DisplayGraph(nodes=[DisplayNode("n", "Op", "n", "Op", "other")]))


def test_cli_writes_svg_and_refuses_what_it_cannot(tmp_path, capsys) -> None:
    lenet = fixture_by_name("lenet5")
    out = tmp_path / "lenet.svg"
    assert main(["graph", str(lenet.mindir), "-o", str(out), "--direction", "LR"]) == 0
    root = _parse(out.read_text(encoding="utf-8"))
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]) > 10
    assert "source graph, LR" in capsys.readouterr().out
    assert main(["graph", str(lenet.mindir), "-o", str(tmp_path / "lenet.png")]) == 1
    assert "name the output *.svg" in capsys.readouterr().err
    assert not (tmp_path / "lenet.png").exists()
    assert main(["graph", str(lenet.onnx), "--mode", "source", "-o", str(out)]) == 2
    assert "--mode canonical" in capsys.readouterr().err
