"""Validate panel, screenshot command, error hook, workers and resources."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from engine.jobs import Job
from studio.errors import ErrorReporter, describe
from studio.main_window import MainWindow
from studio.settings import Settings
from studio.workers import TaskRunner

LENET = Path(__file__).resolve().parents[1] / "data" / "mindspore" / "lenet5"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.document_opened, timeout=60_000):
        win.open_files([LENET / "model.onnx"])
    yield win
    win.close()


def test_validate_panel_shows_parity_table(qtbot, window):
    panel = window.validate_panel
    index = next((i for i in range(panel.compare.count()) if panel.compare.itemData(i) == ("target", "reference")), -1)
    if index < 0:
        pytest.skip("the ONNX reference evaluator target is not available")
    panel.compare.setCurrentIndex(index)
    with qtbot.waitSignal(panel.validated, timeout=120_000) as blocker:
        window.actions_by_name["validate"].trigger()
    report = blocker.args[0]
    rows = panel.parity_rows()
    assert len(rows) == sum(len(c.outputs) for c in report.comparisons) >= 1
    assert rows[0][0] == report.comparisons[0].outputs[0].name
    assert ("PASSED" in panel.verdict.text()) == report.passed


def test_validate_failure_selects_first_divergent_node(qtbot, window, tmp_path):
    """A perturbed copy diverges at a known node: the graph selects it after validation."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(LENET / "model.onnx")
    consumer = {i: n for n in proto.graph.node for i in n.input}
    init = next(t for t in proto.graph.initializer if t.name in consumer and consumer[t.name].op_type == "Gemm")
    array = numpy_helper.to_array(init) + 1.0
    init.CopyFrom(numpy_helper.from_array(array.astype(np.float32), init.name))
    changed = tmp_path / "perturbed.onnx"
    onnx.save(proto, changed)
    with qtbot.waitSignal(window.document_opened, timeout=60_000):
        window.open_files([changed])
    window.tabs.setCurrentIndex(0)  # validate the original against the perturbed copy
    panel = window.validate_panel
    panel.refresh_choices()
    panel.compare.setCurrentIndex(panel.compare.findText("model perturbed.onnx"))
    with qtbot.waitSignal(panel.validated, timeout=120_000) as blocker:
        panel.run()
    report = blocker.args[0]
    assert not report.passed
    assert "FAILED" in panel.verdict.text()
    if report.first_divergent is None:
        pytest.skip(f"no divergent node located: {report.divergence_note}")
    view = window.current_view()
    expected = next(n.id for n in view.graph.nodes if n.name == report.first_divergent.node)
    assert view.selected_node() == expected
    from studio.graph_view import READABLE_SCALE

    graph_view = view.graph_view
    assert graph_view.scale_factor() >= READABLE_SCALE - 1e-9
    centre = graph_view.mapFromScene(graph_view.items[expected].sceneBoundingRect().center())
    assert graph_view.viewport().rect().contains(centre)
    assert window.properties.current == ("node", expected)


def test_screenshot_command_writes_png(tmp_path):
    from engine.cli import main

    out = tmp_path / "shot.png"
    assert main(["gui", str(LENET / "model.mindir"), "--screenshot", str(out), "--size", "900x600"]) == 0
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)


def test_screenshot_of_bad_file_exits_nonzero(tmp_path, capsys):
    from engine.cli import main

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    assert main(["gui", str(bad), "--screenshot", str(tmp_path / "x.png")]) == 1
    assert "not a recognised model file" in capsys.readouterr().err


def test_excepthook_logs_and_keeps_running(qtbot, caplog):
    reporter = ErrorReporter()
    reporter.show_dialogs = False
    reporter.install()
    try:
        assert sys.excepthook == reporter.excepthook
        with qtbot.waitSignal(reporter.error_reported, timeout=5_000) as blocker:
            try:
                raise ZeroDivisionError("boom")
            except ZeroDivisionError:
                with caplog.at_level(logging.ERROR, logger="studio.errors"):
                    sys.excepthook(*sys.exc_info())
        assert "ZeroDivisionError: boom" in blocker.args[0]
        assert "boom" in caplog.text
    finally:
        reporter.uninstall()
    assert sys.excepthook != reporter.excepthook


