"""ONNX -> MindIR rules for elementwise math, activations, Gemm/MatMul and reductions.

Where a MindSpore CPU kernel is missing for a dtype (Sub on uint32, Maximum on uint16,
Pow with mixed operand types) the rule casts around it exactly, or refuses.
"""

from __future__ import annotations


import numpy as np

from engine.formats.mindir.export_ops import NCHW, axes_of, cast_to, filled_like, out_shape, scalar
from engine.formats.mindir.writer import ExportContext, exports

_UNARY = {
    "Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Erf": "Erf", "Exp": "Exp", "Sqrt": "Sqrt", "Neg": "Neg",
    "Abs": "Abs", "Reciprocal": "Reciprocal", "Floor": "Floor", "Ceil": "Ceil", "HardSwish": "HSwish",
    "Sin": "Sin", "Cos": "Cos", "Sign": "Sign", "Not": "LogicalNot", "Acos": "ACos", "Acosh": "Acosh",
    "Asin": "Asin", "Asinh": "Asinh", "Atan": "Atan", "Atanh": "Atanh", "Cosh": "Cosh", "Sinh": "Sinh", "Tan": "Tan",
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


def _log(ctx: ExportContext, x: str) -> str:
    return ctx.call("Log", [x], attrs={"shift": 0.0, "scale": 1.0, "cust_aicpu": "Log", "base": -1.0})


@exports("Clip")
def clip(ctx: ExportContext):
    y = ctx.tensor(0)
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    for index, attr, op in ((1, "min", "Maximum"), (2, "max", "Minimum")):
        if ctx.has_input(index) and not ctx.is_const(index):
            y = _minmax(ctx, op, y, ctx.tensor(index), dtype)
            continue
        bound = ctx.const(index).ravel()[0] if ctx.has_input(index) else ctx.attr(attr)
        if bound is None:
            continue
        with np.errstate(over="ignore"):  # a float bound past the input type's range is that side's infinity
            bound = np.array(bound, dtype=dtype)
        if dtype.kind == "f" and float(bound) == (-np.inf if op == "Maximum" else np.inf):
            continue  # an infinite bound on its own side clips nothing (the largest finite one does clip infinities)
        y = _minmax(ctx, op, y, bound, dtype)
    return y


def _coerce_2d(ctx: ExportContext, op: str):
    """Softmax/LogSoftmax/Hardmax before opset 13 work on the input flattened to 2-D at ``axis``."""
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    rank = len(shape)
    opset = next((o.version for o in ctx.w.onnx.opset_import if o.domain in ("", "ai.onnx")), 13)
    axis = int(ctx.attr("axis", -1 if opset >= 13 else 1))
    if not -rank <= axis < max(rank, 1):
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    axis %= max(rank, 1)
    return shape, axis, opset < 13 and axis != rank - 1


@exports("Softmax", "LogSoftmax", "Hardmax")
def softmax(ctx: ExportContext):
    shape, axis, flatten = _coerce_2d(ctx, ctx.node.op_type)
    x = ctx.tensor(0)
    if flatten:
        x = ctx.call("Reshape", [x, (int(np.prod(shape[:axis])), int(np.prod(shape[axis:])))])
        axis = 1
    half = (ctx.dtype(0) or np.dtype(np.float32)) == np.float16 and ctx.node.op_type != "Hardmax"
    if half:  # accumulate in float32, as ONNX Runtime does, and round once
        x = cast_to(ctx, x, np.float32)
    if ctx.node.op_type in ("Softmax", "LogSoftmax"):
        # Spelled out: MindSpore's Softmax kernel zeroes the whole tensor when any row is all -inf.
        shifted = ctx.call("Sub", [x, ctx.call("ReduceMax", [x, (axis,), True])])
        total = ctx.call("ReduceSum", [ctx.call("Exp", [shifted]), (axis,), True, False])
        if ctx.node.op_type == "Softmax":
            y = ctx.call("RealDiv", [ctx.call("Exp", [shifted]), total])
        else:
            y = ctx.call("Sub", [shifted, _log(ctx, total)])
    else:
        depth = (int(np.prod(shape[axis:])) if flatten else shape[axis])
        index = ctx.call("Argmax", [x, axis, 35])
        dtype = ctx.dtype(0) or np.dtype(np.float32)
        y = ctx.call("OneHot", [index, depth, np.array(1, dtype), np.array(0, dtype), axis])
    if half:
        y = cast_to(ctx, y, np.float16)
    return ctx.call("Reshape", [y, tuple(shape)]) if flatten else y


@exports("BitwiseNot")
def bitwise_not(ctx: ExportContext):
    """~x as arithmetic (MindSpore CPU lacks the kernel): -x - 1 for signed, max - x for unsigned."""
    dtype = ctx.dtype(0) or np.dtype(np.int32)
    x = ctx.tensor(0)
    if dtype.kind == "u":
        return ctx.call("Sub", [np.array(np.iinfo(dtype).max, dtype), x])
    if dtype.kind == "i":
        return ctx.call("Sub", [ctx.call("Neg", [x]), np.array(1, dtype)])
    raise ctx.fail(f"BitwiseNot on {dtype}")


# ---------------------------------------------------------------- binary

_BINARY = {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "RealDiv", "Equal": "Equal",
           "Greater": "Greater", "Less": "Less", "GreaterOrEqual": "GreaterEqual", "LessOrEqual": "LessEqual",
           "And": "LogicalAnd", "Or": "LogicalOr", "Xor": "NotEqual", "BitwiseAnd": "BitwiseAnd",
           "BitwiseOr": "BitwiseOr", "BitwiseXor": "BitwiseXor"}
# MindSpore CPU has no Sub kernel for these; wrapping int64 arithmetic is exact modulo 2**bits.
_WRAP_VIA_INT64 = {"Sub": ("uint32", "uint64")}


def _binary(ms_name: str):
    def rule(ctx: ExportContext):
        a, b = ctx.tensor(0), ctx.tensor(1)
        dtype = ctx.dtype(0)
        if dtype is not None and dtype.name in _WRAP_VIA_INT64.get(ctx.node.op_type, ()):
            y = ctx.call(ms_name, [cast_to(ctx, a, np.int64), cast_to(ctx, b, np.int64)])
            return cast_to(ctx, y, dtype)
        return ctx.call(ms_name, [a, b])

    return rule


for _onnx, _ms in _BINARY.items():
    exports(_onnx)(_binary(_ms))


@exports("BitShift")
def bit_shift(ctx: ExportContext):
    """Shifts by a count outside [0, bits) give 0 (or -1 for a negative value shifted right), as in ONNX."""
    left = ctx.attr("direction") == "LEFT"
    dtype = ctx.dtype(0) or np.dtype(np.uint8)
    x, s = ctx.tensor(0), ctx.tensor(1)
    bits = np.array(dtype.itemsize * 8, dtype)
    ok = ctx.call("Less", [s, bits])
    if dtype.kind == "i":
        ok = ctx.call("LogicalAnd", [ok, ctx.call("GreaterEqual", [s, np.array(0, dtype)])])
    safe = ctx.call("Select", [ok, s, ctx.call("ZerosLike", [s])])
    shifted = ctx.call("LeftShift" if left else "RightShift", [x, safe])
    fill = ctx.call("ZerosLike", [x])
    if not left and dtype.kind == "i":
        fill = ctx.call("Select", [ctx.call("Less", [x, np.array(0, dtype)]), ctx.call("OnesLike", [x]), fill])
        fill = ctx.call("Neg", [fill])
    shape = out_shape(ctx)
    if shape is not None:
        ok, fill = (ctx.call("BroadcastTo", [v, tuple(shape)]) for v in (ok, fill))
    return ctx.call("Select", [ok, shifted, fill])


@exports("Pow")
def pow_(ctx: ExportContext):
    a, b = ctx.tensor(0), ctx.tensor(1)
    da, db = ctx.dtype(0), ctx.dtype(1)
    if da is None or db is None or da == db:
        return ctx.call("Pow", [a, b])
    if da.kind == "f":
        if db.kind in "iu" and db.itemsize >= 4 and da.itemsize < 8:
            # exponents beyond 2**24 lose bits in float32; compute in float64 then cast back
            return cast_to(ctx, ctx.call("Pow", [cast_to(ctx, a, np.float64), cast_to(ctx, b, np.float64)]), da)
        return ctx.call("Pow", [a, cast_to(ctx, b, da)])
    if da.kind in "iu" and db.kind == "f":
        y = ctx.call("Pow", [cast_to(ctx, a, np.float64), cast_to(ctx, b, np.float64)])
        return cast_to(ctx, y, da)
    raise ctx.fail(f"Pow of {da} by {db}")


@exports("Mod")
def mod(ctx: ExportContext):
    a, b = ctx.tensor(0), ctx.tensor(1)
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    if dtype.kind == "f":
        return _float_mod(ctx, a, b, dtype, int(ctx.attr("fmod", 0)))
    if int(ctx.attr("fmod", 0)) == 0:
        if dtype.name == "uint64":
            raise ctx.fail(f"Mod on {dtype}")
        wide = dtype.name in ("int8", "int16", "uint8", "uint16", "uint32")
        if wide:  # FloorMod kernels exist for int32/int64; these values fit exactly
            work = np.int64 if dtype.name == "uint32" else np.int32
            a, b = cast_to(ctx, a, work), cast_to(ctx, b, work)
        y = ctx.call("FloorMod", [a, b])
        return cast_to(ctx, y, dtype) if wide else y
    # fmod: the remainder has the sign of the dividend (C fmod)
    if dtype.kind != "f":
        if dtype.name == "uint64":
            raise ctx.fail(f"Mod on {dtype}")
        # exact in integers: C fmod = floor mod, less b where the floor mod is non-zero and a, b differ in sign
        a64, b64 = cast_to(ctx, a, np.int64), cast_to(ctx, b, np.int64)
        floor = ctx.call("FloorMod", [a64, b64])
        zero = np.array(0, np.int64)
        signs = ctx.call("NotEqual", [ctx.call("Less", [a64, zero]), ctx.call("Less", [b64, zero])])
        fix = ctx.call("LogicalAnd", [signs, ctx.call("NotEqual", [floor, zero])])
        fixed = ctx.call("Sub", [floor, ctx.call("Mul", [cast_to(ctx, fix, np.int64), b64])])
        return cast_to(ctx, fixed, dtype)
    raise ctx.fail(f"Mod on {dtype}")


def _float_mod(ctx: ExportContext, a: str, b: str, dtype: np.dtype, fmod: int) -> str:
    """C fmod is MindSpore's TruncateMod (bit for bit with std::fmod on float16/32/64, signed zeros,
    inf and NaN included); fmod=0 is numpy's mod, which ONNX's reference uses, built from it:
    r = fmod(a, b); r + b where r is non-zero and its sign differs from b's; a zero takes b's sign."""
    if dtype.name not in ("float16", "float32", "float64"):
        raise ctx.fail(f"Mod on {dtype}")
    r = ctx.call("TruncateMod", [a, b])
    if fmod:
        return r
    zero = np.array(0, dtype)
    b_negative = ctx.call("Less", [b, zero])
    flip = ctx.call("LogicalAnd", [ctx.call("NotEqual", [r, zero]),
                                   ctx.call("NotEqual", [ctx.call("Less", [r, zero]), b_negative])])
    shifted = ctx.call("Select", [flip, ctx.call("Add", [r, b]), r])
    zeros = filled_like(ctx, "ZerosLike", shifted, out_shape(ctx), dtype)
    signed_zero = ctx.call("Select", [b_negative, ctx.call("Neg", [zeros]), zeros])
    return ctx.call("Select", [ctx.call("Equal", [shifted, zero]), signed_zero, shifted])


def _minmax(ctx: ExportContext, op: str, a, b, dtype: np.dtype | None) -> str:
    # MindSpore CPU has no Maximum/Minimum kernel for uint16: compare in int32, exact.
    if dtype is not None and dtype.name == "uint16":
        a = cast_to(ctx, a if isinstance(a, str) else ctx.w.builder.constant(a), np.int32)
        b = cast_to(ctx, b if isinstance(b, str) else ctx.w.builder.constant(b), np.int32)
        return cast_to(ctx, ctx.call(op, [a, b]), dtype)
    return ctx.call(op, [a, b])


@exports("Max", "Min")
def max_min(ctx: ExportContext):
    name = "Maximum" if ctx.node.op_type == "Max" else "Minimum"
    y = ctx.tensor(0)
    for i in range(1, len(ctx.node.input)):
        y = _minmax(ctx, name, y, ctx.tensor(i), ctx.dtype(0))
    return y


@exports("Sum", "Mean")
def sum_mean(ctx: ExportContext):
    y = ctx.tensor(0)
    for i in range(1, len(ctx.node.input)):
        y = ctx.call("Add", [y, ctx.tensor(i)])
    if ctx.node.op_type == "Mean" and len(ctx.node.input) > 1:
        y = ctx.call("RealDiv", [y, scalar(ctx, float(len(ctx.node.input)))])
    return y


@exports("Where")
def where(ctx: ExportContext):
    shape = out_shape(ctx)
    ins = [ctx.tensor(i) for i in range(3)]
    if shape is not None:  # Select does not broadcast on CPU
        ins = [x if ctx.shape(i) == shape else ctx.call("BroadcastTo", [x, tuple(shape)]) for i, x in enumerate(ins)]
    return ctx.call("Select", ins)


# ---------------------------------------------------------------- matrix products


@exports("Gemm")
def gemm(ctx: ExportContext):
    """Gemm -> MatMul(a, b, transA, transB) [* alpha] then BiasAdd/Add of beta * C."""
    y = ctx.call("MatMul", [ctx.tensor(0), ctx.tensor(1), bool(ctx.attr("transA", 0)), bool(ctx.attr("transB", 0))],
                 typed=True)
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    if alpha != 1.0:
        y = ctx.call("Mul", [y, scalar(ctx, alpha)], typed=True)
    if ctx.has_input(2):
        c = ctx.tensor(2)
        if beta != 1.0:
            c = ctx.call("Mul", [c, scalar(ctx, beta)])
        c_shape, shape = ctx.shape(2), out_shape(ctx)
        # BiasAdd adds a [N] vector per column; any other C (e.g. [1] or [M, 1]) broadcasts through Add.
        bias = c_shape is not None and shape is not None and len(c_shape) == 1 and c_shape[0] == shape[-1] and shape[-1] != 1
        y = ctx.call("BiasAdd", [y, c, NCHW]) if bias else ctx.call("Add", [y, c])
    return y


@exports("MatMul")
def matmul(ctx: ExportContext):
    a_shape, b_shape, shape = ctx.shape(0), ctx.shape(1), out_shape(ctx)
    if a_shape is None or b_shape is None or shape is None:
        raise ctx.fail("needs static input shapes")
    a, b = ctx.tensor(0), ctx.tensor(1)
    half = ctx.dtype(0) == np.float16
    if half:  # accumulate in float32 and round once, as ONNX Runtime does
        a, b = cast_to(ctx, a, np.float32), cast_to(ctx, b, np.float32)
    y = _matmul(ctx, a, b, a_shape, b_shape, shape)
    return cast_to(ctx, y, np.float16) if half else y


def _matmul(ctx: ExportContext, a: str, b: str, a_shape: list[int], b_shape: list[int], shape: list[int]) -> str:
    """ONNX MatMul (numpy's matmul: 1-D operands, broadcast batch dims) with MindSpore's MatMul/BatchMatMul."""
    if not a_shape or not b_shape:
        raise ctx.fail("MatMul of a scalar")
    a2 = len(a_shape) == 1
    b2 = len(b_shape) == 1
    if a2:
        a, a_shape = ctx.call("Reshape", [a, (1, a_shape[0])]), [1, a_shape[0]]
    if b2:
        b, b_shape = ctx.call("Reshape", [b, (b_shape[0], 1)]), [b_shape[0], 1]
    if len(a_shape) == 2 and len(b_shape) == 2:
        y = ctx.call("MatMul", [a, b, False, False])
    elif len(b_shape) == 2:  # [..., K] x [K, N]: fold the batch dims into rows
        flat = ctx.call("Reshape", [a, (-1, a_shape[-1])])
        y = ctx.call("MatMul", [flat, b, False, False])
        y = ctx.call("Reshape", [y, tuple(a_shape[:-1]) + (b_shape[-1],)])
    else:
        # BatchMatMul on MindSpore CPU does not broadcast: make both batch shapes explicit
        batch = list(np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2])))
        if list(a_shape[:-2]) != batch:
            a = ctx.call("BroadcastTo", [a, tuple(batch + list(a_shape[-2:]))])
        if list(b_shape[:-2]) != batch:
            b = ctx.call("BroadcastTo", [b, tuple(batch + list(b_shape[-2:]))])
        y = ctx.call("BatchMatMul", [a, b, False, False])
    if a2 or b2:
        y = ctx.call("Reshape", [y, tuple(shape)])
    return y


