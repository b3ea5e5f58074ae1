"""The jobs dock: every running and finished task with its progress and a cancel button."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.errors import describe
from studio.icons import icon
from studio.workers import Task, TaskRunner

log = logging.getLogger(__name__)


class JobRow(QWidget):
    """One task: title, progress bar with message, state, cancel."""

    def __init__(self, task: Task, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task = task
        self.title = QLabel(task.title, self)
        self.title.setMinimumWidth(180)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setFormat("starting")
        self.state = QLabel("running", self)
        self.state.setMinimumWidth(220)
        self.cancel_button = QToolButton(self)
        self.cancel_button.setIcon(icon("cancel"))
        self.cancel_button.setToolTip(f"Cancel {task.title}")
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.clicked.connect(task.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 1, 4, 1)
        layout.addWidget(self.title)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.state)
        layout.addWidget(self.cancel_button)
        task.progress_changed.connect(self._on_progress)
        task.finished.connect(self._on_finished)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.bar.setValue(int(fraction * 1000))
        self.bar.setFormat(f"{fraction:.0%}  {message}" if message else f"{fraction:.0%}")

    def _on_finished(self, state: str) -> None:
        self.cancel_button.setEnabled(False)
        if state == "done":
            self.bar.setValue(1000)
            self.bar.setFormat("done")
            self.state.setText(f"done in {self.task.seconds:.2f} s")
        elif state == "cancelled":
            self.bar.setFormat("cancelled")
            self.state.setText("cancelled")
        else:
            text = describe(self.task.error) if self.task.error else None
            self.bar.setFormat("failed")
            self.state.setText("failed")
            if text:
                self.state.setToolTip(text.one_line())
                self.title.setToolTip(text.one_line())


class JobsDock(QWidget):
    """Lists the tasks a :class:`TaskRunner` starts, newest first."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[JobRow] = []
        self._inner = QWidget(self)
        self._list = QVBoxLayout(self._inner)
        self._list.setContentsMargins(0, 0, 0, 0)
        self._list.setSpacing(0)
        self._list.addStretch(1)
        self.empty = QLabel("No jobs yet. Opening, converting, validating and benchmarking show up here.", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setEnabled(False)
        self._list.insertWidget(0, self.empty)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._inner)
        clear = QPushButton("Clear finished", self)
        clear.clicked.connect(self.clear_finished)
        cancel_all = QPushButton("Cancel all", self)
        cancel_all.clicked.connect(runner.cancel_all)
        bar = QHBoxLayout()
        bar.addStretch(1)
        bar.addWidget(cancel_all)
        bar.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(scroll, 1)
        layout.addLayout(bar)
        runner.task_started.connect(self.add_task)

    def add_task(self, task: Task) -> JobRow:
        self.empty.hide()
        row = JobRow(task, self._inner)
        self._list.insertWidget(0, row)
        self.rows.insert(0, row)
        return row

    def row_for(self, task: Task) -> JobRow | None:
        return next((r for r in self.rows if r.task is task), None)

    def clear_finished(self) -> None:
        for row in [r for r in self.rows if r.task.state != "running"]:
            self.rows.remove(row)
            row.deleteLater()
        if not self.rows:
            self.empty.show()
