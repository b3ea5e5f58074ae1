"""Validate panel, screenshot command, error hook, workers and resources."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from engine.jobs import Job
from studio.errors import ErrorReporter, describe
from studio.main_window import MainWindow
from studio.settings import Settings
from studio.workers import TaskRunner

LENET = Path(__file__).resolve().parents[1] / "data" / "mindspore" / "lenet5"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.document_opened, timeout=60_000):
        win.open_files([LENET / "model.onnx"])
    yield win
    win.close()


def test_validate_panel_shows_parity_table(qtbot, window):
    panel = window.validate_panel
    index = next((i for i in range(panel.compare.count()) if panel.compare.itemData(i) == ("target", "reference")), -1)
    if index < 0:
        pytest.skip("the ONNX reference evaluator target is not available")
    panel.compare.setCurrentIndex(index)
    with qtbot.waitSignal(panel.validated, timeout=120_000) as blocker:
        window.actions_by_name["validate"].trigger()
    report = blocker.args[0]
    rows = panel.parity_rows()
    assert len(rows) == sum(len(c.outputs) for c in report.comparisons) >= 1
    assert rows[0][0] == report.comparisons[0].outputs[0].name
    assert ("PASSED" in panel.verdict.text()) == report.passed


def test_validate_failure_selects_first_divergent_node(qtbot, window, tmp_path):
    """A perturbed copy diverges at a known node: the graph selects it after validation."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(LENET / "model.onnx")
    consumer = {i: n for n in proto.graph.node for i in n.input}
    init = next(t for t in proto.graph.initializer if t.name in consumer and consumer[t.name].op_type == "Gemm")
    array = numpy_helper.to_array(init) + 1.0
    init.CopyFrom(numpy_helper.from_array(array.astype(np.float32), init.name))
    changed = tmp_path / "perturbed.onnx"
    onnx.save(proto, changed)
    with qtbot.waitSignal(window.document_opened, timeout=60_000):
        window.open_files([changed])
    window.tabs.setCurrentIndex(0)  # validate the original against the perturbed copy
    panel = window.validate_panel
    panel.refresh_choices()
    panel.compare.setCurrentIndex(panel.compare.findText("model perturbed.onnx"))
    with qtbot.waitSignal(panel.validated, timeout=120_000) as blocker:
        panel.run()
    report = blocker.args[0]
    assert not report.passed
    assert "FAILED" in panel.verdict.text()
    if report.first_divergent is None:
        pytest.skip(f"no divergent node located: {report.divergence_note}")
    view = window.current_view()
    expected = next(n.id for n in view.graph.nodes if n.name == report.first_divergent.node)
    assert view.selected_node() == expected


def test_screenshot_command_writes_png(tmp_path):
    from engine.cli import main

    out = tmp_path / "shot.png"
    assert main(["gui", str(LENET / "model.mindir"), "--screenshot", str(out), "--size", "900x600"]) == 0
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)


def test_screenshot_of_bad_file_exits_nonzero(tmp_path, capsys):
    from engine.cli import main

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    assert main(["gui", str(bad), "--screenshot", str(tmp_path / "x.png")]) == 1
    assert "not a recognised model file" in capsys.readouterr().err


def test_excepthook_logs_and_keeps_running(qtbot, caplog):
    reporter = ErrorReporter()
    reporter.show_dialogs = False
    reporter.install()
    try:
        assert sys.excepthook == reporter.excepthook
        with qtbot.waitSignal(reporter.error_reported, timeout=5_000) as blocker:
            try:
                raise ZeroDivisionError("boom")
            except ZeroDivisionError:
                with caplog.at_level(logging.ERROR, logger="studio.errors"):
                    sys.excepthook(*sys.exc_info())
        assert "ZeroDivisionError: boom" in blocker.args[0]
        assert "boom" in caplog.text
    finally:
        reporter.uninstall()
    assert sys.excepthook != reporter.excepthook


def test_engine_errors_keep_file_and_hint():
    from engine.errors import FormatError

    text = describe(FormatError("file is empty", path="/x/m.onnx", hint="re-export it"), "Cannot open m.onnx")
    assert text.headline == "Cannot open m.onnx"
    assert text.detail == "file is empty" and text.hint == "re-export it" and text.expected


def test_new_task_with_same_key_cancels_the_old(qtbot):
    import threading

    runner = TaskRunner()
    release = threading.Event()

    def slow(job: Job) -> str:
        while not release.wait(0.01):
            job.check()
        return "slow"

    first = runner.start("panel", "first", slow)
    with qtbot.waitSignal(first.finished, timeout=10_000) as cancelled:
        second = runner.start("panel", "second", lambda job: "fast")
    assert cancelled.args == ["cancelled"]
    qtbot.waitUntil(lambda: second.state == "done", timeout=10_000)
    assert second.result == "fast" and runner.current("panel") is second
    release.set()


def test_worker_failure_reaches_the_panel_callback(qtbot):
    runner = TaskRunner()
    errors = []
    task = runner.start("x", "fails", lambda job: 1 / 0, on_error=errors.append)
    qtbot.waitUntil(lambda: task.state == "failed", timeout=10_000)
    assert isinstance(errors[0], ZeroDivisionError)


def test_every_icon_renders(qtbot):
    from studio.icons import icon, icon_names

    names = icon_names()
    assert {"open", "convert", "optimize", "validate", "benchmark", "deploy-studio"} <= set(names)
    for name in names:
        assert not icon(name).pixmap(24, 24).isNull(), name


def test_about_lists_runtime_versions(qtbot):
    from studio.about_dialog import AboutDialog, versions

    info = versions()
    assert info["ONNX Runtime"] != "not installed"
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    assert info["ONNX Runtime"] in dialog.text.text()
    assert "MindSpore" in dialog.text.text()
