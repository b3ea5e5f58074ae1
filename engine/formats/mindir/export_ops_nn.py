"""ONNX -> MindIR rules for convolution, pooling and padding (1-D through Conv2D/pools on a unit axis).

MindSpore's pooling only knows VALID and SAME windows, so explicit pads and ceil_mode become
a constant border around the input (-inf for MaxPool, 0 for AveragePool) before a VALID
pool; an average whose windows overlap that border is rescaled by the exact per-position
divisor ONNX uses (with or without count_include_pad), computed here from the static shape.
"""

from __future__ import annotations

import itertools

import numpy as np

from engine.formats.mindir.export_ops import NCHW, PAD_VALID, _explicit_pads, _ints, cast_to, check_window, out_shape
from engine.formats.mindir.values import TYPE_IDS
from engine.formats.mindir.writer import SHAPED_CONSTANT_LIMIT, ExportContext, exports


def check_fits(ctx: ExportContext, spatial, eff, begins, ends) -> None:
    """Refuse a window (``eff``: dilated kernel sizes) larger than the padded input: ONNX's shape
    inference gives such a node a negative output size, which no MindIR can hold."""
    padded = [n + b + e for n, b, e in zip(spatial, begins, ends)]
    if any(w > n for w, n in zip(eff, padded)):
        raise ctx.fail(f"a window of {list(eff)} is larger than the padded input {padded}")


def pad_axis(ctx: ExportContext, x: str, shape: list[int], axis: int, before: int, after: int, fill) -> tuple[str, list[int]]:
    """``x`` with ``before``/``after`` constant elements on ``axis`` (negative amounts crop)."""
    dtype = np.dtype(type(fill)) if not isinstance(fill, np.ndarray) else fill.dtype
    if before < 0 or after < 0:
        begin, end = [0] * len(shape), list(shape)
        begin[axis] = max(-before, 0)
        end[axis] = shape[axis] - max(-after, 0)
        if end[axis] <= begin[axis]:
            raise ctx.fail(f"pads crop axis {axis} of {shape} to nothing")
        x = ctx.call("StridedSlice", [x, tuple(begin), tuple(end), (1,) * len(shape), 0, 0, 0, 0, 0])
        shape = list(shape)
        shape[axis] = end[axis] - begin[axis]
        before, after = max(before, 0), max(after, 0)
    if not before and not after:
        return x, shape
    parts: list = []
    for amount in (before, None, after):
        if amount is None:
            parts.append(x)
        elif amount:
            block = list(shape)
            block[axis] = amount
            if int(np.prod(block, dtype=np.float64)) > SHAPED_CONSTANT_LIMIT:  # padding is a constant block
                raise ctx.fail(f"a pad of {amount:,} on axis {axis} of {shape} (a constant of "
                               f"{int(np.prod(block, dtype=np.float64)):,} elements; at most {SHAPED_CONSTANT_LIMIT:,})")
            parts.append(np.full(block, fill, dtype=dtype))
    names = [p if isinstance(p, str) else ctx.w.builder.constant(p) for p in parts]
    shape = list(shape)
    shape[axis] += before + after
    return ctx.call("Concat", [ctx.make_tuple(names), axis]), shape


def _fill(dtype: np.dtype, kind: str):
    if kind == "max":
        return np.array(-np.inf if dtype.kind == "f" else np.iinfo(dtype).min, dtype)
    return np.array(0, dtype)


