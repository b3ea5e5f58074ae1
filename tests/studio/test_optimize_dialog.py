"""Optimize dialog: progress ends at 100% naming the choice, the chosen row is selected, 'kept' counts changes, Stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.main_window import MainWindow
from studio.optimize_dialog import OptimizeDialog
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


def _dialog(qtbot, window, tmp_path, preset: str) -> OptimizeDialog:
    dialog = OptimizeDialog(window, window.current_document())
    qtbot.addWidget(dialog)
    dialog.preset.setCurrentText(preset)
    dialog.iterations.setValue(2)
    dialog.destination.setText(str(tmp_path / f"lenet5.{preset}.onnx"))
    return dialog


def test_kept_counts_only_passes_that_changed_the_model(qtbot, window, tmp_path):
    dialog = _dialog(qtbot, window, tmp_path, "default")
    assert "fusion" in dialog.preset_help.text()
    with qtbot.waitSignal(dialog.job_finished, timeout=300_000):
        dialog.run_button.click()
    steps = dialog.result.steps
    changed = sum(s.kept and s.modified for s in steps)
    assert changed < sum(s.kept for s in steps), "lenet5 has passes that change nothing"
    assert f"Kept {changed} of {len(steps)} passes" in dialog.status.text()
    kept_col = [dialog.steps.horizontalHeaderItem(c).text() for c in range(dialog.steps.columnCount())].index("Kept")
    for row, step in enumerate(steps):
        assert (dialog.steps.item(row, kept_col).text() == "unchanged") == (not step.modified)
    assert dialog.progress.value() == dialog.progress.maximum()
    assert dialog.progress.format().startswith("100%")
    assert not dialog.stop_button.isEnabled()


def test_auto_selects_the_chosen_variant_and_says_so(qtbot, window, tmp_path):
    dialog = _dialog(qtbot, window, tmp_path, "auto")
    with qtbot.waitSignal(dialog.job_finished, timeout=300_000):
        dialog.run_button.click()
    result = dialog.result
    row = next(r for r, v in enumerate(result.variants) if v.chosen)
    assert [i.row() for i in dialog.variants.selectionModel().selectedRows()] == [row]
    assert f"chose {result.chosen}" in dialog.progress.format()
    assert result.chosen in dialog.status.text()
    cv_col = [dialog.variants.horizontalHeaderItem(c).text() for c in range(dialog.variants.columnCount())].index("CV")
    timed = [r for r, v in enumerate(result.variants) if v.cv is not None]
    assert timed and all(dialog.variants.item(r, cv_col).text().endswith("%") for r in timed)


def test_stop_cancels_and_writes_nothing(qtbot, window, tmp_path):
    dialog = _dialog(qtbot, window, tmp_path, "auto")
    dialog.iterations.setValue(100_000)
    dialog.run_button.click()
    assert dialog.stop_button.isEnabled()
    task = dialog.task
    with qtbot.waitSignal(task.finished, timeout=120_000) as blocker:
        dialog.stop_button.click()
    assert blocker.args == ["cancelled"]
    assert "Cancelled" in dialog.status.text()
    assert not (tmp_path / "lenet5.auto.onnx").exists()
    assert not dialog.stop_button.isEnabled()


def test_existing_output_is_not_replaced_without_asking(qtbot, window, tmp_path):
    dialog = _dialog(qtbot, window, tmp_path, "default")
    existing = tmp_path / "lenet5.default.onnx"
    existing.write_bytes(b"keep me")
    dialog.run_button.click()
    assert dialog.task is None and dialog.overwrite_box is not None and dialog.overwrite_box.isVisible()
    next(b for b in dialog.overwrite_box.buttons() if b.text() == "Keep it").click()
    assert existing.read_bytes() == b"keep me"
    assert dialog.task is None and "was kept" in dialog.status.text()
