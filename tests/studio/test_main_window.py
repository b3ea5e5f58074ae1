"""The real MainWindow driven like a person would: drop files, read the outline, search, convert."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from engine import formats
from engine.inspect import summarize
from studio.main_window import MainWindow
from studio.outline_model import PAYLOAD_ROLE
from studio.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "data" / "mindspore"
LENET = DATA / "lenet5"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(settings=Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def drop(window: MainWindow, *paths: Path) -> None:
    """Drag file urls over the window and drop them, as a file manager would (enter, then drop)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(50, 50), *args)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted(), "the window must accept dragged files"
    event = QDropEvent(QPointF(50, 50), *args)
    QApplication.sendEvent(window, event)


def open_by_drop(qtbot, window: MainWindow, path: Path):
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        drop(window, path)
    return blocker.args[0]


def section_rows(window: MainWindow, key: str) -> list[tuple[str, ...]]:
    model = window.outline.model
    section = model.section(key)
    return [model.item(model.index(r, 0, section)).columns for r in range(model.rowCount(section))]


def test_dropped_mindir_outline_matches_inspect(qtbot, window):
    doc = open_by_drop(qtbot, window, LENET / "model.mindir")
    expected = summarize(formats.load(LENET / "model.mindir"))
    assert window.tabs.count() == 1
    assert [r[0] for r in section_rows(window, "inputs")] == [t.name for t in expected.inputs]
    assert [r[1] for r in section_rows(window, "inputs")] == [t.dtype for t in expected.inputs]
    assert [r[0] for r in section_rows(window, "parameters")] == [p.name for p in expected.parameters]
    # A MindIR shows MindSpore's primitives first, with the counts inspect prints.
    ops = {r[0]: int(r[3]) for r in section_rows(window, "nodes")}
    plumbing = {r[0]: int(r[3]) for r in section_rows(window, "plumbing")}  # counted apart, not drawn
    assert ops | plumbing == expected.source_op_counts and not set(ops) & set(plumbing)
    assert set(plumbing) == {"Load", "Depend", "UpdateState", "MakeTuple", "Constant"}
    # The toggle shows the canonical ONNX graph and its op counts.
    view = window.current_view()
    with qtbot.waitSignal(view.mode_changed, timeout=30_000):
        window.actions_by_name["toggle_graph"].trigger()
    qtbot.waitUntil(lambda: "canonical" in doc.graphs, timeout=30_000)
    assert view.mode == "canonical"
    assert {r[0]: int(r[3]) for r in section_rows(window, "nodes")} == expected.op_counts
    totals = {r[0]: r[3] for r in section_rows(window, "totals")}
    assert totals["parameters"] == f"{expected.param_count:,}"


def test_search_selects_and_shows_node(qtbot, window):
    open_by_drop(qtbot, window, LENET / "model.onnx")
    view = window.current_view()
    window.actions_by_name["find"].trigger()
    matches = view.find("Conv")
    assert matches, "lenet5 has Conv nodes"
    assert view.selected_node() == matches[0]
    assert window.properties.current == ("node", matches[0])
    assert window.properties.rows()["op type"] == "Conv"
    assert "Weights" in {window.properties.tree.topLevelItem(i).text(0)
                         for i in range(window.properties.tree.topLevelItemCount())}
    view.find("Conv")  # Enter again moves to the next match
    assert view.selected_node() == matches[1 % len(matches)]
    assert view.find("no-such-node-anywhere") == []
    assert view.match_label.text() == "no match"


def test_parameter_selection_shows_statistics(qtbot, window):
    doc = open_by_drop(qtbot, window, LENET / "model.onnx")
    info = doc.summary.parameters[0]
    index = window.outline.model.section("parameters")
    child = window.outline.proxy.mapFromSource(window.outline.model.index(0, 0, index))
    window.outline.tree.setCurrentIndex(child)
    assert child.data(PAYLOAD_ROLE) is info
    qtbot.waitUntil(lambda: window.properties.stats is not None, timeout=30_000)
    from engine.export import graph_parameters

    array = np.asarray(graph_parameters(doc.model)[info.name], dtype=np.float64)
    assert window.properties.stats.max == pytest.approx(array.max())
    assert window.properties.histogram.isVisible()


