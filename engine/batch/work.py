"""One batch job, as a worker runs it: convert a model to the other format, check parity, time it.

These functions run in a worker process (a local pool or a Ray task) and take and return
plain picklable data, so the same code serves both. A job never raises for a failure of
its model: the error goes in the record (one line), so one bad model cannot stop a batch.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STAGES = ("convert", "validate", "bench")
#: the format each graph format converts to.
OTHER_FORMAT = {"mindir": "onnx", "onnx": "mindir"}
SUFFIX = {"onnx": ".onnx", "mindir": ".mindir"}


@dataclass(frozen=True)
class BatchOptions:
    """What every job of a batch does.

    Attributes:
        stage: "convert" (convert only), "validate" (convert, then parity of the converted
            file against the source), or "bench" (both, then time each target).
        targets: benchmark targets, each ``backend:device`` optionally ``@NODE`` (cluster only).
        parity_target: "auto" runs each file on its own runtime (a MindIR on mindspore:cpu
            when MindSpore is installed, ONNX on onnxruntime:cpu); a target name runs both there.
        iterations: timed runs per benchmark target.
        warmup: untimed runs before them.
        seed: seed of the generated inputs (the same for source and converted file).
    """

    stage: str = "validate"
    targets: tuple[str, ...] = ("onnxruntime:cpu",)
    parity_target: str = "auto"
    iterations: int = 20
    warmup: int = 3
    seed: int = 0

    def key(self) -> dict[str, Any]:
        """What a stored result must match to be current (the engine version included)."""
        from engine import __version__

        return {**asdict(self), "targets": list(self.targets), "engine": __version__}


@dataclass
class JobTask:
    """One model's job as sent to a worker.

    Attributes:
        label: the model's name in reports (its path relative to the batch's inputs).
        file_name: the file's own name (its suffix picks the reader).
        path: the file on a path the worker can read (local pool); None when the bytes travel
            with the task (Ray's object store).
        out_path: where to write the converted file; None: return its bytes instead.
        options: the batch options.
        bench_targets: the benchmark targets this job runs itself (those not pinned elsewhere).
        source: the file's path on the machine that sent the job, for error messages when the
            worker reads a copy.
    """

    label: str
    file_name: str
    path: str | None
    out_path: str | None
    options: BatchOptions
    bench_targets: tuple[str, ...] = ()
    source: str = ""


def where_am_i() -> dict[str, Any]:
    """Host, process and (inside a Ray task) the node id: where a result was computed."""
    info: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        try:
            info["node_id"] = ray.get_runtime_context().get_node_id()
        except Exception:  # not inside a task/driver context: no node id to record
            pass
    return info


def run_job(task: JobTask, data: bytes | None = None) -> dict[str, Any]:
    """Convert, check and time one model. Never raises for the model's own failures.

    Args:
        task: what to do.
        data: the file's bytes when it travels with the task instead of by path.

    Returns:
        the record: status ("ok", "mismatch" when parity failed, "failed"), error, stage that
        failed, conversion, parity, benchmarks, where it ran, and ``converted_bytes`` when
        ``task.out_path`` is None and a file was written.
    """
    from engine.errors import EngineError

    start = time.perf_counter()
    record: dict[str, Any] = {"model": task.label, "status": "ok", "error": None, "failed_stage": None,
                              "where": where_am_i(), "conversion": None, "parity": None, "bench": []}
    with tempfile.TemporaryDirectory(prefix="dstudio-batch-") as tmp:
        stage = "load"
        try:
            src_path = _materialise(task, data, Path(tmp))
            record["sha256"] = _sha256(data if data is not None else src_path.read_bytes())
            from engine import formats

            source = formats.load(src_path)
            stage = "convert"
            converted, out = _convert(task, source, Path(tmp), record)
            if task.options.stage in ("validate", "bench"):
                stage = "validate"
                _parity(source, converted, task.options, record)
            if task.options.stage == "bench":
                stage = "bench"
                record["bench"] = [_bench_one(source, converted, t, task.options) for t in task.bench_targets]
            if task.out_path is None:
                record["converted_bytes"] = out.read_bytes()
        except EngineError as exc:
            _fail(record, stage, _named(str(exc), tmp, task))
        except Exception as exc:  # a bug or a runtime's own failure: still only this model's
            log.debug("batch job %s failed", task.label, exc_info=True)
            _fail(record, stage, _named(f"{type(exc).__name__}: {exc}", tmp, task))
    if task.path is None and "--shared-fs" in (record["error"] or ""):
        record["failed_stage"] = "transport"  # how the file travelled, not the model: not a verdict to keep
    bench_errors = [b for b in record["bench"] if b.get("error")]
    if record["status"] == "ok" and bench_errors:
        _fail(record, "bench", f"{bench_errors[0]['target']}: {bench_errors[0]['error']}")
    record["seconds"] = time.perf_counter() - start
    return record


def run_bench(task: JobTask, data: bytes | None, converted: bytes | None,
              targets: tuple[str, ...]) -> list[dict[str, Any]]:
    """Time one model on ``targets`` (a job placed on another node than its conversion ran on).

    The model comes as bytes (``data``, ``converted``) or, on a shared file system, from
    ``task.path`` and ``task.out_path``.
    """
    from engine import formats

    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dstudio-bench-") as tmp:
        try:
            src_path = _materialise(task, data, Path(tmp))
            source = formats.load(src_path)
            conv = None
            conv_path = Path(tmp) / f"converted{SUFFIX[OTHER_FORMAT[source.source_format]]}"
            if converted is not None:
                conv_path.write_bytes(converted)
                conv = formats.load(conv_path)
            elif task.out_path and Path(task.out_path).is_file():
                conv = formats.load(task.out_path)
        except Exception as exc:
            error = _named(f"cannot read the model: {exc}", tmp, task)
            return [{"target": t, "error": error, "where": where_am_i()} for t in targets]
        for target in targets:
            out.append(_bench_one(source, conv, target, task.options))
    return out


def split_target(target: str) -> tuple[str, str | None]:
    """``"onnxruntime:cpu@node_b"`` -> ``("onnxruntime:cpu", "node_b")``."""
    name, sep, node = target.partition("@")
    return name.strip(), (node.strip() or None) if sep else None


def _materialise(task: JobTask, data: bytes | None, tmp: Path) -> Path:
    if data is None:
        if task.path is None:
            from engine.errors import FormatError

            raise FormatError("the job carries neither a path nor the file's bytes", path=task.file_name)
        return Path(task.path)
    path = tmp / task.file_name
    path.write_bytes(data)
    return path


def _named(message: str, tmp: str, task: JobTask) -> str:
    """An error about the worker's copy of the file, naming the file the user gave instead."""
    if task.path is not None:
        return message
    message = message.replace(str(Path(tmp) / task.file_name), task.source or task.label)
    if "external data" in message:
        message += "; only the model file travels to the node: give --shared-fs when the nodes share these paths"
    return message


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _fail(record: dict[str, Any], stage: str, message: str) -> None:
    record["status"] = "failed"
    record["failed_stage"] = stage
    record["error"] = " ".join(message.split())


def _convert(task: JobTask, source, tmp: Path, record: dict[str, Any]):
    """Write ``source`` in the other format; return the written file read back, and its path."""
    from engine import formats
    from engine.errors import FormatError

    t1 = time.perf_counter()
    to = OTHER_FORMAT.get(source.source_format)
    if to is None:
        raise FormatError(f"batch converts MindIR and ONNX networks, not {source.source_format}", path=task.label)
    out = Path(task.out_path) if task.out_path else tmp / f"converted{SUFFIX[to]}"
    out.parent.mkdir(parents=True, exist_ok=True)
    formats.save(source, out, fmt=to)
    t2 = time.perf_counter()
    converted = formats.load(out)  # what was written, read back: parity is of the file, not memory
    record["conversion"] = {"from": source.source_format, "to": to, "output": str(out) if task.out_path else None,
                            "bytes": out.stat().st_size, "save_seconds": t2 - t1}
    return converted, out


def _native_target(fmt: str) -> str:
    """The runtime a file of ``fmt`` runs on as its authors would run it."""
    if fmt == "mindir":
        from engine.backends import list_targets

        if any(i.name == "mindspore:cpu" and i.available for i in list_targets()):
            return "mindspore:cpu"
    return "onnxruntime:cpu"


def _run(model, target: str, feeds: dict) -> dict:
    from engine.backends import open_session

    with open_session(model, target) as session:
        return dict(session.infer(dict(feeds)))


def _by_position(feeds: dict, model) -> dict:
    """Feeds renamed to ``model``'s inputs in order (a conversion may rename the inputs)."""
    names = [s.name for s in model.io_specs()[0]]
    if set(names) == set(feeds) or len(names) != len(feeds):
        return feeds
    return dict(zip(names, feeds.values()))


def _parity(source, converted, options: BatchOptions, record: dict[str, Any]) -> None:
    import numpy as np

    from engine.inputs import make_feeds
    from engine.validate import compare_outputs, graph_precision
    from engine.validate.tolerances import loosest

    ref_t = _native_target(source.source_format) if options.parity_target == "auto" else options.parity_target
    cand_t = _native_target(converted.source_format) if options.parity_target == "auto" else options.parity_target
    t0 = time.perf_counter()
    feeds = make_feeds(source.io_specs()[0], seed=options.seed)
    ref = {k: np.asarray(v) for k, v in _run(source, ref_t, feeds).items()}
    cand = {k: np.asarray(v) for k, v in _run(converted, cand_t, _by_position(feeds, converted)).items()}
    if set(ref) != set(cand) and len(ref) == len(cand):
        cand = dict(zip(ref, cand.values()))  # outputs renamed by the conversion: pair by position
    graphs = [m.onnx for m in (source, converted) if m.onnx is not None]
    precision = loosest([graph_precision(g) for g in graphs]) if graphs else None
    report = compare_outputs(ref, cand, precision=precision, reference_label=f"{source.name} on {ref_t}",
                             candidate_label=f"{converted.source_format} on {cand_t}")
    worst = max((o.max_abs for o in report.outputs), default=0.0)
    record["parity"] = {"passed": bool(report.passed), "max_abs": float(worst), "reference": report.reference,
                        "candidate": report.candidate, "seconds": time.perf_counter() - t0,
                        "outputs": [o.name for o in report.outputs]}
    if not report.passed:
        record["status"] = "mismatch"
        record["failed_stage"] = "validate"
        record["error"] = f"outputs differ: max abs {worst:.4g} ({report.candidate} vs {report.reference})"


def _bench_one(source, converted, target: str, options: BatchOptions) -> dict[str, Any]:
    """Time the file ``target`` runs natively: MindIR on MindSpore targets, ONNX on the others."""
    from engine.backends import parse_target
    from engine.bench import benchmark
    from engine.errors import EngineError

    name, node = split_target(target)
    want = "mindir" if parse_target(name)[0] == "mindspore" else "onnx"
    model = next((m for m in (source, converted) if m is not None and m.source_format == want), None)
    entry: dict[str, Any] = {"target": name, "node": node, "where": where_am_i(), "error": None}
    if model is None:
        entry["error"] = f"no {want} form of the model (the conversion failed)"
        return entry
    entry["file"] = want
    try:
        result = benchmark(model, name, warmup=options.warmup, iterations=options.iterations, seed=options.seed)
    except EngineError as exc:
        entry["error"] = " ".join(str(exc).split())
        return entry
    s = result.stats
    entry.update({"median_ms": s.median_ms, "p90_ms": s.p90_ms, "mean_ms": s.mean_ms, "cv": s.cv,
                  "iterations": result.iterations, "warnings": list(result.warnings)})
    return entry
