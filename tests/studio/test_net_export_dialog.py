"""A dropped network definition with its checkpoint offers export from the Cell (studio/net_export_dialog.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.main_window import MainWindow
from studio.net_export_dialog import NetExportDialog, cell_classes
from studio.settings import Settings
from test_main_window import drop

DATA = Path(__file__).resolve().parents[1] / "data"
NET = DATA / "netdefs" / "lenet5_net.py"
CKPT = DATA / "mindspore" / "lenet5" / "model.ckpt"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def test_cell_classes_are_read_not_imported():
    assert cell_classes(NET) == ["LeNet5"]


def test_dropping_a_py_with_its_checkpoint_offers_export(qtbot, window):
    drop(window, NET, CKPT)
    dialogs = window.findChildren(NetExportDialog)
    assert len(dialogs) == 1 and window.tabs.count() == 0  # the checkpoint went to the dialog, not a tab
    dialog = dialogs[0]
    assert dialog.class_name.currentText() == "LeNet5"
    assert dialog.params.path() == CKPT


@pytest.mark.mindspore
def test_export_runs_and_the_file_opens(qtbot, window, tmp_path):
    drop(window, NET, CKPT)
    dialog = window.findChildren(NetExportDialog)[0]
    dialog.shape.setText("1,1,32,32")
    dialog.output.setText(str(tmp_path / "lenet.mindir"))
    with qtbot.waitSignal(window.document_opened, timeout=300_000):
        dialog.run_button.click()
    assert dialog.result.method == "mindspore.export MINDIR" and dialog.result.report.ok
    assert (tmp_path / "lenet.mindir").is_file()
