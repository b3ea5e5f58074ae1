"""The batch dialog: a folder's models run with a live table; cluster nodes' targets grouped by host."""

from __future__ import annotations

import shutil

import pytest

from studio.batch_dialog import CLUSTER_KEY, BatchDialog, cluster_address
from studio.main_window import MainWindow
from studio.settings import Settings
from tests_helpers import LOCAL_FIXTURES


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    yield win
    win.close()


def test_batch_fills_the_table_as_models_finish(qtbot, window, tmp_path):
    zoo = tmp_path / "zoo"
    (zoo / "lenet5").mkdir(parents=True)
    shutil.copy(LOCAL_FIXTURES / "lenet5" / "model.mindir", zoo / "lenet5" / "model.mindir")
    (zoo / "broken.onnx").write_bytes(b"junk" * 100)
    dialog = BatchDialog(window, [zoo])
    qtbot.addWidget(dialog)
    dialog.workers.setValue(0)
    dialog.parity.setText("onnxruntime:cpu")
    dialog.cluster.setText("")
    with qtbot.waitSignals([dialog.record_finished, dialog.record_finished], timeout=60_000):
        dialog.run_button.click()
    qtbot.waitUntil(lambda: dialog.task is not None and dialog.task.state == "done", timeout=60_000)
    assert dialog.table.rowCount() == 2
    cells = {dialog.table.item(r, 0).text(): dialog.table.item(r, 1).text() for r in range(2)}
    assert cells == {"broken.onnx": "failed", "lenet5/model.mindir": "ok"}
    error = dialog.table.item([dialog.table.item(r, 0).text() for r in range(2)].index("broken.onnx"),
                              dialog.table.columnCount() - 1).text()
    assert "broken.onnx" in error
    assert "1 ok, 0 mismatch, 1 failed" in dialog.status.text()
    assert (tmp_path / "zoo-batch" / "report.html").is_file()


def test_cluster_setting_is_kept_and_nodes_group_by_host(qtbot, window):
    window.settings.set_value(CLUSTER_KEY, "ray://lab:10001")
    assert cluster_address(window.settings) == "ray://lab:10001"
    dialog = BatchDialog(window, [])
    qtbot.addWidget(dialog)
    assert dialog.cluster.text() == "ray://lab:10001"
    target = {"name": "onnxruntime:cpu", "available": True, "reason": ""}
    nodes = [{"host": "gpu-box", "name": "zone=gpu", "cpu_model": "Xeon", "accelerators": ["onnxruntime:cuda"],
              "targets": [target]},
             {"host": "arm-board", "name": "zone=edge", "cpu_model": "Cortex-A76", "accelerators": [],
              "targets": [target]}]
    dialog.show_nodes(nodes)
    hosts = [dialog.nodes.topLevelItem(i).text(0) for i in range(dialog.nodes.topLevelItemCount())]
    assert hosts == ["arm-board", "gpu-box"]
    gpu = dialog.nodes.topLevelItem(1).child(0)
    assert "Xeon" in gpu.text(0) and "onnxruntime:cuda" in gpu.text(2)
    assert gpu.child(0).text(0) == "onnxruntime:cpu@zone=gpu"
    model = window.targets.combo.model()
    texts = [model.item(r).text() for r in range(model.rowCount())]
    assert texts[-4:] == ["── arm-board ──", "  onnxruntime:cpu@zone=edge", "── gpu-box ──", "  onnxruntime:cpu@zone=gpu"]
    assert not model.item(model.rowCount() - 1).isEnabled()  # listed, not run by this machine's panels
    local = window.targets.current_target()
    window.targets.refresh()
    assert window.targets.current_target() == local
    assert model.item(model.rowCount() - 1).text() == "  onnxruntime:cpu@zone=gpu"  # kept across a refresh


def test_folder_drop_opens_the_batch_dialog(qtbot, window, tmp_path):
    from PySide6.QtCore import QMimeData, QUrl

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path))])
    assert window.handle_drop(mime)
    dialogs = window.findChildren(BatchDialog)
    assert len(dialogs) == 1 and dialogs[0].folders == [tmp_path]
    assert dialogs[0].output.text() == str(tmp_path.parent / f"{tmp_path.name}-batch")
    dialogs[0].reject()


def test_node_and_shared_fs_reach_the_batch_and_need_a_cluster(qtbot, window, tmp_path, monkeypatch):
    """"Run on node" and "Shared filesystem" are --on and --shared-fs: passed through, refused without a cluster."""
    import engine.batch

    calls: list[dict] = []

    def fake_run_batch(inputs, outdir, options, **kwargs):
        calls.append(kwargs)
        raise RuntimeError("stop here")  # the dialog reports it; nothing runs

    monkeypatch.setattr(engine.batch, "run_batch", fake_run_batch)
    dialog = BatchDialog(window, [tmp_path])
    qtbot.addWidget(dialog)
    dialog.cluster.setText("")
    dialog.on_node.setText("zone=lab")
    dialog.run_button.click()
    assert "cluster" in dialog.status.text() and dialog.task is None and calls == []

    dialog.cluster.setText("ray://lab:10001")
    dialog.shared_fs.setChecked(True)
    dialog.run_button.click()
    qtbot.waitUntil(lambda: bool(calls), timeout=10_000)
    assert calls[0]["cluster"] == "ray://lab:10001" and calls[0]["on"] == "zone=lab" and calls[0]["shared_fs"] is True
