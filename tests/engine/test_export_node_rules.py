"""ONNX -> MindIR rules added for node-suite refusals that real models hit, checked against ONNX Runtime and MindSpore."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from engine.convert import convert
from engine.errors import UnsupportedOpError

ROOT = Path(__file__).resolve().parents[2]
F = onnx.TensorProto.FLOAT


def _model(node: onnx.NodeProto, inputs: dict[str, np.ndarray], opset: int, out: tuple[int, ...]) -> onnx.ModelProto:
    graph = helper.make_graph(
        [node], "rule",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)) for k, v in inputs.items()],
        [helper.make_tensor_value_info("y", F, list(out))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 13 if opset >= 25 else 10
    return model


def _grid_case(rank: int, mode: str, padding: str, align: int, opset: int):
    rng = np.random.default_rng(rank * 100 + align)
    spatial = (3, 4, 5)[: rank - 2]
    x = rng.standard_normal((2, 3, *spatial)).astype(np.float32)
    out = (2, 3, 4)[: rank - 2]
    grid = rng.uniform(-1.3, 1.3, (2, *out, rank - 2)).astype(np.float32)  # some points outside: padding
    node = helper.make_node("GridSample", ["x", "grid"], ["y"], mode=mode, padding_mode=padding, align_corners=align)
    return _model(node, {"x": x, "grid": grid}, opset, (2, 3, *out)), {"x": x, "grid": grid}


def _attention_case(left: int, right: int, causal: int, nonpad: bool):
    rng = np.random.default_rng(left * 10 + right + causal)
    q = rng.standard_normal((2, 2, 5, 4)).astype(np.float32)
    k = rng.standard_normal((2, 2, 7, 4)).astype(np.float32)
    v = rng.standard_normal((2, 2, 7, 3)).astype(np.float32)
    feeds = {"q": q, "k": k, "v": v}
    names = ["q", "k", "v"]
    if nonpad:
        feeds["nonpad"] = np.array([6, 7], np.int64)
        names += ["", "", "", "nonpad"]
    node = helper.make_node("Attention", names, ["y"], is_causal=causal, left_window_size=left, right_window_size=right)
    return _model(node, feeds, 25, (2, 2, 5, 3)), feeds  # window sizes came in opset 25


def _single(op: str, feeds: dict[str, np.ndarray], opset: int, out: tuple[int, ...], **attrs):
    node = helper.make_node(op, list(feeds), ["y"], **attrs)
    return _model(node, feeds, opset, out), feeds


def _lrn_case(shape: tuple[int, ...], size: int):
    x = np.random.default_rng(size).standard_normal(shape).astype(np.float32) * 3
    return _single("LRN", {"x": x}, 13, shape, size=size, alpha=0.02, beta=0.6, bias=1.5)


def _single_with_bounds(big: float):
    x = np.array([-np.inf, -3e38, -1.0, 0.0, 2.5, 3e38, np.inf], np.float32)
    node = helper.make_node("Clip", ["x", "lo", "hi"], ["y"])
    model = _model(node, {"x": x}, 13, x.shape)
    model.graph.initializer.extend([onnx.numpy_helper.from_array(np.array(-big, np.float32), "lo"),
                                    onnx.numpy_helper.from_array(np.array(big, np.float32), "hi")])
    return model, {"x": x}


def _scatter_case(reduction: str, axis: int):
    """Duplicate and negative indices; small whole numbers, so products are exact in any order."""
    rng = np.random.default_rng(len(reduction) + axis)
    data = rng.integers(-4, 5, (3, 4, 5)).astype(np.float32)
    indices = rng.integers(-data.shape[axis], data.shape[axis], (3, 4, 5) if axis == 0 else (2, 3, 4))
    updates = rng.integers(-3, 4, indices.shape).astype(np.float32)
    node = helper.make_node("ScatterElements", ["data", "indices", "updates"], ["y"], axis=axis, reduction=reduction)
    feeds = {"data": data, "indices": indices.astype(np.int64), "updates": updates}
    return _model(node, feeds, 18, data.shape), feeds


def _gather_nd_case(batch: int, depth: int):
    rng = np.random.default_rng(batch * 10 + depth)
    data = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    high = np.array(data.shape[batch:batch + depth])
    indices = rng.integers(-high, high, (*data.shape[:batch], 2, 3, depth)).astype(np.int64)  # negatives too
    node = helper.make_node("GatherND", ["data", "indices"], ["y"], batch_dims=batch)
    out = (*data.shape[:batch], 2, 3, *data.shape[batch + depth:])
    return _model(node, {"data": data, "indices": indices}, 13, out), {"data": data, "indices": indices}


def _maxpool_case(shape: tuple[int, ...], ties: bool, **attrs):
    """MaxPool's values and Indices; with ``ties``, whole numbers from a small range (ties in most windows)."""
    rng = np.random.default_rng(len(shape))
    x = (rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)).astype(np.float32)
    node = helper.make_node("MaxPool", ["x"], ["y", "i"], **attrs)
    graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info("x", F, list(shape))],
                              [helper.make_tensor_value_info("y", F, None),
                               helper.make_tensor_value_info("i", onnx.TensorProto.INT64, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    model.ir_version = 8
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    return model, {"x": x}


def _unpool_case(output_shape=None):
    """MaxPool then MaxUnpool (SegNet): overlapping windows repeat indices, which must not add up."""
    x = np.random.default_rng(3).integers(0, 4, (2, 2, 7, 7)).astype(np.float32)
    attrs = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}
    unpool_inputs = ["p", "i"] + (["shape"] if output_shape is not None else [])
    nodes = [helper.make_node("MaxPool", ["x"], ["p", "i"], **attrs),
             helper.make_node("MaxUnpool", unpool_inputs, ["y"], **attrs)]
    inits = [onnx.numpy_helper.from_array(np.array(output_shape, np.int64), "shape")] if output_shape is not None else []
    graph = helper.make_graph(nodes, "unpool", [helper.make_tensor_value_info("x", F, list(x.shape))],
                              [helper.make_tensor_value_info("y", F, list(output_shape or (2, 2, 7, 7)))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    model.ir_version = 8
    return model, {"x": x}


def test_qlinearmatmul_refuses_what_its_peers_answer_differently(tmp_path):
    model, _ = _quantized_case("QLinearMatMul", True, False)
    per_row = onnx.ModelProto()
    per_row.CopyFrom(model)
    per_row.graph.input[1].type.tensor_type.shape.dim.add().dim_value = 7  # a_scale per row
    half = onnx.ModelProto()
    half.CopyFrom(model)
    for i in (1, 4, 6):
        half.graph.input[i].type.tensor_type.elem_type = onnx.TensorProto.FLOAT16
    half.opset_import[0].version = 21
    for bad, reason in ((per_row, "per row of a"), (half, "float16")):
        onnx.save(bad, tmp_path / "m.onnx")
        with pytest.raises(UnsupportedOpError, match=reason):
            convert(tmp_path / "m.onnx", tmp_path / "m.mindir")


def test_max_unpool_refuses_an_output_shape_other_than_the_unpooled_one(tmp_path):
    """ONNX's reference and ONNX Runtime read the indices in different shapes then."""
    model, _ = _unpool_case((2, 2, 8, 8))
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(UnsupportedOpError, match=r"output_shape \[2, 2, 8, 8\] other than the unpooled \[2, 2, 7, 7\]"):
        convert(tmp_path / "m.onnx", tmp_path / "m.mindir")


def _quantized_case(op: str, signed: bool, per_axis: bool, batch: tuple[int, ...] = ()):
    """QLinearMatMul or MatMulInteger on random 8-bit operands; per_axis: b per column (and a per row for
    MatMulInteger: ONNX Runtime takes no per-row a, so QLinearMatMul refuses it)."""
    rng = np.random.default_rng(int(signed) * 2 + int(per_axis) + len(batch))
    dt = np.int8 if signed else np.uint8
    # 7-bit magnitudes: ONNX Runtime's 8-bit kernels without VNNI add pairs of products in saturating
    # 16-bit lanes, so full-range operands would make its answer depend on the CPU
    lo, hi = (-64, 64) if signed else (0, 64)
    m, k, n = 7, 300, 9
    a = rng.integers(lo, hi, (*batch, m, k)).astype(dt)
    b = rng.integers(lo, hi, (k, n)).astype(dt)
    a_zp = rng.integers(lo, hi, (m,) if per_axis and op == "MatMulInteger" else ()).astype(dt)
    b_zp = rng.integers(lo, hi, (n,) if per_axis else ()).astype(dt)
    if op == "MatMulInteger":
        feeds = {"a": a, "b": b, "a_zp": a_zp, "b_zp": b_zp}
        node = helper.make_node(op, list(feeds), ["y"])
        graph = helper.make_graph([node], "q", [helper.make_tensor_value_info(k_, helper.np_dtype_to_tensor_dtype(v.dtype),
                                                                              list(v.shape)) for k_, v in feeds.items()],
                                  [helper.make_tensor_value_info("y", onnx.TensorProto.INT32, [*batch, m, n])])
    else:
        feeds = {"a": a, "a_scale": np.array(rng.uniform(1e-3, 0.05), np.float32), "a_zp": a_zp,
                 "b": b, "b_scale": rng.uniform(1e-3, 0.05, (n,) if per_axis else ()).astype(np.float32), "b_zp": b_zp,
                 "y_scale": np.array(rng.uniform(0.01, 0.5), np.float32), "y_zp": np.array(rng.integers(lo, hi), dt)}
        node = helper.make_node(op, list(feeds), ["y"])
        graph = helper.make_graph([node], "q", [helper.make_tensor_value_info(k_, helper.np_dtype_to_tensor_dtype(v.dtype),
                                                                              list(v.shape)) for k_, v in feeds.items()],
                                  [helper.make_tensor_value_info("y", helper.np_dtype_to_tensor_dtype(np.dtype(dt)),
                                                                 [*batch, m, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model, feeds


def _qconv_case(op: str, x_shape, w_shape, signed_w: bool, per_channel: bool, **attrs):
    """ConvInteger or QLinearConv with uint8 input and int8/uint8 weights, 7-bit magnitudes (see above)."""
    rng = np.random.default_rng(len(x_shape) * 10 + int(per_channel) + attrs.get("group", 1))
    wdt = np.int8 if signed_w else np.uint8
    wlo = -64 if signed_w else 0
    m = w_shape[0]
    feeds = {"x": rng.integers(0, 64, x_shape).astype(np.uint8)}
    x_zp = np.array(rng.integers(0, 64), np.uint8)
    w = rng.integers(wlo, 64, w_shape).astype(wdt)
    w_zp = rng.integers(wlo, 64, (m,) if per_channel else ()).astype(wdt)
    if op == "ConvInteger":
        names, inits = ["x", "w", "x_zp", "w_zp"], {"w": w, "x_zp": x_zp, "w_zp": w_zp}
    else:
        inits = {"x_scale": np.array(0.02, np.float32), "x_zp": x_zp, "w": w,
                 "w_scale": rng.uniform(1e-3, 0.02, (m,) if per_channel else ()).astype(np.float32), "w_zp": w_zp,
                 "y_scale": np.array(0.3, np.float32), "y_zp": np.array(rng.integers(0, 64), np.uint8),
                 "bias": rng.integers(-3000, 3000, (m,)).astype(np.int32)}
        names = ["x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp", "bias"]
    node = helper.make_node(op, names, ["y"], **attrs)
    graph = helper.make_graph([node], "qconv", [helper.make_tensor_value_info("x", onnx.TensorProto.UINT8, list(x_shape))],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.INT32 if op == "ConvInteger"
                                                             else onnx.TensorProto.UINT8, None)],
                              [onnx.numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model, strict_mode=True), feeds


def _conv_integer_spec(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    """ConvInteger as ONNX's reference computes a float64 Conv of the zero-point-shifted integers (exact sums;
    ONNX Runtime has no float64 Conv, and its ConvInteger takes no per-channel zero point)."""
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    node = model.graph.node[0]
    w_zp = inits["w_zp"].astype(np.float64)
    w = inits["w"].astype(np.float64) - (w_zp.reshape(-1, *[1] * (inits["w"].ndim - 1)) if w_zp.ndim else w_zp)
    x = feeds["x"].astype(np.float64) - inits["x_zp"].astype(np.float64)
    # ConvInteger pads with x_zp, a float Conv with 0: the same once x_zp is subtracted
    conv = helper.make_node("Conv", ["x", "w"], ["y"], **{a.name: helper.get_attribute_value(a) for a in node.attribute})
    graph = helper.make_graph([conv], "f", [helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, list(x.shape))],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.DOUBLE, None)],
                              [onnx.numpy_helper.from_array(w, "w")])
    float_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    float_model.ir_version = 8
    return _reference(float_model, {"x": x})[0].astype(np.int32)


def _lrn_spec(x: np.ndarray, node: onnx.NodeProto) -> np.ndarray:
    """LRN as ONNX's operator text defines it (the window floor((size-1)/2) before, ceil((size-1)/2) after)."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    size, channels = attrs["size"], x.shape[1]
    square = x.astype(np.float64) ** 2
    total = np.zeros_like(square)
    for c in range(channels):
        lo, hi = max(0, c - (size - 1) // 2), min(channels - 1, c + size // 2)
        total[:, c] = square[:, lo:hi + 1].sum(axis=1)
    return (x / (attrs["bias"] + attrs["alpha"] / size * total) ** attrs["beta"]).astype(np.float32)


def test_lrn_spec_agrees_with_onnx_runtime_where_it_runs():
    """The test's own LRN (used for even sizes) against ONNX Runtime on an odd size, N != C."""
    model, feeds = _lrn_case((2, 6, 3, 4), 5)
    np.testing.assert_allclose(_lrn_spec(feeds["x"], model.graph.node[0]), _ort(model, feeds)[0], rtol=1e-5, atol=1e-6)


def _reverse_case(time_axis: int, const_lens: bool):
    x = np.random.default_rng(time_axis).standard_normal((5, 4, 3) if time_axis == 0 else (4, 5, 3)).astype(np.float32)
    lens = np.array([5, 0, 2, 1], np.int64)
    node = helper.make_node("ReverseSequence", ["x", "lens"], ["y"], time_axis=time_axis, batch_axis=1 - time_axis)
    feeds = {"x": x} if const_lens else {"x": x, "lens": lens}
    model = _model(node, feeds, 10, x.shape)
    if const_lens:
        model.graph.initializer.append(onnx.numpy_helper.from_array(lens, "lens"))
    return model, feeds


def _mod_case(dtype, fmod: int):
    """Mod with a second output 1/y clipped to finite, so a zero of the wrong sign shows as the largest error."""
    rng = np.random.default_rng(fmod)
    a = (rng.standard_normal(4000) * 10.0 ** rng.integers(-2, 4, 4000)).astype(dtype)
    b = (rng.standard_normal(4000) * 10.0 ** rng.integers(-2, 2, 4000)).astype(dtype)
    a[:8] = [6, -6, 6, -6, 0, -0.0, 7.5, -7.5]
    b[:8] = [3, 3, -3, -3, 2, -2, np.inf, -np.inf]  # results stay finite: the comparison subtracts
    b[b == 0] = 1
    nodes = [helper.make_node("Mod", ["a", "b"], ["y"], fmod=fmod), helper.make_node("Reciprocal", ["y"], ["inv"]),
             helper.make_node("Clip", ["inv", "lo", "hi"], ["r"])]  # finite, so a comparison can subtract
    t = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    big = np.finfo(dtype).max
    graph = helper.make_graph(nodes, "mod", [helper.make_tensor_value_info(n, t, [4000]) for n in "ab"],
                              [helper.make_tensor_value_info(n, t, [4000]) for n in ("y", "r")],
                              [onnx.numpy_helper.from_array(np.array(-big, dtype), "lo"),
                               onnx.numpy_helper.from_array(np.array(big, dtype), "hi")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model, {"a": a, "b": b}


CASES = {
    **{f"gridsample_2d_{pad}_align{a}": (lambda pad=pad, a=a: _grid_case(4, "bilinear", pad, a, 16))
       for pad in ("zeros", "border", "reflection") for a in (0, 1)},
    "gridsample_3d_linear_reflection": lambda: _grid_case(5, "linear", "reflection", 0, 20),
    "attention_window_left_causal": lambda: _attention_case(2, -1, 1, False),
    "attention_window_both": lambda: _attention_case(1, 2, 0, False),
    "attention_window_nonpad": lambda: _attention_case(3, 0, 1, True),
    "lrn_odd": lambda: _lrn_case((2, 6, 3, 4), 3),
    "lrn_even_rank3": lambda: _lrn_case((2, 7, 5), 4),
    "lrn_even_window_wider_than_the_channels": lambda: _lrn_case((2, 3, 4), 12),  # clipped to the channels
    "mvn": lambda: _single("MeanVarianceNormalization", {"x": np.random.default_rng(1).standard_normal((2, 3, 4, 5))
                                                          .astype(np.float32)}, 13, (2, 3, 4, 5), axes=[0, 2]),
    "swish": lambda: _single("Swish", {"x": np.linspace(-8, 8, 40, dtype=np.float32)}, 24, (40,), alpha=0.7),
    "reverse_time0_runtime_lens": lambda: _reverse_case(0, False),
    "reverse_time1_const_lens": lambda: _reverse_case(1, True),
    # the largest finite float32 bounds clip infinities (the Clip rule used to drop bounds over 3e38)
    "clip_float32_max_bounds": lambda: _single_with_bounds(np.finfo(np.float32).max),
    **{f"scatter_elements_{r}_axis{a}": (lambda r=r, a=a: _scatter_case(r, a))
       for r in ("mul", "max", "min") for a in (0, -2)},
    "gather_nd_negative": lambda: _gather_nd_case(0, 2),
    "gather_nd_batch1": lambda: _gather_nd_case(1, 1),
    "gather_nd_batch2": lambda: _gather_nd_case(2, 2),
    "maxpool_indices_2d_pads_ties": lambda: _maxpool_case((2, 3, 6, 7), True, kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                                          strides=[2, 2]),
    "maxpool_indices_2d_ceil_dilated_col_major": lambda: _maxpool_case((1, 2, 7, 8), False, kernel_shape=[2, 3],
                                                                       dilations=[2, 1], ceil_mode=1, strides=[2, 2],
                                                                       storage_order=1),
    "maxpool_indices_1d_same": lambda: _maxpool_case((2, 2, 9), True, kernel_shape=[4], auto_pad="SAME_UPPER"),
    "maxpool_indices_3d": lambda: _maxpool_case((1, 2, 4, 5, 6), False, kernel_shape=[2, 2, 3], strides=[1, 2, 2]),
    "maxunpool_after_maxpool": lambda: _unpool_case(),
    "maxunpool_output_shape_as_unpooled": lambda: _unpool_case((2, 2, 7, 7)),
    "det_float32": lambda: _single("Det", {"x": np.random.default_rng(7).standard_normal((3, 4, 4))
                                            .astype(np.float32)}, 11, (3,)),
    "qlinearmatmul_uint8": lambda: _quantized_case("QLinearMatMul", False, False),
    "qlinearmatmul_int8_per_axis": lambda: _quantized_case("QLinearMatMul", True, True),
    "qlinearmatmul_uint8_per_axis_3d": lambda: _quantized_case("QLinearMatMul", False, True, (2,)),
    "matmulinteger_int8_per_axis": lambda: _quantized_case("MatMulInteger", True, True),
    "matmulinteger_int8_3d": lambda: _quantized_case("MatMulInteger", True, False, (3,)),
    "matmulinteger_uint8": lambda: _quantized_case("MatMulInteger", False, False),
    "convinteger_2d_pads_strides_dilated": lambda: _qconv_case("ConvInteger", (2, 3, 9, 8), (4, 3, 3, 2), True, True,
                                                                 pads=[1, 0, 2, 1], strides=[2, 1], dilations=[1, 2]),
    "convinteger_grouped_1d": lambda: _qconv_case("ConvInteger", (1, 4, 11), (6, 2, 3), False, False, group=2,
                                                  pads=[1, 1]),
    "qlinearconv_per_channel": lambda: _qconv_case("QLinearConv", (2, 3, 8, 8), (5, 3, 3, 3), True, True,
                                                   pads=[1, 1, 1, 1], strides=[2, 2]),
    "qlinearconv_depthwise": lambda: _qconv_case("QLinearConv", (1, 4, 7, 7), (4, 1, 3, 3), True, False, group=4,
                                                 auto_pad="SAME_UPPER"),
    **{f"mod_{np.dtype(d).name}_fmod{f}": (lambda d=d, f=f: _mod_case(d, f))
       for d in (np.float16, np.float32, np.float64) for f in (0, 1)},
}


def _ort(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _reference(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    """ONNX's reference evaluator (numpy's mod and fmod: a zero remainder takes the divisor's sign)."""
    from onnx.reference import ReferenceEvaluator

    with np.errstate(all="ignore"):  # 1/0 and 1/tiny are the point of the second output
        return ReferenceEvaluator(model).run(None, feeds)


@pytest.mark.parametrize("name", sorted(CASES))
def test_converts(name, tmp_path):
    model, _ = CASES[name]()
    onnx.save(model, tmp_path / "m.onnx")
    convert(tmp_path / "m.onnx", tmp_path / "m.mindir")
    assert (tmp_path / "m.mindir").stat().st_size > 0


@pytest.mark.parametrize(("mode", "opset", "reason"), [
    ("nearest", 16, "halfway between pixels"),  # MindSpore rounds 2.5 to 3, ONNX to 2
    ("bicubic", 16, "bilinear or nearest"),
    ("cubic", 20, "bilinear or nearest"),
])
def test_gridsample_modes_mindspore_cannot_match_are_refused(mode, opset, reason, tmp_path):
    model, _ = _grid_case(4, mode, "zeros", 0, opset)
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(UnsupportedOpError, match=reason):
        convert(tmp_path / "m.onnx", tmp_path / "m.mindir")
    assert not (tmp_path / "m.mindir").exists()


@pytest.fixture(scope="module")
def mindspore_results(tmp_path_factory):
    """Every case converted, run in one MindSpore child, compared with ONNX Runtime."""
    folder = tmp_path_factory.mktemp("rules")
    jobs = []
    for name in sorted(CASES):
        model, feeds = CASES[name]()
        onnx.save(model, folder / f"{name}.onnx")
        convert(folder / f"{name}.onnx", folder / f"{name}.mindir")
        inputs = []
        for key, value in feeds.items():
            np.save(folder / f"{name}_{key}.npy", value)
            inputs.append(str(folder / f"{name}_{key}.npy"))
        if name.startswith("mod"):  # ONNX's reference: ONNX Runtime's fmod=0 gives -0.0 where numpy gives 0.0
            expected = _reference(model, feeds)
        elif name.startswith("matmulinteger"):  # the operator text (ONNX Runtime takes no per-row zero point for A)
            a_zp = feeds["a_zp"].astype(np.int64)
            a_zp = a_zp.reshape(-1, 1) if a_zp.ndim == 1 else a_zp
            expected = [((feeds["a"].astype(np.int64) - a_zp) @ (feeds["b"].astype(np.int64) - feeds["b_zp"])).astype(np.int32)]
        elif name.startswith("convinteger"):
            expected = [_conv_integer_spec(model, feeds)]
        elif name.startswith("lrn_even"):  # ONNX Runtime refuses even sizes, onnx.reference's loop is wrong for N != C
            expected = [_lrn_spec(feeds["x"], model.graph.node[0])]
        else:
            expected = _ort(model, feeds)
        for k, value in enumerate(expected):
            np.save(folder / f"{name}_y{k}.npy", value)
        jobs.append({"mindir": str(folder / f"{name}.mindir"), "inputs": inputs,
                     "expected": [str(folder / f"{name}_y{k}.npy") for k in range(len(expected))]})
    (folder / "jobs.json").write_text(json.dumps(jobs))
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "ms_run.py"), str(folder / "jobs.json")],
                          capture_output=True, text=True, timeout=600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, proc.stderr[-2000:]
    return dict(zip(sorted(CASES), json.loads(line[len("RESULT "):])))


@pytest.mark.mindspore
@pytest.mark.parametrize("name", sorted(CASES))
def test_mindspore_matches_onnx_runtime(mindspore_results, name):
    result = mindspore_results[name]
    assert "error" not in result, result
    for err, scale in zip(result["max_abs"], result["scale"]):
        if name.startswith(("mod", "reverse", "clip", "scatter", "gather", "maxpool", "maxunpool", "qlinear", "matmulint",
                                 "convint")):
            assert err == 0.0  # exact: a remainder, gathers, a bound, whole numbers
        else:
            assert err <= 1e-5 * scale
