"""Lowering rules for MindSpore 2.x "Ext", scalar and in-place primitives (mint's torch-style operators).

MindSpore 2.x writes ``mindspore.mint`` calls as PRIMITIVE_FUNCTION nodes whose operands
are all inputs (``MatMulExt(input, other)``, ``SumExt(input, dim, keepdim, dtype)``), with
``None`` for an omitted optional operand and dtypes as MindSpore type ids. In-place
primitives (``InplaceAddExt``) return the updated input; the value is rebound so every
later reader of the input sees the update, and an in-place update that ONNX cannot express
(of a parameter, or of a tensor that shares memory with a view) is refused.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from engine.formats.mindir.lower import MAX_NODE_OUTPUTS, NodeContext, op


def _np_dtype(ctx: NodeContext, i: int = 0) -> np.dtype:
    return np.dtype(ctx.out_dtype() or ctx.dtype(i) or np.float32)


def _cast_to(ctx: NodeContext, name: str, have: np.dtype | None, want: np.dtype, suffix: str) -> str:
    if have is not None and np.dtype(have) == np.dtype(want):
        return name
    return ctx.emit("Cast", [name], final=False, suffix=suffix, to=helper.np_dtype_to_tensor_dtype(np.dtype(want)))


def _dtype_operand(ctx: NodeContext, i: int) -> np.dtype | None:
    """A ``dtype=`` operand: None, a MindSpore type id, or a type value."""
    from engine.formats.mindir.values import dtype_from_type_id

    if i >= ctx.num_inputs or not ctx.is_const(i):
        return None
    value = ctx.const(i)
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return np.dtype(dtype_from_type_id(int(value)))
    if hasattr(value, "dtype") and not isinstance(value, np.ndarray):
        return np.dtype(value.dtype)
    raise ctx.fail(f"dtype operand {value!r} is not understood")


def _operand(ctx: NodeContext, i: int, dtype: np.dtype, hint: str) -> str:
    """Operand ``i`` in ``dtype``: a constant is written in it, a tensor is cast when it differs."""
    if ctx.is_const(i):
        return ctx.const_tensor(np.asarray(ctx.const(i), dtype=dtype), hint=hint)
    return _cast_to(ctx, ctx.tensor(i), ctx.dtype(i), dtype, f"{hint}_cast")


# --- scalar arithmetic ------------------------------------------------------------------------

_SCALAR_OPS = {"Muls": "Mul", "Divs": "Div", "AddScalar": "Add", "SubScalar": "Sub", "PowTensorScalar": "Pow"}


def _tensor_scalar(ctx: NodeContext):
    """Muls/Divs/AddScalar/SubScalar(input, other[, alpha]): the tensor is cast to the result dtype first."""
    onnx_op = _SCALAR_OPS[ctx.node.op_type]
    out = _np_dtype(ctx)
    x = _cast_to(ctx, ctx.tensor(0), ctx.dtype(0), out, "cast")
    s = _operand(ctx, 1, out, "scalar")
    if ctx.node.op_type in ("AddScalar", "SubScalar") and ctx.num_inputs > 2:
        alpha = ctx.const(2) if ctx.is_const(2) else None
        if alpha is None or not np.isscalar(alpha):
            raise ctx.fail("alpha must be a constant number")
        if alpha != 1:
            s = ctx.const_tensor(np.array(np.array(ctx.const(1), out) * np.array(alpha, out), out), hint="scaled")
    return ctx.emit(onnx_op, [x, s])


for _name in _SCALAR_OPS:
    op(_name)(_tensor_scalar)


@op("LessScalar")
def compare_scalar(ctx: NodeContext):
    """LessScalar(input, other): a bool tensor; an int tensor meets a float scalar as float32."""
    have = np.dtype(ctx.dtype(0) or np.float32)
    other = ctx.const(1) if ctx.is_const(1) else None
    common = have
    if have.kind in "biu" and (isinstance(other, float) or (other is None and ctx.dtype(1) is not None
                                                          and np.dtype(ctx.dtype(1)).kind == "f")):
        common = np.dtype(np.float32)
    x = _cast_to(ctx, ctx.tensor(0), have, common, "cast")
    return ctx.emit("Less", [x, _operand(ctx, 1, common, "other")])


def _alpha_operand(ctx: NodeContext, other: str, dtype: np.dtype) -> str:
    alpha = ctx.const(2) if ctx.num_inputs > 2 and ctx.is_const(2) else 1
    if alpha is None:
        alpha = 1
    if isinstance(alpha, np.ndarray):
        alpha = alpha.item()
    if alpha == 1:
        return other
    return ctx.emit("Mul", [other, ctx.const_tensor(np.array(alpha, dtype), hint="alpha")], final=False, suffix="alpha")


def _add_sub_ext(ctx: NodeContext, onnx_op: str) -> str:
    """AddExt/SubExt(input, other, alpha) = input (+|-) alpha * other, in the result dtype."""
    out = _np_dtype(ctx)
    a, b = _operand(ctx, 0, out, "a"), _operand(ctx, 1, out, "b")
    return ctx.emit(onnx_op, [a, _alpha_operand(ctx, b, out)])


@op("AddExt")
def add_ext(ctx: NodeContext):
    return _add_sub_ext(ctx, "Add")


@op("SubExt")
def sub_ext(ctx: NodeContext):
    return _add_sub_ext(ctx, "Sub")


# --- in-place ---------------------------------------------------------------------------------

_VIEW_KEY = "_mindir_view_tensors"


def note_view(ctx: NodeContext, source: str, result: str) -> None:
    """Record that ``result`` shares memory with ``source`` (a *View primitive), for in-place checks."""
    views = ctx.lo.__dict__.setdefault(_VIEW_KEY, set())
    views.update((source, result))


def _inplace_target(ctx: NodeContext) -> str:
    tensor = ctx.tensor(0)
    graph, lo = ctx.lo.graph, ctx.lo
    params = lo.__dict__.get("_mindir_parameter_tensors")
    if params is None:
        params = {lo.values.get(p) for p in list(graph.parameters) + list(graph.raw_parameters)}
        lo.__dict__["_mindir_parameter_tensors"] = params
    if tensor in params:
        raise ctx.fail(f"in-place update of parameter {tensor!r} cannot be expressed in ONNX")
    if tensor in lo.__dict__.get(_VIEW_KEY, ()):
        raise ctx.fail("in-place update of a tensor that shares memory with a view is not lowered")
    return tensor


def _rebind(ctx: NodeContext, old: str, new: str) -> None:
    """Later readers of the in-place target (under any MindIR name) see the updated value."""
    for key, value in list(ctx.lo.values.items()):
        if value == old:
            ctx.lo.values[key] = new


@op("InplaceAddExt")
def inplace_add(ctx: NodeContext):
    """InplaceAddExt(input, other, alpha, u): input += alpha * other, returned."""
    target = _inplace_target(ctx)
    out = _np_dtype(ctx)
    other = _operand(ctx, 1, out, "other")
    y = ctx.emit("Add", [target, _alpha_operand(ctx, other, out)])
    _rebind(ctx, target, y)
    return y


@op("InplaceMul", "InplaceDiv")
def inplace_binary(ctx: NodeContext):
    """InplaceMul/InplaceDiv(input, other, u): input (*|/)= other, returned, in the input's dtype."""
    target = _inplace_target(ctx)
    out = _np_dtype(ctx)
    other = _operand(ctx, 1, out, "other")
    y = ctx.emit("Mul" if ctx.node.op_type == "InplaceMul" else "Div", [target, other])
    _rebind(ctx, target, y)
    return y


