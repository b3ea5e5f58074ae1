"""ONNX ConvInteger and QLinearConv -> MindIR, exact: an im2col gather and a float64 matmul.

MindSpore's Conv2D has no float64 or integer CPU kernel, and float32 sums of 8-bit products
stop being exact past 2**24 (and a Winograd kernel would not be exact at all). So each
output's window is gathered from the zero-point-shifted input (padding reads a zero slot),
and one float64 (Batch)MatMul per group multiplies the windows by the shifted weights:
products of 8-bit values summed in float64 are exact integers. QLinearConv then requantizes
as ONNX Runtime does (see QLinearMatMul in export_ops_misc).
"""

from __future__ import annotations

import numpy as np

from engine.formats.mindir.export_ops import _explicit_pads, cast_to, check_window, out_shape
from engine.formats.mindir.export_ops_misc import _QUANT, _round_half_even
from engine.formats.mindir.export_ops_nn import window_reads
from engine.formats.mindir.writer import ExportContext, exports


def _per_channel(ctx: ExportContext, i: int, channels: int, rank: int, dtype) -> str:
    """Input ``i`` (a weight's zero point or scale) as ``dtype``, a vector made [M, 1, ...] to broadcast."""
    shape = ctx.shape(i) or []
    v = cast_to(ctx, ctx.tensor(i), dtype) if ctx.dtype(i) != np.dtype(dtype) else ctx.tensor(i)
    if len(shape) == 1 and shape[0] == channels and channels > 1:
        return ctx.call("Reshape", [v, (channels,) + (1,) * (rank - 1)])
    if int(np.prod(shape or [1])) != 1:
        raise ctx.fail(f"a zero point or scale of shape {shape} for {channels} output channels")
    return v


