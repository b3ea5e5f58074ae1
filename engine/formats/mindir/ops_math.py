"""Lowering rules for MindSpore math primitives: elementwise, matmuls, reductions, comparisons."""

from __future__ import annotations

import numpy as np

from engine.formats.mindir.lower import NodeContext, op


def _common_dtype(a: np.dtype, b: np.dtype) -> np.dtype:
    """MindSpore's implicit promotion of two tensor operands: float beats int beats bool, wider beats narrower
    (int32 with float32 is float32, not numpy's float64)."""
    kind = {"b": 0, "u": 1, "i": 1, "f": 2}
    ka, kb = kind.get(a.kind, 2), kind.get(b.kind, 2)
    if ka != kb:
        return a if ka > kb else b
    return a if a.itemsize >= b.itemsize else b


def _operands(ctx: NodeContext) -> list[str]:
    """Both inputs of a binary op in one dtype: a Python scalar constant takes the tensor side's
    dtype; two tensors of different dtypes meet at MindSpore's promoted dtype (a Cast)."""
    dtypes = [ctx.dtype(i) for i in range(2)]
    names = []
    for i in range(2):
        other = dtypes[1 - i]
        if ctx.is_const(i) and not isinstance(ctx.const(i), np.ndarray) and other is not None:
            names.append(ctx.tensor(i, dtype=other))
        else:
            names.append(ctx.tensor(i))
    dtypes = [ctx.lo.types.get(name, (None, None))[1] for name in names]  # as written (constants included)
    if all(d is not None for d in dtypes) and np.dtype(dtypes[0]) != np.dtype(dtypes[1]):
        from onnx import helper

        common = _common_dtype(np.dtype(dtypes[0]), np.dtype(dtypes[1]))
        for i in range(2):
            if np.dtype(dtypes[i]) != common:
                names[i] = ctx.emit("Cast", [names[i]], final=False, suffix=f"promote{i}",
                                    to=helper.np_dtype_to_tensor_dtype(common))
    return names


def _binary(onnx_op: str):
    def rule(ctx: NodeContext):
        return ctx.emit(onnx_op, _operands(ctx))

    return rule


for _ms, _onnx in {
    "Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div", "Div": "Div", "Pow": "Pow",
    "Equal": "Equal", "Greater": "Greater", "Less": "Less",
    "GreaterEqual": "GreaterOrEqual", "LessEqual": "LessOrEqual", "LogicalAnd": "And", "LogicalOr": "Or",
    "FloorMod": "Mod",
}.items():
    op(_ms)(_binary(_onnx))


# ONNX Runtime's CPU Max/Min have no 16-bit integer kernels; int32 holds every int16 and uint16 exactly.
_MINMAX_WIDEN = {np.dtype(np.int16), np.dtype(np.uint16)}


