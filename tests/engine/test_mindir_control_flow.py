"""MindIR control flow (if, while: graphs exported as functions) and dynamic input dims, against MindSpore."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from engine import formats
from engine.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"
CONTROL = DATA / "mindir_control"


def _cases(folder: Path, every_output: bool = False) -> list[tuple[list[np.ndarray], object]]:
    """(inputs, MindSpore's first output), or (inputs, all of MindSpore's outputs)."""
    cases = []
    k = 0
    while (folder / f"case{k}_input_0.npy").exists():
        inputs = [np.load(p) for p in sorted(folder.glob(f"case{k}_input_*.npy"))]
        expected = [np.load(p) for p in sorted(folder.glob(f"case{k}_expected_*.npy"))]
        cases.append((inputs, expected if every_output else expected[0]))
        k += 1
    return cases


def _run_all(model: onnx.ModelProto, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))


def _run(model: onnx.ModelProto, inputs: list[np.ndarray]) -> np.ndarray:
    return _run_all(model, inputs)[0]


def _assert_matches(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    tolerance = 1e-4 * max(1.0, float(np.abs(expected).max()))
    assert float(np.abs(actual - expected).max()) <= tolerance


FIXTURES = [("if_branch", "If"), ("while_loop", "Loop"), ("if_in_while", "Loop"), ("nested_while", "Loop"),
            ("while_tensor_cond", "Loop"), ("if_elif", "If"), ("while_break", "Loop"), ("tuple_state", "Loop"),
            ("while_return", "Loop")]


@pytest.mark.parametrize("name,op", FIXTURES, ids=[f[0] for f in FIXTURES])
def test_control_flow_converts_and_matches_mindspore(name, op, tmp_path):
    folder = CONTROL / name
    model = formats.load(folder / "model.mindir")
    assert model.is_lowered, model.unlowered_message()
    assert op in [n.op_type for n in model.onnx.graph.node]
    out = tmp_path / "model.onnx"
    formats.save(model, out)
    written = onnx.load(out)
    onnx.checker.check_model(written, full_check=True)
    cases = _cases(folder, every_output=True)
    assert len(cases) >= 2
    for inputs, expected in cases:
        actual = _run_all(written, inputs)
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            _assert_matches(a, e)


def test_loop_in_loop_and_branch_in_loop_nest_in_the_body():
    nested = formats.load(CONTROL / "nested_while" / "model.mindir").onnx
    outer = next(n for n in nested.graph.node if n.op_type == "Loop")
    assert "Loop" in [n.op_type for n in outer.attribute[0].g.node]
    branchy = formats.load(CONTROL / "if_in_while" / "model.mindir").onnx
    loop = next(n for n in branchy.graph.node if n.op_type == "Loop")
    assert "If" in [n.op_type for n in loop.attribute[0].g.node]
    assert len(loop.input) == 2 + 2  # the counter and x; weights and the bound stay outside


def test_if_takes_both_branches():
    # The two cases make the condition true and false; MindSpore's outputs differ accordingly.
    (pos, pos_expected), (neg, neg_expected) = _cases(CONTROL / "if_branch")
    assert pos[0].sum() > 0 > neg[0].sum()
    assert not np.allclose(pos_expected, neg_expected)


def test_while_runs_zero_and_several_times():
    model = formats.load(CONTROL / "while_loop" / "model.mindir").onnx
    counts = []
    for inputs, expected in _cases(CONTROL / "while_loop"):
        counts.append(int(inputs[1]))
        _assert_matches(_run(model, inputs), expected)
    assert 0 in counts and max(counts) >= 3
    loop = next(n for n in model.graph.node if n.op_type == "Loop")
    # Weights and the bound are read from outside the loop, not carried: state is the counter and x.
    assert len(loop.input) == 2 + 2


def test_while_loop_fixture_from_mindspore_converts():
    # The file that used to be refused (tests/data/mindir_unsupported, written by make_op_fixtures.py).
    folder = DATA / "mindir_unsupported" / "while_loop"
    model = formats.load(folder / "model.mindir")
    inputs = [np.load(folder / "input_0.npy"), np.load(folder / "input_1.npy")]
    _assert_matches(_run(model.onnx, inputs), np.load(folder / "expected_0.npy"))


DYNAMIC = [("dynamic_batch", ["batch", 3, 16, 16]), ("dynamic_reshape", ["batch", 3, 10, 10]),
           ("dynamic_attention", ["batch", "d1", 16])]


@pytest.mark.parametrize("name,dims", DYNAMIC, ids=[d[0] for d in DYNAMIC])
def test_dynamic_dims_convert_symbolic_and_run_at_two_sizes(name, dims, tmp_path):
    folder = CONTROL / name
    out = tmp_path / "model.onnx"
    assert main(["convert", str(folder / "model.mindir"), "-o", str(out)]) == 0
    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)
    stated = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert stated == dims
    out_batch = model.graph.output[0].type.tensor_type.shape.dim[0]
    assert not out_batch.HasField("dim_value")  # dynamic; named "batch" where shape inference can tell
    if name == "dynamic_batch":
        assert out_batch.dim_param == "batch"
    shapes = set()
    for inputs, expected in _cases(folder):
        shapes.add(inputs[0].shape)
        _assert_matches(_run(model, inputs), expected)
    assert len(shapes) == 2


def test_break_leaves_early_and_running_out_still_works():
    model = formats.load(CONTROL / "while_break" / "model.mindir").onnx
    steps = []
    for (x, n), expected in _cases(CONTROL / "while_break"):
        _assert_matches(_run(model, [x, n]), expected)
        steps.append((int(n), round(float((expected - x).mean()))))  # the body adds 1 per trip
    assert any(trips < n for n, trips in steps), "a case must leave through the break"
    assert any(trips == n for n, trips in steps), "a case must run out"
