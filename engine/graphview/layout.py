"""Layered (Sugiyama-style) layout of a DisplayGraph, top to bottom or left to right, in plain Python.

Steps: break cycles (reverse back edges), longest-path layering with sources pulled down
next to their first consumer, dummy nodes on long edges, barycenter ordering sweeps, then
x coordinates by alternating passes that pull each node towards the mean of its neighbours
and resolve overlaps exactly (weighted isotonic regression with minimum separations, so
chains stay straight and nothing overlaps), and edges as polylines through the dummies.
Everything is O(nodes + edges) per pass; 5,000 nodes take a fraction of a second.

The steps work on an abstract (along, across) frame: along is the flow (down for "TB",
right for "LR"), across the rows; only the final coordinates are mapped to x and y.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace

from engine.graphview.graph import OP, DisplayGraph, DisplayNode

log = logging.getLogger(__name__)

CHAR_WIDTH = 7.0  # average glyph width of the studio's node font, in scene units
NODE_MIN_WIDTH = 64.0
NODE_HEIGHT = 36.0
IO_HEIGHT = 26.0
NODE_GAP = 24.0  # horizontal space between neighbouring boxes
DUMMY_WIDTH = 8.0
LAYER_GAP = 44.0  # vertical space between rows; edge labels live here
MARGIN = 20.0
LR_LAYER_GAP = 90.0  # left to right, edge labels sit beside the arrows and need more room
ORDER_SWEEPS = 4
POSITION_PASSES = 4
SMALL_CHAR_WIDTH = 7.0  # the weight lines' smaller font
WEIGHT_LINE = 14.0  # height of one weight line ("W<64x3x7x7>") under a box's title
MAX_WEIGHT_LINES = 4  # more weights than this show the first three and "+N more"
WEIGHT_CHARS = 28
DIRECTIONS = ("TB", "LR")


def weight_lines(node: DisplayNode) -> list[str]:
    """The weight lines drawn inside a node's box, in input order: ``W<64x3x7x7>``, ``B<64>``."""
    labels = [w.label for w in node.weights]
    if len(labels) > MAX_WEIGHT_LINES:
        labels = labels[:MAX_WEIGHT_LINES - 1] + [f"+{len(labels) - MAX_WEIGHT_LINES + 1} more"]
    return [t if len(t) <= WEIGHT_CHARS else t[:WEIGHT_CHARS - 1] + "…" for t in labels]


def header_height(node: DisplayNode) -> float:
    """Height of the title part of a box (op type and name), above any weight lines."""
    return NODE_HEIGHT if (node.kind == OP and node.short_name) else IO_HEIGHT


def node_size(node: DisplayNode) -> tuple[float, float]:
    """Width and height of a node's box, from its title lines and its weight lines."""
    if node.kind == OP:
        chars = max(len(node.label), min(len(node.short_name), 24))
    else:  # io boxes read "Input: name" on one line
        chars = min(len(node.label) + 2 + len(node.short_name or node.name), 30)
    lines = weight_lines(node) if node.kind == OP else []
    width = max(NODE_MIN_WIDTH, CHAR_WIDTH * chars + 20.0,
                SMALL_CHAR_WIDTH * max((len(t) for t in lines), default=0) + 20.0)
    height = header_height(node) + (WEIGHT_LINE * len(lines) + 4.0 if lines else 0.0)
    return width, height


