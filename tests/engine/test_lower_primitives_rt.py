"""MindIR -> ONNX lowering of the primitives our ONNX -> MindIR writer emits, run in ONNX Runtime against NumPy.

Two kinds of cases, neither needing MindSpore: a tiny ONNX model written as MindIR by our
writer and read back (the round trip of issue 10), and a MindIR of one primitive built
directly (operands the writer never produces: shift counts outside the width, skip_mode).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine import formats
from engine.convert import convert
from engine.formats.mindir.lower_output import raise_opset
from engine.formats.mindir.writer import MindIRBuilder

INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


# ---------------------------------------------------------------- helpers


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {n: feeds[k] for n, k in zip(names, feeds)})


def _opset(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _round_trip(tmp_path: Path, nodes, inputs: dict[str, np.ndarray], outputs: list[tuple],
                initializers=(), opset: int = 18) -> onnx.ModelProto:
    """Write an ONNX graph as MindIR with our writer, read it back with our reader; the lowered ONNX.

    ``outputs`` are (name, elem_type) or (name, elem_type, shape); shape inference fills a missing shape.
    """
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for k, v in inputs.items()],
        [helper.make_tensor_value_info(o[0], o[1], o[2] if len(o) > 2 else None) for o in outputs],
        initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    src, dst = tmp_path / "model.onnx", tmp_path / "model.mindir"
    onnx.save(model, src)
    convert(src, dst)
    back = formats.load(dst)
    assert back.onnx is not None, back.unlowered
    onnx.checker.check_model(back.onnx, full_check=True)
    return back.onnx


def _primitive(tmp_path: Path, op_type: str, inputs: dict[str, np.ndarray], consts: list,
               out_dims: list[int], out_dtype, dynamic: tuple[str, ...] = ()) -> onnx.ModelProto:
    """A MindIR of one primitive call op_type(*inputs, *consts), lowered to ONNX by our reader.

    Inputs named in ``dynamic`` get dims of -1 (any length at run time).
    """
    builder = MindIRBuilder("net")
    operands = [builder.input(k, [-1] * v.ndim if k in dynamic else list(v.shape), v.dtype) for k, v in inputs.items()]
    operands += [builder.constant(c) for c in consts]
    out = builder.cnode(builder.primitive(op_type), operands, scope=op_type)
    builder.annotate(out, out_dims, np.dtype(out_dtype))  # the output type, as MindSpore records it
    builder.output(out, out_dims, np.dtype(out_dtype))
    path = tmp_path / f"{op_type}.mindir"
    path.write_bytes(builder.proto.SerializeToString())
    back = formats.load(path)
    assert back.onnx is not None, back.unlowered
    onnx.checker.check_model(back.onnx, full_check=True)
    return back.onnx


def _c_shift(x: np.ndarray, s: np.ndarray, left: bool) -> np.ndarray:
    """MindSpore's CPU shift kernel: C's shift in the promoted width (32 or 64 bits), count mod that width."""
    wide = 64 if x.dtype.itemsize == 8 else 32
    signed, unsigned = (np.int64, np.uint64) if wide == 64 else (np.int32, np.uint32)
    count = (s.astype(np.int64) % wide)
    if left:
        bits = x.astype(signed).astype(unsigned) if x.dtype.kind == "i" else x.astype(unsigned)
        return (bits << count.astype(unsigned)).astype(x.dtype)
    if x.dtype.kind == "i":
        return (x.astype(signed) >> count.astype(signed)).astype(x.dtype)
    return (x.astype(unsigned) >> count.astype(unsigned)).astype(x.dtype)


# ---------------------------------------------------------------- reductions, opset 18


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd"])
@pytest.mark.parametrize("axes", [[1], [-1, 0], []])
@pytest.mark.parametrize("keep", [0, 1])
def test_reduction_axes_at_run_time(tmp_path, op, axes, keep):
    x = np.random.default_rng(1).uniform(0.5, 1.5, (2, 3, 4)).astype(np.float32)
    a = np.array(axes, np.int64)
    fn = {"ReduceSum": np.sum, "ReduceMean": np.mean, "ReduceMax": np.max, "ReduceMin": np.min, "ReduceProd": np.prod}[op]
    want = fn(x, axis=tuple(axes) if axes else None, keepdims=bool(keep))
    lowered = _round_trip(tmp_path, [helper.make_node(op, ["x", "axes"], ["y"], keepdims=keep)],
                          {"x": x, "axes": a}, [("y", TensorProto.FLOAT, want.shape)])
    (got,) = _run(lowered, {"x": x, "axes": a})
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # ReduceSum takes run-time axes at opset 17; the others only from 18
    assert _opset(lowered) == (17 if op == "ReduceSum" else 18)


def test_opset_18_rewrites_attribute_reductions_elsewhere_in_the_graph(tmp_path):
    """A run-time-axes ReduceMax raises the model to 18; a constant-axes ReduceMean beside it
    (an axes attribute at 17) becomes the opset-18 form with a constant axes input."""
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    a = np.array([2], np.int64)
    nodes = [helper.make_node("ReduceMax", ["x", "axes"], ["m"], keepdims=1),
             helper.make_node("ReduceMean", ["x", "mean_axes"], ["mean"], keepdims=1),
             helper.make_node("Add", ["m", "mean"], ["y"])]
    init = [numpy_helper.from_array(np.array([0, 2], np.int64), "mean_axes")]
    lowered = _round_trip(tmp_path, nodes, {"x": x, "axes": a}, [("y", TensorProto.FLOAT, [1, 3, 1])], init)
    assert _opset(lowered) == 18
    assert not any(attr.name == "axes" for n in lowered.graph.node for attr in n.attribute)
    (got,) = _run(lowered, {"x": x, "axes": a})
    np.testing.assert_allclose(got, x.max(2, keepdims=True) + x.mean((0, 2), keepdims=True), rtol=1e-6)


def test_raise_opset_reaches_into_subgraphs():
    """raise_opset rewrites reductions inside If branches; an absent axes attribute stays absent."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    then_g = helper.make_graph([helper.make_node("ReduceMean", ["x"], ["t"], axes=[1], keepdims=0)], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])])
    else_g = helper.make_graph([helper.make_node("ReduceMax", ["x"], ["e0"], keepdims=0),
                                helper.make_node("Expand", ["e0", "two"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])])
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)], "g",
        [x, helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializer=[numpy_helper.from_array(np.array([2], np.int64), "two")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    assert raise_opset(model, 18) == 1
    del model.opset_import[:]
    model.opset_import.add(domain="", version=18)
    onnx.checker.check_model(model, full_check=True)
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(_run(model, {"x": data, "c": np.array(True)})[0], data.mean(1))
    np.testing.assert_allclose(_run(model, {"x": data, "c": np.array(False)})[0], [5.0, 5.0])
    with pytest.raises(ValueError, match="opset 21"):
        raise_opset(model, 21)


def test_reduce_sum_skip_mode_with_empty_axes_is_identity(tmp_path):
    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    empty = np.zeros(0, np.int64)
    kept = _primitive(tmp_path, "ReduceSum", {"x": x, "axes": empty}, [False, True], [-1], np.float32, ("axes",))
    (got,) = _run(kept, {"x": x, "axes": empty})
    np.testing.assert_array_equal(got, x)
    (got,) = _run(kept, {"x": x, "axes": np.array([1], np.int64)})
    np.testing.assert_allclose(got, x.sum(1), rtol=1e-6)  # skip_mode only matters for empty axes
    summed = _primitive(tmp_path, "ReduceSum", {"x": x, "axes": empty}, [False, False], [-1], np.float32, ("axes",))
    np.testing.assert_allclose(_run(summed, {"x": x, "axes": empty})[0], x.sum(), rtol=1e-6)
    # constant empty axes with skip_mode: identity as well
    const = _primitive(tmp_path, "ReduceSum", {"x": x}, [(), True, True], [2, 3], np.float32)
    np.testing.assert_array_equal(_run(const, {"x": x})[0], x)


def test_int32_axes_are_cast(tmp_path):
    x = np.random.default_rng(4).standard_normal((2, 3)).astype(np.float32)
    lowered = _primitive(tmp_path, "ReduceMean", {"x": x, "axes": np.zeros(1, np.int32)}, [True], [-1, -1], np.float32)
    np.testing.assert_allclose(_run(lowered, {"x": x, "axes": np.array([1], np.int32)})[0], x.mean(1, keepdims=True),
                               rtol=1e-6)


# ---------------------------------------------------------------- shifts and bitwise


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("left", [True, False])
def test_shift_primitive_every_count(tmp_path, dtype, left):
    """LeftShift/RightShift on every integer dtype, counts negative, in range and >= the width."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(5)
    x = rng.integers(info.min, info.max, 300, dtype=dtype, endpoint=True)
    x[:4] = np.array([info.min, info.max, 0, 1 if info.min == 0 else -1], dtype=dtype)
    s = rng.integers(-70 if info.min < 0 else 0, 140, 300).astype(dtype)
    bits = info.bits
    s[:8] = np.array([0, bits - 1, bits, bits + 1, 31, 32, 63, 64 if bits == 64 else 33], dtype=dtype)
    op = "LeftShift" if left else "RightShift"
    lowered = _primitive(tmp_path, op, {"x": x, "s": s}, [], [300], dtype)
    (got,) = _run(lowered, {"x": x, "s": s})
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, _c_shift(x, s, left))


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bitshift_round_trip(tmp_path, dtype, direction):
    """ONNX BitShift through the writer (which masks counts outside [0, bits)) and back."""
    info = np.iinfo(dtype)
    x = np.array([1, 5, info.max, info.min, 3, 100 % info.max, 7, info.max // 3], dtype=dtype)
    s = np.array([0, 1, info.bits - 1, 2, info.bits, info.bits + 3, -1 if info.min else 200, 4], dtype=dtype)
    node = helper.make_node("BitShift", ["x", "s"], ["y"], direction=direction)
    lowered = _round_trip(tmp_path, [node], {"x": x, "s": s}, [("y", helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))],
                          opset=24)
    ok = (s.astype(np.int64) >= 0) & (s.astype(np.int64) < info.bits)
    safe = np.where(ok, s, 0).astype(dtype)
    shifted = _c_shift(x, safe, direction == "LEFT")
    fill = np.where((x.astype(np.int64) < 0) if info.min else np.zeros(x.shape, bool), -1, 0).astype(dtype) \
        if direction == "RIGHT" else np.zeros_like(x)
    (got,) = _run(lowered, {"x": x, "s": s})
    np.testing.assert_array_equal(got, np.where(ok, shifted, fill))


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.uint8, np.uint64])
def test_bitwise_round_trip(tmp_path, op, dtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(6)
    a = rng.integers(info.min, info.max, (3, 4), dtype=dtype, endpoint=True)
    b = rng.integers(info.min, info.max, (4,), dtype=dtype, endpoint=True)
    lowered = _round_trip(tmp_path, [helper.make_node(op, ["a", "b"], ["y"])], {"a": a, "b": b},
                          [("y", helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))])
    assert _opset(lowered) == 18
    fn = {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or, "BitwiseXor": np.bitwise_xor}[op]
    np.testing.assert_array_equal(_run(lowered, {"a": a, "b": b})[0], fn(a, b))


def test_bitwise_on_bool_is_logical(tmp_path):
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    for op, want in (("BitwiseAnd", a & b), ("BitwiseOr", a | b), ("BitwiseXor", a ^ b)):
        lowered = _primitive(tmp_path, op, {"a": a, "b": b}, [], [4], np.bool_)
        assert _opset(lowered) == 17
        np.testing.assert_array_equal(_run(lowered, {"a": a, "b": b})[0], want)


# ---------------------------------------------------------------- elementwise math


@pytest.mark.parametrize("onnx_op,fn,low,high", [
    ("Acos", np.arccos, -1, 1), ("Asin", np.arcsin, -1, 1), ("Atan", np.arctan, -5, 5),
    ("Acosh", np.arccosh, 1, 5), ("Asinh", np.arcsinh, -5, 5), ("Atanh", np.arctanh, -0.99, 0.99),
    ("Cosh", np.cosh, -3, 3), ("Sinh", np.sinh, -3, 3), ("Tan", np.tan, -1.5, 1.5)])
def test_trig_round_trip(tmp_path, onnx_op, fn, low, high):
    x = np.random.default_rng(7).uniform(low, high, (3, 5)).astype(np.float32)
    lowered = _round_trip(tmp_path, [helper.make_node(onnx_op, ["x"], ["y"])], {"x": x}, [("y", TensorProto.FLOAT)])
    np.testing.assert_allclose(_run(lowered, {"x": x})[0], fn(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_trig_on_float64_is_refused_in_one_line(tmp_path):
    x = np.ones(3, np.float64)
    builder = MindIRBuilder("net")
    out = builder.cnode(builder.primitive("Asin"), [builder.input("x", [3], x.dtype)], scope="Asin")
    builder.output(out, [3], x.dtype)
    path = tmp_path / "asin.mindir"
    path.write_bytes(builder.proto.SerializeToString())
    model = formats.load(path)
    assert model.onnx is None
    (failure,) = model.unlowered
    assert failure.primitive == "Asin" and "float64" in failure.reason and "\n" not in failure.reason


def test_log1p_keeps_tiny_values(tmp_path):
    """Kahan's form: log1p of 1e-10 is 1e-10, not 0 as log(1 + x) in float32 gives."""
    x = np.array([0.0, 1e-10, -1e-10, 1e-7, 3e-4, 0.5, -0.5, 10.0, 1e30, np.inf, -1.0, -2.0, np.nan], np.float32)
    lowered = _primitive(tmp_path, "Log1p", {"x": x}, [], [x.size], np.float32)
    (got,) = _run(lowered, {"x": x})
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log1p(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0, equal_nan=True)  # a few ulps; log(1 + x) is 100% off


def test_softplus_round_trip(tmp_path):
    """The writer's Softplus uses Log1p (log1p(exp(-|x|)) + max(x, 0))."""
    x = np.array([-20.0, -1.0, 0.0, 1e-8, 2.0, 30.0], np.float32)
    lowered = _round_trip(tmp_path, [helper.make_node("Softplus", ["x"], ["y"])], {"x": x}, [("y", TensorProto.FLOAT)])
    np.testing.assert_allclose(_run(lowered, {"x": x})[0], np.logaddexp(0, x.astype(np.float64)), rtol=1e-6)


# ---------------------------------------------------------------- indexing


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_hardmax_through_one_hot(tmp_path, axis):
    x = np.random.default_rng(8).standard_normal((3, 4)).astype(np.float32)
    lowered = _round_trip(tmp_path, [helper.make_node("Hardmax", ["x"], ["y"], axis=axis)], {"x": x},
                          [("y", TensorProto.FLOAT)])
    want = np.zeros_like(x)
    np.put_along_axis(want, np.expand_dims(x.argmax(axis), axis), 1, axis)
    np.testing.assert_array_equal(_run(lowered, {"x": x})[0], want)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot_out_of_range_indices_give_off(tmp_path, axis):
    """MindSpore's OneHot: an index outside [0, depth), negative included, is a row of off values."""
    idx = np.array([[0, 2, -1], [3, 1, -3]], np.int32)
    on, off = np.array(5.0, np.float32), np.array(-1.0, np.float32)
    out = [2, 3, 3] if axis == -1 else [3, 2, 3] if axis == 0 else [2, 3, 3]
    lowered = _primitive(tmp_path, "OneHot", {"idx": idx}, [3, on, off, axis], out, np.float32)
    eye = np.eye(3, dtype=np.float32)
    valid = (idx >= 0) & (idx < 3)
    want = np.where(valid[..., None], eye[np.clip(idx, 0, 2)] * (on - off) + off, off)  # [2, 3, depth]
    want = np.moveaxis(want, -1, axis)
    np.testing.assert_array_equal(_run(lowered, {"idx": idx})[0], want)


def test_gather_nd_round_trip(tmp_path):
    x = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    idx = np.array([[0, 1], [1, 2], [1, 0]], np.int64)
    lowered = _round_trip(tmp_path, [helper.make_node("GatherND", ["x", "i"], ["y"])], {"x": x, "i": idx},
                          [("y", TensorProto.INT32)])
    np.testing.assert_array_equal(_run(lowered, {"x": x, "i": idx})[0], x[idx[:, 0], idx[:, 1]])


@pytest.mark.parametrize("reduction", ["none", "add"])
def test_scatter_elements_round_trip(tmp_path, reduction):
    x = np.zeros((3, 4), np.float32)
    idx = np.array([[1, -1, 0], [2, 2, 3]], np.int64)
    upd = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    node = helper.make_node("ScatterElements", ["x", "i", "u"], ["y"], axis=1, reduction=reduction)
    lowered = _round_trip(tmp_path, [node], {"x": x, "i": idx, "u": upd}, [("y", TensorProto.FLOAT)])
    want = x.copy()
    for r in range(2):
        for c in range(3):
            j = idx[r, c] % 4
            want[r, j] = want[r, j] + upd[r, c] if reduction == "add" else upd[r, c]
    np.testing.assert_array_equal(_run(lowered, {"x": x, "i": idx, "u": upd})[0], want)


@pytest.mark.parametrize("reduction,fn,opset", [("add", np.add, 17), ("mul", np.multiply, 17),
                                                ("max", np.maximum, 18), ("min", np.minimum, 18)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
def test_scatter_nd_reductions_round_trip(tmp_path, reduction, fn, opset, dtype):
    x = np.arange(1, 9).reshape(4, 2).astype(dtype)
    idx = np.array([[0], [2], [0]], np.int64)
    upd = np.array([[3, -1], [2, 9], [5, 0]]).astype(dtype)
    node = helper.make_node("ScatterND", ["x", "i", "u"], ["y"], reduction=reduction)
    lowered = _round_trip(tmp_path, [node], {"x": x, "i": idx, "u": upd},
                          [("y", helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))])
    assert _opset(lowered) == opset
    want = x.copy()
    for k in range(3):
        want[idx[k, 0]] = fn(want[idx[k, 0]], upd[k])
    (got,) = _run(lowered, {"x": x, "i": idx, "u": upd})
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("reps", [[2, 3], [1, 2, 1]])
def test_tile_with_multiples_at_run_time(tmp_path, reps):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    r = np.array(reps, np.int64)
    if len(reps) == 2:
        lowered = _round_trip(tmp_path, [helper.make_node("Tile", ["x", "r"], ["y"])], {"x": x, "r": r},
                              [("y", TensorProto.FLOAT)])
    else:  # MindSpore's Tile puts leading 1s on x when there are more multiples than axes
        lowered = _primitive(tmp_path, "Tile", {"x": x, "r": r}, [], [1, 4, 3], np.float32)
    np.testing.assert_array_equal(_run(lowered, {"x": x, "r": r})[0], np.tile(x, reps))


@pytest.mark.parametrize("op,fill", [("OnesLike", 1), ("ZerosLike", 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint64])
def test_ones_like_of_a_value_without_a_stated_shape(tmp_path, op, fill, dtype):
    """OnesLike of a value whose type the file leaves out: Shape + ConstantOfShape, cast like the input."""
    x = np.arange(6).reshape(2, 3).astype(dtype)
    builder = MindIRBuilder("net")
    neg = builder.cnode(builder.primitive("Abs"), [builder.input("x", [2, 3], x.dtype)], scope="Abs")  # untyped
    out = builder.cnode(builder.primitive(op), [neg], scope=op)
    builder.annotate(out, [2, 3], x.dtype)
    builder.output(out, [2, 3], x.dtype)
    path = tmp_path / "like.mindir"
    path.write_bytes(builder.proto.SerializeToString())
    lowered = formats.load(path).onnx
    assert lowered is not None
    (got,) = _run(lowered, {"x": x})
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np.full((2, 3), fill, dtype))


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.uint64, np.bool_, np.float32])
def test_select_on_dtypes_without_a_where_kernel(tmp_path, dtype):
    c = np.array([True, False, True])
    a, b = np.array([1, 0, 1]).astype(dtype), np.array([0, 1, 1]).astype(dtype)
    if dtype == np.uint64:
        a[0] = np.iinfo(np.uint64).max
    lowered = _primitive(tmp_path, "Select", {"c": c, "a": a, "b": b}, [], [3], dtype)
    (got,) = _run(lowered, {"c": c, "a": a, "b": b})
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np.where(c, a, b))