def test_engine_errors_keep_file_and_hint():
    from engine.errors import FormatError

    text = describe(FormatError("file is empty", path="/x/m.onnx", hint="re-export it"), "Cannot open m.onnx")
    assert text.headline == "Cannot open m.onnx"
    assert text.detail == "file is empty" and text.hint == "re-export it" and text.expected


def test_new_task_with_same_key_cancels_the_old(qtbot):
    import threading

    runner = TaskRunner()
    release = threading.Event()

    def slow(job: Job) -> str:
        while not release.wait(0.01):
            job.check()
        return "slow"

    first = runner.start("panel", "first", slow)
    with qtbot.waitSignal(first.finished, timeout=10_000) as cancelled:
        second = runner.start("panel", "second", lambda job: "fast")
    assert cancelled.args == ["cancelled"]
    qtbot.waitUntil(lambda: second.state == "done", timeout=10_000)
    assert second.result == "fast" and runner.current("panel") is second
    release.set()


def test_worker_failure_reaches_the_panel_callback(qtbot):
    runner = TaskRunner()
    errors = []
    task = runner.start("x", "fails", lambda job: 1 / 0, on_error=errors.append)
    qtbot.waitUntil(lambda: task.state == "failed", timeout=10_000)
    assert isinstance(errors[0], ZeroDivisionError)


def test_every_icon_renders(qtbot):
    from studio.icons import icon, icon_names

    names = icon_names()
    assert {"open", "convert", "optimize", "validate", "benchmark", "deploy-studio"} <= set(names)
    for name in names:
        assert not icon(name).pixmap(24, 24).isNull(), name


def test_about_lists_runtime_versions(qtbot):
    from studio.about_dialog import AboutDialog, versions

    info = versions()
    assert info["ONNX Runtime"] != "not installed"
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    assert info["ONNX Runtime"] in dialog.text.text()
    assert "MindSpore" in dialog.text.text()


def test_threads_sweep_draws_one_point_per_setting(qtbot, window):
    bench = window.bench
    bench.warmup.setValue(1)
    bench.iterations.setValue(5)
    bench.sweep.setCurrentText("threads")
    bench.sweep_values.setText("1, 2")
    with qtbot.waitSignal(bench.run_finished, timeout=120_000) as blocker:
        bench.run()
    result = blocker.args[0]
    assert [p.threads for p in result.points] == [1, 2]
    assert bench.plot.sweep.isVisible()
    xs, ys = bench.plot.sweep_median.getData()
    assert list(xs) == [1.0, 2.0]
    assert list(ys) == [p.result.stats.median_ms for p in result.points]


def test_report_export_and_plot_png(qtbot, window, tmp_path):
    bench = window.bench
    assert not bench.report_button.isEnabled()
    bench.warmup.setValue(1)
    bench.iterations.setValue(12)
    with qtbot.waitSignal(bench.run_finished, timeout=60_000):
        bench.run()
    assert bench.report_button.isEnabled() and bench.png_button.isEnabled()
    folder = tmp_path / "report"
    folder.mkdir()
    bench.export_report(folder)
    qtbot.waitUntil(lambda: window.runner.current("bench-report").state != "running", timeout=30_000)
    assert window.runner.current("bench-report").state == "done"
    assert sorted(p.name for p in folder.iterdir()) == ["latencies.csv", "report.html", "result.json"]
    assert len((folder / "latencies.csv").read_text().strip().splitlines()) >= 12
    png = tmp_path / "plot.png"
    assert bench.save_plot(png)
    from PySide6.QtGui import QImage

    assert not QImage(str(png)).isNull()


