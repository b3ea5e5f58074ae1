"""ONNX -> MindSpore primitive rules for the MindIR writer: shared helpers, and the rule modules by role.

Each rule returns the MindIR value for the ONNX node's first output (or a list, one per
output); a rule may return a numpy array for a value it folds at export time (Shape of a
static tensor). Operand order and constant types copy files MindSpore wrote itself; the
rules live in ``export_ops_<role>.py`` (act, array, attention, loss, math, misc, nn, norm,
qconv, resize, rnn), imported at the end of this module so that they register.
"""

from __future__ import annotations

import math

import numpy as np

from engine.formats.mindir.values import TYPE_IDS
from engine.formats.mindir.writer import ExportContext

NCHW = 0  # MindSpore Format enum
PAD_SAME, PAD_VALID = 1, 2  # MindSpore PadMode enum


def _ints(values) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(values).ravel())


def cast_to(ctx: ExportContext, value: str, dtype) -> str:
    """A Cast CNode of ``value`` to numpy ``dtype``."""
    name = np.dtype(dtype).name
    if name not in TYPE_IDS:
        raise ctx.fail(f"MindSpore has no type for {name}")
    return ctx.call("Cast", [value, TYPE_IDS[name]])


def out_shape(ctx: ExportContext, k: int = 0) -> list[int] | None:
    """The static shape of the node's ``k``-th output, from shape inference."""
    return ctx.w.shapes.get(ctx.node.output[k]) if k < len(ctx.node.output) else None


def out_dtype(ctx: ExportContext, k: int = 0) -> np.dtype | None:
    return ctx.w.dtypes.get(ctx.node.output[k]) if k < len(ctx.node.output) else None


def check_window(ctx: ExportContext, kernel, strides, dilations) -> None:
    """Kernel sizes, strides and dilations must be positive (else one typed line, not a ZeroDivisionError)."""
    for label, values in (("kernel_shape", kernel), ("strides", strides), ("dilations", dilations)):
        if any(int(v) <= 0 for v in values):
            raise ctx.fail(f"{label} {list(values)} must be positive")


def _same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    if stride <= 0 or kernel <= 0 or dilation <= 0:
        raise ValueError(f"kernel {kernel}, stride {stride} and dilation {dilation} must be positive")
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _explicit_pads(ctx: ExportContext, spatial: list[int], kernel: list[int], strides: list[int], dilations: list[int]) -> list[int]:
    """ONNX pads (begins then ends), resolving auto_pad against the static input size."""
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pairs = [_same_pads(s, k, st, d) for s, k, st, d in zip(spatial, kernel, strides, dilations)]
        if auto == "SAME_LOWER":
            pairs = [(b, a) for a, b in pairs]
        return [p[0] for p in pairs] + [p[1] for p in pairs]
    if auto == "VALID":
        return [0] * (2 * len(kernel))
    return list(ctx.attr("pads", [0] * (2 * len(kernel))))


def scalar(ctx: ExportContext, value: float, like: int = 0) -> np.ndarray:
    """A 0-d constant of ``value`` in the dtype of input ``like``."""
    return np.array(value, dtype=ctx.dtype(like) or np.float32)


def filled_like(ctx: ExportContext, op: str, value: str, dims, dtype) -> str:
    """ZerosLike/OnesLike of ``value``, whose static type is recorded first so readers can lower it."""
    if dims is not None and dtype is not None:
        ctx.w.builder.annotate(value, list(dims), np.dtype(dtype))
    return ctx.call(op, [value])


def static_axis(ctx: ExportContext) -> tuple[list[int], int, int]:
    """Input 0's static shape, its rank and the node's ``axis`` attribute (default -1), made non-negative."""
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    rank = len(shape)
    axis = int(ctx.attr("axis", -1))
    if not -rank <= axis < rank:
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    return shape, rank, axis % rank


def axes_of(ctx: ExportContext, index: int) -> list[int] | None:
    """Axes given as input ``index`` (opset 13+) or as the ``axes`` attribute; None when absent."""
    if ctx.has_input(index):
        return list(_ints(ctx.const(index)))
    value = ctx.attr("axes")
    return None if value is None else [int(a) for a in value]


# The rules for the other op families register themselves on import.
from engine.formats.mindir import (  # noqa: E402,F401
    export_ops_act,
    export_ops_array,
    export_ops_attention,
    export_ops_loss,
    export_ops_math,
    export_ops_misc,
    export_ops_nn,
    export_ops_norm,
    export_ops_qconv,
    export_ops_resize,
    export_ops_rnn,
)