def test_short_benchmark_plots_one_point_per_iteration(qtbot, window):
    open_by_drop(qtbot, window, LENET / "model.onnx")
    bench = window.bench
    bench.warmup.setValue(2)
    bench.iterations.setValue(37)
    with qtbot.waitSignal(bench.run_finished, timeout=60_000) as blocker:
        window.actions_by_name["benchmark"].trigger()
    result = blocker.args[0]
    assert result.iterations == 37
    assert bench.plot.point_count() == 37
    _, y = bench.plot.current.getOriginalDataset()
    np.testing.assert_allclose(y, np.asarray(result.latencies_ns) / 1e6)
    assert bench.stat_values()["median"] == f"{result.stats.median_ms:.4f} ms"
    assert bench.history.rowCount() == 1
    # A second run overlays the first when ticked.
    with qtbot.waitSignal(bench.run_finished, timeout=60_000):
        bench.run()
    assert bench.history.rowCount() == 2
    bench.history.item(1, 0).setCheckState(Qt.CheckState.Checked)
    assert len(bench.plot.overlays) == 1


def test_benchmark_can_be_cancelled(qtbot, window):
    open_by_drop(qtbot, window, LENET / "model.onnx")
    window.bench.warmup.setValue(0)
    window.bench.iterations.setValue(5_000_000)
    window.bench.run()
    qtbot.waitUntil(lambda: window.bench.buffer is not None and window.bench.buffer.count > 5, timeout=60_000)
    task = window.runner.current("bench")
    row = window.jobs.row_for(task)
    with qtbot.waitSignal(task.finished, timeout=60_000) as blocker:
        row.cancel_button.click()
    assert blocker.args == ["cancelled"]
    assert "Cancelled" in window.bench.status.text()
    assert window.bench.run_button.isEnabled()


def test_convert_writes_file_and_opens_it(qtbot, window, tmp_path):
    doc = open_by_drop(qtbot, window, LENET / "model.mindir")
    from studio.convert_dialog import ConvertDialog

    dialog = ConvertDialog(window, doc)
    out = tmp_path / "lenet5.onnx"
    dialog.destination.setText(str(out))
    assert dialog.format.currentData().name == "onnx"
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        dialog.run_button.click()
    assert out.is_file()
    assert blocker.args[0].path == out
    assert window.tabs.count() == 2
    assert formats.load(out).source_format == "onnx"
    dialog.close()


