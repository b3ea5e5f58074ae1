"""Benchmarks in a worker process, so the caller's interpreter stays free while latencies stream back.

A fast model (tens of microseconds per inference) makes the timed loop mostly Python, and
in-process that Python competes for the GIL with whatever else the caller runs: in the
studio, every Qt call made while painting the live plot releases and re-takes the GIL, and
each re-take waits for the loop's next stretch of Python, so the window stalls. Here the
loop runs :func:`engine.bench.benchmark` in a spawned interpreter and the caller only
receives batches of latencies.

Messages are pickled tuples over a ``multiprocessing`` pipe (as for the MindSpore worker):

- parent -> worker: ``("bench", request)`` runs one benchmark; ``("close",)`` ends the worker
- worker -> parent, during a run: ``("lat", first_index, [ns, ...])`` every ``FLUSH_S``,
  ``("progress", fraction, message)`` (throttled), then ``("result", BenchResult)`` or
  ``("error", exception)``

Cancel is a shared event the worker's job polls (the same checks as in-process, including
the interrupt of an inference in flight); a worker that has not answered ``STOP_GRACE_S``
after it is set is killed. One idle worker is kept for the next run (a spawn costs a second
or two: the imports of numpy, onnx and ONNX Runtime), so a sweep pays for one start.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.backends import DEFAULT_TARGET, TargetOptions, parse_target
from engine.bench.runner import BenchResult, benchmark, model_label
from engine.errors import Cancelled, EngineError, TargetError
from engine.jobs import Job, as_job

if TYPE_CHECKING:
    from engine.model import Model

log = logging.getLogger(__name__)

#: how often the worker sends the latencies it has gathered (keeps the pipe and the caller cheap).
FLUSH_S = 0.02
#: how long a worker may take to stop after a cancel before it is killed.
STOP_GRACE_S = 0.1
#: how often the caller checks for messages, a cancel and a dead worker.
POLL_S = 0.02
#: idle workers kept for the next run.
KEEP_IDLE = 1

_lock = threading.Lock()
_idle: list[_Worker] = []
_atexit_registered = False


def benchmark_in_subprocess(
    model: Model,
    target: str = DEFAULT_TARGET,
    *,
    options: TargetOptions | None = None,
    warmup: int = 10,
    iterations: int | None = 100,
    duration_s: float | None = None,
    batch: int | None = None,
    feeds: dict | None = None,
    seed: int = 0,
    job: Job | None = None,
    on_iteration: Callable[[int, int], None] | None = None,
    shapes: dict | None = None,
) -> BenchResult:
    """:func:`engine.bench.benchmark` run in a worker process; same arguments, same result and errors.

    The model runs as it is in memory: the source file when the graph still matches it,
    otherwise a temporary ONNX copy. ``on_iteration`` is called here, in batches every
    ``FLUSH_S``, once per timed iteration with the latencies that end up in the result.
    ``session_info`` records ``process: subprocess`` and the worker's pid. MindSpore targets
    already time inside their own worker and run through :func:`benchmark` directly.

    Raises:
        InputError / TargetError / FormatError: as :func:`benchmark` would (re-raised from
            the worker with the same message); TargetError too when the worker dies.
        Cancelled: the job was cancelled (the worker is told to stop, and killed if it does not).
    """
    kwargs: dict[str, Any] = dict(options=options, warmup=warmup, iterations=iterations, duration_s=duration_s,
                                  batch=batch, feeds=feeds, seed=seed, shapes=shapes)
    if parse_target(target)[0] == "mindspore":
        return benchmark(model, target, job=job, on_iteration=on_iteration, **kwargs)
    job = as_job(job)
    model.require_graph()
    job.check()
    tmpdir = None
    try:
        path, tmpdir = _model_file(model)
        worker = _acquire()
        request = {"path": path, "target": target, **kwargs}
        result = worker.run(request, job, on_iteration)
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    # The worker opened a file; say which model it was, as the in-process run would.
    result.model = model_label(model)
    result.model_path = str(model.source_path or "")
    return result


def shutdown() -> None:
    """End the idle workers (also done at exit)."""
    with _lock:
        workers, _idle[:] = list(_idle), []
    for worker in workers:
        worker.close()


# -- caller side ----------------------------------------------------------------------------
def _model_file(model: Model) -> tuple[str, str | None]:
    """A path the worker can open for ``model``, and the temporary folder to remove after."""
    if model.source_format == "onnx" and model.source_path is not None and model.matches_source():
        return str(model.source_path), None
    from engine import formats

    tmpdir = tempfile.mkdtemp(prefix="dstudio-bench-")
    path = os.path.join(tmpdir, "model.onnx")
    try:
        formats.save(model, path, fmt="onnx")
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    return path, tmpdir


def _acquire() -> _Worker:
    global _atexit_registered
    with _lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive():
                return worker
            worker.close()
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
    return _Worker()


def _release(worker: _Worker) -> None:
    with _lock:
        if worker.alive() and len(_idle) < KEEP_IDLE:
            _idle.append(worker)
            return
    worker.close()


class _Worker:
    """One spawned interpreter that runs benchmarks on request."""

    def __init__(self) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.stop_event = ctx.Event()
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, self.stop_event), name="dstudio-bench", daemon=True)
        self.proc.start()
        child.close()
        log.debug("started benchmark worker %s", self.proc.pid)

    def alive(self) -> bool:
        return self.proc.is_alive()

    def run(self, request: dict, job: Job, on_iteration: Callable[[int, int], None] | None) -> BenchResult:
        """Send one request and relay its messages until the result; the worker goes back to the pool."""
        self.stop_event.clear()
        try:
            job.report(0.0, "starting the benchmark worker")
            self.conn.send(("bench", request))
        except (OSError, EOFError) as exc:
            self.close(graceful=False)
            raise TargetError(f"the benchmark worker is not running (code {self.proc.exitcode})") from exc
        except BaseException:
            _release(self)  # idle: nothing was sent
            raise
        try:
            msg = self._relay(request, job, on_iteration)
        except BaseException as exc:
            self._stop()
            if job.cancel() and not isinstance(exc, Cancelled):
                raise Cancelled() from exc
            raise
        _release(self)
        if msg[0] == "result":
            return msg[1]
        exc = msg[1]
        if getattr(exc, "worker_traceback", ""):
            log.debug("benchmark worker: %s", exc.worker_traceback)
        if job.cancel() and not isinstance(exc, Cancelled):
            raise Cancelled() from exc
        raise exc

    def _relay(self, request: dict, job: Job, on_iteration: Callable[[int, int], None] | None) -> tuple:
        """Pass latencies and progress on until the worker's ``result`` or ``error`` message."""
        while True:
            job.check()
            try:
                if not self.conn.poll(POLL_S):
                    if self.proc.is_alive():
                        continue
                    raise EOFError
                msg = self.conn.recv()
            except (EOFError, OSError) as exc:
                self.proc.join(timeout=1)
                raise TargetError(f"the benchmark worker exited (code {self.proc.exitcode}) while timing "
                                  f"{request['target']}", hint="run with -v to see its log on stderr") from exc
            kind = msg[0]
            if kind == "lat":
                if on_iteration is not None:
                    for k, ns in enumerate(msg[2], start=msg[1]):
                        on_iteration(k, ns)
            elif kind == "progress":
                job.report(msg[1], msg[2])
            elif kind in ("result", "error"):
                return msg

    def _stop(self) -> None:
        """Ask the worker to stop its run; keep it if it answers within ``STOP_GRACE_S``, else kill it."""
        self.stop_event.set()
        deadline = time.monotonic() + STOP_GRACE_S
        try:
            while self.proc.is_alive():
                left = deadline - time.monotonic()
                if left <= 0 or not self.conn.poll(left):
                    break
                if self.conn.recv()[0] in ("result", "error"):
                    _release(self)
                    return
        except (EOFError, OSError):
            pass
        log.debug("benchmark worker %s did not stop within %.0f ms; killing it", self.proc.pid, STOP_GRACE_S * 1e3)
        self.close(graceful=False)

    def close(self, graceful: bool = True) -> None:
        """End the worker: ask it to leave when idle, kill it otherwise."""
        if graceful and self.proc.is_alive():
            try:
                self.conn.send(("close",))
                self.proc.join(timeout=1)
            except (OSError, EOFError, BrokenPipeError):
                pass
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)
        self.conn.close()


