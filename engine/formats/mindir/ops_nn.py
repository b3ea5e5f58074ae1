"""Lowering rules for MindSpore neural-network primitives: convolution, pooling, norms, activations."""

from __future__ import annotations

import math

import numpy as np

from engine.formats.mindir.lower import NodeContext, op

# MindSpore's PadMode enum, for files that store pad_mode as an int.
_PAD_MODES = {0: "pad", 1: "same", 2: "valid"}
# MindSpore's Format enum (NCHW=0, NHWC=1) for PRIMITIVE_FUNCTION operands.
_FORMATS = {0: "NCHW", 1: "NHWC", 2: "NHWC4", 3: "HWKC", 4: "HWCK", 5: "KCHW", 6: "CKHW"}


def _pad_mode(value: object) -> str:
    if isinstance(value, int):
        return _PAD_MODES.get(value, "pad")
    return str(value or "valid").lower()


def _data_format(value: object) -> str:
    if isinstance(value, int):
        return _FORMATS.get(value, "NCHW")
    return str(value or "NCHW").upper()


def _pair(value: object, rank: int = 2) -> list[int]:
    """MindSpore stores kernel/stride as an int, a pair, or a 4-tuple in NCHW order."""
    if isinstance(value, (int, np.integer)):
        return [int(value)] * rank
    values = [int(v) for v in value]  # type: ignore[union-attr]
    return values[-rank:] if len(values) > rank else values


def _require_nchw(ctx: NodeContext, fmt_value: object) -> None:
    if _data_format(fmt_value) != "NCHW":
        raise ctx.fail(f"data format {_data_format(fmt_value)} is not supported (only NCHW)")


def _conv_pads(ctx: NodeContext, mode: str) -> dict[str, object]:
    if mode == "same":
        return {"auto_pad": "SAME_UPPER"}
    if mode == "valid":
        return {"pads": [0, 0, 0, 0]}
    pad = ctx.attr("pad_list") or ctx.attr("pad") or (0, 0, 0, 0)
    pad = [int(p) for p in (pad if isinstance(pad, (tuple, list)) else [pad] * 4)]
    if len(pad) == 2:
        pad = [pad[0], pad[0], pad[1], pad[1]]
    top, bottom, left, right = pad
    return {"pads": [top, left, bottom, right]}


@op("Conv2D")
def conv2d(ctx: NodeContext):
    """Conv2D(x, w) -> Conv; pad_list is (top, bottom, left, right), ONNX wants begins then ends."""
    _require_nchw(ctx, ctx.attr("format", "NCHW"))
    group = int(ctx.attr("group", ctx.attr("groups", 1)))
    pads = _conv_pads(ctx, _pad_mode(ctx.attr("pad_mode", "valid")))
    out = ctx.emit(
        "Conv", [ctx.tensor(0), ctx.tensor(1)],
        kernel_shape=_pair(ctx.attr("kernel_size")), strides=_pair(ctx.attr("stride", 1)),
        dilations=_pair(ctx.attr("dilation", 1)), group=group, **pads,
    )
    if not ctx.node.out_types:  # no type in the file: the rank is still 4 (a BiasAdd after it needs it)
        ctx.lo.types.setdefault(out, ([-1] * 4, ctx.dtype(0)))
    return out


@op("Conv2DTranspose", "Conv2DBackpropInput")
def conv2d_transpose(ctx: NodeContext):
    """Conv2DTranspose(dout, w, input_size) -> ConvTranspose with the stated output shape."""
    _require_nchw(ctx, ctx.attr("format", "NCHW"))
    out_shape = ctx.out_shape()
    mode = _pad_mode(ctx.attr("pad_mode", "valid"))
    attrs: dict[str, object] = {
        "kernel_shape": _pair(ctx.attr("kernel_size")), "strides": _pair(ctx.attr("stride", 1)),
        "dilations": _pair(ctx.attr("dilation", 1)), "group": int(ctx.attr("group", 1)),
    }
    if out_shape and all(d > 0 for d in out_shape):
        attrs["output_shape"] = out_shape[2:]
        if mode == "pad":
            attrs.update(_conv_pads(ctx, mode))
    else:
        attrs.update(_conv_pads(ctx, mode))
    return ctx.emit("ConvTranspose", [ctx.tensor(0), ctx.tensor(1)], **attrs)


