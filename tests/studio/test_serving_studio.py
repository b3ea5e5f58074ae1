"""Serving from the window: the package dialog writes a validated package; the serve panel serves, counts, load-tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.main_window import MainWindow
from studio.settings import Settings

LENET = Path(__file__).resolve().parents[1] / "data" / "mindspore" / "lenet5" / "model.onnx"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.document_opened, timeout=60_000):
        win.open_files([LENET])
    yield win
    win.close()


def test_package_dialog_writes_a_validated_triton_package(qtbot, window, tmp_path):
    from studio.serving_dialog import PackageDialog

    assert window.actions_by_name["package"].isEnabled()
    dialog = PackageDialog(window, window.current_document())
    qtbot.addWidget(dialog)
    dialog.folder.edit.setText(str(tmp_path / "repo"))
    dialog.name.setText("lenet5")
    dialog.instances.setValue(2)
    with qtbot.waitSignal(dialog.job_finished, timeout=120_000):
        dialog.run_button.click()
    result = dialog.result
    assert result.passed and result.folder == tmp_path / "repo" / "lenet5"
    assert (result.folder / "config.pbtxt").is_file() and (result.folder / "1" / "model.onnx").is_file()
    assert "Validated" in dialog.status.text() and "README.md" in dialog.status.text()
    # a second run without "replace" is refused in place, naming the folder
    assert dialog.run_button.isEnabled()
    dialog.run_button.click()
    qtbot.waitUntil(lambda: "Failed" in dialog.status.text(), timeout=60_000)
    assert "already there" in dialog.status.text()


def test_serve_panel_serves_counts_and_load_tests(qtbot, window, tmp_path):
    from engine.serving.client import V2Client
    from studio.serve_panel import show_serve_dialog

    dialog = show_serve_dialog(window)
    panel = dialog.panel
    panel.port.setValue(0)  # any free port
    with qtbot.waitSignal(panel.server_started, timeout=120_000) as started:
        panel.start_button.click()
    url = started.args[0]
    assert url.startswith("http://127.0.0.1:") and url in panel.url_label.text()
    assert panel.lt_url.text() == url and panel.lt_model.text() == "model"

    with V2Client(url) as client:
        client.infer("model", {"x": np.zeros((1, 1, 32, 32), np.float32)})
    qtbot.waitUntil(lambda: "1 answered" in panel.counts.text(), timeout=10_000)

    panel.lt_levels.setText("1,2")
    panel.lt_duration.setValue(0.3)
    with qtbot.waitSignal(panel.loadtest_finished, timeout=60_000) as done:
        panel.run_button.click()
    result = done.args[0]
    assert [p.concurrency for p in result.points] == [1, 2]
    assert panel.table.rowCount() == 2
    xs, ys = panel.curve.getData()
    assert len(xs) == 2 and all(y > 0 for y in ys)
    paths = panel.save_report(tmp_path / "report")
    assert "Latency vs throughput" in paths["html"].read_text()

    with qtbot.waitSignal(panel.server_stopped, timeout=30_000) as stopped:
        panel.start_button.click()
    assert stopped.args == ["stopped"]
    assert panel.url_label.text() == "not serving"
