"""Bottom docks collapsed until used: hidden on first launch, a button each in the status bar.

The graph gets the room: benchmark, validate, jobs and log start hidden (with no model, a
graph or a checkpoint alike) and appear when used: their status-bar button, the View menu,
or running a benchmark or a validation (from any place that starts one). Errors still
reach the person without them: each panel and the message bar show their own.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtWidgets import QDockWidget, QHBoxLayout, QToolButton, QWidget

log = logging.getLogger(__name__)

#: task keys (TaskRunner) that mean a bottom panel is being used, and the dock attribute that shows it
TASK_DOCKS = {"bench": "bench_dock", "validate": "validate_dock"}


def reveal(dock: QDockWidget) -> None:
    """Show ``dock`` (if hidden) and bring its tab to the front."""
    if not dock.isVisible():
        dock.show()
    dock.raise_()


class DockBarWidget(QWidget):
    """Checkable buttons, one per bottom dock, that show or hide it (kept in sync with the dock)."""

    def __init__(self, docks: list[QDockWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.buttons: dict[str, QToolButton] = {}
        for dock in docks:
            button = QToolButton(self)
            button.setDefaultAction(dock.toggleViewAction())
            button.setAutoRaise(True)
            button.setToolTip(f"Show or hide the {dock.windowTitle()} panel")
            layout.addWidget(button)
            self.buttons[dock.objectName()] = button


def collapse_bottom_docks(window: Any, first_launch: bool) -> DockBarWidget:
    """Add the dock bar to ``window``'s status bar; on a first launch hide the bottom docks.

    ``window`` is the main window (bench_dock, validate_dock, jobs_dock, log_dock, runner).
    A later launch keeps whatever the person left (the saved window state).
    """
    docks = [window.bench_dock, window.validate_dock, window.jobs_dock, window.log_dock]
    bar = DockBarWidget(docks, window)
    window.statusBar().addWidget(bar)
    if first_launch:
        for dock in docks:
            dock.hide()

    def on_task(task: Any) -> None:
        name = TASK_DOCKS.get(getattr(task, "key", ""))
        if name is not None:
            reveal(getattr(window, name))

    window.runner.task_started.connect(on_task)
    return bar
