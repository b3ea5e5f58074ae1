"""Lowering rules for MindSpore recurrent primitives (LSTM); GRU and RNN cells arrive as basic ops."""

from __future__ import annotations

import numpy as np

from engine.formats.mindir.lower import NodeContext, op

# MindSpore packs LSTM gates as (input, forget, cell, output); ONNX wants (input, output, forget, cell).
_GATE_ORDER = (0, 3, 1, 2)


@op("LSTM")
def lstm(ctx: NodeContext):
    """LSTM(x[T,B,I], h0, c0, w_flat) -> (y, hy, cy, reserve, state), one layer, one direction.

    ``w_flat`` is MindSpore's packed [N,1,1] weight: w_ih (4H x I), w_hh (4H x H), then the
    summed bias b_ih + b_hh (4H) when has_bias. It is unpacked with ONNX ops so the graph
    keeps the original parameters (and their checkpoint names) as its inputs.
    """
    hidden = int(ctx.attr("hidden_size"))
    size_in = int(ctx.attr("input_size"))
    if int(ctx.attr("num_layers", 1)) != 1:
        raise ctx.fail("multi-layer LSTM in one primitive is not lowered yet (nn.LSTM emits one per layer)")
    if ctx.attr("bidirectional", False):
        raise ctx.fail("bidirectional LSTM is not lowered yet")
    if int(ctx.attr("proj_size", 0) or 0):
        raise ctx.fail("LSTM with a projection (proj_size) is not lowered yet")
    # Sizes come from attributes a corrupt file can state as anything: check them against the
    # packed weight before building index tensors of that size.
    if hidden <= 0 or size_in <= 0:
        raise ctx.fail(f"LSTM hidden_size {hidden} / input_size {size_in} must be positive")
    need = 4 * hidden * (size_in + hidden) + (4 * hidden if ctx.attr("has_bias", True) else 0)
    weight_shape = ctx.shape(3)
    have = int(np.prod(weight_shape, dtype=object)) if weight_shape and all(d >= 0 for d in weight_shape) else None
    if have is None or have != need:
        raise ctx.fail(f"LSTM hidden_size {hidden} and input_size {size_in} need a packed weight of {need} values, "
                       f"but it has {have if have is not None else 'an unknown number of'} values")
    flat = ctx.emit("Reshape", [ctx.tensor(3), ctx.const_tensor(np.array([-1], np.int64), hint="flat")],
                    final=False, suffix="w_flat")
    gate_index = np.concatenate([np.arange(g * hidden, (g + 1) * hidden) for g in _GATE_ORDER]).astype(np.int64)
    gates = ctx.const_tensor(gate_index, hint="gate_order")

    def piece(start: int, rows: int, cols: int, label: str) -> str:
        part = ctx.emit("Slice", [flat, ctx.const_tensor(np.array([start], np.int64), hint=f"{label}_s"),
                                  ctx.const_tensor(np.array([start + rows * cols], np.int64), hint=f"{label}_e")],
                        final=False, suffix=f"{label}_slice")
        shape = [rows, cols] if cols > 1 else [rows]
        part = ctx.emit("Reshape", [part, ctx.const_tensor(np.array(shape, np.int64), hint=f"{label}_shape")],
                        final=False, suffix=f"{label}_reshape")
        part = ctx.emit("Gather", [part, gates], final=False, suffix=f"{label}_gates", axis=0)
        return ctx.emit("Unsqueeze", [part, ctx.const_tensor(np.array([0], np.int64), hint="axis0")],
                        final=False, suffix=f"{label}_dir")

    four_h = 4 * hidden
    w = piece(0, four_h, size_in, "W")
    r = piece(four_h * size_in, four_h, hidden, "R")
    inputs = [ctx.tensor(0), w, r]
    if ctx.attr("has_bias", True):
        b = piece(four_h * (size_in + hidden), four_h, 1, "B")
        zeros = ctx.const_tensor(np.zeros((1, four_h), dtype=ctx.dtype(0) or np.float32), hint="b_zero")
        inputs.append(ctx.emit("Concat", [b, zeros], final=False, suffix="B_full", axis=1))
    else:
        inputs.append("")
    inputs += ["", ctx.tensor(1), ctx.tensor(2)]
    y, y_h, y_c = ctx.emit("LSTM", inputs, outputs=3, hidden_size=hidden, direction="forward")
    y = ctx.emit("Squeeze", [y, ctx.const_tensor(np.array([1], np.int64), hint="dir_axis")], final=False, suffix="y")
    return (y, y_h, y_c, y_h, y_c)