def test_rnn_weights_sliced_in_the_graph_lower(tmp_path):
    """ONNX GRU through the writer slices W and R with StridedSlice + Reshape, which the file leaves
    untyped; the MatMul that transposes them needs their rank (was: "input rank unknown")."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 1, 3)).astype(np.float32)
    w = rng.standard_normal((1, 12, 3)).astype(np.float32)
    r = rng.standard_normal((1, 12, 4)).astype(np.float32)
    node = helper.make_node("GRU", ["x", "w", "r"], ["", "h"], hidden_size=4)
    init = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(r, "r")]
    lowered = _round_trip(tmp_path, [node], {"x": x}, [("h", TensorProto.FLOAT)], init, opset=17)
    sess = ort.InferenceSession(helper.make_model(
        helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                          [helper.make_tensor_value_info("h", TensorProto.FLOAT, None)], initializer=init),
        opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(_run(lowered, {"x": x})[0], sess.run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("largest,axis", [(1, -1), (0, 0)])
def test_top_k_round_trip(tmp_path, largest, axis):
    """TopK with a constant k (the writer moves the axis last and negates for smallest); ties lower index first."""
    x = np.array([[3, 1, 3, 2], [0, 5, 5, 1], [2, 2, 2, 2]], np.float32)
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=axis, largest=largest)
    init = [numpy_helper.from_array(np.array([2], np.int64), "k")]
    lowered = _round_trip(tmp_path, [node], {"x": x}, [("v", TensorProto.FLOAT), ("i", TensorProto.INT64)], init)
    order = np.argsort(-x if largest else x, axis=axis, kind="stable")
    index = np.take(order, [0, 1], axis=axis)
    values, indices = _run(lowered, {"x": x})
    np.testing.assert_array_equal(indices, index)
    np.testing.assert_array_equal(values, np.take_along_axis(x, index, axis))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int8])
def test_truncate_mod_takes_the_dividends_sign(tmp_path, dtype):
    a = np.array([7, -7, 7, -7, 5, 0, -3], dtype=dtype)
    b = np.array([3, 3, -3, -3, 5, 2, 4], dtype=dtype)
    if np.dtype(dtype).kind == "f":
        a, b = a + np.asarray(0.5, dtype), b  # non-integral dividends too
    lowered = _primitive(tmp_path, "TruncateMod", {"a": a, "b": b}, [], [a.size], dtype)
    (got,) = _run(lowered, {"a": a, "b": b})
    np.testing.assert_array_equal(got, np.fmod(a, b))


def _grid_case(rank: int, align: int, padding: str):
    rng = np.random.default_rng(10)
    spatial = (3, 4) if rank == 4 else (2, 3, 4)
    x = rng.standard_normal((1, 2) + spatial).astype(np.float32)
    grid = rng.uniform(-1.2, 1.2, (1,) + (2,) * (rank - 2) + (rank - 2,)).astype(np.float32)
    node = helper.make_node("GridSample", ["x", "g"], ["y"], mode="linear", padding_mode=padding, align_corners=align)
    reference = helper.make_model(helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape),
                      helper.make_tensor_value_info("g", TensorProto.FLOAT, grid.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]), opset_imports=[helper.make_opsetid("", 20)])
    return node, x, grid, _run(reference, {"x": x, "g": grid})[0]


@pytest.mark.parametrize("rank,opset", [(4, 17), (5, 20)])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_grid_sampler_round_trip(tmp_path, rank, opset, padding):
    """GridSampler2D stays at opset 17 (GridSample-16, mode 'bilinear'); 3-D needs GridSample-20 ('linear')."""
    node, x, grid, want = _grid_case(rank, 1 if padding == "border" else 0, padding)
    lowered = _round_trip(tmp_path, [node], {"x": x, "g": grid}, [("y", TensorProto.FLOAT, list(want.shape))], opset=20)
    assert _opset(lowered) == opset
    modes = {helper.get_attribute_value(a) for n in lowered.graph.node if n.op_type == "GridSample"
             for a in n.attribute if a.name == "mode"}
    assert modes == ({b"bilinear"} if opset == 17 else {b"linear"})
    np.testing.assert_allclose(_run(lowered, {"x": x, "g": grid})[0], want, rtol=1e-5, atol=1e-6)


def test_grid_sampler_nearest_is_refused(tmp_path):
    builder = MindIRBuilder("net")
    ins = [builder.input("x", [1, 1, 3, 4], np.dtype(np.float32)), builder.input("g", [1, 2, 2, 2], np.dtype(np.float32))]
    out = builder.cnode(builder.primitive("GridSampler2D"), ins + [builder.constant(1), builder.constant(0),
                                                                   builder.constant(False)], scope="GridSample")
    builder.output(out, [1, 1, 2, 2], np.dtype(np.float32))
    path = tmp_path / "grid.mindir"
    path.write_bytes(builder.proto.SerializeToString())
    (failure,) = formats.load(path).unlowered
    assert "nearest" in failure.reason and "halfway" in failure.reason


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_matmul_2d_with_transpose(tmp_path, dtype):
    """2-D MatMul is a Gemm for floats; ONNX Runtime has no integer Gemm, so integers stay MatMul."""
    a = np.arange(6).reshape(3, 2).astype(dtype)
    b = np.arange(12).reshape(4, 3).astype(dtype)
    lowered = _primitive(tmp_path, "MatMul", {"a": a, "b": b}, [True, True], [2, 4], dtype)
    assert {n.op_type for n in lowered.graph.node} >= ({"Gemm"} if dtype == np.float32 else {"MatMul"})
    np.testing.assert_array_equal(_run(lowered, {"a": a, "b": b})[0], a.T @ b.T)


def test_tile_with_a_tuple_of_multiples_computed_at_run_time(tmp_path):
    """Tile(x, (2, len(y))): the multiples are a MakeTuple with a dim read at run time."""
    builder = MindIRBuilder("net")
    x = builder.input("x", [2, 3], np.dtype(np.float32))
    y = builder.input("y", [-1], np.dtype(np.float32))
    dim = builder.cnode(builder.primitive("TupleGetItem"),
                        [builder.cnode(builder.primitive("Shape"), [y], scope="Shape"), builder.constant(0)], scope="Item")
    multiples = builder.cnode(builder.primitive("MakeTuple"), [builder.constant(2), dim], scope="Tuple")
    out = builder.cnode(builder.primitive("Tile"), [x, multiples], scope="Tile")
    builder.annotate(out, [4, -1], np.dtype(np.float32))
    builder.output(out, [4, -1], np.dtype(np.float32))
    path = tmp_path / "tile.mindir"
    path.write_bytes(builder.proto.SerializeToString())
    lowered = formats.load(path).onnx
    assert lowered is not None
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    (got,) = _run(lowered, {"x": data, "y": np.zeros(3, np.float32)})
    np.testing.assert_array_equal(got, np.tile(data, (2, 3)))


def test_matrix_determinant(tmp_path):
    x = np.random.default_rng(11).standard_normal((2, 3, 3)).astype(np.float32)
    lowered = _primitive(tmp_path, "MatrixDeterminant", {"x": x}, [], [2], np.float32)
    np.testing.assert_allclose(_run(lowered, {"x": x})[0], np.linalg.det(x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    builder = MindIRBuilder("net")
    out = builder.cnode(builder.primitive("MatrixDeterminant"), [builder.input("x", [3, 3], np.dtype(np.float64))],
                        scope="Det")
    builder.output(out, [], np.dtype(np.float64))
    path = tmp_path / "det64.mindir"
    path.write_bytes(builder.proto.SerializeToString())
    (failure,) = formats.load(path).unlowered
    assert "float64" in failure.reason


def test_constant_axes_reduction_stays_at_opset_17(tmp_path):
    """Nothing that needs opset 18: the model keeps opset 17 and the attribute form."""
    x = np.random.default_rng(12).standard_normal((2, 3)).astype(np.float32)
    init = [numpy_helper.from_array(np.array([1], np.int64), "axes")]
    lowered = _round_trip(tmp_path, [helper.make_node("ReduceMax", ["x", "axes"], ["y"], keepdims=0)], {"x": x},
                          [("y", TensorProto.FLOAT)], init)
    assert _opset(lowered) == 17
    (node,) = [n for n in lowered.graph.node if n.op_type == "ReduceMax"]
    assert [a.name for a in node.attribute if a.name == "axes"] == ["axes"] and len(node.input) == 1
    np.testing.assert_array_equal(_run(lowered, {"x": x})[0], x.max(1))


@pytest.mark.parametrize("dtype", [np.int16, np.bool_, np.int32])
def test_one_hot_values_of_dtypes_without_where(tmp_path, dtype):
    """On/off of 1/0 in a dtype ONNX Runtime's Where lacks (int16, bool): a cast of the comparison."""
    idx = np.array([2, 0, 5], np.int64)
    lowered = _primitive(tmp_path, "OneHot", {"idx": idx}, [3, np.array(1, dtype), np.array(0, dtype), -1], [3, 3], dtype)
    (got,) = _run(lowered, {"idx": idx})
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np.array([[0, 0, 1], [1, 0, 0], [0, 0, 0]], dtype))