@exports("Conv")
def conv(ctx: ExportContext):
    x_shape, w_shape = ctx.shape(0), ctx.shape(1)
    if x_shape is None or w_shape is None or len(w_shape) not in (3, 4) or len(x_shape) != len(w_shape):
        raise ctx.fail("only 1-D and 2-D convolution with static shapes is supported")
    nd = len(w_shape) - 2
    kernel = list(ctx.attr("kernel_shape", w_shape[2:]))
    strides = list(ctx.attr("strides", [1] * nd))
    dilations = list(ctx.attr("dilations", [1] * nd))
    if not (len(kernel) == len(strides) == len(dilations) == nd):
        raise ctx.fail(f"kernel_shape {kernel}, strides {strides} and dilations {dilations} must each have {nd} values")
    check_window(ctx, kernel, strides, dilations)
    pads = _explicit_pads(ctx, x_shape[2:], kernel, strides, dilations)
    if len(pads) != 2 * nd:
        raise ctx.fail(f"pads {pads} must have {2 * nd} values")
    check_fits(ctx, x_shape[2:], [(k - 1) * d + 1 for k, d in zip(kernel, dilations)], pads[:nd], pads[nd:])
    group = int(ctx.attr("group", 1))
    if group <= 0 or x_shape[1] % group or w_shape[0] % group or x_shape[1] // group != w_shape[1]:
        raise ctx.fail(f"group {group} does not fit input channels {x_shape[1]} and weight {w_shape}")
    x, w = ctx.tensor(0), ctx.tensor(1)
    if nd == 1:  # as 2-D on a unit height
        x = ctx.call("Reshape", [x, (x_shape[0], x_shape[1], 1, x_shape[2])])
        w = ctx.call("Reshape", [w, (w_shape[0], w_shape[1], 1, w_shape[2])])
        kernel, strides, dilations, pads = [1, *kernel], [1, *strides], [1, *dilations], [0, pads[0], 0, pads[1]]
    y = conv2d(ctx, x, w, w_shape[0], kernel, strides, dilations, pads, group, typed=nd == 2)
    if ctx.has_input(2):
        y = ctx.call("BiasAdd", [y, ctx.tensor(2), NCHW])
    if nd == 1:
        y = ctx.call("Reshape", [y, tuple(out_shape(ctx) or (x_shape[0], w_shape[0], -1))])
    return y


def conv2d(ctx: ExportContext, x: str, w: str, out_channels: int, kernel, strides, dilations, pads, group: int,
           typed: bool = False) -> str:
    """A MindSpore Conv2D CNode; ``pads`` in ONNX order (begins then ends)."""
    pad_list = (pads[0], pads[2], pads[1], pads[3])  # MindSpore: top, bottom, left, right
    attrs = {
        "kernel_size": tuple(int(k) for k in kernel), "mode": 1, "out_channel": int(out_channels), "pad": pad_list,
        "pad_mode": "pad", "format": "NCHW", "pad_list": pad_list, "groups": group,
        "stride": (1, 1, *strides), "group": group, "dilation": (1, 1, *dilations),
        "input_names": ["x", "w"], "output_names": ["output"],
    }
    return ctx.call("Conv2D", [x, w], attrs=attrs, function=False, typed=typed)


