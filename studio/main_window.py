"""The studio's main window: docks, toolbar, tabs of open documents, drag and drop."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QTabWidget, QVBoxLayout, QWidget

from studio.document import Document, load_document
from studio.document_view import DocumentView
from studio.errors import describe
from studio.features import feature
from studio.icons import icon
from studio.jobs_dock import JobsDock
from studio.log_view import LogView
from studio.message_bar import MessageBar
from studio.outline_view import OutlineView
from studio.properties_view import PropertiesView
from studio.settings import Settings
from studio.target_chooser import TargetChooser
from studio.workers import GUI_SWITCH_INTERVAL_S, TaskRunner, collect_garbage_on_gui_thread

log = logging.getLogger(__name__)

PARAM_SUFFIXES = (".ckpt", ".safetensors", ".npz")


def _dock(window: QMainWindow, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(name)  # saveState needs stable names
    dock.setWidget(widget)
    window.addDockWidget(area, dock)
    return dock


class MainWindow(QMainWindow):
    """Outline (left), documents (centre), properties (right), jobs/log/bench/validate (bottom).

    Signals:
        document_opened(object): a Document finished loading and has a tab.
        open_failed(str, str): a file could not be opened (path, one-line reason).
    """

    document_opened = Signal(object)
    open_failed = Signal(str, str)

    def __init__(self, settings: Settings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        collect_garbage_on_gui_thread()
        sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)  # the GUI thread gets the interpreter lock back quickly
        self.settings = settings or Settings()
        self.runner = TaskRunner(parent=self)
        self.setWindowTitle("Deploy Studio")
        self.drop_choice: Any = None  # the open-or-bind question while it is asked
        self.setWindowIcon(icon("deploy-studio"))
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self.messages = MessageBar(self)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        from studio.welcome import WelcomeWidget

        self.welcome = WelcomeWidget(self)
        self.welcome.open_requested.connect(self.open_dialog)
        self.welcome.file_requested.connect(lambda p: self.open_files([p]))
        centre = QWidget(self)
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(0)
        centre_layout.addWidget(self.messages)
        centre_layout.addWidget(self.welcome, 1)
        centre_layout.addWidget(self.tabs, 1)
        self.setCentralWidget(centre)

        self.outline = OutlineView(self)
        self.properties = PropertiesView(self.runner, self)
        self.jobs = JobsDock(self.runner, self)
        self.log_view = LogView(self)
        self.targets = TargetChooser(self)
        from studio.bench_panel import BenchPanel
        from studio.validate_panel import ValidatePanel

        from studio.input_panel import InputPanel

        self.input_panel = InputPanel(self)
        self.bench = BenchPanel(self, self)
        self.validate_panel = ValidatePanel(self, self)
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.outline_dock = _dock(self, "Outline", "outline", self.outline, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.properties_dock = _dock(self, "Properties", "properties", self.properties,
                                     Qt.DockWidgetArea.RightDockWidgetArea)
        self.inputs_dock = _dock(self, "Inputs", "inputs", self.input_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.bench_dock = _dock(self, "Benchmark", "benchmark", self.bench, bottom)
        self.validate_dock = _dock(self, "Validate", "validate", self.validate_panel, bottom)
        self.jobs_dock = _dock(self, "Jobs", "jobs", self.jobs, bottom)
        self.log_dock = _dock(self, "Log", "log", self.log_view, bottom)
        for dock in (self.validate_dock, self.jobs_dock, self.log_dock):
            self.tabifyDockWidget(self.bench_dock, dock)
        self.bench_dock.raise_()
        self.shapes_label = QLabel(self)
        self.shapes_label.setToolTip("The inputs benchmark and validate use for the active model (Inputs panel)")
        self.statusBar().addPermanentWidget(self.shapes_label)
        self.input_panel.inputs_changed.connect(self._on_inputs_changed)
        self.outline.item_selected.connect(self._on_outline_selected)
        self.runner.task_started.connect(self._on_task_started)

        from studio.actions import build_actions

        self.actions_by_name: dict[str, QAction] = build_actions(self)
        self.targets.target_changed.connect(self.settings.set_last_target)
        self.targets.threads.valueChanged.connect(self.settings.set_threads)
        self.targets.threads.setValue(self.settings.threads())
        self.targets.refresh(preferred=self.settings.last_target())
        self._restore_layout()
        self._update_actions()
        self._feature_timer = QTimer(self)  # engine parts may appear while the window runs (dev installs)
        self._feature_timer.timeout.connect(self._update_actions)
        self._feature_timer.start(5000)

    # Documents ----------------------------------------------------------------
    def documents(self) -> list[Document]:
        return [self.tabs.widget(i).document for i in range(self.tabs.count())]

    def current_view(self) -> DocumentView | None:
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, DocumentView) else None

    def view_for(self, document: Document) -> DocumentView | None:
        """The tab showing ``document``, or None once it is closed."""
        return next((self.tabs.widget(i) for i in range(self.tabs.count())
                     if getattr(self.tabs.widget(i), "document", None) is document), None)

    def current_document(self) -> Document | None:
        view = self.current_view()
        return view.document if view else None

    def open_dialog(self) -> None:
        from engine import formats

        files, _ = QFileDialog.getOpenFileNames(self, "Open model", self.settings.last_folder(),
                                                formats.file_dialog_filter())
        if files:
            self.settings.set_last_folder(Path(files[0]).parent)
            self.open_files(files)

    def open_files(self, paths: list[str | Path]) -> None:
        """Open each file on a worker; each gets a tab when it has loaded."""
        for raw in paths:
            path = Path(raw).expanduser()
            existing = next((i for i, d in enumerate(self.documents()) if d.path.resolve() == path.resolve()), None)
            if existing is not None:
                self.tabs.setCurrentIndex(existing)
                continue
            self.runner.start(f"open:{path}", f"Open {path.name}", lambda job, p=path: load_document(p, job),
                              on_result=self._on_loaded,
                              on_error=lambda exc, p=path: self._on_open_failed(p, exc))

    def _on_loaded(self, document: Document) -> None:
        view = DocumentView(document, self.runner, self)
        view.node_selected.connect(self._on_node_selected)
        view.colors_applied.connect(lambda v=view: self.bench.relabel_profile(v))
        if view.graph_view is not None:  # a weight clicked inside a node: its values and statistics
            view.graph_view.weight_selected.connect(self.properties.show_weight)
        view.mode_changed.connect(lambda mode, v=view: self._on_mode_changed(v, mode))
        if view.params_view is not None:
            view.params_view.diff_requested.connect(lambda v=view: self.diff_params(v.document))
            view.params_view.param_selected.connect(lambda name, v=view: self._on_param_selected(v, name))
        index = self.tabs.addTab(view, icon("graph" if document.is_graph else "params"), document.title)
        self.tabs.setTabToolTip(index, str(document.path))
        self._retitle_tabs()
        if self.messages.isVisible() and self.messages.severity == "error":
            self.messages.hide()  # an earlier failure's banner must not outlive this successful open
        self.tabs.setCurrentIndex(index)
        self.settings.add_recent_file(document.path)
        self.refresh_recent_menu()
        for note in document.notes:
            log.info("%s: %s", document.title, note)
        log.info("opened %s (%s)", document.path, document.model.source_format)
        self.document_opened.emit(document)

    def _on_open_failed(self, path: Path, exc: BaseException) -> None:
        text = describe(exc, f"Cannot open {path.name}")
        self.messages.show_error(text)
        log.error("%s", text.one_line())
        if not text.expected:
            log.error("%s", getattr(exc, "studio_traceback", ""))
        self.open_failed.emit(str(path), text.one_line())

    def _retitle_tabs(self) -> None:
        """Tabs read ``model.mindir``; where two files share a name, ``folder/model.mindir``."""
        docs = self.documents()
        titles = [d.title for d in docs]
        for i, doc in enumerate(docs):
            self.tabs.setTabText(i, doc.title if titles.count(doc.title) == 1 else doc.label)

    def close_tab(self, index: int) -> None:
        view = self.tabs.widget(index)
        if view is not None:
            self.bench.forget(view.document)  # a run of a closed model has nowhere to show
        self.tabs.removeTab(index)
        if view is not None:
            view.deleteLater()
        self._retitle_tabs()
        self.validate_panel.refresh_choices()  # a closed model is no longer something to compare with

    def _on_tab_changed(self, _index: int) -> None:
        view = self.current_view()
        self.welcome.setVisible(view is None)
        self.tabs.setVisible(view is not None)
        document = view.document if view else None
        self.properties.set_document(document)
        self._refresh_outline()
        self.input_panel.set_document(document)
        if self.input_panel.unresolved():
            self.inputs_dock.show()  # a model with dims to choose: the panel that asks is in view
        self._show_shapes()
        self.bench.set_document(document)
        self.validate_panel.set_document(document)
        self._update_actions()
        self.setWindowTitle(f"{document.title} - Deploy Studio" if document else "Deploy Studio")

    def _on_inputs_changed(self) -> None:
        self._show_shapes()
        self.bench.inputs_changed()
        self.validate_panel.inputs_changed()

    def _show_shapes(self) -> None:
        text = self.input_panel.shapes_text()
        missing = self.input_panel.unresolved()
        self.shapes_label.setText(f"Inputs: {text}" + (f" (choose {', '.join(missing)})" if missing else "")
                                  if text else "")

    def show_inputs(self, focus_missing: bool = False) -> None:
        """Show the Inputs panel; with ``focus_missing``, focus the first dynamic dimension still to choose."""
        self.inputs_dock.show()
        self.inputs_dock.raise_()
        if focus_missing:
            self.input_panel.focus_first_unresolved()

    def _on_mode_changed(self, view: DocumentView, _mode: str) -> None:
        if view is not self.current_view():
            return
        shown = self.properties.current
        if shown and shown[0] == "node":
            # Node ids differ between the source and ONNX graphs: re-resolve by id, else clear.
            graph = view.graph
            if graph is not None and shown[1] in graph and view.selected_node() == shown[1]:
                self.properties.show_node(shown[1], view.node_value(shown[1]))
            else:
                self.properties.clear()
        self._refresh_outline()

    def _refresh_outline(self) -> None:
        view = self.current_view()
        if view is None:
            self.outline.set_summary(None)
            return
        doc = view.document
        note = "" if doc.summary is not None else (doc.notes[0] if doc.notes else "No summary")
        self.outline.set_summary(doc.summary, doc.graphs.get(view.mode), view.mode, note)

    def _on_outline_selected(self, kind: str, payload: Any) -> None:
        view = self.current_view()
        if kind == "node" and view is not None:
            view.select_node(str(payload))
            return
        self.properties.show_item(kind, payload)

    def _on_node_selected(self, node_id: str) -> None:
        view = self.current_view()
        self.properties.show_node(node_id, view.node_value(node_id) if view is not None else None)
        self.outline.select_node(node_id)

    def _on_param_selected(self, view: DocumentView, name: str) -> None:
        info = next((p for p in view.document.summary.parameters if p.name == name), None) if view.document.summary else None
        if info is not None:
            self.properties.show_item("param", info)

    # Drag and drop ------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        event.acceptProposedAction() if event.mimeData().hasUrls() else event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        if self.handle_drop(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def handle_drop(self, mime: QMimeData) -> bool:
        """Open dropped model files; a parameter file dropped on an open graph offers export.

        Returns True when at least one file was taken.
        """
        from engine import formats

        paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
        if not paths:
            self.messages.show_text("Nothing to open: the drop held no local files.", "warning")
            return False
        folders = [p for p in paths if p.is_dir()]
        if folders:  # a folder is a model zoo: the batch dialog converts, checks and times each model
            self.open_batch(folders)
            paths = [p for p in paths if not p.is_dir()]
            if not paths:
                return True
        scripts = [p for p in paths if p.suffix.lower() == ".py"]
        if scripts:  # a network definition (with its checkpoint): export it from the Cell (net_export_dialog.py)
            from studio.net_export_dialog import offer_net_export

            params = next((p for p in paths if p.suffix.lower() in PARAM_SUFFIXES), None)
            offer_net_export(self, scripts[0], params)
            paths = [p for p in paths if p not in scripts and p != params]
            if not paths:
                return True
        current = self.current_document()
        to_open: list[Path] = []
        refused: list[str] = []
        for path in paths:
            spec = formats.for_suffix(path)
            if spec is None and path.suffix.lower() not in PARAM_SUFFIXES and not _looks_like_model(path):
                refused.append(f"{path.name}: {path.suffix or 'no suffix'} is not a supported model or parameter file")
            elif (path.suffix.lower() in PARAM_SUFFIXES and current is not None and current.is_graph
                  and len(paths) == 1):
                self.offer_open_or_bind(current, path)
            else:
                to_open.append(path)
        if refused:
            supported = ", ".join(sorted({s for f in formats.formats() for s in f.suffixes}))
            message = "Cannot open " + "; ".join(refused) + f". Supported: {supported}."
            self.messages.show_text(message, "error")
            log.error("%s", message)
        self.open_files(to_open)
        return bool(to_open) or len(refused) < len(paths)

    # Actions ------------------------------------------------------------------
    def open_batch(self, folders: list[Path]) -> None:
        """The batch dialog for dropped folders (studio/batch_dialog.py)."""
        from studio.batch_dialog import BatchDialog

        BatchDialog(self, folders).open()

    def offer_open_or_bind(self, document: Document, params_path: Path) -> None:
        """A parameter file dropped on an open graph: ask whether to bind it into that graph or open it."""
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(QMessageBox.Icon.Question, "Parameter file dropped",
                          f"What should {params_path.name} do?", QMessageBox.StandardButton.NoButton, self)
        box.setInformativeText(f"Bind it into {document.label} (checks names and shapes first, writes a new "
                               "file), or open it in its own tab to look at its tensors.")
        bind = box.addButton(f"Bind into {document.title}…", QMessageBox.ButtonRole.AcceptRole)
        open_it = box.addButton("Open as a table", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(bind)
        self.drop_choice = box

        def answered(_result: int) -> None:
            self.drop_choice = None
            if box.clickedButton() is bind:
                self.offer_export(document, params_path)
            elif box.clickedButton() is open_it:
                self.open_files([params_path])
            box.deleteLater()

        box.finished.connect(answered)
        box.open()

    def offer_export(self, document: Document, params_path: Path) -> None:
        from studio.export_dialog import ExportDialog

        dialog = ExportDialog(self, graph_path=document.path, params_path=params_path)
        dialog.open()

    def diff_params(self, document: Document) -> None:
        from studio.diff_task import start_diff

        start_diff(self, document)

    def find(self) -> None:
        view = self.current_view()
        if view is not None:
            view.focus_search()

    def toggle_graph_mode(self) -> None:
        view = self.current_view()
        if view is not None and view.document.is_graph:
            view.show_mode("canonical" if view.mode == "source" else "source")

    def _on_task_started(self, task: Any) -> None:
        self._update_actions()
        task.finished.connect(lambda _state: self._update_actions())

    def _update_actions(self) -> None:
        from studio.actions import update_actions

        update_actions(self)

    def refresh_recent_menu(self) -> None:
        from studio.actions import fill_recent_menu

        fill_recent_menu(self)

    # Persistence --------------------------------------------------------------
    def _restore_layout(self) -> None:
        geometry, state = self.settings.geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        restored = state is not None and self.restoreState(state)
        if not restored:
            QTimer.singleShot(0, self._default_dock_sizes)  # sizes apply once the window is laid out
        from studio.dock_bar import collapse_bottom_docks  # bottom docks hidden until used (dock_bar.py)

        self.dock_bar = collapse_bottom_docks(self, first_launch=not restored)

    def _default_dock_sizes(self) -> None:
        self.resizeDocks([self.outline_dock, self.properties_dock], [360, 340], Qt.Orientation.Horizontal)
        self.resizeDocks([self.properties_dock, self.inputs_dock], [3, 2], Qt.Orientation.Vertical)
        self.resizeDocks([self.bench_dock], [300], Qt.Orientation.Vertical)

    def save_layout(self) -> None:
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.set_last_target(self.targets.current_target())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.save_layout()
        self._feature_timer.stop()
        self.bench.shutdown()
        self.runner.wait_all()
        self.log_view.detach()
        super().closeEvent(event)


def _looks_like_model(path: Path) -> bool:
    """Content sniffing for files with an unexpected suffix (cheap: reads the head only)."""
    from engine import formats
    from engine.errors import EngineError

    try:
        formats.detect(path)
    except EngineError:
        return False
    return True
