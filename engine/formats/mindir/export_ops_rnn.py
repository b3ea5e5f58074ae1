"""ONNX LSTM/GRU/RNN -> MindIR, unrolled over the static sequence length with ONNX's exact equations.

The input projection of all steps is one MatMul per direction; each step adds the
recurrent projection and applies the gate activations (ONNX gate order: LSTM i, o, f, c;
GRU z, r, h). Both directions, initial states, peepholes, clip, input_forget, GRU's
linear_before_reset and layout=1 (batch first: X, the states and the outputs are transposed
around the same computation) are supported; per-batch sequence_lens shorter than the
sequence and activations other than Sigmoid/Tanh/Relu are refused.
"""

from __future__ import annotations

import numpy as np

from engine.formats.mindir.writer import ExportContext, exports

_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU"}
_DEFAULTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _rows(ctx: ExportContext, x: str, shape: list[int], axis: int, begin: int, end: int) -> str:
    """x[..., begin:end, ...] on ``axis`` (static shapes)."""
    b, e = [0] * len(shape), list(shape)
    b[axis], e[axis] = begin, end
    return ctx.call("StridedSlice", [x, tuple(b), tuple(e), (1,) * len(shape), 0, 0, 0, 0, 0])


def _direction_part(ctx: ExportContext, i: int, d: int, batch_first: bool = False) -> tuple[str, list[int]] | tuple[None, None]:
    """Input ``i`` (W, R, B, P, initial states) for direction ``d``, without its direction axis.

    With ``batch_first`` (layout=1) an initial state is [batch, directions, hidden]: its direction
    is taken from axis 1.
    """
    if not ctx.has_input(i):
        return None, None
    shape = ctx.shape(i)
    if shape is None:
        raise ctx.fail(f"needs a static shape for input {i}")
    axis = 1 if batch_first else 0
    part = _rows(ctx, ctx.tensor(i), shape, axis, d, d + 1)
    rest = [n for k, n in enumerate(shape) if k != axis]
    return ctx.call("Reshape", [part, tuple(rest)]), rest


