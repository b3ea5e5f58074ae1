"""Input metadata, seeded feeds, feed files and feed checking (engine.inputs)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.errors import InputError
from engine.inputs import TensorSpec, check_feeds, input_specs, load_feeds, make_feeds, output_specs
from tests_helpers import fixture_by_name


def _toy_model() -> onnx.ModelProto:
    """tokens:int64[batch, seq] and x:float[batch, 4] and mask:bool[N]; an initializer also listed as an input."""
    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"]), helper.make_node("Cast", ["tokens"], ["t"], to=TensorProto.FLOAT)],
        "toy",
        [
            helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, [None]),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("t", TensorProto.FLOAT, ["batch", "seq"])],
        initializer=[w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_specs_skip_initializers_and_keep_dynamic_dims():
    specs = input_specs(_toy_model())
    assert [s.name for s in specs] == ["tokens", "x", "mask"]
    assert specs[0] == TensorSpec("tokens", np.dtype(np.int64), ("batch", "seq"))
    assert specs[1].shape == ("batch", 4) and specs[1].dtype == np.float32
    assert specs[2].shape == (None,) and specs[2].dtype == np.bool_
    assert [s.name for s in output_specs(_toy_model())] == ["y", "t"]


def test_specs_match_fixture_meta():
    fx = fixture_by_name("tiny_transformer")
    spec, = input_specs(onnx.load(fx.onnx))
    meta = fx.meta["inputs"][0]
    assert spec.name == meta["onnx_name"]
    assert list(spec.shape) == meta["shape"]
    assert spec.dtype == np.dtype(meta["dtype"])


def test_make_feeds_seeded_and_shaped():
    specs = input_specs(_toy_model())
    a = make_feeds(specs, seed=3, batch=5, dims={"seq": 7})
    b = make_feeds(specs, seed=3, batch=5, dims={"seq": 7})
    c = make_feeds(specs, seed=4, batch=5, dims={"seq": 7})
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["x"], c["x"])
    assert a["tokens"].shape == (5, 7) and a["tokens"].dtype == np.int64
    assert a["tokens"].min() >= 0 and a["tokens"].max() < 8
    assert a["x"].shape == (5, 4) and a["x"].dtype == np.float32
    assert a["mask"].shape == (5,) and a["mask"].dtype == np.bool_
    d = make_feeds(specs)
    assert d["tokens"].shape == (1, 1) and d["x"].shape == (1, 4)
    # floats ~ N(0, 1)
    big = make_feeds([TensorSpec("z", np.dtype(np.float32), (20000,))], seed=0)["z"]
    assert abs(big.mean()) < 0.05 and abs(big.std() - 1) < 0.05


def test_make_feeds_run_in_onnxruntime():
    import onnxruntime as ort

    model = _toy_model()
    feeds = make_feeds(input_specs(model), batch=2, dims={"seq": 3})
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y, t = sess.run(None, feeds)
    np.testing.assert_allclose(y, feeds["x"] @ np.ones((4, 3), np.float32), rtol=1e-6)
    np.testing.assert_array_equal(t, feeds["tokens"].astype(np.float32))


def test_fixed_batch_refuses_other_batch():
    spec = TensorSpec("x", np.dtype(np.float32), (1, 3, 8, 8))
    with pytest.raises(InputError, match="fixed batch dimension of 1"):
        make_feeds([spec], batch=4)
    assert make_feeds([spec], batch=1)["x"].shape == (1, 3, 8, 8)


def test_check_feeds_names_each_problem():
    specs = input_specs(_toy_model())
    good = make_feeds(specs, batch=2, dims={"seq": 3})
    check_feeds(good, specs)
    cases = [
        ({k: v for k, v in good.items() if k != "x"}, "missing input 'x'"),
        ({**good, "extra": good["x"]}, "unknown input 'extra'"),
        ({**good, "x": good["x"].astype(np.float64)}, "'x' has dtype float64, the model expects float32"),
        ({**good, "x": good["x"][None]}, "'x' has rank 3"),
        ({**good, "x": np.zeros((2, 5), np.float32)}, r"axis 1 is 5, not 4"),
        ({**good, "x": np.zeros((3, 4), np.float32)}, "dimension 'batch' = 3"),
    ]
    for feeds, message in cases:
        with pytest.raises(InputError, match=message):
            check_feeds(feeds, specs)


def test_load_feeds_npy_npz(tmp_path):
    fx = fixture_by_name("lenet5")
    specs = input_specs(onnx.load(fx.onnx))
    feeds = load_feeds(fx.folder / "input_0.npy", specs)
    np.testing.assert_array_equal(feeds["x"], fx.inputs()[0])
    np.savez(tmp_path / "named.npz", x=fx.inputs()[0])
    np.savez(tmp_path / "positional.npz", fx.inputs()[0])
    for name in ("named.npz", "positional.npz"):
        np.testing.assert_array_equal(load_feeds(tmp_path / name, specs)["x"], fx.inputs()[0])
    np.savez(tmp_path / "wrong.npz", y=fx.inputs()[0])
    with pytest.raises(InputError, match="unknown input 'y'"):
        load_feeds(tmp_path / "wrong.npz", specs)
    np.save(tmp_path / "bad.npy", np.zeros((1, 1, 28, 28), np.float32))
    with pytest.raises(InputError, match=r"bad\.npy.*axis 2 is 28, not 32"):
        load_feeds(tmp_path / "bad.npy", specs)
    with pytest.raises(InputError, match="no such inputs file"):
        load_feeds(tmp_path / "absent.npz", specs)
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(InputError, match="must be .npy or .npz"):
        load_feeds(tmp_path / "x.txt", specs)


def test_npy_for_multi_input_model_is_refused(tmp_path):
    specs = input_specs(_toy_model())
    np.save(tmp_path / "one.npy", np.zeros((1, 4), np.float32))
    with pytest.raises(InputError, match="has 3 inputs"):
        load_feeds(tmp_path / "one.npy", specs)