def _pool(ctx: NodeContext, onnx_op: str):
    _require_nchw(ctx, ctx.arg(4, "format", ctx.attr("data_format", "NCHW")))
    kernel = _pair(ctx.arg(1, "kernel_size"))
    strides = _pair(ctx.arg(2, "strides", 1))
    mode = _pad_mode(ctx.arg(3, "pad_mode", "valid"))
    attrs: dict[str, object] = {"kernel_shape": kernel, "strides": strides}
    if mode == "same":
        attrs["auto_pad"] = "SAME_UPPER"
    elif mode == "pad":
        pad = ctx.attr("pad_list") or (0, 0, 0, 0)
        attrs["pads"] = [int(pad[0]), int(pad[2]), int(pad[1]), int(pad[3])]
    if onnx_op == "AveragePool":
        attrs["count_include_pad"] = 0
    return ctx.emit(onnx_op, [ctx.tensor(0)], **attrs)


@op("MaxPool")
def max_pool(ctx: NodeContext):
    return _pool(ctx, "MaxPool")


@op("AvgPool")
def avg_pool(ctx: NodeContext):
    """AvgPool; MindSpore's SAME padding averages over valid elements only (count_include_pad=0)."""
    return _pool(ctx, "AveragePool")


@op("AdaptiveAvgPool2D")
def adaptive_avg_pool(ctx: NodeContext):
    size = ctx.arg(1, "output_size")
    size = [size] * 2 if isinstance(size, int) else list(size)
    if all(s == 1 for s in size):
        return ctx.emit("GlobalAveragePool", [ctx.tensor(0)])
    in_shape = ctx.shape(0)
    if not in_shape or any(d <= 0 for d in in_shape[2:]) or any(d % s for d, s in zip(in_shape[2:], size)):
        raise ctx.fail(f"output size {size} must divide the static input size {in_shape}")
    kernel = [d // s for d, s in zip(in_shape[2:], size)]
    return ctx.emit("AveragePool", [ctx.tensor(0)], kernel_shape=kernel, strides=kernel)


@op("BatchNorm")
def batch_norm(ctx: NodeContext):
    """BatchNorm(x, scale, bias, mean, variance, is_training, epsilon, momentum, format) in eval mode.

    MindSpore returns (y, batch_mean, batch_variance, reserve_1, reserve_2); inference uses y
    only, the others are the moving statistics passed through.
    """
    if ctx.arg(5, "is_training", False):
        raise ctx.fail("training-mode BatchNorm cannot be exported; put the network in eval mode (set_train(False))")
    _require_nchw(ctx, ctx.arg(8, "format", ctx.attr("data_format", "NCHW")))
    eps = float(ctx.arg(6, "epsilon", 1e-5))
    ins = [ctx.tensor(i) for i in range(5)]
    y = same_type(ctx, ctx.emit("BatchNormalization", ins, epsilon=eps))
    return (y, ins[3], ins[4], ins[3], ins[4])


@op("LayerNorm")
def layer_norm(ctx: NodeContext):
    """LayerNorm(x, gamma, beta, begin_norm_axis, begin_params_axis, epsilon) -> (y, mean, rstd)."""
    axis = int(ctx.arg(3, "begin_norm_axis", -1))
    params_axis = int(ctx.arg(4, "begin_params_axis", -1))
    eps = float(ctx.arg(5, "epsilon", 1e-7))
    rank = len(ctx.shape(0) or [])
    if rank and (axis % rank) != (params_axis % rank):
        raise ctx.fail(f"begin_norm_axis {axis} differs from begin_params_axis {params_axis}")
    y, mean, inv_std = ctx.emit("LayerNormalization", [ctx.tensor(0), ctx.tensor(1), ctx.tensor(2)],
                                outputs=3, axis=axis, epsilon=eps)
    return (same_type(ctx, y), mean, inv_std)


@op("BiasAdd")
def bias_add(ctx: NodeContext):
    """BiasAdd(x, b, format): add b along the channel axis (1 for NCHW, last for NHWC)."""
    fmt = _data_format(ctx.arg(2, "format", ctx.attr("data_format", "NCHW")))
    shape = ctx.shape(0)
    bias = ctx.tensor(1)
    if fmt.startswith("NC") and shape is not None and len(shape) > 2:
        axes = ctx.const_tensor(np.arange(1, len(shape) - 1, dtype=np.int64), hint="axes")
        bias = ctx.emit("Unsqueeze", [bias, axes], final=False, suffix="bias_unsqueeze")
    elif fmt.startswith("NC") and shape is None:
        raise ctx.fail("input rank unknown; cannot place the bias on the channel axis")
    return ctx.emit("Add", [ctx.tensor(0), bias])


@op("Dense")
def dense(ctx: NodeContext):
    """Dense(x, w, b): x @ w.T + b, with w kept in MindSpore's [out, in] layout."""
    x, w = ctx.tensor(0), ctx.tensor(1)
    has_bias = ctx.num_inputs > 2 and ctx.value(2) is not None and not (ctx.is_const(2) and ctx.const(2) is None)
    if len(ctx.shape(0) or []) == 2:
        ins = [x, w] + ([ctx.tensor(2)] if has_bias else [])
        return ctx.emit("Gemm", ins, transB=1)
    wt = ctx.emit("Transpose", [w], final=False, suffix="weight_t", perm=[1, 0])
    y = ctx.emit("MatMul", [x, wt], final=not has_bias, suffix="" if not has_bias else "matmul")
    return ctx.emit("Add", [y, ctx.tensor(2)]) if has_bias else y


def same_type(ctx: NodeContext, name: str, i: int = 0) -> str:
    """State that ``name`` has input ``i``'s shape and dtype: a tuple-valued primitive's file
    entry carries no types, and later rules (a Resize, a MatMul) need the rank."""
    if name not in ctx.lo.types and ctx.shape(i) is not None:
        ctx.lo.types[name] = (ctx.shape(i), ctx.dtype(i))
    return name


def _unary(onnx_op: str, **attrs):
    def rule(ctx: NodeContext):
        return ctx.emit(onnx_op, [ctx.tensor(0)], **attrs)

    return rule


for _ms, _onnx in {
    "ReLU": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Softsign": "Softsign", "Softplus": "Softplus",
    "HSwish": "HardSwish", "Erf": "Erf", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Neg": "Neg", "Abs": "Abs",
    "Floor": "Floor", "Ceil": "Ceil", "Reciprocal": "Reciprocal", "Sin": "Sin", "Cos": "Cos", "Sign": "Sign",
    "Round": "Round", "LogicalNot": "Not", "IsNan": "IsNaN",
}.items():
    op(_ms)(_unary(_onnx))

op("HSigmoid")(_unary("HardSigmoid", alpha=1.0 / 6.0, beta=0.5))


@op("ReLU6")
def relu6(ctx: NodeContext):
    dtype = ctx.dtype(0) or np.float32
    lo, hi = ctx.const_tensor(np.array(0, dtype), hint="min"), ctx.const_tensor(np.array(6, dtype), hint="max")
    return ctx.emit("Clip", [ctx.tensor(0), lo, hi])


@op("LeakyReLU")
def leaky_relu(ctx: NodeContext):
    return ctx.emit("LeakyRelu", [ctx.tensor(0)], alpha=float(ctx.arg(1, "alpha", 0.2)))


@op("Elu")
def elu(ctx: NodeContext):
    return ctx.emit("Elu", [ctx.tensor(0)], alpha=float(ctx.arg(1, "alpha", 1.0)))


@op("PReLU")
def prelu(ctx: NodeContext):
    slope = ctx.tensor(1)
    shape = ctx.shape(0)
    if shape is not None and len(shape) > 2:
        axes = ctx.const_tensor(np.arange(1, len(shape) - 1, dtype=np.int64), hint="axes")
        slope = ctx.emit("Unsqueeze", [slope, axes], final=False, suffix="slope_unsqueeze")
    return ctx.emit("PRelu", [ctx.tensor(0), slope])


@op("Mish")
def mish(ctx: NodeContext):
    """Mish = x * tanh(softplus(x)); ONNX's Mish operator needs opset 18 (the graph declares 17)."""
    x = ctx.tensor(0)
    soft = ctx.emit("Softplus", [x], final=False, suffix="softplus")
    return ctx.emit("Mul", [x, ctx.emit("Tanh", [soft], final=False, suffix="tanh")])


@op("SiLU")
def silu(ctx: NodeContext):
    x = ctx.tensor(0)
    s = ctx.emit("Sigmoid", [x], final=False, suffix="sigmoid")
    return ctx.emit("Mul", [x, s])


@op("GeLU", "FastGeLU")
def gelu(ctx: NodeContext):
    """MindSpore's GeLU is the tanh approximation: 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)));
    FastGeLU is x * sigmoid(1.702x)."""
    x = ctx.tensor(0)
    dtype = ctx.dtype(0) or np.float32
    c = lambda v, h: ctx.const_tensor(np.array(v, dtype), hint=h)  # noqa: E731
    if ctx.node.op_type == "FastGeLU":
        s = ctx.emit("Sigmoid", [ctx.emit("Mul", [x, c(1.702, "k")], final=False, suffix="scale")], final=False, suffix="sigmoid")
        return ctx.emit("Mul", [x, s])
    x3 = ctx.emit("Mul", [ctx.emit("Mul", [x, x], final=False, suffix="x2"), x], final=False, suffix="x3")
    inner = ctx.emit("Add", [x, ctx.emit("Mul", [x3, c(0.044715, "a")], final=False, suffix="ax3")], final=False, suffix="inner")
    t = ctx.emit("Tanh", [ctx.emit("Mul", [inner, c(math.sqrt(2.0 / math.pi), "k")], final=False, suffix="scaled")], final=False, suffix="tanh")
    half_x = ctx.emit("Mul", [x, c(0.5, "half")], final=False, suffix="half_x")
    return ctx.emit("Mul", [half_x, ctx.emit("Add", [t, c(1.0, "one")], final=False, suffix="one_plus")])


def _axis(value: object) -> int:
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"expected one axis, got {value}")
        value = value[0]
    return int(value)  # type: ignore[arg-type]