# --- copies, linear algebra and shapes --------------------------------------------------------


@op("TensorMove")
def tensor_move(ctx: NodeContext):
    """TensorMove(x): a copy. A distinct tensor, so an in-place update of x does not reach it."""
    return ctx.emit("Identity", [ctx.tensor(0)])


@op("MatMulExt")
def matmul_ext(ctx: NodeContext):
    """MatMulExt(input, other): torch.matmul semantics, which are ONNX MatMul's (numpy's)."""
    return ctx.emit("MatMul", [ctx.tensor(0), ctx.tensor(1)])


def _rank(ctx: NodeContext, i: int = 0) -> int:
    shape = ctx.shape(i)
    if shape is None:
        raise ctx.fail("input rank unknown")
    return len(shape)


@op("TransposeExtView")
def transpose_ext(ctx: NodeContext):
    """TransposeExtView(input, dim0, dim1): swap two axes (a view: it shares memory with the input)."""
    rank = _rank(ctx)
    perm = list(range(rank))
    d0, d1 = int(ctx.const(1)) % max(rank, 1), int(ctx.const(2)) % max(rank, 1)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    x = ctx.tensor(0)
    y = ctx.emit("Transpose", [x], perm=perm)
    note_view(ctx, x, y)
    return y


@op("SplitTensorView")
def split_tensor(ctx: NodeContext):
    """SplitTensorView(input, split_size, dim): pieces of split_size along dim, the last one shorter."""
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("input rank unknown")
    dim = int(ctx.const(2)) % len(shape) if ctx.num_inputs > 2 else 0
    size, total = int(ctx.const(1)), shape[dim]
    if total < 0 or size <= 0:
        raise ctx.fail("needs a static size along the split axis")
    if -(-total // size) > MAX_NODE_OUTPUTS:  # before building a list that long (dims come from the file)
        raise ctx.fail(f"{total} / {size} would make {-(-total // size)} pieces (at most {MAX_NODE_OUTPUTS}); "
                       "a size in the file is corrupt")
    sizes = [min(size, total - start) for start in range(0, total, size)]
    x = ctx.tensor(0)
    if len(sizes) == 1:
        outs: tuple = (ctx.emit("Identity", [x]),)
    else:
        split = ctx.const_tensor(np.array(sizes, np.int64), hint="split")
        outs = tuple(ctx.emit("Split", [x, split], outputs=len(sizes), axis=dim))
    for name, n in zip(outs, sizes):  # tuple outputs carry no types in the file
        ctx.lo.types[name] = (shape[:dim] + [n] + shape[dim + 1:], ctx.dtype(0))
        note_view(ctx, x, name)
    return outs


@op("Embedding")
def embedding(ctx: NodeContext):
    """Embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq) at inference: weight[input].

    padding_idx and scale_grad_by_freq only shape the gradient; max_norm renormalizes the
    weight in place on every call, which ONNX cannot express.
    """
    if ctx.num_inputs > 3 and ctx.is_const(3) and ctx.const(3) is not None:
        raise ctx.fail("max_norm renormalizes the weight in place; not expressible in ONNX")
    return ctx.emit("Gather", [ctx.tensor(1), ctx.tensor(0)], axis=0)


@op("ZerosLikeExt", "OnesLikeExt")
def zeros_like(ctx: NodeContext):
    """ZerosLikeExt/OnesLikeExt(input, dtype): a filled tensor of the input's shape."""
    dtype = _dtype_operand(ctx, 1) or _np_dtype(ctx)
    fill = 1 if "Ones" in ctx.node.op_type else 0
    value = helper.make_tensor("value", helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), [1], [fill])
    dims = ctx.shape(0)
    if dims is not None and all(d >= 0 for d in dims):
        shape = ctx.const_tensor(np.array(dims, np.int64), hint="shape")
    else:
        shape = ctx.emit("Shape", [ctx.tensor(0)], final=False, suffix="shape")
    return ctx.emit("ConstantOfShape", [shape], value=value)