def test_model_metadata_states_the_opset_the_lowering_chose(tmp_path):
    """The opset shown by inspect and the outline is the one the lowered graph declares (17, or 18 when raised)."""
    x = np.ones((2, 3), np.float32)
    a = np.array([1], np.int64)
    _round_trip(tmp_path, [helper.make_node("ReduceMax", ["x", "axes"], ["y"], keepdims=0)],
                {"x": x, "axes": a}, [("y", TensorProto.FLOAT, (2,))])
    assert formats.load(tmp_path / "model.mindir").metadata["opset"] == "ai.onnx 18 (converted)"
    _round_trip(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], {"x": x}, [("y", TensorProto.FLOAT, (2, 3))])
    assert formats.load(tmp_path / "model.mindir").metadata["opset"] == "ai.onnx 17 (converted)"


def test_a_large_static_fill_is_constant_of_shape_not_a_tensor(tmp_path):
    """OnesLike of a stated 10,000 x 10,000 input lowers to ConstantOfShape: no 400 MB initializer
    (a fuzzed input shape made the reader allocate one); a small one stays an initializer."""
    builder = MindIRBuilder("net")
    inp = builder.input("x", [10_000, 10_000], np.float32)  # the stated shape is all the lowering sees
    out = builder.cnode(builder.primitive("OnesLike"), [inp], scope="OnesLike")
    builder.annotate(out, [10_000, 10_000], np.dtype(np.float32))
    builder.output(out, [10_000, 10_000], np.dtype(np.float32))
    path = tmp_path / "big.mindir"
    path.write_bytes(builder.proto.SerializeToString())
    lowered = formats.load(path).onnx
    assert "ConstantOfShape" in [n.op_type for n in lowered.graph.node]
    assert all(np.prod(t.dims) <= 4096 for t in lowered.graph.initializer)

    medium = _primitive(tmp_path, "ZerosLike", {"x": np.ones((100, 100), np.int32)}, [], [100, 100], np.int32)
    assert "ConstantOfShape" in [n.op_type for n in medium.graph.node]
    (got,) = _run(medium, {"x": np.ones((100, 100), np.int32)})
    assert got.dtype == np.int32 and got.shape == (100, 100) and not got.any()

    small = _primitive(tmp_path, "OnesLike", {"x": np.zeros((2, 3), np.float32)}, [], [2, 3], np.float32)
    assert "ConstantOfShape" not in [n.op_type for n in small.graph.node]
    (got,) = _run(small, {"x": np.zeros((2, 3), np.float32)})
    np.testing.assert_array_equal(got, np.ones((2, 3), np.float32))
