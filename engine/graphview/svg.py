"""A laid-out DisplayGraph as SVG text, without Qt: what ``dstudio graph`` writes (the window uses Qt's own)."""

from __future__ import annotations

from xml.sax.saxutils import escape

from engine.graphview.categories import node_color, text_on
from engine.graphview.graph import OP, DisplayEdge, DisplayGraph, DisplayNode
from engine.graphview.layout import WEIGHT_LINE, header_height, weight_lines

FONT = "DejaVu Sans, Segoe UI, Helvetica, Arial, sans-serif"
BACKGROUND = "#ffffff"
EDGE = "#6b6b6b"
TEXT = "#202020"


def _attr(text: str) -> str:
    """Text safe inside a double-quoted XML attribute."""
    return escape(text, {'"': "&quot;"})


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _edge_path(edge: DisplayEdge, horizontal: bool) -> str:
    """The same curves the studio draws: straight through dummy rows, tangent to the flow between."""
    (x, y), *rest = edge.points
    parts = [f"M{_num(x)} {_num(y)}"]
    x0, y0 = x, y
    for x1, y1 in rest:
        if (y0 == y1) if horizontal else (x0 == x1):
            parts.append(f"L{_num(x1)} {_num(y1)}")
        elif horizontal:
            mid = (x0 + x1) / 2
            parts.append(f"C{_num(mid)} {_num(y0)} {_num(mid)} {_num(y1)} {_num(x1)} {_num(y1)}")
        else:
            mid = (y0 + y1) / 2
            parts.append(f"C{_num(x0)} {_num(mid)} {_num(x1)} {_num(mid)} {_num(x1)} {_num(y1)}")
        x0, y0 = x1, y1
    return " ".join(parts)


def _arrowhead(edge: DisplayEdge, horizontal: bool) -> str:
    x, y = edge.points[-1]
    pts = [(x, y), (x - 7, y - 3.5), (x - 7, y + 3.5)] if horizontal else [(x, y), (x - 3.5, y - 7), (x + 3.5, y - 7)]
    return " ".join(f"{_num(a)},{_num(b)}" for a, b in pts)


def _node(node: DisplayNode) -> list[str]:
    left, top, width, height = node.rect
    fill = node_color(node.category, node.lowering)
    ink = text_on(fill)
    title = f"{node.op_type} {node.title}" if node.kind == OP else f"{node.label} {node.name}"
    out = [f'<g class="node" id="{_attr(node.id)}"><title>{escape(title)}</title>',
           f'<rect x="{_num(left)}" y="{_num(top)}" width="{_num(width)}" height="{_num(height)}" rx="5" '
           f'fill="{fill}" stroke="{EDGE}" stroke-width="1"/>']
    head = header_height(node)
    if node.kind == OP and node.short_name:
        out.append(f'<text x="{_num(node.x)}" y="{_num(top + head / 2 - 3)}" text-anchor="middle" '
                   f'font-weight="bold" font-size="11" fill="{ink}">{escape(node.label)}</text>')
        out.append(f'<text x="{_num(node.x)}" y="{_num(top + head / 2 + 11)}" text-anchor="middle" '
                   f'font-size="9.5" fill="{ink}">{escape(node.short_name)}</text>')
    else:
        text = node.label if node.kind == OP else f"{node.label}: {node.short_name or node.name}"
        out.append(f'<text x="{_num(node.x)}" y="{_num(top + head / 2 + 4)}" text-anchor="middle" '
                   f'font-weight="bold" font-size="11" fill="{ink}">{escape(text)}</text>')
    lines = weight_lines(node) if node.kind == OP else []
    if lines:
        out.append(f'<rect x="{_num(left + 1)}" y="{_num(top + head)}" width="{_num(width - 2)}" '
                   f'height="{_num(height - head - 1)}" fill="#ffffff" fill-opacity="0.67"/>')
        for i, text in enumerate(lines):
            y = top + head + i * WEIGHT_LINE + WEIGHT_LINE / 2 + 3.5
            out.append(f'<text class="weight" x="{_num(left + 6)}" y="{_num(y)}" font-size="9.5" '
                       f'fill="{TEXT}">{escape(text)}</text>')
    out.append("</g>")
    return out


def to_svg(graph: DisplayGraph) -> str:
    """SVG text of a laid-out ``graph``: boxes in their category colours with op type, name and
    weights, edges with arrowheads and shape labels (each tensor labelled once), at scene units.

    Raises:
        ValueError: the graph has not been laid out (:func:`engine.graphview.layout.layout`).
    """
    if graph.nodes and not graph.is_laid_out:
        raise ValueError("lay the graph out first (engine.graphview.layout)")
    horizontal = graph.direction == "LR"
    width, height = max(graph.width, 1.0), max(graph.height, 1.0)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" height="{_num(height)}" '
           f'viewBox="0 0 {_num(width)} {_num(height)}" font-family="{FONT}">',
           f"<title>{escape(graph.name or 'graph')}</title>",
           f'<rect width="100%" height="100%" fill="{BACKGROUND}"/>',
           f'<g class="edges" fill="none" stroke="{EDGE}" stroke-width="1.2">']
    edges = [e for e in graph.edges if len(e.points) >= 2]
    out += [f'<path d="{_edge_path(e, horizontal)}"/>' for e in edges]
    out.append(f'</g><g class="arrows" fill="{EDGE}">')
    out += [f'<polygon points="{_arrowhead(e, horizontal)}"/>' for e in edges]
    out.append(f'</g><g class="labels" font-size="9.5" fill="{TEXT}" fill-opacity="0.8">')
    labelled: set[tuple[str, str]] = set()
    for edge in edges:
        if edge.label and (edge.source, edge.tensor) not in labelled:
            labelled.add((edge.source, edge.tensor))
            x, y = edge.points[0]
            out.append(f'<text x="{_num(x + 4)}" y="{_num(y - 4 if horizontal else y + 12)}">{escape(edge.label)}</text>')
    out.append("</g>")
    for node in graph.nodes:
        out += _node(node)
    out.append("</svg>")
    return "\n".join(out) + "\n"
