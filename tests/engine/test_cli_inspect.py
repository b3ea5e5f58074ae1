"""`dstudio inspect` against what the fixtures' meta.json says MindSpore wrote."""

from __future__ import annotations

import json

from engine.cli import main


def test_inspect_json_matches_mindspore_metadata(ms_fixture, capsys):
    assert main(["inspect", str(ms_fixture.mindir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    meta = ms_fixture.meta
    assert data["format"] == "mindir" and data["kind"] == "graph"
    assert data["producer"].startswith("MindSpore")
    assert data["param_count"] == meta["param_count"]
    assert len(data["parameters"]) == meta["num_param_tensors"]
    assert [i["shape"] for i in data["inputs"]] == [i["shape"] for i in meta["inputs"]]
    assert [o["shape"] for o in data["outputs"]] == [o["shape"] for o in meta["outputs"]]
    source_ops = {k: v for k, v in data["source_op_counts"].items() if k != "Constant"}
    assert source_ops == meta["mindir"]["op_counts"]
    assert data["node_count"] == sum(data["op_counts"].values()) > 0


def test_inspect_text_lists_ops_and_totals(lenet5, capsys):
    assert main(["inspect", str(lenet5.mindir)]) == 0
    out = capsys.readouterr().out
    assert "Conv2D" in out and "Conv " not in out.split("ONNX ops")[0]
    assert "61,706 values" in out.replace("\u202f", ",")