@op("Softmax")
def softmax(ctx: NodeContext):
    return ctx.emit("Softmax", [ctx.tensor(0)], axis=_axis(ctx.arg(1, "axis", -1)))


@op("LogSoftmax")
def log_softmax(ctx: NodeContext):
    return ctx.emit("LogSoftmax", [ctx.tensor(0)], axis=_axis(ctx.arg(1, "axis", -1)))


@op("Dropout")
def dropout(ctx: NodeContext):
    """Dropout is the identity at inference; MindSpore returns (output, mask)."""
    x = same_type(ctx, ctx.emit("Identity", [ctx.tensor(0)]))
    return (x, x)


@op("L2Normalize")
def l2_normalize(ctx: NodeContext):
    """L2Normalize(x; axis, epsilon) = x / sqrt(max(sum(x^2 over axis), epsilon)), per MindSpore's definition."""
    axes = ctx.attr("axis", (0,))
    axes = [int(a) for a in (axes if isinstance(axes, (tuple, list)) else [axes])]
    eps = float(ctx.attr("epsilon", 1e-4))
    x = ctx.tensor(0)
    dtype = ctx.dtype(0) or np.float32
    ss = ctx.emit("ReduceSumSquare", [x], final=False, suffix="sum_sq", axes=axes, keepdims=1)
    clamped = ctx.emit("Max", [ss, ctx.const_tensor(np.array(eps, dtype), hint="eps")], final=False, suffix="clamp")
    return ctx.emit("Div", [x, ctx.emit("Sqrt", [clamped], final=False, suffix="norm")])


