"""The start page lists recent files and lights up while files are dragged over it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from studio.main_window import MainWindow
from studio.settings import Settings

LENET = Path(__file__).resolve().parents[1] / "data" / "mindspore" / "lenet5" / "model.onnx"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    settings = Settings(tmp_path / "settings.ini")
    settings.add_recent_file(LENET)
    settings.add_recent_file(tmp_path / "gone.onnx")  # no longer there: not listed
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def test_recent_files_are_listed_and_open(qtbot, window):
    welcome = window.welcome
    assert welcome.isVisible()
    assert [b.text() for b in welcome.recent_buttons] == ["lenet5/model.onnx"]
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        welcome.recent_buttons[0].click()
    assert blocker.args[0].path == LENET


def test_drop_zone_lights_up_and_opens_the_drop(qtbot, window):
    welcome = window.welcome
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(LENET))])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(20, 20), *args)
    QApplication.sendEvent(welcome, enter)
    assert enter.isAccepted() and welcome.drop_active
    assert "highlight" in welcome.zone.styleSheet()
    QApplication.sendEvent(welcome, QDragLeaveEvent())
    assert not welcome.drop_active
    QApplication.sendEvent(welcome, QDragEnterEvent(QPoint(20, 20), *args))
    with qtbot.waitSignal(window.document_opened, timeout=60_000):
        QApplication.sendEvent(welcome, QDropEvent(QPointF(20, 20), *args))
    assert not welcome.drop_active