def layout(graph: DisplayGraph, direction: str = "TB") -> DisplayGraph:
    """Compute coordinates for every node and a polyline for every edge, in place.

    Args:
        graph: the graph to lay out.
        direction: "TB" (inputs at the top, flowing down, as Netron draws) or "LR" (inputs
            at the left, flowing right: long chains fit a wide screen).

    Node ``x``/``y`` are box centres; ``graph.width``/``height`` the scene extent.
    Returns ``graph`` for chaining.

    Raises:
        ValueError: ``direction`` is not "TB" or "LR".
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown layout direction {direction!r}; expected 'TB' or 'LR'")
    graph.direction = direction
    horizontal = direction == "LR"
    nodes = graph.nodes
    n = len(nodes)
    if n == 0:
        graph.width = graph.height = 0.0
        return graph
    index = {node.id: i for i, node in enumerate(nodes)}
    widths: list[float] = []  # extents across the flow (box widths top to bottom)
    heights: list[float] = []  # extents along the flow
    for node in nodes:
        w, h = node_size(node)
        node.width, node.height = w, h
        widths.append(h if horizontal else w)
        heights.append(w if horizontal else h)

    # Unique directed pairs; self-loops are drawn but take no part in layout.
    pairs: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for edge in graph.edges:
        s, t = index.get(edge.source), index.get(edge.target)
        if s is None or t is None or s == t or (s, t) in seen:
            continue
        seen.add((s, t))
        pairs.append((s, t))

    order = _topological_order(n, pairs)
    rank = [0] * n
    for pos, v in enumerate(order):
        rank[v] = pos
    # Back edges (only in cyclic graphs) are laid out reversed.
    dag = [(s, t) if rank[s] < rank[t] else (t, s) for s, t in pairs]
    reversed_pairs = {(s, t) for s, t in pairs if rank[s] > rank[t]}

    layers = _longest_path_layers(n, order, dag)
    for v, node in enumerate(nodes):
        node.layer = layers[v]

    # Layered graph with dummies: ids >= n are dummies.
    up: list[list[int]] = [[] for _ in range(n)]
    down: list[list[int]] = [[] for _ in range(n)]
    layer_of = list(layers)
    width_of = list(widths)
    chains: dict[tuple[int, int], list[int]] = {}
    for s, t in dag:
        chain: list[int] = []
        prev = s
        for layer in range(layers[s] + 1, layers[t]):
            d = len(layer_of)
            layer_of.append(layer)
            width_of.append(DUMMY_WIDTH)
            up.append([prev])
            down.append([])
            down[prev].append(d)
            chain.append(d)
            prev = d
        down[prev].append(t)
        up[t].append(prev)
        chains[(s, t)] = chain
    total = len(layer_of)
    n_layers = max(layers) + 1

    rows = _initial_order(total, n, order, layer_of, down, n_layers)
    pos = [0] * total
    for row in rows:
        for i, v in enumerate(row):
            pos[v] = i
    for _ in range(ORDER_SWEEPS):
        for li in range(1, n_layers):
            _sort_row(rows[li], up, pos)
        for li in range(n_layers - 2, -1, -1):
            _sort_row(rows[li], down, pos)

    xs = _assign_x(rows, up, down, width_of, n)

    # Rows along the flow (top to bottom, or left to right).
    gap = LR_LAYER_GAP if horizontal else LAYER_GAP
    row_height = [0.0] * n_layers
    for v in range(n):
        row_height[layers[v]] = max(row_height[layers[v]], heights[v])
    row_top = [0.0] * n_layers
    y = MARGIN
    for li in range(n_layers):
        row_top[li] = y
        y += (row_height[li] or IO_HEIGHT) + gap
    along_extent = y - gap + MARGIN

    left = min(xs[v] - width_of[v] / 2 for v in range(total))
    shift = MARGIN - left
    right = 0.0
    for v in range(total):
        xs[v] += shift
        right = max(right, xs[v] + width_of[v] / 2)
    across_extent = right + MARGIN
    for v, node in enumerate(nodes):
        along = row_top[layers[v]] + row_height[layers[v]] / 2
        node.x, node.y = (along, xs[v]) if horizontal else (xs[v], along)
    graph.width, graph.height = (along_extent, across_extent) if horizontal else (across_extent, along_extent)

    _route_edges(graph, index, chains, reversed_pairs, xs, layer_of, row_top, row_height)
    log.debug("layout: %d nodes, %d dummies, %d layers, %.0fx%.0f",
              n, total - n, n_layers, graph.width, graph.height)
    return graph


def relayout(graph: DisplayGraph, direction: str) -> DisplayGraph:
    """A copy of ``graph`` laid out in ``direction``; ``graph`` itself is left as it is.

    Nodes and edges are shallow copies (their names, attributes and weights are shared),
    so a view can keep painting the original while the copy is laid out on a worker.
    """
    copy = replace(graph, nodes=[replace(n) for n in graph.nodes], edges=[replace(e) for e in graph.edges])
    copy._index = {}
    return layout(copy, direction)


def _topological_order(n: int, pairs: list[tuple[int, int]]) -> list[int]:
    """Kahn's algorithm, depth-first among ready nodes so chains stay together; cycles broken."""
    indeg = [0] * n
    succ: list[list[int]] = [[] for _ in range(n)]
    for s, t in pairs:
        succ[s].append(t)
        indeg[t] += 1
    stack = [v for v in range(n - 1, -1, -1) if indeg[v] == 0]
    order: list[int] = []
    done = [False] * n
    next_unseen = 0
    while len(order) < n:
        if not stack:
            # A cycle: release the first unplaced node in file order.
            while done[next_unseen]:
                next_unseen += 1
            stack.append(next_unseen)
            indeg[next_unseen] = 0
        v = stack.pop()
        if done[v]:
            continue
        done[v] = True
        order.append(v)
        for t in reversed(succ[v]):
            if done[t]:
                continue
            indeg[t] -= 1
            if indeg[t] == 0:
                stack.append(t)
    return order


