"""ONNX -> MindIR rules for normalizations: BatchNorm, LayerNorm (with Mean/InvStdDev), RMS, Instance, Group, Lp, LRN, MVN.

LayerNormalization with one float32 output maps to MindSpore's LayerNorm; every other case
is spelled out (mean, centred variance, Rsqrt) in the stash type ONNX names (float32), so
the optional Mean and InvStdDev outputs are exact too.
"""

from __future__ import annotations

import numpy as np

from engine.formats.mindir.export_ops import NCHW, cast_to, static_axis
from engine.formats.mindir.writer import ExportContext, exports


@exports("BatchNormalization")
def batch_norm(ctx: ExportContext):
    if ctx.attr("training_mode", 0) or any(o for o in ctx.node.output[1:]):
        raise ctx.fail("training-mode BatchNormalization")
    shape = ctx.shape(0)
    if shape is None or len(shape) != 4:
        return _batch_norm_spelled(ctx, shape)
    ins = [ctx.tensor(i) for i in range(5)]
    y = ctx.call("BatchNorm", ins + [False, float(ctx.attr("epsilon", 1e-5)), float(ctx.attr("momentum", 0.9)), NCHW])
    return ctx.item(y, 0)


def _batch_norm_spelled(ctx: ExportContext, shape):
    """(x - mean) / sqrt(var + eps) * scale + B with per-channel vectors reshaped to [C, 1, ...]."""
    if shape is None or len(shape) < 2:
        raise ctx.fail("needs a static input of rank >= 2")
    per_channel = (shape[1],) + (1,) * (len(shape) - 2)
    scale, bias, mean, var = (ctx.call("Reshape", [ctx.tensor(i), per_channel]) for i in range(1, 5))
    eps = np.array(float(ctx.attr("epsilon", 1e-5)), ctx.dtype(0) or np.float32)
    inv = ctx.call("Rsqrt", [ctx.call("Add", [var, eps])])
    y = ctx.call("Mul", [ctx.call("Sub", [ctx.tensor(0), mean]), ctx.call("Mul", [inv, scale])])
    return ctx.call("Add", [y, bias])


def _stats(ctx: ExportContext, x: str, axes: tuple[int, ...], eps: float, dtype) -> tuple[str, str, str]:
    """(mean, centred x, 1/sqrt(var + eps)) over ``axes``, kept as broadcastable dims."""
    mean = ctx.call("ReduceMean", [x, axes, True])
    centred = ctx.call("Sub", [x, mean])
    var = ctx.call("ReduceMean", [ctx.call("Mul", [centred, centred]), axes, True])
    inv = ctx.call("Rsqrt", [ctx.call("Add", [var, np.array(eps, dtype)])])
    return mean, centred, inv


def _stash(ctx: ExportContext) -> tuple[str, np.dtype, np.dtype]:
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    stash = np.dtype(np.float32) if int(ctx.attr("stash_type", 1)) == 1 and dtype.kind == "f" else dtype
    x = ctx.tensor(0)
    return (cast_to(ctx, x, stash) if stash != dtype else x), dtype, stash


@exports("LayerNormalization")
def layer_norm(ctx: ExportContext):
    shape, rank, axis = static_axis(ctx)
    eps = float(ctx.attr("epsilon", 1e-5))
    extra = [o for o in ctx.node.output[1:] if o]
    if not extra and ctx.dtype(0) == np.float32 and ctx.shape(1) == shape[axis:]:
        beta = ctx.tensor(2) if ctx.has_input(2) else ctx.w.builder.constant(np.zeros(shape[axis:], np.float32))
        y = ctx.call("LayerNorm", [ctx.tensor(0), ctx.tensor(1), beta, axis, axis, eps])
        return ctx.item(y, 0)
    x, dtype, stash = _stash(ctx)
    mean, centred, inv = _stats(ctx, x, tuple(range(axis, rank)), eps, stash)
    y = ctx.call("Mul", [centred, inv])
    if stash != dtype:
        y = cast_to(ctx, y, dtype)
    y = ctx.call("Mul", [y, ctx.tensor(1)])
    if ctx.has_input(2):
        y = ctx.call("Add", [y, ctx.tensor(2)])
    return [y, mean, inv]


@exports("RMSNormalization")
def rms_norm(ctx: ExportContext):
    shape, rank, axis = static_axis(ctx)
    x, dtype, stash = _stash(ctx)
    square = ctx.call("ReduceMean", [ctx.call("Mul", [x, x]), tuple(range(axis % rank, rank)), True])
    inv = ctx.call("Rsqrt", [ctx.call("Add", [square, np.array(float(ctx.attr("epsilon", 1e-5)), stash)])])
    y = ctx.call("Mul", [x, inv])
    if stash != dtype:
        y = cast_to(ctx, y, dtype)
    return ctx.call("Mul", [y, ctx.tensor(1)])