@exports("MatMulInteger")
def matmul_integer(ctx: ExportContext):
    """(A - a_zero_point) @ (B - b_zero_point) in int32, computed exactly in float64 (8-bit products
    under 2**16, so sums stay exact far past any real K) and cast back."""
    a_shape, b_shape, shape = ctx.shape(0), ctx.shape(1), out_shape(ctx)
    if a_shape is None or b_shape is None or shape is None:
        raise ctx.fail("needs static input shapes")
    if any((ctx.dtype(i) or np.dtype(np.float32)).name not in ("int8", "uint8") for i in (0, 1)):
        raise ctx.fail(f"MatMulInteger of {ctx.dtype(0)} and {ctx.dtype(1)}")
    operands = []
    for i, zp_index in ((0, 2), (1, 3)):
        x = cast_to(ctx, ctx.tensor(i), np.float64)
        if ctx.has_input(zp_index):
            zp_shape = ctx.shape(zp_index) or []
            zp = cast_to(ctx, ctx.tensor(zp_index), np.float64)
            if i == 0 and len(zp_shape) == 1 and zp_shape[0] > 1:  # one zero point per row of A
                zp = ctx.call("Reshape", [zp, (zp_shape[0], 1)])
            x = ctx.call("Sub", [x, zp])
        operands.append(x)
    return cast_to(ctx, _matmul(ctx, operands[0], operands[1], a_shape, b_shape, shape), np.int32)


