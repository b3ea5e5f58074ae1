"""ONNX -> MindIR rules for activations and elementwise tests, spelled out where MindSpore's kernels differ."""

from __future__ import annotations

import math

import numpy as np

from engine.formats.mindir.export_ops import out_shape, scalar
from engine.formats.mindir.writer import ExportContext, exports


@exports("IsNaN")
def is_nan(ctx: ExportContext):
    x = ctx.tensor(0)
    return ctx.call("NotEqual", [x, x])


@exports("IsInf")
def is_inf(ctx: ExportContext):
    x = ctx.tensor(0)
    pos, neg = int(ctx.attr("detect_positive", 1)), int(ctx.attr("detect_negative", 1))
    inf = scalar(ctx, np.inf)
    if pos and neg:
        return ctx.call("Equal", [ctx.call("Abs", [x]), inf])
    if pos:
        return ctx.call("Equal", [x, inf])
    if neg:
        return ctx.call("Equal", [x, scalar(ctx, -np.inf)])
    shape = out_shape(ctx)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    return np.zeros(shape, np.bool_)


@exports("HardSigmoid")
def hard_sigmoid(ctx: ExportContext):
    alpha, beta = float(ctx.attr("alpha", 0.2)), float(ctx.attr("beta", 0.5))
    y = ctx.call("Add", [ctx.call("Mul", [ctx.tensor(0), scalar(ctx, alpha)]), scalar(ctx, beta)])
    return ctx.call("Minimum", [ctx.call("Maximum", [y, scalar(ctx, 0.0)]), scalar(ctx, 1.0)])


def _select_positive(ctx: ExportContext, x: str, negative: str, threshold: float = 0.0) -> str:
    return ctx.call("Select", [ctx.call("Greater", [x, scalar(ctx, threshold)]), x, negative])


def _exp_minus_one(ctx: ExportContext, x: str) -> str:
    # exp(x) - 1 as ONNX's definitions (and reference) write it; MindSpore's Expm1 has no lowering back
    return ctx.call("Sub", [ctx.call("Exp", [x]), scalar(ctx, 1.0)])


@exports("Elu")
def elu(ctx: ExportContext):
    x = ctx.tensor(0)
    negative = ctx.call("Mul", [_exp_minus_one(ctx, x), scalar(ctx, float(ctx.attr("alpha", 1.0)))])
    return _select_positive(ctx, x, negative)


@exports("Selu")
def selu(ctx: ExportContext):
    x = ctx.tensor(0)
    alpha = float(ctx.attr("alpha", 1.67326319217681884765625))
    gamma = float(ctx.attr("gamma", 1.05070102214813232421875))
    negative = ctx.call("Mul", [_exp_minus_one(ctx, x), scalar(ctx, alpha)])
    return ctx.call("Mul", [_select_positive(ctx, x, negative), scalar(ctx, gamma)])


@exports("Celu")
def celu(ctx: ExportContext):
    x = ctx.tensor(0)
    alpha = float(ctx.attr("alpha", 1.0))
    negative = ctx.call("Mul", [_exp_minus_one(ctx, ctx.call("RealDiv", [x, scalar(ctx, alpha)])), scalar(ctx, alpha)])
    return _select_positive(ctx, x, negative)


@exports("ThresholdedRelu")
def thresholded_relu(ctx: ExportContext):
    x = ctx.tensor(0)
    return _select_positive(ctx, x, ctx.call("ZerosLike", [x]), float(ctx.attr("alpha", 1.0)))


@exports("Shrink")
def shrink(ctx: ExportContext):
    x = ctx.tensor(0)
    lambd, bias = float(ctx.attr("lambd", 0.5)), float(ctx.attr("bias", 0.0))
    if (ctx.dtype(0) or np.dtype(np.float32)).kind != "f":
        raise ctx.fail("Shrink on integer tensors")
    low = ctx.call("Less", [x, scalar(ctx, -lambd)])
    high = ctx.call("Greater", [x, scalar(ctx, lambd)])
    zero = ctx.call("ZerosLike", [x])
    y = ctx.call("Select", [high, ctx.call("Sub", [x, scalar(ctx, bias)]), zero])
    return ctx.call("Select", [low, ctx.call("Add", [x, scalar(ctx, bias)]), y])


@exports("Softsign")
def softsign(ctx: ExportContext):
    x = ctx.tensor(0)
    return ctx.call("RealDiv", [x, ctx.call("Add", [ctx.call("Abs", [x]), scalar(ctx, 1.0)])])


def _softplus(ctx: ExportContext, x: str) -> str:
    # log(1 + exp(x)) computed stably: max(x, 0) + log1p(exp(-|x|))
    tail = ctx.call("Log1p", [ctx.call("Exp", [ctx.call("Neg", [ctx.call("Abs", [x])])])])
    return ctx.call("Add", [ctx.call("Maximum", [x, scalar(ctx, 0.0)]), tail])


@exports("Softplus")
def softplus(ctx: ExportContext):
    return _softplus(ctx, ctx.tensor(0))


@exports("Mish")
def mish(ctx: ExportContext):
    x = ctx.tensor(0)
    return ctx.call("Mul", [x, ctx.call("Tanh", [_softplus(ctx, x)])])


@exports("Gelu")
def gelu(ctx: ExportContext):
    x = ctx.tensor(0)
    if ctx.attr("approximate", "none") == "tanh":
        inner = ctx.call("Mul", [ctx.call("Add", [x, ctx.call("Mul", [ctx.call("Pow", [x, scalar(ctx, 3.0)]), scalar(ctx, 0.044715)])]),
                                 scalar(ctx, math.sqrt(2 / math.pi))])
        half = ctx.call("Mul", [x, scalar(ctx, 0.5)])
        return ctx.call("Mul", [half, ctx.call("Add", [ctx.call("Tanh", [inner]), scalar(ctx, 1.0)])])
    erf = ctx.call("Erf", [ctx.call("Mul", [x, scalar(ctx, 1 / math.sqrt(2))])])
    return ctx.call("Mul", [ctx.call("Mul", [x, scalar(ctx, 0.5)]), ctx.call("Add", [erf, scalar(ctx, 1.0)])])


@exports("PRelu")
def prelu(ctx: ExportContext):
    x = ctx.tensor(0)
    return ctx.call("Select", [ctx.call("Less", [x, scalar(ctx, 0.0)]), ctx.call("Mul", [x, ctx.tensor(1)]), x])


@exports("LeakyRelu")
def leaky_relu(ctx: ExportContext):
    alpha = float(ctx.attr("alpha", 0.01))
    x = ctx.tensor(0)
    return ctx.call("Select", [ctx.call("Less", [x, scalar(ctx, 0.0)]), ctx.call("Mul", [x, scalar(ctx, alpha)]), x])


@exports("Swish")
def swish(ctx: ExportContext):
    """x * sigmoid(alpha * x), as ONNX's function body writes it."""
    x = ctx.tensor(0)
    alpha = float(ctx.attr("alpha", 1.0))
    inner = x if alpha == 1.0 else ctx.call("Mul", [x, scalar(ctx, alpha)])
    return ctx.call("Mul", [x, ctx.call("Sigmoid", [inner])])