@exports("LSTM", "GRU", "RNN")
def recurrent(ctx: ExportContext):
    op = ctx.node.op_type
    x_shape = ctx.shape(0)
    if x_shape is None or len(x_shape) != 3:
        raise ctx.fail("needs a static 3-D input")
    batch_first = bool(int(ctx.attr("layout", 0)))
    x = ctx.tensor(0)
    if batch_first:  # [batch, seq, input] -> [seq, batch, input]
        x = ctx.call("Transpose", [x, (1, 0, 2)])
        x_shape = [x_shape[1], x_shape[0], x_shape[2]]
    seq, batch, _ = x_shape
    hidden = int(ctx.attr("hidden_size", 0))
    if hidden <= 0:
        raise ctx.fail("needs hidden_size")
    w_shape, r_shape = ctx.shape(1), ctx.shape(2)
    gates_h = _GATES[op] * hidden
    if w_shape is None or r_shape is None or len(w_shape) != 3 or len(r_shape) != 3 \
            or w_shape[1] != gates_h or r_shape[1:] != [gates_h, hidden] or w_shape[2] != x_shape[2]:
        raise ctx.fail(f"W {w_shape} and R {r_shape} do not fit hidden_size {hidden} and an input of {x_shape[2]}")
    if ctx.has_input(4):
        if not ctx.is_const(4) or (ctx.const(4) != seq).any():
            raise ctx.fail("sequence_lens shorter than the sequence (or given at run time)")
    direction = ctx.attr("direction", "forward")
    dirs = 2 if direction == "bidirectional" else 1
    names = [str(a).lower() for a in (ctx.attr("activations") or [])]
    if any(n not in _ACTIVATIONS for n in names) or ctx.attr("activation_alpha") or ctx.attr("activation_beta"):
        raise ctx.fail(f"activations {names} (only Sigmoid, Tanh, Relu)")
    per_dir = len(_DEFAULTS[op])
    acts = [_ACTIVATIONS[n] for n in names] if names else _DEFAULTS[op] * dirs
    if len(acts) != per_dir * dirs:
        raise ctx.fail(f"{len(acts)} activations for {dirs} direction(s)")
    clip = ctx.attr("clip")
    dtype = ctx.dtype(0) or np.dtype(np.float32)
    gates = _GATES[op]
    ys, hs, cs = [], [], []
    for d in range(dirs):
        reverse = direction == "reverse" or d == 1
        f = acts[d * per_dir:(d + 1) * per_dir]
        w, _ = _direction_part(ctx, 1, d)  # [gates*H, I]
        r, _ = _direction_part(ctx, 2, d)  # [gates*H, H]
        bias, _ = _direction_part(ctx, 3, d)  # [2*gates*H]
        flat = ctx.call("Reshape", [x, (seq * batch, x_shape[2])])
        xw = ctx.call("MatMul", [flat, w, False, True])
        wb = rb = None
        if bias is not None:
            wb = _rows(ctx, bias, [2 * gates * hidden], 0, 0, gates * hidden)
            rb = _rows(ctx, bias, [2 * gates * hidden], 0, gates * hidden, 2 * gates * hidden)
            if op != "GRU" or not int(ctx.attr("linear_before_reset", 0)):
                xw = ctx.call("Add", [xw, ctx.call("Add", [wb, rb]) if op != "GRU" else wb])
            else:
                xw = ctx.call("Add", [xw, wb])
        xw = ctx.call("Reshape", [xw, (seq, batch, gates * hidden)])
        h, _ = _direction_part(ctx, 5, d, batch_first)
        # Absent initial states are zeros of one row: broadcast against the batch by the first step
        # (a [batch, hidden] constant would be as large as the batch a file states).
        h = h if h is not None else np.zeros((1, hidden), dtype)
        c = None
        if op == "LSTM":
            c, _ = _direction_part(ctx, 6, d, batch_first)
            c = c if c is not None else np.zeros((1, hidden), dtype)
        peep, _ = _direction_part(ctx, 7, d) if op == "LSTM" else (None, None)
        steps: list[str] = [None] * seq  # type: ignore[list-item]
        for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
            xt = ctx.call("Reshape", [_rows(ctx, xw, [seq, batch, gates * hidden], 0, t, t + 1), (batch, gates * hidden)])
            h_in = h if isinstance(h, str) else ctx.w.builder.constant(h)
            if op == "LSTM":
                h, c = _lstm_step(ctx, xt, h_in, c, r, peep, f, hidden, clip, dtype, batch)
            elif op == "GRU":
                h = _gru_step(ctx, xt, h_in, r, rb, f, hidden, clip, dtype, batch)
            else:
                g = ctx.call("Add", [xt, ctx.call("MatMul", [h_in, r, False, True])])
                h = ctx.call(f[0], [_clip(ctx, g, clip, dtype)])
            steps[t] = ctx.call("Reshape", [h, (1, 1, batch, hidden)])
        ys.append(ctx.call("Concat", [ctx.make_tuple(steps), 0]) if seq > 1 else steps[0])
        hs.append(ctx.call("Reshape", [h, (1, batch, hidden)]))
        if c is not None:
            cs.append(ctx.call("Reshape", [c if isinstance(c, str) else ctx.w.builder.constant(c), (1, batch, hidden)]))

    def join(parts: list[str], axis: int) -> str:
        return parts[0] if len(parts) == 1 else ctx.call("Concat", [ctx.make_tuple(parts), axis])

    outs = [join(ys, 1), join(hs, 0)]  # Y [seq, dirs, batch, hidden]; Y_h, Y_c [dirs, batch, hidden]
    if op == "LSTM":
        outs.append(join(cs, 0))
    if batch_first:  # Y [batch, seq, dirs, hidden]; Y_h, Y_c [batch, dirs, hidden]
        outs = [ctx.call("Transpose", [outs[0], (2, 0, 1, 3)])] + [ctx.call("Transpose", [o, (1, 0, 2)]) for o in outs[1:]]
    return outs