@op("Maximum", "Minimum")
def max_min(ctx: NodeContext):
    onnx_op = "Max" if ctx.node.op_type == "Maximum" else "Min"
    names = _operands(ctx)
    dtype = ctx.out_dtype(0) or ctx.dtype(0) or ctx.dtype(1)
    if dtype is None or np.dtype(dtype) not in _MINMAX_WIDEN:
        return ctx.emit(onnx_op, names)
    from onnx import TensorProto, helper

    wide = [ctx.emit("Cast", [n], final=False, suffix=f"int32_{i}", to=TensorProto.INT32) for i, n in enumerate(names)]
    y = ctx.emit(onnx_op, wide, final=False, suffix=onnx_op.lower())
    return ctx.emit("Cast", [y], to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


@op("TruncateMod")
def truncate_mod(ctx: NodeContext):
    """C's remainder (fmod for floats, % for integers): the result takes the dividend's sign, as ONNX's Mod with fmod=1."""
    return ctx.emit("Mod", _operands(ctx), fmod=1)


@op("MatrixDeterminant")
def matrix_determinant(ctx: NodeContext):
    """Determinants of the last two axes' square matrices: ONNX Det (ONNX Runtime runs it on float16/float32)."""
    dtype = ctx.dtype(0) or ctx.out_dtype()
    if dtype is not None and np.dtype(dtype) not in (np.dtype(np.float16), np.dtype(np.float32)):
        raise ctx.fail(f"on {np.dtype(dtype).name}: ONNX Runtime has no Det kernel for it (float16, float32 only)")
    return ctx.emit("Det", [ctx.tensor(0)])


@op("FloorDiv")
def floor_div(ctx: NodeContext):
    a, b = _operands(ctx)
    q = ctx.emit("Div", [a, b], final=False, suffix="div")
    dtype = ctx.dtype(0)
    if dtype is not None and np.issubdtype(dtype, np.integer):
        raise ctx.fail("integer FloorDiv is not lowered yet")
    return ctx.emit("Floor", [q])


@op("NotEqual")
def not_equal(ctx: NodeContext):
    return ctx.emit("Not", [ctx.emit("Equal", _operands(ctx), final=False, suffix="equal")])


@op("Square")
def square(ctx: NodeContext):
    x = ctx.tensor(0)
    return ctx.emit("Mul", [x, x])


@op("Rsqrt")
def rsqrt(ctx: NodeContext):
    return ctx.emit("Reciprocal", [ctx.emit("Sqrt", [ctx.tensor(0)], final=False, suffix="sqrt")])


def _transpose_last2(ctx: NodeContext, name: str, i: int, suffix: str) -> str:
    shape = ctx.shape(i)
    if shape is None:
        raise ctx.fail("input rank unknown; cannot transpose its last two axes")
    rank = len(shape)
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    return ctx.emit("Transpose", [name], final=False, suffix=suffix, perm=perm)


@op("MatMul", "BatchMatMul")
def matmul(ctx: NodeContext):
    """MatMul/BatchMatMul(a, b, transpose_a, transpose_b); 2-D cases become Gemm so the
    weight keeps MindSpore's layout (and its checkpoint shape)."""
    ta = bool(ctx.arg(2, "transpose_a", ctx.attr("transpose_x1", False)))
    tb = bool(ctx.arg(3, "transpose_b", ctx.attr("transpose_x2", False)))
    a, b = ctx.tensor(0), ctx.tensor(1)
    dtype = ctx.dtype(0) or ctx.dtype(1)
    floating = dtype is None or np.dtype(dtype).kind == "f"  # ONNX Runtime's Gemm is float-only; MatMul has ints
    if len(ctx.shape(0) or []) == 2 and len(ctx.shape(1) or []) == 2 and floating:
        return ctx.emit("Gemm", [a, b], transA=int(ta), transB=int(tb))
    if ta:
        a = _transpose_last2(ctx, a, 0, "a_t")
    if tb:
        b = _transpose_last2(ctx, b, 1, "b_t")
    return ctx.emit("MatMul", [a, b])


def _axes(value: object, rank: int | None) -> list[int]:
    if isinstance(value, np.ndarray):  # before comparing: an array == () does not mean "empty"
        value = value.tolist()
    if value is None or value == () or value == []:
        return list(range(rank)) if rank is not None else []
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    return [int(v) for v in value]  # type: ignore[union-attr]


def _const_flag(ctx: NodeContext, i: int, name: str) -> bool:
    """A boolean operand (keep_dims, skip_mode); one computed at run time is refused, not read as its default."""
    if i < ctx.num_inputs and not ctx.is_const(i):
        raise ctx.fail(f"{name} given at run time")
    return bool(ctx.arg(i, name, False))


def _reduce(onnx_op: str, axes_as_input: bool):
    """MindSpore ReduceX(x, axis, keep_dims[, skip_mode]); ``axis`` empty means every axis
    (ReduceSum with skip_mode: no reduction at all)."""
    def rule(ctx: NodeContext):
        keep = int(_const_flag(ctx, 2, "keep_dims"))
        skip = onnx_op == "ReduceSum" and _const_flag(ctx, 3, "skip_mode")
        if ctx.num_inputs > 1 and not ctx.is_const(1):
            return _reduce_runtime_axes(ctx, onnx_op, keep, skip)
        rank = len(ctx.shape(0)) if ctx.shape(0) is not None else None
        raw = ctx.arg(1, "axis", ())
        if skip and not _axes(raw, 0):
            return ctx.emit("Identity", [ctx.tensor(0)])
        axes = _axes(raw, rank)
        if not axes:
            if rank is None:  # no axes (attribute absent, input absent) reduces every axis in ONNX too
                return ctx.emit(onnx_op, [ctx.tensor(0)], keepdims=keep)
            if rank == 0:  # a scalar reduced over no axes is itself
                return ctx.emit("Identity", [ctx.tensor(0)])
        if axes_as_input:
            return ctx.emit(onnx_op, [ctx.tensor(0), ctx.const_tensor(np.array(axes, np.int64), hint="axes")], keepdims=keep)
        return ctx.emit(onnx_op, [ctx.tensor(0)], axes=axes, keepdims=keep)

    return rule


def _reduce_runtime_axes(ctx: NodeContext, onnx_op: str, keep: int, skip: bool):
    """Axes as a tensor computed at run time: ONNX's axes input (ReduceSum's since opset 13, the
    others' since 18, which raises the model's opset). An empty axes tensor reduces every axis in
    both (MindSpore's skip_mode is ONNX's noop_with_empty_axes)."""
    from onnx import TensorProto

    axes = ctx.tensor(1)
    dtype = ctx.dtype(1)
    if dtype is None or np.dtype(dtype) != np.int64:
        axes = ctx.emit("Cast", [axes], final=False, suffix="axes", to=TensorProto.INT64)
    if onnx_op != "ReduceSum":
        ctx.lo.require_opset(18, f"{ctx.node.op_type} with axes given at run time")
    return ctx.emit(onnx_op, [ctx.tensor(0), axes], keepdims=keep, noop_with_empty_axes=1 if skip else None)


# opset 17: ReduceSum takes axes as an input, the others as an attribute.
op("ReduceMean")(_reduce("ReduceMean", False))
op("ReduceMax")(_reduce("ReduceMax", False))
op("ReduceMin")(_reduce("ReduceMin", False))
op("ReduceProd")(_reduce("ReduceProd", False))
op("ReduceSum")(_reduce("ReduceSum", True))


@op("Argmax", "ArgMaxExt", "Argmin")
def argmax(ctx: NodeContext):
    axis = int(ctx.arg(1, "axis", -1) if ctx.arg(1, "axis", -1) is not None else -1)
    onnx_op = "ArgMin" if ctx.node.op_type == "Argmin" else "ArgMax"
    index = ctx.emit(onnx_op, [ctx.tensor(0)], final=False, suffix="arg", axis=axis, keepdims=0)
    out = ctx.out_dtype() or np.dtype(np.int32)
    from onnx import helper

    return ctx.emit("Cast", [index], to=helper.np_dtype_to_tensor_dtype(out))


@op("Cast")
def cast(ctx: NodeContext):
    """Cast(x, dtype): the destination dtype comes from the constant or the stated output type."""
    from onnx import helper

    from engine.formats.mindir.values import dtype_from_type_id

    target = ctx.out_dtype()
    value = ctx.arg(1, "dst_type")
    if isinstance(value, int) and not isinstance(value, bool):
        target = dtype_from_type_id(value)
    elif hasattr(value, "dtype") and not isinstance(value, np.ndarray):
        target = value.dtype
    if target is None:
        raise ctx.fail("destination dtype unknown")
    return ctx.emit("Cast", [ctx.tensor(0)], to=helper.np_dtype_to_tensor_dtype(np.dtype(target)))


# ONNX Runtime's CPU Where has no 16-bit integer, uint64 or bool kernel; these carry the same
# values (uint64 as its bit pattern: int64 casts both ways wrap).
_WHERE_WIDEN = {np.dtype(np.int16): np.int32, np.dtype(np.uint16): np.int32, np.dtype(np.uint64): np.int64,
                np.dtype(np.bool_): np.uint8}


@op("Select")
def select(ctx: NodeContext):
    cond, a, b = ctx.tensor(0), ctx.tensor(1), ctx.tensor(2)
    dtype = ctx.dtype(1) or ctx.dtype(2) or ctx.out_dtype()
    wide = _WHERE_WIDEN.get(np.dtype(dtype)) if dtype is not None else None
    if wide is None:
        return ctx.emit("Where", [cond, a, b])
    from onnx import helper

    to = helper.np_dtype_to_tensor_dtype(np.dtype(wide))
    a, b = (ctx.emit("Cast", [v], final=False, suffix=f"wide{i}", to=to) for i, v in enumerate((a, b)))
    y = ctx.emit("Where", [cond, a, b], final=False, suffix="where")
    return ctx.emit("Cast", [y], to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


@op("ClipByValue", "Clip")
def clip(ctx: NodeContext):
    dtype = ctx.dtype(0) or np.float32
    lo = ctx.tensor(1, dtype=dtype) if ctx.num_inputs > 1 else ""
    hi = ctx.tensor(2, dtype=dtype) if ctx.num_inputs > 2 else ""
    return ctx.emit("Clip", [ctx.tensor(0), lo, hi])
