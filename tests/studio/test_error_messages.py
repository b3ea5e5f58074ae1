"""Failures point at something: the whole message is shown, and each error is logged once."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from studio.main_window import MainWindow
from studio.settings import Settings


def unloadable_model(path):
    """Valid ONNX that ONNX Runtime refuses at session creation: an op from a domain nobody implements."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    node = helper.make_node("FrobnicateEverything", ["x"], ["y"], domain="com.example.nowhere", name="frob")
    graph = helper.make_graph([node], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example.nowhere", 1)], ir_version=8)
    onnx.save(model, path)
    return path


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.document_opened, timeout=60_000):
        win.open_files([unloadable_model(tmp_path / "frob.onnx")])
    yield win
    win.close()


def test_failed_benchmark_shows_the_whole_message_and_logs_it_once(qtbot, window):
    bench = window.bench
    bench.warmup.setValue(0)
    bench.iterations.setValue(2)
    bench.run()
    task = window.runner.current("bench")
    states: list[str] = []
    task.finished.connect(states.append)
    qtbot.waitUntil(lambda: bool(states), timeout=60_000)
    assert states == ["failed"]
    qtbot.waitUntil(lambda: "frob.onnx" in bench.status.text() and "failed" in bench.status.text(), timeout=10_000)
    message = getattr(task.error, "message", str(task.error))
    assert len(message) > 40, message
    # every word of the engine's message is on screen, not clipped after the first phrase
    shown = bench.results_title.text() + " " + bench.status.text()
    tail = message.split()[-3:]
    assert all(word.replace("<", "&lt;").replace(">", "&gt;") in shown or word in shown for word in tail), (tail, shown)
    qtbot.waitUntil(lambda: "frob.onnx failed" in window.log_view.plain_text(), timeout=10_000)
    log_lines = [line for line in window.log_view.plain_text().splitlines() if "FrobnicateEverything" in line]
    assert len(log_lines) == 1, log_lines
    assert " ERROR " in log_lines[0]
