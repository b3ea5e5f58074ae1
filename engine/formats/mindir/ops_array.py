"""Lowering rules for MindSpore shape and indexing primitives: reshape, transpose, slices, gather."""

from __future__ import annotations

import numpy as np

from engine.formats.mindir.lower import Const, NodeContext, op

INT64_MAX = np.iinfo(np.int64).max


def _ints(value: object) -> list[int]:
    if isinstance(value, np.ndarray):
        return [int(v) for v in value.ravel()]
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    return [int(v) for v in value]  # type: ignore[union-attr]


@op("Reshape")
def reshape(ctx: NodeContext):
    if ctx.is_const(1):
        shape = _ints(ctx.const(1))
        out = ctx.emit("Reshape", [ctx.tensor(0), ctx.const_tensor(np.array(shape, np.int64), hint="shape")])
        if not ctx.node.out_types:  # the file often states no type here; later rules need at least the rank
            ctx.lo.types.setdefault(out, (_resolved(shape, ctx.shape(0)), ctx.dtype(0)))
        return out
    return ctx.emit("Reshape", [ctx.tensor(0), ctx.tensor(1)])


def _resolved(shape: list[int], in_shape: list[int] | None) -> list[int]:
    """A Reshape target with its -1 worked out when the input's size is static (-1 stays otherwise)."""
    if shape.count(-1) != 1 or in_shape is None or any(d < 0 for d in in_shape):
        return shape
    known = int(np.prod([d for d in shape if d != -1]))
    total = int(np.prod(in_shape))
    if known <= 0 or total % known:
        return shape
    return [total // known if d == -1 else d for d in shape]


@op("Flatten")
def flatten(ctx: NodeContext):
    return ctx.emit("Flatten", [ctx.tensor(0)], axis=1)


@op("Transpose")
def transpose(ctx: NodeContext):
    return ctx.emit("Transpose", [ctx.tensor(0)], perm=_ints(ctx.arg(1, "perm")))


@op("ExpandDims")
def expand_dims(ctx: NodeContext):
    axes = ctx.const_tensor(np.array(_ints(ctx.arg(1, "axis")), np.int64), hint="axes")
    return ctx.emit("Unsqueeze", [ctx.tensor(0), axes])


@op("Squeeze")
def squeeze(ctx: NodeContext):
    axis = ctx.arg(1, "axis", ())
    if isinstance(axis, np.ndarray):  # `in` would compare an array elementwise
        axis = axis.tolist()
    if axis in ((), [], None):
        return ctx.emit("Squeeze", [ctx.tensor(0)])
    return ctx.emit("Squeeze", [ctx.tensor(0), ctx.const_tensor(np.array(_ints(axis), np.int64), hint="axes")])


@op("Concat")
def concat(ctx: NodeContext):
    return ctx.emit("Concat", ctx.tensors(0), axis=int(ctx.arg(1, "axis", 0)))


@op("Stack")
def stack(ctx: NodeContext):
    axis = int(ctx.arg(1, "axis", 0))
    axes = ctx.const_tensor(np.array([axis], np.int64), hint="axes")
    parts = [ctx.emit("Unsqueeze", [t, axes], final=False, suffix=f"unsqueeze{i}") for i, t in enumerate(ctx.tensors(0))]
    return ctx.emit("Concat", parts, axis=axis)


@op("Split")
def split(ctx: NodeContext):
    axis = int(ctx.arg(1, "axis", 0))
    count = int(ctx.arg(2, "output_num", 1))
    outs = ctx.emit("Split", [ctx.tensor(0)], outputs=count, axis=axis, num_outputs=None)
    outs = outs if isinstance(outs, tuple) else (outs,)
    shape = ctx.shape(0)
    if shape:  # tuple outputs carry no types in the file; later rules need the pieces' ranks
        k = axis % len(shape)
        if shape[k] >= 0 and shape[k] % count == 0:
            for name in outs:
                ctx.lo.types.setdefault(name, (shape[:k] + [shape[k] // count] + shape[k + 1:], ctx.dtype(0)))
    return outs


@op("Gather", "GatherV2")
def gather(ctx: NodeContext):
    """Gather(params, indices, axis, batch_dims)."""
    if int(ctx.arg(3, "batch_dims", 0) or 0) != 0:
        raise ctx.fail("batch_dims != 0 is not lowered yet")
    return ctx.emit("Gather", [ctx.tensor(0), ctx.tensor(1)], axis=int(ctx.arg(2, "axis", 0)))


@op("GatherD")
def gather_d(ctx: NodeContext):
    return ctx.emit("GatherElements", [ctx.tensor(0), ctx.tensor(2)], axis=int(ctx.const(1)))


@op("Tile")
def tile(ctx: NodeContext):
    """Tile(x, multiples): more multiples than x has axes put leading 1s on x first (MindSpore's rule;
    ONNX's Tile wants one repeat per axis). Multiples given at run time need their length static."""
    x = ctx.tensor(0)
    if ctx.is_const(1) or ctx.num_inputs < 2:
        multiples = _ints(ctx.arg(1, "multiples"))
        count = len(multiples)
        reps = ctx.const_tensor(np.array(multiples, np.int64), hint="repeats")
    else:
        value = ctx.value(1)
        if isinstance(value, tuple):  # a MakeTuple of scalars, some computed (dims of a dynamic shape)
            count = len(value)
        else:
            count = (ctx.shape(1) or [-1])[0] if len(ctx.shape(1) or []) == 1 else -1
        if count < 0:
            raise ctx.fail("multiples given at run time with no static length")
        reps = ctx.tensor(1)
        if np.dtype(ctx.dtype(1) or np.int64) != np.int64:
            from onnx import TensorProto

            reps = ctx.emit("Cast", [reps], final=False, suffix="repeats", to=TensorProto.INT64)
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("input rank unknown")
    if count < len(shape):
        raise ctx.fail(f"{count} multiples for a rank-{len(shape)} input")
    if count > len(shape):
        lead = ctx.const_tensor(np.arange(count - len(shape), dtype=np.int64), hint="lead")
        x = ctx.emit("Unsqueeze", [x, lead], final=False, suffix="lead")
    return ctx.emit("Tile", [x, reps])


@op("BroadcastTo")
def broadcast_to(ctx: NodeContext):
    shape = _ints(ctx.arg(1, "shape"))
    in_shape = ctx.shape(0) or []
    offset = len(shape) - len(in_shape)
    resolved = [in_shape[i - offset] if d == -1 and i >= offset else d for i, d in enumerate(shape)]
    return ctx.emit("Expand", [ctx.tensor(0), ctx.const_tensor(np.array(resolved, np.int64), hint="shape")])


@op("Slice")
def slice_(ctx: NodeContext):
    begin = _ints(ctx.arg(1, "begin"))
    size = _ints(ctx.arg(2, "size"))
    ends = [INT64_MAX if s == -1 else b + s for b, s in zip(begin, size)]
    return ctx.emit("Slice", [
        ctx.tensor(0), ctx.const_tensor(np.array(begin, np.int64), hint="starts"),
        ctx.const_tensor(np.array(ends, np.int64), hint="ends"),
        ctx.const_tensor(np.arange(len(begin), dtype=np.int64), hint="axes"),
    ])


@op("StridedSlice")
def strided_slice(ctx: NodeContext):
    """StridedSlice(x, begin, end, strides, begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask)."""
    begin, end, strides = (_ints(ctx.arg(i, n)) for i, n in ((1, "begin"), (2, "end"), (3, "strides")))
    begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_mask = (
        int(ctx.arg(i, n, 0) or 0)
        for i, n in ((4, "begin_mask"), (5, "end_mask"), (6, "ellipsis_mask"), (7, "new_axis_mask"), (8, "shrink_axis_mask"))
    )
    if ellipsis_mask or new_axis_mask:
        raise ctx.fail("ellipsis and new-axis masks are not lowered yet")
    starts, ends = [], []
    for k, (b, e, s) in enumerate(zip(begin, end, strides)):
        starts.append((0 if s > 0 else -1) if begin_mask >> k & 1 else b)
        ends.append((INT64_MAX if s > 0 else -INT64_MAX) if end_mask >> k & 1 else e)
    shrink = [k for k in range(len(begin)) if shrink_mask >> k & 1]
    for k in shrink:
        ends[k] = starts[k] + 1 if starts[k] != -1 else INT64_MAX
    sliced = ctx.emit("Slice", [
        ctx.tensor(0), ctx.const_tensor(np.array(starts, np.int64), hint="starts"),
        ctx.const_tensor(np.array(ends, np.int64), hint="ends"),
        ctx.const_tensor(np.arange(len(begin), dtype=np.int64), hint="axes"),
        ctx.const_tensor(np.array(strides, np.int64), hint="steps"),
    ], final=not shrink, suffix="" if not shrink else "slice")
    out = sliced
    if shrink:
        out = ctx.emit("Squeeze", [sliced, ctx.const_tensor(np.array(shrink, np.int64), hint="shrink")])
    in_shape = ctx.shape(0)
    if not ctx.node.out_types and in_shape is not None and len(begin) <= len(in_shape):
        # no type in the file (a slice of a weight inside an RNN): a MatMul after it needs the rank
        dims = _sliced_dims(in_shape, starts, ends, strides)
        ctx.lo.types.setdefault(out, ([d for k, d in enumerate(dims) if k not in shrink], ctx.dtype(0)))
    return out


def _sliced_dims(shape: list[int], starts: list[int], ends: list[int], steps: list[int]) -> list[int]:
    """The shape a Slice of ``shape`` gives (-1 where the input dim is unknown)."""
    dims = list(shape)
    for k, (b, e, s) in enumerate(zip(starts, ends, steps)):
        if dims[k] >= 0 and s != 0:
            dims[k] = len(range(*slice(b, e, s).indices(dims[k])))
        else:
            dims[k] = -1
    return dims


@op("Shape", "TensorShape")
def shape(ctx: NodeContext):
    """Shape of a statically shaped tensor folds to a constant, as MindSpore's own graph does."""
    dims = ctx.shape(0)
    if dims is not None and all(d >= 0 for d in dims):
        if ctx.node.op_type == "Shape":
            return Const(tuple(dims))
        return Const(np.array(dims, np.int64))
    return ctx.emit("Shape", [ctx.tensor(0)])


@op("OnesLike", "ZerosLike")
def ones_like(ctx: NodeContext):
    """A constant when the input's shape is static (ConstantOfShape when large); else
    ConstantOfShape(Shape(x)) in x's dtype."""
    dims, dtype = ctx.shape(0), ctx.dtype(0) or ctx.out_dtype()
    fill = np.ones if ctx.node.op_type == "OnesLike" else np.zeros
    if dims is not None and all(d >= 0 for d in dims) and dtype is not None:
        out = ctx.emit("Identity", [ctx.lo.filled(list(dims), dtype, 1 if fill is np.ones else 0,
                                                  hint=f"{ctx.base}_fill")])
        ctx.lo.types.setdefault(out, (list(dims), np.dtype(dtype)))
        return out
    from onnx import numpy_helper

    shape = ctx.emit("Shape", [ctx.tensor(0)], final=False, suffix="shape")
    if dtype is not None:
        out = ctx.emit("ConstantOfShape", [shape], value=numpy_helper.from_array(fill(1, dtype), "value"))
        ctx.lo.types.setdefault(out, (dims, np.dtype(dtype)))
        return out
    # dtype unknown here (the file states no type for the input): 0 and 1 are exact in every
    # dtype, so a float32 fill takes the input's dtype at run time.
    filled = ctx.emit("ConstantOfShape", [shape], final=False, suffix="fill",
                      value=numpy_helper.from_array(fill(1, np.float32), "value"))
    return ctx.emit("CastLike", [filled, ctx.tensor(0)])


@op("ResizeNearestNeighbor", "ResizeBilinear", "ResizeBilinearV2", "ResizeNearestNeighborV2")
def resize(ctx: NodeContext):
    """Resize to a constant size; align_corners and half_pixel_centers choose the ONNX coordinate mode."""
    size = _ints(ctx.arg(1, "size"))
    in_shape = ctx.shape(0)
    if in_shape is None:
        raise ctx.fail("needs the input rank")
    align = bool(ctx.arg(2, "align_corners", False))
    half = bool(ctx.arg(3, "half_pixel_centers", False))
    nearest = "Nearest" in ctx.node.op_type
    mode = "align_corners" if align else ("half_pixel" if half else "asymmetric")
    sizes = ctx.const_tensor(np.array(list(in_shape[:2]) + size, np.int64), hint="sizes")
    return ctx.emit("Resize", [ctx.tensor(0), "", "", sizes], mode="nearest" if nearest else "linear",
                    coordinate_transformation_mode=mode, nearest_mode="floor" if nearest else None)


@op("Pad", "PadV3")
def pad(ctx: NodeContext):
    """Pad with constant zeros; paddings are ((before, after), ...) per axis."""
    paddings = ctx.arg(1, "paddings")
    if ctx.node.op_type == "PadV3":
        flat = _ints(paddings)
        pairs = [flat[i:i + 2] for i in range(0, len(flat), 2)][::-1]  # PadV3 lists from the last axis
        rank = len(ctx.shape(0) or [])
        pairs = [[0, 0]] * (rank - len(pairs)) + pairs
        mode = str(ctx.arg(3, "mode", "constant"))
        if mode != "constant":
            raise ctx.fail(f"pad mode {mode} is not lowered yet")
    else:
        pairs = [_ints(p) for p in paddings]
    onnx_pads = [p[0] for p in pairs] + [p[1] for p in pairs]
    return ctx.emit("Pad", [ctx.tensor(0), ctx.const_tensor(np.array(onnx_pads, np.int64), hint="pads")])


@op("ReverseV2")
def reverse(ctx: NodeContext):
    """ReverseV2(x, axis): a Slice with step -1 over each axis (how MindSpore runs an LSTM backwards)."""
    axes = _ints(ctx.arg(1, "axis"))
    n = len(axes)
    return ctx.emit("Slice", [
        ctx.tensor(0), ctx.const_tensor(np.full(n, -1, np.int64), hint="starts"),
        ctx.const_tensor(np.full(n, -INT64_MAX, np.int64), hint="ends"),
        ctx.const_tensor(np.array(axes, np.int64), hint="axes"),
        ctx.const_tensor(np.full(n, -1, np.int64), hint="steps"),
    ])


@op("TensorScatterUpdate")
def tensor_scatter_update(ctx: NodeContext):
    """TensorScatterUpdate(input, indices, updates): ONNX ScatterND (indices index the leading axes)."""
    indices = ctx.tensor(1)
    if ctx.dtype(1) is not None and np.dtype(ctx.dtype(1)) != np.int64:
        from onnx import TensorProto

        indices = ctx.emit("Cast", [indices], final=False, suffix="indices", to=TensorProto.INT64)
    return ctx.emit("ScatterND", [ctx.tensor(0), indices, ctx.tensor(2)])
