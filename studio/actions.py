"""The main window's actions, menus, toolbar and shortcuts, and when each is enabled (with why not)."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QToolBar

from studio.dock_bar import reveal
from studio.features import feature
from studio.icons import icon

if TYPE_CHECKING:
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)

# name: (text, icon, shortcut, tip)
SPECS: dict[str, tuple[str, str, str, str]] = {
    "open": ("&Open…", "open", "Ctrl+O", "Open a model or parameter file"),
    "close_tab": ("&Close", "", "Ctrl+W", "Close the current document"),
    "quit": ("&Quit", "", "Ctrl+Q", "Quit Deploy Studio"),
    "convert": ("&Convert…", "convert", "Ctrl+Shift+C",
                "Convert to another format (MindIR, ONNX; parameters: ckpt, safetensors, npz)"),
    "export": ("&Export with parameters…", "export", "Ctrl+E", "Bind a parameter file into this graph and write it"),
    "optimize": ("O&ptimize…", "optimize", "Ctrl+Shift+O", "Run optimization passes or a preset"),
    "validate": ("&Validate", "validate", "Ctrl+Shift+V", "Check structure and numerical parity on the target"),
    "benchmark": ("&Benchmark", "benchmark", "Ctrl+B", "Time inference on the selected target"),
    "package": ("&Package for serving…", "export", "", "Write a validated MindSpore Serving or Triton package"),
    "serve": ("&Serve and load test…", "benchmark", "", "Serve the model over HTTP (V2) and load-test an endpoint"),
    "cancel_all": ("Cancel all jobs", "cancel", "Ctrl+.", "Cancel every running job"),
    "find": ("&Find node…", "search", "Ctrl+F", "Search the graph for a node"),
    "toggle_graph": ("Toggle source / ONNX graph", "graph", "Ctrl+T", "Switch between the file's graph and the canonical ONNX graph"),
    "fit": ("&Fit graph", "fit", "Ctrl+0", "Fit the graph to the window"),
    "zoom_in": ("Zoom &in", "zoom-in", "Ctrl++", "Zoom in"),
    "zoom_out": ("Zoom &out", "zoom-out", "Ctrl+-", "Zoom out"),
    "diff": ("&Diff parameters…", "diff", "Ctrl+D", "Compare this parameter file with another"),
    "about": ("&About Deploy Studio", "about", "F1", "Versions of the studio, engine and runtimes"),
}

#: action -> engine feature it needs.
NEEDS = {"convert": "convert", "export": "export", "optimize": "optimize", "validate": "validate",
         "benchmark": "bench", "diff": "inspect"}


#: Further keys for an action: Ctrl+= is Ctrl++ without Shift on most layouts.
EXTRA_SHORTCUTS = {"zoom_in": ("Ctrl+=",)}


def build_actions(window: MainWindow) -> dict[str, QAction]:
    """Create every action with its shortcut, plus the menus and the toolbar."""
    actions: dict[str, QAction] = {}
    for name, (text, icon_name, shortcut, tip) in SPECS.items():
        action = QAction(icon(icon_name) if icon_name else QIcon(), text, window)
        action.setObjectName(f"action_{name}")
        if shortcut:
            action.setShortcuts([QKeySequence(shortcut), *(QKeySequence(k) for k in EXTRA_SHORTCUTS.get(name, ()))])
        action.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
        action.setStatusTip(tip)
        actions[name] = action
    slots = {
        "open": window.open_dialog,
        "close_tab": lambda: window.close_tab(window.tabs.currentIndex()),
        "quit": window.close,
        "convert": partial(_dialog, window, "convert"),
        "export": partial(_dialog, window, "export"),
        "optimize": partial(_dialog, window, "optimize"),
        "validate": lambda: (reveal(window.validate_dock), window.validate_panel.run()),
        "benchmark": lambda: (reveal(window.bench_dock), window.bench.run()),
        "cancel_all": window.runner.cancel_all,
        "find": window.find,
        "toggle_graph": window.toggle_graph_mode,
        "fit": lambda: window.current_view() and window.current_view().fit(),
        "zoom_in": lambda: window.current_view() and window.current_view().zoom_by(1.25),
        "zoom_out": lambda: window.current_view() and window.current_view().zoom_by(0.8),
        "diff": lambda: window.current_document() and window.diff_params(window.current_document()),
        "about": partial(_dialog, window, "about"),
        "package": partial(_dialog, window, "package"),
        "serve": partial(_dialog, window, "serve"),
    }
    for name, slot in slots.items():
        actions[name].triggered.connect(slot)

    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(actions["open"])
    window.recent_menu = file_menu.addMenu("Open &Recent")
    file_menu.addSeparator()
    for name in ("convert", "export", "diff"):
        file_menu.addAction(actions[name])
    file_menu.addSeparator()
    file_menu.addAction(actions["close_tab"])
    file_menu.addAction(actions["quit"])
    view_menu = bar.addMenu("&View")
    for name in ("find", "toggle_graph", "fit", "zoom_in", "zoom_out"):
        view_menu.addAction(actions[name])
    view_menu.addSeparator()
    for dock in (window.outline_dock, window.properties_dock, window.bench_dock, window.validate_dock,
                 window.jobs_dock, window.log_dock):
        view_menu.addAction(dock.toggleViewAction())
    run_menu = bar.addMenu("&Run")
    for name in ("optimize", "validate", "benchmark", "package", "serve", "cancel_all"):
        run_menu.addAction(actions[name])
    bar.addMenu("&Help").addAction(actions["about"])

    toolbar = QToolBar("Main", window)
    toolbar.setObjectName("main_toolbar")
    toolbar.setIconSize(QSize(22, 22))
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.addAction(actions["open"])
    toolbar.addSeparator()
    toolbar.addWidget(window.targets)
    toolbar.addSeparator()
    for name in ("convert", "export", "optimize", "validate", "benchmark"):
        toolbar.addAction(actions[name])
    window.addToolBar(toolbar)
    window.toolbar = toolbar
    fill_recent_menu(window, actions)
    return actions


def update_actions(window: MainWindow) -> None:
    """Enable what the current document and the installed engine allow; say why not otherwise."""
    actions = window.actions_by_name
    doc = window.current_document()
    is_graph = doc is not None and doc.is_graph
    for name, (_, _, shortcut, tip) in SPECS.items():
        reason = ""
        if name in NEEDS and not feature(NEEDS[name]):
            reason = feature(NEEDS[name]).reason
        elif name == "convert" and doc is None:  # networks and parameter files both convert
            reason = "open a model or a parameter file first"
        elif name in ("optimize", "validate", "benchmark", "export", "package", "toggle_graph", "find",
                      "fit", "zoom_in", "zoom_out") and not is_graph:
            reason = "open a model first" if doc is None else "this is a parameter file; open a graph"
        elif name == "diff" and (doc is None or doc.is_graph):
            reason = "open a parameter file (checkpoint, safetensors, npz) first"
        elif name == "close_tab" and doc is None:
            reason = "nothing open"
        elif name == "toggle_graph" and doc is not None and not doc.has_source_graph:
            reason = "this file is already ONNX; it has no other source graph"
        action = actions[name]
        action.setEnabled(not reason)
        base = f"{tip} ({shortcut})" if shortcut else tip
        action.setToolTip(base if not reason else f"{base}: unavailable, {reason}")
    actions["cancel_all"].setEnabled(bool(window.runner.running()))
    window.targets.setEnabled(feature("targets").available)


def fill_recent_menu(window: MainWindow, actions: dict[str, QAction] | None = None) -> None:
    menu = window.recent_menu
    menu.clear()
    files = window.settings.recent_files()
    for path in files:
        action = menu.addAction(Path(path).name)
        action.setToolTip(path)
        action.triggered.connect(lambda _=False, p=path: window.open_files([p]))
    if files:
        menu.addSeparator()
        menu.addAction("Clear list", lambda: (window.settings.clear_recent_files(), fill_recent_menu(window)))
    menu.setEnabled(bool(files))


def _dialog(window: MainWindow, name: str) -> None:
    """Open one of the dialogs; each imports lazily so the window starts fast."""
    if name == "about":
        from studio.about_dialog import AboutDialog

        AboutDialog(window).open()
        return
    if name == "serve":  # also without a model: the load test takes any URL
        from studio.serve_panel import show_serve_dialog

        show_serve_dialog(window)
        return
    doc = window.current_document()
    if doc is None:
        return
    if name == "convert":
        from studio.convert_dialog import ConvertDialog

        ConvertDialog(window, doc).open()
    elif name == "export":
        from studio.export_dialog import ExportDialog

        ExportDialog(window, graph_path=doc.path).open()
    elif name == "optimize":
        from studio.optimize_dialog import OptimizeDialog

        OptimizeDialog(window, doc).open()
    elif name == "package":
        from studio.serving_dialog import PackageDialog

        PackageDialog(window, doc).open()
