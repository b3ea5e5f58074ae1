"""Batch jobs on this machine: in this process one after another, or in a pool of worker processes.

Workers are started with ``spawn`` (a fresh interpreter: no inherited onnxruntime or
MindSpore state, the same on every OS). A worker that dies (a runtime crashing in native
code) breaks the pool; the jobs that were in flight are retried one at a time in a fresh
pool, so only the model that kills its worker is reported failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from engine.batch.work import JobTask, run_job

log = logging.getLogger(__name__)

Item = tuple[Any, JobTask]


def run_sequential(items: list[Item], cancel: Callable[[], bool]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Each job in this process, in order (the baseline a pool is measured against)."""
    for key, task in items:
        if cancel():
            return
        yield key, run_job(task)


def run_pool(items: list[Item], workers: int, cancel: Callable[[], bool],
             fn: Callable[[JobTask], dict[str, Any]] = run_job) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Every job in a pool of ``workers`` processes; results are yielded as jobs finish.

    Args:
        items: (key, task) per model.
        workers: pool size.
        cancel: checked after each result; pending jobs are dropped and running ones left to end.
        fn: the job function (module level, so a spawned worker can import it).
    """
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    retry: list[Item] = []
    pool = _pool(workers)
    try:
        futures = {pool.submit(fn, task): (key, task) for key, task in items}
        for fut in as_completed(futures):
            key, task = futures[fut]
            try:
                yield key, fut.result()
            except BrokenProcessPool:
                retry.append((key, task))
            if cancel():
                return
    finally:
        pool.shutdown(wait=not cancel(), cancel_futures=True)
    for key, task in retry:  # alone in a fresh worker: a second death is this model's own
        if cancel():
            return
        with _pool(1) as single:
            try:
                yield key, single.submit(fn, task).result()
            except BrokenProcessPool:
                yield key, died(task, "the worker process died while running this model (a crash in native code?)")


def died(task: JobTask, message: str) -> dict[str, Any]:
    """The record of a job whose worker could not report it."""
    return {"model": task.label, "status": "failed", "error": message, "failed_stage": "worker", "where": {},
            "conversion": None, "parity": None, "bench": [], "seconds": 0.0}


def _pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
