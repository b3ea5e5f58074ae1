"""A Qt item model over the engine's model summary: io, parameters, ops by type, metadata, totals."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from engine.graphview.build import PLUMBING
from engine.graphview.categories import UNLOWERED_COLOR
from engine.inspect import human_bytes, shape_text
from studio.icons import icon

log = logging.getLogger(__name__)

COLUMNS = ("Name", "Type", "Shape", "Size")
PAYLOAD_ROLE = Qt.ItemDataRole.UserRole + 1
KIND_ROLE = Qt.ItemDataRole.UserRole + 2

_DISPLAY, _TOOLTIP, _FOREGROUND, _DECORATION, _ALIGNMENT = (
    int(r.value) for r in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole,
                           Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.TextAlignmentRole))
_ROLES = frozenset((_DISPLAY, _TOOLTIP, _FOREGROUND, _DECORATION, _ALIGNMENT, int(PAYLOAD_ROLE), int(KIND_ROLE)))
_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)
_ICONS = {"input": "tensor", "output": "tensor", "param": "params", "op": "node", "node": "node",
          "section": "info", "plumbing": "node"}


@dataclass(eq=False)
class OutlineItem:
    """One row of the outline; ``payload`` points at the engine object it shows (never a copy)."""

    kind: str
    columns: tuple[str, ...]
    payload: Any = None
    parent: OutlineItem | None = field(default=None, repr=False)
    children: list[OutlineItem] = field(default_factory=list, repr=False)
    key: str = ""
    error: bool = False  # drawn in the error colour (a node or primitive that could not be lowered)
    reason: str = ""  # why, shown as the tooltip

    def add(self, child: OutlineItem) -> OutlineItem:
        child.parent = self
        self.children.append(child)
        return child

    def row(self) -> int:
        return self.parent.children.index(self) if self.parent else 0


PLUMBING_NOTE = ("MindSpore side-effect plumbing and constants: the graph draws them as edges, "
                 "weights and attributes")


def _title(node: Any) -> str:
    return getattr(node, "title", "") or node.name or node.id


def build_outline(summary: Any, graph: Any = None, mode: str = "canonical") -> OutlineItem:
    """The outline tree of a summary; ``graph`` (a DisplayGraph) lists nodes under each op type.

    Op counts come from the summary (what ``dstudio inspect`` prints): MindSpore's primitives
    in source mode, the canonical ONNX ops otherwise.
    """
    root = OutlineItem("root", ("",))
    if summary.kind == "graph":
        inputs = root.add(OutlineItem("section", (f"Inputs ({len(summary.inputs)})", "", "", ""), key="inputs"))
        for t in summary.inputs:
            inputs.add(OutlineItem("input", (t.name, t.dtype, shape_text(t.shape), ""), t))
        outputs = root.add(OutlineItem("section", (f"Outputs ({len(summary.outputs)})", "", "", ""), key="outputs"))
        for t in summary.outputs:
            outputs.add(OutlineItem("output", (t.name, t.dtype, shape_text(t.shape), ""), t))
    params = root.add(OutlineItem("section", (f"Parameters ({len(summary.parameters)}) · {summary.param_count:,} values",
                                              "", "", f"{summary.param_count:,}"), key="parameters"))
    for p in summary.parameters:
        params.add(OutlineItem("param", (p.name, p.dtype, shape_text(p.shape), f"{p.size:,}"), p))
    if summary.kind == "graph":
        use_source = mode == "source" and summary.source_op_counts is not None
        counts = summary.source_op_counts if use_source else summary.op_counts
        label = "MindSpore ops" if use_source else "ONNX ops"
        by_op: dict[str, list[Any]] = defaultdict(list)
        if graph is not None:
            for node in graph.nodes:
                if getattr(node, "kind", "op") == "op":
                    by_op[node.op_type].append(node)
        unlowered = getattr(summary, "unlowered", None) or []
        if unlowered:
            # What the conversion to ONNX could not express, first: the reason the ONNX targets refuse.
            missing = root.add(OutlineItem("section", (f"Not convertible to ONNX ({len(unlowered)})", "", "", ""),
                                           key="unlowered", error=True))
            for entry in unlowered:
                op = str(entry["primitive"])
                group = missing.add(OutlineItem("op", (op, "", "", str(entry["count"])), op, key=f"unlowered:{op}",
                                                error=True, reason=str(entry["reason"])))
                for node in by_op.get(op, []):
                    if getattr(node, "lowering", "") == "failed":
                        group.add(OutlineItem("node", (_title(node), op, "", ""), node.id, error=True,
                                              reason=node.lowering_reason))
        failed_ops = {str(e["primitive"]) for e in unlowered}
        # MindSpore's plumbing (Load, Depend, UpdateState, MakeTuple, Constant...) is not drawn:
        # the graph resolves it into edges, weights and attributes. Count it apart.
        plumbing = {op: c for op, c in counts.items() if use_source and (op in PLUMBING or op == "Constant")}
        compute = {op: c for op, c in counts.items() if op not in plumbing}
        nodes = root.add(OutlineItem("section", (f"{label} ({sum(compute.values())})", "", "", ""), key="nodes"))
        for op, count in sorted(compute.items(), key=lambda kv: (-kv[1], kv[0])):
            group = nodes.add(OutlineItem("op", (op, "", "", str(count)), op, key=f"op:{op}", error=op in failed_ops))
            for node in by_op.get(op, []):
                failed = getattr(node, "lowering", "") == "failed"
                group.add(OutlineItem("node", (_title(node), op, "", ""), node.id, error=failed,
                                      reason=node.lowering_reason if failed else ""))
        if plumbing:
            hidden = root.add(OutlineItem("section", (f"Hidden plumbing ({sum(plumbing.values())})", "", "", ""),
                                          key="plumbing", reason=PLUMBING_NOTE))
            for op, count in sorted(plumbing.items(), key=lambda kv: (-kv[1], kv[0])):
                hidden.add(OutlineItem("plumbing", (op, "", "", str(count)), op, key=f"plumbing:{op}",
                                       reason=PLUMBING_NOTE))
    meta = root.add(OutlineItem("section", ("Metadata", "", "", ""), key="metadata"))
    meta.add(OutlineItem("meta", ("format", summary.format, "", ""), ("format", summary.format)))
    if summary.producer:
        meta.add(OutlineItem("meta", ("producer", summary.producer, "", ""), ("producer", summary.producer)))
    for key, value in summary.metadata.items():
        if key != "producer" and value not in ("", None):
            meta.add(OutlineItem("meta", (str(key), str(value), "", ""), (key, value)))
    totals = root.add(OutlineItem("section", ("Totals", "", "", ""), key="totals"))
    totals.add(OutlineItem("total", ("parameters", "", "", f"{summary.param_count:,}"), summary.param_count))
    totals.add(OutlineItem("total", ("bytes", "", "", human_bytes(summary.param_bytes)), summary.param_bytes))
    if summary.kind == "graph":
        totals.add(OutlineItem("total", ("nodes", "", "", f"{summary.node_count:,}"), summary.node_count))
        macs = "not known" if summary.macs is None else f"{summary.macs:,}"
        totals.add(OutlineItem("total", ("MACs", "", "", macs), summary.macs))
    return root


class OutlineModel(QAbstractItemModel):
    """Adapts a summary (and optionally a display graph) as a four-column tree."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._root = OutlineItem("root", ("",))
        self.summary: Any = None

    def set_summary(self, summary: Any, graph: Any = None, mode: str = "canonical") -> None:
        self.beginResetModel()
        self.summary = summary
        self._root = build_outline(summary, graph, mode) if summary is not None else OutlineItem("root", ("",))
        self.endResetModel()

    def section(self, key: str) -> QModelIndex:
        """The index of a top-level section ("inputs", "parameters", "nodes", ...)."""
        for row, item in enumerate(self._root.children):
            if item.key == key:
                return self.createIndex(row, 0, item)
        return QModelIndex()

    def find_node(self, node_id: str) -> QModelIndex:
        """The index of the row showing graph node ``node_id``."""
        nodes = self.section("nodes")
        if not nodes.isValid():
            return QModelIndex()
        for group in self.item(nodes).children:
            for row, child in enumerate(group.children):
                if child.payload == node_id:
                    return self.createIndex(row, 0, child)
        return QModelIndex()

    def item(self, index: QModelIndex | QPersistentModelIndex) -> OutlineItem:
        return index.internalPointer() if index.isValid() else self._root  # type: ignore[return-value]

    # Qt overrides -------------------------------------------------------------
    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:
        owner = self.item(parent)
        if 0 <= row < len(owner.children) and 0 <= column < len(COLUMNS):
            return self.createIndex(row, column, owner.children[row])
        return QModelIndex()

    def parent(self, index: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        owner = self.item(index).parent
        if owner is None or owner is self._root:
            return QModelIndex()
        return self.createIndex(owner.row(), 0, owner)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self.item(parent).children)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return len(COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # A painted cell asks for about ten roles; most get None at once (plain ints: the view
        # paints some 40 rows x 4 columns per frame through this Python method).
        if role not in _ROLES or not index.isValid():
            return None
        item = index.internalPointer()
        column = index.column()
        if role == _DISPLAY:
            return item.columns[column] if column < len(item.columns) else ""
        if role == _TOOLTIP:
            if item.reason:
                return item.reason if item.kind in ("plumbing", "section") else f"not converted to ONNX: {item.reason}"
            if item.kind == "node" and column == 0 and isinstance(item.payload, str) and item.payload != item.columns[0]:
                return f"{item.columns[0]}\nin the file: {item.payload}"
            return item.columns[column] if column < len(item.columns) else ""
        if role == _FOREGROUND:
            return QColor(UNLOWERED_COLOR) if item.error else None
        if role == _DECORATION:
            return icon(_ICONS[item.kind]) if column == 0 and item.kind in _ICONS else None
        if role == _ALIGNMENT:
            return _RIGHT if column == 3 else None
        if role == PAYLOAD_ROLE:
            return item.payload
        return item.kind  # KIND_ROLE

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None