def _longest_path_layers(n: int, order: list[int], dag: list[tuple[int, int]]) -> list[int]:
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for s, t in dag:
        preds[t].append(s)
        succs[s].append(t)
    layers = [0] * n
    for v in order:
        if preds[v]:
            layers[v] = max(layers[u] for u in preds[v]) + 1
    # Sources (inputs, stray constants) sit just above their first consumer, not at the top.
    for v in range(n):
        if not preds[v] and succs[v]:
            layers[v] = max(0, min(layers[t] for t in succs[v]) - 1)
    return layers


def _initial_order(total: int, n: int, order: list[int], layer_of: list[int],
                   down: list[list[int]], n_layers: int) -> list[list[int]]:
    """Rows filled in depth-first visiting order, a good start for barycenter sweeps."""
    rows: list[list[int]] = [[] for _ in range(n_layers)]
    visited = [False] * total
    for root in order:
        if visited[root]:
            continue
        stack = [root]
        while stack:
            v = stack.pop()
            if visited[v]:
                continue
            visited[v] = True
            rows[layer_of[v]].append(v)
            stack.extend(reversed(down[v]))
    return rows


def _sort_row(row: list[int], neighbours: list[list[int]], pos: list[int]) -> None:
    if len(row) < 2:
        return
    keys: dict[int, float] = {}
    for v in row:
        adj = neighbours[v]
        keys[v] = sum(pos[u] for u in adj) / len(adj) if adj else float(pos[v])
    row.sort(key=lambda v: (keys[v], pos[v]))
    for i, v in enumerate(row):
        pos[v] = i


def _assign_x(rows: list[list[int]], up: list[list[int]], down: list[list[int]],
              width_of: list[float], n: int) -> list[float]:
    """x centres: pull towards neighbours, keep row order and separation (no overlaps)."""
    total = len(width_of)
    xs = [0.0] * total
    for row in rows:
        x = 0.0
        for i, v in enumerate(row):
            if i:
                x += (width_of[row[i - 1]] + width_of[v]) / 2 + NODE_GAP
            xs[v] = x
        mid = x / 2
        for v in row:
            xs[v] -= mid
    # Boxes weigh more than long-edge dummies: the chain of boxes stays straight and skip
    # connections bend around it (heavy dummies push the chain sideways, block after block).
    weight = [1.0 if v < n else 0.01 for v in range(total)]
    # A box follows the boxes at the far ends of its edges, not the dummies beside it: a
    # chain with a skip connection alongside stays straight instead of drifting sideways,
    # and a block with two branches centres between them.
    up = [list(a) for a in up]
    down = [list(a) for a in down]
    for v in range(n):
        up[v] = [_far_end(u, up, n) for u in up[v]]
        down[v] = [_far_end(u, down, n) for u in down[v]]
    n_layers = len(rows)
    for _ in range(POSITION_PASSES):
        for li in range(1, n_layers):
            _place_row(rows[li], up, xs, width_of, weight)
        for li in range(n_layers - 2, -1, -1):
            _place_row(rows[li], down, xs, width_of, weight)
    both = [u + d for u, d in zip(up, down)]
    for li in range(n_layers):
        _place_row(rows[li], both, xs, width_of, weight)
    return xs


def _far_end(v: int, step: list[list[int]], n: int) -> int:
    """Follow a dummy chain to the real node at its end."""
    while v >= n:
        v = step[v][0]
    return v


