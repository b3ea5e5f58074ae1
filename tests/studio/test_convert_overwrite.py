"""Convert never overwrites by surprise: free default names, an overwrite prompt, the suffix follows the format."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from engine import formats
from studio.convert_dialog import ConvertDialog
from studio.main_window import MainWindow
from studio.settings import Settings

LENET = Path(__file__).resolve().parents[1] / "data" / "mindspore" / "lenet5"


@pytest.fixture
def export_folder(tmp_path):
    """A MindSpore export folder: model.mindir with MindSpore's own model.onnx beside it."""
    folder = tmp_path / "lenet5"
    folder.mkdir()
    for name in ("model.mindir", "model.onnx"):
        shutil.copy(LENET / name, folder / name)
    return folder


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def _dialog(qtbot, window, path) -> ConvertDialog:
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        window.open_files([path])
    dialog = ConvertDialog(window, blocker.args[0])
    qtbot.addWidget(dialog)
    return dialog


def test_default_destination_never_collides_and_follows_the_format(qtbot, window, export_folder):
    dialog = _dialog(qtbot, window, export_folder / "model.mindir")
    assert dialog.format.currentData().name == "onnx"
    assert dialog.destination.path() == export_folder / "model-1.onnx"  # model.onnx is MindSpore's export
    mindir = next(i for i in range(dialog.format.count()) if dialog.format.itemData(i).name == "mindir")
    dialog.format.setCurrentIndex(mindir)
    assert dialog.destination.path().suffix == ".mindir"
    assert not dialog.destination.path().exists()
    onnx_index = next(i for i in range(dialog.format.count()) if dialog.format.itemData(i).name == "onnx")
    dialog.format.setCurrentIndex(onnx_index)
    assert dialog.destination.path() == export_folder / "model-1.onnx"
    # a name the user typed keeps its stem and takes the chosen format's suffix
    dialog.destination.setText(str(export_folder / "mine.onnx"))
    dialog.format.setCurrentIndex(mindir)
    assert dialog.destination.path() == export_folder / "mine.mindir"


def test_suffix_that_contradicts_the_format_is_refused(qtbot, window, export_folder):
    dialog = _dialog(qtbot, window, export_folder / "model.mindir")
    target = export_folder / "wrong.mindir"
    dialog.destination.setText(str(target))
    assert dialog.format.currentData().name == "onnx"
    dialog.run_button.click()
    assert dialog.task is None and not target.exists()
    assert "does not end in .onnx" in dialog.status.text()


def test_empty_destination_asks_for_a_file_name(qtbot, window, export_folder):
    dialog = _dialog(qtbot, window, export_folder / "model.mindir")
    dialog.destination.setText("  ")
    dialog.run_button.click()
    assert dialog.task is None
    assert "Choose a file name" in dialog.status.text()
    assert "is a folder" not in dialog.status.text()


@pytest.mark.parametrize("answer", ["Keep it", "Replace"])
def test_existing_destination_asks_before_replacing(qtbot, window, export_folder, answer):
    dialog = _dialog(qtbot, window, export_folder / "model.mindir")
    existing = export_folder / "model.onnx"
    before = existing.read_bytes()
    dialog.destination.setText(str(existing))
    dialog.run_button.click()
    box = dialog.overwrite_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert "model.onnx already exists" in box.text()
    assert dialog.task is None, "nothing runs before the answer"
    button = next(b for b in box.buttons() if b.text() == answer)
    if answer == "Keep it":
        button.click()
        assert existing.read_bytes() == before
        assert "was kept" in dialog.status.text()
        assert dialog.task is None
    else:
        with qtbot.waitSignal(dialog.job_finished, timeout=60_000):
            button.click()
        assert existing.read_bytes() != before
        assert formats.load(existing).source_format == "onnx"


def test_parameter_file_converts_to_another_parameter_format(qtbot, window, export_folder):
    shutil.copy(LENET / "model.ckpt", export_folder / "model.ckpt")
    window.show()
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        window.open_files([export_folder / "model.ckpt"])
    assert window.actions_by_name["convert"].isEnabled()
    dialog = ConvertDialog(window, blocker.args[0])
    qtbot.addWidget(dialog)
    names = {dialog.format.itemData(i).name for i in range(dialog.format.count())}
    assert names == {"ckpt", "safetensors", "npz"}
    assert dialog.format.currentData().name != "ckpt"
    out = dialog.destination.path()
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as opened:
        dialog.run_button.click()
    assert opened.args[0].path == out and not opened.args[0].is_graph
    assert sorted(formats.load(out).params) == sorted(formats.load(LENET / "model.ckpt").params)