# ---------------------------------------------------------------- reductions

# The value of a reduction over an empty set, by ONNX op (the dtype's extremes for Max/Min).
_EMPTY = {"ReduceSum": 0, "ReduceSumSquare": 0, "ReduceL1": 0, "ReduceL2": 0, "ReduceProd": 1,
          "ReduceLogSum": -np.inf, "ReduceLogSumExp": -np.inf, "ReduceMean": np.nan}


def _empty_value(op: str, dtype: np.dtype):
    if op in ("ReduceMax", "ReduceMin"):
        big = np.inf if dtype.kind == "f" else (np.iinfo(dtype).max if dtype.kind in "iu" else True)
        small = -np.inf if dtype.kind == "f" else (np.iinfo(dtype).min if dtype.kind in "iu" else False)
        return small if op == "ReduceMax" else big
    return _EMPTY[op]


@exports("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1",
         "ReduceL2", "ReduceLogSum", "ReduceLogSumExp")
def reduce(ctx: ExportContext):
    op = ctx.node.op_type
    keep = bool(ctx.attr("keepdims", 1))
    x = ctx.tensor(0)
    shape, dtype = ctx.shape(0), ctx.dtype(0) or np.dtype(np.float32)
    if ctx.has_input(1) and not ctx.is_const(1):
        # Axes known only at run time: MindSpore's reductions take them as a tensor operand.
        if ctx.attr("noop_with_empty_axes", 0):
            raise ctx.fail("noop_with_empty_axes with axes given at run time")
        if shape is None or 0 in shape:
            raise ctx.fail("axes given at run time need a static, non-empty input")
        return _reduce_by(ctx, op, x, ctx.tensor(1), keep, dtype, None)
    axes = axes_of(ctx, 1)
    if not axes and ctx.attr("noop_with_empty_axes", 0):
        return ctx.call("Identity", [x])
    rank = len(shape) if shape is not None else None
    if axes and rank is not None:
        if any(not -rank <= a < rank for a in axes):
            raise ctx.fail(f"axes {axes} out of range for rank {rank}")
        axes = sorted({a % rank for a in axes})
    full = tuple(axes) if axes else tuple(range(rank or 0))
    result_shape = out_shape(ctx)
    if shape is not None and result_shape is not None and any(shape[a] == 0 for a in full):
        return np.full(result_shape, _empty_value(op, dtype), dtype=dtype)  # MindSpore garbles empty reductions
    return _reduce_by(ctx, op, x, tuple(axes or ()), keep, dtype, result_shape)


