"""Write MindIR files with control flow and dynamic input dims, with inputs and MindSpore's outputs.

Usage: python scripts/make_control_flow_fixtures.py [OUT_DIR]   (default tests/data/mindir_control)

Needs MindSpore 2.x in a venv with numpy<2 (MindSpore 2.10 with numpy 2 raises SystemError in
some Python-side ops). Each folder holds model.mindir, several input cases (``case<k>_input_<i>.npy``
with MindSpore's ``case<k>_expected_<j>.npy``, so both sides of a branch and several trip
counts are covered) and meta.json.

- ``if_branch``: ``if x.sum() > 0`` on a tensor; MindSpore writes the branches as separate
  graphs (``functions``), joined by ``Switch`` + ``Partial`` and a call of the switch's result.
- ``while_loop``: ``while i < n`` with ``n`` a tensor input; the loop is a header graph that a
  body graph calls again (tail recursion), with an after graph for the exit.
- ``if_in_while``, ``nested_while``, ``while_tensor_cond``, ``if_elif``, ``while_break``: a branch
  in a loop body, a loop in a loop, a condition computed from the loop state, an if/elif/else
  with two outputs, a ``break`` (cases that leave early and cases that run out); ``tuple_state``
  (a tuple carried through a loop) and ``while_return`` (``return`` inside a while).
- ``dynamic_batch``: a small conv net exported with input ``Tensor(shape=[None, 3, 16, 16])``;
  ``dynamic_reshape`` reshapes by the run-time batch; ``dynamic_attention`` has dynamic batch and
  sequence length (``[None, None, 16]``) with shapes computed at run time.

Tensor constants (``ms.Tensor(2.0)``) stand in for Python floats where MindSpore 2.10 would
write ``Muls``/``LessScalar``: these files test control flow, not the op table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def networks():
    import mindspore as ms
    from mindspore import nn, ops

    class IfBranch(nn.Cell):
        def __init__(self):
            super().__init__()
            self.fc = nn.Dense(8, 8)
            self.reduce_sum = ops.ReduceSum()
            self.two = ms.Tensor(2.0, ms.float32)

        # ReduceSum and a tensor factor, not x.sum() and "* 2.0" (SumExt, Muls): the file tests
        # control flow, with primitives the op table has lowered for long.
        def construct(self, x):
            if self.reduce_sum(x) > 0:
                y = self.fc(x) * self.two
            else:
                y = ops.relu(x) - 1.0
            return y + 1.0

    class WhileLoop(nn.Cell):
        def __init__(self):
            super().__init__()
            self.fc = nn.Dense(8, 8)

        def construct(self, x, n):
            i = 0
            while i < n:
                x = self.fc(x)
                i += 1
            return x

    class IfInWhile(nn.Cell):
        """A branch inside a loop body: MindSpore joins it before the body calls the header again."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Dense(8, 8)
            self.reduce_sum = ops.ReduceSum()

        def construct(self, x, n):
            i = 0
            while i < n:
                if self.reduce_sum(x) > 0:
                    x = self.fc(x)
                else:
                    x = x + 1.0
                i += 1
            return x

    class NestedWhile(nn.Cell):
        """A loop in a loop; the inner body reads a constant the outer exit graph declares."""

        def __init__(self):
            super().__init__()
            self.half = ms.Tensor(0.5, ms.float32)

        def construct(self, x, n):
            i = 0
            while i < n:
                j = 0
                while j < n:
                    x = x * self.half + 1.0
                    j += 1
                i += 1
            return x

    class WhileTensorCond(nn.Cell):
        """A loop whose condition is computed from the carried tensor itself."""

        def __init__(self):
            super().__init__()
            self.reduce_sum = ops.ReduceSum()
            self.limit = ms.Tensor(10.0, ms.float32)

        def construct(self, x):
            while self.reduce_sum(x) < self.limit:
                x = x + 1.0
            return x

    class IfElif(nn.Cell):
        """if / elif / else: a branch whose else side holds another branch; two outputs."""

        def __init__(self):
            super().__init__()
            self.reduce_sum = ops.ReduceSum()
            self.two = ms.Tensor(2.0, ms.float32)

        def construct(self, x):
            s = self.reduce_sum(x)
            if s > 1.0:
                out = x * self.two
            elif s > -1.0:
                out = x - 5.0
            else:
                out = ops.relu(x)
            return out, s

    class WhileBreak(nn.Cell):
        """``break`` in a while: one side of a branch in the body leaves the loop with a value."""

        def __init__(self):
            super().__init__()
            self.reduce_sum = ops.ReduceSum()

        def construct(self, x, n):
            i = 0
            while i < n:
                x = x + 1.0
                if self.reduce_sum(x) > 20.0:
                    break
                i += 1
            return x

    class TupleState(nn.Cell):
        """Loop state that is a tuple: each of its tensors is carried."""

        def __init__(self):
            super().__init__()
            self.two = ms.Tensor(2.0, ms.float32)

        def construct(self, x, n):
            i = 0
            acc = (x, x)
            while i < n:
                acc = (acc[0] + 1.0, acc[1] * self.two)
                i += 1
            return acc[0] + acc[1]

    class WhileReturn(nn.Cell):
        """``return`` inside a while: the loop is left with a value the exit graph never sees."""

        def __init__(self):
            super().__init__()
            self.reduce_sum = ops.ReduceSum()
            self.two = ms.Tensor(2.0, ms.float32)

        def construct(self, x, n):
            i = 0
            while i < n:
                x = x + 1.0
                if self.reduce_sum(x) > 20.0:
                    return x * self.two
                i += 1
            return x

    class DynamicBatch(nn.Cell):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, pad_mode="pad", padding=1, has_bias=True)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten()
            self.fc = nn.Dense(4, 5)

        def construct(self, x):
            return self.fc(self.flatten(self.pool(ops.relu(self.conv(x)))))

    class DynamicReshape(nn.Cell):
        """reshape(y, (y.shape[0], -1)) on a dynamic batch: Shape, TupleGetItem, MakeTuple, Reshape."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, has_bias=True)
            self.fc = nn.Dense(4 * 10 * 10, 5)

        def construct(self, x):
            y = self.conv(x)
            return self.fc(ops.reshape(y, (y.shape[0], -1)))

    class DynamicAttention(nn.Cell):
        """Self-attention with dynamic batch and sequence length: shapes computed at run time."""

        def __init__(self):
            super().__init__()
            self.q, self.k, self.v = nn.Dense(16, 16), nn.Dense(16, 16), nn.Dense(16, 16)
            self.ln = nn.LayerNorm((16,))
            self.bmm = ops.BatchMatMul()
            self.scale = ms.Tensor(2.0, ms.float32)

        def construct(self, x):
            b, t, c = x.shape
            q = self.q(x).reshape(b, t, 2, 8).transpose(0, 2, 1, 3)
            k = self.k(x).reshape(b, t, 2, 8).transpose(0, 2, 3, 1)
            v = self.v(x).reshape(b, t, 2, 8).transpose(0, 2, 1, 3)
            a = ops.softmax(self.bmm(q, k) / self.scale, -1)
            o = self.bmm(a, v).transpose(0, 2, 1, 3).reshape(b, t, c)
            return self.ln(o + x)

    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    positive = np.abs(f32(2, 8)) + 0.1
    return {
        # name: (class, export inputs (None dims are dynamic), cases)
        "if_branch": (IfBranch, [positive], [[positive], [-positive]]),
        "while_loop": (WhileLoop, [f32(2, 8), np.array(3, np.int32)],
                       [[f32(2, 8), np.array(3, np.int32)], [f32(2, 8), np.array(0, np.int32)],
                        [f32(2, 8), np.array(5, np.int32)]]),
        "if_in_while": (IfInWhile, [f32(2, 8), np.array(3, np.int32)],
                        [[f32(2, 8), np.array(3, np.int32)], [-np.abs(f32(2, 8)), np.array(2, np.int32)],
                         [f32(2, 8), np.array(0, np.int32)]]),
        "nested_while": (NestedWhile, [f32(2, 3), np.array(2, np.int32)],
                         [[f32(2, 3), np.array(2, np.int32)], [f32(2, 3), np.array(3, np.int32)]]),
        "while_tensor_cond": (WhileTensorCond, [f32(2, 3)], [[f32(2, 3)], [f32(2, 3) + 3.0]]),
        "if_elif": (IfElif, [positive[:, :3]],
                    [[positive[:, :3]], [np.full((2, 3), 0.01, np.float32)], [-positive[:, :3]]]),
        "while_break": (WhileBreak, [f32(2, 3), np.array(5, np.int32)],
                        [[f32(2, 3), np.array(10, np.int32)], [f32(2, 3), np.array(2, np.int32)],
                         [f32(2, 3), np.array(0, np.int32)]]),
        "tuple_state": (TupleState, [f32(2, 3), np.array(3, np.int32)],
                        [[f32(2, 3), np.array(3, np.int32)], [f32(2, 3), np.array(0, np.int32)]]),
        "while_return": (WhileReturn, [f32(2, 3), np.array(5, np.int32)],
                         [[f32(2, 3), np.array(10, np.int32)], [f32(2, 3), np.array(2, np.int32)]]),
        "dynamic_batch": (DynamicBatch, [ms.Tensor(shape=[None, 3, 16, 16], dtype=ms.float32)],
                          [[f32(1, 3, 16, 16)], [f32(3, 3, 16, 16)]]),
        "dynamic_reshape": (DynamicReshape, [ms.Tensor(shape=[None, 3, 10, 10], dtype=ms.float32)],
                            [[f32(1, 3, 10, 10)], [f32(4, 3, 10, 10)]]),
        "dynamic_attention": (DynamicAttention, [ms.Tensor(shape=[None, None, 16], dtype=ms.float32)],
                              [[f32(1, 5, 16)], [f32(3, 7, 16)]]),
    }


def main() -> int:
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    ms.set_seed(1)
    out_root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tests/data/mindir_control"
    for name, (cls, export_inputs, cases) in networks().items():
        folder = out_root / name
        folder.mkdir(parents=True, exist_ok=True)
        net = cls()
        net.set_train(False)
        tensors = [x if isinstance(x, ms.Tensor) else ms.Tensor(x) for x in export_inputs]
        ms.export(net, *tensors, file_name=str(folder / "model"), file_format="MINDIR")
        meta_cases = []
        for k, inputs in enumerate(cases):
            outputs = net(*[ms.Tensor(x) for x in inputs])
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            for i, x in enumerate(inputs):
                np.save(folder / f"case{k}_input_{i}.npy", x)
            for j, y in enumerate(outputs):
                np.save(folder / f"case{k}_expected_{j}.npy", y.asnumpy())
            meta_cases.append({"inputs": [list(x.shape) for x in inputs], "outputs": [list(y.shape) for y in outputs]})
        (folder / "meta.json").write_text(json.dumps({
            "name": name, "mindspore_version": ms.__version__, "cases": meta_cases,
        }, indent=2))
        print(f"{name}: wrote {folder} ({len(cases)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
