"""ONNX Attention (opset 23/24) and RotaryEmbedding -> MindIR, spelled out as ONNX's reference computes them.

Q/K/V (3-D inputs split into heads), the past cache concatenated on the sequence axis,
grouped-query heads repeated, Q and K each scaled by sqrt(scale), softcap, an additive
bias from the mask (bool masks become 0/-inf), the causal frontier (offset by the cache or
by nonpad_kv_seqlen), a softmax that keeps fully-masked rows at 0, and the optional
present_key/present_value/qk_matmul_output outputs, and sliding windows (left/right_window_size,
aligned like the causal frontier).
"""

from __future__ import annotations

import numpy as np

from engine.formats.mindir.export_ops import cast_to, filled_like
from engine.formats.mindir.writer import ExportContext, exports


def _heads(ctx: ExportContext, i: int, heads: int | None) -> tuple[str, list[int]]:
    shape = ctx.shape(i)
    x = ctx.tensor(i)
    if shape is None or len(shape) not in (3, 4):
        raise ctx.fail("needs static 3-D or 4-D Q, K and V")
    if len(shape) == 4:
        return x, shape
    if not heads or shape[2] % heads:
        raise ctx.fail("3-D inputs need q_num_heads and kv_num_heads that divide the hidden size")
    b, s, hidden = shape
    x = ctx.call("Reshape", [x, (b, s, heads, hidden // heads)])
    return ctx.call("Transpose", [x, (0, 2, 1, 3)]), [b, heads, s, hidden // heads]


def _matmul(ctx: ExportContext, a: str, b: str, dtype: np.dtype) -> str:
    if dtype == np.float16:  # accumulate in float32 and round once
        return cast_to(ctx, ctx.call("BatchMatMul", [cast_to(ctx, a, np.float32), cast_to(ctx, b, np.float32), False, False]),
                       np.float16)
    return ctx.call("BatchMatMul", [a, b, False, False])


def _bias_from_mask(ctx: ExportContext, kv: int, dtype: np.dtype) -> tuple[str | None, list[int] | None]:
    """The mask input as an additive float bias, its last axis padded to the key length."""
    if not ctx.has_input(3):
        return None, None
    shape = ctx.shape(3)
    if shape is None:
        raise ctx.fail("needs a static attn_mask shape")
    mask = ctx.tensor(3)
    boolean = ctx.dtype(3) == np.bool_
    if kv > shape[-1]:
        pad = list(shape[:-1]) + [kv - shape[-1]]
        fill = np.zeros(pad, np.bool_) if boolean else np.full(pad, -np.inf, dtype)
        mask = ctx.call("Concat", [ctx.make_tuple([mask, ctx.w.builder.constant(fill)]), len(shape) - 1])
        shape = list(shape[:-1]) + [kv]
    if boolean:
        mask = ctx.call("Select", [mask, np.zeros(shape, dtype), np.full(shape, -np.inf, dtype)])
    return mask, list(shape)


def _window(ctx: ExportContext, left: int, right: int, diff: np.ndarray, past_len: int, nonpad: bool, b: int,
            dtype: np.dtype) -> str:
    """The sliding-window bias: query i (at p = i + offset) sees key j iff p - left <= j <= p + right.

    The offset is the past cache's length, or per batch ``nonpad_kv_seqlen - q_len``, as for causal.
    """
    if not nonpad:
        diff = diff + past_len
        allowed = np.ones(diff.shape, np.bool_)
        if left >= 0:
            allowed &= diff <= left
        if right >= 0:
            allowed &= diff >= -right
        return ctx.w.builder.constant(np.where(allowed, 0, -np.inf).astype(dtype))
    sq, kv = diff.shape
    offset = ctx.call("Sub", [cast_to(ctx, ctx.tensor(6), np.int64), np.array(sq, np.int64)])
    diff_b = ctx.call("Add", [ctx.call("Reshape", [offset, (b, 1, 1)]), diff])
    allowed = None
    if left >= 0:
        allowed = ctx.call("LessEqual", [diff_b, np.array(left, np.int64)])
    if right >= 0:
        within = ctx.call("GreaterEqual", [diff_b, np.array(-right, np.int64)])
        allowed = within if allowed is None else ctx.call("LogicalAnd", [allowed, within])
    window = ctx.call("Select", [allowed, np.zeros((b, sq, kv), dtype), np.full((b, sq, kv), -np.inf, dtype)])
    return ctx.call("Reshape", [window, (b, 1, sq, kv)])


@exports("Attention")
def attention(ctx: ExportContext):
    left, right = (-1 if ctx.attr(name) is None else int(ctx.attr(name))
                   for name in ("left_window_size", "right_window_size"))
    if left < -1 or right < -1:
        raise ctx.fail(f"window sizes {left}, {right} (each is -1 or non-negative)")
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    if dtype.kind != "f":
        raise ctx.fail(f"Attention on {dtype}")
    q_heads, kv_heads = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
    rank = len(ctx.shape(0) or [])
    q, q_shape = _heads(ctx, 0, q_heads)
    k, k_shape = _heads(ctx, 1, kv_heads)
    v, v_shape = _heads(ctx, 2, kv_heads)
    past = ctx.has_input(4) and ctx.has_input(5)
    past_len = 0
    if past:
        past_len = (ctx.shape(4) or [0, 0, 0])[2]
        k = ctx.call("Concat", [ctx.make_tuple([ctx.tensor(4), k]), 2])
        v = ctx.call("Concat", [ctx.make_tuple([ctx.tensor(5), v]), 2])
        k_shape = k_shape[:2] + [k_shape[2] + past_len, k_shape[3]]
        v_shape = v_shape[:2] + [v_shape[2] + past_len, v_shape[3]]
    present_k, present_v = k, v
    b, hq, sq, d = q_shape
    kv = k_shape[2]
    nonpad = ctx.has_input(6)
    if nonpad and past:
        raise ctx.fail("nonpad_kv_seqlen together with a past cache")

    bias, bias_shape = _bias_from_mask(ctx, kv, dtype)
    i_idx = np.arange(sq)[:, None]
    j_idx = np.arange(kv)[None, :]
    if int(ctx.attr("is_causal", 0)):
        if nonpad:  # per-batch frontier: j <= i + (nonpad[b] - q)
            offset = ctx.call("Sub", [cast_to(ctx, ctx.tensor(6), np.int64), np.array(sq, np.int64)])
            offset = ctx.call("Reshape", [offset, (b, 1, 1)])
            allowed = ctx.call("LessEqual", [(j_idx - i_idx).astype(np.int64), offset])
            causal = ctx.call("Select", [allowed, np.zeros((b, sq, kv), dtype), np.full((b, sq, kv), -np.inf, dtype)])
            causal = ctx.call("Reshape", [causal, (b, 1, sq, kv)])
        else:
            causal = ctx.w.builder.constant(np.where(j_idx <= i_idx + past_len, 0, -np.inf).astype(dtype))
        bias = causal if bias is None else ctx.call("Add", [bias, causal])
    if left >= 0 or right >= 0:
        window = _window(ctx, left, right, (i_idx - j_idx).astype(np.int64), past_len, nonpad, b, dtype)
        bias = window if bias is None else ctx.call("Add", [bias, window])
    if nonpad:
        keep = ctx.call("Less", [np.arange(kv, dtype=np.int64)[None, :],
                                 ctx.call("Reshape", [cast_to(ctx, ctx.tensor(6), np.int64), (b, 1)])])
        padding = ctx.call("Select", [keep, np.zeros((b, kv), dtype), np.full((b, kv), -np.inf, dtype)])
        padding = ctx.call("Reshape", [padding, (b, 1, 1, kv)])
        bias = padding if bias is None else ctx.call("Add", [bias, padding])

    hk = k_shape[1]
    if hq != hk:
        if hq % hk or v_shape[1] != hk:
            raise ctx.fail(f"{hq} query heads for {hk} key heads")
        reps = hq // hk
        k = ctx.call("Reshape", [ctx.call("BroadcastTo", [ctx.call("Reshape", [k, (b, hk, 1, kv, k_shape[3])]),
                                                          (b, hk, reps, kv, k_shape[3])]), (b, hq, kv, k_shape[3])])
        k_shape = [b, hq, kv, k_shape[3]]
        v = ctx.call("Reshape", [ctx.call("BroadcastTo", [ctx.call("Reshape", [v, (b, hk, 1, kv, v_shape[3])]),
                                                          (b, hk, reps, kv, v_shape[3])]), (b, hq, kv, v_shape[3])])
        v_shape = [b, hq, kv, v_shape[3]]
    scale = ctx.attr("scale")
    root = np.array(np.sqrt(float(scale) if scale is not None else 1 / np.sqrt(d)), dtype)
    qs = ctx.call("Mul", [q, root])
    ks = ctx.call("Transpose", [ctx.call("Mul", [k, root]), (0, 1, 3, 2)])
    if k_shape[1] != hq:
        raise ctx.fail(f"{hq} query heads for {k_shape[1]} key heads")
    scores = _matmul(ctx, qs, ks, dtype)
    softcap = float(ctx.attr("softcap", 0.0) or 0.0)
    if softcap > 0:
        scores = ctx.call("Mul", [ctx.call("Tanh", [ctx.call("RealDiv", [scores, np.array(softcap, dtype)])]),
                                  np.array(softcap, dtype)])
    mode = int(ctx.attr("qk_matmul_output_mode", 0))
    qk_out = scores
    with_bias = ctx.call("Add", [scores, bias]) if bias is not None else scores
    if mode == 2:
        qk_out = with_bias
    precision = ctx.attr("softmax_precision")
    work = dtype
    if precision is not None:
        import onnx

        work = onnx.helper.tensor_dtype_to_np_dtype(int(precision))
    elif dtype == np.float16:
        work = np.dtype(np.float32)
    x = cast_to(ctx, with_bias, work) if work != dtype else with_bias
    x_max = ctx.call("ReduceMax", [x, (-1,), True])
    full = (b, hq, sq, kv)
    masked = ctx.call("Equal", [x_max, np.array(-np.inf, work)])
    safe = ctx.call("Select", [masked, filled_like(ctx, "ZerosLike", x_max, (b, hq, sq, 1), work), x_max])
    e = ctx.call("Exp", [ctx.call("Sub", [x, safe])])
    total = ctx.call("ReduceSum", [e, (-1,), True, False])
    total = ctx.call("Select", [ctx.call("Equal", [total, np.array(0, work)]),
                                filled_like(ctx, "OnesLike", total, (b, hq, sq, 1), work), total])
    probs = ctx.call("RealDiv", [e, total])
    if bias is not None:  # rows whose bias is -inf everywhere give 0, not NaN
        dead = ctx.call("Equal", [ctx.call("ReduceMax", [bias, (-1,), True]), np.array(-np.inf, dtype)])
        dead = ctx.call("BroadcastTo", [dead, full])
        probs = ctx.call("Select", [dead, filled_like(ctx, "ZerosLike", probs, full, work), probs])
    if mode == 3:
        qk_out = probs
    if work != dtype:
        probs = cast_to(ctx, probs, dtype)
        if mode == 3:
            qk_out = probs
    y = _matmul(ctx, probs, v, dtype)
    if rank == 3:
        y = ctx.call("Reshape", [ctx.call("Transpose", [y, (0, 2, 1, 3)]), (b, sq, hq * v_shape[3])])
    return [y, present_k, present_v, qk_out]


def _slice_last(ctx: ExportContext, x: str, shape: list[int], begin: int, end: int, step: int = 1) -> str:
    b, e, s = [0] * len(shape), list(shape), [1] * len(shape)
    b[-1], e[-1], s[-1] = begin, end, step
    return ctx.call("StridedSlice", [x, tuple(b), tuple(e), tuple(s), 0, 0, 0, 0, 0])


@exports("RotaryEmbedding")
def rotary_embedding(ctx: ExportContext):
    """ONNX RotaryEmbedding (opset 23) as ONNX's reference computes it: [B, S, H, D] rows rotated by
    cos/sin (gathered by position_ids when given), interleaved or split halves, the tail unrotated."""
    shape = ctx.shape(0)
    if shape is None or len(shape) not in (3, 4):
        raise ctx.fail("needs a static 3-D or 4-D input")
    x = ctx.tensor(0)
    if len(shape) == 4:  # [B, H, S, D] -> [B, S, H, D]
        x = ctx.call("Transpose", [x, (0, 2, 1, 3)])
        b, s, h, d = shape[0], shape[2], shape[1], shape[3]
    else:
        heads = int(ctx.attr("num_heads", 0) or 0)
        if heads <= 0 or shape[2] % heads:
            raise ctx.fail("3-D input needs num_heads dividing the hidden size")
        b, s, h, d = shape[0], shape[1], heads, shape[2] // heads
        x = ctx.call("Reshape", [x, (b, s, h, d)])
    rot = int(ctx.attr("rotary_embedding_dim", 0) or 0) or d
    if rot % 2 or rot > d:
        raise ctx.fail(f"rotary_embedding_dim {rot} for a head size of {d}")
    half = rot // 2
    cos, sin = ctx.tensor(1), ctx.tensor(2)
    if ctx.has_input(3):
        cos = ctx.call("Gather", [cos, ctx.tensor(3), 0, 0])
        sin = ctx.call("Gather", [sin, ctx.tensor(3), 0, 0])
    if (ctx.shape(1) or [0])[-1] != half:
        raise ctx.fail(f"cos_cache's last dim is not rotary_embedding_dim/2 = {half}")
    cos = ctx.call("ExpandDims", [cos, 2])  # [B, S, 1, half]
    sin = ctx.call("ExpandDims", [sin, 2])
    full = [b, s, h, d]
    rotate = _slice_last(ctx, x, full, 0, rot) if rot < d else x
    part = [b, s, h, rot]
    interleaved = int(ctx.attr("interleaved", 0))
    if interleaved:
        x1, x2 = _slice_last(ctx, rotate, part, 0, rot, 2), _slice_last(ctx, rotate, part, 1, rot, 2)
    else:
        x1, x2 = _slice_last(ctx, rotate, part, 0, half), _slice_last(ctx, rotate, part, half, rot)
    real = ctx.call("Sub", [ctx.call("Mul", [cos, x1]), ctx.call("Mul", [sin, x2])])
    imag = ctx.call("Add", [ctx.call("Mul", [sin, x1]), ctx.call("Mul", [cos, x2])])
    if interleaved:
        pairs = [ctx.call("ExpandDims", [v, 4]) for v in (real, imag)]
        rotated = ctx.call("Reshape", [ctx.call("Concat", [ctx.make_tuple(pairs), 4]), tuple(part)])
    else:
        rotated = ctx.call("Concat", [ctx.make_tuple([real, imag]), 3])
    y = ctx.call("Concat", [ctx.make_tuple([rotated, _slice_last(ctx, x, full, rot, d)]), 3]) if rot < d else rotated
    if len(shape) == 4:
        return ctx.call("Transpose", [y, (0, 2, 1, 3)])
    return ctx.call("Reshape", [y, tuple(shape)])