def _reduce_by(ctx: ExportContext, op: str, x: str, axes_t, keep: bool, dtype: np.dtype, result_shape) -> str:
    """``op`` over ``axes_t`` (a tuple, or a tensor given at run time; empty means all axes)."""
    if dtype == np.bool_:
        if op not in ("ReduceMax", "ReduceMin"):
            raise ctx.fail(f"{op} on bool")
        y = ctx.call(op, [cast_to(ctx, x, np.float32), axes_t, keep])
        return cast_to(ctx, y, np.bool_)

    def summed(value: str) -> str:
        return ctx.call("ReduceSum", [value, axes_t, keep, False])

    if op == "ReduceSum":
        return summed(x)
    if op in ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd"):
        return ctx.call(op, [x, axes_t, keep])
    if op == "ReduceSumSquare":
        return summed(ctx.call("Mul", [x, x]))
    if op == "ReduceL1":
        return summed(ctx.call("Abs", [x]))
    if op == "ReduceL2":
        y = summed(ctx.call("Mul", [x, x]))
        if dtype.kind != "f":
            return cast_to(ctx, ctx.call("Sqrt", [cast_to(ctx, y, np.float64)]), dtype)
        return ctx.call("Sqrt", [y])
    if op == "ReduceLogSum":
        return _log(ctx, summed(x))
    # ReduceLogSumExp, stable: m + log(sum(exp(x - m)))
    m = ctx.call("ReduceMax", [x, axes_t, True])
    s = ctx.call("ReduceSum", [ctx.call("Exp", [ctx.call("Sub", [x, m])]), axes_t, keep, False])
    m_out = m if keep else ctx.call("ReduceMax", [m, axes_t, False])  # drops the kept unit axes
    return ctx.call("Add", [_log(ctx, s), m_out])



@exports("Det")
def det(ctx: ExportContext):
    """MatrixDeterminant (an LU factorisation, like ONNX Runtime's and numpy's) over the last two axes."""
    shape = ctx.shape(0)
    dtype = ctx.dtype(0)
    if shape is None or len(shape) < 2 or shape[-1] != shape[-2]:
        raise ctx.fail("needs static square matrices in the last two axes")
    if dtype is None or dtype.name not in ("float32", "float64"):
        raise ctx.fail(f"Det of {dtype} (MindSpore's kernel takes float32 and float64)")
    return ctx.call("MatrixDeterminant", [ctx.tensor(0)])
