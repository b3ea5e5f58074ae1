"""Progress and cancellation plumbing shared by every long engine entry point.

Engine functions take ``progress(fraction, message)`` and ``cancel() -> bool``; they know
nothing of threads. :class:`Job` bundles both with throttling so a tight loop can report
on every step without flooding a GUI or a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.errors import Cancelled

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


def _no_progress(fraction: float, message: str) -> None:
    return None


def _never(*_: object) -> bool:
    return False


@dataclass
class Job:
    """Progress sink and cancel check for one unit of engine work.

    Args:
        progress: called with a fraction in [0, 1] and a short message.
        cancel: returns True when the caller wants the work to stop.
        min_interval_s: progress calls closer together than this are dropped, except the
            first and the one reporting completion.
    """

    progress: ProgressFn = _no_progress
    cancel: CancelFn = _never
    min_interval_s: float = 0.05
    _last: float = field(default=-1.0, repr=False)

    def report(self, fraction: float, message: str = "") -> None:
        """Report progress (throttled), then raise :class:`Cancelled` if cancelled."""
        now = time.monotonic()
        if fraction >= 1.0 or self._last < 0 or now - self._last >= self.min_interval_s:
            self._last = now
            self.progress(min(max(fraction, 0.0), 1.0), message)
        self.check()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the caller asked to stop."""
        if self.cancel():
            raise Cancelled()

    def sub(self, start: float, stop: float) -> Job:
        """A job whose 0..1 maps onto ``start..stop`` of this one."""
        parent = self

        def progress(fraction: float, message: str) -> None:
            parent.report(start + (stop - start) * fraction, message)

        return Job(progress=progress, cancel=self.cancel, min_interval_s=0.0)


class CancelToken:
    """A thread-safe enough flag: set from one thread, polled from another."""

    def __init__(self) -> None:
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    def __call__(self) -> bool:
        return self._cancelled


def as_job(job: Job | None = None, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> Job:
    """Normalise the optional progress/cancel arguments of an entry point into a Job."""
    if job is not None:
        return job
    return Job(progress=progress or _no_progress, cancel=cancel or _never)
