"""Export dialog: an empty parameter path asks for a file (never '.: is a folder'); the default output is free."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from studio.export_dialog import ExportDialog
from studio.main_window import MainWindow
from studio.settings import Settings

LENET = Path(__file__).resolve().parents[1] / "data" / "mindspore" / "lenet5"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    yield win
    win.close()


def test_empty_parameter_path_asks_for_a_file(qtbot, window, tmp_path):
    graph = tmp_path / "model.mindir"
    shutil.copy(LENET / "model.mindir", graph)
    for suffix in (".onnx", ".mindir"):
        (tmp_path / f"model.exported{suffix}").write_bytes(b"someone else's file")
    dialog = ExportDialog(window, graph_path=graph)
    qtbot.addWidget(dialog)
    suffix = dialog.format.currentData().suffixes[0]
    assert Path(dialog.output.path()) == tmp_path / f"model.exported-1{suffix}"
    dialog.check_button.click()
    assert window.runner.current("dialog:ExportDialog:check") is None
    assert "Choose a parameter file" in dialog.status.text()
    assert "is a folder" not in dialog.status.text()
    dialog.force.setChecked(True)
    dialog.report = object()  # even with a report in hand, Export without a parameter file asks for one
    dialog.run_button.click()
    assert dialog.task is None
    assert "Choose a parameter file" in dialog.status.text()


def test_output_name_and_format_always_agree(qtbot, window, tmp_path):
    graph = tmp_path / "model.mindir"
    shutil.copy(LENET / "model.mindir", graph)
    dialog = ExportDialog(window, graph_path=graph, params_path=LENET / "model.ckpt")
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=60_000)
    dialog.output.setText(str(tmp_path / "bound.weird"))
    dialog.run_button.click()
    assert dialog.task is None and "must end in" in dialog.status.text()
    mindir = next(i for i in range(dialog.format.count()) if dialog.format.itemData(i).name == "mindir")
    dialog.format.setCurrentIndex(mindir)
    dialog.output.setText(str(tmp_path / "bound.onnx"))
    with qtbot.waitSignal(dialog.job_finished, timeout=60_000):
        dialog.run_button.click()
    assert dialog.format.currentData().name == "onnx"  # the typed .onnx chose the format
    from engine import formats

    assert formats.load(tmp_path / "bound.onnx").source_format == "onnx"
