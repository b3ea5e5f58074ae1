"""Lowering rules for MindSpore indexing primitives: OneHot, GatherNd, TensorScatterElements, TensorScatter{Add,Mul,Max,Min}."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from engine.formats.mindir.lower import NodeContext, op


def _int64(ctx: NodeContext, i: int, suffix: str) -> str:
    """Input ``i`` (indices) as int64, the only index type ONNX's GatherND/ScatterND take."""
    name = ctx.tensor(i)
    dtype = ctx.dtype(i)
    if dtype is not None and np.dtype(dtype) == np.int64:
        return name
    return ctx.emit("Cast", [name], final=False, suffix=suffix, to=TensorProto.INT64)


@op("OneHot")
def one_hot(ctx: NodeContext):
    """OneHot(indices, depth, on_value, off_value, axis) as Where(indices == range(depth), on, off).

    MindSpore gives a row of ``off`` for an index outside [0, depth), negative ones included;
    ONNX's OneHot counts a negative index from the end. The comparison with a constant range
    is exact for every index and every value dtype (ONNX Runtime's OneHot has only a few
    dtype combinations, and its Where lacks 16-bit integers, uint64 and bool: those are
    written as a cast of the comparison when on/off are 1/0, else refused).
    """
    depth = ctx.const(1)
    depth = int(np.asarray(depth).ravel()[0])
    if depth < 0:
        raise ctx.fail(f"depth {depth} is negative")
    on, off = (np.asarray(ctx.const(i)) for i in (2, 3))
    dtype = np.dtype(ctx.out_dtype() or on.dtype)
    axis = int(ctx.arg(4, "axis", -1))
    shape, out_shape = ctx.shape(0), ctx.out_shape()
    rank = len(shape) + 1 if shape is not None else len(out_shape) if out_shape else None
    if axis != -1 and rank is None:
        raise ctx.fail("needs the indices' rank for an axis other than -1")
    if rank is not None and not -rank <= axis < rank:
        raise ctx.fail(f"axis {axis} is out of range for an output of rank {rank}")
    trailing = 0 if axis == -1 else rank - 1 - axis % rank  # type: ignore[operator]
    positions = ctx.const_tensor(np.arange(depth, dtype=np.int64).reshape([depth] + [1] * trailing), hint="range")
    where_axis = ctx.const_tensor(np.array([axis % rank if rank is not None else -1], np.int64), hint="axis")
    index = ctx.emit("Unsqueeze", [_int64(ctx, 0, "indices"), where_axis], final=False, suffix="unsqueeze")
    hit = ctx.emit("Equal", [index, positions], final=False, suffix="equal")
    if dtype in _WHERE_DTYPES:
        return ctx.emit("Where", [hit, ctx.const_tensor(on.astype(dtype), hint="on"),
                                  ctx.const_tensor(off.astype(dtype), hint="off")])
    if on.astype(dtype) == 1 and off.astype(dtype) == 0:
        return ctx.emit("Cast", [hit], to=helper.np_dtype_to_tensor_dtype(dtype))
    raise ctx.fail(f"on {dtype.name} with values other than 1/0: ONNX Runtime has no Where for it")


# ONNX Runtime's CPU Where kernels.
_WHERE_DTYPES = {np.dtype(t) for t in (np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8,
                                       np.uint32)}


@op("GatherNd")
def gather_nd(ctx: NodeContext):
    """GatherNd(x, indices): ONNX GatherND with batch_dims 0 (int64 indices)."""
    return ctx.emit("GatherND", [ctx.tensor(0), _int64(ctx, 1, "indices")])


@op("TensorScatterElements")
def tensor_scatter_elements(ctx: NodeContext):
    """TensorScatterElements(input, indices, updates, axis, reduction); reduction 0 is none, 1 is add."""
    axis = int(ctx.arg(3, "axis", 0))
    reduction = ctx.arg(4, "reduction", 0)
    reduction = {0: "none", 1: "add", "none": "none", "add": "add"}.get(reduction)  # type: ignore[call-overload]
    if reduction is None:
        raise ctx.fail(f"reduction {ctx.arg(4, 'reduction')!r} is not lowered")
    x, updates = ctx.tensor(0), ctx.tensor(2)
    indices = _int64(ctx, 1, "indices")
    if reduction == "none":
        return ctx.emit("ScatterElements", [x, indices, updates], axis=axis)
    return _through(ctx, "ScatterElements", x, indices, updates, reduction, axis=axis)


_SCATTER_ND = {"TensorScatterAdd": "add", "TensorScatterMul": "mul", "TensorScatterMax": "max",
               "TensorScatterMin": "min"}
# ONNX Runtime's ScatterND/ScatterElements with a reduction lack float16 and bool: float32
# holds every float16 exactly, uint8 every bool.
_REDUCE_WIDEN = {np.dtype(np.float16): np.dtype(np.float32), np.dtype(np.bool_): np.dtype(np.uint8)}


