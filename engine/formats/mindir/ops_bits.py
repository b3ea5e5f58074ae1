"""Lowering rules for MindSpore bitwise, shift, inverse/hyperbolic trigonometric and Log1p primitives.

ONNX Runtime runs BitShift on unsigned integers only, and runs the trigonometric operators
on float16 and float32 only; the rules below stay within what it runs or refuse in one line.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from engine.formats.mindir.lower import NodeContext, op
from engine.formats.mindir.ops_math import _operands

# --- trigonometric ---------------------------------------------------------------------------

_TRIG = {"ACos": "Acos", "Acosh": "Acosh", "Asin": "Asin", "Asinh": "Asinh", "Atan": "Atan", "Atanh": "Atanh",
         "Cosh": "Cosh", "Sinh": "Sinh", "Tan": "Tan"}
# ONNX Runtime's CPU kernels for the operators above (float64 is missing for all of them).
_TRIG_DTYPES = {np.dtype(np.float16), np.dtype(np.float32)}


@op(*_TRIG)
def trig(ctx: NodeContext):
    onnx_op = _TRIG[ctx.node.op_type]
    dtype = ctx.dtype(0) or ctx.out_dtype()
    if dtype is not None and np.dtype(dtype) not in _TRIG_DTYPES:
        raise ctx.fail(f"on {np.dtype(dtype).name}: ONNX Runtime has no {onnx_op} kernel for it (float16, float32 only)")
    return ctx.emit(onnx_op, [ctx.tensor(0)])


@op("Log1p")
def log1p(ctx: NodeContext):
    """log(1 + x) with Kahan's correction: u = 1 + x; x where u == 1, else log(u) * x / (u - 1).

    A plain Log(1 + x) loses every digit of a tiny x in float32 (1e-8 gives 0 instead of 1e-8;
    within the node suite's atol of 1e-5, but a relative error of 100%). The corrected form is
    within a few ulps of log1p everywhere; where u - 1 == x exactly (large x, infinities,
    x = -1) the correction factor is 1 and log(u) is taken as is, which also keeps inf/inf out.
    """
    x = ctx.tensor(0)
    dtype = np.dtype(ctx.dtype(0) or ctx.out_dtype() or np.float32)
    if dtype.kind != "f":
        raise ctx.fail(f"on {dtype.name}: only floating-point inputs are lowered")
    one = ctx.const_tensor(np.array(1, dtype), hint="one")
    zero = ctx.const_tensor(np.array(0, dtype), hint="zero")
    u = ctx.emit("Add", [x, one], final=False, suffix="u")
    d = ctx.emit("Sub", [u, one], final=False, suffix="d")
    log_u = ctx.emit("Log", [u], final=False, suffix="log")
    corrected = ctx.emit("Div", [ctx.emit("Mul", [log_u, x], final=False, suffix="mul"), d], final=False, suffix="div")
    exact_d = ctx.emit("Equal", [d, x], final=False, suffix="d_is_x")
    y = ctx.emit("Where", [exact_d, log_u, corrected], final=False, suffix="pick")
    return ctx.emit("Where", [ctx.emit("Equal", [d, zero], final=False, suffix="tiny"), x, y])


# --- bitwise ---------------------------------------------------------------------------------

_BITWISE = {"BitwiseAnd": ("BitwiseAnd", "And"), "BitwiseOr": ("BitwiseOr", "Or"), "BitwiseXor": ("BitwiseXor", "Xor")}


@op(*_BITWISE)
def bitwise(ctx: NodeContext):
    """BitwiseAnd/Or/Xor: ONNX's Bitwise* (opset 18) on integers, And/Or/Xor on bool."""
    a, b = _operands(ctx)
    dtype = ctx.lo.types.get(a, (None, None))[1] or ctx.out_dtype()
    integer_op, bool_op = _BITWISE[ctx.node.op_type]
    if dtype is None:
        raise ctx.fail("operand dtype unknown")
    if np.dtype(dtype) == np.bool_:
        return ctx.emit(bool_op, [a, b])
    if np.dtype(dtype).kind not in "iu":
        raise ctx.fail(f"on {np.dtype(dtype).name}")
    ctx.lo.require_opset(18, ctx.node.op_type)
    return ctx.emit(integer_op, [a, b])


# --- shifts ----------------------------------------------------------------------------------


def _cast(ctx: NodeContext, name: str, dtype: type, suffix: str) -> str:
    return ctx.emit("Cast", [name], final=False, suffix=suffix, to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


@op("LeftShift", "RightShift")
def shift(ctx: NodeContext):
    """x << s and x >> s as MindSpore's CPU kernel computes them (a C shift of each element).

    The kernel shifts in C's promoted width: 32 bits for 8-, 16- and 32-bit types (an 8-bit
    value is widened, shifted and truncated back), 64 bits for 64-bit ones; a right shift of a
    negative signed value is arithmetic. Counts within [0, bits) are exact everywhere. A count
    outside [0, width) is undefined behaviour in C; MindSpore's x86-64 build takes it modulo
    the width (the shift instruction's masking: int32 3 << 32 is 3, int8 3 << -1 is 3 << 31
    truncated to 0), and so does this lowering: count = s mod width, computed in int64.

    ONNX Runtime's BitShift takes unsigned types only (and gives 0 for a count >= the width,
    which the masking above never reaches): signed values are shifted as their unsigned
    bit pattern, and a negative value's arithmetic right shift is ~((~u) >> s) with
    ~v = max - v, since ONNX has no BitwiseNot before opset 18.
    """
    left = ctx.node.op_type == "LeftShift"
    x, s = _operands(ctx)
    dtype = ctx.lo.types.get(x, (None, None))[1] or ctx.out_dtype()
    if dtype is None or np.dtype(dtype).kind not in "iu":
        raise ctx.fail(f"on {np.dtype(dtype).name if dtype is not None else 'an unknown dtype'}: integers only")
    dtype = np.dtype(dtype)
    wide = 64 if dtype.itemsize == 8 else 32
    unsigned, signed = (np.uint64, np.int64) if wide == 64 else (np.uint32, np.int32)
    count = ctx.emit("Mod", [_cast(ctx, s, np.int64, "count64") if dtype != np.int64 else s,
                             ctx.const_tensor(np.array(wide, np.int64), hint="width")], final=False, suffix="count")
    count = _cast(ctx, count, unsigned, "count_u")
    if dtype.kind == "i" and dtype.itemsize < wide // 8:
        bits = _cast(ctx, _cast(ctx, x, signed, "widen"), unsigned, "bits")  # sign-extended, as C promotes
    elif np.dtype(unsigned) != dtype:
        bits = _cast(ctx, x, unsigned, "bits")
    else:
        bits = x
    if left or dtype.kind == "u":
        same = np.dtype(unsigned) == dtype
        y = ctx.emit("BitShift", [bits, count], final=same, suffix="" if same else "shift",
                     direction="LEFT" if left else "RIGHT")
        return y if same else ctx.emit("Cast", [y], to=helper.np_dtype_to_tensor_dtype(dtype))
    top = ctx.const_tensor(np.array(np.iinfo(unsigned).max, unsigned), hint="ones")
    plain = ctx.emit("BitShift", [bits, count], final=False, suffix="shift", direction="RIGHT")
    inverted = ctx.emit("Sub", [top, bits], final=False, suffix="not")
    filled = ctx.emit("Sub", [top, ctx.emit("BitShift", [inverted, count], final=False, suffix="shift_not",
                                            direction="RIGHT")], final=False, suffix="fill")
    # Where on the signed type: ONNX Runtime has no uint64 Where.
    negative = ctx.emit("Less", [x, ctx.const_tensor(np.array(0, dtype), hint="zero")], final=False, suffix="negative")
    y = ctx.emit("Where", [negative, _cast(ctx, filled, signed, "fill_s"), _cast(ctx, plain, signed, "plain_s")],
                 final=dtype == np.dtype(signed), suffix="" if dtype == np.dtype(signed) else "where")
    return y if dtype == np.dtype(signed) else ctx.emit("Cast", [y], to=helper.np_dtype_to_tensor_dtype(dtype))
