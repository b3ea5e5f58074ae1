"""ONNX -> MindIR on yolov8n's anchor-grid pattern (MindSpore's opset-11 export: Tile, Stack as sequence ops)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from engine.convert import convert
from engine.formats.mindir.fold import fold_for_export

ROOT = Path(__file__).resolve().parents[2]
F, I64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
H, W = 3, 5  # unequal, so a grid with its axes swapped cannot match


def _c(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _anchor_model(opset: int) -> onnx.ModelProto:
    """yolov8n's head as MindSpore 2.10 exports it: arange + 0.5, Reshape, Tile, Stack(-1), Reshape(-1, 2).

    ``Stack`` is ``SequenceConstruct -> ConcatFromSequence(new_axis=1)``; the grids are float
    initializers (weights to the folder), so the anchors stay computed and need shapes.
    """
    nodes = [
        helper.make_node("Add", ["xs", "half"], ["sx"]),
        helper.make_node("Add", ["ys", "half"], ["sy"]),
        helper.make_node("Reshape", ["sx", "row"], ["sx2"]),
        helper.make_node("Tile", ["sx2", "rep_rows"], ["gx"]),
        helper.make_node("Reshape", ["sy", "col"], ["sy2"]),
        helper.make_node("Tile", ["sy2", "rep_cols"], ["gy"]),
        helper.make_node("SequenceConstruct", ["gx", "gy"], ["seq"]),
        helper.make_node("ConcatFromSequence", ["seq"], ["grid"], axis=-1, new_axis=1),
        helper.make_node("Reshape", ["grid", "pairs"], ["anchors"]),
        helper.make_node("Concat", ["anchors", "anchors"], ["both"], axis=0),  # yolov8n joins its three levels
        helper.make_node("Sub", ["x", "both"], ["y"]),
    ]
    inits = [_c("xs", np.arange(W, dtype=np.float32)), _c("ys", np.arange(H, dtype=np.float32)),
             _c("half", np.float32(0.5)), _c("row", np.array([1, W], np.int64)), _c("col", np.array([H, 1], np.int64)),
             _c("rep_rows", np.array([H, 1], np.int64)), _c("rep_cols", np.array([1, W], np.int64)),
             _c("pairs", np.array([-1, 2], np.int64))]
    graph = helper.make_graph(nodes, "anchors", [helper.make_tensor_value_info("x", F, [1, 2 * H * W, 2])],
                              [helper.make_tensor_value_info("y", F, [1, 2 * H * W, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    return model


def _ort(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _numpy_anchors() -> np.ndarray:
    gx, gy = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    grid = np.stack([gx, gy], -1).reshape(-1, 2).astype(np.float32)
    return np.concatenate([grid, grid])[None]


def _x() -> np.ndarray:
    return np.random.default_rng(10).standard_normal((1, 2 * H * W, 2)).astype(np.float32)


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_folded_graph_is_valid_in_its_own_opset_and_computes_the_same(opset):
    """onnxscript turns the Stack into Unsqueeze + Concat in opset 13's form; rule 7 puts opset 11's back."""
    model = _anchor_model(opset)
    folded = fold_for_export(model).assemble()
    onnx.checker.check_model(folded, full_check=True)  # opset 11 refuses an Unsqueeze with an axes input
    assert "ConcatFromSequence" not in {n.op_type for n in folded.graph.node}
    inferred = onnx.shape_inference.infer_shapes(folded, strict_mode=True)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in inferred.graph.value_info}
    assert shapes["grid"] == [H, W, 2]
    x = _x()
    (expected,) = _ort(model, {"x": x})
    np.testing.assert_array_equal(expected, x - _numpy_anchors())
    np.testing.assert_array_equal(_ort(folded, {"x": x})[0], expected)


@pytest.mark.parametrize("opset", [11, 17])
def test_anchor_pattern_converts_to_mindir(opset, tmp_path):
    onnx.save(_anchor_model(opset), tmp_path / "m.onnx")
    convert(tmp_path / "m.onnx", tmp_path / "m.mindir")
    assert (tmp_path / "m.mindir").stat().st_size > 0


def _split_model(split, keepdims: int, concat_axis: int) -> onnx.ModelProto:
    nodes = [
        helper.make_node("SplitToSequence", ["x", "split"], ["seq"], axis=1, keepdims=keepdims),
        helper.make_node("ConcatFromSequence", ["seq"], ["cat"], axis=concat_axis),
        helper.make_node("Shape", ["x"], ["s"]),  # something shape-only, so the folder runs
        helper.make_node("ReduceMax", ["s"], ["m"], keepdims=0),
        helper.make_node("Cast", ["m"], ["mf"], to=F),
        helper.make_node("Add", ["cat", "mf"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "split", [helper.make_tensor_value_info("x", F, [2, 3, 4])],
                              [helper.make_tensor_value_info("y", F, None)], [_c("split", np.array(split, np.int64))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    return model


# Unequal parts concatenate only along the split axis.
@pytest.mark.parametrize(("split", "concat_axis"), [([1, 1, 1], 0), ([1, 2], 1)], ids=["ones", "uneven"])
def test_split_to_sequence_keeps_the_axis_when_split_is_given(split, concat_axis):
    """keepdims=0 is ignored when split is given (ONNX, ONNX Runtime): onnxscript's rewrite squeezed it."""
    model = _split_model(split, 0, concat_axis)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    (expected,) = _ort(model, {"x": x})
    folded = fold_for_export(model).assemble()
    assert "SplitToSequence" not in {n.op_type for n in folded.graph.node}
    (actual,) = _ort(folded, {"x": x})
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def test_even_split_of_a_scalar_split_is_valid_below_opset_18():
    """A scalar split becomes Split(num_outputs=...) (opset 18); opset 13 splits evenly without it."""
    model = _split_model(1, 1, 0)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    (expected,) = _ort(model, {"x": x})
    folded = fold_for_export(model).assemble()
    assert "SplitToSequence" not in {n.op_type for n in folded.graph.node}
    onnx.checker.check_model(folded, full_check=True)
    np.testing.assert_array_equal(_ort(folded, {"x": x})[0], expected)


@pytest.mark.mindspore
def test_mindspore_runs_the_anchor_pattern_and_matches(tmp_path):
    jobs = []
    x = _x()
    np.save(tmp_path / "x.npy", x)
    for opset in (11, 17):
        model = _anchor_model(opset)
        np.save(tmp_path / f"y{opset}.npy", _ort(model, {"x": x})[0])
        onnx.save(model, tmp_path / f"m{opset}.onnx")
        convert(tmp_path / f"m{opset}.onnx", tmp_path / f"m{opset}.mindir")
        jobs.append({"mindir": str(tmp_path / f"m{opset}.mindir"), "inputs": [str(tmp_path / "x.npy")],
                     "expected": [str(tmp_path / f"y{opset}.npy")]})
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "ms_run.py"), str(tmp_path / "jobs.json")],
                          capture_output=True, text=True, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, proc.stderr[-2000:]
    for result in json.loads(line[len("RESULT "):]):
        assert "error" not in result, result
        assert result["shapes"] == [[1, 2 * H * W, 2]]
        assert result["max_abs"] == [0.0]  # one float32 subtraction of the same operands
