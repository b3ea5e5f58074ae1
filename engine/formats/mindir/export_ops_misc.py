"""ONNX -> MindIR rules for TopK, scatters, rounding, (de)quantization, QLinearMatMul, two-operand Einsum and ReverseSequence."""

from __future__ import annotations

import numpy as np

from engine.formats.mindir.export_ops import cast_to, out_shape, static_axis
from engine.formats.mindir.writer import ExportContext, exports


def _move_last(ctx: ExportContext, x: str, rank: int, axis: int) -> tuple[str, tuple[int, ...] | None]:
    if axis == rank - 1:
        return x, None
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    return ctx.call("Transpose", [x, tuple(perm)]), tuple(perm)


@exports("TopK")
def top_k(ctx: ExportContext):
    shape, rank, axis = static_axis(ctx)
    k = int(ctx.const(1).ravel()[0])
    if not 0 < k <= shape[axis]:
        raise ctx.fail(f"k={k} for an axis of {shape[axis]}")
    if not int(ctx.attr("sorted", 1)):
        raise ctx.fail("sorted=0 (the order would be unspecified)")
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    x, perm = _move_last(ctx, ctx.tensor(0), rank, axis)
    largest = int(ctx.attr("largest", 1))
    work = dtype
    if dtype.kind != "f":  # compare in float64: exact for integers up to 2**53
        if dtype.itemsize == 8:
            raise ctx.fail(f"TopK on {dtype}")
        x, work = cast_to(ctx, x, np.float64), np.dtype(np.float64)
    if not largest:
        x = ctx.call("Neg", [x])
    attrs = {"sorted": True, "input_names": ["input", "k"], "output_names": ["values", "indices"]}
    pair = ctx.call("TopK", [x, k], attrs=attrs, function=False)
    values, indices = ctx.item(pair, 0), ctx.item(pair, 1)
    if not largest:
        values = ctx.call("Neg", [values])
    if work != dtype:
        values = cast_to(ctx, values, dtype)
    indices = cast_to(ctx, indices, np.int64)
    if perm is not None:
        values, indices = (ctx.call("Transpose", [v, perm]) for v in (values, indices))
    return [values, indices]


_SCATTER_ND = {"none": "TensorScatterUpdate", "add": "TensorScatterAdd", "mul": "TensorScatterMul",
               "max": "TensorScatterMax", "min": "TensorScatterMin"}


@exports("ScatterND")
def scatter_nd(ctx: ExportContext):
    reduction = ctx.attr("reduction", "none")
    if reduction not in _SCATTER_ND:
        raise ctx.fail(f"reduction {reduction!r}")
    op = _SCATTER_ND[reduction]
    ins = [ctx.tensor(0), ctx.tensor(1), ctx.tensor(2)]
    if op == "TensorScatterUpdate":
        attrs = {"input_names": ["input_x", "indices", "updates"], "output_names": ["y"]}
        return ctx.call(op, ins, attrs=attrs, function=False)
    return ctx.call(op, ins)


@exports("ScatterElements", "Scatter")
def scatter_elements(ctx: ExportContext):
    shape = ctx.shape(0)
    if shape is None:
        raise ctx.fail("needs the static input shape")
    reduction = ctx.attr("reduction", "none")
    reduce = {"none": 0, "add": 1}.get(reduction)
    if reduce is None and reduction not in _SCATTER_ND:
        raise ctx.fail(f"reduction {reduction!r}")
    rank = len(shape)
    axis = int(ctx.attr("axis", 0))
    if not -rank <= axis < rank:
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    axis %= rank
    idx = ctx.tensor(1)
    idtype = ctx.dtype(1) or np.dtype(np.int64)
    dim = np.array(shape[axis], idtype)
    idx = ctx.call("Select", [ctx.call("Less", [idx, np.array(0, idtype)]), ctx.call("Add", [idx, dim]), idx])
    if reduce is not None:
        return ctx.call("TensorScatterElements", [ctx.tensor(0), idx, ctx.tensor(2), axis, reduce])
    # mul/max/min: MindSpore has them for ND indices only, so each index becomes its full coordinate
    # (the position in ``indices`` with ``axis`` replaced by the index), and ScatterND's kernel applies.
    index_shape = ctx.shape(1)
    if index_shape is None or len(index_shape) != rank:
        raise ctx.fail("needs static indices of the data's rank")
    idx = cast_to(ctx, idx, np.int64) if idtype != np.int64 else idx
    grids = np.meshgrid(*[np.arange(n, dtype=np.int64) for n in index_shape], indexing="ij")
    columns = [ctx.call("ExpandDims", [idx, rank]) if k == axis else np.ascontiguousarray(grids[k][..., None])
               for k in range(rank)]
    coords = ctx.call("Concat", [ctx.make_tuple([c if isinstance(c, str) else ctx.w.builder.constant(c)
                                                 for c in columns]), rank])
    return ctx.call(_SCATTER_ND[reduction], [ctx.tensor(0), coords, ctx.tensor(2)])


