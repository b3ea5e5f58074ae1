"""``run_batch``: a folder or zoo of models, one job each, locally or on a Ray cluster, resumable."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.batch.store import ModelFile, ResultStore, discover, source_info
from engine.batch.work import STAGES, BatchOptions, JobTask, split_target
from engine.errors import InputError, TargetError
from engine.jobs import Job, as_job

log = logging.getLogger(__name__)


@dataclass
class BatchReport:
    """What a batch did.

    Attributes:
        records: every model's result in input order, those a rerun skipped included.
        ran: labels of the models whose jobs ran this time.
        skipped: labels of the models whose stored results were current.
        wall_seconds: wall time of this run (discovery to last result).
        mode: where the jobs ran ("sequential", "local pool of 2 workers", "ray cluster ...").
        files: report role -> path written.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    mode: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r.get("status") == status)

    @property
    def passed(self) -> bool:
        return bool(self.records) and all(r.get("status") == "ok" for r in self.records)

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "batch", "passed": self.passed, "mode": self.mode, "wall_seconds": self.wall_seconds,
                "options": self.options, "ran": self.ran, "skipped": self.skipped,
                "counts": {s: self.count(s) for s in ("ok", "mismatch", "failed")},
                "models": self.records}


def default_workers() -> int:
    """Worker processes for a local batch: the CPUs this process may use, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def run_batch(
    inputs: Sequence[str],
    outdir: str | Path,
    options: BatchOptions,
    *,
    cluster: str | None = None,
    on: str | None = None,
    shared_fs: bool = False,
    workers: int | None = None,
    force: bool = False,
    retry_failed: bool = False,
    on_result: Callable[[dict[str, Any], int, int], None] | None = None,
    job: Job | None = None,
    write: bool = True,
) -> BatchReport:
    """Convert (and check and time) every model in ``inputs``; write results and reports to ``outdir``.

    Args:
        inputs: files, folders (searched recursively for .mindir/.onnx) or glob patterns.
        outdir: where converted files, per-model results and the combined report go.
        options: what each job does.
        cluster: a Ray address ("auto", "host:port", "ray://host:port"); None runs locally.
        on: with ``cluster``, the node every job runs on (a resource, label, host or id).
        shared_fs: with ``cluster``, the nodes see this machine's paths (a shared file
            system): jobs read the models and write the converted files there instead of
            sending them through Ray's object store (an ONNX model with external data needs it).
        workers: local worker processes (0: in this process, one after another); default
            the CPUs available, at most 8.
        force: rerun every model, current results or not.
        retry_failed: rerun models whose stored result is a failure.
        on_result: called with (record, finished so far, total) as each job ends.
        job: progress and cancel.
        write: write batch.json/csv/html at the end.

    Raises:
        FormatError: the inputs name no model.
        InputError: a bad option (an unknown stage, a target placed on a node without a cluster).
        TargetError: the cluster cannot be reached, or a node named does not exist.
    """
    from engine.batch.report import write_reports

    job = as_job(job)
    start = time.perf_counter()
    if options.stage not in STAGES:
        raise InputError(f"unknown batch stage {options.stage!r}; one of {', '.join(STAGES)}")
    placed = tuple(t for t in options.targets if split_target(t)[1]) if options.stage == "bench" else ()
    if cluster is None and (placed or on or shared_fs):
        what = placed[0] if placed else f"--on {on}" if on else "--shared-fs"
        raise TargetError(f"{what}: placing work on a node needs a cluster (--cluster ADDRESS)")
    _check_targets(options)
    models = discover(list(inputs), outdir)
    store = ResultStore(outdir)
    key = options.key()
    report = BatchReport(options=key)
    todo: list[tuple[ModelFile, bytes | None]] = []
    current: dict[str, dict[str, Any]] = {}
    for m in models:
        record, data = (None, None) if force else store.current(m, key, retry_failed=retry_failed)
        if record is not None:
            current[m.label] = record
            report.skipped.append(m.label)
        else:
            todo.append((m, data))
    total = len(todo)
    job.report(0.0, f"{total} to run, {len(report.skipped)} current")
    unplaced = tuple(t for t in options.targets if not split_target(t)[1]) if options.stage == "bench" else ()
    finished = 0

    stats = {m.label: source_info(m) for m, _ in todo}  # as the job will read it, not as it is afterwards

    def done(m: ModelFile, record: dict[str, Any], conv: bytes | None) -> None:
        nonlocal finished
        record["source"] = {**stats[m.label], "sha256": record.pop("sha256", None)}
        record["options"] = key
        _place_output(store, m, record, conv)
        store.save(record, m)
        current[m.label] = record
        report.ran.append(m.label)
        finished += 1
        if on_result is not None:
            on_result(record, finished, total)
        job.report(finished / max(total, 1), f"{m.label}: {record['status']}")

    def task_for(m: ModelFile, local: bool) -> JobTask:
        out = store.converted_path(m, "onnx" if m.path.suffix.lower() == ".mindir" else "mindir")
        return JobTask(label=m.label, file_name=m.path.name, path=str(m.path) if local else None,
                       out_path=str(out) if local else None, options=options, bench_targets=unplaced,
                       source=str(m.path))

    if cluster is None:
        from engine.batch import local

        n = default_workers() if workers is None else workers
        items = [(i, task_for(m, True)) for i, (m, _) in enumerate(todo)]
        if not items:
            report.mode = "nothing to run: every result current"
            results = iter(())
        elif n == 0:
            report.mode = "sequential (this process)"
            results = local.run_sequential(items, job.cancel)
        else:
            n = min(n, len(items))
            report.mode = f"local pool of {n} worker process{'es' if n > 1 else ''}"
            results = local.run_pool(items, n, job.cancel)
        for i, record in results:
            done(todo[i][0], record, None)
    else:
        from engine.batch import cluster as ray_cluster

        if shared_fs:
            items = [(i, task_for(m, True), None) for i, (m, _) in enumerate(todo)]
        else:
            items = [(i, task_for(m, False), data if data is not None else m.path.read_bytes())
                     for i, (m, data) in enumerate(todo)]
        report.mode = f"ray cluster at {cluster}" + (" (shared file system)" if shared_fs else "")
        for i, record, conv in ray_cluster.run_on_cluster(items, cluster, placed_targets=placed, on=on,
                                                          cancel=job.cancel):
            done(todo[i][0], record, conv)
    job.check()
    report.records = [current[m.label] for m in models if m.label in current]
    report.wall_seconds = time.perf_counter() - start
    if write:
        report.files = write_reports(outdir, report)
    return report


def _place_output(store: ResultStore, m: ModelFile, record: dict[str, Any], conv: bytes | None) -> None:
    """Put the converted file where it belongs, and nothing where it must not be.

    A file whose outputs differ from its source's is kept only as ``<name>.mismatch`` (out of
    reach of a glob for the format), and a stale file from an earlier run of a model that
    now fails before writing one is removed: a batch never leaves a wrong answer in
    ``converted/``.
    """
    from engine.fileio import atomic_write_bytes

    to = "onnx" if m.path.suffix.lower() == ".mindir" else "mindir"
    out = store.converted_path(m, to)
    wrong = out.with_name(out.name + ".mismatch")
    conversion = record.get("conversion")
    if conversion is None:
        out.unlink(missing_ok=True)
        wrong.unlink(missing_ok=True)
        return
    final = wrong if record["status"] == "mismatch" else out
    if conv is not None:  # the bytes came back from a node
        final.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(final, conv)
    elif final == wrong and out.exists():
        out.replace(wrong)
    (out if final == wrong else wrong).unlink(missing_ok=True)
    conversion["output"] = str(final)


def _check_targets(options: BatchOptions) -> None:
    """Unknown target names fail before any work (availability is each node's own business)."""
    from engine.backends import canonical_name, list_targets

    known = {i.name for i in list_targets()}
    names = list(options.targets) if options.stage == "bench" else []
    if options.parity_target != "auto" and options.stage != "convert":
        names.append(options.parity_target)
    for t in names:
        name = split_target(t)[0]
        if canonical_name(name) not in known:
            raise TargetError(f"unknown target {name!r}; known: {', '.join(sorted(known))}",
                              hint="dstudio targets lists them")
