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


def _same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
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
    pads = _explicit_pads(ctx, _spatial(ctx), kernel, strides, dilations)
    group = int(ctx.attr("group", 1))
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


_UNARY = {
    "Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Erf": "Erf", "Exp": "Exp", "Sqrt": "Sqrt", "Neg": "Neg",
    "Abs": "Abs", "Reciprocal": "Reciprocal", "Floor": "Floor", "Ceil": "Ceil", "HardSwish": "HSwish",
    "Sin": "Sin", "Cos": "Cos", "Sign": "Sign", "Not": "LogicalNot",
}


def _unary(ms_name: str):
    def rule(ctx: ExportContext):
        return ctx.call(ms_name, [ctx.tensor(0)])

    return rule


for _onnx, _ms in _UNARY.items():
    exports(_onnx)(_unary(_ms))


@exports("Log")
def log(ctx: ExportContext):
    attrs = {"shift": 0.0, "scale": 1.0, "cust_aicpu": "Log", "base": -1.0}
    return ctx.call("Log", [ctx.tensor(0)], attrs=attrs)


@exports("HardSigmoid")
def hard_sigmoid(ctx: ExportContext):
    if not (math.isclose(ctx.attr("alpha", 0.2), 1 / 6, rel_tol=1e-5) and math.isclose(ctx.attr("beta", 0.5), 0.5)):
        raise ctx.fail("only alpha=1/6, beta=0.5 (MindSpore's HSigmoid) is supported")
    return ctx.call("HSigmoid", [ctx.tensor(0)])


def _scalar(ctx: ExportContext, value: float, like: int = 0) -> np.ndarray:
    return np.array(value, dtype=ctx.dtype(like) or np.float32)


@exports("Clip")
def clip(ctx: ExportContext):
    lo = float(ctx.const(1).ravel()[0]) if ctx.has_input(1) else ctx.attr("min")
    hi = float(ctx.const(2).ravel()[0]) if ctx.has_input(2) else ctx.attr("max")
    if lo == 0.0 and hi == 6.0:
        return ctx.call("ReLU6", [ctx.tensor(0)])
    y = ctx.tensor(0)
    if lo is not None and lo > -3.0e38:
        y = ctx.call("Maximum", [y, _scalar(ctx, lo)])
    if hi is not None and hi < 3.0e38:
        y = ctx.call("Minimum", [y, _scalar(ctx, hi)])
    return y


@exports("LeakyRelu")
def leaky_relu(ctx: ExportContext):
    alpha = float(ctx.attr("alpha", 0.01))
    x = ctx.tensor(0)
    scaled = ctx.call("Mul", [_scalar(ctx, alpha), x])
    return ctx.call("Maximum" if alpha <= 1 else "Minimum", [x, scaled])


@exports("Softmax")
def softmax(ctx: ExportContext):
    return ctx.call("Softmax", [ctx.tensor(0), (int(ctx.attr("axis", -1)),)])


@exports("LogSoftmax")
def log_softmax(ctx: ExportContext):
    return ctx.call("LogSoftmax", [ctx.tensor(0), int(ctx.attr("axis", -1))])


_BINARY = {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "RealDiv", "Pow": "Pow", "Equal": "Equal",
           "Greater": "Greater", "Less": "Less", "GreaterOrEqual": "GreaterEqual", "LessOrEqual": "LessEqual",
           "And": "LogicalAnd", "Or": "LogicalOr"}


def _binary(ms_name: str):
    def rule(ctx: ExportContext):
        return ctx.call(ms_name, [ctx.tensor(0), ctx.tensor(1)])

    return rule


for _onnx, _ms in _BINARY.items():
    exports(_onnx)(_binary(_ms))


@exports("Max", "Min")
def max_min(ctx: ExportContext):
    name = "Maximum" if ctx.node.op_type == "Max" else "Minimum"
    y = ctx.tensor(0)
    for i in range(1, len(ctx.node.input)):
        y = ctx.call(name, [y, ctx.tensor(i)])
    return y


@exports("Where")
def where(ctx: ExportContext):
    return ctx.call("Select", [ctx.tensor(0), ctx.tensor(1), ctx.tensor(2)])