@op("Unstack")
def unstack(ctx: NodeContext):
    """Unstack(x; axis, num): num tensors with the axis removed."""
    shape = ctx.shape(0)
    axis = int(ctx.arg(1, "axis", 0))
    if shape is None:
        raise ctx.fail("input rank unknown")
    axis %= len(shape)
    num = ctx.attr("num") or shape[axis]
    if num is None or int(num) <= 0:
        raise ctx.fail("number of outputs unknown (dynamic axis)")
    num = int(num)
    axes = ctx.const_tensor(np.array([axis], np.int64), hint="axis")
    if num == 1:
        out = ctx.emit("Squeeze", [ctx.tensor(0), axes])
        ctx.lo.types[out] = (shape[:axis] + shape[axis + 1:], ctx.dtype(0))
        return (out,)
    parts = ctx.emit("Split", [ctx.tensor(0)], final=False, outputs=num, axis=axis)
    outs = tuple(ctx.emit("Squeeze", [p, axes], final=False, suffix=f"squeeze{k}") for k, p in enumerate(parts))
    # MindSpore states no types for a tuple output; later rules need the pieces' ranks.
    piece = (shape[:axis] + shape[axis + 1:], ctx.dtype(0))
    for name in outs:
        ctx.lo.types[name] = piece
    return outs


# --- reductions and scans ---------------------------------------------------------------------