@op(*_SCATTER_ND)
def tensor_scatter_reduce(ctx: NodeContext):
    """TensorScatter{Add,Mul,Max,Min}(input, indices, updates): ONNX ScatterND with that reduction
    (add/mul since opset 16, max/min since 18, which raises the model's opset)."""
    reduction = _SCATTER_ND[ctx.node.op_type]
    if reduction in ("max", "min"):
        ctx.lo.require_opset(18, f"{ctx.node.op_type} (ScatterND reduction {reduction})")
    return _through(ctx, "ScatterND", ctx.tensor(0), _int64(ctx, 1, "indices"), ctx.tensor(2), reduction)


def _through(ctx: NodeContext, onnx_op: str, x: str, indices: str, updates: str, reduction: str, **attrs):
    """A reducing scatter, through a wider dtype where ONNX Runtime lacks the kernel.

    float16 goes through float32: exact for max/min, and for add/mul when each element gets one
    update (the float32 result rounds once to float16, the same as a float16 operation); with
    several updates of one element the sum is rounded once at the end, not after each update.
    """
    dtype = ctx.dtype(0) or ctx.out_dtype()
    wide = _REDUCE_WIDEN.get(np.dtype(dtype)) if dtype is not None else None
    if wide is None:
        return ctx.emit(onnx_op, [x, indices, updates], reduction=reduction, **attrs)
    to = helper.np_dtype_to_tensor_dtype(wide)
    x = ctx.emit("Cast", [x], final=False, suffix="wide_x", to=to)
    updates = ctx.emit("Cast", [updates], final=False, suffix="wide_updates", to=to)
    y = ctx.emit(onnx_op, [x, indices, updates], final=False, suffix="scatter", reduction=reduction, **attrs)
    return ctx.emit("Cast", [y], to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


@op("TopK")
def top_k(ctx: NodeContext):
    """TopK(x, k[, sorted]) -> (values, int32 indices): the k largest along the last axis.

    MindSpore returns equal values lower index first, as ONNX's TopK does; an unsorted
    request is given sorted (any order is allowed then).
    """
    if ctx.is_const(1):
        k = ctx.const_tensor(np.array([int(np.asarray(ctx.const(1)).ravel()[0])], np.int64), hint="k")
    else:
        k = ctx.emit("Reshape", [_int64(ctx, 1, "k64"), ctx.const_tensor(np.array([1], np.int64), hint="one")],
                     final=False, suffix="k")
    values, indices = ctx.emit("TopK", [ctx.tensor(0), k], outputs=2, axis=-1, largest=1, sorted=1)
    index_dtype = np.dtype(ctx.out_dtype(1) or np.int32)
    if index_dtype != np.int64:
        indices = ctx.emit("Cast", [indices], final=False, suffix="indices",
                           to=helper.np_dtype_to_tensor_dtype(index_dtype))
    return values, indices


_GRID_PADDING = {0: "zeros", 1: "border", 2: "reflection"}
# ONNX Runtime's GridSample kernels: float16/float32 at opset 16, float64 only from 20.
_GRID_AT_16 = {np.dtype(np.float16), np.dtype(np.float32)}


@op("GridSampler2D", "GridSampler3D")
def grid_sampler(ctx: NodeContext):
    """GridSampler2D/3D(input, grid, interpolation_mode, padding_mode, align_corners) -> ONNX GridSample.

    MindSpore's enums: interpolation 0 bilinear, 1 nearest; padding 0 zeros, 1 border,
    2 reflection. Bilinear sampling follows the same rules in both (PyTorch's). Nearest is
    refused: MindSpore rounds a coordinate halfway between two pixels up, ONNX to even. The
    node is written in opset 16's spelling (mode "bilinear"); a 5-D input (GridSample's N-D
    form) or float64 needs opset 20, which renames the mode when the model is raised.
    """
    mode = ctx.arg(2, "interpolation_mode", 0)
    padding = _GRID_PADDING.get(ctx.arg(3, "padding_mode", 0))  # type: ignore[call-overload]
    if mode in (1, "nearest"):
        raise ctx.fail("nearest mode (MindSpore rounds coordinates halfway between pixels up, ONNX to even)")
    if mode not in (0, "bilinear") or padding is None:
        raise ctx.fail(f"interpolation mode {mode!r}, padding mode {ctx.arg(3, 'padding_mode', 0)!r}")
    align = ctx.arg(4, "align_corners", False)
    if not isinstance(align, (bool, int, np.bool_)):
        raise ctx.fail("align_corners given at run time")
    dtype = ctx.dtype(0)
    if ctx.node.op_type == "GridSampler3D" or (dtype is not None and np.dtype(dtype) not in _GRID_AT_16):
        ctx.lo.require_opset(20, f"{ctx.node.op_type} on {dtype}")
    return ctx.emit("GridSample", [ctx.tensor(0), ctx.tensor(1)], mode="bilinear", padding_mode=padding,
                    align_corners=int(bool(align)))