@exports("Gemm")
def gemm(ctx: ExportContext):
    """Gemm -> MatMul(a, b, transA, transB) [* alpha] then BiasAdd/Add of beta * C."""
    y = ctx.call("MatMul", [ctx.tensor(0), ctx.tensor(1), bool(ctx.attr("transA", 0)), bool(ctx.attr("transB", 0))],
                 typed=True)
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    if alpha != 1.0:
        y = ctx.call("Mul", [y, _scalar(ctx, alpha)], typed=True)
    if ctx.has_input(2):
        c = ctx.tensor(2)
        if beta != 1.0:
            c = ctx.call("Mul", [c, _scalar(ctx, beta)])
        c_shape = ctx.shape(2)
        y = ctx.call("BiasAdd", [y, c, NCHW]) if c_shape is not None and len(c_shape) == 1 else ctx.call("Add", [y, c])
    return y


@exports("MatMul")
def matmul(ctx: ExportContext):
    a_shape, b_shape = ctx.shape(0), ctx.shape(1)
    if a_shape is None or b_shape is None:
        raise ctx.fail("needs static input shapes")
    a, b = ctx.tensor(0), ctx.tensor(1)
    if len(a_shape) == 2 and len(b_shape) == 2:
        return ctx.call("MatMul", [a, b, False, False])
    if len(b_shape) == 2:  # [..., K] x [K, N]: fold the batch dims into rows
        flat = ctx.call("Reshape", [a, (-1, a_shape[-1])])
        y = ctx.call("MatMul", [flat, b, False, False])
        return ctx.call("Reshape", [y, tuple(a_shape[:-1]) + (b_shape[-1],)])
    if len(a_shape) != len(b_shape):
        raise ctx.fail(f"batched matmul of ranks {len(a_shape)} and {len(b_shape)}")
    return ctx.call("BatchMatMul", [a, b, False, False])


