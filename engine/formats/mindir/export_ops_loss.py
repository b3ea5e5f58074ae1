"""ONNX -> MindIR rules for NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (spelled out).

loss[n, d...] = -input[n, target[n, d...], d...] * weight[target]; targets equal to
ignore_index contribute nothing (and no weight); "mean" divides by the summed weights.
"""

from __future__ import annotations

import numpy as np

from engine.formats.mindir.export_ops import cast_to, filled_like
from engine.formats.mindir.writer import ExportContext, exports


def _nll(ctx: ExportContext, x: str, x_shape: list[int], target_index: int, weight_index: int, dtype: np.dtype) -> str:
    target = ctx.tensor(target_index)
    if (ctx.dtype(target_index) or np.dtype(np.int64)) != np.int64:
        target = cast_to(ctx, target, np.int64)
    ignore = ctx.attr("ignore_index")
    mask = None
    if ignore is not None:
        mask = ctx.call("NotEqual", [target, np.array(int(ignore), np.int64)])
        target = ctx.call("Select", [mask, target, filled_like(ctx, "ZerosLike", target, ctx.shape(target_index), np.int64)])
    picked = ctx.call("GatherD", [x, 1, ctx.call("ExpandDims", [target, 1])])
    loss = ctx.call("Neg", [ctx.call("Squeeze", [picked, (1,)])])
    weight = None
    if ctx.has_input(weight_index):
        weight = ctx.call("Gather", [ctx.tensor(weight_index), target, 0, 0])
        loss = ctx.call("Mul", [loss, weight])
    if mask is not None:
        zeros = filled_like(ctx, "ZerosLike", loss, ctx.shape(target_index), dtype)
        loss = ctx.call("Select", [mask, loss, zeros])
        if weight is None:
            weight = filled_like(ctx, "OnesLike", loss, ctx.shape(target_index), dtype)
        weight = ctx.call("Select", [mask, weight, zeros])
    reduction = ctx.attr("reduction", "mean")
    if reduction == "none":
        return loss
    # every axis named (not "()"): the same in MindSpore, and readers need no rank to lower it
    every = tuple(range(len(ctx.shape(target_index) or x_shape[:1] + x_shape[2:])))
    total = ctx.call("ReduceSum", [loss, every, False, False])
    if reduction == "sum":
        return total
    if reduction != "mean":
        raise ctx.fail(f"reduction {reduction!r}")
    if weight is None:
        return ctx.call("ReduceMean", [loss, every, False])
    return ctx.call("RealDiv", [total, ctx.call("ReduceSum", [weight, every, False, False])])


@exports("NegativeLogLikelihoodLoss")
def nll_loss(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None or len(shape) < 2:
        raise ctx.fail("needs a static input of rank >= 2")
    return _nll(ctx, ctx.tensor(0), shape, 1, 2, ctx.dtype(0) or np.dtype(np.float32))


@exports("SoftmaxCrossEntropyLoss")
def softmax_cross_entropy(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None or len(shape) < 2:
        raise ctx.fail("needs a static input of rank >= 2")
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    x = ctx.tensor(0)
    work = np.dtype(np.float32) if dtype == np.float16 else dtype
    if work != dtype:
        x = cast_to(ctx, x, work)
    shifted = ctx.call("Sub", [x, ctx.call("ReduceMax", [x, (1,), True])])
    total = ctx.call("ReduceSum", [ctx.call("Exp", [shifted]), (1,), True, False])
    log_total = ctx.call("Log", [total], attrs={"shift": 0.0, "scale": 1.0, "cust_aicpu": "Log", "base": -1.0})
    log_prob = ctx.call("Sub", [shifted, log_total])
    loss = _nll(ctx, log_prob, shape, 1, 2, work)
    if work != dtype:
        loss, log_prob = cast_to(ctx, loss, dtype), cast_to(ctx, log_prob, dtype)
    return [loss, log_prob]
