"""ONNX Resize/Upsample -> MindIR as one exact linear map per resized axis; GridSample as MindSpore's grid samplers.

Every ONNX resize mode (nearest, linear, cubic; all coordinate transformations, antialias,
exclude_outside) is separable: each output along an axis is a fixed combination of the
inputs along that axis. With static shapes the writer asks ONNX's own reference
implementation for that combination (the response to unit impulses), then emits a Gather
(nearest: exact for any dtype) or a MatMul with the weight matrix (linear, cubic) per axis.
"""

from __future__ import annotations

import numpy as np

from engine.formats.mindir.export_ops import _ints, cast_to, out_shape
from engine.formats.mindir.writer import ExportContext, exports


def _opset(ctx: ExportContext) -> int:
    return next((o.version for o in ctx.w.onnx.opset_import if o.domain in ("", "ai.onnx")), 21)


def _axis_matrix(ctx: ExportContext, n: int, m: int, scale: float | None, roi: tuple[float, float] | None,
                 extrapolation: float = 0.0) -> np.ndarray:
    """The [n, m] matrix A with out = in @ A along one axis, from onnx.reference on impulses."""
    import onnx
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    op, opset = ctx.node.op_type, _opset(ctx)
    attrs = {a.name: helper.get_attribute_value(a) for a in ctx.node.attribute if a.name not in ("axes", "scales")}
    if "extrapolation_value" in attrs or extrapolation:
        attrs["extrapolation_value"] = extrapolation
    inits, names = [], ["x"]
    if op == "Upsample" and opset < 9:
        attrs["scales"] = [1.0, float(scale)]
    elif op == "Upsample" or opset < 11:
        inits.append(onnx.numpy_helper.from_array(np.array([1.0, scale], np.float32), "scales"))
        names.append("scales")
    else:
        roi_values = np.array([0.0, roi[0], 1.0, roi[1]] if roi else [], np.float32)
        inits.append(onnx.numpy_helper.from_array(roi_values, "roi"))
        names.append("roi" if roi else "")
        if scale is not None:
            inits.append(onnx.numpy_helper.from_array(np.array([1.0, scale], np.float32), "scales"))
            names += ["scales", ""]
        else:
            inits.append(onnx.numpy_helper.from_array(np.array([n, m], np.int64), "sizes"))
            names += ["", "sizes"]
    node = helper.make_node(op, names, ["y"], **attrs)
    graph = helper.make_graph([node], "axis", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    (y,) = ReferenceEvaluator(model).run(None, {"x": np.eye(n, dtype=np.float32)})
    if y.shape != (n, m):
        raise ctx.fail(f"the reference resize gives {y.shape[1]} outputs along an axis where inference says {m}")
    return y.astype(np.float64)


def _resize_args(ctx: ExportContext, rank: int):
    """Per axis: (scale or None when sizes are given, roi pair or None)."""
    op, opset = ctx.node.op_type, _opset(ctx)
    if op == "Upsample" and opset < 9:
        return [float(s) for s in ctx.attr("scales")], [None] * rank
    if op == "Upsample" or opset < 11:
        return [float(s) for s in ctx.const(1).ravel()], [None] * rank
    axes = list(ctx.attr("axes") or range(rank))
    axes = [a % rank for a in axes]
    scales: list[float | None] = [1.0] * rank
    if ctx.has_input(3):
        if ctx.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise ctx.fail("keep_aspect_ratio_policy other than stretch")
        sizes = _ints(ctx.const(3))
        for a in axes:
            scales[a] = None
        if len(sizes) != len(axes):
            raise ctx.fail("sizes do not match the axes")
    elif ctx.has_input(2):
        values = ctx.const(2).ravel()
        if len(values) != len(axes):
            raise ctx.fail("scales do not match the axes")
        for a, s in zip(axes, values):
            scales[a] = float(s)
    else:
        raise ctx.fail("neither scales nor sizes given")
    rois: list = [None] * rank
    if ctx.attr("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize":
        roi = ctx.const(1).ravel()
        if len(roi) != 2 * len(axes):
            raise ctx.fail("roi does not match the axes")
        rois = [(0.0, 1.0)] * rank
        for i, a in enumerate(axes):
            rois[a] = (float(roi[i]), float(roi[i + len(axes)]))
    return scales, rois


def _along(ctx: ExportContext, x: str, shape: list[int], axis: int, matrix: np.ndarray, dtype: np.dtype) -> str:
    """x with ``axis`` (length n) replaced by x @ matrix (length m)."""
    rank = len(shape)
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    moved = [shape[p] for p in perm]
    if axis != rank - 1:
        x = ctx.call("Transpose", [x, tuple(perm)])
    flat = ctx.call("Reshape", [x, (-1, shape[axis])])
    y = ctx.call("MatMul", [flat, ctx.w.builder.parameter(f"{ctx.scope}__resize_axis{axis}", matrix.astype(dtype)), False, False])
    y = ctx.call("Reshape", [y, tuple(moved[:-1] + [matrix.shape[1]])])
    return ctx.call("Transpose", [y, tuple(perm)]) if axis != rank - 1 else y


@exports("Resize", "Upsample")
def resize(ctx: ExportContext):
    shape, result = ctx.shape(0), out_shape(ctx)
    if shape is None or result is None or len(shape) != len(result):
        raise ctx.fail("needs static input and output shapes")
    rank = len(shape)
    scales, rois = _resize_args(ctx, rank)
    extrapolation = float(ctx.attr("extrapolation_value", 0.0))
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    nearest = ctx.attr("mode", "nearest") == "nearest"
    x, cur = ctx.tensor(0), list(shape)
    outside = np.zeros(result, np.bool_)
    work = dtype if dtype.kind == "f" and dtype != np.float16 else np.dtype(np.float32)
    cast_back = False
    for axis in range(rank):
        n, m = shape[axis], result[axis]
        if n == m and scales[axis] in (1.0, None) and rois[axis] in (None, (0.0, 1.0)):
            continue
        matrix = _axis_matrix(ctx, n, m, scales[axis], rois[axis])
        empty = ~matrix.any(axis=0)  # outputs outside the roi take extrapolation_value
        if empty.any() and extrapolation != 0.0:
            index = [None] * rank
            index[axis] = slice(None)
            outside |= np.broadcast_to(empty[tuple(index)], result)
        picks = (matrix != 0).sum(axis=0) == 1
        if nearest and picks.all() and np.allclose(matrix.max(axis=0), 1.0):
            x = ctx.call("Gather", [x, matrix.argmax(axis=0).astype(np.int64), axis, 0])
        else:
            if dtype.kind != "f":
                raise ctx.fail(f"{ctx.attr('mode')} resize of {dtype}")
            if work != dtype and not cast_back:
                x, cast_back = cast_to(ctx, x, work), True
            x = _along(ctx, x, cur, axis, matrix, work)
        cur[axis] = m
    if cast_back:
        x = cast_to(ctx, x, dtype)
    if outside.any():
        x = ctx.call("Select", [outside, np.full(result, extrapolation, dtype), x])
    return x


#: MindSpore's enums for GridSampler2D/3D (``str_to_enum``, as MindSpore 2.10 writes them).
#: Nearest (1) is left out: MindSpore's CPU kernel rounds a coordinate halfway between two
#: pixels up (1.5 -> 2, 2.5 -> 3), ONNX to even (2.5 -> 2).
_GRID_MODES = {"bilinear": 0, "linear": 0}
_GRID_PADDING = {"zeros": 0, "border": 1, "reflection": 2}


@exports("GridSample")
def grid_sample(ctx: ExportContext):
    """GridSampler2D/3D, whose kernels follow the same (PyTorch's) sampling rules as ONNX."""
    shape = ctx.shape(0)
    if shape is None or len(shape) not in (4, 5):
        raise ctx.fail("only 4-D and 5-D inputs (MindSpore's GridSampler2D/3D)")
    mode, padding = ctx.attr("mode", "bilinear"), ctx.attr("padding_mode", "zeros")
    if mode == "nearest":
        raise ctx.fail("mode 'nearest' (MindSpore rounds coordinates halfway between pixels up, ONNX to even)")
    if mode not in _GRID_MODES:
        raise ctx.fail(f"mode {mode!r} (MindSpore's grid samplers are bilinear or nearest)")
    if padding not in _GRID_PADDING:
        raise ctx.fail(f"padding_mode {padding!r}")
    dtype = ctx.dtype(0)
    if dtype is None or dtype.kind != "f" or ctx.dtype(1) != dtype:
        raise ctx.fail(f"input and grid of {dtype} and {ctx.dtype(1)} (MindSpore wants one floating-point type)")
    prim = "GridSampler2D" if len(shape) == 4 else "GridSampler3D"
    return ctx.call(prim, [ctx.tensor(0), ctx.tensor(1), _GRID_MODES[mode], _GRID_PADDING[padding],
                           bool(ctx.attr("align_corners", 0))])
