"""ONNX -> MindIR rules for shapes, indexing, casts and constants (values folded when static)."""

from __future__ import annotations

import numpy as np

from engine.formats.mindir.export_ops import _ints, axes_of, cast_to, out_shape
from engine.formats.mindir.values import TYPE_IDS
from engine.formats.mindir.writer import ExportContext, exports


def _rank(ctx: ExportContext, i: int = 0) -> int:
    shape = ctx.shape(i)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    return len(shape)


def _axis(ctx: ExportContext, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    return axis % max(rank, 1)


def _static_out(ctx: ExportContext, k: int = 0) -> list[int]:
    shape = out_shape(ctx, k)
    if shape is None:
        raise ctx.fail("needs the static output shape")
    return shape


@exports("Reshape")
def reshape(ctx: ExportContext):
    shape = list(_ints(ctx.const(1)))
    in_shape = ctx.shape(0)
    if 0 in shape:
        if ctx.attr("allowzero", 0):
            raise ctx.fail("allowzero=1 with a 0 in the target shape (an empty tensor)")
        if in_shape is None:
            raise ctx.fail("a 0 in the target shape needs the static input shape")
        shape = [in_shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return ctx.call("Reshape", [ctx.tensor(0), tuple(shape)])


@exports("Flatten")
def flatten(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    rank = len(shape)
    axis = int(ctx.attr("axis", 1))
    if not -rank <= axis <= rank:
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    if axis < 0:
        axis += rank
    # ONNX: (prod(dims[:axis]), prod(dims[axis:])); axis == rank gives (N, 1), never a wrap-around
    rows, cols = int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64))
    return ctx.call("Reshape", [ctx.tensor(0), (rows, cols)])


@exports("Transpose")
def transpose(ctx: ExportContext):
    rank = _rank(ctx)
    perm = ctx.attr("perm")
    if perm is None:
        perm = list(range(rank))[::-1]
    if sorted(int(p) for p in perm) != list(range(rank)):
        raise ctx.fail(f"perm {list(perm)} is not a permutation of {rank} axes")
    return ctx.call("Transpose", [ctx.tensor(0), tuple(int(p) for p in perm)])


def _index(ctx: ExportContext, i: int, dim: int) -> str | np.ndarray:
    """Input ``i`` as indices into an axis of size ``dim``, negatives made positive."""
    if ctx.is_const(i):
        idx = ctx.const(i).astype(np.int64)
        if ((idx < -dim) | (idx >= dim)).any():
            raise ctx.fail(f"indices out of range for an axis of {dim}")
        return np.where(idx < 0, idx + dim, idx)
    idx = ctx.tensor(i)
    dtype = ctx.dtype(i) or np.dtype(np.int64)
    return ctx.call("Select", [ctx.call("Less", [idx, np.array(0, dtype)]), ctx.call("Add", [idx, np.array(dim, dtype)]), idx])


@exports("Gather")
def gather(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    axis = _axis(ctx, int(ctx.attr("axis", 0)), len(shape))
    return ctx.call("Gather", [ctx.tensor(0), _index(ctx, 1, shape[axis]), axis, 0])


@exports("GatherElements")
def gather_elements(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    axis = _axis(ctx, int(ctx.attr("axis", 0)), len(shape))
    index = _index(ctx, 1, shape[axis])
    return ctx.call("GatherD", [ctx.tensor(0), axis, index])


@exports("GatherND")
def gather_nd(ctx: ExportContext):
    """GatherNd with negative indices made positive; ``batch_dims`` folds the batch axes into one and
    prepends each row's batch number to its index tuple."""
    batch = int(ctx.attr("batch_dims", 0))
    shape, index_shape = ctx.shape(0), ctx.shape(1)
    if shape is None or index_shape is None:
        raise ctx.fail("needs static data and indices shapes")
    depth = index_shape[-1]
    if not 0 <= batch < min(len(shape), len(index_shape)) or shape[:batch] != index_shape[:batch] \
            or not 1 <= depth <= len(shape) - batch:
        raise ctx.fail(f"batch_dims {batch} with data {shape} and indices {index_shape}")
    dims = np.array(shape[batch:batch + depth], np.int64)
    idx = cast_to(ctx, ctx.tensor(1), np.int64) if ctx.dtype(1) != np.int64 else ctx.tensor(1)
    idx = ctx.call("Select", [ctx.call("Less", [idx, np.array(0, np.int64)]), ctx.call("Add", [idx, dims]), idx])
    if not batch:
        return ctx.call("GatherNd", [ctx.tensor(0), idx])
    rows = int(np.prod(shape[:batch]))
    data = ctx.call("Reshape", [ctx.tensor(0), (rows, *shape[batch:])])
    inner = index_shape[batch:-1]
    idx = ctx.call("Reshape", [idx, (rows, *inner, depth)])
    numbers = np.broadcast_to(np.arange(rows, dtype=np.int64).reshape((rows,) + (1,) * (len(inner) + 1)),
                              (rows, *inner, 1))
    idx = ctx.call("Concat", [ctx.make_tuple([ctx.w.builder.constant(np.ascontiguousarray(numbers)), idx]), len(inner) + 1])
    y = ctx.call("GatherNd", [data, idx])
    return ctx.call("Reshape", [y, (*shape[:batch], *inner, *shape[batch + depth:])])


@exports("Concat")
def concat(ctx: ExportContext):
    parts = [ctx.tensor(i) for i in range(len(ctx.node.input)) if ctx.has_input(i)]
    axis = _axis(ctx, int(ctx.attr("axis", 0)), len(_static_out(ctx)))
    return ctx.call("Concat", [ctx.make_tuple(parts), axis])


@exports("Unsqueeze")
def unsqueeze(ctx: ExportContext):
    axes = axes_of(ctx, 1) or []
    rank = _rank(ctx) + len(axes)
    y = ctx.tensor(0)
    for axis in sorted(_axis(ctx, a, rank) for a in axes):
        y = ctx.call("ExpandDims", [y, axis])
    return y


@exports("Squeeze")
def squeeze(ctx: ExportContext):
    axes = axes_of(ctx, 1)
    rank = _rank(ctx)
    return ctx.call("Squeeze", [ctx.tensor(0), tuple(_axis(ctx, a, rank) for a in axes or ())])


def _onnx_dtype(ctx: ExportContext, code: int) -> np.dtype:
    import onnx

    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(int(code))
    except (KeyError, ValueError, TypeError):
        raise ctx.fail(f"unknown ONNX data type {code}") from None
    if dtype.name not in TYPE_IDS:
        raise ctx.fail(f"cast to {onnx.TensorProto.DataType.Name(int(code))} has no MindSpore type")
    return dtype


@exports("Cast")
def cast(ctx: ExportContext):
    if ctx.attr("to") is None:
        raise ctx.fail("no 'to' attribute")
    dtype = _onnx_dtype(ctx, ctx.attr("to"))
    source = ctx.dtype(0)
    if source is not None and source.name not in TYPE_IDS:
        raise ctx.fail(f"cast from {source} has no MindSpore type")
    return cast_to(ctx, ctx.tensor(0), dtype)


@exports("CastLike")
def cast_like(ctx: ExportContext):
    target = ctx.dtype(1)
    if target is None or target.name not in TYPE_IDS:
        raise ctx.fail(f"cast to {target} has no MindSpore type")
    source = ctx.dtype(0)
    if source is not None and source.name not in TYPE_IDS:
        raise ctx.fail(f"cast from {source} has no MindSpore type")
    return cast_to(ctx, ctx.tensor(0), target)


@exports("Identity")
def identity(ctx: ExportContext):
    name = ctx.node.input[0]
    if name in ctx.w.consts:
        return ctx.w.consts[name]
    return ctx.tensor(0)


@exports("Dropout")
def dropout(ctx: ExportContext):
    """Inference Dropout: the input unchanged and an all-true mask; training mode is refused."""
    if ctx.has_input(2):
        if not ctx.is_const(2):
            raise ctx.fail("training_mode given at run time")
        if bool(ctx.const(2).ravel()[0]):
            raise ctx.fail("training-mode Dropout (random) cannot be written as an inference graph")
    y = ctx.w.consts[ctx.node.input[0]] if ctx.node.input[0] in ctx.w.consts else ctx.tensor(0)
    if len(ctx.node.output) > 1 and ctx.node.output[1]:
        return [y, np.ones(_static_out(ctx, 1), np.bool_)]
    return y


@exports("Constant")
def constant(ctx: ExportContext):
    import onnx

    if len(ctx.node.attribute) != 1:
        raise ctx.fail("needs exactly one value attribute")
    attr = ctx.node.attribute[0]
    if attr.name == "value":
        value = onnx.numpy_helper.to_array(attr.t)
    elif attr.name in ("value_float", "value_floats", "value_int", "value_ints"):
        value = np.asarray(onnx.helper.get_attribute_value(attr), dtype=np.float32 if "float" in attr.name else np.int64)
    else:
        raise ctx.fail(f"a {attr.name} constant")
    if value.dtype.name not in TYPE_IDS:
        raise ctx.fail(f"a constant of dtype {value.dtype} has no MindSpore type")
    return value


@exports("ConstantOfShape")
def constant_of_shape(ctx: ExportContext):
    import onnx

    shape = _ints(ctx.const(0))
    if any(d < 0 for d in shape):
        raise ctx.fail(f"negative dims {list(shape)}")
    value = ctx.attrs.get("value")
    fill = onnx.numpy_helper.to_array(value).ravel() if value is not None else np.zeros(1, np.float32)
    if fill.size != 1 or fill.dtype.name not in TYPE_IDS:
        raise ctx.fail(f"a fill value of dtype {fill.dtype}")
    return np.full(shape, fill[0], dtype=fill.dtype)


@exports("Range")
def range_(ctx: ExportContext):
    start, limit, delta = (ctx.const(i).ravel()[0] for i in range(3))
    if delta == 0:
        raise ctx.fail("delta is 0")
    dtype = ctx.const(0).dtype
    count = max(int(np.ceil((limit - start) / delta)), 0)
    return (start + np.arange(count, dtype=np.float64 if dtype.kind == "f" else np.int64) * delta).astype(dtype)


@exports("Shape")
def shape_(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("dynamic shapes cannot be written as MindIR constants")
    start, end = int(ctx.attr("start", 0)), ctx.attr("end")
    return np.array(shape[start:end], np.int64)


@exports("Size")
def size(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("dynamic shapes cannot be written as MindIR constants")
    return np.array(int(np.prod(shape, dtype=np.int64)), np.int64)


@exports("EyeLike")
def eye_like(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None or len(shape) != 2:
        raise ctx.fail("needs a static 2-D input")
    dtype = _onnx_dtype(ctx, ctx.attr("dtype")) if ctx.attr("dtype") is not None else ctx.dtype(0)
    return np.eye(shape[0], shape[1], k=int(ctx.attr("k", 0)), dtype=dtype)


@exports("Slice")
def slice_(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    starts, ends = _ints(ctx.const(1)), _ints(ctx.const(2))
    axes = _ints(ctx.const(3)) if ctx.has_input(3) else tuple(range(len(starts)))
    steps = _ints(ctx.const(4)) if ctx.has_input(4) else (1,) * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ctx.fail("starts, ends, axes and steps differ in length")
    rank = len(shape)
    begin, end, stride = [0] * rank, list(shape), [1] * rank
    end_mask = 0
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = _axis(ctx, a, rank)
        if st == 0:
            raise ctx.fail("a slice step of 0")
        b, f, _ = slice(s, e, st).indices(shape[a])
        begin[a], end[a], stride[a] = b, f, st
        if st < 0 and f < 0:  # runs down to index 0: StridedSlice would read -1 as the last element
            end_mask |= 1 << a
            end[a] = 0
    result = out_shape(ctx)
    if result is not None and 0 in result:
        return np.zeros(result, dtype=ctx.dtype(0) or np.float32)
    return ctx.call("StridedSlice", [ctx.tensor(0), tuple(begin), tuple(end), tuple(stride), 0, end_mask, 0, 0, 0])


@exports("Split")
def split(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    axis = _axis(ctx, int(ctx.attr("axis", 0)), len(shape))
    count = len(ctx.node.output)
    sizes = list(_ints(ctx.const(1))) if ctx.has_input(1) else ctx.attr("split")
    if sizes is None:
        chunk = -(-shape[axis] // count)
        sizes = [min(chunk, shape[axis] - k * chunk) for k in range(count)]
    sizes = [int(v) for v in sizes]
    if len(sizes) != count or sum(sizes) != shape[axis] or any(v < 0 for v in sizes):
        raise ctx.fail(f"split sizes {sizes} do not fit axis {axis} of {shape} into {count} outputs")
    if len(set(sizes)) == 1 and sizes[0] > 0:
        y = ctx.call("Split", [ctx.tensor(0), axis, count])
        return [ctx.item(y, k) for k in range(count)]
    outs, offset, x = [], 0, ctx.tensor(0)
    for k, n in enumerate(sizes):
        if n == 0:
            outs.append(np.zeros(shape[:axis] + [0] + shape[axis + 1:], dtype=ctx.dtype(0) or np.float32))
            continue
        begin, end = [0] * len(shape), list(shape)
        begin[axis], end[axis] = offset, offset + n
        outs.append(ctx.call("StridedSlice", [x, tuple(begin), tuple(end), (1,) * len(shape), 0, 0, 0, 0, 0]))
        offset += n
    return outs


@exports("Expand")
def expand(ctx: ExportContext):
    return ctx.call("BroadcastTo", [ctx.tensor(0), tuple(_static_out(ctx))])


@exports("Tile")
def tile(ctx: ExportContext):
    if ctx.has_input(1) and not ctx.is_const(1):
        return ctx.call("Tile", [ctx.tensor(0), ctx.tensor(1)])
    return ctx.call("Tile", [ctx.tensor(0), _ints(ctx.const(1))])


@exports("Trilu")
def trilu(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None or len(shape) < 2:
        raise ctx.fail("needs a static input of rank >= 2")
    rows, cols = shape[-2:]
    diff = np.arange(cols, dtype=np.int64)[None, :] - np.arange(rows, dtype=np.int64)[:, None]  # j - i
    x = ctx.tensor(0)
    upper = int(ctx.attr("upper", 1))
    if not ctx.has_input(1) or ctx.is_const(1):
        k = int(ctx.const(1).ravel()[0]) if ctx.has_input(1) else 0
        mask = np.broadcast_to(diff >= k if upper else diff <= k, shape).copy()
        keep = ctx.w.builder.constant(mask)
    else:
        k = cast_to(ctx, ctx.tensor(1), np.int64)
        keep = ctx.call("GreaterEqual" if upper else "LessEqual", [diff, k])
        keep = ctx.call("BroadcastTo", [keep, tuple(shape)])
    return ctx.call("Select", [keep, x, ctx.call("ZerosLike", [x])])


@exports("ArgMax", "ArgMin")
def arg_max(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    axis = _axis(ctx, int(ctx.attr("axis", 0)), len(shape))
    x = ctx.tensor(0)
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    if dtype.kind != "f":  # compared in float: exact up to 32-bit integers, not beyond
        if dtype.itemsize >= 8:
            raise ctx.fail(f"{ctx.node.op_type} on {dtype}")
        x = cast_to(ctx, x, np.float64) if dtype.itemsize >= 4 else cast_to(ctx, x, np.float32)
    last = int(ctx.attr("select_last_index", 0))
    if last:
        x = ctx.call("ReverseV2", [x, (axis,)])
    y = ctx.call("Argmax" if ctx.node.op_type == "ArgMax" else "Argmin", [x, axis, TYPE_IDS["int64"]])
    ctx.w.builder.annotate(y, shape[:axis] + shape[axis + 1:], np.dtype(np.int64))  # readers take the index type from here
    if last:
        y = ctx.call("Sub", [np.array(shape[axis] - 1, np.int64), y])
    if int(ctx.attr("keepdims", 1)):
        y = ctx.call("ExpandDims", [y, axis])
    return y


@exports("CumSum", "CumProd")
def cum_sum(ctx: ExportContext):
    rank = _rank(ctx)
    axis = _axis(ctx, int(ctx.const(1).ravel()[0]), rank)
    return ctx.call(ctx.node.op_type, [ctx.tensor(0), axis, bool(ctx.attr("exclusive", 0)), bool(ctx.attr("reverse", 0))])


@exports("DepthToSpace", "SpaceToDepth")
def depth_to_space(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None or len(shape) != 4:
        raise ctx.fail("needs a static 4-D input")
    n, c, h, w = shape
    b = int(ctx.attr("blocksize", 0))
    if b <= 0:
        raise ctx.fail(f"blocksize {b} must be positive")
    x = ctx.tensor(0)
    if ctx.node.op_type == "SpaceToDepth":
        if h % b or w % b:
            raise ctx.fail(f"blocksize {b} does not divide {h}x{w}")
        x = ctx.call("Reshape", [x, (n, c, h // b, b, w // b, b)])
        perm = (0, 3, 5, 1, 2, 4) if ctx.attr("mode", "DCR") == "DCR" else (0, 1, 3, 5, 2, 4)
        x = ctx.call("Transpose", [x, perm])
        return ctx.call("Reshape", [x, (n, c * b * b, h // b, w // b)])
    if c % (b * b):
        raise ctx.fail(f"blocksize {b} does not divide {c} channels")
    if ctx.attr("mode", "DCR") == "DCR":
        x = ctx.call("Reshape", [x, (n, b, b, c // (b * b), h, w)])
        x = ctx.call("Transpose", [x, (0, 3, 4, 1, 5, 2)])
    else:
        x = ctx.call("Reshape", [x, (n, c // (b * b), b, b, h, w)])
        x = ctx.call("Transpose", [x, (0, 1, 4, 2, 5, 3)])
    return ctx.call("Reshape", [x, (n, c // (b * b), h * b, w * b)])


@exports("OneHot")
def one_hot(ctx: ExportContext):
    depth = int(ctx.const(1).ravel()[0])
    values = ctx.const(2).ravel()
    shape = ctx.shape(0)
    if shape is None or depth <= 0 or values.size != 2:
        raise ctx.fail("needs a static input, a positive depth and [off, on] values")
    axis = int(ctx.attr("axis", -1))
    axis = _axis(ctx, axis, len(shape) + 1)
    idx = ctx.tensor(0)
    dtype = ctx.dtype(0) or np.dtype(np.int64)
    if dtype.kind == "f":
        idx = cast_to(ctx, idx, np.int64)
    elif dtype != np.int64:
        idx = cast_to(ctx, idx, np.int64)
    idx = ctx.call("Select", [ctx.call("Less", [idx, np.array(0, np.int64)]), ctx.call("Add", [idx, np.array(depth, np.int64)]), idx])
    off, on = values[0], values[1]
    return ctx.call("OneHot", [idx, depth, np.array(on), np.array(off), axis])