@op("LpNorm")
def lp_norm(ctx: NodeContext):
    """LpNorm(x; axis, p, keep_dims, epsilon) = max((sum |x|^p over axis)^(1/p), epsilon)."""
    axes = ctx.attr("axis", (0,))
    axes = [int(a) for a in (axes if isinstance(axes, (tuple, list)) else [axes])]
    p = int(ctx.attr("p", 2))
    keep = int(bool(ctx.attr("keep_dims", False)))
    eps = float(ctx.attr("epsilon", 1e-12))
    dtype = ctx.dtype(0) or np.float32
    x = ctx.tensor(0)
    if p == 1:
        norm = ctx.emit("ReduceL1", [x], final=False, suffix="norm", axes=axes, keepdims=keep)
    elif p == 2:
        norm = ctx.emit("ReduceL2", [x], final=False, suffix="norm", axes=axes, keepdims=keep)
    elif p > 2:
        powered = ctx.emit("Pow", [ctx.emit("Abs", [x], final=False, suffix="abs"),
                                   ctx.const_tensor(np.array(p, dtype), hint="p")], final=False, suffix="pow")
        total = ctx.emit("ReduceSum", [powered, ctx.const_tensor(np.array(axes, np.int64), hint="axes")],
                         final=False, suffix="sum", keepdims=keep)
        inv_p = ctx.const_tensor(np.array(1.0 / p, dtype), hint="inv_p")
        norm = ctx.emit("Pow", [total, inv_p], final=False, suffix="norm")
    else:
        raise ctx.fail(f"p={p} is not lowered (only p >= 1)")
    return ctx.emit("Max", [norm, ctx.const_tensor(np.array(eps, dtype), hint="eps")])
