"""The inputs panel: dynamic dims are chosen per input and axis, never silently run at 1; data files feed runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from studio.main_window import MainWindow
from studio.settings import Settings


def dynamic_model(path: Path) -> Path:
    """x [batch, 3, H, W] -> Conv -> GlobalAveragePool -> * scale [batch, 4, 1, 1]: runs at any size."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "H", "W"])
    scale = helper.make_tensor_value_info("scale", TensorProto.FLOAT, ["batch", 4, 1, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 1, 1])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3],
                           np.linspace(-1, 1, 108, dtype=np.float32).tolist())
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("GlobalAveragePool", ["c"], ["g"], name="pool"),
             helper.make_node("Mul", ["g", "scale"], ["y"], name="scale_mul")]
    graph = helper.make_graph(nodes, "dynamic", [x, scale], [y], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.document_opened, timeout=60_000):
        win.open_files([dynamic_model(tmp_path / "dynamic.onnx")])
    yield win
    win.close()


def test_panel_shows_each_dim_and_links_symbolic_names(window):
    panel = window.input_panel
    assert list(panel.spins) == ["x", "scale"]
    x = panel.spins["x"]
    assert [s.isEnabled() for s in x] == [True, False, True, True]  # 3 channels are fixed by the model
    assert [s.text() for s in x] == ["batch=1", "3", "H=?", "W=?"]
    assert panel.unresolved() == ["x[2] (H)", "x[3] (W)"]
    assert "choose x[2] (H), x[3] (W)" in window.shapes_label.text()
    panel.set_dim("x", 0, 2)  # batch is one size for every input that names it
    assert panel.spins["scale"][0].value() == 2
    assert window.current_document().input_shapes["scale"] == [2, 4, 1, 1]


def test_unknown_dim_stops_the_run_and_points_at_the_panel(qtbot, window):
    bench = window.bench
    bench.run()
    assert window.runner.current("bench") is None, "nothing runs while H and W are unknown"
    assert "Choose a size for x[2] (H), x[3] (W) in the Inputs panel" in bench.status.text()
    assert window.inputs_dock.isVisible()
    panel = window.validate_panel
    panel.run()
    assert window.runner.current("validate") is None
    assert "Inputs panel" in panel.verdict.text()


def test_benchmark_and_validate_use_the_chosen_shape(qtbot, window):
    panel = window.input_panel
    panel.set_dim("x", 2, 40)
    panel.set_dim("x", 3, 24)
    assert window.shapes_label.text() == "Inputs: x 1x3x40x24, scale 1x4x1x1"
    bench = window.bench
    bench.warmup.setValue(1)
    bench.iterations.setValue(5)
    with qtbot.waitSignal(bench.run_finished, timeout=60_000) as blocker:
        bench.run()
    result = blocker.args[0]
    assert result.inputs["shapes"] == {"x": [1, 3, 40, 24], "scale": [1, 4, 1, 1]}
    assert "x 1x3x40x24" in bench.status.text()
    assert "x 1x3x40x24" in bench.results_title.text()
    assert bench.history_rows()[0][6] == "x 1x3x40x24, scale 1x4x1x1"
    validate = window.validate_panel
    with qtbot.waitSignal(validate.validated, timeout=120_000) as blocker:
        validate.run()
    assert blocker.args[0].inputs["tensors"]["x"]["shape"] == [1, 3, 40, 24]
    assert "x 1x3x40x24" in validate.verdict.text()


def test_data_file_feeds_benchmark_and_validate(qtbot, window, tmp_path):
    rng = np.random.default_rng(1)
    data = tmp_path / "inputs.npz"
    np.savez(data, x=rng.standard_normal((1, 3, 20, 12), dtype=np.float32),
             scale=np.ones((1, 4, 1, 1), np.float32))
    window.input_panel.set_data_path(data)
    # the file is read on a worker at once: its shapes show before any run
    qtbot.waitUntil(lambda: window.shapes_label.text() == "Inputs: from inputs.npz (x 1x3x20x12, scale 1x4x1x1)",
                    timeout=30_000)
    assert "x 1x3x20x12" in window.input_panel.message.text()
    assert not any(s.isEnabled() for s in window.input_panel.spins["x"])
    bench = window.bench
    bench.warmup.setValue(1)
    bench.iterations.setValue(3)
    with qtbot.waitSignal(bench.run_finished, timeout=60_000) as blocker:
        bench.run()
    assert blocker.args[0].inputs["shapes"]["x"] == [1, 3, 20, 12]
    validate = window.validate_panel
    with qtbot.waitSignal(validate.validated, timeout=120_000) as blocker:
        validate.run()
    assert blocker.args[0].inputs["source"] == str(data)


def test_bad_data_file_advises_the_window_not_the_command_line(qtbot, window, tmp_path):
    data = tmp_path / "wrong.npz"
    np.savez(data, x=np.zeros((1, 3, 8, 8), np.float64), scale=np.ones((1, 4, 1, 1), np.float32))
    window.input_panel.set_data_path(data)
    # said at once in the panel, before any run
    qtbot.waitUntil(lambda: "does not fit this model" in window.input_panel.message.text(), timeout=30_000)
    assert "float64" in window.input_panel.message.text()
    panel = window.validate_panel
    task_done = []
    panel.run()
    task = window.runner.current("validate")
    task.finished.connect(task_done.append)
    qtbot.waitUntil(lambda: bool(task_done), timeout=60_000)
    text = panel.verdict.text()
    assert "float64" in text and "Inputs panel" in text
    assert "--" not in text and "dstudio" not in text


def test_inputs_dock_comes_back_for_a_model_with_dims_to_choose(qtbot, window, tmp_path):
    window.inputs_dock.hide()
    with qtbot.waitSignal(window.document_opened, timeout=60_000):
        window.open_files([dynamic_model(tmp_path / "other.onnx")])
    assert window.inputs_dock.isVisible()
