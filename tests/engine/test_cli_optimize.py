"""``dstudio optimize``: tables, JSON, atomic output never over the input, exit codes."""

from __future__ import annotations

import json
import shutil

import onnx
import pytest

from engine.cli import main
from tests.conftest import fixture_by_name


@pytest.fixture
def lenet(tmp_path):
    src = tmp_path / "lenet.onnx"
    shutil.copy(fixture_by_name("lenet5").onnx, src)
    return src


def test_default_prints_table_and_writes(lenet, tmp_path, capsys):
    out = tmp_path / "out.onnx"
    assert main(["optimize", str(lenet), "-o", str(out), "--iterations", "3"]) == 0
    text = capsys.readouterr().out
    for word in ("pass", "fuse_bias_activation", "latency ms", "cosine", "kept", "wrote"):
        assert word in text
    model = onnx.load(str(out))
    assert "FusedConv" in {n.op_type for n in model.graph.node}
    assert not list(tmp_path.glob("*.part"))


def test_json_and_passes(lenet, tmp_path, capsys):
    out = tmp_path / "o.onnx"
    code = main(["optimize", str(lenet), "-o", str(out), "--passes", "int8_weight,compact_names",
                 "--no-latency", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in data["steps"]] == ["int8_weight", "compact_names"]
    assert data["steps"][0]["parity"]["precision"] == "int8" and data["steps"][0]["kept"]
    assert out.stat().st_size < 0.3 * lenet.stat().st_size


def test_refuses_to_write_over_input(lenet, capsys):
    before = lenet.read_bytes()
    assert main(["optimize", str(lenet), "-o", str(lenet), "--no-latency"]) == 1
    assert "same as an input" in capsys.readouterr().err
    assert lenet.read_bytes() == before


def test_usage_errors(lenet, tmp_path, capsys):
    out = str(tmp_path / "x.onnx")
    assert main(["optimize", str(lenet), "-o", out, "--passes", "nope"]) == 2
    assert main(["optimize", str(lenet), "-o", out, "--set", "fix_shapes"]) == 2
    assert main(["optimize", str(lenet)]) == 2
    with pytest.raises(SystemExit):
        main(["optimize", str(lenet), "-o", out, "--passes", "dead_code", "--preset", "fp16"])
    capsys.readouterr()


def test_set_option_and_list(lenet, tmp_path, capsys):
    out = tmp_path / "b.onnx"
    assert main(["optimize", str(lenet), "-o", str(out), "--passes", "fix_shapes", "--set",
                 "fix_shapes.dynamic_batch=True", "--no-latency"]) == 0
    dim0 = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == "batch"
    capsys.readouterr()
    assert main(["optimize", "--list"]) == 0
    text = capsys.readouterr().out
    assert "quantize_static" in text and "int8-weight" in text


def test_bad_option_value_is_one_line_error(lenet, tmp_path, capsys):
    out = tmp_path / "c.onnx"
    assert main(["optimize", str(lenet), "-o", str(out), "--passes", "quantize_static", "--set",
                 "quantize_static.method=magic", "--no-latency"]) == 1
    err = capsys.readouterr().err
    assert "unknown calibration method" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
