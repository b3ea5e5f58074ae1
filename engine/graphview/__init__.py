"""Graph display for the studio, without Qt: display graph, layered layout, categories, search."""

from __future__ import annotations

from engine.graphview.build import build_display_graph
from engine.graphview.categories import CATEGORIES, CATEGORY_COLORS, category_of
from engine.graphview.graph import DisplayEdge, DisplayGraph, DisplayNode, WeightInfo, search
from engine.graphview.layout import layout

__all__ = [
    "CATEGORIES",
    "CATEGORY_COLORS",
    "DisplayEdge",
    "DisplayGraph",
    "DisplayNode",
    "WeightInfo",
    "build_display_graph",
    "category_of",
    "layout",
    "search",
]