@exports("Round")
def round_(ctx: ExportContext):
    """Half to even, as ONNX: floor(x), then +1 where the fraction is over 1/2 or exactly 1/2 from an odd floor."""
    x = ctx.tensor(0)
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    return _round_half_even(ctx, x, dtype)


def _round_half_even(ctx: ExportContext, x: str, dtype: np.dtype) -> str:
    floor = ctx.call("Floor", [x])
    frac = ctx.call("Sub", [x, floor])
    half = np.array(0.5, dtype)
    # floor is odd when it differs from 2 * floor(floor / 2) (all exact in floating point)
    even = ctx.call("Mul", [ctx.call("Floor", [ctx.call("Mul", [floor, np.array(0.5, dtype)])]), np.array(2.0, dtype)])
    odd = ctx.call("NotEqual", [floor, even])
    up = ctx.call("LogicalOr", [ctx.call("Greater", [frac, half]),
                                ctx.call("LogicalAnd", [ctx.call("Equal", [frac, half]), odd])])
    return ctx.call("Add", [floor, cast_to(ctx, up, dtype)])


_QUANT = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535), "int16": (-32768, 32767)}


def _per_axis(ctx: ExportContext, i: int, rank: int, axis: int) -> str:
    """Scale or zero point input ``i``, reshaped to broadcast along ``axis`` when it is a vector."""
    shape = ctx.shape(i)
    v = ctx.tensor(i)
    if shape and len(shape) == 1 and shape[0] > 1:
        target = [1] * rank
        target[axis] = shape[0]
        v = ctx.call("Reshape", [v, tuple(target)])
    elif shape and len(shape) > 1:
        raise ctx.fail("blocked quantization")
    return v


@exports("DequantizeLinear")
def dequantize_linear(ctx: ExportContext):
    shape = ctx.shape(0)
    dtype = ctx.dtype(0)
    if shape is None or dtype is None or dtype.name not in (*_QUANT, "int32"):
        raise ctx.fail(f"dequantizing {dtype}")
    rank = len(shape)
    axis = int(ctx.attr("axis", 1)) % max(rank, 1)
    out = ctx.w.dtypes.get(ctx.node.output[0], np.dtype(np.float32))
    x = cast_to(ctx, ctx.tensor(0), np.float32)
    if ctx.has_input(2):
        x = ctx.call("Sub", [x, cast_to(ctx, _per_axis(ctx, 2, rank, axis), np.float32)])
    scale = _per_axis(ctx, 1, rank, axis)
    if (ctx.dtype(1) or out) != np.float32:
        scale = cast_to(ctx, scale, np.float32)
    y = ctx.call("Mul", [x, scale])
    return cast_to(ctx, y, out) if out != np.float32 else y


@exports("QuantizeLinear")
def quantize_linear(ctx: ExportContext):
    shape = ctx.shape(0)
    out = ctx.w.dtypes.get(ctx.node.output[0])
    if shape is None or out is None or out.name not in _QUANT:
        raise ctx.fail(f"quantizing to {out}")
    if int(ctx.attr("saturate", 1)) != 1 or ctx.attr("precision") not in (None, 0):
        raise ctx.fail("non-default saturate/precision")
    rank = len(shape)
    axis = int(ctx.attr("axis", 1)) % max(rank, 1)
    x = cast_to(ctx, ctx.tensor(0), np.float32) if ctx.dtype(0) != np.float32 else ctx.tensor(0)
    scale = _per_axis(ctx, 1, rank, axis)
    if ctx.dtype(1) != np.float32:
        scale = cast_to(ctx, scale, np.float32)
    y = _round_half_even(ctx, ctx.call("RealDiv", [x, scale]), np.dtype(np.float32))
    if ctx.has_input(2):
        y = ctx.call("Add", [y, cast_to(ctx, _per_axis(ctx, 2, rank, axis), np.float32)])
    lo, hi = _QUANT[out.name]
    y = ctx.call("Minimum", [ctx.call("Maximum", [y, np.array(lo, np.float32)]), np.array(hi, np.float32)])
    return cast_to(ctx, y, out)