def _place_row(row: list[int], neighbours: list[list[int]], xs: list[float],
               width_of: list[float], weight: list[float]) -> None:
    """Move a row's nodes towards their neighbours' mean x, keeping order and separation.

    Minimises sum w_i (x_i - d_i)^2 subject to x_{i+1} - x_i >= sep_i: with offsets o_i (the
    cumulative separations) this is isotonic regression of d_i - o_i, solved exactly by
    pool-adjacent-violators in O(len(row)).
    """
    if not row:
        return
    offsets: list[float] = []
    o = 0.0
    for i, v in enumerate(row):
        if i:
            o += (width_of[row[i - 1]] + width_of[v]) / 2 + NODE_GAP
        offsets.append(o)
    # Blocks: [weighted sum, total weight, count]
    blocks: list[list[float]] = []
    for i, v in enumerate(row):
        adj = neighbours[v]
        target = (sum(xs[u] for u in adj) / len(adj) if adj else xs[v]) - offsets[i]
        w = weight[v]
        blocks.append([target * w, w, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            last = blocks.pop()
            blocks[-1][0] += last[0]
            blocks[-1][1] += last[1]
            blocks[-1][2] += last[2]
    i = 0
    for total_wt, total_w, count in blocks:
        value = total_wt / total_w
        for _ in range(int(count)):
            xs[row[i]] = value + offsets[i]
            i += 1


def _route_edges(graph: DisplayGraph, index: dict[str, int], chains: dict[tuple[int, int], list[int]],
                 reversed_pairs: set[tuple[int, int]], xs: list[float], layer_of: list[int],
                 row_top: list[float], row_height: list[float]) -> None:
    """Polylines from the source's far side to the target's near side, straight through dummy rows.

    Top to bottom that is bottom to top edge; left to right, right to left edge. Where a
    node has several edges on a side, their ends spread across that side in the order of
    where they head, so arrows do not pile onto one point.
    """
    nodes = graph.nodes
    horizontal = graph.direction == "LR"

    def point(along: float, across: float) -> tuple[float, float]:
        return (along, across) if horizontal else (across, along)

    def centre(node: DisplayNode) -> tuple[float, float]:  # (along, across)
        return (node.x, node.y) if horizontal else (node.y, node.x)

    def half(node: DisplayNode) -> tuple[float, float]:  # half extents (along, across)
        return (node.width / 2, node.height / 2) if horizontal else (node.height / 2, node.width / 2)

    routes: dict[tuple[int, int], list[tuple[float, float]]] = {}
    out_ends: dict[int, list[tuple[float, tuple[int, int]]]] = defaultdict(list)
    in_ends: dict[int, list[tuple[float, tuple[int, int]]]] = defaultdict(list)
    for (s, t), chain in chains.items():
        mid: list[tuple[float, float]] = []
        for d in chain:
            li = layer_of[d]
            mid.append((row_top[li], xs[d]))
            mid.append((row_top[li] + row_height[li], xs[d]))
        routes[(s, t)] = mid
        out_ends[s].append((mid[0][1] if mid else centre(nodes[t])[1], (s, t)))
        in_ends[t].append((mid[-1][1] if mid else centre(nodes[s])[1], (s, t)))
    start: dict[tuple[int, int], float] = {}
    end: dict[tuple[int, int], float] = {}
    for v, ends in out_ends.items():
        _spread(centre(nodes[v])[1], 2 * half(nodes[v])[1], ends, start)
    for v, ends in in_ends.items():
        _spread(centre(nodes[v])[1], 2 * half(nodes[v])[1], ends, end)

    for edge in graph.edges:
        s, t = index.get(edge.source), index.get(edge.target)
        if s is None or t is None:
            edge.points = []
            continue
        if s == t:
            node = nodes[s]
            (a, c), (ha, hc) = centre(node), half(node)
            loop = [(a + ha, c + hc - 6), (a + ha + 10, c + hc + 12), (a - ha - 10, c + hc + 12),
                    (a - ha, c + hc - 6)]
            edge.points = [point(*p) for p in loop]
            continue
        key = (t, s) if (s, t) in reversed_pairs else (s, t)
        a, b = nodes[key[0]], nodes[key[1]]
        pts = [(centre(a)[0] + half(a)[0], start[key]), *routes[key], (centre(b)[0] - half(b)[0], end[key])]
        pts = [point(*p) for p in pts]
        edge.points = pts[::-1] if key != (s, t) else pts


def _spread(middle: float, extent: float, ends: list[tuple[float, tuple[int, int]]],
            out: dict[tuple[int, int], float]) -> None:
    if len(ends) == 1:
        out[ends[0][1]] = middle
        return
    ends.sort()
    span = extent * 0.6
    step = span / (len(ends) - 1)
    for i, (_, key) in enumerate(ends):
        out[key] = middle - span / 2 + i * step