def _dims(ctx: NodeContext, i: int, rank: int) -> list[int]:
    value = ctx.const(i) if i < ctx.num_inputs else None
    if isinstance(value, np.ndarray):  # before comparing: an array == () does not mean "empty"
        value = value.tolist()
    if value is None or value == () or value == []:
        return list(range(rank))
    if isinstance(value, (int, np.integer)):
        value = [value]
    return [int(v) % rank if rank else int(v) for v in value]  # type: ignore[union-attr]


def _reduce_ext(ctx: NodeContext, onnx_op: str, axes_input: bool):
    """SumExt/MeanExt(input, dim, keepdim, dtype); the input is cast to the result dtype first."""
    rank = _rank(ctx)
    out = _np_dtype(ctx)
    x = _cast_to(ctx, ctx.tensor(0), ctx.dtype(0), out, "cast")
    axes = _dims(ctx, 1, rank)
    keep = int(bool(ctx.const(2))) if ctx.num_inputs > 2 and ctx.is_const(2) else 0
    if rank == 0:
        return ctx.emit("Identity", [x])
    if axes_input:
        return ctx.emit(onnx_op, [x, ctx.const_tensor(np.array(axes, np.int64), hint="axes")], keepdims=keep)
    return ctx.emit(onnx_op, [x], axes=axes, keepdims=keep)


@op("SumExt")
def sum_ext(ctx: NodeContext):
    return _reduce_ext(ctx, "ReduceSum", True)


@op("MeanExt")
def mean_ext(ctx: NodeContext):
    return _reduce_ext(ctx, "ReduceMean", False)


@op("CumSum")
def cumsum(ctx: NodeContext):
    """CumSum(input, axis, exclusive, reverse) (flags as inputs in 2.x, attributes in 1.x); ONNX
    wants the axis as a 0-d tensor."""
    x = ctx.tensor(0)
    axis = ctx.const_tensor(np.array(int(ctx.const(1)), np.int64), hint="axis")
    return ctx.emit("CumSum", [x, axis], exclusive=int(bool(ctx.arg(2, "exclusive", False))),
                    reverse=int(bool(ctx.arg(3, "reverse", False))))


# --- normalization ----------------------------------------------------------------------------


@op("GroupNorm")
def group_norm(ctx: NodeContext):
    """GroupNorm(input, num_groups, weight, bias, eps) -> (y, mean, rstd); y only (the statistics
    are training outputs). Opset 17 has no GroupNormalization: the input is viewed as
    [N, G, -1], normalized per group with InstanceNormalization, then scaled per channel."""
    shape = ctx.shape(0)
    if shape is None or len(shape) < 2:
        raise ctx.fail("needs an input of known rank >= 2")
    groups = int(ctx.const(1))
    eps = float(ctx.const(4)) if ctx.num_inputs > 4 and ctx.is_const(4) else 1e-5
    dtype = _np_dtype(ctx)
    x = ctx.tensor(0)
    grouped = ctx.emit("Reshape", [x, ctx.const_tensor(np.array([0, groups, -1], np.int64), hint="grouped")],
                       final=False, suffix="grouped")
    ones = ctx.const_tensor(np.ones(groups, dtype), hint="ones")
    zeros = ctx.const_tensor(np.zeros(groups, dtype), hint="zeros")
    normed = ctx.emit("InstanceNormalization", [grouped, ones, zeros], final=False, suffix="norm", epsilon=eps)
    in_shape = ctx.emit("Shape", [x], final=False, suffix="shape")
    y = ctx.emit("Reshape", [normed, in_shape], final=False, suffix="ungrouped")
    channel = [-1] + [1] * (len(shape) - 2)
    has_w = ctx.num_inputs > 2 and not (ctx.is_const(2) and ctx.const(2) is None)
    has_b = ctx.num_inputs > 3 and not (ctx.is_const(3) and ctx.const(3) is None)
    if has_w:
        w = ctx.emit("Reshape", [ctx.tensor(2), ctx.const_tensor(np.array(channel, np.int64), hint="channel")],
                     final=False, suffix="weight")
        y = ctx.emit("Mul", [y, w], final=not has_b, suffix="" if not has_b else "scaled")
    if has_b:
        b = ctx.emit("Reshape", [ctx.tensor(3), ctx.const_tensor(np.array(channel, np.int64), hint="channel")],
                     final=False, suffix="bias")
        y = ctx.emit("Add", [y, b])
    if not (has_w or has_b):
        y = ctx.emit("Identity", [y])
    ctx.lo.types.setdefault(y, (shape, ctx.dtype(0)))  # tuple outputs carry no types in the file
    return (y, None, None)