@exports("Einsum")
def einsum(ctx: ExportContext):
    """Einsum as Transpose/Reshape/BatchMatMul (two operands) or Transpose/ReduceSum (one operand);
    repeated letters within one operand (diagonals) are refused."""
    equation = str(ctx.attr("equation", "")).replace(" ", "")
    if "." in equation:
        raise ctx.fail(f"equation {equation!r} with an ellipsis")
    if "->" in equation:
        lhs, out = equation.split("->")
    else:  # implicit output: the letters used once, in alphabetical order
        lhs = equation
        letters = lhs.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    terms = lhs.split(",")
    shapes = [ctx.shape(i) for i in range(len(terms))]
    if any(s is None or len(s) != len(t) for s, t in zip(shapes, terms)) or any(len(set(t)) != len(t) for t in terms + [out]):
        raise ctx.fail(f"equation {equation!r} with repeated letters or mismatched ranks")
    size = {c: d for t, s in zip(terms, shapes) for c, d in zip(t, s)}
    if len(terms) == 1:
        (t,) = terms
        x = ctx.tensor(0)
        gone = tuple(i for i, c in enumerate(t) if c not in out)
        if gone:
            x = ctx.call("ReduceSum", [x, gone, False, False])
        kept = [c for c in t if c in out]
        perm = tuple(kept.index(c) for c in out)
        return ctx.call("Transpose", [x, perm]) if perm != tuple(range(len(perm))) else x
    if len(terms) != 2:
        raise ctx.fail(f"equation {equation!r} with {len(terms)} operands")
    a, b = terms
    batch = [c for c in a if c in b and c in out]
    contract = [c for c in a if c in b and c not in out]
    a_only = [c for c in a if c not in b]
    b_only = [c for c in b if c not in a]
    if any(c not in out for c in a_only + b_only):
        raise ctx.fail(f"equation {equation!r} sums an axis of one operand only")

    def arrange(i: int, term: str, order: list[str], rows: list[str], cols: list[str]) -> str:
        x = ctx.tensor(i)
        perm = tuple(term.index(c) for c in order)
        if perm != tuple(range(len(perm))):
            x = ctx.call("Transpose", [x, perm])
        dims = [size[c] for c in batch] + [int(np.prod([size[c] for c in rows])), int(np.prod([size[c] for c in cols]))]
        return ctx.call("Reshape", [x, tuple(dims)])

    x = arrange(0, a, batch + a_only + contract, a_only, contract)
    y = arrange(1, b, batch + contract + b_only, contract, b_only)
    z = ctx.call("BatchMatMul" if batch else "MatMul", [x, y, False, False])
    result = batch + a_only + b_only
    z = ctx.call("Reshape", [z, tuple(size[c] for c in result)])
    perm = tuple(result.index(c) for c in out)
    z = ctx.call("Transpose", [z, perm]) if perm != tuple(range(len(perm))) else z
    expect = out_shape(ctx)
    if expect is not None and [size[c] for c in out] != list(expect):
        raise ctx.fail(f"equation {equation!r} gives {[size[c] for c in out]}, inference says {expect}")
    return z



@exports("DynamicQuantizeLinear")
def dynamic_quantize_linear(ctx: ExportContext):
    """uint8 quantization with a scale and zero point from the data's range (always including 0)."""
    if ctx.dtype(0) != np.float32:
        raise ctx.fail(f"DynamicQuantizeLinear of {ctx.dtype(0)}")
    x = ctx.tensor(0)
    f32 = np.dtype(np.float32)
    lo = ctx.call("Minimum", [ctx.call("ReduceMin", [x, (), False]), np.array(0, f32)])
    hi = ctx.call("Maximum", [ctx.call("ReduceMax", [x, (), False]), np.array(0, f32)])
    scale = ctx.call("RealDiv", [ctx.call("Sub", [hi, lo]), np.array(255, f32)])

    def saturate(v: str) -> str:
        return ctx.call("Minimum", [ctx.call("Maximum", [v, np.array(0, f32)]), np.array(255, f32)])

    zero = saturate(_round_half_even(ctx, ctx.call("Neg", [ctx.call("RealDiv", [lo, scale])]), f32))
    y = saturate(ctx.call("Add", [_round_half_even(ctx, ctx.call("RealDiv", [x, scale]), f32), zero]))
    return [cast_to(ctx, y, np.uint8), scale, cast_to(ctx, zero, np.uint8)]


