"""ONNX -> MindSpore primitive rules for the MindIR writer, in MindSpore 2.x's own encodings.

Each rule returns the MindIR value for the ONNX node's first output (or a list, one per
output); a rule may return a numpy array for a value it folds at export time (Shape of a
static tensor). Operand order and constant types copy files MindSpore wrote itself.
"""

from __future__ import annotations

import math

import numpy as np

from engine.formats.mindir.values import TYPE_IDS
from engine.formats.mindir.writer import ExportContext, exports

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


def _spatial(ctx: ExportContext) -> list[int]:
    shape = ctx.shape(0)
    if shape is None or len(shape) != 4:
        raise ctx.fail("needs a static 4-D NCHW input")
    return shape[2:]


@exports("Conv")
def conv(ctx: ExportContext):
    weight_shape = ctx.shape(1)
    if weight_shape is None or len(weight_shape) != 4:
        raise ctx.fail("only 2-D convolution with a static weight is supported")
    kernel = list(ctx.attr("kernel_shape", weight_shape[2:]))
    strides = list(ctx.attr("strides", [1, 1]))
    dilations = list(ctx.attr("dilations", [1, 1]))
    if not (len(kernel) == len(strides) == len(dilations) == 2):
        raise ctx.fail(f"kernel_shape {kernel}, strides {strides} and dilations {dilations} must each have 2 values")
    check_window(ctx, kernel, strides, dilations)
    pads = _explicit_pads(ctx, _spatial(ctx), kernel, strides, dilations)
    if len(pads) != 4:
        raise ctx.fail(f"pads {pads} must have 4 values")
    group = int(ctx.attr("group", 1))
    in_shape = ctx.shape(0)
    if group <= 0 or in_shape[1] % group or weight_shape[0] % group or in_shape[1] // group != weight_shape[1]:
        raise ctx.fail(f"group {group} does not fit input channels {in_shape[1]} and weight {weight_shape}")
    pad_list = (pads[0], pads[2], pads[1], pads[3])  # MindSpore: top, bottom, left, right
    attrs = {
        "kernel_size": tuple(kernel), "mode": 1, "out_channel": int(weight_shape[0]), "pad": pad_list,
        "pad_mode": "pad", "format": "NCHW", "pad_list": pad_list, "groups": group,
        "stride": (1, 1, *strides), "group": group, "dilation": (1, 1, *dilations),
        "input_names": ["x", "w"], "output_names": ["output"],
    }
    y = ctx.call("Conv2D", [ctx.tensor(0), ctx.tensor(1)], attrs=attrs, function=False, typed=True)
    if ctx.has_input(2):
        y = ctx.call("BiasAdd", [y, ctx.tensor(2), NCHW])
    return y


def _pool_kernel(ctx: ExportContext) -> tuple[list[int], list[int], list[int]]:
    kernel = list(ctx.attr("kernel_shape"))
    if len(kernel) != 2:
        raise ctx.fail("only 2-D pooling is supported")
    strides = list(ctx.attr("strides", [1, 1]))
    if ctx.attr("ceil_mode", 0):
        raise ctx.fail("ceil_mode pooling is not supported")
    if list(ctx.attr("dilations", [1, 1])) != [1, 1]:
        raise ctx.fail("dilated pooling is not supported")
    pads = _explicit_pads(ctx, _spatial(ctx), kernel, strides, [1, 1])
    return kernel, strides, pads


def _pad_mode_for(ctx: ExportContext, kernel, strides, pads) -> int:
    spatial = _spatial(ctx)
    if not any(pads):
        return PAD_VALID
    same = [_same_pads(s, k, st) for s, k, st in zip(spatial, kernel, strides)]
    if pads == [p[0] for p in same] + [p[1] for p in same]:
        return PAD_SAME
    raise ctx.fail(f"pads {pads} are neither VALID nor SAME, which MindSpore pooling requires")


@exports("MaxPool")
def max_pool(ctx: ExportContext):
    kernel, strides, pads = _pool_kernel(ctx)
    mode = _pad_mode_for(ctx, kernel, strides, pads)
    attrs = {"pad_mode": "SAME" if mode == PAD_SAME else "VALID", "kernel_size": (1, 1, *kernel),
             "format": "NCHW", "strides": (1, 1, *strides), "input_names": ["x"], "output_names": ["output"]}
    return ctx.call("MaxPool", [ctx.tensor(0)], attrs=attrs, function=False)


@exports("AveragePool")
def avg_pool(ctx: ExportContext):
    kernel, strides, pads = _pool_kernel(ctx)
    mode = _pad_mode_for(ctx, kernel, strides, pads)
    if mode == PAD_SAME and ctx.attr("count_include_pad", 0):
        raise ctx.fail("count_include_pad=1 with padding differs from MindSpore's AvgPool")
    return ctx.call("AvgPool", [ctx.tensor(0), tuple(kernel), tuple(strides), mode, NCHW])


@exports("GlobalAveragePool")
def global_avg_pool(ctx: ExportContext):
    rank = len(ctx.shape(0) or [0, 0, 0, 0])
    return ctx.call("ReduceMean", [ctx.tensor(0), tuple(range(2, rank)), True])


@exports("BatchNormalization")
def batch_norm(ctx: ExportContext):
    if ctx.attr("training_mode", 0):
        raise ctx.fail("training-mode BatchNormalization")
    ins = [ctx.tensor(i) for i in range(5)]
    y = ctx.call("BatchNorm", ins + [False, float(ctx.attr("epsilon", 1e-5)), float(ctx.attr("momentum", 0.9)), NCHW])
    return ctx.item(y, 0)


@exports("LayerNormalization")
def layer_norm(ctx: ExportContext):
    axis = int(ctx.attr("axis", -1))
    beta = ctx.tensor(2) if ctx.has_input(2) else ctx.w.builder.constant(np.zeros(ctx.shape(1), ctx.dtype(1)))
    y = ctx.call("LayerNorm", [ctx.tensor(0), ctx.tensor(1), beta, axis, axis, float(ctx.attr("epsilon", 1e-5))])
    return ctx.item(y, 0)


def scalar(ctx: ExportContext, value: float, like: int = 0) -> np.ndarray:
    """A 0-d constant of ``value`` in the dtype of input ``like``."""
    return np.array(value, dtype=ctx.dtype(like) or np.float32)


def axes_of(ctx: ExportContext, index: int) -> list[int] | None:
    """Axes given as input ``index`` (opset 13+) or as the ``axes`` attribute; None when absent."""
    if ctx.has_input(index):
        return list(_ints(ctx.const(index)))
    value = ctx.attr("axes")
    return None if value is None else [int(a) for a in value]


# The rules for the other op families register themselves on import.
from engine.formats.mindir import export_ops_array, export_ops_math  # noqa: E402,F401
