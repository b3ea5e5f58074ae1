"""Helpers for the pass tests: ONNX Runtime as the peer every rewrite is checked against."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


class Peer:
    """Runs models on ONNX Runtime (CPU) and compares a rewrite with its original."""

    @staticmethod
    def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        return sess.run(None, feeds)

    @staticmethod
    def feeds(model: onnx.ModelProto, seed: int = 0, batch: int | None = None) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        inits = {t.name for t in model.graph.initializer}
        out = {}
        for vi in model.graph.input:
            if vi.name in inits:
                continue
            tt = vi.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else (batch or 2) for d in tt.shape.dim]
            if batch is not None and shape:
                shape[0] = batch
            dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
            if np.issubdtype(dtype, np.integer):
                out[vi.name] = rng.integers(0, 8, shape).astype(dtype)
            else:
                out[vi.name] = rng.standard_normal(shape).astype(dtype)
        return out

    def same(self, before: onnx.ModelProto, after: onnx.ModelProto, *, rtol: float = 1e-4, atol: float = 1e-5,
             feeds: dict | None = None) -> list[np.ndarray]:
        """Assert both models give the same outputs (allclose) on seeded inputs; return after's."""
        feeds = feeds or self.feeds(before)
        ref, got = self.run(before, feeds), self.run(after, feeds)
        assert len(ref) == len(got)
        for r, g in zip(ref, got):
            assert r.shape == g.shape
            np.testing.assert_allclose(g, r, rtol=rtol, atol=atol)
        return got

    def cosine(self, before: onnx.ModelProto, after: onnx.ModelProto, feeds: dict | None = None) -> float:
        feeds = feeds or self.feeds(before)
        worst = 1.0
        for r, g in zip(self.run(before, feeds), self.run(after, feeds)):
            r, g = r.astype(np.float64).ravel(), g.astype(np.float64).ravel()
            worst = min(worst, float(r @ g / (np.linalg.norm(r) * np.linalg.norm(g) + 1e-30)))
        return worst


@pytest.fixture
def peer() -> Peer:
    return Peer()


def ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def make(nodes, inputs, outputs, inits=(), opset: int = 17, value_info=()) -> onnx.ModelProto:
    """A checked model from helper pieces: inputs/outputs as (name, shape) float32 pairs."""
    def vi(spec):
        if isinstance(spec, onnx.ValueInfoProto):
            return spec
        name, shape = spec
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    graph = helper.make_graph(nodes, "t", [vi(i) for i in inputs], [vi(o) for o in outputs],
                              initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()],
                              value_info=list(value_info))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def load_fixture(name: str) -> onnx.ModelProto:
    from tests_helpers import fixture_by_name

    return onnx.load(str(fixture_by_name(name).onnx))
