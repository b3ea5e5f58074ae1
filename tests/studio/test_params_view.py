"""Checkpoint table A-Z with one-line shapes; the diff grouped by kind of change with a relative difference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.main_window import MainWindow
from studio.settings import Settings

LENET = Path(__file__).resolve().parents[1] / "data" / "mindspore" / "lenet5"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def test_table_is_a_to_z_and_diff_is_grouped_with_relative_difference(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        window.open_files([LENET / "model.ckpt"])
    doc = blocker.args[0]
    table = window.current_view().params_view.table
    names = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert names == sorted(names)
    assert not table.wordWrap()
    params = dict(doc.model.params.items())
    ordered = sorted(params)
    changed, dropped = ordered[0], ordered[1]
    params[changed] = params[changed] * 1.5  # relative difference 0.5
    del params[dropped]
    params["zz.extra"] = np.zeros(3, np.float32)
    other = tmp_path / "other.npz"
    np.savez(other, **params)
    from studio.diff_task import start_diff

    view = window.current_view()
    start_diff(window, doc, other)
    qtbot.waitUntil(lambda: view.params_view.diff_box.isVisible(), timeout=30_000)
    diff = view.params_view.diff_table
    headers = [diff.horizontalHeaderItem(c).text() for c in range(diff.columnCount())]
    rows = [[diff.item(r, c).text() for c in range(diff.columnCount())] for r in range(diff.rowCount())]
    assert [r[1] for r in rows] == ["removed", "added", "values differ"]  # grouped, not mixed by name
    rel = rows[2][headers.index("Max rel diff")]
    assert rows[2][0] == changed and float(rel) == pytest.approx(0.5, rel=1e-3)