@exports("ReverseSequence")
def reverse_sequence(ctx: ExportContext):
    """A GatherD along the time axis: position t of batch b reads len[b] - 1 - t where t < len[b], else t."""
    shape = ctx.shape(0)
    if shape is None or len(shape) < 2:
        raise ctx.fail("needs a static input of rank >= 2")
    time_axis, batch_axis = int(ctx.attr("time_axis", 0)), int(ctx.attr("batch_axis", 1))
    if {time_axis, batch_axis} != {0, 1}:
        raise ctx.fail(f"time_axis {time_axis} and batch_axis {batch_axis} (ONNX: 0 and 1)")
    steps, batch = shape[time_axis], shape[batch_axis]
    pair = (steps, batch) if time_axis == 0 else (batch, steps)
    t = np.broadcast_to(np.arange(steps, dtype=np.int64).reshape((steps, 1) if time_axis == 0 else (1, steps)), pair)
    lens_shape = (1, batch) if time_axis == 0 else (batch, 1)
    if ctx.is_const(1):
        lens = ctx.const(1).astype(np.int64).reshape(lens_shape)
        if ((lens < 0) | (lens > steps)).any():
            raise ctx.fail(f"sequence_lens {lens.ravel().tolist()} outside [0, {steps}]")
        index = np.where(t < lens, lens - 1 - t, t)
    else:
        lens = ctx.call("Reshape", [cast_to(ctx, ctx.tensor(1), np.int64), lens_shape])
        reversed_t = ctx.call("Sub", [ctx.call("Sub", [lens, np.array(1, np.int64)]), np.ascontiguousarray(t)])
        index = ctx.call("Select", [ctx.call("Less", [np.ascontiguousarray(t), lens]), reversed_t, np.ascontiguousarray(t)])
    if len(shape) > 2:
        full = tuple(pair) + (1,) * (len(shape) - 2)
        index = ctx.call("BroadcastTo", [ctx.call("Reshape", [index, full]), tuple(shape)])
    return ctx.call("GatherD", [ctx.tensor(0), time_axis, index])


@exports("QLinearMatMul")
def qlinear_matmul(ctx: ExportContext):
    """As ONNX Runtime computes it: the exact integer product (float64 here, exact for 8-bit operands),
    made float32 and multiplied by the float32 a_scale * b_scale / y_scale, rounded half to even,
    shifted by y_zero_point and saturated (bit for bit with ONNX Runtime 1.32 on 30k random outputs;
    ONNX's reference multiplies in float64, which can round a rare tie the other way)."""
    from engine.formats.mindir.export_ops_math import _matmul

    a_shape, b_shape, shape = ctx.shape(0), ctx.shape(3), out_shape(ctx)
    out = ctx.w.dtypes.get(ctx.node.output[0])
    if a_shape is None or b_shape is None or shape is None:
        raise ctx.fail("needs static input shapes")
    if out is None or out.name not in ("int8", "uint8") or any(ctx.dtype(i) not in (np.int8, np.uint8) for i in (0, 3)):
        raise ctx.fail(f"QLinearMatMul of {ctx.dtype(0)} and {ctx.dtype(3)} to {out}")
    if any(ctx.dtype(i) != np.float32 for i in (1, 4, 6)):
        # ONNX's reference multiplies float16 scales in float16, ONNX Runtime in float32: they disagree
        raise ctx.fail(f"scales of {sorted({ctx.dtype(i).name for i in (1, 4, 6) if ctx.dtype(i) is not None})} "
                       "(ONNX's reference and ONNX Runtime multiply them differently unless float32)")
    if any(int(np.prod(ctx.shape(i) or [1])) != 1 for i in (1, 2)):
        # ONNX Runtime takes none, ONNX's reference broadcasts a vector along K: no answer to match
        raise ctx.fail("a scale or zero point per row of a")
    a = ctx.call("Sub", [cast_to(ctx, ctx.tensor(0), np.float64), cast_to(ctx, ctx.tensor(2), np.float64)])
    b = ctx.call("Sub", [cast_to(ctx, ctx.tensor(3), np.float64), cast_to(ctx, ctx.tensor(5), np.float64)])
    acc = cast_to(ctx, _matmul(ctx, a, b, a_shape, b_shape, shape), np.float32)
    scale = ctx.call("RealDiv", [ctx.call("Mul", [ctx.tensor(1), ctx.tensor(4)]), ctx.tensor(6)])
    y = _round_half_even(ctx, ctx.call("Mul", [acc, scale]), np.dtype(np.float32))
    y = ctx.call("Add", [y, cast_to(ctx, ctx.tensor(7), np.float32)])
    lo, hi = _QUANT[out.name]
    y = ctx.call("Minimum", [ctx.call("Maximum", [y, np.array(lo, np.float32)]), np.array(hi, np.float32)])
    return cast_to(ctx, y, out)