def test_history_lists_saved_runs_from_earlier_sessions(qtbot, window, tmp_path):
    """Runs saved before this window opened are listed, newest first, and overlay when ticked."""
    from engine import formats
    from engine.bench import benchmark, history
    from studio.bench_panel import BenchPanel

    model = formats.load(LENET / "model.onnx")
    counts = {}
    for n in (7, 9):
        result = benchmark(model, "onnxruntime:cpu", warmup=0, iterations=n)
        counts[history.save_run(result.to_dict())] = n
    ids = list(counts)
    panel = BenchPanel(window)  # a fresh panel, as in a new session
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.history.rowCount() == 2, timeout=30_000)
    assert [panel.history.item(r, 0).text() for r in range(2)] == sorted(ids, reverse=True)
    panel.history.item(1, 0).setCheckState(Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: len(panel.plot.overlays) == 1, timeout=30_000)
    label = panel.history.item(1, 0).text()
    name = panel.history_box.legend_name(1)  # the legend says when, where and how fast, not the run id
    assert label not in name and "onnxruntime:cpu" in name
    _, y = panel.plot.overlays[name].getOriginalDataset()
    assert len(y) == counts[label]


def test_history_is_bounded(qtbot, window):
    from studio.bench_panel import HISTORY_LIMIT

    bench = window.bench

    class Fake:
        target, model, started_at, iterations, latencies_ns, run_id = "t", "m", "", 1, [1000], ""

        class stats:  # noqa: N801 - a stand-in for LatencyStats
            median_ms = 0.001

    for i in range(HISTORY_LIMIT + 5):
        bench.add_history(f"run {i}", Fake())
    assert bench.history.rowCount() == HISTORY_LIMIT
    assert bench.history.item(0, 0).text() == f"run {HISTORY_LIMIT + 4}"
    assert len(bench.runs) == HISTORY_LIMIT


def test_optimize_auto_lists_variants_and_opens_kept_model(qtbot, window, tmp_path):
    from studio.optimize_dialog import OptimizeDialog

    doc = window.current_document()
    dialog = OptimizeDialog(window, doc)
    qtbot.addWidget(dialog)
    dialog.preset.setCurrentText("auto")
    dialog.iterations.setValue(3)
    out = tmp_path / "lenet5.auto.onnx"
    dialog.destination.setText(str(out))
    opened: list = []
    window.document_opened.connect(opened.append)
    dialog.run_button.click()
    # The task's state turns "done" one queued event before the dialog's result slot runs: wait for that.
    qtbot.waitUntil(lambda: dialog.task is not None and (dialog.result is not None
                                                        or dialog.task.state in ("failed", "cancelled")),
                    timeout=300_000)
    assert dialog.task.state == "done", dialog.status.text()
    result = dialog.result
    assert result.variants, "preset auto builds variants"
    table = dialog.variants
    assert table.isVisibleTo(dialog) and table.rowCount() == len(result.variants)
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    chosen_col, reason_col = headers.index("Chosen"), headers.index("Reason")
    for row, variant in enumerate(result.variants):
        assert table.item(row, 0).text() == variant.name
        assert (table.item(row, chosen_col).text() == "✔") == variant.chosen
        if not variant.chosen:
            assert table.item(row, reason_col).text() == variant.reason != ""
    assert sum(v.chosen for v in result.variants) == 1
    failed: list = []
    window.open_failed.connect(lambda path, message: failed.append(message))
    qtbot.waitUntil(lambda: bool(opened) or bool(failed), timeout=60_000)
    assert not failed, failed
    assert opened[0].path == out and out.is_file()
    assert window.tabs.count() == 2 and window.documents()[0].path == doc.path


def test_parameter_table_sorts_numerically(qtbot, window):
    with qtbot.waitSignal(window.document_opened, timeout=60_000):
        window.open_files([LENET / "model.ckpt"])
    table = window.current_view().params_view.table
    size_col = 3
    table.sortItems(size_col, Qt.SortOrder.AscendingOrder)
    sizes = [int(table.item(r, size_col).text().replace(",", "")) for r in range(table.rowCount())]
    assert len(set(sizes)) > 2
    assert sizes == sorted(sizes)
    assert [table.item(r, size_col).text() for r in range(table.rowCount())] != sorted(
        table.item(r, size_col).text() for r in range(table.rowCount())), "text order would differ"
    table.sortItems(4, Qt.SortOrder.DescendingOrder)
    nbytes = [int(table.item(r, 4).text().replace(",", "")) for r in range(table.rowCount())]
    assert nbytes == sorted(nbytes, reverse=True)