# -- worker side ----------------------------------------------------------------------------
def serve(conn, stop_event) -> None:
    """Worker entry point (runs in the child): one benchmark per request until closed."""
    try:  # keep the caller's stdout (JSON, tables) clean of anything a runtime prints
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    except OSError:
        pass
    cache: dict = {}
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "close":
            return
        if msg[0] == "bench":
            _run(conn, stop_event, msg[1], cache)


def _run(conn, stop_event, request: dict, cache: dict) -> None:
    pending: list[int] = []
    first = [0]
    last = [time.monotonic()]

    def flush() -> None:
        if pending:
            conn.send(("lat", first[0], list(pending)))
            first[0] += len(pending)
            pending.clear()
        last[0] = time.monotonic()

    def on_iteration(index: int, ns: int) -> None:
        if not pending:
            first[0] = index
        pending.append(ns)
        if time.monotonic() - last[0] >= FLUSH_S:
            flush()

    job = Job(progress=lambda f, m: conn.send(("progress", f, m)), cancel=stop_event.is_set)
    try:
        model = _load(request["path"], cache)
        kwargs = {k: request[k] for k in ("options", "warmup", "iterations", "duration_s", "batch", "feeds", "seed",
                                             "shapes")}
        result = benchmark(model, request["target"], job=job, on_iteration=on_iteration, **kwargs)
        flush()
        result.session_info.update({"process": "subprocess", "worker_pid": str(os.getpid()),
                                    "model_digest": model.fingerprint or ""})
        result.what_is_timed += "; run in a separate benchmark worker process, latencies streamed to the caller"
        conn.send(("result", result))
    except BaseException as exc:  # every failure goes back to the caller, typed where it can be
        conn.send(("error", _portable(exc)))


def _load(path: str, cache: dict) -> Model:
    """Open the model file, reusing the last one when the same unchanged file comes again (sweeps)."""
    from engine import formats

    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    if cache.get("key") != key:
        cache.clear()
        cache["model"] = formats.load(path, fmt="onnx")
        cache["key"] = key
    return cache["model"]


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (engine errors do), else a RuntimeError with the same text."""
    import pickle

    text = traceback.format_exc()
    try:
        exc.__dict__["worker_traceback"] = text
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        if isinstance(exc, EngineError):
            return TargetError(str(exc))
        out = RuntimeError(f"{type(exc).__name__}: {exc}")
        out.__dict__["worker_traceback"] = text
        return out
