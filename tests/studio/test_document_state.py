"""Results belong to their document: switching tabs shows the active model's bench and validate state."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.main_window import MainWindow
from studio.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "data" / "mindspore"
LENET = DATA / "lenet5" / "model.onnx"
MLP = DATA / "mlp_bn_dropout" / "model.onnx"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    for path in (LENET, MLP):
        with qtbot.waitSignal(win.document_opened, timeout=60_000):
            win.open_files([path])
    win.tabs.setCurrentIndex(0)
    yield win
    win.close()


def _index_of(combo, data) -> int:
    # findData compares QVariants, which cannot see inside a tuple holding a Python object
    return next(i for i in range(combo.count()) if combo.itemData(i) == data)


def test_benchmark_results_follow_the_active_tab(qtbot, window):
    bench = window.bench
    lenet, mlp = window.documents()
    assert window.current_document() is lenet
    bench.warmup.setValue(1)
    bench.iterations.setValue(12)
    with qtbot.waitSignal(bench.run_finished, timeout=60_000) as blocker:
        bench.run()
    result = blocker.args[0]
    median = bench.stat_values()["median"]
    assert median == f"{result.stats.median_ms:.4f} ms"
    assert "lenet5/model.onnx" in bench.results_title.text()
    assert bench.report_button.isEnabled()
    assert bench.plot.point_count() == 12

    window.tabs.setCurrentIndex(1)  # mlp: never benchmarked
    assert window.current_document() is mlp
    assert all(v == "" for v in bench.stat_values().values())
    assert not bench.report_button.isEnabled()
    assert bench.plot.point_count() == 0
    assert "mlp_bn_dropout/model.onnx" in bench.results_title.text()
    assert "lenet5" not in bench.status.text()
    # the history lists only the active model's runs
    assert bench.history_rows() == []
    assert len(bench.history_rows(visible_only=False)) == 1

    window.tabs.setCurrentIndex(0)  # back to lenet: its result again
    assert bench.stat_values()["median"] == median
    assert bench.report_button.isEnabled()
    assert bench.plot.point_count() == 12
    assert [r[1] for r in bench.history_rows()] == ["lenet5/model.onnx"]


def test_benchmark_finishing_on_another_tab_stays_with_its_model(qtbot, window):
    bench = window.bench
    lenet, mlp = window.documents()
    bench.warmup.setValue(1)
    bench.iterations.setValue(400)
    with qtbot.waitSignal(bench.run_finished, timeout=60_000) as blocker:
        bench.run()
        window.tabs.setCurrentIndex(1)  # switch while lenet is still being timed
    assert blocker.args[0].model == "lenet5/model.onnx"
    assert window.current_document() is mlp
    assert all(v == "" for v in bench.stat_values().values())
    assert not bench.report_button.isEnabled()
    assert lenet.bench_result is blocker.args[0] and mlp.bench_result is None
    window.tabs.setCurrentIndex(0)
    assert bench.stat_values()["iterations"] == "400"


def test_validation_and_compare_choice_belong_to_their_document(qtbot, window, tmp_path):
    panel = window.validate_panel
    lenet, mlp = window.documents()
    copy = tmp_path / "copy" / "model.onnx"  # same file name as lenet's: the compare list shows the folder
    copy.parent.mkdir()
    copy.write_bytes(LENET.read_bytes())
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        window.open_files([copy])
    twin = blocker.args[0]
    window.tabs.setCurrentIndex(0)
    assert window.current_document() is lenet
    assert panel.compare.itemText(_index_of(panel.compare, ("model", twin))) == "model copy/model.onnx"
    panel.compare.setCurrentIndex(_index_of(panel.compare, ("model", twin)))
    with qtbot.waitSignal(panel.validated, timeout=120_000) as blocker:
        panel.run()
    assert blocker.args[0].passed
    assert "lenet5/model.onnx" in panel.verdict.text() and "PASSED" in panel.verdict.text()
    lenet_rows = panel.parity_rows()
    assert lenet_rows
    # choose to compare lenet with mlp, then switch to mlp: mlp never compares with itself or inherits it
    panel.compare.setCurrentIndex(_index_of(panel.compare, ("model", mlp)))
    assert panel.compare.currentData() == ("model", mlp)

    window.tabs.setCurrentIndex(1)
    assert window.current_document() is mlp
    assert panel.parity_rows() == []
    assert "PASSED" not in panel.verdict.text() and "FAILED" not in panel.verdict.text()
    assert "mlp_bn_dropout/model.onnx" in panel.verdict.text()
    assert panel.compare.currentData()[0] == "target"
    assert all(panel.compare.itemData(i) != ("model", mlp) for i in range(panel.compare.count()))

    window.tabs.setCurrentIndex(0)
    assert panel.compare.currentData() == ("model", mlp)
    assert panel.parity_rows() == lenet_rows
    assert "lenet5/model.onnx" in panel.verdict.text() and "PASSED" in panel.verdict.text()


def test_closing_a_tab_cancels_its_running_benchmark(qtbot, window):
    bench = window.bench
    bench.warmup.setValue(0)
    bench.iterations.setValue(5_000_000)
    bench.run()
    task = window.runner.current("bench")
    qtbot.waitUntil(lambda: bench.buffer is not None and bench.buffer.count > 5, timeout=60_000)
    with qtbot.waitSignal(task.finished, timeout=60_000) as blocker:
        window.close_tab(0)
    assert blocker.args == ["cancelled"]
    assert window.current_document() is not None and window.current_document().label == "mlp_bn_dropout/model.onnx"


def test_validation_finishing_on_another_tab_stays_with_its_model(qtbot, window, tmp_path):
    panel = window.validate_panel
    lenet, mlp = window.documents()
    copy = tmp_path / "twin" / "model.onnx"
    copy.parent.mkdir()
    copy.write_bytes(LENET.read_bytes())
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        window.open_files([copy])
    twin = blocker.args[0]
    window.tabs.setCurrentIndex(0)
    panel.compare.setCurrentIndex(_index_of(panel.compare, ("model", twin)))
    with qtbot.waitSignal(panel.validated, timeout=120_000) as done:
        panel.run()
        window.tabs.setCurrentIndex(1)  # results arrive only once the event loop runs: mlp is active by then
    assert lenet.validation is done.args[0] and mlp.validation is None
    assert panel.parity_rows() == [] and "PASSED" not in panel.verdict.text()
    window.tabs.setCurrentIndex(0)
    assert panel.parity_rows() and "lenet5/model.onnx" in panel.verdict.text()
