"""A MindSpore Lite .ms dropped on the window opens with its Lite graph (engine/formats/mslite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.main_window import MainWindow
from studio.settings import Settings
from test_main_window import open_by_drop

MS = Path(__file__).resolve().parents[1] / "data" / "mslite" / "lenet5.ms"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def test_dropped_ms_opens_with_lite_ops(qtbot, window):
    doc = open_by_drop(qtbot, window, MS)
    assert window.tabs.count() == 1
    model = doc.model
    assert model.source_format == "mslite"
    assert [n.op_type for n in model.source_nodes].count("Conv2DFusion") == 2