@exports("InstanceNormalization")
def instance_norm(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None or len(shape) < 3:
        raise ctx.fail("needs a static input of rank >= 3")
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    _, centred, inv = _stats(ctx, ctx.tensor(0), tuple(range(2, len(shape))), float(ctx.attr("epsilon", 1e-5)), dtype)
    per_channel = (shape[1],) + (1,) * (len(shape) - 2)
    scale, bias = (ctx.call("Reshape", [ctx.tensor(i), per_channel]) for i in (1, 2))
    return ctx.call("Add", [ctx.call("Mul", [ctx.call("Mul", [centred, inv]), scale]), bias])


@exports("GroupNormalization")
def group_norm(ctx: ExportContext):
    shape = ctx.shape(0)
    groups = int(ctx.attr("num_groups", 0))
    if shape is None or len(shape) < 3 or groups <= 0 or shape[1] % groups:
        raise ctx.fail(f"needs a static input of rank >= 3 whose channels divide into {groups} groups")
    n, c = shape[:2]
    x, dtype, stash = _stash(ctx)
    grouped = ctx.call("Reshape", [x, (n, groups, -1)])
    _, centred, inv = _stats(ctx, grouped, (2,), float(ctx.attr("epsilon", 1e-5)), stash)
    y = ctx.call("Mul", [centred, inv])
    if stash != dtype:
        y = cast_to(ctx, y, dtype)
    opset = next((o.version for o in ctx.w.onnx.opset_import if o.domain in ("", "ai.onnx")), 21)
    if opset < 21:  # opset 18: scale and bias per group
        per_group = (groups, 1)
        scale, bias = (ctx.call("Reshape", [ctx.tensor(i), per_group]) for i in (1, 2))
        y = ctx.call("Add", [ctx.call("Mul", [y, scale]), bias])
        return ctx.call("Reshape", [y, tuple(shape)])
    y = ctx.call("Reshape", [y, tuple(shape)])
    per_channel = (c,) + (1,) * (len(shape) - 2)
    scale, bias = (ctx.call("Reshape", [ctx.tensor(i), per_channel]) for i in (1, 2))
    return ctx.call("Add", [ctx.call("Mul", [y, scale]), bias])


@exports("LpNormalization")
def lp_norm(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    axis = int(ctx.attr("axis", -1)) % max(len(shape), 1)
    p = int(ctx.attr("p", 2))
    x = ctx.tensor(0)
    if p == 1:
        norm = ctx.call("ReduceSum", [ctx.call("Abs", [x]), (axis,), True, False])
    elif p == 2:
        norm = ctx.call("Sqrt", [ctx.call("ReduceSum", [ctx.call("Mul", [x, x]), (axis,), True, False])])
    else:
        raise ctx.fail(f"p={p}")
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    zero = ctx.call("Equal", [norm, np.array(0, dtype)])
    norm = ctx.call("Select", [zero, ctx.call("OnesLike", [norm]), norm])  # ONNX: a zero vector stays zero
    return ctx.call("RealDiv", [x, norm])



@exports("LRN")
def lrn(ctx: ExportContext):
    """x / (bias + alpha / size * sum of squares over the channel window) ** beta, spelled out.

    The window (``floor((size-1)/2)`` channels before, ``ceil((size-1)/2)`` after, so even
    sizes too) is a sum of shifted slices of the zero-padded squares.
    """
    shape = ctx.shape(0)
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    if shape is None or len(shape) < 3:
        raise ctx.fail("needs a static input of rank >= 3")
    if dtype.kind != "f":
        raise ctx.fail(f"LRN of {dtype}")
    size = int(ctx.attr("size", 0))
    if size <= 0:
        raise ctx.fail(f"size {size} must be positive")
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    # Channels past either end are zeros, so a window wider than the channels sums the same when
    # clipped to them (a fuzzed size of 10^8 asked for 23 GiB of padding and 10^8 slices).
    channels = shape[1]
    before, after = min(before, channels - 1), min(after, channels - 1)
    x = ctx.tensor(0)
    square = ctx.call("Mul", [x, x])
    parts = [square]
    if before:
        parts.insert(0, ctx.w.builder.constant(np.zeros([shape[0], before, *shape[2:]], dtype)))
    if after:
        parts.append(ctx.w.builder.constant(np.zeros([shape[0], after, *shape[2:]], dtype)))
    padded = ctx.call("Concat", [ctx.make_tuple(parts), 1]) if len(parts) > 1 else square
    rank = len(shape)
    total = None
    for k in range(before + after + 1):
        begin, end = [0] * rank, list(shape)
        begin[1], end[1] = k, k + channels
        part = ctx.call("StridedSlice", [padded, tuple(begin), tuple(end), (1,) * rank, 0, 0, 0, 0, 0])
        total = part if total is None else ctx.call("Add", [total, part])
    alpha, beta, bias = (float(ctx.attr(n, d)) for n, d in (("alpha", 1e-4), ("beta", 0.75), ("bias", 1.0)))
    base = ctx.call("Add", [ctx.call("Mul", [total, np.array(alpha / size, dtype)]), np.array(bias, dtype)])
    return ctx.call("RealDiv", [x, ctx.call("Pow", [base, np.array(beta, dtype)])])


@exports("MeanVarianceNormalization")
def mean_variance_norm(ctx: ExportContext):
    """ONNX's function body: (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9) over ``axes``."""
    shape = ctx.shape(0)
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    if dtype.kind != "f":
        raise ctx.fail(f"MeanVarianceNormalization of {dtype}")
    rank = len(shape)
    axes = [int(a) for a in ctx.attr("axes", [0, 2, 3])]
    if any(not -rank <= a < rank for a in axes):
        raise ctx.fail(f"axes {axes} out of range for rank {rank}")
    axes_t = tuple(sorted({a % rank for a in axes}))
    x = ctx.tensor(0)
    mean = ctx.call("ReduceMean", [x, axes_t, True])
    mean_of_squares = ctx.call("ReduceMean", [ctx.call("Mul", [x, x]), axes_t, True])
    std = ctx.call("Sqrt", [ctx.call("Sub", [mean_of_squares, ctx.call("Mul", [mean, mean])])])
    return ctx.call("RealDiv", [ctx.call("Sub", [x, mean]), ctx.call("Add", [std, np.array(1e-9, dtype)])])
