"""Chosen input shapes: dynamic dims filled per input and axis, checked, and never silently defaulted."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engine.errors import InputError
from engine.inputs import (
    TensorSpec,
    describe_shapes,
    format_shape,
    input_specs,
    make_feeds,
    parse_shape_arg,
    resolve_shape,
    unresolved_dims,
)

F32 = np.dtype(np.float32)


def _dynamic_conv_model() -> onnx.ModelProto:
    """[batch, 3, H, W] -> Conv 3x3 -> GlobalAveragePool: runs at any spatial size."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 1, 1])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], np.ones(4 * 3 * 3 * 3, np.float32).tolist())
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "dyn", [x], [y], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_negative_dim_value_reads_as_dynamic():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [-1, 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    spec = input_specs(helper.make_model(graph))[0]
    assert spec.shape == (None, 3)
    assert spec.is_dynamic


def test_shape_fills_dynamic_dims_per_axis():
    spec = TensorSpec("x", F32, ("batch", 3, "H", None))
    assert resolve_shape(spec, shape=(2, 3, 64, 48)) == (2, 3, 64, 48)
    assert resolve_shape(spec, shape=(None, None, 64, None)) == (1, 3, 64, 1)
    # a batch sweep overrides the chosen first dimension
    assert resolve_shape(spec, batch=8, shape=(2, 3, 64, 48)) == (8, 3, 64, 48)


@pytest.mark.parametrize("shape, message", [
    ((1, 4, 8, 8), "axis 1 is fixed to 3"),
    ((1, 3, 8), "rank 3"),
    ((1, 3, 0, 8), "at least 1"),
])
def test_shape_that_does_not_fit_is_refused(shape, message):
    spec = TensorSpec("x", F32, ("batch", 3, "H", "W"))
    with pytest.raises(InputError, match=message):
        resolve_shape(spec, shape=shape)


def test_make_feeds_uses_shapes_and_refuses_unknown_names():
    specs = [TensorSpec("x", F32, ("batch", 3, "H", "W")), TensorSpec("m", np.dtype(np.int64), ("batch", 5))]
    feeds = make_feeds(specs, shapes={"x": (2, 3, 16, 24), "m": (2, 5)})
    assert feeds["x"].shape == (2, 3, 16, 24)
    assert feeds["m"].shape == (2, 5)
    with pytest.raises(InputError, match="unknown input 'y'"):
        make_feeds(specs, shapes={"y": (1,)})


def test_unresolved_dims_names_each_dim_that_would_run_at_one():
    specs = [TensorSpec("x", F32, ("batch", 3, "H", None))]
    assert unresolved_dims(specs) == ["x[0] (batch)", "x[2] (H)", "x[3]"]
    assert unresolved_dims(specs, batch=4, shapes={"x": (None, 3, 32, None)}) == ["x[3]"]
    assert unresolved_dims(specs, shapes={"x": (1, 3, 32, 32)}) == []


def test_parse_and_format_shape_text():
    assert parse_shape_arg("x=1x3x224x224") == ("x", (1, 3, 224, 224))
    assert parse_shape_arg("input:0=2,5") == ("input:0", (2, 5))
    for bad in ("x", "x=1x-1", "=1x2", "x=1xH"):
        with pytest.raises(InputError):
            parse_shape_arg(bad)
    assert format_shape((1, None, 3)) == "1x?x3"
    assert describe_shapes({"x": (1, 3), "m": ()}) == "x 1x3, m scalar"


def test_benchmark_and_validate_run_at_the_chosen_shape(tmp_path):
    from engine import formats
    from engine.bench import benchmark
    from engine.validate import validate

    path = tmp_path / "dyn.onnx"
    onnx.save(_dynamic_conv_model(), path)
    model = formats.load(path)
    result = benchmark(model, "onnxruntime:cpu", warmup=1, iterations=3, shapes={"x": (2, 3, 40, 30)})
    assert result.inputs["shapes"] == {"x": [2, 3, 40, 30]}
    assert result.batch == 2
    assert not any("ran at 1" in w for w in result.warnings)
    small = benchmark(model, "onnxruntime:cpu", warmup=1, iterations=3)
    assert small.inputs["shapes"] == {"x": [1, 3, 1, 1]}
    assert any("ran at 1: x[0] (batch), x[2] (H), x[3] (W)" in w for w in small.warnings)
    report = validate(model, targets=["onnxruntime:cpu"], shapes={"x": (1, 3, 17, 9)}, find_divergence=False)
    assert report.inputs["tensors"]["x"]["shape"] == [1, 3, 17, 9]
    assert not any("ran at 1" in n for n in report.notes)


def test_benchmark_in_subprocess_passes_shapes(tmp_path):
    from engine import formats
    from engine.bench import benchmark_in_subprocess

    path = tmp_path / "dyn.onnx"
    onnx.save(_dynamic_conv_model(), path)
    result = benchmark_in_subprocess(formats.load(path), "onnxruntime:cpu", warmup=1, iterations=2,
                                     shapes={"x": (1, 3, 12, 20)})
    assert result.inputs["shapes"] == {"x": [1, 3, 12, 20]}



def test_cli_bench_and_validate_take_shapes(tmp_path, monkeypatch, capsys):
    import json

    from engine.cli import main

    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "dyn.onnx"
    onnx.save(_dynamic_conv_model(), path)
    assert main(["bench", str(path), "-n", "3", "--warmup", "1", "--shape", "x=2x3x24x16", "--json",
                 "--no-history"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inputs"]["shapes"] == {"x": [2, 3, 24, 16]}
    main(["validate", str(path), "--shape", "x=1x3x8x8", "--json"])  # one run: nothing to compare
    assert json.loads(capsys.readouterr().out)["inputs"]["tensors"]["x"]["shape"] == [1, 3, 8, 8]
    assert main(["bench", str(path), "-n", "2", "--shape", "x=1x4x8x8", "--no-history"]) == 1
    assert "axis 1 is fixed to 3" in capsys.readouterr().err
    assert main(["bench", str(path), "--shape", "x=1xHx8"]) == 2


def test_report_and_history_list_the_input_shapes(tmp_path, monkeypatch):
    from engine import formats
    from engine.bench import benchmark, history
    from engine.bench.report import render_html

    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "dyn.onnx"
    onnx.save(_dynamic_conv_model(), path)
    result = benchmark(formats.load(path), "onnxruntime:cpu", warmup=1, iterations=2, shapes={"x": (1, 3, 20, 10)})
    assert "x 1x3x20x10" in render_html(result)
    history.save_run(result.to_dict())
    summary = history.list_runs(limit=1)[0]
    assert summary.inputs == "x 1x3x20x10" and summary.batch == 1 and summary.precision == "fp32"
