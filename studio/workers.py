"""Run engine calls on QThreadPool with progress and cancel bridged to Qt signals."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from engine.errors import Cancelled
from engine.jobs import CancelToken, Job

log = logging.getLogger(__name__)

#: The interpreter's thread switch interval while a studio window exists (Python's default is
#: 5 ms). Workers (conversion, layout, loading) run Python in threads of this process, and the
#: GUI thread waits up to one interval for the interpreter lock each time it takes it back
#: (PySide releases it around Qt calls): at 5 ms that added up to 20-30 ms stalls while a
#: conversion ran. At 1 ms the window stays responsive; the workers lose a little throughput.
GUI_SWITCH_INTERVAL_S = 0.001

_gui_gc: GuiCollector | None = None


class GuiCollector(QObject):
    """Python's cycle collector, run in small steps from a GUI-thread timer.

    Left automatic, the collector runs in whichever thread happens to allocate: a worker
    thread can then destroy Qt objects of closed windows and dialogs while the GUI thread
    is deleting widgets, and the two deadlock on Qt's object mutex and the interpreter lock
    (seen here: a validation worker collecting a closed window's QMenu). So automatic
    collection is off and this timer collects, with the interpreter's own thresholds.

    Two things keep each step short (the studio's event-loop stalls stay under 50 ms):
    a tick every 100 ms keeps generation 0 small (at pyqtgraph's 500 ms it had grown to a
    13 ms pass), and the objects alive at start-up (modules, classes, the window: about
    85,000) are frozen out of the collector's scans (``gc.freeze``): a full collection over
    them took 50-80 ms. A full collection that still takes longer than
    :data:`FREEZE_ABOVE_MS` freezes what survived it (the objects of heavy runtimes
    imported later, e.g. MindSpore). The price: a reference cycle among frozen objects is
    never collected, which for modules and classes never matters.
    """

    INTERVAL_MS = 100
    FREEZE_ABOVE_MS = 20.0

    def __init__(self) -> None:
        super().__init__()
        import gc

        self.threshold = gc.get_threshold()
        self.slowest_ms = [0.0, 0.0, 0.0]  # the longest pass seen, per generation
        gc.disable()
        gc.freeze()
        self.timer = QTimer(self)
        self.timer.setInterval(self.INTERVAL_MS)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        """Collect the youngest generation that is over its threshold, and the older ones when due."""
        import gc

        counts = gc.get_count()
        if counts[0] <= self.threshold[0]:
            return
        generation = 0
        if counts[1] > self.threshold[1]:
            generation = 2 if counts[2] > self.threshold[2] else 1
        started = time.perf_counter()
        gc.collect(generation)
        ms = (time.perf_counter() - started) * 1e3
        self.slowest_ms[generation] = max(self.slowest_ms[generation], ms)
        if generation == 2 and ms > self.FREEZE_ABOVE_MS:
            log.debug("a full collection took %.0f ms: its survivors are frozen", ms)
            gc.freeze()


def collect_garbage_on_gui_thread() -> None:
    """Start the GUI-thread collector (:class:`GuiCollector`) once; later calls do nothing."""
    global _gui_gc
    if _gui_gc is None:
        _gui_gc = GuiCollector()


def in_turns(steps: list[Callable[[], Any]], *, alive: Callable[[], bool] = lambda: True,
             owner: QObject | None = None, now: bool = True) -> None:
    """Run ``steps`` on the GUI thread one per event-loop turn, so the window repaints between them.

    The first step runs at once (``now``) or in the next turn; each later one from a 1 ms
    single-shot timer (a zero timer can be delivered in the same pass as the events posted
    before it). The chain stops early once ``alive()`` is false (e.g. a newer run replaced the
    one being shown) or ``owner`` is deleted.
    """
    pending = list(steps)

    def next_step() -> None:
        if not pending or not alive():
            return
        step = pending.pop(0)
        try:
            step()
        finally:
            if pending:
                schedule()

    def schedule() -> None:
        if owner is not None:
            QTimer.singleShot(1, owner, next_step)  # dropped with the owner
        else:
            QTimer.singleShot(1, next_step)

    if pending:
        next_step() if now else schedule()


#: Progress signals closer together than this are dropped (the last one still lands).
PROGRESS_INTERVAL_S = 0.05

TaskFn = Callable[[Job], Any]


class Task(QObject):
    """One engine call running on the thread pool, seen from the GUI thread.

    Signals are emitted from the worker thread; Qt queues them to receivers living in
    the GUI thread, so slots never run on the worker.

    Attributes:
        title: what the jobs dock shows ("Open lenet5.mindir").
        key: the panel that owns the task; a new task with the same key cancels this one.
        state: "running", "done", "failed" or "cancelled".
        error: the exception when failed.
        result: the return value when done.
    """

    progress_changed = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    finished = Signal(str)

    def __init__(self, title: str, key: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.key = key
        self.state = "running"
        self.error: BaseException | None = None
        self.result: Any = None
        self.fraction = 0.0
        self.message = ""
        self.started_at = time.monotonic()
        self.seconds = 0.0
        self._token = CancelToken()
        self.succeeded.connect(self._on_succeeded)
        self.failed.connect(self._on_failed)
        self.cancelled.connect(self._on_cancelled)
        self.progress_changed.connect(self._on_progress)

    def cancel(self) -> None:
        """Ask the engine call to stop at its next progress or cancel check."""
        if self.state == "running":
            log.info("cancelling %s", self.title)
            self._token.cancel()

    @property
    def cancel_requested(self) -> bool:
        return self._token()

    def make_job(self) -> Job:
        """The Job handed to the engine: progress becomes a (throttled) signal."""

        def progress(fraction: float, message: str) -> None:
            self.progress_changed.emit(float(fraction), str(message))

        return Job(progress=progress, cancel=self._token, min_interval_s=PROGRESS_INTERVAL_S)

    # GUI-thread bookkeeping, reached through queued signals.
    def _on_progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = fraction, message

    def _finish(self, state: str) -> None:
        self.state = state
        self.seconds = time.monotonic() - self.started_at
        self.finished.emit(state)

    def _on_succeeded(self, result: object) -> None:
        self.result = result
        self.fraction = 1.0
        self._finish("done")

    def _on_failed(self, error: object) -> None:
        self.error = error  # type: ignore[assignment]
        self._finish("failed")

    def _on_cancelled(self) -> None:
        self._finish("cancelled")


class _Runnable(QRunnable):
    """The QRunnable wrapping one engine call; it owns no Qt objects."""

    def __init__(self, task: Task, fn: TaskFn) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._task = task
        self._fn = fn

    def run(self) -> None:  # noqa: D401 - Qt override
        task = self._task
        job = task.make_job()
        try:
            if task.cancel_requested:
                raise Cancelled()
            result = self._fn(job)
        except Cancelled:
            task.cancelled.emit()
        except BaseException as exc:  # every failure must reach the GUI, never kill the pool
            if task.cancel_requested:
                task.cancelled.emit()
                return
            exc.__dict__.setdefault("studio_traceback", traceback.format_exc())
            task.failed.emit(exc)
        else:
            if task.cancel_requested:
                task.cancelled.emit()
            else:
                task.succeeded.emit(result)


class TaskRunner(QObject):
    """Starts tasks on a thread pool; one task per key, a new one cancels the old.

    The jobs dock listens to :attr:`task_started` to show every task with its progress.
    """

    task_started = Signal(object)

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._by_key: dict[str, Task] = {}
        self._all: list[Task] = []

    def start(
        self,
        key: str,
        title: str,
        fn: TaskFn,
        *,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
    ) -> Task:
        """Run ``fn(job)`` on the pool under ``key``, cancelling the task it replaces.

        Args:
            key: the owner panel ("bench", "validate", "open:/path/x.onnx").
            title: the jobs dock label.
            fn: the engine call; takes the Job and returns the result.
            on_result / on_error / on_cancel: GUI-thread callbacks.
        """
        old = self._by_key.get(key)
        if old is not None and old.state == "running":
            old.cancel()
        task = Task(title, key, parent=self)
        task.error_reported_by_owner = on_error is not None  # the owner logs it: one log line per error
        if on_result is not None:
            task.succeeded.connect(on_result)
        if on_error is not None:
            task.failed.connect(on_error)
        if on_cancel is not None:
            task.cancelled.connect(on_cancel)
        task.finished.connect(lambda state, t=task: self._on_finished(t, state))
        self._by_key[key] = task
        self._all.append(task)
        log.debug("starting task %s (%s)", title, key)
        self.task_started.emit(task)
        self._pool.start(_Runnable(task, fn))
        return task

    def current(self, key: str) -> Task | None:
        """The latest task started under ``key``."""
        return self._by_key.get(key)

    def running(self) -> list[Task]:
        return [t for t in self._all if t.state == "running"]

    def cancel_all(self) -> None:
        for task in self.running():
            task.cancel()

    def wait_all(self, msecs: int = 30_000) -> bool:
        """Cancel and wait for every running task (on close), so no worker outlives the window."""
        self.cancel_all()
        return self._pool.waitForDone(msecs)

    def _on_finished(self, task: Task, state: str) -> None:
        if state == "failed":
            if getattr(task, "error_reported_by_owner", False):
                log.debug("%s failed: %s", task.title, task.error)  # the owner's on_error logs and shows it
            else:
                log.error("%s failed: %s", task.title, task.error)
        elif state == "cancelled":
            log.info("%s cancelled", task.title)
        else:
            log.info("%s done in %.2f s", task.title, task.seconds)
        if task.state != "running" and task in self._all and len(self._all) > 200:
            self._all = [t for t in self._all if t.state == "running" or t is task][-200:]
