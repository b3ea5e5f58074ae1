"""A refused conversion lists every blocking node and selects them all in the graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.convert_dialog import ConvertDialog
from studio.main_window import MainWindow
from studio.settings import Settings

UNKNOWN = Path(__file__).resolve().parents[1] / "data" / "mindir_unknown" / "lenet5_renamed" / "model.mindir"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def test_refused_conversion_selects_every_blocker(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        window.open_files([UNKNOWN])
    doc = blocker.args[0]
    blockers = doc.model.unlowered
    assert len(blockers) >= 2, "the fixture renames several primitives"
    dialog = ConvertDialog(window, doc)
    qtbot.addWidget(dialog)
    out = tmp_path / "out.onnx"
    dialog.destination.setText(str(out))
    dialog.run_button.click()
    qtbot.waitUntil(lambda: dialog.task is not None and dialog.task.state == "failed", timeout=60_000)
    qtbot.waitUntil(lambda: bool(dialog.selected_blockers), timeout=10_000)
    assert not out.exists()
    text = dialog.status.text()
    for b in blockers:
        assert b.node in text and b.primitive in text
    view = window.current_view()
    assert sorted(view.selected_nodes()) == sorted(b.node for b in blockers)


def test_benchmark_refused_on_an_onnx_target_selects_the_blockers(qtbot, window):
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        window.open_files([UNKNOWN])
    doc = blocker.args[0]
    assert window.targets.select("onnxruntime:cpu")
    window.bench.iterations.setValue(2)
    window.bench.run()
    task = window.runner.current("bench")
    qtbot.waitUntil(lambda: task.state == "failed", timeout=60_000)
    view = window.current_view()
    qtbot.waitUntil(lambda: sorted(view.selected_nodes()) == sorted(b.node for b in doc.model.unlowered),
                    timeout=10_000)
    assert "--" not in window.bench.status.text() and "dstudio" not in window.bench.status.text()