def test_bad_file_is_reported_and_window_keeps_working(qtbot, window, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with qtbot.waitSignal(window.open_failed, timeout=30_000) as blocker:
        drop(window, bad)
    path, message = blocker.args
    assert path == str(bad)
    assert "not a recognised model file" in message
    assert window.messages.isVisible() and "bad.onnx" in window.messages.text()
    qtbot.waitUntil(lambda: "bad.onnx" in window.log_view.plain_text(), timeout=5_000)
    assert window.tabs.count() == 0
    open_by_drop(qtbot, window, LENET / "model.onnx")  # still works
    assert window.tabs.count() == 1


def test_unsupported_suffix_is_refused_at_drop(qtbot, window, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    drop(window, notes)
    assert "notes.txt" in window.messages.text()
    assert window.runner.current(f"open:{notes}") is None


def test_checkpoint_dropped_on_graph_offers_export_with_report(qtbot, window, tmp_path):
    doc = open_by_drop(qtbot, window, LENET / "model.mindir")
    from studio.export_dialog import ExportDialog

    drop(window, LENET / "model.ckpt")
    choice = window.drop_choice  # bind into the graph, or open the file on its own
    assert choice is not None and choice.isVisible()
    next(b for b in choice.buttons() if b.text().startswith("Bind into")).click()
    dialog = window.findChild(ExportDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=60_000)
    assert dialog.report.ok and not dialog.report.missing
    assert "binds cleanly" in dialog.status.text()
    out = Path(dialog.output.path())
    assert not out.exists(), "checking the binding must not write anything"
    dialog.output.setText(str(tmp_path / "bound.onnx"))
    with qtbot.waitSignal(window.document_opened, timeout=60_000):
        dialog.run_button.click()
    assert (tmp_path / "bound.onnx").is_file()
    assert doc.path == LENET / "model.mindir"
    dialog.close()


def test_checkpoint_dropped_on_graph_can_open_instead(qtbot, window):
    open_by_drop(qtbot, window, LENET / "model.mindir")
    drop(window, LENET / "model.ckpt")
    with qtbot.waitSignal(window.document_opened, timeout=60_000) as blocker:
        next(b for b in window.drop_choice.buttons() if b.text() == "Open as a table").click()
    assert blocker.args[0].path == LENET / "model.ckpt" and not blocker.args[0].is_graph


def test_checkpoint_opens_as_table_and_diffs(qtbot, window, tmp_path):
    doc = open_by_drop(qtbot, window, LENET / "model.ckpt")
    view = window.current_view()
    assert view.params_view is not None
    assert view.params_view.table.rowCount() == len(doc.summary.parameters)
    from engine.formats import save
    from engine.model import Model
    from engine.params import ParameterSet

    params = ParameterSet(doc.model.params.items())
    first = next(iter(params))
    params[first] = params[first] + 0.5
    other = tmp_path / "other.npz"
    np.savez(other, **dict(params))
    from studio.diff_task import start_diff

    start_diff(window, doc, other)
    qtbot.waitUntil(lambda: view.params_view.diff_box.isVisible(), timeout=30_000)
    table = view.params_view.diff_table
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert rows.get(first) == "values differ"
    assert "1 with different values" in view.params_view.diff_title.text()
    del save, Model


def test_layout_recent_files_and_target_persist(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTUDIO_DATA_DIR", str(tmp_path / "data"))
    settings_file = tmp_path / "settings.ini"
    first = MainWindow(settings=Settings(settings_file))
    qtbot.addWidget(first)
    first.show()
    with qtbot.waitSignal(first.document_opened, timeout=60_000):
        first.open_files([LENET / "model.onnx"])
    first.log_dock.hide()
    target = first.targets.current_target()
    first.close()
    second = MainWindow(settings=Settings(settings_file))
    qtbot.addWidget(second)
    second.show()
    assert second.settings.recent_files()[0] == str((LENET / "model.onnx").resolve())
    assert second.recent_menu.actions()[0].text() == "model.onnx"
    assert second.targets.current_target() == target
    assert not second.log_dock.isVisible()
    second.close()


def test_profiled_benchmark_centres_hottest_node_readably(qtbot, window):
    """A long graph coloured by per-node time stays readable, centred on the hottest node, which is selected."""
    from studio.graph_view import READABLE_SCALE

    open_by_drop(qtbot, window, DATA / "mobilenetv2_small" / "model.onnx")
    view = window.current_view()
    bench = window.bench
    bench.warmup.setValue(1)
    bench.iterations.setValue(10)
    bench.profile.setChecked(True)
    with qtbot.waitSignal(bench.run_finished, timeout=120_000) as blocker:
        bench.run()
    profile = blocker.args[0].profile
    if profile is None or not profile.by_node:
        pytest.skip("this target gave no per-node profile")
    from studio.document import match_node_names

    raw = {o.name: o.total_us / max(profile.iterations, 1) for o in profile.by_node}
    qtbot.waitUntil(lambda: view.selected_node() is not None, timeout=30_000)
    per_run = match_node_names(raw, [n.name for n in view.graph.nodes])
    assert len(per_run) >= len(raw) // 2, "most profiled nodes map onto the graph"
    hottest = max(per_run, key=per_run.__getitem__)
    node = next(n for n in view.graph.nodes if n.id == view.selected_node())
    assert node.name == hottest
    graph_view = view.graph_view
    assert graph_view.scale_factor() >= READABLE_SCALE - 1e-9, "fitting the whole graph would show specks"
    centre = graph_view.mapFromScene(graph_view.items[node.id].sceneBoundingRect().center())
    assert graph_view.viewport().rect().contains(centre)
    assert window.properties.current == ("node", node.id)
    assert float(window.properties.rows()["µs per run"]) == pytest.approx(per_run[hottest], rel=1e-3)
    assert graph_view._legend is not None and graph_view._legend[0] == "µs per run"


def test_toggling_graph_mode_clears_a_source_node_from_properties(qtbot, window):
    open_by_drop(qtbot, window, LENET / "model.mindir")
    view = window.current_view()
    assert view.mode == "source"
    matches = view.find("Conv2D")
    assert matches and window.properties.current == ("node", matches[0])
    source_title = window.properties.title.text()
    with qtbot.waitSignal(view.mode_changed, timeout=30_000):
        window.actions_by_name["toggle_graph"].trigger()
    qtbot.waitUntil(lambda: view.graph is not None and view.mode == "canonical", timeout=30_000)
    shown = window.properties.current
    assert shown is None or (shown[0] == "node" and shown[1] in view.graph), shown
    assert window.properties.title.text() != source_title
    # Selecting in the ONNX graph and toggling back clears it the other way too.
    onnx_match = view.find("Conv")
    assert window.properties.current == ("node", onnx_match[0])
    with qtbot.waitSignal(view.mode_changed, timeout=30_000):
        window.actions_by_name["toggle_graph"].trigger()
    qtbot.waitUntil(lambda: view.mode == "source", timeout=30_000)
    shown = window.properties.current
    assert shown is None or shown[1] in view.graph


def test_benchmark_at_int8_precision_converts_and_records_it(qtbot, window):
    open_by_drop(qtbot, window, LENET / "model.onnx")
    chooser = window.targets
    chooser.precision.setCurrentText("int8")
    assert chooser.target_options().precision == "int8"
    bench = window.bench
    bench.warmup.setValue(1)
    bench.iterations.setValue(5)
    with qtbot.waitSignal(bench.run_finished, timeout=120_000) as blocker:
        window.actions_by_name["benchmark"].trigger()
    result = blocker.args[0]
    assert result.options["precision"] == "int8"
    assert "int8" in result.session_info["precision"] and "cosine" in result.session_info["precision"]


def test_precision_is_fp32_only_on_mindspore_targets(qtbot, window):
    chooser = window.targets
    names = [t.name for t in chooser.targets if t.available]
    if "mindspore:cpu" not in names:
        pytest.skip("mindspore:cpu not available here")
    chooser.precision.setCurrentText("fp16")
    assert chooser.select("mindspore:cpu")
    assert chooser.precision.currentText() == "fp32"
    assert not chooser.precision.model().item(1).isEnabled()


def test_cycle_collection_runs_only_on_the_gui_thread(window):
    """Automatic gc is off once a window exists; a GUI-thread timer collects instead (no worker-thread Qt deletes)."""
    import gc

    from studio import workers

    assert not gc.isenabled()
    assert workers._gui_gc is not None and workers._gui_gc.timer.isActive()
    assert gc.get_freeze_count() > 10_000  # start-up objects are out of every scan: a full pass stays short


def test_gui_collector_collects_the_youngest_generation_due(window):
    """The timer's step collects generation 0 when over its threshold, and cyclic garbage goes."""
    import gc
    import weakref

    from studio import workers

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle only the collector frees
    gone = weakref.ref(a)
    del a, b
    assert not gc.isenabled()
    kept = [[] for _ in range(gc.get_threshold()[0] + 1)]  # live containers: generation 0 is over its threshold
    assert gc.get_count()[0] > gc.get_threshold()[0], gc.get_count()
    before = sum(s["collections"] for s in gc.get_stats())
    workers._gui_gc.check()
    assert sum(s["collections"] for s in gc.get_stats()) > before  # (a worker thread may collect too)
    assert gone() is None and gc.get_count()[0] < len(kept)


def test_outline_columns_stay_in_view_and_fit_once(qtbot, window, monkeypatch):
    """Every outline column is in view at the dock's width; a change of height measures nothing."""
    open_by_drop(qtbot, window, DATA / "mobilenetv2_small" / "model.mindir")
    tree = window.outline.tree
    qtbot.waitUntil(lambda: tree.isVisible() and tree.viewport().width() > 0)
    widths = [tree.columnWidth(c) for c in range(4)]
    assert sum(widths) <= tree.viewport().width()  # the Size column is not off-screen
    for column in (1, 3):  # Type and Size are not cut
        assert widths[column] >= tree.sizeHintForColumn(column)
    assert widths[0] >= min(tree.sizeHintForColumn(0), 120) and widths[2] >= 60
    measured: list[int] = []
    original = type(tree).sizeHintForColumn
    monkeypatch.setattr(type(tree), "sizeHintForColumn", lambda self, c: measured.append(c) or original(self, c))
    window.outline.resize(window.outline.width(), window.outline.height() - 40)  # a dock below opened
    QApplication.processEvents()
    assert measured == []
    assert [tree.columnWidth(c) for c in range(4)] == widths


def test_gui_takes_the_interpreter_lock_back_quickly(window):
    """Worker threads hold the interpreter lock at most 1 ms at a time while the window runs."""
    import sys

    from studio.workers import GUI_SWITCH_INTERVAL_S

    assert sys.getswitchinterval() == pytest.approx(GUI_SWITCH_INTERVAL_S) and GUI_SWITCH_INTERVAL_S <= 0.001
