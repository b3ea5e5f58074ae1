"""Tabs name the folder when file names clash; a failed open's banner goes once a file opens; Ctrl+= zooms."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QKeySequence

from studio.main_window import MainWindow
from studio.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "data" / "mindspore"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def _open(qtbot, window, path):
    with qtbot.waitSignal(window.document_opened, timeout=60_000):
        window.open_files([path])


def test_tabs_show_the_folder_only_when_names_clash(qtbot, window):
    _open(qtbot, window, DATA / "lenet5" / "model.onnx")
    assert window.tabs.tabText(0) == "model.onnx"
    _open(qtbot, window, DATA / "mlp_bn_dropout" / "model.onnx")
    _open(qtbot, window, DATA / "lenet5" / "model.mindir")
    assert [window.tabs.tabText(i) for i in range(3)] == ["lenet5/model.onnx", "mlp_bn_dropout/model.onnx",
                                                          "model.mindir"]
    window.close_tab(1)
    assert [window.tabs.tabText(i) for i in range(2)] == ["model.onnx", "model.mindir"]


def test_error_banner_goes_when_a_file_opens(qtbot, window, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01garbage" * 50)
    with qtbot.waitSignal(window.open_failed, timeout=60_000):
        window.open_files([bad])
    assert window.messages.isVisible()
    _open(qtbot, window, DATA / "lenet5" / "model.onnx")
    assert not window.messages.isVisible()


def test_ctrl_equals_zooms_in(window):
    keys = [k.toString() for k in window.actions_by_name["zoom_in"].shortcuts()]
    assert QKeySequence("Ctrl+=").toString() in keys and QKeySequence("Ctrl++").toString() in keys