def _clip(ctx: ExportContext, g: str, clip, dtype) -> str:
    if clip is None:
        return g
    return ctx.call("Minimum", [ctx.call("Maximum", [g, np.array(-float(clip), dtype)]), np.array(float(clip), dtype)])


def _chunk(ctx: ExportContext, g: str, k: int, batch: int, hidden: int, gates: int) -> str:
    return _rows(ctx, g, [batch, gates * hidden], 1, k * hidden, (k + 1) * hidden)


def _lstm_step(ctx, xt, h, c, r, peep, f, hidden, clip, dtype, batch):
    g = ctx.call("Add", [xt, ctx.call("MatMul", [h, r, False, True])])
    i, o, fg, cand = (_chunk(ctx, g, k, batch, hidden, 4) for k in range(4))
    c_in = c if isinstance(c, str) else ctx.w.builder.constant(c)
    if peep is not None:
        pi, po, pf = (_rows(ctx, peep, [3 * hidden], 0, k * hidden, (k + 1) * hidden) for k in range(3))
        i = ctx.call("Add", [i, ctx.call("Mul", [pi, c_in])])
        fg = ctx.call("Add", [fg, ctx.call("Mul", [pf, c_in])])
    i = ctx.call(f[0], [_clip(ctx, i, clip, dtype)])
    if int(ctx.attr("input_forget", 0)):
        fg = ctx.call("Sub", [np.array(1, dtype), i])
    else:
        fg = ctx.call(f[0], [_clip(ctx, fg, clip, dtype)])
    cand = ctx.call(f[1], [_clip(ctx, cand, clip, dtype)])
    c_new = ctx.call("Add", [ctx.call("Mul", [fg, c_in]), ctx.call("Mul", [i, cand])])
    if peep is not None:
        o = ctx.call("Add", [o, ctx.call("Mul", [po, c_new])])
    o = ctx.call(f[0], [_clip(ctx, o, clip, dtype)])
    return ctx.call("Mul", [o, ctx.call(f[2], [c_new])]), c_new


def _gru_step(ctx, xt, h, r, rb, f, hidden, clip, dtype, batch):
    lbr = int(ctx.attr("linear_before_reset", 0))
    xz, xr, xh = (_chunk(ctx, xt, k, batch, hidden, 3) for k in range(3))
    r_rows = [_rows(ctx, r, [3 * hidden, hidden], 0, k * hidden, (k + 1) * hidden) for k in range(3)]
    rbs = [_rows(ctx, rb, [3 * hidden], 0, k * hidden, (k + 1) * hidden) for k in range(3)] if rb is not None else None

    def rec(k: int, state: str) -> str:
        y = ctx.call("MatMul", [state, r_rows[k], False, True])
        return ctx.call("Add", [y, rbs[k]]) if rbs is not None else y

    z = ctx.call(f[0], [_clip(ctx, ctx.call("Add", [xz, rec(0, h)]), clip, dtype)])
    reset = ctx.call(f[0], [_clip(ctx, ctx.call("Add", [xr, rec(1, h)]), clip, dtype)])
    if lbr:
        hh = ctx.call("Add", [xh, ctx.call("Mul", [reset, rec(2, h)])])
    else:
        hh = ctx.call("Add", [xh, rec(2, ctx.call("Mul", [reset, h]))])
    hh = ctx.call(f[1], [_clip(ctx, hh, clip, dtype)])
    keep = ctx.call("Mul", [z, h])
    return ctx.call("Add", [ctx.call("Mul", [ctx.call("Sub", [np.array(1, dtype), z]), hh]), keep])