@exports("ConvTranspose")
def conv_transpose(ctx: ExportContext):
    """Zero-insert the input by the stride, pad by dilation*(k-1) minus pads, then a Conv2D with the
    flipped, regrouped weight: exactly ONNX's ConvTranspose, output shape checked against inference."""
    x_shape, w_shape, result = ctx.shape(0), ctx.shape(1), out_shape(ctx)
    if x_shape is None or w_shape is None or result is None or len(w_shape) not in (3, 4):
        raise ctx.fail("only 1-D and 2-D transposed convolution with static shapes is supported")
    nd = len(w_shape) - 2
    group = int(ctx.attr("group", 1))
    kernel = list(ctx.attr("kernel_shape", w_shape[2:]))
    strides = list(ctx.attr("strides", [1] * nd))
    dilations = list(ctx.attr("dilations", [1] * nd))
    out_pad = list(ctx.attr("output_padding", [0] * nd))
    check_window(ctx, kernel, strides, dilations)
    if group <= 0 or w_shape[0] != x_shape[1] or x_shape[1] % group or kernel != list(w_shape[2:]):
        raise ctx.fail(f"weight {w_shape} does not fit input {x_shape} with group {group}")
    spatial = x_shape[2:]
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    output_shape = ctx.attr("output_shape")
    auto = ctx.attr("auto_pad", "NOTSET")
    if output_shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        target = list(output_shape)[-nd:] if output_shape is not None else [n * s for n, s in zip(spatial, strides)]
        total = [s * (n - 1) + op + e - t for s, n, op, e, t in zip(strides, spatial, out_pad, eff, target)]
        if auto == "SAME_UPPER":
            begins, ends = [t // 2 for t in total], [t - t // 2 for t in total]
        else:
            begins, ends = [t - t // 2 for t in total], [t // 2 for t in total]
    else:
        pads = [0] * (2 * nd) if auto == "VALID" else list(ctx.attr("pads", [0] * (2 * nd)))
        begins, ends = pads[:nd], pads[nd:]
    cin, cout_g = w_shape[0], w_shape[1]
    conv_w_shape = (group * cout_g, cin // group, *([1] if nd == 1 else []), *kernel)
    if ctx.is_const(1):
        w = ctx.const(1)
        wc = w.reshape(group, cin // group, cout_g, *kernel).swapaxes(1, 2).reshape(group * cout_g, cin // group, *kernel)
        wc = np.ascontiguousarray(wc[(Ellipsis, *[slice(None, None, -1)] * nd)]).reshape(conv_w_shape)
        weight = ctx.w.builder.parameter(f"{ctx.node.input[1]}__conv_transpose", wc)
    else:  # the same regrouping and flip as CNodes
        weight = ctx.call("Reshape", [ctx.tensor(1), (group, cin // group, cout_g, *kernel)])
        weight = ctx.call("Transpose", [weight, (0, 2, 1, *range(3, 3 + nd))])
        weight = ctx.call("Reshape", [weight, (group * cout_g, cin // group, *kernel)])
        weight = ctx.call("ReverseV2", [weight, tuple(range(2, 2 + nd))])
        weight = ctx.call("Reshape", [weight, conv_w_shape])
    x, shape = ctx.tensor(0), list(x_shape)
    if nd == 1:
        x, shape = ctx.call("Reshape", [x, (shape[0], shape[1], 1, shape[2])]), [shape[0], shape[1], 1, shape[2]]
        kernel, strides, dilations, eff = [1, *kernel], [1, *strides], [1, *dilations], [1, *eff]
        begins, ends, out_pad = [0, *begins], [0, *ends], [0, *out_pad]
    for i, s in enumerate(strides):
        axis = 2 + i
        if s > 1:  # interleave s-1 zeros after each element, drop the trailing ones
            n = shape[axis]
            split = shape[:axis + 1] + [1] + shape[axis + 1:]
            x = ctx.call("Reshape", [x, tuple(split)])
            x, split = pad_axis(ctx, x, split, axis + 1, 0, s - 1, np.array(0, ctx.dtype(0) or np.float32))
            shape = shape[:axis] + [n * s] + shape[axis + 1:]
            x = ctx.call("Reshape", [x, tuple(shape)])
            x, shape = pad_axis(ctx, x, shape, axis, 0, -(s - 1), np.array(0, ctx.dtype(0) or np.float32))
        x, shape = pad_axis(ctx, x, shape, axis, eff[i] - 1 - begins[i], eff[i] - 1 - ends[i] + out_pad[i],
                            np.array(0, ctx.dtype(0) or np.float32))
    y = conv2d(ctx, x, weight, conv_w_shape[0], kernel, [1, 1], dilations, [0, 0, 0, 0], group)
    if ctx.has_input(2):
        y = ctx.call("BiasAdd", [y, ctx.tensor(2), NCHW])
    expect = [shape[0], conv_w_shape[0]] + [shape[2 + i] - eff[i] + 1 for i in range(2)]
    if [d for d in expect if d != 1 or nd == 2] != [d for d in result if d != 1 or nd == 2] or int(np.prod(expect)) != int(np.prod(result)):
        raise ctx.fail(f"output shape {expect} differs from the inferred {result}")
    return ctx.call("Reshape", [y, tuple(result)]) if nd == 1 else y


def _pool(ctx: ExportContext, kind: str):
    shape, result = ctx.shape(0), out_shape(ctx)
    if shape is None or result is None or len(shape) not in (3, 4, 5):
        raise ctx.fail("only 1-D, 2-D and 3-D pooling with static shapes is supported")
    want_indices = len(ctx.node.output) > 1 and bool(ctx.node.output[1])
    nd = len(shape) - 2
    kernel = list(ctx.attr("kernel_shape") or [])
    strides = list(ctx.attr("strides", [1] * nd))
    dilations = list(ctx.attr("dilations", [1] * nd))
    if not (len(kernel) == len(strides) == len(dilations) == nd):
        raise ctx.fail(f"kernel_shape {kernel}, strides {strides} and dilations {dilations} must each have {nd} values")
    check_window(ctx, kernel, strides, dilations)
    pads = _explicit_pads(ctx, shape[2:], kernel, strides, dilations)
    if len(pads) != 2 * nd or any(p < 0 for p in pads):
        raise ctx.fail(f"pads {pads} must be {2 * nd} non-negative values")
    begins, ends = pads[:nd], pads[nd:]
    spatial, out = shape[2:], result[2:]
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    check_fits(ctx, spatial, eff, begins, ends)
    extra = [max(0, (o - 1) * s + e - (n + b + en)) for o, s, e, n, b, en in zip(out, strides, eff, spatial, begins, ends)]
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    indices = None
    if want_indices:
        geometry = (spatial, kernel, strides, dilations, begins, out)
        indices = _max_indices(ctx, shape, geometry, int(ctx.attr("storage_order", 0)), dtype)
    x = ctx.tensor(0)
    work = dtype
    power = float(ctx.attr("p", 2)) if kind == "lp" else None
    if power is not None:  # LpPool: (sum over the window of |x|^p)^(1/p), zero padding
        if dtype.kind != "f" or power <= 0:
            raise ctx.fail(f"LpPool with p={power} on {dtype}")
        x = ctx.call("Pow", [ctx.call("Abs", [x]), np.array(power, dtype)])
    if dtype.kind in "iu":
        if kind != "max" or dtype.itemsize > 2:
            raise ctx.fail(f"{ctx.node.op_type} on {dtype}")
        x, work = cast_to(ctx, x, np.float32), np.dtype(np.float32)  # exact for 8/16-bit integers
    if nd == 1:
        x = ctx.call("Reshape", [x, (shape[0], shape[1], 1, shape[2])])
        kernel, strides, dilations, eff = [1, *kernel], [1, *strides], [1, *dilations], [1, *eff]
        begins, ends, extra, spatial, out = [0, *begins], [0, *ends], [0, *extra], [1, *spatial], [1, *out]
    cur = [shape[0], shape[1], *spatial]
    fill = _fill(work, "avg" if kind == "lp" else kind)
    for i in range(len(kernel)):
        x, cur = pad_axis(ctx, x, cur, 2 + i, begins[i], ends[i] + extra[i], fill)
    if len(kernel) != 2 or dilations != [1, 1]:
        y = _pool_by_slices(ctx, x, cur, kernel, strides, dilations, out, "avg" if kind == "lp" else kind)
    elif kind == "max":
        attrs = {"pad_mode": "VALID", "kernel_size": (1, 1, *kernel), "format": "NCHW", "strides": (1, 1, *strides),
                 "input_names": ["x"], "output_names": ["output"]}
        y = ctx.call("MaxPool", [x], attrs=attrs, function=False)
    else:
        y = ctx.call("AvgPool", [x, tuple(kernel), tuple(strides), PAD_VALID, NCHW])
    if kind == "lp":
        y = ctx.call("Mul", [y, np.array(float(np.prod(kernel)), work)])  # the window sum, not its mean
        y = ctx.call("Pow", [y, np.array(1.0 / power, work)])
    if kind == "avg":
        include = bool(ctx.attr("count_include_pad", 0))
        counts = [_window_counts(spatial[i], begins[i], ends[i], extra[i], kernel[i], strides[i], dilations[i], out[i], include)
                  for i in range(len(kernel))]
        divisor = counts[0]
        for c in counts[1:]:
            divisor = np.multiply.outer(divisor, c)
        if (divisor == 0).any():
            raise ctx.fail("a pooling window covers padding only")
        factor = (np.prod(kernel) / divisor).astype(work)
        if not np.all(factor == 1):
            y = ctx.call("Mul", [y, factor.reshape(1, 1, *factor.shape)])
    if nd == 1:
        y = ctx.call("Reshape", [y, tuple(result)])
    y = cast_to(ctx, y, dtype) if work != dtype else y
    return [y, indices] if want_indices else y


def window_reads(geometry, column_major: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """For each output position (rows, row-major) and window position (columns, row-major): the flat
    index into one input plane it reads (row-major, or column-major), and whether it is inside the input.

    ``geometry`` is (spatial, kernel, strides, dilations, pad begins, output sizes), one value per axis.
    """
    spatial, kernel, strides, dilations, begins, out = geometry
    nd = len(spatial)
    weights = [int(np.prod(spatial[i + 1:])) for i in range(nd)] if not column_major \
        else [int(np.prod(spatial[:i])) for i in range(nd)]
    flat, valid = np.zeros([1] * (2 * nd), np.int64), np.ones([1] * (2 * nd), np.bool_)
    for i, (n, k, s, d, b, o) in enumerate(zip(spatial, kernel, strides, dilations, begins, out)):
        coord = np.arange(o)[:, None] * s + np.arange(k)[None, :] * d - b  # [out_i, k_i] input coordinates
        view = [1] * (2 * nd)  # axes ordered (out_0..out_nd-1, k_0..k_nd-1)
        view[i], view[nd + i] = coord.shape
        flat = flat + coord.reshape(view) * weights[i]
        valid = valid & ((coord >= 0) & (coord < n)).reshape(view)
    shape = (int(np.prod(out)), int(np.prod(kernel)))
    return flat.reshape(shape), np.broadcast_to(valid, flat.shape).reshape(shape)


def _max_indices(ctx: ExportContext, shape: list[int], geometry, storage_order: int, dtype: np.dtype) -> str:
    """MaxPool's Indices: each window's first largest element (ONNX Runtime scans a window row-major
    and keeps a later element only when it is larger) as a flat index into the whole input
    (column-major within a plane for storage_order=1).

    Every window's elements are gathered from the flattened planes (padding reads a -inf slot),
    and an Argmax over them picks the window position, which a constant table maps to the index.
    """
    spatial, kernel, strides, dilations, begins, out = geometry
    if dtype.kind != "f":
        raise ctx.fail(f"the Indices output of MaxPool on {dtype}")
    plane = int(np.prod(spatial))
    read, valid = window_reads(geometry)
    flat, _ = window_reads(geometry, column_major=bool(storage_order))
    flat = np.where(valid, flat, -1)  # the index each window position reports
    read = np.where(valid, read, plane).reshape(-1)  # where the gather reads (plane: the -inf slot)
    windows, size = read.size // int(np.prod(kernel)), int(np.prod(kernel))
    rows = shape[0] * shape[1]
    x = ctx.call("Reshape", [ctx.tensor(0), (rows, plane)])
    x = ctx.call("Concat", [ctx.make_tuple([x, ctx.w.builder.constant(np.full((rows, 1), -np.inf, dtype))]), 1])
    gathered = ctx.call("Reshape", [ctx.call("Gather", [x, read, 1, 0]), (rows, windows, size)])
    pick = ctx.call("Argmax", [gathered, 2, TYPE_IDS["int64"]])
    ctx.w.builder.annotate(pick, [rows, windows], np.dtype(np.int64))
    table = ctx.call("BroadcastTo", [ctx.w.builder.constant(flat.reshape(1, windows, size)), (rows, windows, size)])
    index = ctx.call("GatherD", [table, 2, ctx.call("ExpandDims", [pick, 2])])
    offsets = (np.arange(rows, dtype=np.int64) * plane).reshape(rows, 1, 1)
    index = ctx.call("Add", [index, offsets])
    return ctx.call("Reshape", [index, (shape[0], shape[1], *out)])


def _window_counts(n, begin, end, extra, k, s, d, out, include_pad) -> np.ndarray:
    """How many input (or input-and-pad) positions each output window covers along one axis."""
    valid = np.zeros(begin + n + end + extra, np.int64)
    valid[(0 if include_pad else begin):(begin + n + end if include_pad else begin + n)] = 1
    return np.array([valid[o * s + np.arange(k) * d].sum() for o in range(out)])


def _pool_by_slices(ctx: ExportContext, x: str, shape, kernel, strides, dilations, out, kind) -> str:
    """Dilated windows: Maximum (or Add) of one strided slice per kernel offset."""
    y = None
    for offsets in itertools.product(*[range(k) for k in kernel]):
        begin = [0, 0] + [o * d for o, d in zip(offsets, dilations)]
        end = list(shape[:2]) + [b + (n - 1) * s + 1 for b, n, s in zip(begin[2:], out, strides)]
        part = ctx.call("StridedSlice", [x, tuple(begin), tuple(end), (1, 1, *strides), 0, 0, 0, 0, 0])
        y = part if y is None else ctx.call("Maximum" if kind == "max" else "Add", [y, part])
    if kind == "avg":
        y = ctx.call("RealDiv", [y, np.array(float(np.prod(kernel)), ctx.dtype(0) or np.float32)])
    return y


@exports("MaxPool")
def max_pool(ctx: ExportContext):
    return _pool(ctx, "max")


@exports("AveragePool")
def avg_pool(ctx: ExportContext):
    return _pool(ctx, "avg")


@exports("LpPool")
def lp_pool(ctx: ExportContext):
    return _pool(ctx, "lp")


@exports("GlobalAveragePool", "GlobalMaxPool")
def global_pool(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None or len(shape) < 3:
        raise ctx.fail("needs a static input of rank >= 3")
    op = "ReduceMean" if ctx.node.op_type == "GlobalAveragePool" else "ReduceMax"
    return ctx.call(op, [ctx.tensor(0), tuple(range(2, len(shape))), True])


_PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _gather_index(mode: str, n: int, before: int, after: int) -> np.ndarray:
    idx = np.arange(-before, n + after)
    if mode == "edge":
        return np.clip(idx, 0, n - 1)
    if mode == "wrap":
        return idx % n
    period = 2 * (n - 1)  # reflect without repeating the edge
    idx = np.abs(idx) % period
    return np.where(idx >= n, period - idx, idx)


@exports("Pad")
def pad(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    rank = len(shape)
    mode = ctx.attr("mode", "constant")
    if mode not in _PAD_MODES:
        raise ctx.fail(f"mode {mode!r}")
    pads = list(_ints(ctx.const(1))) if ctx.has_input(1) else list(ctx.attr("pads", []))
    axes = list(_ints(ctx.const(3))) if ctx.has_input(3) else list(range(rank))
    if len(pads) != 2 * len(axes):
        raise ctx.fail(f"pads {pads} do not match {len(axes)} axes")
    axes = [a % rank if -rank <= a < rank else None for a in axes]
    if None in axes:
        raise ctx.fail("an axis is out of range")
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    if ctx.has_input(2):
        value = ctx.const(2).ravel()
        fill = value[0] if value.size else 0
    else:
        fill = ctx.attr("value", 0.0)
    x, cur = ctx.tensor(0), list(shape)
    for i, axis in enumerate(axes):
        before, after = pads[i], pads[i + len(axes)]
        if min(before, after) < 0:  # negative pads crop, whatever the mode
            x, cur = pad_axis(ctx, x, cur, axis, min(before, 0), min(after, 0), np.array(0, dtype))
            before, after = max(before, 0), max(after, 0)
        if not before and not after:
            continue
        if mode == "constant":
            x, cur = pad_axis(ctx, x, cur, axis, before, after, np.array(fill, dtype))
            continue
        if cur[axis] == 0 or mode == "reflect" and (cur[axis] < 2 or max(before, after) >= cur[axis]):
            raise ctx.fail(f"{mode} padding of {max(before, after)} on an axis of {cur[axis]}")
        index = _gather_index(mode, cur[axis], before, after)
        x = ctx.call("Gather", [x, index.astype(np.int64), axis, 0])
        cur[axis] = len(index)
    return x


@exports("MaxUnpool")
def max_unpool(ctx: ExportContext):
    """Zeros of the output shape with X's values written at I's flat indices (TensorScatterUpdate: a
    repeated index, which overlapping windows give, writes the same element's value again, never a sum)."""
    shape = ctx.shape(0)
    kernel = [int(k) for k in ctx.attr("kernel_shape") or []]
    if shape is None or len(kernel) != len(shape) - 2:
        raise ctx.fail("needs a static input shape and a kernel_shape for each spatial axis")
    nd = len(kernel)
    strides = [int(v) for v in ctx.attr("strides", [1] * nd)]
    pads = [int(v) for v in ctx.attr("pads", [0] * (2 * nd))]
    result = shape[:2] + [(n - 1) * s - pads[i] - pads[nd + i] + k
                          for i, (n, s, k) in enumerate(zip(shape[2:], strides, kernel))]
    if ctx.has_input(2) and [int(v) for v in ctx.const(2).ravel()] != result:
        # ONNX's reference reads the indices in the unpooled shape and pads the result; ONNX
        # Runtime (and PyTorch) read them in output_shape: the two disagree, so neither is exact
        raise ctx.fail(f"output_shape {[int(v) for v in ctx.const(2).ravel()]} other than the unpooled {result}")
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    total = int(np.prod(result))
    zeros = ctx.call("BroadcastTo", [np.zeros((1,), dtype), (total,)])
    index = ctx.call("Reshape", [cast_to(ctx, ctx.tensor(1), np.int64) if ctx.dtype(1) != np.int64 else ctx.tensor(1),
                                 (-1, 1)])
    values = ctx.call("Reshape", [ctx.tensor(0), (-1,)])
    attrs = {"input_names": ["input_x", "indices", "updates"], "output_names": ["y"]}
    y = ctx.call("TensorScatterUpdate", [zeros, index, values], attrs=attrs, function=False)
    return ctx.call("Reshape", [y, tuple(result)])
