"""Write small MindIR files, one per group of MindSpore primitives, with inputs and MindSpore's outputs.

Usage: python scripts/make_op_fixtures.py [OUT_DIR [GROUP ...]]   (needs MindSpore; default
tests/data/mindir_ops, all groups). Run it in the zoo venv (MindSpore 2.10 with numpy<2, see
scripts/make_zoo_corpus.py).

The files are committed so the converter's op table is tested against MindSpore itself on
machines without MindSpore. Each folder holds model.mindir, input_*.npy, expected_*.npy and
meta.json (the primitives the file contains). Groups the converter refuses on purpose
(embedding_max_norm) go to ../mindir_refused/, control flow to ../mindir_unsupported/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def networks():
    import mindspore as ms
    from mindspore import mint, nn, ops

    class ConvVariants(nn.Cell):
        def __init__(self):
            super().__init__()
            self.same = nn.Conv2d(3, 8, 3, stride=2, pad_mode="same", has_bias=True)
            self.padded = nn.Conv2d(8, 8, 3, pad_mode="pad", padding=(1, 2, 0, 1), dilation=2, group=2, has_bias=False)
            self.depthwise = nn.Conv2d(8, 8, 3, pad_mode="pad", padding=1, group=8, has_bias=True)
            self.up = nn.Conv2dTranspose(8, 4, 2, stride=2, pad_mode="same", has_bias=True)
            self.avg = nn.AvgPool2d(3, 1, pad_mode="same")
            self.maxp = nn.MaxPool2d(2, 2, pad_mode="same")
            self.gap = nn.AdaptiveAvgPool2d(1)

        def construct(self, x):
            y = self.same(x)
            y = self.padded(y)
            y = self.depthwise(y)
            y = self.avg(y)
            y = self.maxp(y)
            z = self.up(y)
            return z, self.gap(y)

    class Activations(nn.Cell):
        def __init__(self):
            super().__init__()
            self.acts = nn.CellList([nn.ReLU6(), nn.Sigmoid(), nn.Tanh(), nn.LeakyReLU(0.1), nn.HSwish(), nn.HSigmoid(),
                                     nn.SiLU(), nn.ELU(), nn.GELU(approximate=False), nn.FastGelu()])
            self.softmax = nn.Softmax(axis=1)
            self.log_softmax = nn.LogSoftmax(axis=-1)

        def construct(self, x):
            outs = [act(x) for act in self.acts]
            return tuple(outs) + (self.softmax(x), self.log_softmax(x), ops.erf(x), ops.relu(x))

    class ElementwiseMath(nn.Cell):
        def construct(self, x, y):
            a = ops.sub(x, y) * ops.div(x, ops.abs(y) + 1.0)
            b = ops.pow(ops.abs(x), 1.5) + ops.sqrt(ops.abs(y)) + ops.exp(-ops.abs(x)) + ops.log(ops.abs(y) + 1.0)
            c = ops.maximum(x, y) - ops.minimum(x, y) + ops.rsqrt(ops.abs(x) + 1.0) + ops.square(y) + ops.reciprocal(ops.abs(x) + 2.0)
            d = ops.neg(ops.floor(x)) + ops.ceil(y)
            mask = ops.greater(x, y)
            e = ops.select(mask, x, y) + ops.cast(ops.equal(x, y), ms.float32)
            return a, b, c, d, e

    class Reductions(nn.Cell):
        def construct(self, x):
            return (ops.ReduceSum(keep_dims=True)(x, (1, 2)), ops.ReduceMax()(x, 2), ops.ReduceMin(keep_dims=False)(x, -1),
                    ops.ReduceMean(keep_dims=False)(x, ()), ops.Argmax(axis=1)(x), ops.cast(x, ms.float16))

    class ArrayOps(nn.Cell):
        def construct(self, x):
            a, b = ops.split(x, 2, axis=1)
            c = ops.concat((b, a), axis=1)
            s = ops.stack((a, b), axis=0)
            e = ops.expand_dims(x, 0)
            q = ops.squeeze(e, 0)
            t = ops.tile(x[:, :1], (1, 3, 1))
            bt = ops.broadcast_to(x[:1], (3, -1, -1))
            sl = x[:, 1:3, ::2]
            sl2 = ops.slice(x, (0, 1, 0), (2, 2, -1))
            tr = ops.transpose(x, (2, 0, 1))
            rs = ops.reshape(x, (-1,))
            pd = ops.pad(x, (1, 1, 2, 0))
            return c, s, q, t, bt, sl, sl2, tr, rs, pd

    class Resize(nn.Cell):
        def construct(self, x):
            a = ops.ResizeNearestNeighbor((16, 12))(x)
            b = ops.ResizeBilinearV2(align_corners=False, half_pixel_centers=True)(x, (10, 14))
            c = ops.ResizeBilinearV2(align_corners=True)(x, (10, 14))
            return a, b, c

    class Recurrent(nn.Cell):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 12, num_layers=1, batch_first=True)
            self.gru = nn.GRU(12, 6, num_layers=1, batch_first=True)

        def construct(self, x):
            y, _ = self.lstm(x)
            z, _ = self.gru(y)
            return z

    class BidirectionalLSTM(nn.Cell):
        """Two bidirectional layers: MindSpore emits one-direction LSTM primitives and ReverseV2."""

        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 6, num_layers=2, batch_first=True, bidirectional=True)

        def construct(self, x):
            y, _ = self.lstm(x)
            return y

    class ExtPrimitives(nn.Cell):
        """MindSpore 2.x mint operators: *Ext, scalar (Muls/Divs) and in-place primitives."""

        def __init__(self):
            super().__init__()
            self.emb = mint.nn.Embedding(10, 5)

        def construct(self, x, ids):
            t = mint.transpose(x, -1, -2)
            mm = mint.matmul(x, t)
            y = x * 2.5
            y += x
            s = mint.sum(x, dim=1, keepdim=True) + mint.sum(x) / 3.0
            m = mint.mean(x, dim=-1)
            z = mint.zeros_like(ids)
            a = mint.add(x, y, alpha=2.0)
            c = ops.CumSum(exclusive=True, reverse=True)(x, 2)
            e = self.emb(ids)
            return mm, y, s, m, z, a, c, e

    class ZooPrimitives(nn.Cell):
        """Primitives the model zoo needs that MindSpore's own ONNX export lacks."""

        def __init__(self):
            super().__init__()
            self.gn = nn.GroupNorm(2, 4)
            self.hswish = nn.HSwish()
            self.index = ms.Tensor(1, ms.int32)  # a 0-d index: Gather drops the axis

        def construct(self, x):
            g = self.gn(x)
            u0, u1, u2, u3 = ops.unstack(x, axis=1)
            parts = [u0 * 2.0, u3]
            erf = ops.erf(x)
            mish = ops.mish(x)
            hs = self.hswish(x)
            cs = ops.cumsum(x, 3)
            scalar_gather = ops.gather(x, self.index, 1)
            no = ops.logical_not(x > 0)
            return g, parts[0] + u1 - u2, parts[1], erf, mish, hs, cs, scalar_gather, no

    class ZooPrimitives2(nn.Cell):
        """YOLO heads (slice assignment, in-place multiply, int32 strides) and GPT-2's split."""

        def __init__(self):
            super().__init__()
            self.stride = ms.Tensor(np.array([8, 16], np.int32))

        def construct(self, x):
            y = ops.sigmoid(x)
            y[..., 0:2] = (y[..., 0:2] * 2.0 - 0.5) * self.stride[1]  # TensorScatterUpdate, float * int32
            wh = y[..., 2:4]
            wh *= ms.Tensor(np.array([3.0, 5.0], np.float32))  # InplaceMul
            wh /= ms.Tensor(np.array([2.0, 0.5], np.float32))  # InplaceDiv
            q, k, v = mint.split(x, 2, dim=-1)  # SplitTensorView, equal pieces
            a, b = mint.split(x, 4, dim=1)  # the last piece shorter
            return y, wh, q + k * v, a.sum(), b

    class ZooPrimitives3(nn.Cell):
        """HRNet's upsampling of a batch-norm output, and the remaining mint Ext/scalar forms."""

        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm2d(3)
            self.index = ms.Parameter(ms.Tensor(np.array([[0, -1, 5], [23, -24, 2]], np.int32)), requires_grad=False)

        def construct(self, x):
            b = ops.ResizeNearestNeighbor((8, 10))(self.bn(x))
            d = mint.sub(x, b[:, :, :4, :5], alpha=2.0)
            o = mint.ones_like(x) * 0.5
            p = mint.pow(x, 2.0)
            q = mint.add(x, 1.5, alpha=2)
            r = mint.sub(x, 0.5)
            small = x * ms.Tensor(np.array([1.0, 1.0, 1e-3], np.float32)).reshape(1, 3, 1, 1)
            n = ops.L2Normalize(axis=-1)(small)  # the last channel's rows fall under epsilon
            n2 = ops.L2Normalize(axis=1, epsilon=1e-12)(x)
            grn = ops.LpNorm(axis=[1, 2], p=2, keep_dims=True)(x)  # ConvNeXt v2's GRN
            l1 = ops.LpNorm(axis=-1, p=1, epsilon=0.5)(small)  # some norms fall under epsilon
            l3 = ops.LpNorm(axis=0, p=3)(x)
            table = x.reshape(-1, 5)
            picked = table[self.index.reshape(-1)]  # tensor indexing: LessScalar/Select wrap negative indices
            return b, d, o, p, q, r, n, n2, grn, l1, l3, picked

    class EmbeddingMaxNorm(nn.Cell):
        """max_norm renormalizes the weight in place on every call: refused, not approximated."""

        def __init__(self):
            super().__init__()
            self.emb = mint.nn.Embedding(10, 5, max_norm=1.0)

        def construct(self, ids):
            return self.emb(ids)

    class WhileLoop(nn.Cell):
        """A data-dependent loop: MindSpore exports it as separate graphs (control flow)."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Dense(8, 8)

        def construct(self, x, n):
            i = 0
            while i < n:
                x = self.fc(x)
                i += 1
            return x

    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return {
        "conv_variants": (ConvVariants, [f32(1, 3, 17, 15)]),
        "activations": (Activations, [f32(2, 5, 7)]),
        "elementwise_math": (ElementwiseMath, [f32(3, 4), f32(3, 4)]),
        "reductions": (Reductions, [f32(2, 3, 4)]),
        "array_ops": (ArrayOps, [f32(2, 4, 5)]),
        "resize": (Resize, [f32(1, 2, 8, 6)]),
        "recurrent": (Recurrent, [f32(2, 5, 8)]),
        "recurrent_bidirectional": (BidirectionalLSTM, [f32(2, 5, 8)]),
        "ext_primitives": (ExtPrimitives, [f32(2, 3, 4), rng.integers(0, 10, (2, 3)).astype(np.int32)]),
        "zoo_primitives": (ZooPrimitives, [f32(2, 4, 5, 6)]),
        "zoo_primitives_2": (ZooPrimitives2, [f32(2, 7, 3, 6)]),
        "zoo_primitives_3": (ZooPrimitives3, [f32(2, 3, 4, 5)]),
        # Refused on purpose (written to ../mindir_refused/): the test checks the one-line reason.
        "embedding_max_norm": (EmbeddingMaxNorm, [rng.integers(0, 10, (2, 3)).astype(np.int32)]),
        # Not convertible yet; kept to test the error (written to ../mindir_unsupported/).
        "while_loop": (WhileLoop, [f32(2, 8), np.array(3, np.int32)]),
    }


def main() -> int:
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    ms.set_seed(1)
    out_root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tests/data/mindir_ops"
    only = set(sys.argv[2:])
    for name, (cls, inputs) in networks().items():
        if only and name not in only:
            continue
        folder = out_root / name
        if name == "while_loop":
            folder = out_root.parent / "mindir_unsupported" / name
        if name == "embedding_max_norm":
            folder = out_root.parent / "mindir_refused" / name
        folder.mkdir(parents=True, exist_ok=True)
        tensors = [ms.Tensor(x) for x in inputs]
        try:
            net = cls()
            net.set_train(False)
            outputs = net(*tensors)
            ms.export(net, *tensors, file_name=str(folder / "model"), file_format="MINDIR")
        except Exception as exc:  # record what MindSpore itself could not do
            print(f"{name}: MindSpore failed: {str(exc).splitlines()[0]}")
            continue
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        for i, x in enumerate(inputs):
            np.save(folder / f"input_{i}.npy", x)
        for i, y in enumerate(outputs):
            np.save(folder / f"expected_{i}.npy", y.asnumpy())
        (folder / "meta.json").write_text(json.dumps({
            "name": name, "mindspore_version": ms.__version__,
            "inputs": [{"file": f"input_{i}.npy", "shape": list(x.shape), "dtype": str(x.dtype)} for i, x in enumerate(inputs)],
            "outputs": [{"file": f"expected_{i}.npy", "shape": list(y.shape), "dtype": str(y.asnumpy().dtype)} for i, y in enumerate(outputs)],
        }, indent=2))
        print(f"{name}: wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