def _integer_conv(ctx: ExportContext, x_index: int, x_zp: int | None, w_index: int, w_zp: int | None) -> str:
    """sum over each window of (x - x_zp) * (w - w_zp), exactly, as float64 [N, M, *out]."""
    x_shape, w_shape, result = ctx.shape(x_index), ctx.shape(w_index), out_shape(ctx)
    if x_shape is None or w_shape is None or result is None or len(x_shape) != len(w_shape) or len(x_shape) < 3:
        raise ctx.fail("needs static input, weight and output shapes")
    if any((ctx.dtype(i) or np.dtype(np.float32)).name not in ("int8", "uint8") for i in (x_index, w_index)):
        raise ctx.fail(f"{ctx.node.op_type} of {ctx.dtype(x_index)} and {ctx.dtype(w_index)}")
    nd = len(x_shape) - 2
    n, c, spatial = x_shape[0], x_shape[1], x_shape[2:]
    m = w_shape[0]
    kernel = list(ctx.attr("kernel_shape", w_shape[2:]))
    strides = list(ctx.attr("strides", [1] * nd))
    dilations = list(ctx.attr("dilations", [1] * nd))
    if not (len(kernel) == len(strides) == len(dilations) == nd) or kernel != list(w_shape[2:]):
        raise ctx.fail(f"kernel_shape {kernel}, strides {strides} and dilations {dilations} for weight {w_shape}")
    check_window(ctx, kernel, strides, dilations)
    pads = _explicit_pads(ctx, spatial, kernel, strides, dilations)
    group = int(ctx.attr("group", 1))
    if group <= 0 or c % group or m % group or c // group != w_shape[1]:
        raise ctx.fail(f"group {group} does not fit input channels {c} and weight {w_shape}")
    out = result[2:]
    plane, size = int(np.prod(spatial)), int(np.prod(kernel))
    read, valid = window_reads((spatial, kernel, strides, dilations, pads[:nd], out))
    read = np.where(valid, read, plane)  # padding reads the zero slot after the plane
    windows = read.shape[0]
    x = cast_to(ctx, ctx.tensor(x_index), np.float64)
    if x_zp is not None and ctx.has_input(x_zp):
        if int(np.prod(ctx.shape(x_zp) or [1])) != 1:
            raise ctx.fail("a per-channel zero point for the input")
        x = ctx.call("Sub", [x, cast_to(ctx, ctx.tensor(x_zp), np.float64)])  # padding is x_zp: zero after this
    x = ctx.call("Concat", [ctx.make_tuple([ctx.call("Reshape", [x, (n, c, plane)]),
                                            ctx.w.builder.constant(np.zeros((n, c, 1), np.float64))]), 2])
    cols = ctx.call("Gather", [x, read.reshape(-1), 2, 0])  # [N, C, windows * size]
    cg = c // group
    cols = ctx.call("Reshape", [cols, (n, group, cg, windows, size)])
    cols = ctx.call("Transpose", [cols, (1, 0, 3, 2, 4)])  # [G, N, windows, Cg, size]
    cols = ctx.call("Reshape", [cols, (group, n * windows, cg * size)])
    w = cast_to(ctx, ctx.tensor(w_index), np.float64)
    if w_zp is not None and ctx.has_input(w_zp):
        w = ctx.call("Sub", [w, _per_channel(ctx, w_zp, m, len(w_shape), np.float64)])
    w = ctx.call("Transpose", [ctx.call("Reshape", [w, (group, m // group, cg * size)]), (0, 2, 1)])
    y = ctx.call("BatchMatMul", [cols, w, False, False])  # [G, N * windows, M/G]
    y = ctx.call("Reshape", [y, (group, n, windows, m // group)])
    y = ctx.call("Transpose", [y, (1, 0, 3, 2)])  # [N, G, M/G, windows]
    return ctx.call("Reshape", [y, (n, m, *out)])


@exports("ConvInteger")
def conv_integer(ctx: ExportContext):
    return cast_to(ctx, _integer_conv(ctx, 0, 2, 1, 3), np.int32)


@exports("QLinearConv")
def qlinear_conv(ctx: ExportContext):
    """The exact integer convolution plus the int32 bias, made float32, times the float32
    x_scale * w_scale / y_scale (per output channel when w_scale is a vector), rounded half to
    even, shifted by y_zero_point and saturated: ONNX Runtime's order of operations."""
    out = ctx.w.dtypes.get(ctx.node.output[0])
    if out is None or out.name not in ("int8", "uint8"):
        raise ctx.fail(f"QLinearConv to {out}")
    if any(ctx.dtype(i) != np.float32 for i in (1, 4, 6)):
        raise ctx.fail("scales other than float32")
    w_shape = ctx.shape(3) or []
    acc = _integer_conv(ctx, 0, 2, 3, 5)
    rank = len(w_shape)
    if ctx.has_input(8):
        acc = ctx.call("Add", [acc, ctx.call("Reshape", [cast_to(ctx, ctx.tensor(8), np.float64),
                                                         (w_shape[0],) + (1,) * (rank - 2)])])
    acc = cast_to(ctx, acc, np.float32)
    if int(np.prod(ctx.shape(1) or [1])) != 1 or int(np.prod(ctx.shape(6) or [1])) != 1:
        raise ctx.fail("a per-channel scale for the input or the output")
    w_scale = _per_channel(ctx, 4, w_shape[0], rank - 1, np.float32)
    scale = ctx.call("RealDiv", [ctx.call("Mul", [ctx.tensor(1), w_scale]), ctx.tensor(6)])
    y = _round_half_even(ctx, ctx.call("Mul", [acc, scale]), np.dtype(np.float32))
    if ctx.has_input(7):
        y = ctx.call("Add", [y, cast_to(ctx, ctx.tensor(7), np.float32)])
    lo, hi = _QUANT[out.name]
    y = ctx.call("Minimum", [ctx.call("Maximum", [y, np.array(lo, np.float32)]), np.array(hi, np.float32)])
    return cast_to(ctx, y, out)
