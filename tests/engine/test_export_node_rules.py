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


CASES = {
    **{f"gridsample_2d_{pad}_align{a}": (lambda pad=pad, a=a: _grid_case(4, "bilinear", pad, a, 16))
       for pad in ("zeros", "border", "reflection") for a in (0, 1)},
    "gridsample_3d_linear_reflection": lambda: _grid_case(5, "linear", "reflection", 0, 20),
    "attention_window_left_causal": lambda: _attention_case(2, -1, 1, False),
    "attention_window_both": lambda: _attention_case(1, 2, 0, False),
    "attention_window_nonpad": lambda: _attention_case(3, 0, 1, True),
}


def _ort(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


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
        (expected,) = _ort(model, feeds)
        np.save(folder / f"{name}_y.npy", expected)
        jobs.append({"mindir": str(folder / f"{name}.mindir"), "inputs": inputs, "expected": [str(folder / f"{name}_y.npy")]})
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
    (err,), (scale,) = result["max_abs"], result["scale"]
    assert err <= 1e-5 * scale
