"""MindSpore's scalar primitives (Python numbers in the graph, e.g. loop counters), folded or lowered.

Registered with ``setdefault``: the op table's own modules win if they lower one of these too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import helper

from engine.formats.mindir.lower import OPS, Const, NodeContext, Value

_SCALAR_BINARY = {
    "ScalarAdd": ("Add", np.add), "ScalarSub": ("Sub", np.subtract), "ScalarMul": ("Mul", np.multiply),
    "ScalarLt": ("Less", np.less), "ScalarGt": ("Greater", np.greater), "ScalarLe": ("LessOrEqual", np.less_equal),
    "ScalarGe": ("GreaterOrEqual", np.greater_equal), "ScalarEq": ("Equal", np.equal),
    "scalar_lt": ("Less", np.less), "scalar_gt": ("Greater", np.greater), "scalar_add": ("Add", np.add),
}


def _scalar_binary(onnx_op: str, fold: Any):
    def rule(ctx: NodeContext) -> Value:
        if ctx.is_const(0) and ctx.is_const(1):
            folded = fold(ctx.const(0), ctx.const(1))
            return Const(folded.item() if np.ndim(folded) == 0 else folded)
        dtype = ctx.dtype(0) if not ctx.is_const(0) else ctx.dtype(1)
        a = ctx.tensor(0) if not ctx.is_const(0) else ctx.const_tensor(np.asarray(ctx.const(0), dtype=dtype), hint="a")
        b = ctx.tensor(1) if not ctx.is_const(1) else ctx.const_tensor(np.asarray(ctx.const(1), dtype=dtype), hint="b")
        return ctx.emit(onnx_op, [a, b])

    return rule


def _scalar_to_tensor(ctx: NodeContext) -> Value:
    """ScalarToTensor(x, dtype): a constant folds; a computed scalar (a loop counter) is cast."""
    from engine.formats.mindir.values import dtype_from_type_id

    target = ctx.out_dtype()
    code = ctx.arg(1, "dtype")
    if isinstance(code, int) and not isinstance(code, bool):
        target = dtype_from_type_id(code)
    elif hasattr(code, "dtype") and not isinstance(code, np.ndarray):
        target = code.dtype
    if target is None:
        raise ctx.fail("destination dtype unknown")
    if ctx.is_const(0):
        return Const(np.asarray(ctx.const(0), dtype=target))
    return ctx.emit("Cast", [ctx.tensor(0)], to=helper.np_dtype_to_tensor_dtype(np.dtype(target)))


# setdefault: the op table's own modules win if they lower one of these too.
for _name, (_onnx_op, _fold) in _SCALAR_BINARY.items():
    OPS.setdefault(_name, _scalar_binary(_onnx_op, _fold))
OPS.setdefault("ScalarToTensor", _scalar_to_tensor)
del _name, _onnx_op, _fold