@exports("Reshape")
def reshape(ctx: ExportContext):
    shape = list(_ints(ctx.const(1)))
    in_shape = ctx.shape(0)
    if 0 in shape and not ctx.attr("allowzero", 0):
        if in_shape is None:
            raise ctx.fail("a 0 in the target shape needs the static input shape")
        shape = [in_shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return ctx.call("Reshape", [ctx.tensor(0), tuple(shape)])


@exports("Flatten")
def flatten(ctx: ExportContext):
    axis = int(ctx.attr("axis", 1))
    if axis == 1:
        return ctx.call("Flatten", [ctx.tensor(0)])
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    axis %= max(len(shape), 1)
    rows = int(np.prod(shape[:axis])) if axis else 1
    return ctx.call("Reshape", [ctx.tensor(0), (rows, -1)])


@exports("Transpose")
def transpose(ctx: ExportContext):
    perm = ctx.attr("perm")
    if perm is None:
        perm = list(range(len(ctx.shape(0) or [])))[::-1]
    return ctx.call("Transpose", [ctx.tensor(0), tuple(int(p) for p in perm)])


@exports("Gather")
def gather(ctx: ExportContext):
    return ctx.call("Gather", [ctx.tensor(0), ctx.tensor(1), int(ctx.attr("axis", 0)), 0])


@exports("Concat")
def concat(ctx: ExportContext):
    parts = [ctx.tensor(i) for i in range(len(ctx.node.input))]
    return ctx.call("Concat", [ctx.make_tuple(parts), int(ctx.attr("axis"))])


def _axes(ctx: ExportContext, index: int) -> list[int] | None:
    if ctx.has_input(index):
        return list(_ints(ctx.const(index)))
    value = ctx.attr("axes")
    return None if value is None else [int(a) for a in value]


@exports("Unsqueeze")
def unsqueeze(ctx: ExportContext):
    axes = _axes(ctx, 1) or []
    rank = len(ctx.shape(0) or []) + len(axes)
    y = ctx.tensor(0)
    for axis in sorted(a % rank for a in axes):
        y = ctx.call("ExpandDims", [y, axis])
    return y


@exports("Squeeze")
def squeeze(ctx: ExportContext):
    axes = _axes(ctx, 1)
    return ctx.call("Squeeze", [ctx.tensor(0), tuple(axes or ())])


@exports("Cast")
def cast(ctx: ExportContext):
    import onnx

    dtype = onnx.helper.tensor_dtype_to_np_dtype(int(ctx.attr("to")))
    if dtype.name not in TYPE_IDS:
        raise ctx.fail(f"cast to {dtype} has no MindSpore type")
    return ctx.call("Cast", [ctx.tensor(0), TYPE_IDS[dtype.name]])


@exports("Identity", "Dropout")
def identity(ctx: ExportContext):
    name = ctx.node.input[0]
    if name in ctx.w.consts:
        return ctx.w.consts[name]
    return [ctx.tensor(0), ctx.tensor(0)] if ctx.node.op_type == "Dropout" else ctx.tensor(0)


@exports("Constant")
def constant(ctx: ExportContext):
    import onnx

    attr = ctx.node.attribute[0]
    if attr.name == "value":
        return onnx.numpy_helper.to_array(attr.t)
    value = onnx.helper.get_attribute_value(attr)
    return np.asarray(value, dtype=np.float32 if attr.name.startswith("value_float") else np.int64)


@exports("Shape")
def shape_(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("dynamic shapes cannot be written as MindIR constants")
    start, end = int(ctx.attr("start", 0)), ctx.attr("end")
    return np.array(shape[start:end], np.int64)


def _reduce(ms_name: str):
    def rule(ctx: ExportContext):
        axes = _axes(ctx, 1)
        keep = bool(ctx.attr("keepdims", 1))
        if not axes and ctx.attr("noop_with_empty_axes", 0):
            return ctx.tensor(0)
        operands = [ctx.tensor(0), tuple(axes or ()), keep]
        if ms_name == "ReduceSum":
            operands.append(False)  # skip_mode
        return ctx.call(ms_name, operands)

    return rule


for _onnx, _ms in {"ReduceMean": "ReduceMean", "ReduceSum": "ReduceSum", "ReduceMax": "ReduceMax",
                   "ReduceMin": "ReduceMin", "ReduceProd": "ReduceProd"}.items():
    exports(_onnx)(_reduce(_ms))


@exports("ReduceSumSquare")
def reduce_sum_square(ctx: ExportContext):
    axes = _axes(ctx, 1)
    squared = ctx.call("Square", [ctx.tensor(0)])
    return ctx.call("ReduceSum", [squared, tuple(axes or ()), bool(ctx.attr("keepdims", 1)), False])


@exports("Slice")
def slice_(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    starts, ends = _ints(ctx.const(1)), _ints(ctx.const(2))
    axes = _ints(ctx.const(3)) if ctx.has_input(3) else tuple(range(len(starts)))
    steps = _ints(ctx.const(4)) if ctx.has_input(4) else (1,) * len(starts)
    begin, end, stride = [0] * len(shape), list(shape), [1] * len(shape)
    for s, e, a, st in zip(starts, ends, axes, steps):
        a %= len(shape)
        dim = shape[a]
        if st < 0:
            raise ctx.fail("negative slice steps are not supported")
        begin[a] = max(0, min(s + dim if s < 0 else s, dim))
        end[a] = max(0, min(e + dim if e < 0 else e, dim))
        stride[a] = st
    return ctx.call("StridedSlice", [ctx.tensor(0), tuple(begin), tuple(end), tuple(stride), 0, 0, 0, 0, 0])


@exports("Split")
def split(ctx: ExportContext):
    axis = int(ctx.attr("axis", 0))
    count = len(ctx.node.output)
    sizes = _ints(ctx.const(1)) if ctx.has_input(1) else ctx.attr("split")
    shape = ctx.shape(0)
    if sizes is not None and len(set(sizes)) > 1:
        raise ctx.fail("unequal splits are not supported")
    if shape is not None and shape[axis] % count:
        raise ctx.fail("the axis does not divide evenly")
    y = ctx.call("Split", [ctx.tensor(0), axis, count])
    return [ctx.item(y, k) for k in range(count)]


@exports("Expand")
def expand(ctx: ExportContext):
    out = ctx.w.shapes.get(ctx.node.output[0])
    if out is None:
        raise ctx.fail("needs the static output shape")
    return ctx.call("BroadcastTo", [ctx.tensor(0), tuple(out)])


@exports("Tile")
def tile(ctx: ExportContext):
    return ctx.call("Tile", [ctx.tensor(0), _ints(ctx.const(1))])
