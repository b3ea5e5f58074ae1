"""MindSpore's side-effect plumbing (Load, Depend, UpdateState, tuples), resolved by the lowering driver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.errors import FormatError, UnsupportedOpError
from engine.formats.mindir.lower import Const, Lowering, Unknown, Value
from engine.formats.mindir.reader import MindNode
from engine.formats.mindir.values import MONAD


def _load(lo: Lowering, node: MindNode) -> Value:
    return lo.values[node.inputs[0]]


def _update_state(lo: Lowering, node: MindNode) -> Value:
    return MONAD


def _make_tuple(lo: Lowering, node: MindNode) -> Value:
    return tuple(lo.values.get(i) for i in node.inputs)


def _tuple_get_item(lo: Lowering, node: MindNode) -> Value:
    container = lo.values[node.inputs[0]]
    index = lo.values[node.inputs[1]]
    if not isinstance(index, Const):
        raise UnsupportedOpError("TupleGetItem with a computed index", path=lo.path, node=node.scope)
    if isinstance(container, Unknown):
        return container
    if isinstance(container, Const):
        return Const(container.value[int(index.value)])
    if isinstance(container, str):
        # A tuple computed at run time is a 1-d tensor here (the dims of a dynamic shape): an element.
        dims, dtype = lo.types.get(container, (None, None))
        if dims is None and any(n.op_type == "Shape" and container in n.output for n in reversed(lo.nodes)):
            dims, dtype = [-1], np.dtype(np.int64)  # ONNX Shape: always 1-d int64
        if dims is None or len(dims) != 1:
            raise FormatError(f"TupleGetItem on a tensor of rank {len(dims) if dims is not None else '?'}",
                              path=lo.path, node=node.scope)
        at = lo.const_tensor(np.array(int(index.value), np.int64), hint="index")
        out = lo.emit("Gather", [container, at], name=f"{node.scope or lo.graph.short(node.name)}/Gather",
                      outputs=[lo.graph.short(node.outputs[0])], axis=0)
        lo.types[out] = ([], dtype)
        return out
    if not isinstance(container, tuple):
        raise FormatError("TupleGetItem on a non-tuple value", path=lo.path, node=node.scope)
    return container[int(index.value)]


PLUMBING: dict[str, Callable[[Lowering, MindNode], Value]] = {
    "Load": _load,
    "Depend": _load,
    "UpdateState": _update_state,
    "MakeTuple": _make_tuple,
    "MakeList": _make_tuple,
    "make_list": _make_tuple,
    "make_tuple": _make_tuple,
    "TupleGetItem": _tuple_get_item,
    "ListGetItem": _tuple_get_item,
    "Identity": _load,
    "StopGradient": _load,
}


def _is_int_item(lo: Lowering, value: Any) -> bool:
    """A Python/NumPy integer constant, or an integer tensor of at most one element (a dim)."""
    if isinstance(value, Const):
        return isinstance(value.value, (int, np.integer)) and not isinstance(value.value, bool)
    if isinstance(value, str):
        dims, dtype = lo.types.get(value, (None, None))
        return dtype is not None and np.dtype(dtype).kind in "iu" and dims is not None and len(dims) <= 1
    return False
