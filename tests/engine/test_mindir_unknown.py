"""A MindIR always opens: primitives without a lowering are listed, conversion refuses naming all."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine import formats
from engine.backends import open_session
from engine.cli import main
from engine.errors import UnsupportedOpError
from engine.formats.mindir import lower

DATA = Path(__file__).resolve().parent.parent / "data"
RENAMED = DATA / "mindir_unknown" / "lenet5_renamed" / "model.mindir"
LENET5 = DATA / "mindspore" / "lenet5"


def test_renamed_primitives_open_and_are_listed():
    model = formats.load(RENAMED)
    assert model.is_graph and not model.is_lowered and model.onnx is None
    primitives = [(u.primitive, u.scope) for u in model.unlowered]
    assert primitives == [
        ("Conv2DNobodyKnows", "Default/conv1-Conv2d/Conv2D-op0"),
        ("Conv2DNobodyKnows", "Default/conv2-Conv2d/Conv2D-op0"),
        ("FlattenNobodyKnows", "Default/flatten-Flatten/Flatten-op0"),
    ]
    inputs, outputs = model.io_specs()
    assert [(s.name, s.shape) for s in inputs] == [("x", (1, 1, 32, 32))]
    assert [(s.name, s.shape) for s in outputs] == [("output", (1, 10))]
    by_status = {}
    for node in model.source_nodes:
        by_status.setdefault(node.lowering, []).append(node.op_type)
    assert sorted(set(by_status["failed"])) == ["Conv2DNobodyKnows", "FlattenNobodyKnows"]
    # ReLU and MaxPool read a failed convolution: skipped because of it, not missing themselves.
    assert {"ReLU", "MaxPool", "MatMul", "BiasAdd"} <= set(by_status["skipped"])
    skipped = next(n for n in model.source_nodes if n.lowering == "skipped")
    assert "Conv2D-op0" in skipped.lowering_reason
    with pytest.raises(UnsupportedOpError) as info:
        model.require_graph()
    assert "Conv2DNobodyKnows" in str(info.value) and "FlattenNobodyKnows" in str(info.value)


def test_lowered_nodes_record_their_onnx_ops():
    model = formats.load(LENET5 / "model.mindir")
    conv = next(n for n in model.source_nodes if n.op_type == "Conv2D")
    assert conv.lowering == "ok" and "Conv" in conv.lowered_to


def test_inspect_lists_unknown_primitives(capsys):
    assert main(["inspect", str(RENAMED)]) == 0
    out = capsys.readouterr().out
    listing = out.split("without a lowering:")[1].splitlines()
    assert listing[1].split()[:2] == ["Conv2DNobodyKnows", "2"]
    assert "first Default/conv1-Conv2d/Conv2D-op0" in listing[1]
    assert listing[2].split()[:2] == ["FlattenNobodyKnows", "1"]
    assert "x  float32  [1, 1, 32, 32]" in out
    # The weights are still read (and could be saved): lenet5's 61,706 values.
    assert "parameters: 10 tensors, 61,706 values" in out.replace("\u202f", ",")


def test_inspect_json_lists_unknown_primitives(capsys):
    assert main(["inspect", str(RENAMED), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "graph"
    assert [(u["primitive"], u["count"], u["first_node"]) for u in data["unlowered"]] == [
        ("Conv2DNobodyKnows", 2, "Default/conv1-Conv2d/Conv2D-op0"),
        ("FlattenNobodyKnows", 1, "Default/flatten-Flatten/Flatten-op0"),
    ]
    assert data["source_op_counts"]["Conv2DNobodyKnows"] == 2


def test_convert_refuses_in_one_line_naming_every_primitive(tmp_path, capsys):
    out = tmp_path / "y.onnx"
    assert main(["convert", str(RENAMED), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "Conv2DNobodyKnows (2 nodes" in err and "FlattenNobodyKnows (1 node" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_onnx_targets_say_why_they_cannot():
    model = formats.load(RENAMED)
    for target in ("onnxruntime:cpu", "reference"):
        with pytest.raises(UnsupportedOpError, match="Conv2DNobodyKnows") as info:
            open_session(model, target)
        assert str(info.value).count("\n") == 0 and f"{target} runs the ONNX graph" in str(info.value)


def test_a_refusing_rule_is_recorded_and_lowering_goes_on(monkeypatch):
    lower._load_rules()

    def refuse(ctx):
        raise ctx.fail("refused for the test")

    monkeypatch.setitem(lower.OPS, "MaxPool", refuse)
    model = formats.load(LENET5 / "model.mindir")
    # The second MaxPool reads the first one's output: skipped, not a second failure.
    assert [u.primitive for u in model.unlowered] == ["MaxPool"]
    assert [n.lowering for n in model.source_nodes if n.op_type == "MaxPool"] == ["failed", "skipped"]
    assert "refused for the test" in model.unlowered_message()


@pytest.mark.mindspore
def test_mindspore_runs_a_mindir_without_onnx_lowering(monkeypatch):
    # A primitive MindSpore knows but the converter does not: drop ReLU's rule for this load.
    lower._load_rules()
    monkeypatch.delitem(lower.OPS, "ReLU")
    model = formats.load(LENET5 / "model.mindir")
    assert not model.is_lowered and {u.primitive for u in model.unlowered} == {"ReLU"}
    x = np.load(LENET5 / "input_0.npy")
    expected = np.load(LENET5 / "expected_0.npy")
    with open_session(model, "mindspore:cpu") as session:
        out = session.infer({"x": x})
    assert session.info["mindir"] == "source file"
    np.testing.assert_allclose(out["output"], expected, rtol=1e-5, atol=1e-6)


def test_a_rule_that_breaks_does_not_make_the_file_unreadable(monkeypatch):
    lower._load_rules()

    def broken(ctx):
        raise AttributeError("'NoneType' object has no attribute 'shape'")

    monkeypatch.setitem(lower.OPS, "Flatten", broken)
    model = formats.load(LENET5 / "model.mindir")
    assert [u.primitive for u in model.unlowered] == ["Flatten"]
    assert "the converter failed on this node (AttributeError" in model.unlowered_message()
